"""site.yml with the master out of the applications (ecsrds_db_auth): two services on app_user and one
on iam, from nothing, on a real PostgreSQL behind the Data API stand-in (tests/support/data_api.py).

moto answers the Data API with canned results and has no EnableHttpEndpoint for a provisioned
cluster; the stand-in answers both as AWS documents them and runs each statement on a real
PostgreSQL 16 whose master login is made as RDS makes it (no superuser). The app_user services' tasks
are stood in for (tests/support/demo_environment.py TaskStandIn): their variables resolved from the
new revision as the ECS agent resolves them, then a real connection - so each connects with exactly
what its own secret holds. A real PostgreSQL cannot check an IAM token: for the iam service the test
proves what AWS would check instead (the login holds rds_iam, the task role may rds-db:connect as
exactly that login on exactly that cluster, and the revision carries no database secret).
"""

from __future__ import annotations

import json

import psycopg
import pytest

from support.data_api import DataApiStandIn
from support.demo_environment import CLUSTER, TaskStandIn, build_demo_environment
from support.real_database import RealDatabase
from support.sandbox import REPO_ROOT, run_playbook, write_calls

SITE = REPO_ROOT / "site.yml"
TEARDOWN = REPO_ROOT / "playbooks" / "teardown.yml"
TASK_ROLE = "demo-reporting-task-role"


def _vars(endpoint, services, **overrides):
    import yaml

    variables = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
    variables.update(ecsrds_aws_endpoint_url=endpoint, ecsrds_ecs_services=services, ecsrds_db_auth="app_user",
                     # The Data API serves no T class.
                     ecsrds_db_instance_class="db.r6g.large",
                     # A database the master owns, as RDS makes the cluster's DatabaseName: the logins' schemas go there
                     # (the master may not create schemas in the postgres database, which it does not own).
                     ecsrds_db_name="shop")
    variables.update(overrides)
    return variables


def _with_task_role(moto, service):
    """The iam service's application asks RDS for its token with its task role: the revision it runs has one."""
    iam, ecs = moto.client("iam"), moto.client("ecs")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role_arn = iam.create_role(RoleName=TASK_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    running = ecs.describe_services(cluster=CLUSTER, services=[service])["services"][0]["taskDefinition"]
    revision = ecs.describe_task_definition(taskDefinition=running)["taskDefinition"]
    keep = ("family", "containerDefinitions", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")
    arn = ecs.register_task_definition(**{key: revision[key] for key in keep if key in revision}, taskRoleArn=role_arn)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=CLUSTER, service=service, taskDefinition=arn)
    return role_arn


@pytest.fixture
def stand_in(moto):
    database = RealDatabase().start()
    proxy = DataApiStandIn(moto.endpoint, database, moto.client)
    yield proxy
    proxy.stop()
    database.stop()


def _revision(moto, service):
    ecs = moto.client("ecs")
    arn = ecs.describe_services(cluster=CLUSTER, services=[service])["services"][0]["taskDefinition"]
    return ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]


def _policy(moto, role):
    iam = moto.client("iam")
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    return iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]


def test_two_app_user_services_and_one_iam_service_from_nothing_then_no_op_then_teardown(moto, stand_in):
    env = build_demo_environment(moto.client, service_count=3)
    orders, billing, reporting = env["service"], *env["extra_services"]
    task_role_arn = _with_task_role(moto, reporting)
    services = [orders, {"name": billing, "db_user": "billing", "db_privileges": "owner"},
                {"name": reporting, "db_auth": "iam", "db_user": "reporting", "db_privileges": "read_only", "db_schema": "demo_ecs_service"}]
    variables = _vars(stand_in.endpoint, services)

    # --check from nothing: the logins, their secrets and the revisions are planned; nothing is written.
    moto.start_recording()
    planned = run_playbook(stand_in.endpoint, SITE, extra_vars=dict(variables, ecsrds_wait_for_rollout=False), check=True)
    assert planned.rc == 0, planned.stdout[-4000:]
    assert write_calls(moto.stop_recording()) == [] and stand_in.changes() == []
    logins_planned = planned.result("ecsrds.connect.service : Make each service's database login, its rights and (app_user) its own secret")
    assert logins_planned["changed"] and sorted(login["name"] for login in logins_planned["logins"]) == ["billing", "demo_ecs_service", "reporting"]

    tasks = TaskStandIn(moto.client, stand_in.database, services=[orders, billing])
    tasks.start()
    try:
        run = run_playbook(stand_in.endpoint, SITE, extra_vars=variables)
    finally:
        tasks.stop()
    assert run.rc == 0, run.stdout[-4000:]
    [cluster] = moto.client("rds").describe_db_clusters()["DBClusters"]
    master_arn = cluster["MasterUserSecret"]["SecretArn"]
    secrets = moto.client("secretsmanager")
    # A service on iam: IAM database authentication was asked for at the cluster's creation.
    assert cluster["IAMDatabaseAuthenticationEnabled"] is True

    # Each app_user service connected as its own login, with what its revision resolves to.
    outcomes = dict(tasks.outcomes)
    connected_as = {service: done.get("connected", "").split("@")[0] for service, done in outcomes.items()}
    assert connected_as == {orders: "demo_ecs_service", billing: "billing"}, outcomes

    # No master secret ARN in any of the three revisions; each app_user revision reads its own secret.
    own = {}
    for service, login in ((orders, "demo_ecs_service"), (billing, "billing")):
        revision = _revision(moto, service)
        assert master_arn not in json.dumps(revision)
        [app] = revision["containerDefinitions"]
        references = {s["name"]: s["valueFrom"] for s in app["secrets"]}
        secret = secrets.describe_secret(SecretId=f"{variables['ecsrds_db_cluster_identifier']}/{login}")
        own[service] = secret["ARN"]
        assert references == {"DATABASE_USERNAME": f"{secret['ARN']}:username::", "DATABASE_PASSWORD": f"{secret['ARN']}:password::"}
        value = json.loads(secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"])
        assert value["username"] == login and value["masterarn"] == master_arn
        assert value["password"] not in run.stdout and value["password"] not in planned.stdout
    # The iam service: the wrapper's URL and driver, its login as a plain variable, no secret at all.
    revision = _revision(moto, reporting)
    [app] = revision["containerDefinitions"]
    environment = {e["name"]: e["value"] for e in app["environment"]}
    assert revision["taskRoleArn"] == task_role_arn
    assert not app.get("secrets") and "DATABASE_PASSWORD" not in environment and master_arn not in json.dumps(revision)
    assert environment["DATABASE_URL"].startswith("jdbc:aws-wrapper:postgresql://") and environment["DATABASE_URL"].endswith("?wrapperPlugins=iam")
    assert environment["DATABASE_USERNAME"] == "reporting" and environment["DATABASE_DRIVER_CLASS"] == "software.amazon.jdbc.Driver"

    # The shared execution role reads exactly the two own secrets, never the master's; the task role may
    # connect as exactly the iam login of exactly this cluster.
    execution = _policy(moto, env["execution_role_name"])
    assert [s["Resource"] for s in execution["Statement"] if "secretsmanager:GetSecretValue" in s["Action"]] == [[own[orders], own[billing]]]
    assert master_arn not in json.dumps(execution)
    connect = _policy(moto, TASK_ROLE)
    assert connect["Statement"] == [{"Sid": "ConnectAsDatabaseLogin", "Effect": "Allow", "Action": ["rds-db:connect"],
                                     "Resource": [f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{cluster['DbClusterResourceId']}/reporting"]}]

    # Rotation: a service's own secret redeploys that service, the master's nobody here (no service on it), the
    # iam service nothing (its token does not go stale with a secret).
    sfn = moto.client("stepfunctions")
    [machine] = sfn.list_state_machines()["stateMachines"]
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"])
    choices = definition["States"][definition["StartAt"]]["Choices"]
    redeployed = {choice["Or"][0]["StringEquals"]: [b["States"][n]["Parameters"]["Service"] for b in definition["States"][choice["Next"]]["Branches"]
                                                    for n in b["States"]] for choice in choices}
    assert redeployed == {own[orders]: [orders], own[billing]: [billing]} and definition["States"]["Redeploy services"]["Type"] == "Succeed"
    machine_role = sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["roleArn"].rsplit("/", 1)[-1]
    resources = [r for statement in _policy(moto, machine_role)["Statement"] for r in statement["Resource"]]
    # The iam service is not even allowed to be redeployed.
    assert sorted(arn.rsplit("/", 1)[-1] for arn in resources if ":service/" in arn) == sorted([orders, billing]), resources
    [rule] = moto.client("events").list_rules()["Rules"]
    assert {own[orders], own[billing], master_arn} <= set(json.loads(rule["EventPattern"])["detail"]["additionalEventData"]["SecretId"])

    # The preflight checked what each mode needs: the own secrets for app_user, the task role's connect for iam.
    preflight = run.step("preflight")
    connects = [(f["service"], f["status"]) for f in preflight["findings"] if f["check"] == "task_role_db_connect"]
    assert connects == [(reporting, "ok")], preflight["findings"]
    read = {f["resource"] for f in preflight["findings"] if f["check"] == "execution_role_access" and f["status"] == "ok"}
    assert {own[orders], own[billing]} <= read and master_arn not in read

    # On the real server: the iam login holds rds_iam and has no password; it reads the owner's schema and cannot write it.
    database = stand_in.database
    assert database._admin("SELECT r.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member "
                           "WHERE g.rolname = 'rds_iam' AND r.rolname = 'reporting'") == [("reporting",)]
    assert database._admin("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'reporting'") == [(True,)]
    login = json.loads(secrets.get_secret_value(SecretId=own[orders])["SecretString"])
    with psycopg.connect(host=database.socket_directory, dbname=login["dbname"], user=login["username"], password=login["password"],
                         autocommit=True) as owner:
        owner.execute("CREATE TABLE demo_ecs_service.purchase (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            owner.execute("CREATE TABLE billing.stolen (id int)")
    assert database._admin("SELECT has_table_privilege('reporting', 'demo_ecs_service.purchase', 'SELECT'), "
                           "has_table_privilege('reporting', 'demo_ecs_service.purchase', 'INSERT')", database="shop") == [(True, False)]

    # The re-run: changed=0, no write call, no statement that changes anything.
    moto.start_recording()
    stand_in.statements.clear()
    again = run_playbook(stand_in.endpoint, SITE, extra_vars=variables)
    assert again.rc == 0 and again.changed == 0, again.stdout[-4000:]
    assert write_calls(moto.stop_recording()) == [] and stand_in.changes() == []
    # The deployment check compared the logins (reads only) and skipped the roles.
    [summary] = [t.result["msg"] for t in again.tasks if t.name == "Summary" and not t.result.get("skipped")]
    assert summary["deployment_check"] == "nothing to do: the roles were skipped", summary

    # Teardown: refused before any write while a login owns a table, then with drop_owned every login and
    # own secret of the deployment is gone; the task role's policy goes with the execution role's.
    teardown_vars = dict(variables, ecsrds_teardown_confirm_delete=True, ecsrds_teardown_skip_final_snapshot=True)
    moto.start_recording()
    refused = run_playbook(stand_in.endpoint, TEARDOWN, extra_vars=teardown_vars)
    assert refused.rc != 0 and "still owns 1 table(s)" in refused.stdout, refused.stdout[-4000:]
    assert write_calls(moto.stop_recording()) == [] and stand_in.changes() == []
    removed = run_playbook(stand_in.endpoint, TEARDOWN, extra_vars=dict(teardown_vars, ecsrds_teardown_drop_owned_by_logins=True))
    assert removed.rc == 0, removed.stdout[-4000:]
    logins = database._admin("SELECT rolname FROM pg_roles WHERE rolname IN ('demo_ecs_service', 'billing', 'reporting')")
    assert logins == []
    assert [s["Name"] for s in secrets.list_secrets()["SecretList"] if s["Name"].startswith("demo-rds-aurora-postgres/")] == []
    assert moto.client("iam").list_role_policies(RoleName=TASK_ROLE)["PolicyNames"] == []
    assert moto.client("iam").list_role_policies(RoleName=env["execution_role_name"])["PolicyNames"] == []


def test_a_switch_from_master_to_app_user_and_back_is_planned_then_made(moto, stand_in):
    env = build_demo_environment(moto.client)
    service = env["service"]
    master_vars = _vars(stand_in.endpoint, [service], ecsrds_db_auth="master")
    first = run_playbook(stand_in.endpoint, SITE, extra_vars=master_vars)
    assert first.rc == 0, first.stdout[-4000:]
    [cluster] = moto.client("rds").describe_db_clusters()["DBClusters"]
    master_arn = cluster["MasterUserSecret"]["SecretArn"]
    assert master_arn in json.dumps(_revision(moto, service))

    # Planned: the login and its secret, a revision on it, the grant, the rollout - and nothing written.
    app_vars = dict(master_vars, ecsrds_db_auth="app_user")
    moto.start_recording()
    planned = run_playbook(stand_in.endpoint, SITE, extra_vars=app_vars, check=True)
    assert planned.rc == 0, planned.stdout[-4000:]
    assert write_calls(moto.stop_recording()) == [] and stand_in.changes() == []
    changed = {t.name for t in planned.tasks if t.changed}
    assert {"ecsrds.connect.service : Make each service's database login, its rights and (app_user) its own secret",
            "ecsrds.connect.service : Register a revision with the database variables on top of what each service runs",
            "ecsrds.connect.service : Allow each execution role to read exactly the database secret"} <= changed, changed

    switched = run_playbook(stand_in.endpoint, SITE, extra_vars=app_vars)
    assert switched.rc == 0, switched.stdout[-4000:]
    own = moto.client("secretsmanager").describe_secret(SecretId=f"{app_vars['ecsrds_db_cluster_identifier']}/demo_ecs_service")["ARN"]
    revision = json.dumps(_revision(moto, service))
    assert master_arn not in revision and f"{own}:password::" in revision
    execution = json.dumps(_policy(moto, env["execution_role_name"]))
    assert own in execution and master_arn not in execution

    # And back: the master's keys again, the grant on the master's secret only.
    back = run_playbook(stand_in.endpoint, SITE, extra_vars=master_vars)
    assert back.rc == 0 and back.changed > 0, back.stdout[-4000:]
    revision = json.dumps(_revision(moto, service))
    assert f"{master_arn}:password::" in revision and own not in revision
    execution = json.dumps(_policy(moto, env["execution_role_name"]))
    assert master_arn in execution and own not in execution
