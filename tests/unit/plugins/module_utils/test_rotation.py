"""rotation: names, the event pattern (against events shaped as AWS documents them), the state
machine definition, both policies exactly, policy comparison, the schedule read back, input checks,
and the wait for a role Step Functions cannot assume yet."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from moto.events.models import EventPattern

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.roles import role_inputs
from ansible_collections.ecsrds.connect.plugins.module_utils.rotation import (
    RotationClient,
    confirmed_service_arns,
    description_confirms,
    ecs_cluster_arn,
    event_pattern,
    events_role_policy,
    normalize_policy,
    redeploy_facts,
    redeploy_options,
    resource_names,
    rotation_days_of,
    rule_description,
    machine_services,
    run_rotation,
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
    # An input added to our target changes what every execution gets: drift, put ours back.
    assert targets_plan([dict(ours, Input='{"x": 1}')], ours) == ([], True)
    assert targets_plan([dict(ours, InputTransformer={"InputTemplate": "{}"})], ours) == ([], True)


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
    return RotationClient({"iam": None, "stepfunctions": sfn, "events": None, "ecs": None, "secretsmanager": None}.get, sleep=sleeps.append)


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


# ---------------------------------------------------------------------------------------------
# The job against a fake AWS that answers as the APIs document and counts every call


def _not_found(code, operation):
    return ClientError({"Error": {"Code": code, "Message": "not found"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def rotate(cloud, params, check_mode):
    """run_rotation as ecs_redeploy_on_rotation runs it, its Outcome read as (changed, result with actions and diff)."""
    outcome = run_rotation(cloud.clients, params, check_mode, True)
    return outcome.changed, dict(outcome.result, actions=outcome.actions, diff=outcome.diff)


class FakeCloud:
    """In-memory IAM, Step Functions, EventBridge, ECS and Secrets Manager, shaped like their answers:
    GetRolePolicy and GetRole give the documents parsed (boto3 decodes IAM's URL-encoded JSON),
    DescribeStateMachine gives the definition as text, DescribeRule gives the pattern as text."""

    def __init__(self, account="111122223333", region="eu-west-1", cluster="prod", services=("app", "worker")):
        self.account, self.region = account, region
        self.calls = []
        self.roles, self.machines, self.rules, self.targets, self.rule_tags = {}, {}, {}, {}, {}
        self.cluster_arn = f"arn:aws:ecs:{region}:{account}:cluster/{cluster}"
        self.services = {name: {"serviceName": name, "serviceArn": f"arn:aws:ecs:{region}:{account}:service/{cluster}/{name}",
                                "clusterArn": self.cluster_arn, "status": "ACTIVE"} for name in services}
        self.secret = {"ARN": SECRET, "RotationEnabled": True, "RotationRules": {"AutomaticallyAfterDays": 7}}
        self.iam = _FakeService(self, "iam")
        self.stepfunctions = _FakeService(self, "states")
        self.events = _FakeService(self, "events")
        self.ecs = _FakeService(self, "ecs")
        self.secretsmanager = _FakeService(self, "secretsmanager")

    def clients(self, service):
        """What run_rotation is given (a Clients): each service's client."""
        return {"iam": self.iam, "stepfunctions": self.stepfunctions, "events": self.events, "ecs": self.ecs,
                "secretsmanager": self.secretsmanager}[service]

    def operations(self):
        return sorted(f"{service}:{op}" for service, op, _kwargs in self.calls)

    def writes(self):
        reads = ("Describe", "List", "Get")
        return sorted(f"{service}:{op}" for service, op, _kwargs in self.calls if not op.startswith(reads))

    # ECS
    def DescribeServices(self, cluster, services):
        return {"services": [self.services[name] for name in services if name in self.services], "failures": []}

    # IAM
    def _role(self, name, operation):
        if name not in self.roles:
            raise _not_found("NoSuchEntity", operation)
        return self.roles[name]

    def GetRole(self, RoleName):
        role = self._role(RoleName, "GetRole")
        return {"Role": {"RoleName": RoleName, "Arn": f"arn:aws:iam::{self.account}:role/{RoleName}",
                         "AssumeRolePolicyDocument": role["trust"], "Tags": [{"Key": k, "Value": v} for k, v in role["tags"].items()]}}

    def GetRolePolicy(self, RoleName, PolicyName):
        role = self._role(RoleName, "GetRolePolicy")
        if PolicyName not in role["policies"]:
            raise _not_found("NoSuchEntity", "GetRolePolicy")
        return {"RoleName": RoleName, "PolicyName": PolicyName, "PolicyDocument": role["policies"][PolicyName]}

    def ListRolePolicies(self, RoleName):
        return {"PolicyNames": sorted(self._role(RoleName, "ListRolePolicies")["policies"])}

    def CreateRole(self, RoleName, AssumeRolePolicyDocument, Description, Tags):
        self.roles[RoleName] = {"trust": json.loads(AssumeRolePolicyDocument), "tags": {t["Key"]: t["Value"] for t in Tags}, "policies": {}}
        return {"Role": {"RoleName": RoleName}}

    def UpdateAssumeRolePolicy(self, RoleName, PolicyDocument):
        self._role(RoleName, "UpdateAssumeRolePolicy")["trust"] = json.loads(PolicyDocument)

    def PutRolePolicy(self, RoleName, PolicyName, PolicyDocument):
        self._role(RoleName, "PutRolePolicy")["policies"][PolicyName] = json.loads(PolicyDocument)

    def TagRole(self, RoleName, Tags):
        self._role(RoleName, "TagRole")["tags"].update({t["Key"]: t["Value"] for t in Tags})

    def DeleteRolePolicy(self, RoleName, PolicyName):
        self._role(RoleName, "DeleteRolePolicy")["policies"].pop(PolicyName)

    def DeleteRole(self, RoleName):
        self._role(RoleName, "DeleteRole")
        del self.roles[RoleName]

    # Step Functions (its operations share names with EventBridge's: routed by service below)
    def states_DescribeStateMachine(self, stateMachineArn):
        if stateMachineArn not in self.machines:
            raise _not_found("StateMachineDoesNotExist", "DescribeStateMachine")
        machine = self.machines[stateMachineArn]
        return {"stateMachineArn": stateMachineArn, "name": stateMachineArn.rsplit(":", 1)[1], "status": "ACTIVE",
                "definition": machine["definition"], "roleArn": machine["roleArn"], "type": "STANDARD"}

    def states_ListStateMachines(self, **kwargs):
        return {"stateMachines": [{"stateMachineArn": arn, "name": arn.rsplit(":", 1)[1]} for arn in self.machines]}

    def states_ListTagsForResource(self, resourceArn):
        return {"tags": [{"key": k, "value": v} for k, v in self.machines[resourceArn]["tags"].items()]}

    def states_CreateStateMachine(self, name, definition, roleArn, type, tags):
        arn = f"arn:aws:states:{self.region}:{self.account}:stateMachine:{name}"
        self.machines[arn] = {"definition": definition, "roleArn": roleArn, "tags": {t["key"]: t["value"] for t in tags}}
        return {"stateMachineArn": arn}

    def states_UpdateStateMachine(self, stateMachineArn, definition, roleArn):
        self.machines[stateMachineArn].update(definition=definition, roleArn=roleArn)
        return {}

    def states_TagResource(self, resourceArn, tags):
        self.machines[resourceArn]["tags"].update({t["key"]: t["value"] for t in tags})

    def states_DeleteStateMachine(self, stateMachineArn):
        self.machines.pop(stateMachineArn)

    # EventBridge
    def events_DescribeRule(self, Name):
        if Name not in self.rules:
            raise _not_found("ResourceNotFoundException", "DescribeRule")
        return dict(self.rules[Name])

    def events_ListTargetsByRule(self, Rule):
        if Rule not in self.rules:
            raise _not_found("ResourceNotFoundException", "ListTargetsByRule")
        return {"Targets": [dict(t) for t in self.targets[Rule]]}

    def events_ListTagsForResource(self, ResourceARN):
        return {"Tags": [{"Key": k, "Value": v} for k, v in self.rule_tags[ResourceARN].items()]}

    def events_PutRule(self, Name, EventPattern, State, Description, Tags=None):
        arn = f"arn:aws:events:{self.region}:{self.account}:rule/{Name}"
        self.rules[Name] = {"Name": Name, "Arn": arn, "EventPattern": EventPattern, "State": State, "Description": Description,
                            "EventBusName": "default"}
        self.targets.setdefault(Name, [])
        tags = self.rule_tags.setdefault(arn, {})
        tags.update({t["Key"]: t["Value"] for t in Tags or []})
        return {"RuleArn": arn}

    def events_TagResource(self, ResourceARN, Tags):
        self.rule_tags[ResourceARN].update({t["Key"]: t["Value"] for t in Tags})

    def events_PutTargets(self, Rule, Targets):
        ids = {t["Id"] for t in Targets}
        self.targets[Rule] = [t for t in self.targets[Rule] if t["Id"] not in ids] + [dict(t) for t in Targets]
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def events_RemoveTargets(self, Rule, Ids):
        self.targets[Rule] = [t for t in self.targets[Rule] if t["Id"] not in Ids]
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def events_DeleteRule(self, Name):
        arn = self.rules.pop(Name)["Arn"]
        self.targets.pop(Name, None)
        self.rule_tags.pop(arn, None)

    # Secrets Manager
    def DescribeSecret(self, SecretId):
        return dict(self.secret)

    def RotateSecret(self, SecretId, RotationRules, RotateImmediately):
        self.secret["RotationRules"] = dict(RotationRules)
        return {"ARN": SECRET}


class _FakeService:
    """A boto3-like client: snake_case methods, ``aws_retry`` accepted, every call recorded."""

    def __init__(self, cloud, service):
        self.cloud, self.service = cloud, service

    def __getattr__(self, method):
        operation = "".join(part.capitalize() for part in method.split("_"))
        handler = getattr(self.cloud, f"{self.service}_{operation}", None) or getattr(self.cloud, operation)

        def send(aws_retry=False, **kwargs):
            self.cloud.calls.append((self.service, operation, kwargs))
            return handler(**kwargs)
        return send


def test_service_arns_are_confirmed_from_the_policy_in_either_arn_format():
    cluster = ecs_cluster_arn("prod", "aws", "eu-west-1", "111122223333")
    assert cluster == CLUSTER and ecs_cluster_arn(CLUSTER, "aws-cn", "x", "1") == CLUSTER
    long_app, long_worker = f"{CLUSTER[:-len(':cluster/prod')]}:service/prod/app", f"{CLUSTER[:-len(':cluster/prod')]}:service/prod/worker"
    assert confirmed_service_arns(state_machine_role_policy([long_worker, long_app]), CLUSTER, ["app", "worker"]) == [long_app, long_worker]
    # A service made before the account opted in to long ARNs keeps arn:...:service/<name>.
    short_app = "arn:aws:ecs:eu-west-1:111122223333:service/app"
    assert confirmed_service_arns(state_machine_role_policy([short_app, long_worker]), CLUSTER, ["app", "worker"]) == [short_app, long_worker]
    # As IAM returns a one-service policy: single strings for one-item lists.
    as_iam = {"Version": "2012-10-17", "Statement": [{"Sid": "RedeployServices", "Effect": "Allow", "Action": "ecs:UpdateService", "Resource": long_app}]}
    assert confirmed_service_arns(as_iam, CLUSTER, ["app"]) == [long_app]
    other_account = long_app.replace("111122223333", "444455556666")
    for policy, services in [
        (state_machine_role_policy([long_app]), ["app", "worker"]),  # a service missing
        (state_machine_role_policy([long_app, long_worker]), ["app"]),  # one too many
        (state_machine_role_policy([other_account]), ["app"]),  # another account's service
        (state_machine_role_policy([long_app.replace("/prod/", "/staging/")]), ["app"]),  # another cluster
        (state_machine_role_policy([long_app, short_app]), ["app"]),  # the same service twice
        (dict(state_machine_role_policy([long_app]), Statement=[{"Effect": "Allow", "Action": "ecs:*", "Resource": long_app}]), ["app"]),
        (None, ["app"]),
        ({"Statement": [{"Resource": {"x": 1}}]}, ["app"]),
    ]:
        assert confirmed_service_arns(policy, CLUSTER, services) is None, (policy, services)


def test_the_rule_description_records_tags_and_schedule():
    tags = {"ecsrds.connect/managed": "true", "team": "payments"}
    with_days = rule_description("db", tags, 30)
    assert with_days.startswith("ecsrds.connect: redeploy the services of db when its master secret rotates (applied: tags ")
    assert with_days.endswith("; rotation every 30 days)") and len(with_days) <= 512
    assert description_confirms(with_days, "db", tags, 30)
    assert not description_confirms(with_days, "db", tags, 60)
    assert not description_confirms(with_days, "db", dict(tags, team="billing"), 30)
    assert not description_confirms(rule_description("db", tags, None), "db", tags, 30)
    # rotation_days unset leaves the schedule alone: any recorded schedule, or none, confirms.
    assert description_confirms(with_days, "db", tags, None) and description_confirms(rule_description("db", tags, None), "db", tags, None)
    assert not description_confirms("ecsrds.connect: redeploy the services of db when its master secret rotates", "db", tags, None)
    assert not description_confirms(None, "db", tags, None)


def _params(**extra):
    params = {"state": "present", "db_cluster_identifier": "demo-db", "secret_arn": SECRET, "cluster": "prod",
              "services": ["app", "worker"], "rotation_days": None, "tags": {"team": "payments"}}
    params.update(extra)
    return params


def _converged(params):
    cloud = FakeCloud()
    changed, _result = rotate(cloud, params, False)
    assert changed
    cloud.calls.clear()
    return cloud


# What a converged redeploy costs: these five reads and nothing else, whether or not the schedule is
# managed (the rule's description records it), in check mode too.
NOOP_READS = ["events:DescribeRule", "events:ListTargetsByRule", "iam:GetRolePolicy", "iam:GetRolePolicy", "states:DescribeStateMachine"]


@pytest.mark.parametrize("days", [None, 30])
@pytest.mark.parametrize("check_mode", [False, True])
def test_a_converged_redeploy_costs_five_reads(days, check_mode):
    params = _params(rotation_days=days)
    cloud = _converged(params)
    changed, result = rotate(cloud, params, check_mode)
    assert not changed and result["actions"] == []
    assert cloud.operations() == NOOP_READS
    policies = sorted(kwargs["RoleName"] for _service, op, kwargs in cloud.calls if op == "GetRolePolicy")
    assert policies == ["ecsrds-demo-db-redeploy-role", "ecsrds-demo-db-rotation-events"]
    assert result["diff"]["before"] == result["diff"]["after"]
    rotation = result["rotation"]
    assert rotation["service_arns"] == [cloud.services["app"]["serviceArn"], cloud.services["worker"]["serviceArn"]]
    assert rotation["definition"] == state_machine_definition("aws", CLUSTER, ["app", "worker"]) and rotation["rotation_days"] == days


def _edit_policy(role, document):
    def edit(cloud):
        cloud.roles[role]["policies"][POLICY] = document
    return edit


def _set_target(**values):
    def edit(cloud):
        cloud.targets[RULE][0].update(values)
    return edit


def _set_machine(key, value):
    def edit(cloud):
        cloud.machines[MACHINE][key] = value
    return edit


def _set_rule_description(description):
    def edit(cloud):
        cloud.rules[RULE]["Description"] = description
    return edit


def _disable_rule(cloud):
    cloud.rules[RULE]["State"] = "DISABLED"


def _add_target(cloud):
    cloud.targets[RULE].append({"Id": "someone-else", "Arn": "arn:aws:sqs:eu-west-1:111122223333:q"})


def _delete_role(cloud):
    del cloud.roles[EVENTS_ROLE]


POLICY = "ecsrds-connect-rotation"
RULE, EVENTS_ROLE, MACHINE_ROLE = "ecsrds-demo-db-rotation", "ecsrds-demo-db-rotation-events", "ecsrds-demo-db-redeploy-role"
MACHINE = "arn:aws:states:eu-west-1:111122223333:stateMachine:ecsrds-demo-db-redeploy"
WIDE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]}


@pytest.mark.parametrize("edit, writes", [
    (_edit_policy(MACHINE_ROLE, WIDE), ["iam:PutRolePolicy"]),
    (_edit_policy(EVENTS_ROLE, WIDE), ["iam:PutRolePolicy"]),
    (_delete_role, ["iam:CreateRole", "iam:PutRolePolicy"]),
    (_set_target(RoleArn="arn:aws:iam::111122223333:role/other"), ["events:PutTargets"]),
    (_set_target(Input='{"not": "the event"}'), ["events:PutTargets"]),
    (_add_target, ["events:RemoveTargets"]),
    (_disable_rule, ["events:PutRule"]),
    (_set_machine("definition", json.dumps({"StartAt": "x", "States": {"x": {"Type": "Pass", "End": True}}})), ["states:UpdateStateMachine"]),
    (_set_machine("roleArn", "arn:aws:iam::111122223333:role/other"), ["states:UpdateStateMachine"]),
    # A rule made by an earlier version has no record: one PutRule after upgrading writes it.
    (_set_rule_description("ecsrds.connect: redeploy the services of demo-db when its master secret rotates"), ["events:PutRule"]),
], ids=["machine-role-policy", "events-role-policy", "role-deleted", "target-role", "target-input", "foreign-target", "rule-disabled",
        "definition", "machine-role", "no-record"])
def test_drift_is_detected_and_repaired(edit, writes):
    params = _params(rotation_days=30)
    cloud = _converged(params)
    edit(cloud)
    changed, planned = rotate(cloud, params, True)
    assert changed and planned["actions"] and cloud.writes() == []
    # The repair reads what a converged run skips: services, roles' trust and tags, tags, schedule.
    assert {"ecs:DescribeServices", "iam:GetRole", "states:ListTagsForResource", "events:ListTagsForResource",
            "secretsmanager:DescribeSecret"} <= set(cloud.operations())
    cloud.calls.clear()
    changed, _result = rotate(cloud, params, False)
    assert changed and cloud.writes() == writes
    cloud.calls.clear()
    changed, _result = rotate(cloud, params, False)
    assert not changed and cloud.operations() == NOOP_READS


def test_a_new_schedule_or_new_tags_are_applied_and_recorded():
    cloud = _converged(_params(rotation_days=30))
    changed, result = rotate(cloud, _params(rotation_days=60), False)
    assert changed and cloud.writes() == ["events:PutRule", "secretsmanager:RotateSecret"]
    assert cloud.secret["RotationRules"] == {"AutomaticallyAfterDays": 60}
    assert result["diff"]["before"]["rotation_days"] == 30 and result["diff"]["after"]["rotation_days"] == 60
    # The schedule is written before the record that claims it.
    assert [op for _s, op, _k in cloud.calls if op in ("RotateSecret", "PutRule")] == ["RotateSecret", "PutRule"]

    cloud.calls.clear()
    changed, _result = rotate(cloud, _params(rotation_days=60, tags={"team": "billing"}), False)
    assert changed and cloud.writes() == ["events:PutRule", "events:TagResource", "iam:TagRole", "iam:TagRole", "states:TagResource"]
    assert cloud.roles[EVENTS_ROLE]["tags"]["team"] == "billing" and cloud.machines[MACHINE]["tags"]["team"] == "billing"

    # Unset rotation_days leaves the schedule, and its record, alone.
    cloud.calls.clear()
    changed, _result = rotate(cloud, _params(tags={"team": "billing"}), False)
    assert not changed and cloud.operations() == NOOP_READS


def test_a_repair_also_puts_back_a_schedule_changed_outside():
    cloud = _converged(_params(rotation_days=30))
    cloud.secret["RotationRules"] = {"AutomaticallyAfterDays": 90}
    _disable_rule(cloud)
    changed, _result = rotate(cloud, _params(rotation_days=30), False)
    assert changed and cloud.writes() == ["events:PutRule", "secretsmanager:RotateSecret"]
    assert cloud.secret["RotationRules"] == {"AutomaticallyAfterDays": 30}


def test_services_are_described_when_the_redeploy_changes():
    cloud = _converged(_params())
    changed, result = rotate(cloud, _params(services=["app"]), False)
    assert changed and cloud.writes() == ["iam:PutRolePolicy", "states:UpdateStateMachine"]
    assert "ecs:DescribeServices" in cloud.operations()
    assert result["rotation"]["service_arns"] == [cloud.services["app"]["serviceArn"]]
    assert result["diff"]["after"]["state_machine_role"]["policy"]["Statement"][0]["Resource"] == [cloud.services["app"]["serviceArn"]]
    cloud.calls.clear()
    with pytest.raises(EcsRdsError, match="ECS service.s. gone not found or not ACTIVE in cluster prod"):
        rotate(cloud, _params(services=["app", "gone"]), False)
    assert cloud.writes() == []


def test_a_resource_not_ours_stops_the_repair_before_any_write():
    cloud = _converged(_params())
    cloud.roles[MACHINE_ROLE]["tags"].pop("ecsrds.connect/managed")
    _disable_rule(cloud)  # something to repair, so the repair path runs
    with pytest.raises(EcsRdsError, match=f"IAM role {MACHINE_ROLE} exists but was not made by ecsrds.connect"):
        rotate(cloud, _params(), False)
    assert cloud.writes() == []
    # A role of that name someone else made from scratch (no policy of ours): refused the same way.
    cloud = FakeCloud()
    cloud.roles[EVENTS_ROLE] = {"trust": {}, "tags": {}, "policies": {}}
    with pytest.raises(EcsRdsError, match="was not made by ecsrds.connect"):
        rotate(cloud, _params(), False)
    assert cloud.writes() == []


def test_teardown_still_checks_ownership_of_everything_it_deletes():
    cloud = _converged(_params(rotation_days=30))
    absent = {"state": "absent", "db_cluster_identifier": "demo-db", "rotation_days": None}
    rule_arn = cloud.rules[RULE]["Arn"]
    cloud.rule_tags[rule_arn].clear()
    with pytest.raises(EcsRdsError, match=f"EventBridge rule {RULE} exists but was not made by ecsrds.connect"):
        rotate(cloud, absent, False)
    assert cloud.writes() == []
    cloud.rule_tags[rule_arn]["ecsrds.connect/managed"] = "true"
    cloud.calls.clear()
    changed, _result = rotate(cloud, absent, False)
    assert changed and not cloud.roles and not cloud.machines and not cloud.rules
    assert {"events:ListTagsForResource", "states:ListTagsForResource", "iam:GetRole"} <= set(cloud.operations())


# ---------------------------------------------------------------------------------------------
# The rotation role's step: its inputs -> ecs_redeploy_on_rotation's options -> what it publishes


def test_the_redeploy_is_asked_for_every_service_by_name_or_its_removal():
    inputs = role_inputs("rotation", rotation_ecs_cluster="prod", rotation_ecs_services=["app", {"name": "worker", "container_name": "w"}],
                         rotation_db_cluster_identifier="orders-db", rotation_secret_arn=SECRET, rotation_tags={"team": "a"})
    options = redeploy_options(inputs)
    assert options == {"state": "present", "db_cluster_identifier": "orders-db", "secret_arn": SECRET, "cluster": "prod",
                       "services": ["app", "worker"], "service_secrets": {}, "rotation_days": None, "tags": {"team": "a"}}
    assert validate_params(options) is None
    off = redeploy_options(dict(inputs, rotation_redeploy=False, rotation_secret_rotation_days=30, rotation_secret_arn=None))
    assert off["state"] == "absent" and off["rotation_days"] == 30 and off["secret_arn"] is None
    assert redeploy_facts({"rotation": {"rule_name": "r"}}) == {"rotation__redeploy": {"rule_name": "r"}}
    assert redeploy_facts({"rotation": None}) == {"rotation__redeploy": None}


@pytest.mark.parametrize("secret_arn", [None, "arn:aws:secretsmanager:eu-west-1:000000000000:secret:rds!cluster-planned-by-check-mode"])
def test_check_mode_before_the_database_exists_plans_without_made_up_arns(secret_arn):
    # site.yml --check on a fresh account: the database role hands on a marked stand-in for the secret
    # RDS will create (account unknown, zeros). Nothing is read, nothing is named in a made-up account.
    cloud = FakeCloud()
    changed, result = rotate(cloud, _params(secret_arn=secret_arn), True)
    assert changed and result["rotation"] is None and cloud.calls == []
    assert result["actions"] == ["create or update the rotation redeploy ecsrds-demo-db-rotation once the database secret exists"]


def test_a_service_dropped_from_the_inputs_is_named_once_before_the_machine_forgets_it():
    # The state machine redeploys app and worker; the inputs now name app only.
    params = _params()
    cloud = _converged(params)
    changed, result = rotate(cloud, _params(services=["app"]), True)
    assert changed and result["rotation"]["services_dropped"] == ["worker"]
    changed, result = rotate(cloud, _params(services=["app"]), False)
    assert changed and result["rotation"]["services_dropped"] == ["worker"]
    # What it redeployed before this run: the services the deployment had wired.
    assert result["rotation"]["services_before"] == ["app", "worker"]
    # Updated: the machine redeploys app alone, and nothing is named again.
    assert machine_services(state_machine_definition("aws", CLUSTER, ["app"])) == ["app"]
    changed, result = rotate(cloud, _params(services=["app"]), False)
    assert not changed and result["rotation"]["services_dropped"] == []
    # A service added is not "dropped"; a definition of another shape names none.
    assert rotate(cloud, _params(services=["app", "worker"]), True)[1]["rotation"]["services_dropped"] == []
    assert machine_services("not json") == [] and machine_services({"States": {}}) == []


def test_a_services_own_secret_redeploys_that_service_and_the_masters_the_others():
    own = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-db/api-AbCdEf"
    cluster_arn = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
    definition = state_machine_definition("aws", cluster_arn, ["app", "api", "reports"], {"api": own, "reports": ""})
    choice = definition["States"][definition["StartAt"]]
    assert choice["Type"] == "Choice" and choice["Default"] == "Redeploy services"
    [branch] = choice["Choices"]
    assert branch["Or"] == [{"Variable": "$.detail.additionalEventData.SecretId", "StringEquals": own},
                            {"Variable": "$.detail.additionalEventData.SecretId", "StringEquals": "orders-db/api"}]
    assert machine_services({"States": {branch["Next"]: definition["States"][branch["Next"]]}}) == ["api"]
    assert machine_services({"States": {"Redeploy services": definition["States"]["Redeploy services"]}}) == ["app"]
    # The iam service is redeployed by nothing; every service the machine redeploys is found again.
    assert machine_services(json.dumps(definition)) == ["api", "app"]
    # Only services on their own logins: the master's rotation redeploys nothing.
    alone = state_machine_definition("aws", cluster_arn, ["api"], {"api": own})
    assert alone["States"]["Redeploy services"]["Type"] == "Succeed"
    # No own secret (an iam service beside master ones): no choice, the iam service left out.
    assert state_machine_definition("aws", cluster_arn, ["app", "reports"], {"reports": ""}) == state_machine_definition("aws", cluster_arn, ["app"])
    # Every service on the master: the definition of before, no choice (no drift for deployments made before).
    assert state_machine_definition("aws", cluster_arn, ["app"], {}) == state_machine_definition("aws", cluster_arn, ["app"])
    pattern = event_pattern(SECRET, [own])
    assert pattern["detail"]["additionalEventData"]["SecretId"][2:] == [own, "orders-db/api"]
    assert "service_secrets names ghost, not in services" in validate_params(
        {"state": "present", "db_cluster_identifier": "d", "cluster": "c", "services": ["api"], "service_secrets": {"ghost": own}})


def test_a_service_on_iam_is_neither_redeployed_nor_allowed_to_be():
    own = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-db/api-AbCdEf"
    inputs = role_inputs("rotation", rotation_ecs_cluster="prod", rotation_ecs_services=["app", "api", "reports"], rotation_db_cluster_identifier="orders-db",
                         rotation_secret_arn=SECRET, rotation_service_secrets={"api": own, "reports": ""})
    options = redeploy_options(inputs)
    assert options["state"] == "present" and options["services"] == ["app", "api"] and options["service_secrets"] == {"api": own, "reports": ""}
    assert validate_params(options) is None
    # Nothing a rotation concerns: no rule, no state machine, no roles.
    only_iam = redeploy_options(dict(inputs, rotation_ecs_services=["reports"]))
    assert only_iam["state"] == "absent" and only_iam["services"] == []
