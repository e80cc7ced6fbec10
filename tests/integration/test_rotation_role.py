"""roles/rotation (module ecs_redeploy_on_rotation) against moto: two services sharing a database.

Check mode, apply, an idempotent re-run with no write call (the module's own no-op: five reads),
drift put back, a service removed, a second deployment on another database, teardown leaving
nothing. moto does not deliver events to Step Functions nor run
aws-sdk tasks reliably, so what AWS would do is checked on what was stored: the rule's pattern
against events shaped as AWS documents them (moto's own matcher, in-process), the target, the
definition and both policies exactly.
"""

from __future__ import annotations

import json

from moto.events.models import EventPattern

from support.sandbox import write_calls

CLUSTER = "demo-ecs-cluster"
APP, WORKER = "demo-ecs-service", "demo-worker"
DB, OTHER_DB = "demo-rds-aurora-postgres", "billing-aurora"
ACCOUNT = "123456789012"
POLICY = "ecsrds-connect-rotation"
UPDATE_SERVICE = "arn:aws:states:::aws-sdk:ecs:updateService"
TASK = "ecsrds.connect.rotation : Ensure the rotation rule, the redeploy state machine and their roles"
# A converged redeploy is confirmed by these reads alone (module_utils/rotation.py, read_redeploy).
NOOP_READS = ["events:DescribeRule", "events:ListTargetsByRule", "iam:GetRolePolicy", "iam:GetRolePolicy", "states:DescribeStateMachine"]


def _play(role_vars, tasks_from="main"):
    return [{
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}},
        "vars": role_vars,
        "tasks": [{"name": "apply role", "ansible.builtin.include_role": {"name": "ecsrds.connect.rotation", "tasks_from": tasks_from}}],
    }]


def _environment(moto):
    ecs, secrets = moto.client("ecs"), moto.client("secretsmanager")
    ecs.create_cluster(clusterName=CLUSTER)
    arn = ecs.register_task_definition(
        family="demo", containerDefinitions=[{"name": "app", "image": "busybox", "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    services = {name: ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=arn, desiredCount=1)["service"]["serviceArn"]
                for name in (APP, WORKER)}
    secret = secrets.create_secret(Name="rds!cluster-8f14e45f-ceea-467f-a8f2-aaaaaaaaaaaa", SecretString="{}")["ARN"]
    other = secrets.create_secret(Name="rds!cluster-0b1c2d3e-ceea-467f-a8f2-bbbbbbbbbbbb", SecretString="{}")["ARN"]
    return services, secret, other


def _vars(secret, services=(APP, WORKER), db=DB, **extra):
    values = {"rotation_ecs_cluster": CLUSTER, "rotation_ecs_services": list(services), "rotation_db_cluster_identifier": db,
              "rotation_secret_arn": secret, "rotation_tags": {"team": "payments"}}
    values.update(extra)
    return values


def rotation_succeeded(secret_id, event_name="RotationSucceeded"):
    """A rotation event as EventBridge delivers it (Secrets Manager User Guide, CloudTrail entries for
    rotation: a non-API service event, requestParameters null, the secret in additionalEventData)."""
    return {
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "AWS Service Event via CloudTrail",
        "source": "aws.secretsmanager", "account": ACCOUNT, "time": "2026-12-02T03:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"accountId": ACCOUNT, "invokedBy": "secretsmanager.amazonaws.com"},
            "eventTime": "2026-12-02T03:00:00Z", "eventSource": "secretsmanager.amazonaws.com", "eventName": event_name,
            "awsRegion": "us-east-1", "sourceIPAddress": "secretsmanager.amazonaws.com", "userAgent": "secretsmanager.amazonaws.com",
            "requestParameters": None, "responseElements": None, "additionalEventData": {"SecretId": secret_id},
            "requestID": "b4ba3ff8-d6e8-4f1e-9c1b-7f6d0a7e9d21", "eventID": "2e1e1a9f-8a4e-4e0f-a9f3-3a8b7f2f5a10",
            "readOnly": False, "eventType": "AwsServiceEvent", "managementEvent": True, "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
        },
    }


def _tasks(definition):
    """Every Task state of a definition, wherever it sits (branches of a Parallel state included)."""
    found = []
    for state in definition["States"].values():
        if state["Type"] == "Task":
            found.append(state)
        for branch in state.get("Branches", []):
            found.extend(_tasks(branch))
    return found


def _inline(iam, role):
    return {name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"] for name in iam.list_role_policies(RoleName=role)["PolicyNames"]}


def _ours(moto):
    events, sfn, iam = moto.client("events"), moto.client("stepfunctions"), moto.client("iam")
    return {
        "rules": sorted(r["Name"] for r in events.list_rules()["Rules"]),
        "state_machines": sorted(m["name"] for m in sfn.list_state_machines()["stateMachines"]),
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("ecsrds-")),
    }


def test_redeploy_on_rotation(moto, play):
    services, secret, other_secret = _environment(moto)
    events, sfn, iam, secrets = moto.client("events"), moto.client("stepfunctions"), moto.client("iam"), moto.client("secretsmanager")

    # Check mode: predicts the change, writes nothing.
    moto.start_recording()
    planned = play(_play(_vars(secret, rotation_secret_rotation_days=30)), check=True, diff=True)
    assert write_calls(moto.stop_recording()) == []
    assert planned.rc == 0, planned.stdout
    assert planned.changed == 1
    assert _ours(moto) == {"rules": [], "state_machines": [], "roles": []}

    run = play(_play(_vars(secret, rotation_secret_rotation_days=30)))
    assert run.rc == 0, run.stdout
    redeploy = run.result(TASK)["rotation"]
    names = {"rule": f"ecsrds-{DB}-rotation", "state_machine": f"ecsrds-{DB}-redeploy"}
    assert _ours(moto) == {"rules": [names["rule"]], "state_machines": [names["state_machine"]],
                           "roles": [f"ecsrds-{DB}-redeploy-role", f"ecsrds-{DB}-rotation-events"]}

    # The rule matches the successful rotation of this secret, by ARN or name, and nothing else.
    rule = events.describe_rule(Name=names["rule"])
    assert rule["State"] == "ENABLED"
    pattern = EventPattern.load(rule["EventPattern"])
    assert pattern.matches_event(rotation_succeeded(secret))
    assert pattern.matches_event(rotation_succeeded("rds!cluster-8f14e45f-ceea-467f-a8f2-aaaaaaaaaaaa"))
    assert not pattern.matches_event(rotation_succeeded(other_secret))
    assert not pattern.matches_event(rotation_succeeded(secret, event_name="RotationFailed"))
    assert not pattern.matches_event(rotation_succeeded(secret, event_name="RotationStarted"))
    assert not pattern.matches_event(dict(rotation_succeeded(secret), **{"detail-type": "AWS API Call via CloudTrail"}))

    # Its one target is the state machine, started with a role that can do that and nothing else.
    machine_arn = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{names['state_machine']}"
    events_role = f"ecsrds-{DB}-rotation-events"
    targets = events.list_targets_by_rule(Rule=names["rule"])["Targets"]
    assert [(t["Id"], t["Arn"], t["RoleArn"]) for t in targets] == [
        ("redeploy-services", machine_arn, f"arn:aws:iam::{ACCOUNT}:role/{events_role}")]
    assert _inline(iam, events_role) == {POLICY: {"Version": "2012-10-17", "Statement": [
        {"Sid": "StartRedeploy", "Effect": "Allow", "Action": ["states:StartExecution"], "Resource": [machine_arn]}]}}
    assert iam.get_role(RoleName=events_role)["Role"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert iam.list_attached_role_policies(RoleName=events_role)["AttachedPolicies"] == []

    # The state machine forces a new deployment of exactly the two services, and may do only that.
    machine = sfn.describe_state_machine(stateMachineArn=machine_arn)
    machine_role = f"ecsrds-{DB}-redeploy-role"
    assert machine["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{machine_role}"
    tasks = _tasks(json.loads(machine["definition"]))
    cluster_arn = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{CLUSTER}"
    assert sorted((t["Resource"], t["Parameters"]["Cluster"], t["Parameters"]["Service"], t["Parameters"]["ForceNewDeployment"]) for t in tasks) == [
        (UPDATE_SERVICE, cluster_arn, APP, True), (UPDATE_SERVICE, cluster_arn, WORKER, True)]
    assert _inline(iam, machine_role) == {POLICY: {"Version": "2012-10-17", "Statement": [
        {"Sid": "RedeployServices", "Effect": "Allow", "Action": ["ecs:UpdateService"], "Resource": sorted(services.values())}]}}
    assert iam.get_role(RoleName=machine_role)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    assert redeploy["state_machine_arn"] == machine_arn and redeploy["service_arns"] == [services[APP], services[WORKER]]
    tags = {t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=machine_arn)["tags"]}
    assert tags == {"ecsrds.connect/managed": "true", "team": "payments"}

    # The schedule asked for, without a rotation there and then.
    assert secrets.describe_secret(SecretId=secret)["RotationRules"]["AutomaticallyAfterDays"] == 30

    # Re-run and check mode on the converged state: nothing changes, not one write.
    moto.start_recording()
    again = play(_play(_vars(secret, rotation_secret_rotation_days=30)))
    check = play(_play(_vars(secret, rotation_secret_rotation_days=30)), check=True)
    assert write_calls(moto.stop_recording()) == []
    assert again.rc == 0 and again.changed == 0, again.stdout
    assert check.rc == 0 and check.changed == 0, check.stdout

    # The module alone on that converged state costs the five reads that confirm it, the schedule
    # managed or not. The role's own input check reads AWS for reasons of its own, so it is skipped
    # the way site.yml skips it: by passing a check already made (the runs above made it).
    moto.start_recording()
    lean = play(_play(_vars(secret, rotation_secret_rotation_days=30, rotation_deployment_check={"ok": True})))
    assert sorted(f"{c.service}:{c.operation}" for c in moto.stop_recording()) == NOOP_READS
    assert lean.rc == 0 and lean.changed == 0, lean.stdout

    # Drift those reads must see: the machine role's policy widened, the rule disabled. Put back
    # with exactly the two writes, before anything else is tried.
    iam.put_role_policy(RoleName=machine_role, PolicyName=POLICY, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]}))
    events.disable_rule(Name=names["rule"])
    moto.start_recording()
    repaired = play(_play(_vars(secret, rotation_secret_rotation_days=30, rotation_deployment_check={"ok": True})))
    assert sorted(c.operation for c in write_calls(moto.stop_recording())) == ["PutRolePolicy", "PutRule"]
    assert repaired.rc == 0 and repaired.changed == 1, repaired.stdout
    assert events.describe_rule(Name=names["rule"])["State"] == "ENABLED"
    assert _inline(iam, machine_role)[POLICY]["Statement"][0] == {
        "Sid": "RedeployServices", "Effect": "Allow", "Action": ["ecs:UpdateService"], "Resource": sorted(services.values())}

    # One service leaves the database: the definition and the policy follow; diff shows it.
    moto.start_recording()
    fewer = play(_play(_vars(secret, services=[APP])), diff=True)
    writes = sorted(c.operation for c in write_calls(moto.stop_recording()))
    assert fewer.rc == 0 and fewer.changed == 1, fewer.stdout
    assert writes == ["PutRolePolicy", "UpdateStateMachine"]
    diff = fewer.result(TASK)["diff"]
    # Named as this deployment's, no longer in the inputs (site.yml's summary shows it).
    assert fewer.result(TASK)["rotation"]["services_dropped"] == [WORKER]
    assert diff["before"]["state_machine_role"]["policy"]["Statement"][0]["Resource"] == sorted(services.values())
    assert diff["after"]["state_machine_role"]["policy"]["Statement"][0]["Resource"] == [services[APP]]
    tasks = _tasks(json.loads(sfn.describe_state_machine(stateMachineArn=machine_arn)["definition"]))
    assert [t["Parameters"]["Service"] for t in tasks] == [APP]
    assert _inline(iam, machine_role)[POLICY]["Statement"][0]["Resource"] == [services[APP]]

    # Another deployment on another database: its own rule, state machine and roles; ours untouched.
    second = play(_play(_vars(other_secret, services=[WORKER], db=OTHER_DB)))
    assert second.rc == 0, second.stdout
    assert _ours(moto)["rules"] == [f"ecsrds-{OTHER_DB}-rotation", names["rule"]]
    assert _ours(moto)["state_machines"] == [f"ecsrds-{OTHER_DB}-redeploy", names["state_machine"]]
    other_pattern = EventPattern.load(events.describe_rule(Name=f"ecsrds-{OTHER_DB}-rotation")["EventPattern"])
    assert other_pattern.matches_event(rotation_succeeded(other_secret)) and not other_pattern.matches_event(rotation_succeeded(secret))
    assert [t["Parameters"]["Service"] for t in _tasks(json.loads(sfn.describe_state_machine(stateMachineArn=machine_arn)["definition"]))] == [APP]

    # Teardown: planned without a write, then everything gone, then nothing left to do.
    moto.start_recording()
    planned_down = play(_play({"rotation_db_cluster_identifier": DB}, tasks_from="teardown"), check=True)
    assert write_calls(moto.stop_recording()) == []
    assert planned_down.rc == 0 and planned_down.changed == 1, planned_down.stdout
    # Both deployments in one playbook run (two plays): one Ansible start-up less.
    down = play(_play({"rotation_db_cluster_identifier": DB}, tasks_from="teardown")
                + _play({"rotation_db_cluster_identifier": OTHER_DB}, tasks_from="teardown"))
    assert down.rc == 0 and down.changed == 2, down.stdout
    assert _ours(moto) == {"rules": [], "state_machines": [], "roles": []}
    down_again = play(_play({"rotation_db_cluster_identifier": DB}, tasks_from="teardown"))
    assert down_again.rc == 0 and down_again.changed == 0, down_again.stdout


def test_turning_it_off_removes_it_and_foreign_resources_are_left_alone(moto, play):
    secret = _environment(moto)[1]
    iam = moto.client("iam")
    # A role someone else made under our name: neither adopted nor deleted.
    iam.create_role(RoleName=f"ecsrds-{DB}-rotation-events", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    refused = play(_play(_vars(secret)))
    assert refused.rc != 0
    assert "was not made by ecsrds.connect" in refused.result(TASK)["msg"]
    iam.delete_role(RoleName=f"ecsrds-{DB}-rotation-events")

    assert play(_play(_vars(secret))).rc == 0
    off = play(_play(_vars(secret, rotation_redeploy=False)))
    assert off.rc == 0 and off.changed == 1, off.stdout
    assert _ours(moto) == {"rules": [], "state_machines": [], "roles": []}
