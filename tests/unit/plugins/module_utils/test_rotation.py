"""rotation: names, the event pattern (against events shaped as AWS documents them), the state
machine definition, both policies exactly, policy comparison, the schedule read back, input checks,
and the wait for a role Step Functions cannot assume yet."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from moto.events.models import EventPattern

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.rotation import (
    RotationClient,
    event_pattern,
    events_role_policy,
    normalize_policy,
    resource_names,
    rotation_days_of,
    secret_name_from_arn,
    state_machine_definition,
    state_machine_role_policy,
    targets_plan,
    validate_params,
)

SECRET = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-8f14e45f-ceea-467f-a8f2-aaaaaaaaaaaa-AbCdEf"
OTHER = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-0b1c2d3e-ceea-467f-a8f2-bbbbbbbbbbbb-GhIjKl"
CLUSTER = "arn:aws:ecs:eu-west-1:111122223333:cluster/prod"


def cloudtrail_event(secret_id, event_name="RotationSucceeded", detail_type="AWS Service Event via CloudTrail"):
    """Shaped like the Secrets Manager User Guide's rotation log entries as EventBridge delivers them:
    a non-API service event (eventType AwsServiceEvent), requestParameters null, the secret in
    additionalEventData.SecretId."""
    return {
        "version": "0", "id": "0d4f3c2b-1a09-4e8f-9d7c-6b5a4f3e2d1c", "detail-type": detail_type, "source": "aws.secretsmanager",
        "account": "111122223333", "time": "2026-12-02T03:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": {
            "eventVersion": "1.08", "userIdentity": {"accountId": "111122223333", "invokedBy": "secretsmanager.amazonaws.com"},
            "eventSource": "secretsmanager.amazonaws.com", "eventName": event_name, "awsRegion": "eu-west-1",
            "requestParameters": None, "responseElements": None, "additionalEventData": {"SecretId": secret_id},
            "eventType": "AwsServiceEvent", "managementEvent": True, "recipientAccountId": "111122223333",
        },
    }


def test_names_follow_the_database_and_stay_within_aws_limits():
    assert resource_names("demo-db") == {
        "rule": "ecsrds-demo-db-rotation",
        "state_machine": "ecsrds-demo-db-redeploy",
        "events_role": "ecsrds-demo-db-rotation-events",
        "state_machine_role": "ecsrds-demo-db-redeploy-role",
    }
    long_a, long_b = "a" * 62 + "1", "a" * 62 + "2"
    names_a, names_b = resource_names(long_a), resource_names(long_b)
    limits = {"rule": 64, "state_machine": 80, "events_role": 64, "state_machine_role": 64}
    for key, limit in limits.items():
        assert len(names_a[key]) <= limit and names_a[key] != names_b[key], key
        assert names_a[key].startswith("ecsrds-aaaa")


def test_pattern_matches_the_successful_rotation_of_exactly_this_secret():
    pattern = EventPattern.load(json.dumps(event_pattern(SECRET)))
    assert pattern.matches_event(cloudtrail_event(SECRET))
    assert pattern.matches_event(cloudtrail_event("rds!cluster-8f14e45f-ceea-467f-a8f2-aaaaaaaaaaaa"))
    assert not pattern.matches_event(cloudtrail_event(OTHER))
    assert not pattern.matches_event(cloudtrail_event("rds!cluster-0b1c2d3e-ceea-467f-a8f2-bbbbbbbbbbbb"))
    for name in ("RotationStarted", "RotationFailed", "RotationAbandoned"):
        assert not pattern.matches_event(cloudtrail_event(SECRET, event_name=name)), name
    assert not pattern.matches_event(cloudtrail_event(SECRET, detail_type="AWS API Call via CloudTrail"))
    assert secret_name_from_arn(SECRET) == "rds!cluster-8f14e45f-ceea-467f-a8f2-aaaaaaaaaaaa"


def test_definition_forces_a_deployment_of_each_service_through_the_sdk_integration():
    definition = state_machine_definition("aws", CLUSTER, ["app", "worker"])
    assert definition["StartAt"] == "Redeploy services"
    parallel = definition["States"]["Redeploy services"]
    assert parallel["Type"] == "Parallel" and parallel["End"] is True
    tasks = [branch["States"][branch["StartAt"]] for branch in parallel["Branches"]]
    assert [t["Parameters"] for t in tasks] == [
        {"Cluster": CLUSTER, "Service": "app", "ForceNewDeployment": True},
        {"Cluster": CLUSTER, "Service": "worker", "ForceNewDeployment": True},
    ]
    assert {t["Resource"] for t in tasks} == {"arn:aws:states:::aws-sdk:ecs:updateService"}
    assert all(t["Type"] == "Task" and t["End"] and t["Retry"][0]["ErrorEquals"] == ["States.ALL"] for t in tasks)
    # The large UpdateService answer is dropped: the execution's data stays small however many services.
    assert all("ResultPath" in t and t["ResultPath"] is None for t in tasks)
    assert state_machine_definition("aws-cn", CLUSTER, ["app"])["States"]["Redeploy services"]["Branches"][0]["States"]["Redeploy app"][
        "Resource"] == "arn:aws-cn:states:::aws-sdk:ecs:updateService"


def test_both_policies_are_exact():
    machine = "arn:aws:states:eu-west-1:111122223333:stateMachine:ecsrds-demo-db-redeploy"
    assert events_role_policy(machine) == {"Version": "2012-10-17", "Statement": [
        {"Sid": "StartRedeploy", "Effect": "Allow", "Action": ["states:StartExecution"], "Resource": [machine]}]}
    services = ["arn:aws:ecs:eu-west-1:111122223333:service/prod/worker", "arn:aws:ecs:eu-west-1:111122223333:service/prod/app"]
    assert state_machine_role_policy(services) == {"Version": "2012-10-17", "Statement": [
        {"Sid": "RedeployServices", "Effect": "Allow", "Action": ["ecs:UpdateService"], "Resource": sorted(services)}]}


def test_policies_compare_as_iam_reads_them():
    policy = events_role_policy("arn:x")
    as_iam_returns = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Resource": "arn:x", "Action": "states:StartExecution", "Effect": "Allow", "Sid": "StartRedeploy"}]})
    assert normalize_policy(as_iam_returns) == normalize_policy(policy)
    assert normalize_policy(state_machine_role_policy(["b", "a"])) == normalize_policy(state_machine_role_policy(["a", "b"]))
    assert normalize_policy(state_machine_role_policy(["a"])) != normalize_policy(state_machine_role_policy(["a", "b"]))


@pytest.mark.parametrize("secret, days", [
    ({"RotationRules": {"AutomaticallyAfterDays": 7}}, 7),
    ({"RotationRules": {"ScheduleExpression": "rate(30 days)"}}, 30),
    ({"RotationRules": {"ScheduleExpression": "cron(0 4 ? * SUN *)"}}, None),
    ({}, None),
])
def test_rotation_days_read_back(secret, days):
    assert rotation_days_of(secret) == days


def test_targets_plan_keeps_only_ours():
    ours = {"Id": "redeploy-services", "Arn": "arn:sm", "RoleArn": "arn:role"}
    assert targets_plan([], ours) == ([], True)
    assert targets_plan([dict(ours)], ours) == ([], False)
    assert targets_plan([dict(ours, RoleArn="arn:other"), {"Id": "x", "Arn": "arn:y"}], ours) == (["x"], True)


def test_bad_inputs_are_named():
    base = {"state": "present", "db_cluster_identifier": "db", "secret_arn": SECRET, "cluster": "c", "services": ["a"], "rotation_days": None}
    assert validate_params(base) is None
    assert "services names a service twice" in validate_params(dict(base, services=["a", "a"]))
    assert "rotation_days must be between 1 and 1000 (got 0)" in validate_params(dict(base, rotation_days=0))
    assert "secret_arn is not a Secrets Manager ARN" in validate_params(dict(base, secret_arn="arn:aws:iam::1:role/x"))
    assert "cluster is required" in validate_params(dict(base, cluster=None))
    assert validate_params({"state": "absent", "db_cluster_identifier": "db", "rotation_days": None}) is None


class FakeStepFunctions:
    """Answers CreateStateMachine as AWS does while IAM has not spread a new role yet."""

    def __init__(self, refusals, message):
        self.refusals = refusals
        self.message = message
        self.calls = 0

    def create_state_machine(self, aws_retry=False, **kwargs):
        self.calls += 1
        if self.calls <= self.refusals:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": self.message}}, "CreateStateMachine")
        return {"stateMachineArn": f"arn:aws:states:eu-west-1:111122223333:stateMachine:{kwargs['name']}"}


def _client(sfn, sleeps):
    return RotationClient({"iam": None, "stepfunctions": sfn, "events": None, "ecs": None, "secretsmanager": None}, sleep=sleeps.append)


def test_a_role_not_yet_assumable_is_waited_for():
    refusal = "Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role."
    sfn, sleeps = FakeStepFunctions(2, refusal), []
    arn = _client(sfn, sleeps).create_state_machine("m", {"StartAt": "x", "States": {}}, "arn:aws:iam::111122223333:role/r", {})
    assert arn.endswith(":stateMachine:m") and sfn.calls == 3 and len(sleeps) == 2


def test_a_missing_permission_is_reported_at_once():
    sfn, sleeps = FakeStepFunctions(5, "User is not authorized to perform: iam:PassRole on resource: arn:aws:iam::111122223333:role/r"), []
    with pytest.raises(EcsRdsError, match="Failed to create state machine m"):
        _client(sfn, sleeps).create_state_machine("m", {}, "arn:aws:iam::111122223333:role/r", {})
    assert sfn.calls == 1 and sleeps == []
