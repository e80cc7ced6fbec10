"""preflight: each check on a failing and a passing case (pure functions over described facts),
fail_on, and the reader against fake clients that only know read calls (so a write, a
GetSecretValue or a GetParameter would raise), with IAM's simulation answering or refused."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.iam import ALLOWED, EXPLICIT_DENY, UNKNOWN, Decision
from ansible_collections.ecsrds.connect.plugins.module_utils.preflight import (
    AccessNeed,
    NetworkFacts,
    PreflightReader,
    access_needs,
    check_db_ingress,
    check_execution_role_access,
    check_network_path,
    check_platform_version,
    check_secret_reference,
    check_vpc_dns,
    failure_message,
    parse_reference,
    reached,
    run_preflight,
    summarize,
)

REGION = "us-east-1"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1234-AbCdEf"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1111-2222"
ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
RDS_SECRET = {"ARN": SECRET, "OwningService": "rds", "VersionIdsToStages": {"v1": ["AWSCURRENT"]},
              "Tags": [{"Key": "aws:secretsmanager:owningService", "Value": "rds"}]}
SERVICE_SG = "sg-service"
SUBNETS = [
    {"SubnetId": "subnet-a", "AvailabilityZone": "us-east-1a", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24"},
    {"SubnetId": "subnet-b", "AvailabilityZone": "us-east-1b", "VpcId": "vpc-1", "CidrBlock": "10.0.2.0/24"},
]
PRIVATE_TABLE = {"RouteTableId": "rtb-1", "Associations": [{"SubnetId": "subnet-a"}, {"SubnetId": "subnet-b"}],
                 "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"}]}
ENDPOINT = {"VpcEndpointId": "vpce-1", "VpcEndpointType": "Interface", "State": "available", "PrivateDnsEnabled": True,
            "SubnetIds": ["subnet-a", "subnet-b"], "Groups": [{"GroupId": "sg-endpoint"}]}
ENDPOINT_SG = {"GroupId": "sg-endpoint", "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                                            "UserIdGroupPairs": [{"GroupId": SERVICE_SG}], "IpRanges": []}]}


def statuses(findings):
    return [f["status"] for f in findings]


def refs(*value_froms):
    return [parse_reference("app", f"VAR{i}", v) for i, v in enumerate(value_froms)]


# --- secret_reference


def test_parse_reference_splits_the_json_key_and_knows_ssm():
    ref = parse_reference("app", "DATABASE_PASSWORD", f"{SECRET}:password:AWSCURRENT:")
    assert (ref.kind, ref.secret_id, ref.json_key, ref.version_stage, ref.region) == ("secretsmanager", SECRET, "password", "AWSCURRENT", REGION)
    assert parse_reference("app", "X", "arn:aws:ssm:us-east-1:123456789012:parameter/app/db").secret_id == "/app/db"
    assert parse_reference("app", "X", "arn:aws:ssm:us-east-1:123456789012:parameter/token").secret_id == "token"
    assert parse_reference("app", "X", "/app/token").kind == "ssm"
    assert parse_reference("app", "X", "arn:aws:secretsmanager:us-east-1:42:secret:x").error


def test_secret_reference_passes_for_username_and_password_of_the_rds_secret():
    found = check_secret_reference(refs(f"{SECRET}:username::", f"{SECRET}:password::"), {SECRET: RDS_SECRET}, {}, REGION)
    assert statuses(found) == ["ok", "ok"]


def test_secret_reference_fails_a_key_the_rds_secret_lacks_naming_it():
    (found,) = check_secret_reference(refs(f"{SECRET}:user::"), {SECRET: RDS_SECRET}, {}, REGION)
    assert found["status"] == "fail" and "'user'" in found["message"] and "username" in found["fix"]


@pytest.mark.parametrize(
    "value_from, secrets, parameters, status, words",
    [
        (f"{SECRET}:password::", {SECRET: None}, {}, "fail", "does not exist"),
        ("arn:aws:secretsmanager:us-east-1:42:secret:x", {}, {}, "fail", "not a Secrets Manager reference"),
        (f"{SECRET}:password:AWSPREVIOUS:", {SECRET: RDS_SECRET}, {}, "fail", "version stage 'AWSPREVIOUS'"),
        (f"{SECRET}:password::v9", {SECRET: RDS_SECRET}, {}, "fail", "version id 'v9'"),
        (SECRET, {SECRET: RDS_SECRET}, {}, "warn", "whole JSON document"),
        ("/app/token", {}, {"/app/token": None}, "fail", "SSM parameter /app/token"),
        ("/app/token", {}, {"/app/token": {"Name": "/app/token"}}, "ok", "existing SSM parameter"),
        (SECRET.replace("us-east-1", "eu-west-1") + ":password::", {}, {}, "warn", "region eu-west-1"),
    ],
)
def test_secret_reference_cases(value_from, secrets, parameters, status, words):
    (found,) = check_secret_reference(refs(value_from), secrets, parameters, REGION)
    assert found["status"] == status and words in found["message"]
    assert (found["fix"] is None) == (status == "ok")


# --- execution_role_access


def test_access_needs_add_kms_decrypt_through_secrets_manager_for_a_customer_key_only():
    needs = access_needs(refs(f"{SECRET}:username::", f"{SECRET}:password::"), {SECRET: RDS_SECRET}, {SECRET: KEY}, REGION)
    assert [(n.action, n.resource) for n in needs] == [("secretsmanager:GetSecretValue", SECRET), ("kms:Decrypt", KEY)]
    assert needs[1].context == {"kms:ViaService": ["secretsmanager.us-east-1.amazonaws.com"]}
    assert needs[0].context == {"aws:ResourceTag/aws:secretsmanager:owningService": ["rds"]}
    assert len(access_needs(refs(f"{SECRET}:username::"), {SECRET: RDS_SECRET}, {SECRET: None}, REGION)) == 1
    (param,) = access_needs(refs("/app/token"), {}, {}, REGION, "123456789012")
    assert (param.action, param.resource) == ("ssm:GetParameters", "arn:aws:ssm:us-east-1:123456789012:parameter/app/token")


NEED = [AccessNeed("secretsmanager:GetSecretValue", SECRET, {}, SECRET)]


def test_execution_role_access_fails_naming_the_role_and_the_action():
    (found,) = check_execution_role_access(ROLE, NEED, {}, "own evaluation of the role's policies", [])
    assert found["status"] == "fail"
    assert "ecsTaskExecutionRole may not secretsmanager:GetSecretValue" in found["message"]
    assert "own evaluation" in found["message"] and "inline policy to ecsTaskExecutionRole" in found["fix"]
    denied = {("secretsmanager:GetSecretValue", SECRET): Decision("secretsmanager:GetSecretValue", SECRET, EXPLICIT_DENY, ["inline policy guard statement 1"])}
    (found,) = check_execution_role_access(ROLE, NEED, denied, "iam:SimulatePrincipalPolicy", [])
    assert "explicitly denied by inline policy guard" in found["message"] and found["fix"].startswith("remove or narrow")


def test_execution_role_access_passes_and_says_how():
    allowed = {("secretsmanager:GetSecretValue", SECRET): Decision("secretsmanager:GetSecretValue", SECRET, ALLOWED, ["grant"])}
    (found,) = check_execution_role_access(ROLE, NEED, allowed, "iam:SimulatePrincipalPolicy", [])
    assert found["status"] == "ok" and "(checked with iam:SimulatePrincipalPolicy)" in found["message"]


def test_execution_role_access_warns_on_unknown_conditions_and_broad_grants():
    unknown = {("secretsmanager:GetSecretValue", SECRET): Decision("secretsmanager:GetSecretValue", SECRET, UNKNOWN, ["inline policy x statement 1"])}
    found = check_execution_role_access(ROLE, NEED, unknown, "own evaluation", ["attached policy SecretsManagerReadWrite"])
    assert statuses(found) == ["warn", "warn"]
    assert "Cannot tell" in found[0]["message"] and "SecretsManagerReadWrite" in found[1]["message"]


def test_execution_role_access_fails_without_a_role():
    assert statuses(check_execution_role_access(None, NEED, {}, "x", [])) == ["fail"]
    assert statuses(check_execution_role_access(ROLE, NEED, {}, "x", [], role_found=False)) == ["fail"]
    assert statuses(check_execution_role_access(None, [], {}, "x", [])) == ["ok"]


# --- network_path and vpc_dns


def network(**changes):
    facts = NetworkFacts(REGION, "vpc-1", copy.deepcopy(SUBNETS), [copy.deepcopy(PRIVATE_TABLE)], [], {}, [], [SERVICE_SG], False,
                         {"enableDnsSupport": True, "enableDnsHostnames": True})
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def with_endpoint(endpoint=None, group=None, **changes):
    endpoint, group = endpoint or ENDPOINT, group or ENDPOINT_SG
    return network(endpoints=[endpoint], endpoint_subnet_zones={s["SubnetId"]: s["AvailabilityZone"] for s in SUBNETS}, endpoint_groups=[group], **changes)


def test_network_path_fails_without_nat_or_endpoint_and_names_the_endpoint():
    found = check_network_path(network(), needed=True)
    assert statuses(found) == ["fail", "fail"]
    assert "com.amazonaws.us-east-1.secretsmanager" in found[0]["fix"] and "us-east-1a" in found[0]["fix"]


def test_network_path_passes_through_the_endpoint_or_a_nat_gateway():
    assert statuses(check_network_path(with_endpoint(), needed=True)) == ["ok", "ok"]
    nat = dict(PRIVATE_TABLE, Routes=PRIVATE_TABLE["Routes"] + [{"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"}])
    found = check_network_path(network(route_tables=[nat]), needed=True)
    assert statuses(found) == ["ok", "ok"] and "NAT gateway nat-1" in found[0]["message"]


def test_an_internet_gateway_needs_a_public_ip():
    igw = dict(PRIVATE_TABLE, Routes=[{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active"}])
    assert statuses(check_network_path(network(route_tables=[igw]), needed=True)) == ["fail", "fail"]
    assert statuses(check_network_path(network(route_tables=[igw], public_ip=True), needed=True)) == ["ok", "ok"]


@pytest.mark.parametrize(
    "endpoint, group, words",
    [
        (dict(ENDPOINT, PrivateDnsEnabled=False), ENDPOINT_SG, "private DNS off"),
        (dict(ENDPOINT, SubnetIds=["subnet-a"]), ENDPOINT_SG, "no subnet in us-east-1b"),
        (ENDPOINT, dict(ENDPOINT_SG, IpPermissions=[]), "do not admit tcp 443 from sg-service"),
    ],
)
def test_a_misconfigured_endpoint_fails_saying_what(endpoint, group, words):
    found = check_network_path(with_endpoint(endpoint, group), needed=True)
    assert "fail" in statuses(found) and any(words in f["message"] for f in found)
    assert all("vpce-1" in f["fix"] for f in found if f["status"] == "fail")


def test_endpoint_open_to_the_vpc_range_counts_and_pending_warns():
    by_cidr = dict(ENDPOINT_SG, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    assert statuses(check_network_path(with_endpoint(group=by_cidr), needed=True)) == ["ok", "ok"]
    assert statuses(check_network_path(with_endpoint(dict(ENDPOINT, State="pending")), needed=True)) == ["warn", "warn"]
    assert statuses(check_network_path(network(), needed=False)) == ["ok"]


def test_vpc_dns_fails_when_the_private_dns_endpoint_is_the_path_and_dns_is_off():
    off = with_endpoint(vpc_dns={"enableDnsSupport": True, "enableDnsHostnames": False})
    (found,) = check_vpc_dns(off, needed=True)
    assert found["status"] == "fail" and "enableDnsHostnames" in found["fix"]
    assert statuses(check_vpc_dns(with_endpoint(), needed=True)) == ["ok"]
    # Behind a NAT gateway the endpoint is not the path.
    nat = dict(PRIVATE_TABLE, Routes=[{"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"}])
    assert statuses(check_vpc_dns(with_endpoint(route_tables=[nat], vpc_dns={}), needed=True)) == ["ok"]


# --- platform_version


@pytest.mark.parametrize(
    "service, status",
    [
        ({"launchType": "FARGATE", "platformVersion": "1.3.0"}, "fail"),
        ({"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT"}], "platformVersion": "1.2.0"}, "fail"),
        ({"launchType": "FARGATE", "platformVersion": "LATEST"}, "ok"),
        ({"launchType": "FARGATE"}, "ok"),
        ({"launchType": "FARGATE", "platformVersion": "1.4.0"}, "ok"),
        ({"launchType": "EC2"}, "ok"),
    ],
)
def test_platform_version(service, status):
    (found,) = check_platform_version(dict(service, serviceName="svc"))
    assert found["status"] == status
    if status == "fail":
        assert "LATEST" in found["fix"]


# --- db_ingress


def db_group(*permissions):
    return {"GroupId": "sg-db", "IpPermissions": list(permissions)}


def test_db_ingress_fails_naming_the_port():
    (found,) = check_db_ingress(["sg-db"], [db_group()], 5432, [SERVICE_SG], ["10.0.1.0/24"])
    assert found["status"] == "fail" and "port 5432" in found["message"] and "sg-db from sg-service" in found["fix"]
    other_port = {"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "UserIdGroupPairs": [{"GroupId": SERVICE_SG}]}
    assert statuses(check_db_ingress(["sg-db"], [db_group(other_port)], 5432, [SERVICE_SG], [])) == ["fail"]
    assert "do not exist" in check_db_ingress(["sg-gone"], [], 5432, [SERVICE_SG], [])[0]["message"]


def test_db_ingress_passes_by_group_or_by_a_cidr_covering_the_subnets():
    by_group = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": SERVICE_SG}]}
    assert statuses(check_db_ingress(["sg-db"], [db_group(by_group)], 5432, [SERVICE_SG], ["10.0.1.0/24"])) == ["ok"]
    by_cidr = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
    assert statuses(check_db_ingress(["sg-db"], [db_group(by_cidr)], 5432, [SERVICE_SG], ["10.0.1.0/24", "10.0.2.0/24"])) == ["ok"]
    assert check_db_ingress([], [], 5432, [SERVICE_SG], []) == []


# --- fail_on


def test_fail_on_and_the_message_naming_every_failing_finding():
    findings = [
        {"check": "network_path", "status": "fail", "resource": "subnet-a", "message": "m1", "fix": "f1"},
        {"check": "execution_role_access", "status": "warn", "resource": ROLE, "message": "m2", "fix": "f2"},
        {"check": "vpc_dns", "status": "ok", "resource": "vpc-1", "message": "m3", "fix": None},
    ]
    assert summarize(findings) == {"ok": 1, "warn": 1, "fail": 1}
    assert [f["check"] for f in reached(findings, "fail")] == ["network_path"]
    assert [f["check"] for f in reached(findings, "warn")] == ["network_path", "execution_role_access"]
    assert reached(findings, "never") == []
    message = failure_message("svc", reached(findings, "warn"))
    assert "2 problem(s)" in message and "[network_path] subnet-a: m1 Fix: f1" in message and "[execution_role_access]" in message


# --- the reader: reads only


class FakeClient:
    """Answers only the read calls it is given; anything else (a write, GetSecretValue,
    GetParameter) raises AttributeError."""

    def __init__(self, log, **answers):
        self._log = log
        self._answers = answers

    def __getattr__(self, name):
        if name.startswith("_") or name not in self._answers:
            raise AttributeError(name)

        def method(aws_retry=False, **kwargs):
            self._log.append(name)
            answer = self._answers[name]
            return answer(**kwargs) if callable(answer) else copy.deepcopy(answer)

        return method


TASK_DEFINITION = {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/demo:2", "executionRoleArn": ROLE,
    "containerDefinitions": [{"name": "app", "secrets": [{"name": "DATABASE_USERNAME", "valueFrom": f"{SECRET}:username::"}]},
                             {"name": "sidecar"}],
}
SERVICE = {"serviceName": "svc", "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/c/svc", "status": "ACTIVE", "launchType": "FARGATE",
           "taskDefinition": TASK_DEFINITION["taskDefinitionArn"],
           "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"], "securityGroups": [SERVICE_SG]}}}
GRANT = {"Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET},
                       {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY,
                        "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}}]}


def fake_clients(log, simulate):
    return {
        "ecs": FakeClient(log, describe_services={"services": [SERVICE]}, describe_task_definition={"taskDefinition": TASK_DEFINITION}),
        "ec2": FakeClient(
            log,
            describe_subnets={"Subnets": SUBNETS},
            describe_route_tables={"RouteTables": [PRIVATE_TABLE]},
            describe_vpc_endpoints={"VpcEndpoints": [dict(ENDPOINT, ServiceName="com.amazonaws.us-east-1.secretsmanager")]},
            describe_security_groups=lambda **kw: {"SecurityGroups": [ENDPOINT_SG] if kw.get("GroupIds") else []},
            describe_vpc_attribute=lambda VpcId, Attribute: {Attribute[0].upper() + Attribute[1:]: {"Value": True}},
        ),
        "iam": FakeClient(
            log,
            get_role={"Role": {"RoleName": "ecsTaskExecutionRole", "Arn": ROLE}},
            list_role_policies={"PolicyNames": ["grant"], "IsTruncated": False},
            get_role_policy={"PolicyDocument": GRANT},
            list_attached_role_policies={"AttachedPolicies": [], "IsTruncated": False},
            simulate_principal_policy=simulate,
        ),
        "secretsmanager": FakeClient(log, describe_secret=dict(RDS_SECRET, KmsKeyId=KEY)),
        "ssm": FakeClient(log),
        # ListAliases as KMS answers it for a customer managed key without an alias (an AWS managed key lists alias/aws/...).
        "kms": FakeClient(log, list_aliases={"Aliases": [], "Truncated": False}, describe_key={"KeyMetadata": {"Arn": KEY, "KeyManager": "CUSTOMER"}}),
    }


PARAMS = {"cluster": "c", "service": "svc", "task_definition": None, "container_name": None, "db_security_group_ids": ["sg-db"], "db_port": 5432}


def test_reader_uses_the_simulation_when_iam_answers_and_only_reads():
    log = []

    # Shaped like IAM's SimulatePrincipalPolicy answer for each action asked.
    def simulate(PolicySourceArn, ActionNames, ResourceArns, ContextEntries):
        assert PolicySourceArn == ROLE
        if ActionNames == ["kms:Decrypt"]:
            assert ContextEntries[0]["ContextKeyName"] == "kms:ViaService"
        return {"EvaluationResults": [{"EvalActionName": ActionNames[0], "EvalResourceName": ResourceArns[0], "EvalDecision": "allowed",
                                       "MatchedStatements": [{"SourcePolicyId": "grant"}], "MissingContextValues": []}], "IsTruncated": False}

    result = run_preflight(PreflightReader(fake_clients(log, simulate), REGION), PARAMS)
    assert result["access_method"] == "iam:SimulatePrincipalPolicy"
    by_check = {f["check"]: f for f in result["findings"] if f["status"] != "ok" or f["check"] == "execution_role_access"}
    assert by_check["execution_role_access"]["status"] == "ok"
    # The database group is not there: the only failure.
    assert [f["check"] for f in result["findings"] if f["status"] != "ok"] == ["db_ingress"]
    assert result["summary"]["fail"] == 1
    # The secret's key is looked at (a customer key: kms:Decrypt is needed too); a key ARN needs no DescribeKey.
    assert log.count("simulate_principal_policy") == 2 and "list_aliases" in log and "describe_key" not in log
    assert all(name.startswith(("describe_", "get_role", "list_", "simulate_")) for name in log)


def test_reader_falls_back_to_its_own_evaluation_when_the_simulation_is_refused():
    from botocore.exceptions import ClientError

    def refuse(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: iam:SimulatePrincipalPolicy"}}, "SimulatePrincipalPolicy")

    log = []
    result = run_preflight(PreflightReader(fake_clients(log, refuse), REGION), dict(PARAMS, container_name="app"))
    assert result["access_method"] == "own evaluation of the role's policies; iam:SimulatePrincipalPolicy failed: AccessDenied"
    access = [f for f in result["findings"] if f["check"] == "execution_role_access"]
    assert statuses(access) == ["ok", "ok"]
    assert "kms:Decrypt" in access[1]["message"] and "kms:ViaService secretsmanager.us-east-1.amazonaws.com" in access[1]["message"]


def test_reader_refuses_an_unknown_container():
    from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError

    with pytest.raises(EcsRdsError, match="container_name 'web' is not a container"):
        run_preflight(PreflightReader(fake_clients([], None), REGION), dict(PARAMS, container_name="web"))


def test_the_module_runner_fails_with_every_finding_that_reaches_fail_on():
    from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError
    from ansible_collections.ecsrds.connect.plugins.module_utils.preflight import preflight_problem, run_secrets_preflight

    def simulate(**kwargs):
        return {"EvaluationResults": [{"EvalActionName": kwargs["ActionNames"][0], "EvalResourceName": kwargs["ResourceArns"][0],
                                       "EvalDecision": "allowed", "MatchedStatements": [], "MissingContextValues": []}], "IsTruncated": False}

    clients = Clients(fake_clients([], simulate).__getitem__, REGION)
    # The database group is not there: db_ingress fails, and with it the task, carrying the findings.
    with pytest.raises(EcsRdsError) as failed:
        run_secrets_preflight(clients, dict(PARAMS, fail_on="fail"), False, False)
    assert "db_ingress" in failed.value.message and failed.value.kwargs["changed"] is False
    assert [f["check"] for f in failed.value.kwargs["findings"] if f["status"] == "fail"] == ["db_ingress"]
    reported = run_secrets_preflight(clients, dict(PARAMS, fail_on="never"), False, False)
    assert reported.changed is False and reported.actions == [] and reported.result["summary"]["fail"] == 1
    assert preflight_problem(dict(PARAMS, db_port=80)) == "db_port 80 is out of range: Aurora listens on a port from 1150 to 65535"


def test_several_services_in_one_run_share_their_reads_and_every_failing_one_is_named():
    from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError
    from ansible_collections.ecsrds.connect.plugins.module_utils.preflight import run_secrets_preflight

    def simulate(**kwargs):
        return {"EvaluationResults": [{"EvalActionName": kwargs["ActionNames"][0], "EvalResourceName": kwargs["ResourceArns"][0],
                                       "EvalDecision": "allowed", "MatchedStatements": [], "MissingContextValues": []}], "IsTruncated": False}

    one, two = [], []
    single = dict(PARAMS, fail_on="never")
    run_secrets_preflight(Clients(fake_clients(one, simulate).__getitem__, REGION), single, False, False)
    several = dict(PARAMS, service=None, fail_on="fail", services=[{"service": "svc", "task_definition": None, "container_name": None},
                                                                   {"service": "svc-2", "task_definition": None, "container_name": "app"}])
    with pytest.raises(EcsRdsError) as failed:
        run_secrets_preflight(Clients(fake_clients(two, simulate).__getitem__, REGION), several, False, False)
    # Same secret, role and subnets: read once for both; only each service and its revision are read again.
    per_service = ("describe_services", "describe_task_definition")
    assert sorted(c for c in two if c not in per_service) == sorted(c for c in one if c not in per_service)
    assert two.count("describe_services") == 2 and "describe_parameters" not in two
    # Both lack the database group: the message names each service, the result holds each one's findings.
    assert failed.value.message.count("Preflight of service") == 2 and "service svc-2" in failed.value.message
    assert [s["service"] for s in failed.value.kwargs["services"]] == ["svc", "svc-2"]
    assert {f["service"] for f in failed.value.kwargs["findings"]} == {"svc", "svc-2"} and failed.value.kwargs["summary"]["fail"] == 2
