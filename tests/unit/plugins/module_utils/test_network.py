"""network: NAT detection, rule matching, one subnet per zone, and the endpoint / security group
jobs against a fake EC2 client (check mode writes nothing, no-op makes no write)."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.network import (
    ENDPOINT_RULE_DESCRIPTION,
    MANAGED_TAG_KEY,
    NetworkClient,
    SecretsManagerEndpoint,
    all_subnets_use_nat,
    missing_ingress,
    one_subnet_per_az,
    permissions_with_description,
    run_endpoint,
    run_security_group_ingress,
    validate_endpoint_params,
    validate_ingress_params,
)

SUBNETS = [
    {"SubnetId": "subnet-a", "AvailabilityZone": "us-east-1a", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24"},
    {"SubnetId": "subnet-b", "AvailabilityZone": "us-east-1b", "VpcId": "vpc-1", "CidrBlock": "10.0.2.0/24"},
]
SERVICE_SG = "sg-service"


def tcp(port, groups=(), cidrs=(), description=None, to_port=None):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": to_port or port,
            "UserIdGroupPairs": [{"GroupId": g, "Description": description} for g in groups],
            "IpRanges": [{"CidrIp": c, "Description": description} for c in cidrs]}


def test_one_subnet_per_az_keeps_the_first_of_each_zone():
    third = {"SubnetId": "subnet-c", "AvailabilityZone": "us-east-1a", "VpcId": "vpc-1", "CidrBlock": "10.0.3.0/24"}
    assert one_subnet_per_az([third] + SUBNETS) == ["subnet-c", "subnet-b"]


def test_nat_detection_uses_explicit_association_then_main_table():
    main = {"Associations": [{"Main": True}], "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"}]}
    private = {"Associations": [{"SubnetId": "subnet-a"}], "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}]}
    assert all_subnets_use_nat(SUBNETS[1:], [main, private]) is True
    assert all_subnets_use_nat(SUBNETS, [main, private]) is False
    blackhole = copy.deepcopy(main)
    blackhole["Routes"][0]["State"] = "blackhole"
    assert all_subnets_use_nat(SUBNETS[1:], [blackhole]) is False
    igw = {"Associations": [{"Main": True}], "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1"}]}
    assert all_subnets_use_nat(SUBNETS, [igw]) is False
    assert all_subnets_use_nat([], [main]) is False


@pytest.mark.parametrize(
    "permissions, missing",
    [
        ([], ([SERVICE_SG], [])),
        ([tcp(443, groups=[SERVICE_SG])], ([], [])),
        ([tcp(443, groups=["sg-other"])], ([SERVICE_SG], [])),
        ([tcp(1024, to_port=8080, groups=[SERVICE_SG])], ([SERVICE_SG], [])),
        ([tcp(0, to_port=65535, groups=[SERVICE_SG])], ([], [])),
        ([{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": SERVICE_SG}]}], ([], [])),
        ([{"IpProtocol": "udp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": SERVICE_SG}]}], ([SERVICE_SG], [])),
        # The walk-through's rule: 443 from the VPC range covers both service subnets.
        ([tcp(443, cidrs=["10.0.0.0/16"])], ([], [])),
        # A range that covers only one of the subnets does not.
        ([tcp(443, cidrs=["10.0.1.0/24"])], ([SERVICE_SG], [])),
    ],
)
def test_missing_ingress_for_a_source_group(permissions, missing):
    groups = [{"GroupId": "sg-endpoint", "IpPermissions": permissions}]
    assert missing_ingress(groups, 443, [SERVICE_SG], [], ["10.0.1.0/24", "10.0.2.0/24"]) == missing


def test_missing_ingress_for_cidrs_and_without_subnet_ranges():
    groups = [{"IpPermissions": [tcp(5432, cidrs=["10.0.0.0/16"])]}]
    assert missing_ingress(groups, 5432, [], ["10.0.5.0/24", "192.168.0.0/24"]) == ([], ["192.168.0.0/24"])
    # Without the subnets' ranges, a CIDR rule never stands in for a group.
    assert missing_ingress(groups, 5432, [SERVICE_SG], []) == ([SERVICE_SG], [])


def test_permissions_with_description_picks_only_ours():
    group = {"IpPermissions": [{**tcp(5432, groups=[SERVICE_SG], description="ours"),
                                "IpRanges": [{"CidrIp": "10.9.0.0/16", "Description": "bastion"}]}]}
    assert permissions_with_description(group, "ours") == [
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": SERVICE_SG, "Description": "ours"}]}]
    assert permissions_with_description(group, "nobody") == []


def params(**overrides):
    base = dict(state="present", subnet_ids=["subnet-a", "subnet-b"], vpc_id=None, source_security_group_ids=[SERVICE_SG],
                source_cidrs=[], skip_when_nat=True, manage_vpc_dns=True, name="sm", security_group_name="sm-sg",
                security_group_description="d", rule_description=ENDPOINT_RULE_DESCRIPTION, tags={"app": "demo"},
                managed_by="ecsrds.connect.network", client_token=None, wait=True, wait_timeout=5)
    base.update(overrides)
    return base


def test_parameter_checks_name_the_option():
    assert "subnet_ids" in validate_endpoint_params(params(subnet_ids=[]))
    assert "source_security_group_ids" in validate_endpoint_params(params(source_security_group_ids=[]))
    assert "source_cidrs" in validate_endpoint_params(params(source_cidrs=["10.0.0.0/33"]))
    assert validate_endpoint_params(params()) is None
    sg = dict(state="present", port=70000, source_security_group_ids=["sg-1"], source_cidrs=[])
    assert "port" in validate_ingress_params(sg)
    assert "source_security_group_ids" in validate_ingress_params(dict(sg, port=5432, source_security_group_ids=[]))


class FakeEC2:
    """Just enough EC2 for the jobs; records every call."""

    def __init__(self, dns=(True, True), endpoints=(), groups=(), route_tables=()):
        self.calls = []
        self.dns = {"enableDnsSupport": dns[0], "enableDnsHostnames": dns[1]}
        self.endpoints = [copy.deepcopy(e) for e in endpoints]
        self.groups = [copy.deepcopy(g) for g in groups]
        self.route_tables = list(route_tables)

    def _record(self, name, kwargs):
        kwargs.pop("aws_retry", None)
        self.calls.append((name, kwargs))

    def describe_subnets(self, **kw):
        self._record("describe_subnets", kw)
        return {"Subnets": [s for s in SUBNETS if s["SubnetId"] in kw["SubnetIds"]]}

    def describe_route_tables(self, **kw):
        self._record("describe_route_tables", kw)
        return {"RouteTables": self.route_tables}

    def describe_vpc_attribute(self, **kw):
        self._record("describe_vpc_attribute", kw)
        attribute = kw["Attribute"]
        return {attribute[0].upper() + attribute[1:]: {"Value": self.dns[attribute]}}

    def describe_vpc_endpoints(self, **kw):
        self._record("describe_vpc_endpoints", kw)
        if "VpcEndpointIds" in kw:
            return {"VpcEndpoints": [e for e in self.endpoints if e["VpcEndpointId"] in kw["VpcEndpointIds"]]}
        return {"VpcEndpoints": self.endpoints}

    def describe_security_groups(self, **kw):
        self._record("describe_security_groups", kw)
        if "GroupIds" in kw:
            return {"SecurityGroups": [g for g in self.groups if g["GroupId"] in kw["GroupIds"]]}
        names = [f["Values"][0] for f in kw.get("Filters", []) if f["Name"] == "group-name"]
        return {"SecurityGroups": [g for g in self.groups if not names or g["GroupName"] in names]}

    def __getattr__(self, name):
        # Every other call is a write: record it and answer like AWS would.
        def write(**kw):
            self._record(name, kw)
            if name == "create_security_group":
                self.groups.append({"GroupId": "sg-new", "GroupName": kw["GroupName"], "VpcId": kw["VpcId"], "IpPermissions": [],
                                    "Tags": kw["TagSpecifications"][0]["Tags"]})
                return {"GroupId": "sg-new"}
            if name == "create_vpc_endpoint":
                endpoint = {"VpcEndpointId": "vpce-new", "VpcEndpointType": "Interface", "ServiceName": kw["ServiceName"], "VpcId": kw["VpcId"],
                            "SubnetIds": kw["SubnetIds"], "Groups": [{"GroupId": g} for g in kw["SecurityGroupIds"]],
                            "PrivateDnsEnabled": True, "State": "available", "Tags": kw["TagSpecifications"][0]["Tags"]}
                self.endpoints.append(endpoint)
                return {"VpcEndpoint": endpoint}
            return {}
        return write

    @property
    def writes(self):
        return [name for name, _kwargs in self.calls if not name.startswith("describe_")]


def run(fake, check_mode=False, **overrides):
    return run_endpoint(NetworkClient(fake), "us-east-1", params(**overrides), check_mode)


def test_creates_group_rule_and_endpoint_then_is_a_no_op():
    fake = FakeEC2()
    changed, result, _actions = run(fake)
    assert changed and fake.writes == ["create_security_group", "authorize_security_group_ingress", "create_vpc_endpoint"]
    create = dict(fake.calls)["create_vpc_endpoint"]
    assert create["ServiceName"] == "com.amazonaws.us-east-1.secretsmanager" and create["PrivateDnsEnabled"] is True
    assert create["SubnetIds"] == ["subnet-a", "subnet-b"] and create["SecurityGroupIds"] == ["sg-new"]
    assert {"Key": MANAGED_TAG_KEY, "Value": "ecsrds.connect.network"} in create["TagSpecifications"][0]["Tags"]
    assert result["endpoint"]["vpc_endpoint_id"] == "vpce-new"

    fake.groups[0]["IpPermissions"] = [tcp(443, groups=[SERVICE_SG], description=ENDPOINT_RULE_DESCRIPTION)]
    fake.calls.clear()
    changed, result, actions = run(fake)
    assert (changed, fake.writes, actions) == (False, [], [])
    # The endpoint's own group is described once, the VPC's groups not at all.
    assert [name for name, _kwargs in fake.calls].count("describe_security_groups") == 1


def test_check_mode_plans_without_writing():
    fake = FakeEC2(dns=(True, False))
    changed, result, actions = run(fake, check_mode=True)
    assert changed and fake.writes == []
    assert result["endpoint"] is None and result["would_create"] is True and result["security_group_id"] is None
    assert any("enableDnsHostnames" in a for a in actions)


def test_vpc_dns_off_fails_naming_the_attribute_unless_managed():
    fake = FakeEC2(dns=(False, False))
    with pytest.raises(EcsRdsError, match="enableDnsSupport and enableDnsHostnames.*manage_vpc_dns"):
        run(fake, manage_vpc_dns=False)
    assert fake.writes == []
    run(fake)
    # Support first: AWS refuses hostnames without it.
    assert [kw for name, kw in fake.calls if name == "modify_vpc_attribute"] == [
        {"VpcId": "vpc-1", "EnableDnsSupport": {"Value": True}}, {"VpcId": "vpc-1", "EnableDnsHostnames": {"Value": True}}]


def test_skips_behind_nat_only_when_no_endpoint_exists():
    nat = {"Associations": [{"Main": True}], "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1"}]}
    fake = FakeEC2(route_tables=[nat])
    changed, result, _actions = run(fake)
    assert (changed, result["skipped"], fake.writes) == (False, True, [])
    _changed, result, _actions = run(FakeEC2(route_tables=[nat]), skip_when_nat=False)
    assert result["skipped"] is False and result["endpoint"]["vpc_endpoint_id"] == "vpce-new"


def test_reuses_an_existing_endpoint():
    existing = {"VpcEndpointId": "vpce-old", "VpcEndpointType": "Interface", "ServiceName": "com.amazonaws.us-east-1.secretsmanager",
                "VpcId": "vpc-1", "SubnetIds": ["subnet-a"], "Groups": [{"GroupId": SERVICE_SG}], "PrivateDnsEnabled": False,
                "State": "available", "Tags": []}
    service_group = {"GroupId": SERVICE_SG, "GroupName": "svc", "IpPermissions": [tcp(8080, cidrs=["10.0.0.0/16"])]}
    fake = FakeEC2(endpoints=[existing], groups=[service_group])
    changed, result, _actions = run(fake)
    assert changed and fake.writes == ["authorize_security_group_ingress", "modify_vpc_endpoint"]
    calls = dict(fake.calls)
    assert calls["modify_vpc_endpoint"] == {"VpcEndpointId": "vpce-old", "PrivateDnsEnabled": True, "AddSubnetIds": ["subnet-b"]}
    assert calls["authorize_security_group_ingress"]["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == SERVICE_SG
    assert result["security_group_id"] == SERVICE_SG


def test_absent_deletes_only_what_is_ours():
    ours = {"VpcEndpointId": "vpce-ours", "ServiceName": "x", "VpcId": "vpc-1", "State": "available", "Groups": [{"GroupId": "sg-new"}],
            "Tags": [{"Key": MANAGED_TAG_KEY, "Value": "ecsrds.connect.network"}]}
    group = {"GroupId": "sg-new", "GroupName": "sm-sg", "IpPermissions": [], "Tags": [{"Key": MANAGED_TAG_KEY, "Value": "x"}]}
    fake = FakeEC2(endpoints=[ours], groups=[group])
    fake.describe_vpc_endpoints = lambda **kw: (fake._record("describe_vpc_endpoints", kw),
                                                {"VpcEndpoints": [] if "VpcEndpointIds" in kw else [ours]})[1]
    changed, result, _actions = run(fake, state="absent", vpc_id="vpc-1")
    assert changed and fake.writes == ["delete_vpc_endpoints", "delete_security_group"]
    assert result["deleted_endpoint_ids"] == ["vpce-ours"]


def sg_params(**overrides):
    base = dict(name="demo-rds-sg", vpc_id="vpc-1", description="d", port=5432, source_security_group_ids=[SERVICE_SG],
                source_cidrs=None, rule_description="ours", tags={"app": "demo"}, managed_by="ecsrds.connect.network", state="present")
    base.update(overrides)
    return base


def test_security_group_ingress_adds_only_what_is_missing():
    existing = {"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "IpPermissions": [tcp(5432, cidrs=["10.9.0.0/16"])], "Tags": []}
    fake = FakeEC2(groups=[existing])
    changed, result, _actions = run_security_group_ingress(NetworkClient(fake), sg_params(), True)
    assert changed and fake.writes == [] and result["group_id"] == "sg-db" and result["would_create"] is False
    changed, result, _actions = run_security_group_ingress(NetworkClient(fake), sg_params(), False)
    assert fake.writes == ["authorize_security_group_ingress"]
    fake.groups[0]["IpPermissions"].append(tcp(5432, groups=[SERVICE_SG], description="ours"))
    fake.calls.clear()
    changed, _result, _actions = run_security_group_ingress(NetworkClient(fake), sg_params(), False)
    assert (changed, fake.writes, len(fake.calls)) == (False, [], 1)


def test_security_group_ingress_creates_tagged_group_and_absent_respects_ownership():
    fake = FakeEC2()
    changed, result, _actions = run_security_group_ingress(NetworkClient(fake), sg_params(), True)
    assert changed and fake.writes == [] and result["group_id"] is None and result["would_create"] is True
    run_security_group_ingress(NetworkClient(fake), sg_params(), False)
    tags = dict(fake.calls)["create_security_group"]["TagSpecifications"][0]["Tags"]
    assert {"Key": MANAGED_TAG_KEY, "Value": "ecsrds.connect.network"} in tags and {"Key": "Name", "Value": "demo-rds-sg"} in tags

    foreign = {"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "Tags": [],
               "IpPermissions": [tcp(5432, groups=[SERVICE_SG], description="ours"), tcp(5432, cidrs=["10.9.0.0/16"], description="bastion")]}
    fake = FakeEC2(groups=[foreign])
    changed, result, _actions = run_security_group_ingress(NetworkClient(fake), sg_params(state="absent"), False)
    assert changed and fake.writes == ["revoke_security_group_ingress"] and result["deleted_group_ids"] == []
    assert dict(fake.calls)["revoke_security_group_ingress"]["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == SERVICE_SG


def test_a_duplicate_after_a_lost_response_adopts_the_group():
    from botocore.exceptions import ClientError

    class DuplicateOnCreate(FakeEC2):
        """The first attempt's response was lost: the group exists and the retry is refused."""

        def __init__(self, first_attempt_landed):
            super().__init__()
            self.first_attempt_landed = first_attempt_landed

        def create_security_group(self, **kw):
            self._record("create_security_group", kw)
            if self.first_attempt_landed:
                self.groups.append({"GroupId": "sg-first", "GroupName": kw["GroupName"], "VpcId": kw["VpcId"], "IpPermissions": []})
            raise ClientError({"Error": {"Code": "InvalidGroup.Duplicate", "Message": "exists"}}, "CreateSecurityGroup")

    assert NetworkClient(DuplicateOnCreate(True)).create_security_group("demo-rds-sg", "d", "vpc-1", {}) == "sg-first"
    with pytest.raises(EcsRdsError, match="Failed to create security group demo-rds-sg"):
        NetworkClient(DuplicateOnCreate(False)).create_security_group("demo-rds-sg", "d", "vpc-1", {})


def test_tags_follow_the_inputs_only_on_what_we_created():
    ours = {"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "IpPermissions": [tcp(5432, groups=[SERVICE_SG])],
            "Tags": [{"Key": MANAGED_TAG_KEY, "Value": "ecsrds.connect.network"}, {"Key": "Name", "Value": "demo-rds-sg"}, {"Key": "keep", "Value": "x"}]}
    fake = FakeEC2(groups=[ours])
    changed, _result, actions = run_security_group_ingress(NetworkClient(fake), sg_params(tags={"app": "demo"}), False)
    assert changed and fake.writes == ["create_tags"], actions
    assert dict(fake.calls)["create_tags"] == {"Resources": ["sg-db"], "Tags": [{"Key": "app", "Value": "demo"}]}

    foreign = dict(ours, Tags=[{"Key": "Name", "Value": "demo-rds-sg"}])
    fake = FakeEC2(groups=[foreign])
    changed, _result, _actions = run_security_group_ingress(NetworkClient(fake), sg_params(tags={"app": "demo"}), False)
    assert (changed, fake.writes) == (False, [])


class PendingEC2(FakeEC2):
    """CreateVpcEndpoint and ModifyVpcEndpoint leave the endpoint `pending` (as AWS does) for
    ``pending_looks`` DescribeVpcEndpoints-by-id answers, then `available` (or ``then``)."""

    def __init__(self, pending_looks, then="available", **kwargs):
        super().__init__(**kwargs)
        self.pending_looks = pending_looks
        self.then = then
        self.looks = 0

    def describe_vpc_endpoints(self, **kw):
        answer = super().describe_vpc_endpoints(**kw)
        if "VpcEndpointIds" in kw:
            self.looks += 1
            state = "pending" if self.looks <= self.pending_looks else self.then
            answer = {"VpcEndpoints": [dict(e, State=state) for e in answer["VpcEndpoints"]]}
        return answer


@pytest.fixture
def no_delay(monkeypatch):
    monkeypatch.setattr(SecretsManagerEndpoint, "poll_delay", 0)


def test_waits_until_a_created_endpoint_is_available(no_delay):
    fake = PendingEC2(pending_looks=2)
    changed, result, _actions = run(fake, wait_timeout=600)
    assert changed and result["endpoint"]["state"] == "available"
    assert fake.looks == 3  # pending, pending, available


def test_waits_after_changing_an_endpoint_but_not_after_a_rule_only(no_delay):
    existing = {"VpcEndpointId": "vpce-old", "VpcEndpointType": "Interface", "ServiceName": "com.amazonaws.us-east-1.secretsmanager",
                "VpcId": "vpc-1", "SubnetIds": ["subnet-a"], "Groups": [{"GroupId": SERVICE_SG}], "PrivateDnsEnabled": False,
                "State": "available", "Tags": []}
    service_group = {"GroupId": SERVICE_SG, "GroupName": "svc", "IpPermissions": [tcp(8080, cidrs=["10.0.0.0/16"])]}
    fake = PendingEC2(pending_looks=1, endpoints=[existing], groups=[service_group])
    _changed, result, _actions = run(fake)
    assert result["endpoint"]["state"] == "available" and fake.looks == 2

    # Only the 443 rule is missing: the endpoint itself is untouched, one look.
    settled = dict(existing, PrivateDnsEnabled=True, SubnetIds=["subnet-a", "subnet-b"])
    fake = PendingEC2(pending_looks=5, endpoints=[settled], groups=[service_group])
    changed, _result, _actions = run(fake)
    assert changed and fake.writes == ["authorize_security_group_ingress"] and fake.looks == 1


def test_wait_is_bounded_and_can_be_turned_off(no_delay):
    with pytest.raises(EcsRdsError, match="Timed out after 0 seconds waiting for VPC endpoint vpce-new to be available"):
        run(PendingEC2(pending_looks=100), wait_timeout=0)
    fake = PendingEC2(pending_looks=100)
    _changed, result, _actions = run(fake, wait=False)
    assert result["endpoint"]["state"] == "pending" and fake.looks == 1


def test_an_endpoint_that_fails_stops_the_wait(no_delay):
    with pytest.raises(EcsRdsError, match="vpce-new became failed instead of available"):
        run(PendingEC2(pending_looks=1, then="failed"), wait_timeout=600)
