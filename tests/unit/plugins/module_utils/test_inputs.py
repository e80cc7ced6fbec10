"""inputs: the rules without AWS, and the fact checks against a fake client answering like AWS."""

from __future__ import annotations

import types

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.inputs import (
    PROFILES,
    FactChecker,
    Service,
    check_inputs,
    check_shapes,
    kms_key_problem,
    nearest,
    orderable_answer,
    secret_unknown_values,
    subnet_zone_problem,
    validate,
)

SPEC = {
    "ecsrds_ecs_cluster": {"type": "str", "required": True},
    "ecsrds_ecs_services": {"type": "list", "elements": "raw", "required": True},
    "ecsrds_db_cluster_identifier": {"type": "str", "required": True},
    "ecsrds_db_name": {"type": "str"},
    "ecsrds_db_port": {"type": "int"},
    "ecsrds_db_ingress_source": {"type": "str", "choices": ["security_group", "cidr"]},
    "ecsrds_db_ingress_cidrs": {"type": "list", "elements": "str"},
    "ecsrds_db_allow_wide_ingress": {"type": "bool"},
    "ecsrds_db_instance_class": {"type": "str"},
    "ecsrds_tags": {"type": "dict"},
}
GOOD = {"ecsrds_ecs_cluster": "shop", "ecsrds_ecs_services": ["shop-api"], "ecsrds_db_cluster_identifier": "shop-orders"}


def problems_for(**overrides):
    return check_inputs(PROFILES["site"], dict(GOOD, **overrides), SPEC, region="eu-west-1")[3]


def test_good_inputs_have_no_problem_and_strings_from_the_command_line_are_converted():
    values, services, _released, problems = check_inputs(PROFILES["site"], dict(GOOD, ecsrds_db_port="5433", ecsrds_db_allow_wide_ingress="yes"),
                                                         SPEC, region="eu-west-1")
    assert problems == []
    assert values["ecsrds_db_port"] == 5433 and values["ecsrds_db_allow_wide_ingress"] is True
    assert services == [Service("shop-api", "app", "ecsrds_container_name")]


def test_a_string_is_never_split_into_a_list():
    values, problems = check_shapes({"ecsrds_ecs_services": "shop-api,shop-worker"}, SPEC, "ecsrds_")
    assert "ecsrds_ecs_services" not in values
    assert any("ecsrds_ecs_services must be a list" in p and "'shop-api,shop-worker'" in p for p in problems)


def test_every_problem_is_listed_at_once():
    problems = problems_for(ecsrds_tags="team=shop", ecsrds_db_nmae="orders", ecsrds_db_port=70000, ecsrds_db_cluster_identifier="Shop_Orders_DB")
    assert len(problems) == 4, problems


@pytest.mark.parametrize("name, guess", [("ecsrds_db_nmae", "ecsrds_db_name"), ("ecsrds_db_prot", "ecsrds_db_port"), ("ecsrds_zzz", None)])
def test_unknown_names_suggest_the_nearest_known_one(name, guess):
    [problem] = problems_for(**{name: "x"})
    assert repr(name) in problem
    assert (f"did you mean {guess!r}" in problem) if guess else "did you mean" not in problem
    assert nearest("container", ["name", "container_name"]) == "container_name"


def test_an_unknown_input_that_looks_secret_is_named_without_its_value():
    [problem] = problems_for(ecsrds_db_password="hunter2-7c1e")
    assert "'ecsrds_db_password'" in problem and "hunter2-7c1e" not in problem
    [problem] = problems_for(ecsrds_db_nmae="orders")
    assert "'orders'" in problem


def test_only_undeclared_secret_looking_inputs_are_masked():
    inputs = {"ecsrds_db_secret_kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k", "database_password": "hunter2", "database_host": "db"}
    # A declared input whose name only looks secret (a key id) stays visible: masking it would hide it in every result.
    assert secret_unknown_values(inputs, ["ecsrds_db_secret_kms_key_id"]) == ["hunter2"]


def test_service_entries_take_a_name_and_a_container_name_only():
    services, _released, problems = check_inputs(PROFILES["site"], dict(GOOD, ecsrds_ecs_services=[
        {"name": "a", "container": "web"}, {"name": "b", "container_name": "worker"}, "c", {"container_name": "x"}, 7, "c"]), SPEC, region="r")[1:]
    assert [(s.name, s.container_name) for s in services] == [("b", "worker"), ("c", "app"), ("c", "app")]
    assert any("ecsrds_ecs_services[0]: key 'container'" in p and "'container_name'" in p for p in problems)
    assert any("ecsrds_ecs_services[3] needs a name" in p for p in problems)
    assert any("ecsrds_ecs_services[4] must be" in p and "7" in p for p in problems)
    assert any("names service 'c' twice" in p for p in problems)


@pytest.mark.parametrize("value, ok", [("shop-orders", True), ("a", True), ("Shop_Orders_DB", False), ("1db", False),
                                       ("db--x", False), ("db-", False), ("a" * 52, True), ("a" * 53, False)])
def test_cluster_identifier_rules(value, ok):
    assert (problems_for(ecsrds_db_cluster_identifier=value) == []) is ok


@pytest.mark.parametrize("value, ok", [(None, True), ("postgres", True), ("orders_1", True), ("orders-db", False), ("1orders", False), ("a" * 64, False)])
def test_database_name_rules_and_unset_is_allowed(value, ok):
    assert (problems_for(ecsrds_db_name=value) == []) is ok


@pytest.mark.parametrize("value, ok", [(5432, True), (1150, True), (65535, True), (1149, False), (70000, False), ("many", False), (True, False)])
def test_port_range_of_aurora(value, ok):
    assert (problems_for(ecsrds_db_port=value) == []) is ok


@pytest.mark.parametrize("cidrs, allow, ok", [
    (["10.0.0.0/16"], False, True), (["10.0.0.0/8"], False, False), (["0.0.0.0/0"], False, False), (["0.0.0.0/0"], True, True),
    (["::/0"], False, False), (["2600:1f18::/56"], False, True), (["10.0.0.0/33"], True, False), (["ten"], False, False),
])
def test_ingress_cidrs_must_parse_and_not_be_wider_than_a_vpc(cidrs, allow, ok):
    problems = problems_for(ecsrds_db_ingress_cidrs=cidrs, ecsrds_db_allow_wide_ingress=allow, ecsrds_db_ingress_source="cidr")
    assert (problems == []) is ok, problems
    if not ok:
        assert "ecsrds_db_ingress_cidrs" in problems[0] and repr(cidrs[0]) in problems[0]


def test_cidr_mode_needs_cidrs():
    assert any("ecsrds_db_ingress_cidrs is empty" in p for p in problems_for(ecsrds_db_ingress_source="cidr"))


@pytest.mark.parametrize("value, alias_ok, ok", [
    ("1234abcd-12ab-34cd-56ef-1234567890ab", False, True), ("mrk-1234567890abcdef1234567890abcdef", False, True),
    ("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", False, True),
    ("alias/shop", True, True), ("alias/shop", False, False), ("alias/aws/secretsmanager", False, True),
    ("arn:aws:kms:us-east-1:123456789012:alias/shop", False, False), ("my key", True, False),
])
def test_kms_key_forms(value, alias_ok, ok):
    assert (kms_key_problem("k", value, allow_alias=alias_ok) is None) is ok


def test_region_and_loopback_are_blamed_separately():
    site_spec = dict(SPEC, ecsrds_aws_endpoint_url={"type": "str"}, ecsrds_require_loopback_endpoint={"type": "bool"}, ecsrds_aws_region={"type": "str"})
    no_region = check_inputs(PROFILES["site"], GOOD, site_spec, region=None)[3]
    assert no_region == ["no AWS region: set ecsrds_aws_region (or AWS_REGION)"]
    remote = check_inputs(PROFILES["site"], dict(GOOD, ecsrds_require_loopback_endpoint=True, ecsrds_aws_endpoint_url="https://rds.amazonaws.com"),
                          site_spec, region="r")[3]
    assert len(remote) == 1 and "ecsrds_aws_endpoint_url 'https://rds.amazonaws.com'" in remote[0]


def test_monitoring_without_role_blames_only_the_monitoring_inputs():
    spec = dict(SPEC, ecsrds_db_monitoring_interval={"type": "int"}, ecsrds_db_monitoring_role_arn={"type": "str"})
    [problem] = check_inputs(PROFILES["site"], dict(GOOD, ecsrds_db_monitoring_interval=60), spec, region="r")[3]
    assert "ecsrds_db_monitoring_interval 60 needs ecsrds_db_monitoring_role_arn" in problem and "subnet" not in problem


def test_serverless_capacity_is_checked_and_named_as_written():
    spec = dict(SPEC, ecsrds_db_serverless_min_capacity={"type": "float"}, ecsrds_db_serverless_max_capacity={"type": "float"},
                ecsrds_db_seconds_until_auto_pause={"type": "int"})
    [problem] = check_inputs(PROFILES["site"], dict(GOOD, ecsrds_db_instance_class="db.serverless"), spec, region="r")[3]
    assert problem == "ecsrds_db_instance_class db.serverless needs ecsrds_db_serverless_min_capacity and ecsrds_db_serverless_max_capacity"
    [problem] = check_inputs(PROFILES["site"], dict(GOOD, ecsrds_db_instance_class="db.serverless", ecsrds_db_serverless_min_capacity=0.3,
                                                    ecsrds_db_serverless_max_capacity=8, ecsrds_db_seconds_until_auto_pause=600), spec, region="r")[3]
    assert "ecsrds_db_serverless_min_capacity 0.3 must be 0 to 256 ACUs in steps of 0.5" in problem
    assert "ecsrds_db_seconds_until_auto_pause needs ecsrds_db_serverless_min_capacity 0" in problem
    good = dict(GOOD, ecsrds_db_instance_class="db.serverless", ecsrds_db_serverless_min_capacity=0, ecsrds_db_serverless_max_capacity=4,
                ecsrds_db_seconds_until_auto_pause=600)
    assert check_inputs(PROFILES["site"], good, spec, region="r")[3] == []


def test_orderable_options_decide_only_when_the_answer_is_about_the_class():
    # AWS answers DescribeOrderableDBInstanceOptions(DBInstanceClass=...) with that class only, or nothing.
    assert orderable_answer([{"DBInstanceClass": "db.r6g.large", "EngineVersion": "16.4"}], "db.r6g.large") is True
    assert orderable_answer([], "db.rg5.large") is False
    # moto ignores the class filter: the answer says nothing about the class asked.
    assert orderable_answer([{"DBInstanceClass": "db.r4.16xlarge"}], "db.rg5.large") is None


def test_subnets_in_one_zone_are_refused():
    one = [{"SubnetId": "subnet-a", "AvailabilityZone": "eu-west-1a"}, {"SubnetId": "subnet-b", "AvailabilityZone": "eu-west-1a"}]
    assert "span 1 Availability Zone" in subnet_zone_problem("database_subnet_ids", one)
    assert subnet_zone_problem("x", one[:1] + [{"SubnetId": "subnet-c", "AvailabilityZone": "eu-west-1b"}]) is None


class FakeAws:
    """Answers shaped like AWS's documented responses; any write fails the test."""

    def __init__(self, orderable=None):
        self.calls = []
        self.orderable = orderable

    def __call__(self, service):
        return self

    def _record(self, name):
        self.calls.append(name)

    def describe_services(self, cluster, services, aws_retry=False):
        self._record("DescribeServices")
        if cluster != "shop":
            # ECS answers DescribeServices in a missing (or INACTIVE) cluster with ClusterNotFoundException.
            from botocore.exceptions import ClientError
            raise ClientError({"Error": {"Code": "ClusterNotFoundException", "Message": "Cluster not found."}}, "DescribeServices")
        known = {
            "shop-api": {"serviceName": "shop-api", "status": "ACTIVE", "taskDefinition": "arn:td/shop-api:3",
                         "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-1"]}}},
            "legacy": {"serviceName": "legacy", "status": "ACTIVE", "taskDefinition": "arn:td/legacy:1"},
        }
        found = [known[name] for name in services if name in known]
        return {"services": found, "failures": [{"arn": name, "reason": "MISSING"} for name in services if name not in known]}

    tags = []

    def describe_task_definition(self, taskDefinition, include=None, aws_retry=False):
        self._record("DescribeTaskDefinition")
        return {"taskDefinition": {"family": "shop-api", "revision": 3, "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
                                   "containerDefinitions": [{"name": "app"}, {"name": "envoy"}]},
                "tags": self.tags if include == ["TAGS"] else []}

    def get_role(self, RoleName, aws_retry=False):
        self._record("GetRole")
        return {"Role": {"RoleName": RoleName}}

    def describe_subnets(self, SubnetIds, aws_retry=False):
        self._record("DescribeSubnets")
        return {"Subnets": [{"SubnetId": s, "AvailabilityZone": f"eu-west-1{chr(97 + i)}", "CidrBlock": f"10.0.{i}.0/24", "VpcId": "vpc-1"}
                            for i, s in enumerate(SubnetIds)]}

    def describe_orderable_db_instance_options(self, Engine, DBInstanceClass, MaxRecords, aws_retry=False):
        self._record("DescribeOrderableDBInstanceOptions")
        return {"OrderableDBInstanceOptions": self.orderable if self.orderable is not None else [{"DBInstanceClass": DBInstanceClass}]}


def test_facts_name_containers_services_and_instance_class_with_reads_only():
    aws = FakeAws(orderable=[])
    spec = dict(SPEC, ecsrds_container_name={"type": "str"})
    inputs = dict(GOOD, ecsrds_ecs_services=[{"name": "shop-api", "container_name": "webb"}, "legacy", "gone"], ecsrds_db_instance_class="db.r6g.large")
    problems, _facts = validate(aws, "site", inputs, spec, region="eu-west-1")
    assert any("ecsrds_ecs_services[0].container_name 'webb'" in p and "app, envoy" in p for p in problems), problems
    assert any("'legacy' does not use the awsvpc" in p for p in problems)
    assert any("'gone' is not an ACTIVE service of ECS cluster 'shop'" in p for p in problems)
    assert any("ecsrds_db_instance_class 'db.r6g.large' is not offered" in p for p in problems)
    assert all(call.startswith(("Describe", "Get")) for call in aws.calls)


def test_facts_pass_on_a_good_account_and_return_what_the_services_run():
    aws = FakeAws()
    problems, facts = validate(aws, "site", dict(GOOD, ecsrds_db_instance_class="db.future.large"), SPEC, region="eu-west-1")
    assert problems == []
    assert facts["discovered"]["services"]["shop-api"]["task_definition"] == "arn:td/shop-api:3"
    assert facts["discovered"]["subnets"][1] == {"subnet_id": "subnet-b", "availability_zone": "eu-west-1b", "cidr_block": "10.0.1.0/24", "vpc_id": "vpc-1"}
    # One read of each thing: the cluster is checked by DescribeServices itself, no DescribeClusters.
    assert aws.calls == ["DescribeServices", "DescribeTaskDefinition", "GetRole", "DescribeSubnets", "DescribeOrderableDBInstanceOptions"]


def test_missing_cluster_is_named_and_no_region_asks_nothing():
    aws = FakeAws()
    problems = validate(aws, "site", dict(GOOD, ecsrds_ecs_cluster="nope"), SPEC, region="eu-west-1")[0]
    assert any("ecsrds_ecs_cluster 'nope'" in p for p in problems)
    quiet = FakeAws()
    validate(quiet, "site", GOOD, dict(SPEC, ecsrds_aws_region={"type": "str"}), region=None)
    assert quiet.calls == []


def test_fact_checker_refuses_a_missing_execution_role():
    class NoRole(FakeAws):
        def get_role(self, RoleName, aws_retry=False):
            from botocore.exceptions import ClientError
            raise ClientError({"Error": {"Code": "NoSuchEntity", "Message": "The role with name exec cannot be found."}}, "GetRole")

    checker = FactChecker(NoRole(), PROFILES["site"], {"ecsrds_ecs_cluster": "shop"}, [Service("shop-api", "app", "ecsrds_container_name")])
    problems = checker.run()[0]
    assert any("execution role arn:aws:iam::123456789012:role/exec does not exist" in p for p in problems)


def test_rotation_role_inputs_are_checked_under_their_own_names():
    spec = {"rotation_ecs_cluster": {"type": "str"}, "rotation_ecs_services": {"type": "list", "elements": "str"},
            "rotation_db_cluster_identifier": {"type": "str"}, "rotation_secret_arn": {"type": "str"},
            "rotation_secret_rotation_days": {"type": "int"}}
    good = {"rotation_ecs_cluster": "c", "rotation_ecs_services": ["svc"], "rotation_db_cluster_identifier": "orders-db",
            "rotation_secret_arn": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-1-AbCdEf",
            "rotation_secret_rotation_days": "30"}
    assert check_inputs(PROFILES["rotation"], good, spec, region="eu-west-1")[3] == []
    problems = check_inputs(PROFILES["rotation"], dict(good, rotation_secret_rotation_days=0, rotation_ecs_services="a,b"), spec, region="eu-west-1")[3]
    assert len(problems) == 2
    assert any(p.startswith("rotation_secret_rotation_days 0 is out of range") for p in problems), problems
    assert any(p.startswith("rotation_ecs_services must be a list") for p in problems), problems


def test_a_revision_this_collection_registered_does_not_have_its_execution_role_read_again():
    aws = FakeAws()
    aws.tags = [{"key": "ecsrds.connect/created-by", "value": "orders-db"}]
    problems = validate(aws, "site", GOOD, SPEC, region="eu-west-1")[0]
    assert problems == []
    assert "GetRole" not in aws.calls and "DescribeTaskDefinition" in aws.calls


class RdsAndKms(FakeAws):
    """DescribeDBEngineVersions and DescribeKey as AWS answers them (moto has no DescribeDBEngineVersions)."""

    versions = {"aurora-postgresql16": ["16.1", "16.4", "16.6"], "aurora-postgresql15": ["15.10"]}

    def describe_db_engine_versions(self, Engine, MaxRecords, aws_retry=False, EngineVersion=None, DBParameterGroupFamily=None):
        self._record("DescribeDBEngineVersions")
        listed = [{"Engine": Engine, "EngineVersion": v, "DBParameterGroupFamily": family}
                  for family, versions in self.versions.items() for v in versions]
        if EngineVersion:
            listed = [v for v in listed if v["EngineVersion"] == EngineVersion]
        if DBParameterGroupFamily:
            listed = [v for v in listed if v["DBParameterGroupFamily"] == DBParameterGroupFamily]
        return {"DBEngineVersions": listed}

    def describe_key(self, KeyId, aws_retry=False):
        self._record("DescribeKey")
        from botocore.exceptions import ClientError
        keys = {"alias/payments": "Enabled", "alias/retired": "PendingDeletion"}
        if KeyId not in keys:
            raise ClientError({"Error": {"Code": "NotFoundException", "Message": f"Alias arn:aws:kms:eu-west-1:111122223333:{KeyId} is not found."}},
                              "DescribeKey")
        return {"KeyMetadata": {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "KeyState": keys[KeyId], "KeyManager": "CUSTOMER"}}


@pytest.mark.parametrize("version, key, named", [
    ("16.4", "alias/payments", []),
    ("16", None, []),
    ("16.99", None, ["ecsrds_db_engine_version '16.99' is not an aurora-postgresql engine version RDS offers"]),
    ("12", None, ["ecsrds_db_engine_version '12' is not an aurora-postgresql engine version RDS offers"]),
    (None, "alias/payment", ["ecsrds_db_secret_kms_key_id 'alias/payment': no such KMS key"]),
    (None, "alias/retired", ["ecsrds_db_secret_kms_key_id 'alias/retired': the KMS key is PendingDeletion"]),
])
def test_a_version_or_key_that_does_not_exist_is_named_before_any_write(version, key, named):
    aws = RdsAndKms()
    spec = dict(SPEC, ecsrds_db_engine_version={"type": "str"}, ecsrds_db_secret_kms_key_id={"type": "str"})
    inputs = dict(GOOD, ecsrds_db_engine_version=version, ecsrds_db_secret_kms_key_id=key)
    problems = validate(aws, "site", inputs, spec, region="eu-west-1")[0]
    assert [p for p in problems if "engine_version" in p or "kms_key" in p] == [p for p in problems if any(p.startswith(n) for n in named)]
    assert all(any(p.startswith(n) for p in problems) for n in named), problems
    # One read each, only when the input is set; the AWS managed key is not looked for.
    assert aws.calls.count("DescribeDBEngineVersions") == (1 if version else 0) and aws.calls.count("DescribeKey") == (1 if key else 0)


def test_the_aws_managed_key_and_an_unanswered_version_are_left_to_rds():
    class Unanswered(RdsAndKms):
        def describe_db_engine_versions(self, **kwargs):
            from botocore.exceptions import ClientError
            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "not implemented"}}, "DescribeDBEngineVersions")

    aws = Unanswered()
    spec = dict(SPEC, ecsrds_db_engine_version={"type": "str"}, ecsrds_db_secret_kms_key_id={"type": "str"})
    problems = validate(aws, "site", dict(GOOD, ecsrds_db_engine_version="16.99", ecsrds_db_secret_kms_key_id="alias/aws/secretsmanager"),
                        spec, region="eu-west-1")[0]
    assert problems == [] and "DescribeKey" not in aws.calls


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-0b1c2d3e-AbCdEf"


class SharedSecretAccount(FakeAws):
    """A cluster with a managed secret and an ECS cluster of three services, answered as AWS does:
    DescribeDBClusters with MasterUserSecret, ListServices' ARNs, each running revision's containers."""

    revisions = {
        "arn:td/shop-api:3": [{"name": "app", "secrets": [{"name": "DATABASE_PASSWORD", "valueFrom": f"{SECRET_ARN}:password::"}]}],
        "arn:td/shop-worker:7": [{"name": "worker", "secrets": [{"name": "DATABASE_USERNAME", "valueFrom": f"{SECRET_ARN}:username::"}]}],
        "arn:td/reports:2": [{"name": "app", "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:eu-west-1:111122223333:parameter/t"}]}],
    }

    def describe_db_clusters(self, DBClusterIdentifier, aws_retry=False):
        self._record("DescribeDBClusters")
        return {"DBClusters": [{"DBClusterIdentifier": DBClusterIdentifier, "MasterUserSecret": {"SecretArn": SECRET_ARN, "SecretStatus": "active"}}]}

    def get_paginator(self, name):
        assert name == "list_services"
        self._record("ListServices")
        arns = [f"arn:aws:ecs:eu-west-1:111122223333:service/shop/{n}" for n in ("shop-api", "shop-worker", "reports")]

        class Pages:
            def paginate(self, cluster):
                return types.SimpleNamespace(build_full_result=lambda: {"serviceArns": arns})

        return Pages()

    def describe_services(self, cluster, services, aws_retry=False):
        self._record("DescribeServices")
        running = {"shop-api": "arn:td/shop-api:3", "shop-worker": "arn:td/shop-worker:7", "reports": "arn:td/reports:2"}
        names = [s.rsplit("/", 1)[-1] for s in services]
        return {"services": [{"serviceName": n, "serviceArn": f"arn:aws:ecs:eu-west-1:111122223333:service/shop/{n}", "status": "ACTIVE",
                              "taskDefinition": running[n]} for n in names if n in running], "failures": []}

    def describe_task_definition(self, taskDefinition, include=None, aws_retry=False):
        self._record("DescribeTaskDefinition")
        family, revision = taskDefinition.rsplit("/", 1)[-1].split(":")
        return {"taskDefinition": {"family": family, "revision": int(revision), "containerDefinitions": self.revisions[taskDefinition]},
                "tags": []}


def test_teardown_takes_the_wiring_out_of_a_service_left_out_that_still_reads_the_secret():
    aws = SharedSecretAccount()
    spec = dict(SPEC, ecsrds_db_cluster_identifier={"type": "str"})
    problems, result = validate(aws, "teardown", dict(GOOD, ecsrds_ecs_services=["shop-api"], ecsrds_db_cluster_identifier="shop-db"), spec,
                                region="eu-west-1")
    # The worker reads the secret and is not listed: teardown unwires it too (its container, and the
    # variable reading the secret under a name of its own). reports reads another parameter; shop-api is listed.
    assert problems == []
    assert result["discovered"]["secret_users"] == {
        "shop-worker": {"task_definition": "arn:td/shop-worker:7", "container_name": "worker", "variables": ["DATABASE_USERNAME"]}}
    assert all(call.startswith(("Describe", "List")) for call in aws.calls)
    listed = validate(SharedSecretAccount(), "teardown", dict(GOOD, ecsrds_ecs_services=["shop-api", "shop-worker"],
                                                              ecsrds_db_cluster_identifier="shop-db"), spec, region="eu-west-1")
    assert listed[0] == [] and listed[1]["discovered"]["secret_users"] == {}


@pytest.mark.parametrize("revision, tags, named", [
    # Another deployment sharing the database wired it (its revision carries that deployment's tag): its to unwire.
    ([{"name": "worker", "secrets": [{"name": "DATABASE_PASSWORD", "valueFrom": SECRET_ARN}]}],
     [{"key": "ecsrds.connect/created-by", "value": "reports-deployment"}], "wired by deployment 'reports-deployment'"),
    ([{"name": "worker", "secrets": [{"name": "DATABASE_PASSWORD", "valueFrom": SECRET_ARN}]},
      {"name": "sidecar", "secrets": [{"name": "PGPASSWORD", "valueFrom": f"{SECRET_ARN}:password:AWSCURRENT:"}]}], [], "containers sidecar, worker"),
])
def test_teardown_stops_for_a_reader_it_cannot_unwire(revision, tags, named):
    class Account(SharedSecretAccount):
        revisions = dict(SharedSecretAccount.revisions, **{"arn:td/shop-worker:7": revision})

        def describe_task_definition(self, taskDefinition, include=None, aws_retry=False):
            answer = super().describe_task_definition(taskDefinition, include, aws_retry)
            return dict(answer, tags=tags if taskDefinition.endswith("shop-worker:7") else [])

    spec = dict(SPEC, ecsrds_db_cluster_identifier={"type": "str"})
    [problem] = validate(Account(), "teardown", dict(GOOD, ecsrds_ecs_services=["shop-api"], ecsrds_db_cluster_identifier="shop-db"), spec,
                         region="eu-west-1")[0]
    assert problem.startswith("ecsrds_ecs_services leaves out service 'shop-worker'") and "shop-worker:7" in problem and named in problem, problem


def test_a_service_to_release_is_looked_at_and_never_also_wired():
    spec = dict(SPEC, ecsrds_db_cluster_identifier={"type": "str"}, ecsrds_release_services={"type": "list", "elements": "raw"})
    both = check_inputs(PROFILES["site"], dict(GOOD, ecsrds_release_services=["shop-api", {"name": "x", "container": "w"}]), spec, region="r")[3]
    assert any("ecsrds_release_services names service 'shop-api', which ecsrds_ecs_services lists too" in p for p in both), both
    assert any("ecsrds_release_services[1]: key 'container' is not known, did you mean 'container_name'?" in p for p in both), both

    aws = SharedSecretAccount()
    inputs = dict(GOOD, ecsrds_ecs_cluster="shop", ecsrds_ecs_services=["reports"], ecsrds_db_cluster_identifier="shop-db",
                  ecsrds_release_services=[{"name": "shop-worker", "container_name": "worker"}, "shop-api", "long-gone"])
    problems, result = validate(aws, "site", inputs, spec, region="eu-west-1", with_facts=True)
    released = result["discovered"]["released"]
    # shop-api reads the secret, but in container app, the default: wired. A service that is gone has nothing to release.
    assert released == {"shop-worker": {"task_definition": "arn:td/shop-worker:7", "container_name": "worker", "wired": True},
                        "shop-api": {"task_definition": "arn:td/shop-api:3", "container_name": "app", "wired": True}}, (problems, released)
    assert all(call.startswith(("Describe", "List")) for call in aws.calls)

    class Unwired(SharedSecretAccount):
        revisions = dict(SharedSecretAccount.revisions, **{"arn:td/shop-worker:7": [{"name": "worker", "environment": [{"name": "Q", "value": "jobs"}]}]})

    again = validate(Unwired(), "site", dict(inputs, ecsrds_release_services=[{"name": "shop-worker", "container_name": "worker"}]), spec,
                     region="eu-west-1")[1]["discovered"]["released"]
    assert again == {"shop-worker": {"task_definition": "arn:td/shop-worker:7", "container_name": "worker", "wired": False}}


def test_a_reader_this_deployment_wired_is_known_by_its_tag_as_the_service_role_writes_it():
    # ECS tag values take [A-Za-z0-9._-] only: the service role tags its revisions with the deployment id
    # in those characters (ownership.service_deployment_id), and teardown must recognise that tag as its own.
    class Account(SharedSecretAccount):
        def describe_task_definition(self, taskDefinition, include=None, aws_retry=False):
            answer = super().describe_task_definition(taskDefinition, include, aws_retry)
            return dict(answer, tags=[{"key": "ecsrds.connect/created-by", "value": "team-a-b"}] if taskDefinition.endswith("shop-worker:7") else [])

    spec = dict(SPEC, ecsrds_db_cluster_identifier={"type": "str"}, ecsrds_deployment_id={"type": "str"})
    problems, result = validate(Account(), "teardown", dict(GOOD, ecsrds_ecs_services=["shop-api"], ecsrds_db_cluster_identifier="shop-db",
                                                            ecsrds_deployment_id="team@a b"), spec, region="eu-west-1")
    assert problems == [] and list(result["discovered"]["secret_users"]) == ["shop-worker"], problems
