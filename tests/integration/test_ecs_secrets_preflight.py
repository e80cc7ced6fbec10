"""ecs_secrets_preflight against moto: the walk-through's broken state before site.yml, the same
environment after site.yml, and site.yml stopping before a deployment when a check fails.

Two tests, one per state, so pytest-xdist never builds a state twice: site.yml runs twice in all
(converge, then the run the preflight stops). moto does not implement iam:SimulatePrincipalPolicy (it
answers 500), so every execution_role_access finding here comes from the module's own policy
evaluation; the simulation path is unit-tested with IAM's documented answers
(tests/unit/plugins/module_utils/test_iam.py).
"""

from __future__ import annotations

import json

import yaml

from support.sandbox import REPO_ROOT, write_calls

from support.demo_environment import build_demo_environment

SITE = REPO_ROOT / "site.yml"
SECRET_READS_FORBIDDEN = ("GetSecretValue", "GetParameter", "GetParameters", "BatchGetSecretValue")


def _preflight_play(tasks):
    return [{"hosts": "localhost", "gather_facts": False, "module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}},
             "tasks": tasks}]


def _task(name, check_mode=False, ignore_errors=False, **options):
    task = {"name": name, "ecsrds.connect.ecs_secrets_preflight": options, "register": "result"}
    if check_mode:
        task["check_mode"] = True
    if ignore_errors:
        task["ignore_errors"] = True
    return task


def _register_with_secrets(ecs, base_arn, secrets, environment=()):
    """A new revision of the demo family: the running one plus secret references, like the
    walk-through's "Create new revision" in the console."""
    base = ecs.describe_task_definition(taskDefinition=base_arn)["taskDefinition"]
    container = dict(base["containerDefinitions"][0], secrets=[{"name": n, "valueFrom": v} for n, v in secrets],
                     environment=[{"name": n, "value": v} for n, v in environment])
    return ecs.register_task_definition(
        family=base["family"], requiresCompatibilities=base["requiresCompatibilities"], networkMode=base["networkMode"],
        cpu=base["cpu"], memory=base["memory"], executionRoleArn=base["executionRoleArn"], containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]


def _by_check(result):
    found = {}
    for item in result["findings"]:
        found.setdefault(item["check"], []).append(item)
    return found


def _statuses(result):
    return {check: sorted({f["status"] for f in items}) for check, items in _by_check(result).items()}


def _walkthrough_state(moto):
    """The walk-through before site.yml: an Aurora cluster with its RDS-managed secret and a
    database group without a 5432 rule, a revision with the secrets, no Secrets Manager endpoint,
    no grant; plus a revision whose references are wrong."""
    facts = build_demo_environment(moto.client)
    ec2, rds, ecs = moto.client("ec2"), moto.client("rds"), moto.client("ecs")
    db_sg = ec2.create_security_group(GroupName="walkthrough-db-sg", Description="the console's new DB group", VpcId=facts["vpc_id"])["GroupId"]
    rds.create_db_subnet_group(DBSubnetGroupName="walkthrough-db", DBSubnetGroupDescription="walkthrough", SubnetIds=facts["subnet_ids"])
    cluster = rds.create_db_cluster(
        DBClusterIdentifier="walkthrough-db", Engine="aurora-postgresql", MasterUsername="postgres", ManageMasterUserPassword=True,
        DBSubnetGroupName="walkthrough-db", VpcSecurityGroupIds=[db_sg],
    )["DBCluster"]
    secret_arn = cluster["MasterUserSecret"]["SecretArn"]
    broken = _register_with_secrets(ecs, facts["task_definition_arn"],
                                    [("DATABASE_USERNAME", f"{secret_arn}:username::"), ("DATABASE_PASSWORD", f"{secret_arn}:password::")])
    missing = secret_arn.replace("rds!cluster-", "rds!cluster-0000")
    bad_refs = _register_with_secrets(ecs, facts["task_definition_arn"],
                                      [("DATABASE_USERNAME", f"{secret_arn}:user::"), ("DATABASE_PASSWORD", f"{missing}:password::"),
                                       ("API_TOKEN", "arn:aws:secretsmanager:us-east-1:42:secret:token")])
    return dict(facts=facts, db_sg=db_sg, secret_arn=secret_arn, broken=broken, bad_refs=bad_refs)


def test_walkthrough_state_predicts_both_stopped_tasks_and_the_missing_db_rule(moto, play):
    state = _walkthrough_state(moto)
    facts = state["facts"]
    common = {"cluster": facts["cluster"], "service": facts["service"], "container_name": "app", "db_security_group_ids": [state["db_sg"]]}
    moto.start_recording()
    run = play(_preflight_play([
        _task("check mode", check_mode=True, fail_on="never", task_definition=state["broken"], **common),
        _task("report", fail_on="never", task_definition=state["broken"], **common),
        _task("fail on fail", ignore_errors=True, task_definition=state["broken"], **common),
        _task("bad references", fail_on="never", task_definition=state["bad_refs"], **common),
    ]))
    calls = moto.stop_recording()
    assert run.rc == 0, run.stdout[-3000:]

    report = run.result("report")
    assert _statuses(report) == {
        "secret_reference": ["ok"],
        "execution_role_access": ["fail"],
        "network_path": ["fail"],
        "vpc_dns": ["ok"],
        "platform_version": ["ok"],
        "db_ingress": ["fail"],
    }
    found = _by_check(report)
    # The walk-through's first error (no path to Secrets Manager), one finding per private subnet.
    assert sorted(f["resource"] for f in found["network_path"]) == sorted(facts["subnet_ids"])
    for item in found["network_path"]:
        assert "com.amazonaws.us-east-1.secretsmanager" in item["fix"] and "no 0.0.0.0/0 route to a NAT gateway" in item["message"]
    # Its second (AccessDenied on GetSecretValue): the role and the action, decided without the simulation moto lacks.
    (access,) = found["execution_role_access"]
    assert "ecsTaskExecutionRole may not secretsmanager:GetSecretValue" in access["message"]
    assert "own evaluation of the role's policies" in access["message"]
    assert access["resource"] == state["secret_arn"] and "inline policy" in access["fix"]
    assert report["access_method"].startswith("own evaluation of the role's policies; iam:SimulatePrincipalPolicy failed")
    (ingress,) = found["db_ingress"]
    assert "port 5432" in ingress["message"] and state["db_sg"] in ingress["fix"]
    assert facts["service_security_group_id"] in ingress["fix"]
    assert report["summary"] == {"ok": 4, "warn": 0, "fail": 4}
    assert report["task_definition_arn"] == state["broken"]

    # Check mode reports the same; nothing is written, no secret or parameter value is read.
    assert run.result("check mode")["findings"] == report["findings"]
    assert not any(task.changed for task in run.tasks)
    assert write_calls(calls) == []
    operations = {call.operation for call in calls}
    assert {"DescribeSecret", "DescribeServices", "DescribeTaskDefinition", "DescribeVpcEndpoints"} <= operations
    assert not operations & set(SECRET_READS_FORBIDDEN)
    # The master password moto generates (read here by the test, after the recording) is in no output.
    value = json.loads(moto.client("secretsmanager").get_secret_value(SecretId=state["secret_arn"])["SecretString"])["password"]
    assert len(value) >= 8 and value not in run.stdout + run.stderr

    # fail_on=fail: fails after computing everything, naming every failing finding.
    failed = run.result("fail on fail")
    assert failed["failed"] is True
    assert failed["summary"]["fail"] == 4 and len(failed["findings"]) == 8
    assert failed["msg"].count("[network_path]") == 2
    assert "[execution_role_access]" in failed["msg"] and "[db_ingress]" in failed["msg"]
    assert "[secret_reference]" not in failed["msg"]

    # Wrong references: a key the RDS secret lacks (named), a secret that does not exist, a malformed ARN.
    refs = {f["message"].split(" of container")[0]: f for f in _by_check(run.result("bad references"))["secret_reference"]}
    assert refs["The secret DATABASE_USERNAME"]["status"] == "fail"
    assert "JSON key 'user'" in refs["The secret DATABASE_USERNAME"]["message"]
    assert refs["The secret DATABASE_PASSWORD"]["status"] == "fail" and "does not exist" in refs["The secret DATABASE_PASSWORD"]["message"]
    assert refs["The secret API_TOKEN"]["status"] == "fail" and "not a Secrets Manager reference" in refs["The secret API_TOKEN"]["message"]


def test_after_site_nothing_fails_and_a_failing_check_stops_site_before_deploying(moto, play):
    facts = build_demo_environment(moto.client)
    variables = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
    variables["ecsrds_aws_endpoint_url"] = moto.endpoint
    site = play(SITE, extra_vars=variables)
    assert site.rc == 0, site.stdout[-4000:]
    # site.yml ran the preflight itself, before its rollout, with the database group from the network role.
    (item,) = site.step("preflight")["services"]
    assert item["summary"]["fail"] == 0 and item["summary"]["warn"] == 0, item["findings"]
    assert {f["check"] for f in item["findings"]} == {
        "secret_reference", "execution_role_access", "network_path", "vpc_dns", "platform_version", "db_ingress"}

    ec2, iam, ecs = moto.client("ec2"), moto.client("iam"), moto.client("ecs")
    db_sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["demo-rds-sg"]}])["SecurityGroups"][0]["GroupId"]
    common = {"cluster": facts["cluster"], "service": facts["service"], "db_security_group_ids": [db_sg]}
    moto.start_recording()
    run = play(_preflight_play([_task("check mode", check_mode=True, fail_on="warn", **common), _task("report", fail_on="warn", **common)]))
    calls = moto.stop_recording()
    assert run.rc == 0, run.stdout[-3000:]
    for name in ("check mode", "report"):
        result = run.result(name)
        assert result["summary"]["fail"] == 0 and result["summary"]["warn"] == 0, result["findings"]
        assert {f["status"] for f in result["findings"]} == {"ok"}
    found = _by_check(run.result("report"))
    assert any("through endpoint vpce-" in f["message"] for f in found["network_path"])
    assert "DNS support and DNS hostnames on" in found["vpc_dns"][0]["message"]
    assert write_calls(calls) == []
    assert not {c.operation for c in calls} & set(SECRET_READS_FORBIDDEN)

    # An explicit Deny that site.yml does not manage, and an application pipeline's deploy that dropped
    # the wiring: site.yml puts it back on a new revision, whose rollout the preflight must stop.
    deny = {"Version": "2012-10-17", "Statement": [{"Sid": "NoSecrets", "Effect": "Deny", "Action": "secretsmanager:Get*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=facts["execution_role_name"], PolicyName="deny-secrets", PolicyDocument=json.dumps(deny))
    wired = ecs.describe_services(cluster=facts["cluster"], services=[facts["service"]])["services"][0]["taskDefinition"]
    before = _register_with_secrets(ecs, wired, secrets=())
    ecs.update_service(cluster=facts["cluster"], service=facts["service"], taskDefinition=before)
    moto.start_recording()
    stopped = play(SITE, extra_vars=variables)
    calls = moto.stop_recording()
    assert stopped.rc != 0
    failed = stopped.step("preflight")
    assert failed["failed"] is True
    assert f"Preflight of service {facts['service']}" in failed["msg"]
    assert "[execution_role_access]" in failed["msg"] and "deny-secrets" in failed["msg"]
    assert "UpdateService" not in {c.operation for c in calls}
    assert ecs.describe_services(cluster=facts["cluster"], services=[facts["service"]])["services"][0]["taskDefinition"] == before
