"""site.yml and teardown.yml end to end on the demo environment, against moto."""

from __future__ import annotations

import json

import pytest

from support.sandbox import CONVERGE_TASK, REPO_ROOT, write_calls

from support.demo_environment import build_demo_environment

SITE = REPO_ROOT / "site.yml"
TEARDOWN = REPO_ROOT / "playbooks" / "teardown.yml"


def demo_vars(moto, **overrides):
    import yaml

    variables = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
    variables["ecsrds_aws_endpoint_url"] = moto.endpoint
    variables.update(overrides)
    return variables


def snapshot(moto, facts):
    """The AWS state teardown must give back: resources by id, and what the service runs."""
    ec2, ecs, iam, rds = moto.client("ec2"), moto.client("ecs"), moto.client("iam"), moto.client("rds")
    groups = ec2.describe_security_groups()["SecurityGroups"]
    service = ecs.describe_services(cluster=facts["cluster"], services=[facts["service"]])["services"][0]
    role = facts["execution_role_arn"].rsplit("/", 1)[-1]
    return {
        "security_groups": sorted((g["GroupId"], json.dumps(g["IpPermissions"], sort_keys=True)) for g in groups),
        # moto lists deleted endpoints with State "deleted".
        "vpc_endpoints": sorted(e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"].lower() != "deleted"),
        "clusters": [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]],
        "subnet_groups": [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]],
        "service_task_definition": service["taskDefinition"],
        "role_policies": iam.list_role_policies(RoleName=role)["PolicyNames"],
        "role_attached_policies": iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"],
        "active_task_definitions": ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"],
        "rotation": (sorted(r["Name"] for r in moto.client("events").list_rules()["Rules"]),
                     sorted(m["name"] for m in moto.client("stepfunctions").list_state_machines()["stateMachines"]),
                     sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("ecsrds-"))),
    }


@pytest.fixture
def demo(moto):
    return build_demo_environment(moto.client)


def changes(run):
    """What a run changed (or would): each changed task, with the loop items it changed."""
    found = []
    for task in run.tasks:
        if not task.changed:
            continue
        items = sorted(str(r.get("_ansible_item_label", r.get("item"))) for r in task.result.get("results", []) if r.get("changed"))
        found.append((task.name, items))
    return found


def test_check_mode_on_a_fresh_environment_writes_nothing(moto, play, demo):
    moto.start_recording()
    run = play(SITE, extra_vars=demo_vars(moto, ecsrds_wait_for_rollout=False), check=True, diff=True)
    calls = moto.stop_recording()
    assert run.rc == 0, run.stdout[-3000:]
    assert write_calls(calls) == []
    # The service stage is planned too, with stand-ins for the endpoint and secret: the container
    # is checked, and the revision, grant and deployment a real run makes are all shown.
    planned = dict(changes(run))
    registered = run.result("ecsrds.connect.service : Register a revision with the database variables on top of what each service runs")
    assert registered["task_definitions"][0]["changed"] and "planned-by-check-mode" in json.dumps(registered["diff"])
    assert "ecsrds.connect.service : Allow each execution role to read exactly the database secret" in planned
    rollouts = run.result("ecsrds.connect.service : Move the services onto their revisions, then follow the rollouts together")
    assert rollouts["changed"] and [(r["service"], r["deployed"]) for r in rollouts["rollouts"]] == [(demo["service"], True)]
    # The rotation redeploy is planned, but no ARN is made up for it in an account nobody has looked up.
    [summary] = [t.result["msg"] for t in run.tasks if t.name == "Summary" and not t.result.get("skipped")]
    assert summary["redeploy_on_rotation"] is None and "000000000000" not in json.dumps(summary), summary
    assert "ecsrds.connect.rotation : Ensure the rotation rule, the redeploy state machine and their roles" in planned


def test_site_converges_is_idempotent_and_teardown_restores(moto, play, demo):
    before = snapshot(moto, demo)

    first = play(SITE, extra_vars=demo_vars(moto))
    assert first.rc == 0, first.stdout[-4000:]
    # The roles' steps ran in one process (test_converge_in_one_process.py: as the roles leave AWS).
    assert first.result(CONVERGE_TASK)["converged"] is True
    assert first.changed_steps == ["network", "database", "task_definitions", "grant", "rollouts", "rotation"]

    ec2, ecs, iam, rds = moto.client("ec2"), moto.client("ecs"), moto.client("iam"), moto.client("rds")
    cluster = rds.describe_db_clusters(DBClusterIdentifier="demo-rds-aurora-postgres")["DBClusters"][0]
    secret_arn = cluster["MasterUserSecret"]["SecretArn"]
    assert cluster["Engine"] == "aurora-postgresql" and cluster["StorageEncrypted"]
    writer = rds.describe_db_instances(DBInstanceIdentifier=cluster["DBClusterMembers"][0]["DBInstanceIdentifier"])["DBInstances"][0]
    assert writer["PubliclyAccessible"] is False

    # 5432 from the service's security group, other rules untouched.
    db_sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["demo-rds-sg"]}])["SecurityGroups"][0]
    assert [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]] == [db_sg["GroupId"]]
    rules = [(r["FromPort"], p["GroupId"]) for r in db_sg["IpPermissions"] for p in r.get("UserIdGroupPairs", [])]
    assert rules == [(5432, demo["service_security_group_id"])]

    # The Secrets Manager endpoint in both private subnets with private DNS.
    endpoints = [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["ServiceName"] == "com.amazonaws.us-east-1.secretsmanager"]
    assert len(endpoints) == 1
    assert sorted(endpoints[0]["SubnetIds"]) == sorted(demo["subnet_ids"]) and endpoints[0]["PrivateDnsEnabled"]

    # Least privilege on the execution role: exactly GetSecretValue on exactly this secret.
    role = demo["execution_role_arn"].rsplit("/", 1)[-1]
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert len(names) == 1
    document = iam.get_role_policy(RoleName=role, PolicyName=names[0])["PolicyDocument"]
    statements = document["Statement"]
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in statements] in (
        [("Allow", "secretsmanager:GetSecretValue", secret_arn)],
        [("Allow", ["secretsmanager:GetSecretValue"], secret_arn)],
        [("Allow", "secretsmanager:GetSecretValue", [secret_arn])],
        [("Allow", ["secretsmanager:GetSecretValue"], [secret_arn])],
    )
    # Nothing attached, in particular never SecretsManagerReadWrite.
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == before["role_attached_policies"]

    # The service runs a new revision with the variables, everything else of the old one kept.
    service = ecs.describe_services(cluster="demo-ecs-cluster", services=["demo-ecs-service"])["services"][0]
    assert service["taskDefinition"] != before["service_task_definition"]
    new = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    old = ecs.describe_task_definition(taskDefinition=before["service_task_definition"])["taskDefinition"]
    app_new = next(c for c in new["containerDefinitions"] if c["name"] == "app")
    app_old = next(c for c in old["containerDefinitions"] if c["name"] == "app")
    env = {e["name"]: e["value"] for e in app_new["environment"]}
    assert env["DATABASE_URL"] == f"jdbc:postgresql://{cluster['Endpoint']}:5432/postgres"
    assert env["DATABASE_DRIVER_CLASS"] == "org.postgresql.Driver"
    assert {s["name"]: s["valueFrom"] for s in app_new["secrets"]} == {
        "DATABASE_USERNAME": f"{secret_arn}:username::",
        "DATABASE_PASSWORD": f"{secret_arn}:password::",
    }
    for field in ("image", "portMappings", "logConfiguration", "memory"):
        assert app_new.get(field) == app_old.get(field), field
    for field in ("executionRoleArn", "networkMode", "cpu", "memory", "requiresCompatibilities", "family"):
        assert new.get(field) == old.get(field), field

    # The services are redeployed whenever RDS rotates the secret (details: test_rotation_role.py).
    rotation = snapshot(moto, demo)["rotation"]
    assert rotation[:2] == (["ecsrds-demo-rds-aurora-postgres-rotation"], ["ecsrds-demo-rds-aurora-postgres-redeploy"])

    # A second run changes nothing and writes nothing; neither does --check on the converged state. This
    # one runs every role (no in-sync skip): what the one-process pass made, the roles find as their own
    # (test_converge_in_one_process.py: and the other way round).
    moto.start_recording()
    second = play(SITE, extra_vars=demo_vars(moto, ecsrds_skip_when_in_sync=False))
    calls = moto.stop_recording()
    assert second.rc == 0, second.stdout[-3000:]
    assert second.result(CONVERGE_TASK).get("skipped") is True and second.step("rotation")["changed"] is False
    assert second.changed == 0, [t.name for t in second.tasks if t.changed]
    assert write_calls(calls) == []

    moto.start_recording()
    check = play(SITE, extra_vars=demo_vars(moto), check=True)
    calls = moto.stop_recording()
    assert check.rc == 0 and check.changed == 0
    assert write_calls(calls) == []

    # The secret's value never appears in anything Ansible printed.
    secret_value = moto.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    password = json.loads(secret_value)["password"]
    for run in (first, second, check):
        assert password not in run.stdout and password not in run.stderr

    # A port change: --check reports the same changes as the real run that follows (the rule for
    # the new port, the cluster, a revision and a deployment per service), with 0 writes.
    moto.start_recording()
    port_check = play(SITE, extra_vars=demo_vars(moto, ecsrds_db_port=5433), check=True)
    calls = moto.stop_recording()
    assert port_check.rc == 0, port_check.stdout[-3000:]
    assert write_calls(calls) == []
    port_run = play(SITE, extra_vars=demo_vars(moto, ecsrds_db_port=5433))
    assert port_run.rc == 0, port_run.stdout[-3000:]
    # The plan is the roles' (check mode), the run one process: the same steps changed.
    assert port_check.changed_steps == port_run.changed_steps == ["network", "database", "task_definitions", "rollouts"]
    moved = ecs.describe_services(cluster="demo-ecs-cluster", services=["demo-ecs-service"])["services"][0]
    env_5433 = {e["name"]: e["value"] for e in ecs.describe_task_definition(taskDefinition=moved["taskDefinition"])["taskDefinition"]
                ["containerDefinitions"][0]["environment"]}
    assert env_5433["DATABASE_URL"].endswith(":5433/postgres")
    # Our rule for 5432 was replaced, not added to.
    db_sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["demo-rds-sg"]}])["SecurityGroups"][0]
    assert [(r["FromPort"], p["GroupId"]) for r in db_sg["IpPermissions"] for p in r.get("UserIdGroupPairs", [])] == [
        (5433, demo["service_security_group_id"])]

    teardown = play(TEARDOWN, extra_vars=demo_vars(moto, ecsrds_teardown_confirm_delete=True, ecsrds_db_port=5433))
    assert teardown.rc == 0, teardown.stdout[-4000:]
    after = snapshot(moto, demo)
    assert after == before
    # Only deregistered revisions remain as history.
    inactive = ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"]
    assert service["taskDefinition"] in inactive and moved["taskDefinition"] in inactive


def test_bad_inputs_stop_before_any_aws_call(moto, play, reliability):
    # Only a name that cannot resolve stands in for a remote endpoint: nothing may leave this machine.
    cases = {
        "ecsrds_aws_endpoint_url": (demo_vars(moto, ecsrds_aws_endpoint_url="http://remote-aws.invalid"), "must point at a server on this machine"),
        "ecsrds_ecs_cluster": ({k: v for k, v in demo_vars(moto).items() if k != "ecsrds_ecs_cluster"}, "ecsrds_ecs_cluster"),
        "ecsrds_db_ingress_source": (demo_vars(moto, ecsrds_db_ingress_source="everyone"), "ecsrds_db_ingress_source"),
    }
    # The inputs check lists every problem at once, so beside a rule problem it may still read what
    # AWS can tell (the ECS cluster, services and subnets); it never writes. With the endpoint refused
    # nothing is called at all.
    for option, (variables, message) in cases.items():
        moto.start_recording()
        run = play(SITE, extra_vars=variables)
        calls = moto.stop_recording()
        reliability.append({"kind": "bad_input", "input": option, "refused_before_any_call": not calls,
                            "refused_before_any_write": not write_calls(calls)})
        assert run.rc != 0, option
        failed = [task for task in run.tasks if task.failed]
        assert failed and message in failed[0].result.get("msg", ""), (option, failed[0].result if failed else run.stdout[-2000:])
        assert write_calls(calls) == [], option
        if option == "ecsrds_aws_endpoint_url":
            assert calls == []


def test_a_serverless_v2_database_with_iam_authentication_from_the_playbook_inputs(moto, play, demo):
    variables = demo_vars(moto, ecsrds_db_instance_class="db.serverless", ecsrds_db_serverless_min_capacity=0,
                          ecsrds_db_serverless_max_capacity=2, ecsrds_db_seconds_until_auto_pause=900, ecsrds_db_iam_authentication=True)
    run = play(SITE, extra_vars=variables)
    assert run.rc == 0, run.stdout[-3000:]
    [cluster] = moto.client("rds").describe_db_clusters()["DBClusters"]
    assert (cluster["ServerlessV2ScalingConfiguration"]["MinCapacity"], cluster["ServerlessV2ScalingConfiguration"]["MaxCapacity"]) == (0, 2)
    assert cluster["ServerlessV2ScalingConfiguration"]["SecondsUntilAutoPause"] == 900 and cluster["IAMDatabaseAuthenticationEnabled"] is True
    [instance] = moto.client("rds").describe_db_instances()["DBInstances"]
    assert instance["DBInstanceClass"] == "db.serverless"
    # The deployment check compares the capacity too: nothing to do on the re-run.
    moto.start_recording()
    again = play(SITE, extra_vars=variables)
    assert again.rc == 0 and again.changed == 0 and write_calls(moto.stop_recording()) == [], again.stdout[-3000:]
