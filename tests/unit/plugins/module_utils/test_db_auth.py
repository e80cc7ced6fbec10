"""How each service signs in (ecsrds_db_auth, service_db_auth, a service entry's db_*), decided once:
its login, the revision's variables, each role's policy, the logins' options and the inputs check."""

from __future__ import annotations

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import build_request, entry_request, plan_container, taskdef_options
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import dependencies_options, logins_options, preflight_options
from ansible_collections.ecsrds.connect.plugins.module_utils.iam import grant_options, grant_problems, grant_removal_options, policies_by_role
from ansible_collections.ecsrds.connect.plugins.module_utils.inputs import PROFILES, check_inputs
from ansible_collections.ecsrds.connect.plugins.module_utils.iam import ALLOWED, Decision
from ansible_collections.ecsrds.connect.plugins.module_utils.preflight import RDS_DB_CONNECT, check_task_role_connect
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import (
    db_iam_authentication,
    login_name_of,
    service_login,
    service_login_problems,
)
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.roles import role_inputs

MASTER = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1a2b-xYz"
ORDERS_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db/orders-AbCdEf"
EXEC_ROLE = "arn:aws:iam::123456789012:role/execRole"
TASK_ROLE = "arn:aws:iam::123456789012:role/reportingTask"
SERVICES = ["Orders-API", {"name": "billing", "db_auth": "master"},
            {"name": "reporting", "db_auth": "iam", "db_user": "reports", "db_privileges": "read_only", "db_schema": "orders_api"}]


def inputs(**overrides):
    given = dict(service_ecs_cluster="shop", service_ecs_services=SERVICES, service_secret_arn=MASTER, service_db_auth="app_user",
                 service_db_cluster_identifier="shop-db", service_db_endpoint="shop-db.cluster-x.eu-west-1.rds.amazonaws.com",
                 service_db_name="shop", service_db_cluster_resource_id="cluster-ABC123")
    return role_inputs("service", **dict(given, **overrides))


def entries():
    return [{"name": "Orders-API", "container_name": "app", "task_definition": "orders:3", "db_auth": None},
            {"name": "billing", "container_name": "app", "task_definition": "billing:7", "db_auth": "master"},
            {"name": "reporting", "container_name": "app", "task_definition": "reporting:2", "db_auth": "iam", "db_user": "reports",
             "db_privileges": "read_only", "db_schema": "orders_api"}]


def test_a_login_is_named_after_its_service_and_owns_a_schema_of_its_own_unless_told():
    assert login_name_of("Orders-API") == "orders_api" and login_name_of("9lives") == "svc_9lives" and len(login_name_of("x" * 80)) == 63
    assert service_login({"name": "Orders-API"}, "app_user") == {
        "service": "Orders-API", "auth": "app_user", "login": "orders_api", "privileges": "owner", "schema": "orders_api"}
    assert service_login({"name": "web", "db_privileges": "read_write"}, "iam")["schema"] == "public"
    # The entry's own mode wins over the default; master has no login.
    assert service_login({"name": "web", "db_auth": "master"}, "app_user") == {"service": "web", "auth": "master", "login": None,
                                                                               "privileges": None, "schema": None}
    assert service_login({"name": "web"}, None)["auth"] == "master"


def test_bad_login_keys_are_named_as_written():
    problems = service_login_problems("ecsrds_ecs_services[1]", {"db_auth": "password", "db_privileges": "admin", "db_user": "Web-User",
                                                                 "db_schema": "public"})
    assert problems == ["ecsrds_ecs_services[1].db_auth 'password' must be one of master, app_user, iam",
                        "ecsrds_ecs_services[1].db_privileges 'admin' must be one of owner, read_write, read_only",
                        "ecsrds_ecs_services[1].db_user 'Web-User' must be 1 to 63 lower case letters, digits or _, not starting with a digit"]
    assert "gets a schema of its own" in service_login_problems("x", {"db_schema": "public"})[0]


SPEC = {"ecsrds_ecs_cluster": {"type": "str"}, "ecsrds_ecs_services": {"type": "list", "elements": "raw"},
        "ecsrds_db_cluster_identifier": {"type": "str"}, "ecsrds_db_instance_class": {"type": "str"}, "ecsrds_db_auth": {"type": "str"},
        "ecsrds_db_iam_authentication": {"type": "bool"}}
GOOD = {"ecsrds_ecs_cluster": "shop", "ecsrds_ecs_services": ["shop-api"], "ecsrds_db_cluster_identifier": "shop-db"}


def site_problems(**overrides):
    return check_inputs(PROFILES["site"], dict(GOOD, **overrides), SPEC, region="eu-west-1")[3]


def test_the_inputs_check_refuses_a_t_class_for_logins_and_iam_turned_off_for_an_iam_login():
    # The Data API serves no T class: refused before any write, the inputs named as written.
    [problem] = site_problems(ecsrds_db_auth="app_user", ecsrds_db_instance_class="db.t4g.medium")
    assert problem.startswith("ecsrds_db_auth app_user creates the database logins through the RDS Data API, which ecsrds_db_instance_class "
                              "db.t4g.medium (a T class) does not serve")
    # One service on iam is enough; master on a T class is fine.
    services = ["a", {"name": "b", "db_auth": "iam"}]
    assert "iam" in site_problems(ecsrds_ecs_services=services, ecsrds_db_instance_class="db.t3.medium")[0]
    assert site_problems(ecsrds_db_instance_class="db.t4g.medium") == []
    assert site_problems(ecsrds_db_auth="app_user", ecsrds_db_instance_class="db.r6g.large") == []
    [problem] = site_problems(ecsrds_ecs_services=services, ecsrds_db_instance_class="db.r6g.large", ecsrds_db_iam_authentication=False)
    assert problem.startswith("ecsrds_db_iam_authentication is false but a service signs in with iam")
    [problem] = site_problems(ecsrds_db_auth="user")
    assert problem == "ecsrds_db_auth 'user' must be one of master, app_user, iam"
    [problem] = site_problems(ecsrds_ecs_services=[{"name": "a", "db_role": "x"}])
    assert "ecsrds_ecs_services[0]: key 'db_role' is not known" in problem


def test_iam_authentication_is_turned_on_for_an_iam_login_unless_asked():
    assert db_iam_authentication(None, "master", ["a", {"name": "b", "db_auth": "iam"}]) is True
    assert db_iam_authentication(None, "iam", ["a"]) is True
    assert db_iam_authentication(None, "app_user", ["a"]) is None and db_iam_authentication(None, None, []) is None
    assert db_iam_authentication(True, "master", ["a"]) is True


def test_each_revision_reads_its_own_login_and_the_master_only_where_asked():
    logins = [{"name": "orders_api", "secret_arn": ORDERS_SECRET}]
    options = taskdef_options(inputs(), entries(), logins)
    orders, billing, reporting = options["task_definitions"]
    # app_user: its own secret's keys, the usual URL and driver.
    assert orders == {"task_definition": "orders:3", "container_name": "app", "name": "Orders-API",
                      "environment": {"DATABASE_URL": "jdbc:postgresql://shop-db.cluster-x.eu-west-1.rds.amazonaws.com:5432/shop",
                                      "DATABASE_DRIVER_CLASS": "org.postgresql.Driver"},
                      "secret_arn": ORDERS_SECRET, "secret_keys": {"DATABASE_USERNAME": "username", "DATABASE_PASSWORD": "password"}, "remove": []}
    # master: the module's own request (the master secret).
    assert billing == {"task_definition": "billing:7", "container_name": "app", "name": "billing"} and options["secret_arn"] == MASTER
    # iam: the wrapper's URL and driver, the login as a plain variable, the password taken out, no secret.
    assert reporting["environment"] == {
        "DATABASE_URL": "jdbc:aws-wrapper:postgresql://shop-db.cluster-x.eu-west-1.rds.amazonaws.com:5432/shop?wrapperPlugins=iam",
        "DATABASE_DRIVER_CLASS": "software.amazon.jdbc.Driver", "DATABASE_USERNAME": "reports"}
    assert reporting["secret_arn"] is None and reporting["remove"] == ["DATABASE_PASSWORD"]
    # Before the login's secret exists (check mode): a marked stand-in in the master's account and region.
    planned = taskdef_options(inputs(), entries(), [])["task_definitions"][0]["secret_arn"]
    assert planned == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db/orders_api-planned-by-check-mode"


def test_an_iam_entry_takes_the_password_out_and_makes_the_user_name_plain():
    container = {"name": "app", "environment": [{"name": "LOG", "value": "info"}],
                 "secrets": [{"name": "DATABASE_USERNAME", "valueFrom": f"{MASTER}:username::"},
                             {"name": "DATABASE_PASSWORD", "valueFrom": f"{MASTER}:password::"}, {"name": "API_KEY", "valueFrom": "arn:aws:ssm:x"}]}
    request = entry_request({"task_definition": "r:1", "name": "reporting", "environment": {"DATABASE_USERNAME": "reports"}, "remove": ["DATABASE_PASSWORD"]})
    plan = plan_container({"containerDefinitions": [container]}, {}, "app", request, None)
    assert plan.environment_after == [{"name": "LOG", "value": "info"}, {"name": "DATABASE_USERNAME", "value": "reports"}]
    assert plan.secrets_after == [{"name": "API_KEY", "valueFrom": "arn:aws:ssm:x"}]
    # An entry without its own environment takes the module's request; two different requests are told apart.
    assert entry_request({"task_definition": "r:1", "environment": None}) is None
    assert request.key() != build_request(environment={"DATABASE_USERNAME": "reports"}).key()
    with pytest.raises(EcsRdsError, match="task_definitions entry reporting: remove names DATABASE_USERNAME, which the request also sets"):
        entry_request({"task_definition": "r:1", "name": "reporting", "environment": {"DATABASE_USERNAME": "x"}, "remove": ["DATABASE_USERNAME"]})


def revisions(task_role=TASK_ROLE):
    return [{"name": "Orders-API", "task_definition": {"execution_role_arn": EXEC_ROLE}},
            {"name": "billing", "task_definition": {"execution_role_arn": EXEC_ROLE}},
            {"name": "reporting", "task_definition_arn": "reporting:3", "task_definition": {"execution_role_arn": EXEC_ROLE, "task_role_arn": task_role}}]


def test_each_role_gets_exactly_what_its_services_sign_in_with():
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    options = grant_options(inputs(service_secret_kms_key_id=key), revisions(), [{"name": "orders_api", "secret_arn": ORDERS_SECRET}])
    assert options["grants"] == [
        {"role": EXEC_ROLE, "secret_arns": [ORDERS_SECRET], "decrypt": False},
        {"role": EXEC_ROLE, "secret_arns": [MASTER], "decrypt": True},
        {"role": TASK_ROLE, "db_users": ["arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/reports"]}]
    assert "roles" not in options and grant_problems(dict(options, roles=[], secret_arn=None)) == []
    policies = policies_by_role([dict({"secret_arns": [], "decrypt": False, "db_users": []}, **grant) for grant in options["grants"]], key)
    # The shared execution role: one policy, both secrets, decrypt for the master's customer key only.
    execution = policies["execRole"]["Statement"]
    assert execution[0]["Resource"] == [ORDERS_SECRET, MASTER] and execution[1]["Action"] == ["kms:Decrypt"] and execution[1]["Resource"] == [key]
    assert policies["reportingTask"]["Statement"] == [{"Sid": "ConnectAsDatabaseLogin", "Effect": "Allow", "Action": ["rds-db:connect"],
                                                       "Resource": ["arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/reports"]}]
    # Every service on master: the one policy of before, unchanged in shape.
    assert set(grant_options(inputs(service_db_auth="master", service_ecs_services=["Orders-API"]), revisions()[:1])) == {
        "roles", "policy_name", "secret_arn", "secret_kms_key_id", "state"}


def test_an_iam_service_without_a_task_role_is_refused_naming_it():
    with pytest.raises(ValueError, match="service reporting signs in with iam, but its revision reporting:3 has no task role"):
        grant_options(inputs(), revisions(task_role=None), [])


def test_bad_grants_are_named():
    problems = grant_problems({"policy_name": "p", "roles": ["execRole"], "grants": [
        {"role": "r", "secret_arns": ["not-an-arn"], "db_users": ["arn:aws:rds-db:eu-west-1:123456789012:dbuser:c/Bad-Name"]},
        {"role": "r2", "secret_arns": [], "db_users": []}]})
    assert any("grants[0].secret_arns entry" in p for p in problems)
    assert any("grants[0].db_users entry" in p for p in problems)
    assert "grants[1] (r2) names neither secret_arns nor db_users" in problems
    assert "grants gives each role its own policy: give it without roles and secret_arn" in problems


def test_the_teardown_takes_the_policy_off_the_iam_services_task_roles_too():
    restored = [{"item": {"service": "Orders-API"}, "running_task_definition": {"execution_role_arn": EXEC_ROLE, "task_role_arn": TASK_ROLE}},
                {"item": {"service": "reporting"}, "running_task_definition": {"execution_role_arn": EXEC_ROLE, "task_role_arn": TASK_ROLE}}]
    assert grant_removal_options(inputs(), restored)["roles"] == ["execRole", "reportingTask"]
    assert grant_removal_options(inputs(), restored[:1])["roles"] == ["execRole"]


def test_the_logins_options_name_each_login_once_with_its_secret_beside_the_cluster():
    options = logins_options(inputs(service_ecs_services=SERVICES + [{"name": "orders-worker", "db_user": "orders_api"}]))
    assert options["logins"] == [
        {"name": "orders_api", "privileges": "owner", "schema": "orders_api", "auth": "password", "secret_name": "shop-db/orders_api"},
        {"name": "reports", "privileges": "read_only", "schema": "orders_api", "auth": "iam", "secret_name": "shop-db/reports"}]
    assert options["db_cluster_identifier"] == "shop-db" and options["master_secret_arn"] == MASTER and options["database"] == "shop"
    assert options["state"] == "present" and options["drop_owned"] is False
    assert logins_options(inputs(service_teardown_drop_owned=True), state="absent")["drop_owned"] is True
    assert logins_options(inputs(service_db_auth="master", service_ecs_services=["a", "b"])) is None


def test_the_wait_for_what_settles_comes_before_the_logins_when_there_are_logins():
    pending = dict(service_db_pending_cluster_identifier="shop-db", service_secretsmanager_endpoint_pending_id="vpce-1")
    with_logins = inputs(**pending)
    assert dependencies_options(with_logins, before_logins=True)["db_cluster_identifier"] == "shop-db"
    assert dependencies_options(with_logins) is None
    master_only = inputs(service_db_auth="master", service_ecs_services=["a"], **pending)
    assert dependencies_options(master_only, before_logins=True) is None
    assert dependencies_options(master_only)["vpc_endpoint_ids"] == ["vpce-1"]
    assert dependencies_options(inputs(), before_logins=True) is None


def test_the_preflight_checks_the_task_role_of_a_service_on_iam():
    plan = [{"service": name, "task_definition_arn": f"{name}:2", "container_name": "app", "roll_out": True} for name in ("Orders-API", "reporting")]
    services = preflight_options(plan, inputs())["services"]
    assert [s["db_users"] for s in services] == [[], ["arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/reports"]]
    user = services[1]["db_users"][0]
    allowed = {(RDS_DB_CONNECT, user): Decision(RDS_DB_CONNECT, user, ALLOWED, ["ecsrds-connect-shop-db"])}
    [ok] = check_task_role_connect(TASK_ROLE, [user], allowed, "iam:SimulatePrincipalPolicy")
    assert ok["status"] == "ok" and ok["check"] == "task_role_db_connect"
    [denied] = check_task_role_connect(TASK_ROLE, [user], {}, "iam:SimulatePrincipalPolicy")
    assert denied["status"] == "fail" and "Task role reportingTask may not rds-db:connect as" in denied["message"]
    [no_role] = check_task_role_connect(None, [user], {}, "")
    assert no_role["status"] == "fail" and "no task role" in no_role["message"]
    assert check_task_role_connect(None, [], {}, "") == []
