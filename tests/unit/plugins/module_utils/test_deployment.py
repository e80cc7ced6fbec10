"""The one-pass deployment check of site.yml (module_utils/deployment.py): the step options it derives
from the roles' inputs, the facts it publishes, and when it lets site.yml skip the roles.

The options are compared with what the roles' tasks really send by
tests/integration/test_deployment_check.py; here each derivation and the pass's decisions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.ecsrds.connect.plugins.module_utils import deployment
from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError

REPO = Path(__file__).resolve().parents[4]
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1a2b-xYz"
TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:4"


def role_defaults():
    """The four roles' defaults, as site.yml's roles would hold them when nothing overrides them."""
    values = {}
    for role in ("network", "database", "service", "rotation"):
        values.update(yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()))
    # What the Jinja defaults and site.yml's inputs.yml give for the demo.
    values["database_deployment_id"] = values["database_cluster_identifier"]
    values["service_execution_role_policy_name"] = "ecsrds-connect-demo"
    values.update(rotation_db_cluster_identifier="demo-rds-aurora-postgres", rotation_ecs_cluster="demo-ecs-cluster",
                  rotation_ecs_services=["api", "worker"], service_db_cluster_identifier="demo-rds-aurora-postgres")
    return values


AWS = {
    "services": {
        "api": {"task_definition": TD, "settled": True, "subnets": ["subnet-a", "subnet-b"], "security_groups": ["sg-app"]},
        "worker": {"task_definition": TD, "settled": True, "subnets": ["subnet-b", "subnet-c"], "security_groups": ["sg-app", "sg-w"]},
    },
    "subnets": [{"subnet_id": "subnet-a", "availability_zone": "eu-west-1a", "cidr_block": "10.0.1.0/24", "vpc_id": "vpc-1"}],
}
SERVICES = [{"name": "api", "container_name": "app", "task_definition": TD}, {"name": "worker", "container_name": "app", "task_definition": TD}]
DATABASE = {
    "database__endpoint": "db.cluster-x.eu-west-1.rds.amazonaws.com",
    "database__port": 5432,
    "database__name": "shop",
    "database__secret_arn": SECRET,
    "database__secret_kms_key_id": "arn:aws:kms:eu-west-1:123456789012:key/k1",
    "database__secret_kms_key_manager": "AWS",
}


def test_the_network_step_takes_the_services_subnets_and_groups_once_each_in_order():
    options = deployment.network_options(role_defaults(), AWS)
    assert options["subnet_ids"] == ["subnet-a", "subnet-b", "subnet-c"]
    assert options["endpoint"]["source_security_group_ids"] == ["sg-app", "sg-w"]
    assert options["db_security_group"]["source_security_group_ids"] == ["sg-app", "sg-w"]
    assert options["db_security_group"]["source_cidrs"] == []
    assert options["subnets"] == AWS["subnets"] and options["vpc_id"] is None


def test_the_network_step_prefers_given_ids_and_admits_cidrs_when_asked():
    inputs = dict(role_defaults(), network_subnet_ids=["subnet-z"], network_service_security_group_ids=["sg-given"],
                  network_db_ingress_source="cidr", network_db_ingress_cidrs=["10.0.0.0/16"], network_vpc_id="vpc-9")
    options = deployment.network_options(inputs, AWS)
    assert options["subnet_ids"] == ["subnet-z"] and options["vpc_id"] == "vpc-9"
    assert options["db_security_group"]["source_security_group_ids"] == []
    assert options["db_security_group"]["source_cidrs"] == ["10.0.0.0/16"]
    assert options["endpoint"]["source_security_group_ids"] == ["sg-given"]


def test_a_vpc_found_by_name_is_left_to_the_network_role():
    with pytest.raises(deployment.NotInSync, match="network_vpc_name"):
        deployment.network_options(dict(role_defaults(), network_vpc_name="main"), AWS)


def test_the_database_step_takes_the_network_steps_subnets_and_group():
    network = {"network__subnet_ids": ["subnet-a", "subnet-b"], "network__db_security_group_id": "sg-db"}
    options = deployment.database_options(dict(role_defaults(), database_cluster_identifier="shop-db", database_deployment_id="", database_name=""), network)
    assert options["db_subnet_group_name"] == "shop-db-subnets"
    assert options["db_subnet_group_subnet_ids"] == ["subnet-a", "subnet-b"]
    assert options["vpc_security_group_ids"] == ["sg-db"]
    # Empty inputs are left out, as the role's `default(omit, true)` does.
    assert options["database_name"] is None and options["engine_version"] is None and options["kms_key_id"] is None
    assert options["deployment_id"] == "shop-db" and options["purge_tags"] is False
    assert deployment.database_options(role_defaults(), {"network__db_security_group_id": None})["vpc_security_group_ids"] is None


def test_the_database_facts_name_the_clusters_database_when_none_is_asked():
    cluster = {"endpoint": "e", "database_name": "appdb", "master_user_secret": {"secret_arn": SECRET, "kms_key_id": "k", "kms_key_manager": "AWS"}}
    facts = deployment.database_facts(dict(role_defaults(), database_name="", database_port="5433"), {"cluster": cluster})
    assert facts["database__name"] == "appdb" and facts["database__port"] == 5433 and facts["database__secret_arn"] == SECRET
    assert deployment.database_facts(dict(role_defaults(), database_name=""), {"cluster": {"endpoint": "e"}})["database__name"] == "postgres"


def test_the_revision_tags_name_the_deployment_in_characters_ecs_accepts():
    inputs = dict(role_defaults(), service_deployment_id="", service_db_cluster_identifier="")
    assert deployment.service_deployment_id(inputs, SECRET) == "rds-cluster-1a2b-xYz"
    assert deployment.service_deployment_id(dict(inputs, service_deployment_id="team/a b"), SECRET) == "team-a-b"


def test_the_task_definition_step_adds_the_url_driver_and_secret_keys():
    inputs = dict(role_defaults(), service_deployment_id="shop", service_tags={"team": "a"})
    options = deployment.task_definition_options(inputs, SERVICES, DATABASE)
    assert options["environment"] == {
        "DATABASE_URL": "jdbc:postgresql://db.cluster-x.eu-west-1.rds.amazonaws.com:5432/shop",
        "DATABASE_DRIVER_CLASS": "org.postgresql.Driver",
    }
    assert options["secret_keys"] == {"DATABASE_USERNAME": "username", "DATABASE_PASSWORD": "password"}
    assert options["tags"] == {"team": "a", "ecsrds.connect/managed": "true", "ecsrds.connect/created-by": "shop"}
    assert [entry["name"] for entry in options["task_definitions"]] == ["api", "worker"]


def test_each_execution_role_is_granted_once_and_a_customer_key_only_when_it_is_one():
    registered = [{"task_definition": {"execution_role_arn": "arn:aws:iam::123456789012:role/path/execRole"}},
                  {"task_definition": {"execution_role_arn": "arn:aws:iam::123456789012:role/execRole"}},
                  {"task_definition": {}}]
    roles = deployment.execution_role_names(registered)
    assert roles == ["execRole"]
    assert deployment.grant_options(role_defaults(), roles, DATABASE)["secret_kms_key_id"] is None
    customer = dict(DATABASE, database__secret_kms_key_manager="CUSTOMER")
    assert deployment.grant_options(role_defaults(), roles, customer)["secret_kms_key_id"] == DATABASE["database__secret_kms_key_id"]


def test_rotation_off_asks_for_the_wiring_to_be_removed():
    options = deployment.rotation_options(dict(role_defaults(), rotation_redeploy=False, rotation_secret_rotation_days=None), DATABASE)
    assert options["state"] == "absent" and options["rotation_days"] is None and options["secret_arn"] == SECRET


def test_steps_that_run_on_every_run_keep_the_roles_running():
    assert deployment.always_runs(role_defaults()) is None
    # site.yml runs the log check itself after publishing the facts.
    assert deployment.always_runs(dict(role_defaults(), service_verify_log_pattern="HikariPool")) is None
    assert "preflight" in deployment.always_runs(dict(role_defaults(), service_preflight_every_run=True))
    assert deployment.always_runs(dict(role_defaults(), service_preflight=False, service_preflight_every_run=True)) is None


def test_the_chained_inputs_site_yml_leaves_out_are_exactly_those_set_from_a_published_fact():
    inputs = yaml.safe_load((REPO / "playbooks" / "vars" / "inputs.yml").read_text())
    reads_a_published_fact = {name for name, value in inputs.items()
                              if isinstance(value, str) and re.search(r"\b(network|database|service|rotation)__", value)
                              and re.match(r"^(network|database|service|rotation)_[a-z]", name)}
    assert set(inputs["site__chained_inputs"]) == reads_a_published_fact


# -- the pass: stops at the first step with something to do ------------------------------------


NETWORK_RESULT = {"vpc_id": "vpc-1", "endpoint": {"changed": False, "endpoint": {"vpc_endpoint_id": "vpce-1"}},
                  "db_security_group": {"group_id": "sg-db"}}
CLUSTER = {"endpoint": "db.cluster-x", "database_name": "postgres",
           "master_user_secret": {"secret_arn": SECRET, "kms_key_id": "k", "kms_key_manager": "AWS"}}


class FakeSteps:
    """Each step's own decision answered as given (each is unit-tested in its area's tests)."""

    def __init__(self, monkeypatch, network=False, cluster_changed=False, pending=None, registered=False, settled=True, grant=False,
                 rotation=False, failing=None):
        self.calls = []

        def step(name, answer):
            def run(*args, **kwargs):
                self.calls.append(name)
                if failing == name:
                    raise EcsRdsError(message=f"Failed to describe {name}")
                return answer()
            return run

        monkeypatch.setattr(deployment, "run_network_access", step("network", lambda: (network, NETWORK_RESULT, ["allow 5432"] if network else [])))

        class Manager:
            def __init__(self, module):
                self.module = module

            run = step("database", lambda: {"changed": cluster_changed, "cluster": CLUSTER, "pending": pending,
                                            "diff": {"before": {"port": 5432}, "after": {"port": 5433 if cluster_changed else 5432}}})

        monkeypatch.setattr(deployment, "AuroraManagedSecretManager", Manager)
        revisions = [{"changed": registered, "task_definition_arn": None if registered else TD, "revision": 4,
                      "task_definition": {"execution_role_arn": "arn:aws:iam::123456789012:role/execRole"}}] * 2
        monkeypatch.setattr(deployment, "run_taskdef_env", step("task_definitions", lambda: {"changed": registered, "task_definitions": revisions}))
        monkeypatch.setattr(deployment, "run_grant", step("grant", lambda: (grant, {}, {})))
        rotation_result = {"rotation": {"rule_name": "r"}, "actions": ["put rule"] if rotation else []}
        monkeypatch.setattr(deployment, "run_rotation", step("rotation", lambda: (rotation, rotation_result)))
        self.aws = dict(AWS, services={name: dict(s, settled=settled) for name, s in AWS["services"].items()})


class FakeModule:
    params = {"aws_config": None}


def check(steps, inputs=None):
    return deployment.check_deployment(FakeModule(), lambda service: object(), "eu-west-1", inputs or role_defaults(),
                                       {"aws": steps.aws, "services": SERVICES})


def test_a_deployment_with_nothing_to_do_publishes_what_the_roles_would(monkeypatch):
    steps = FakeSteps(monkeypatch)
    plan = check(steps)
    assert plan["in_sync"] is True and plan["reason"] is None
    assert steps.calls == ["network", "database", "task_definitions", "grant", "rotation"]
    facts = plan["facts"]
    assert facts["network__db_security_group_id"] == "sg-db" and facts["network__secretsmanager_endpoint_id"] == "vpce-1"
    assert facts["database__secret_arn"] == SECRET and facts["rotation__redeploy"] == {"rule_name": "r"}
    assert [r["service"] for r in facts["service__results"]] == ["api", "worker"]
    assert all(r["deployed"] is False for r in facts["service__results"])
    assert [s["step"] for s in plan["steps"]] == ["network", "database", "task_definitions", "grant", "rotation"]


@pytest.mark.parametrize("change, step, why", [
    ({"network": True}, "network", "allow 5432"),
    ({"cluster_changed": True}, "database", "port"),
    ({"pending": "cluster status 'modifying'"}, "database", "modifying"),
    ({"registered": True}, "task_definitions", TD),
    ({"settled": False}, "service", "roll out"),
    ({"grant": True}, "grant", "policy"),
    ({"rotation": True}, "rotation", "put rule"),
])
def test_the_first_step_with_something_to_do_ends_the_pass(monkeypatch, change, step, why):
    steps = FakeSteps(monkeypatch, **change)
    plan = check(steps)
    assert plan["in_sync"] is False and plan["facts"] == {}
    assert plan["reason"].startswith(f"{step}: ") and why in plan["reason"]
    order = ["network", "database", "task_definitions", "grant", "rotation"]
    last = "task_definitions" if step == "service" else step
    assert steps.calls == order[: order.index(last) + 1]


def test_a_cluster_still_settling_is_in_sync_when_the_role_would_not_wait(monkeypatch):
    steps = FakeSteps(monkeypatch, pending="cluster status 'modifying'")
    assert check(steps, dict(role_defaults(), database_wait=False))["in_sync"] is True


def test_a_failed_read_leaves_the_roles_to_run_and_report_it(monkeypatch):
    steps = FakeSteps(monkeypatch, failing="grant")
    plan = check(steps)
    assert plan["in_sync"] is False and plan["reason"] == "grant: Failed to describe grant"


def test_a_step_that_runs_every_time_means_no_aws_read_at_all(monkeypatch):
    steps = FakeSteps(monkeypatch)
    plan = check(steps, dict(role_defaults(), service_preflight_every_run=True))
    assert plan["in_sync"] is False and steps.calls == []


def set_fact_names(path):
    """The facts the set_fact tasks of a task file set."""
    tasks = yaml.safe_load((REPO / path).read_text())
    return {name for task in tasks for name in (task.get("ansible.builtin.set_fact") or {})}


def test_the_facts_published_without_the_roles_are_the_ones_the_roles_publish(monkeypatch):
    by_roles = (set_fact_names("roles/network/tasks/discover.yml") | set_fact_names("roles/network/tasks/publish.yml")
                | set_fact_names("roles/database/tasks/publish.yml") | {"service__results", "rotation__redeploy"})
    assert {"service__results"} <= set_fact_names("roles/service/tasks/results.yml")
    assert {"rotation__redeploy"} <= set_fact_names("roles/rotation/tasks/redeploy.yml")
    published = set_fact_names("playbooks/tasks/publish_in_sync.yml")
    assert published == by_roles
    assert set(check(FakeSteps(monkeypatch))["facts"]) == published
