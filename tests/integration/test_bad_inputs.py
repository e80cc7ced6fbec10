"""Bad input never writes: one table of bad inputs across site.yml, teardown.yml, each role's entry
points and each module. Every row must fail naming the input as the user wrote it and its value,
with 0 write calls counted by moto's request recorder.

Most rows go through the validator that ecsrds.connect.deployment_check runs (the same Python, called
directly with clients on the moto server); a few playbook runs prove the playbooks, roles and
modules reach it before their first write, all rows of one entry point in one run (the message
lists every problem at once).
"""

from __future__ import annotations


import pytest
import yaml

from support.sandbox import REPO_ROOT, module_server, run_playbook, write_calls

from support.demo_environment import build_demo_environment

from ansible_collections.ecsrds.connect.plugins.module_utils.inputs import validate  # noqa: E402

SITE = REPO_ROOT / "site.yml"
TEARDOWN = REPO_ROOT / "playbooks" / "teardown.yml"
SITE_SPEC = yaml.safe_load((REPO_ROOT / "playbooks" / "files" / "site_argument_spec.yml").read_text())
DEMO_VARS = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
SERVICE = "demo-ecs-service"
BRIDGE_SERVICE = "demo-bridge-service"
ORPHAN_SERVICE = "demo-orphan-service"

# (entry point, inputs over the valid demo ones, input named in the error, value shown with it).
CASES = [
    ("site", {"ecsrds_ecs_services": "shop-api,shop-worker"}, "ecsrds_ecs_services", "'shop-api,shop-worker'"),
    ("site", {"ecsrds_tags": "team=shop"}, "ecsrds_tags", "'team=shop'"),
    ("site", {"ecsrds_db_nmae": "orders"}, "ecsrds_db_nmae", "did you mean 'ecsrds_db_name'"),
    ("site", {"ecsrds_ecs_services": [{"name": SERVICE, "container": "app"}]}, "ecsrds_ecs_services[0]: key 'container'", "'container_name'"),
    # A newcomer's guess at an entry's keys: once a template error in the playbook's input mapping.
    ("site", {"ecsrds_ecs_services": [{"service": SERVICE, "container": "api"}]}, "ecsrds_ecs_services[0]: key 'service'", "is not known"),
    ("site", {"ecsrds_db_cluster_identifier": "Shop_Orders_DB"}, "ecsrds_db_cluster_identifier", "'Shop_Orders_DB'"),
    ("site", {"ecsrds_db_cluster_identifier": "a" * 60}, "ecsrds_db_cluster_identifier", "'" + "a" * 60 + "'"),
    ("site", {"ecsrds_db_port": 70000}, "ecsrds_db_port", "70000"),
    ("site", {"ecsrds_db_port": "many"}, "ecsrds_db_port", "'many'"),
    ("site", {"ecsrds_db_name": "orders-db"}, "ecsrds_db_name", "'orders-db'"),
    ("site", {"ecsrds_db_engine_version": "8.0.mysql_aurora.3.05.2"}, "ecsrds_db_engine_version", "'8.0.mysql_aurora.3.05.2'"),
    ("site", {"ecsrds_db_instance_class": "db.rg5.large"}, "ecsrds_db_instance_class", "'db.rg5.large'"),
    ("site", {"ecsrds_db_ingress_source": "cidr", "ecsrds_db_ingress_cidrs": ["0.0.0.0/0"]}, "ecsrds_db_ingress_cidrs", "'0.0.0.0/0'"),
    ("site", {"ecsrds_db_ingress_source": "cidr", "ecsrds_db_ingress_cidrs": ["::/0"]}, "ecsrds_db_ingress_cidrs", "'::/0'"),
    ("site", {"ecsrds_db_ingress_cidrs": ["10.0.0.0/33"]}, "ecsrds_db_ingress_cidrs", "'10.0.0.0/33'"),
    ("site", {"ecsrds_db_ingress_source": "everyone"}, "ecsrds_db_ingress_source", "'everyone'"),
    ("site", {"ecsrds_db_monitoring_interval": 60}, "ecsrds_db_monitoring_interval", "60"),
    ("site", {"ecsrds_db_monitoring_interval": 60, "ecsrds_db_monitoring_role_arn": "monitoring-role"}, "ecsrds_db_monitoring_role_arn", "'monitoring-role'"),
    ("site", {"ecsrds_db_secret_kms_key_id": "my key"}, "ecsrds_db_secret_kms_key_id", "'my key'"),
    # Well formed, but not in the account: found with one DescribeKey, before the network step's writes.
    ("site", {"ecsrds_db_secret_kms_key_id": "alias/payments"}, "ecsrds_db_secret_kms_key_id 'alias/payments'", "no such KMS key"),
    ("database", {"database_master_user_secret_kms_key_id": "alias/payments"}, "database_master_user_secret_kms_key_id", "no such KMS key"),
    ("site", {"ecsrds_wait_for_rollout": "maybe"}, "ecsrds_wait_for_rollout", "'maybe'"),
    ("site", {"ecsrds_aws_endpoint_url": "http://remote-aws.invalid"}, "ecsrds_aws_endpoint_url", "'http://remote-aws.invalid'"),
    ("site", {"ecsrds_aws_region": None}, "ecsrds_aws_region", "no AWS region"),
    ("site", {"ecsrds_ecs_cluster": None}, "ecsrds_ecs_cluster", "is required"),
    ("site", {"ecsrds_ecs_cluster": "no-such-cluster"}, "ecsrds_ecs_cluster", "'no-such-cluster'"),
    ("site", {"ecsrds_ecs_services": ["no-such-service"]}, "ecsrds_ecs_services", "'no-such-service'"),
    ("site", {"ecsrds_ecs_services": [BRIDGE_SERVICE]}, "ecsrds_ecs_services", f"'{BRIDGE_SERVICE}' does not use the awsvpc"),
    ("site", {"ecsrds_ecs_services": [{"name": SERVICE, "container_name": "webb"}]}, "ecsrds_ecs_services[0].container_name", "'webb'"),
    ("site", {"ecsrds_ecs_services": [SERVICE], "ecsrds_container_name": "webb"}, "ecsrds_container_name", "'webb'"),
    ("site", {"ecsrds_ecs_services": [ORPHAN_SERVICE]}, "ecsrds_ecs_services", "execution role arn:aws:iam::123456789012:role/gone"),
    ("teardown", {"ecsrds_ecs_services": "shop-api,shop-worker"}, "ecsrds_ecs_services", "'shop-api,shop-worker'"),
    ("teardown", {"ecsrds_teardown_confirm_delete": "sure"}, "ecsrds_teardown_confirm_delete", "'sure'"),
    ("network", {"network_ecs_services": "demo-ecs-service"}, "network_ecs_services", "'demo-ecs-service'"),
    ("network", {"network_db_port": 80}, "network_db_port", "80"),
    ("network", {"network_db_ingress_source": "cidr", "network_db_ingress_cidrs": ["0.0.0.0/0"]}, "network_db_ingress_cidrs", "'0.0.0.0/0'"),
    ("network", {"network_subnet_ids": "ONE_AZ"}, "network_subnet_ids", "1 Availability Zone"),
    ("database", {"database_cluster_identifier": "-db"}, "database_cluster_identifier", "'-db'"),
    ("database", {"database_subnet_ids": "ONE_SUBNET"}, "database_subnet_ids", "needs two subnets"),
    ("database", {"database_instance_class": "db.m5"}, "database_instance_class", "'db.m5'"),
    ("database", {"database_tags": ["team=shop"]}, "database_tags", "['team=shop']"),
    ("service", {"service_secret_kms_key_id": "alias/shop"}, "service_secret_kms_key_id", "'alias/shop'"),
    ("service", {"service_secret_arn": "orders-secret"}, "service_secret_arn", "'orders-secret'"),
    ("service", {"service_ecs_services": [{"name": SERVICE, "container_name": "webb"}]}, "service_ecs_services[0].container_name", "'webb'"),
    ("rotation", {"rotation_ecs_services": "demo-ecs-service"}, "rotation_ecs_services", "'demo-ecs-service'"),
    ("rotation", {"rotation_secret_rotation_days": 0}, "rotation_secret_rotation_days", "0"),
    ("rotation", {"rotation_db_cluster_identifier": "Shop_Orders_DB"}, "rotation_db_cluster_identifier", "'Shop_Orders_DB'"),
]


class _Retryless:
    """A boto3 client taking the ``aws_retry`` keyword our module_utils pass to retrying clients."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        method = getattr(self._client, name)

        def without_retry_keyword(*args, aws_retry=False, **kwargs):
            return method(*args, **kwargs)

        return without_retry_keyword


def _role_spec(role, entry="main"):
    specs = yaml.safe_load((REPO_ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    known = [name for spec in specs.values() for name in spec["options"]]
    return specs[entry]["options"], known


def _role_inputs(role, env):
    """The role's defaults (its argument spec's) plus what a caller would give, as the role's check is given them."""
    inputs = {name: option["default"] for name, option in _role_spec(role)[0].items() if "default" in option}
    inputs.update({
        "network": {"network_ecs_cluster": env["cluster"], "network_ecs_services": [SERVICE], "network_deployment_id": "demo-rds-aurora-postgres"},
        "database": {"database_subnet_ids": env["subnet_ids"], "database_cluster_identifier": "demo-rds-aurora-postgres"},
        "service": {"service_ecs_cluster": env["cluster"], "service_ecs_services": [SERVICE],
                    "service_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1-AbCdEf",
                    "service_db_endpoint": "db.cluster-1.us-east-1.rds.amazonaws.com"},
        "rotation": {"rotation_ecs_cluster": env["cluster"], "rotation_ecs_services": [SERVICE],
                     "rotation_db_cluster_identifier": "demo-rds-aurora-postgres",
                     "rotation_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1-AbCdEf"},
    }[role])
    return inputs


# The world below is built once and only read: a server of this module's own.
moto_server = pytest.fixture(scope="module", name="moto_server")(module_server)


@pytest.fixture(scope="module")
def bad_world(moto_server):
    """The demo environment plus the awkward things the table needs; read-only for every test here."""
    env = build_demo_environment(moto_server.client)
    ec2, ecs = moto_server.client("ec2"), moto_server.client("ecs")
    # A third subnet in the first subnet's zone: two subnets, one Availability Zone.
    zone = ec2.describe_subnets(SubnetIds=env["subnet_ids"][:1])["Subnets"][0]["AvailabilityZone"]
    same_zone = ec2.create_subnet(VpcId=env["vpc_id"], CidrBlock="10.0.9.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
    env["one_az_subnets"] = [env["subnet_ids"][0], same_zone]
    bridge = ecs.register_task_definition(family="demo-bridge", networkMode="bridge",
                                          containerDefinitions=[{"name": "app", "image": "busybox", "memory": 128}])
    ecs.create_service(cluster=env["cluster"], serviceName=BRIDGE_SERVICE, taskDefinition=bridge["taskDefinition"]["taskDefinitionArn"], desiredCount=0)
    orphan = ecs.register_task_definition(family="demo-orphan", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
                                          executionRoleArn="arn:aws:iam::123456789012:role/gone",
                                          containerDefinitions=[{"name": "app", "image": "busybox", "memory": 128}])
    ecs.create_service(cluster=env["cluster"], serviceName=ORPHAN_SERVICE, taskDefinition=orphan["taskDefinition"]["taskDefinitionArn"],
                       desiredCount=0, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {"subnets": env["subnet_ids"], "securityGroups": [env["service_security_group_id"]]}})
    return env


def _resolve(overrides, env):
    placeholders = {"ONE_AZ": env["one_az_subnets"], "ONE_SUBNET": env["subnet_ids"][:1]}
    return {name: placeholders.get(value, value) if isinstance(value, str) else value for name, value in overrides.items()}


def _validate(moto_server, env, entry, overrides):
    if entry in ("site", "teardown"):
        inputs = dict(DEMO_VARS, ecsrds_aws_endpoint_url=moto_server.endpoint, ecsrds_require_loopback_endpoint=True)
        spec, known = SITE_SPEC, ()
    else:
        inputs = _role_inputs(entry, env)
        spec, known = _role_spec(entry)
    inputs.update(_resolve(overrides, env))
    region = inputs.get("ecsrds_aws_region", "us-east-1") if entry in ("site", "teardown") else "us-east-1"

    def clients(service):
        return _Retryless(moto_server.client(service))

    return validate(clients, entry, inputs, spec, known=known, region=region)[0]


def test_the_valid_demo_inputs_pass(moto_server, bad_world):
    for entry in ("site", "teardown", "network", "database", "service", "rotation"):
        assert _validate(moto_server, bad_world, entry, {}) == [], entry


@pytest.mark.parametrize("entry, overrides, name, value", CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_each_bad_input_is_named_with_its_value_and_nothing_is_written(moto_server, bad_world, entry, overrides, name, value):
    moto_server.start_recording()
    problems = _validate(moto_server, bad_world, entry, overrides)
    calls = moto_server.stop_recording()
    assert write_calls(calls) == []
    assert any(name in problem and value in problem for problem in problems), problems


def _failed_messages(run):
    return [task.result.get("msg", "") for task in run.tasks if task.failed]


def test_site_and_teardown_list_every_problem_before_any_write(moto_server, bad_world):
    bad = {row[2]: row for row in CASES if row[0] == "site" and row[2] in (
        "ecsrds_ecs_services[0]: key 'service'", "ecsrds_db_cluster_identifier", "ecsrds_db_nmae", "ecsrds_tags")}
    site_vars = dict(DEMO_VARS, ecsrds_aws_endpoint_url=moto_server.endpoint)
    for _entry, overrides, _name, _value in bad.values():
        site_vars.update(overrides)
    site_vars["ecsrds_db_port"] = "70000"  # as -e gives it: a string
    site_vars["ecsrds_db_cluster_identifier"] = "Shop_Orders_DB"
    # A name that cannot resolve stands in for a remote endpoint: refused before any call.
    teardown_vars = dict(DEMO_VARS, ecsrds_aws_endpoint_url="http://remote-aws.invalid", ecsrds_ecs_services="shop-api,shop-worker",
                         ecsrds_teardown_confirm_delete="sure")

    moto_server.start_recording()
    site = run_playbook(moto_server.endpoint, SITE, extra_vars=site_vars)
    teardown = run_playbook(moto_server.endpoint, TEARDOWN, extra_vars=teardown_vars)
    calls = moto_server.stop_recording()
    assert write_calls(calls) == []

    assert site.rc != 0 and teardown.rc != 0
    [site_message] = _failed_messages(site)
    for expected in ("ecsrds_ecs_services[0]: key 'service' is not known", "ecsrds_ecs_services[0]: key 'container'", "'container_name'",
                     "ecsrds_ecs_services[0] needs a name", "ecsrds_db_cluster_identifier 'Shop_Orders_DB'",
                     "ecsrds_db_nmae", "'ecsrds_db_name'", "ecsrds_tags must be a mapping", "'team=shop'", "ecsrds_db_port 70000"):
        assert expected in site_message, (expected, site_message)
    [teardown_message] = _failed_messages(teardown)
    for expected in ("ecsrds_ecs_services must be a list", "'shop-api,shop-worker'", "ecsrds_teardown_confirm_delete", "'sure'",
                     "ecsrds_aws_endpoint_url 'http://remote-aws.invalid' must point at a server on this machine"):
        assert expected in teardown_message, (expected, teardown_message)
    # No warning on these runs either (for example about no_log).
    assert "[WARNING]" not in site.stderr + teardown.stderr, site.stderr + teardown.stderr


def test_an_unknown_input_that_looks_secret_is_refused_without_showing_its_value(moto_server, bad_world):
    # What a role's own check is given when the inventory holds, say, database_password for another app.
    secret = "hunter2-from-the-inventory-9d2b"
    task = {"name": "check", "ignore_errors": True, "ecsrds.connect.deployment_check": {
        "scope": "site", "inputs": dict(DEMO_VARS, ecsrds_db_password=secret), "spec": SITE_SPEC, "discover": False}}
    run = run_playbook(moto_server.endpoint, [{"hosts": "localhost", "gather_facts": False, "tasks": [task],
                                               "module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}}}])
    [message] = _failed_messages(run)
    assert "'ecsrds_db_password' is not known" in message
    assert secret not in run.stdout + run.stderr


def test_roles_and_modules_refuse_bad_input_before_any_write(moto_server, bad_world):
    """Each role entry point and each module, called on its own with a bad input, in one playbook."""
    env = bad_world

    def role(name, tasks_from, role_vars):
        return {"name": f"role {name} {tasks_from}", "block": [{"name": f"{name} {tasks_from}", "ansible.builtin.include_role": {
            "name": f"ecsrds.connect.{name}", "tasks_from": tasks_from}, "vars": role_vars}],
            "rescue": [{"name": f"rescued {name} {tasks_from}", "ansible.builtin.debug": {"msg": "refused"}}]}

    def module(name, args):
        return {"name": f"module {name}", f"ecsrds.connect.{name}": args, "ignore_errors": True}

    rows = [
        (role("network", "main", {"network_ecs_cluster": env["cluster"], "network_ecs_services": SERVICE, "network_deployment_id": "shop"}),
         "network_ecs_services", "'demo-ecs-service'"),
        (role("network", "teardown", {"network_db_port": 80, "network_deployment_id": "shop"}), "network_db_port", "80"),
        (role("database", "main", {"database_subnet_ids": env["subnet_ids"], "database_cluster_identifier": "Shop_Orders_DB",
                                   "database_engine_version": "8.0.mysql_aurora.3.05.2"}), "database_engine_version", "'8.0.mysql_aurora.3.05.2'"),
        (role("database", "teardown", {"database_cluster_identifier": "Shop_Orders_DB"}), "database_cluster_identifier", "'Shop_Orders_DB'"),
        (role("service", "main", {"service_ecs_cluster": env["cluster"], "service_ecs_services": [{"name": SERVICE, "container_name": "webb"}],
                                  "service_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
                                  "service_db_endpoint": "db.example"}), "service_ecs_services[0].container_name", "'webb'"),
        (role("service", "teardown", {"service_ecs_cluster": env["cluster"], "service_ecs_services": "a,b"}), "service_ecs_services", "'a,b'"),
        (role("rotation", "main", {"rotation_ecs_cluster": env["cluster"], "rotation_ecs_services": [SERVICE],
                                   "rotation_db_cluster_identifier": "demo-rds-aurora-postgres", "rotation_secret_arn": "orders-secret"}),
         "rotation_secret_arn", "'orders-secret'"),
        (role("rotation", "teardown", {"rotation_db_cluster_identifier": "Shop_Orders_DB"}), "rotation_db_cluster_identifier", "'Shop_Orders_DB'"),
        (module("rds_aurora_managed_secret", {"db_cluster_identifier": "Shop_Orders_DB"}), "db_cluster_identifier", "'Shop_Orders_DB'"),
        (module("security_group_ingress", {"name": "x", "vpc_id": env["vpc_id"], "port": 70000, "source_cidrs": ["10.0.0.0/16"],
                                           "deployment_id": "demo"}), "port", "70000"),
        (module("vpc_secretsmanager_endpoint", {"subnet_ids": env["subnet_ids"], "source_cidrs": ["10.0.0.0/33"], "deployment_id": "demo"}),
         "source_cidrs", "'10.0.0.0/33'"),
        (module("ecs_taskdef_secret_env", {"task_definition": env["task_definition_arn"], "container_name": "webb", "environment": {"A": "b"}}),
         "container_name", "'webb'"),
        (module("ecs_service_deploy", {"cluster": env["cluster"], "service": "no-such-service", "task_definition": env["task_definition_arn"]}),
         "service", "'no-such-service'"),
        (module("ecs_redeploy_on_rotation", {"db_cluster_identifier": "demo-rds-aurora-postgres", "secret_arn": "orders-secret",
                                             "cluster": env["cluster"], "services": [SERVICE]}), "secret_arn", "orders-secret"),
        (module("ecs_secrets_preflight", {"cluster": env["cluster"], "service": SERVICE, "db_port": 70000}), "db_port", "70000"),
        (module("cloudwatch_logs_expect", {"log_group": "/ecs/demo", "pattern": "orders("}), "pattern", "'orders('"),
        (module("deployment_check", {"scope": "site", "inputs": {"ecsrds_db_port": 70000}, "spec": SITE_SPEC, "discover": False}),
         "ecsrds_db_port", "70000"),
        # The module's former name and options still lead there (a redirect, deprecated).
        (module("inputs_check", {"scope": "site", "inputs": {"ecsrds_db_port": 1}, "spec": SITE_SPEC, "facts": False}), "ecsrds_db_port", "1"),
    ]
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1", "endpoint_url": moto_server.endpoint}},
             "tasks": [row[0] for row in rows]}]
    moto_server.start_recording()
    run = run_playbook(moto_server.endpoint, play)
    calls = moto_server.stop_recording()
    assert write_calls(calls) == []
    messages = _failed_messages(run)
    assert len(messages) == len(rows), (messages, run.stdout[-3000:])
    for (_task, name, value), message in zip(rows, messages):
        assert name in message and value in message, (name, value, message)
