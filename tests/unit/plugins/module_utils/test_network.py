"""network: NAT detection, rule matching, one subnet per zone, and the endpoint / security group
jobs against a fake EC2 client (check mode writes nothing, no-op makes no write)."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.network import (
    ENDPOINT_RULE_DESCRIPTION,
    NetworkClient,
    SecretsManagerEndpoint,
    access_facts,
    access_options,
    all_subnets_use_nat,
    missing_ingress,
    one_subnet_per_az,
    reliable_rules,
    rules_of,
    described_subnets,
    run_endpoint,
    run_network_access,
    run_security_group_ingress,
    teardown_options,
    validate_access_params,
    validate_endpoint_params,
    validate_ingress_params,
    with_rule_changes,
    with_tags,
)
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import CREATED_BY_TAG, deployment_tag, rule_description
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.roles import role_inputs

SUBNETS = [
    {"SubnetId": "subnet-a", "AvailabilityZone": "us-east-1a", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24"},
    {"SubnetId": "subnet-b", "AvailabilityZone": "us-east-1b", "VpcId": "vpc-1", "CidrBlock": "10.0.2.0/24"},
]
SERVICE_SG = "sg-service"
ME = "shop"
OTHER = "billing"
OUR_443 = rule_description(ENDPOINT_RULE_DESCRIPTION, [ME])
OURS = rule_description("ours", [ME])


def created_tags(deployment=ME, **extra):
    return [{"Key": CREATED_BY_TAG, "Value": deployment}, {"Key": deployment_tag(deployment), "Value": "created"}] + [
        {"Key": k, "Value": v} for k, v in extra.items()]


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


def test_rules_of_a_deployment_revokes_its_own_and_redescribes_shared_ones():
    shared = rule_description("ours", [ME, OTHER])
    group = {"IpPermissions": [{**tcp(5432, groups=[SERVICE_SG], description=OURS),
                                "IpRanges": [{"CidrIp": "10.9.0.0/16", "Description": "bastion"}, {"CidrIp": "10.8.0.0/16", "Description": shared}]}]}
    revoke, update = rules_of(group, ME)
    assert revoke == [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": SERVICE_SG, "Description": OURS}]}]
    assert update == [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                       "IpRanges": [{"CidrIp": "10.8.0.0/16", "Description": "ours [ecsrds:billing]"}]}]
    assert rules_of(group, "nobody") == ([], [])
    # Another deployment's rule is not something this one may rely on; a rule nobody marked is.
    reliable = reliable_rules(group, OTHER)
    assert [e.get("CidrIp") or e.get("GroupId") for p in reliable["IpPermissions"] for k in ("UserIdGroupPairs", "IpRanges")
            for e in p.get(k, [])] == ["10.9.0.0/16", "10.8.0.0/16"]


def params(**overrides):
    base = dict(state="present", subnet_ids=["subnet-a", "subnet-b"], vpc_id=None, source_security_group_ids=[SERVICE_SG],
                source_cidrs=[], skip_when_nat=True, manage_vpc_dns=True, name="sm", security_group_name="sm-sg",
                security_group_description="d", rule_description=ENDPOINT_RULE_DESCRIPTION, tags={"app": "demo"},
                deployment_id=ME, client_token=None, wait=True, wait_timeout=5)
    base.update(overrides)
    return base


def test_parameter_checks_name_the_option():
    assert "subnet_ids" in validate_endpoint_params(params(subnet_ids=[]))
    assert "source_security_group_ids" in validate_endpoint_params(params(source_security_group_ids=[]))
    assert "source_cidrs" in validate_endpoint_params(params(source_cidrs=["10.0.0.0/33"]))
    assert validate_endpoint_params(params()) is None
    assert "deployment_id" in validate_endpoint_params(params(deployment_id="two words"))
    sg = dict(state="present", port=70000, source_security_group_ids=["sg-1"], source_cidrs=[], deployment_id=ME)
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
        # Copies, as botocore parses a fresh answer each time: a caller's later change is not AWS's.
        if "VpcEndpointIds" in kw:
            return copy.deepcopy({"VpcEndpoints": [e for e in self.endpoints if e["VpcEndpointId"] in kw["VpcEndpointIds"]]})
        return copy.deepcopy({"VpcEndpoints": self.endpoints})

    def describe_security_groups(self, **kw):
        self._record("describe_security_groups", kw)
        if "GroupIds" in kw:
            return copy.deepcopy({"SecurityGroups": [g for g in self.groups if g["GroupId"] in kw["GroupIds"]]})
        names = [name for f in kw.get("Filters", []) if f["Name"] == "group-name" for name in f["Values"]]
        return copy.deepcopy({"SecurityGroups": [g for g in self.groups if not names or g["GroupName"] in names]})

    def _resource(self, resource_id):
        return next(r for r in self.groups + self.endpoints if resource_id in (r.get("GroupId"), r.get("VpcEndpointId")))

    def _rules(self, kw):
        group = self._resource(kw["GroupId"])
        return group, [(p["FromPort"], k, e) for p in kw["IpPermissions"] for k in ("UserIdGroupPairs", "IpRanges") for e in p.get(k, [])]

    def _apply(self, name, kw):
        """Keep the fake's state as AWS would, so a later run sees what an earlier one wrote."""
        if name in ("create_tags", "delete_tags"):
            for resource_id in kw["Resources"]:
                resource = self._resource(resource_id)
                keys = {t["Key"] for t in kw["Tags"]}
                kept = [t for t in resource.get("Tags", []) if t["Key"] not in keys]
                resource["Tags"] = kept + (kw["Tags"] if name == "create_tags" else [])
        elif name == "authorize_security_group_ingress":
            group, rules = self._rules(kw)
            for port, key, entry in rules:
                group["IpPermissions"].append({"IpProtocol": "tcp", "FromPort": port, "ToPort": port, key: [dict(entry)]})
        elif name in ("revoke_security_group_ingress", "update_security_group_rule_descriptions_ingress"):
            group, rules = self._rules(kw)
            for port, key, entry in rules:
                source = "GroupId" if key == "UserIdGroupPairs" else "CidrIp"
                for permission in group["IpPermissions"]:
                    if permission.get("FromPort") != port:
                        continue
                    matching = [e for e in permission.get(key, []) if e[source] == entry[source]]
                    for existing in matching:
                        if name.startswith("revoke"):
                            permission[key].remove(existing)
                        else:
                            existing["Description"] = entry["Description"]
        elif name == "delete_vpc_endpoints":
            self.endpoints = [e for e in self.endpoints if e["VpcEndpointId"] not in kw["VpcEndpointIds"]]
        elif name == "delete_security_group":
            self.groups = [g for g in self.groups if g["GroupId"] != kw["GroupId"]]

    def __getattr__(self, name):
        # Every other call is a write: record it and answer like AWS would.
        def write(**kw):
            self._record(name, kw)
            self._apply(name, kw)
            if name == "create_security_group":
                # sg-new, then sg-new2, sg-new3... when one call creates several groups.
                taken = {g["GroupId"] for g in self.groups}
                group_id = next(f"sg-new{n or ''}" for n in range(len(taken) + 2) if n != 1 and f"sg-new{n or ''}" not in taken)
                self.groups.append({"GroupId": group_id, "GroupName": kw["GroupName"], "VpcId": kw["VpcId"], "IpPermissions": [],
                                    "Tags": kw["TagSpecifications"][0]["Tags"]})
                return {"GroupId": group_id}
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


def clients(fake):
    return Clients({"ec2": fake}.__getitem__, "us-east-1")


def triple(outcome):
    """(changed, the result with its diff, actions): what these tests read of a runner's Outcome."""
    return outcome.changed, dict(outcome.result, diff=outcome.diff), outcome.actions


def run(fake, check_mode=False, **overrides):
    return triple(run_endpoint(clients(fake), params(**overrides), check_mode, True))


def ingress(fake, sg, check_mode):
    return triple(run_security_group_ingress(clients(fake), sg, check_mode, True))


def test_creates_group_rule_and_endpoint_then_is_a_no_op():
    fake = FakeEC2()
    changed, result, _actions = run(fake)
    assert changed and fake.writes == ["create_security_group", "authorize_security_group_ingress", "create_vpc_endpoint"]
    create = dict(fake.calls)["create_vpc_endpoint"]
    assert create["ServiceName"] == "com.amazonaws.us-east-1.secretsmanager" and create["PrivateDnsEnabled"] is True
    assert create["SubnetIds"] == ["subnet-a", "subnet-b"] and create["SecurityGroupIds"] == ["sg-new"]
    tags = create["TagSpecifications"][0]["Tags"]
    assert {"Key": CREATED_BY_TAG, "Value": ME} in tags and {"Key": deployment_tag(ME), "Value": "created"} in tags
    assert result["endpoint"]["vpc_endpoint_id"] == "vpce-new"
    assert dict(fake.calls)["authorize_security_group_ingress"]["IpPermissions"][0]["UserIdGroupPairs"][0]["Description"] == OUR_443

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
    # --check --diff shows the 443 rule the service gets on the endpoint's group, not only the endpoint.
    _changed, planned, _actions = run(fake, check_mode=True)
    assert fake.writes == []
    assert [s for s in planned["diff"]["before"]["security_group"]["ingress_sources"] if s.get("group_id")] == []
    assert [s["group_id"] for s in planned["diff"]["after"]["security_group"]["ingress_sources"] if s.get("group_id")] == [SERVICE_SG]
    changed, result, _actions = run(fake)
    assert changed and fake.writes == ["create_tags", "authorize_security_group_ingress", "modify_vpc_endpoint", "create_tags"]
    # Someone else's endpoint and group only get this deployment's mark: no Name, no created-by.
    assert existing_tags(fake, "vpce-old") == existing_tags(fake, SERVICE_SG) == {deployment_tag(ME): "adopted"}
    calls = dict(fake.calls)
    assert calls["modify_vpc_endpoint"] == {"VpcEndpointId": "vpce-old", "PrivateDnsEnabled": True, "AddSubnetIds": ["subnet-b"]}
    assert calls["authorize_security_group_ingress"]["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == SERVICE_SG
    assert result["security_group_id"] == SERVICE_SG


def existing_tags(fake, resource_id):
    return {t["Key"]: t["Value"] for t in fake._resource(resource_id).get("Tags", [])}


def test_absent_deletes_only_what_is_ours():
    ours = {"VpcEndpointId": "vpce-ours", "ServiceName": "x", "VpcId": "vpc-1", "State": "available", "Groups": [{"GroupId": "sg-new"}],
            "Tags": created_tags()}
    group = {"GroupId": "sg-new", "GroupName": "sm-sg", "IpPermissions": [], "Tags": created_tags()}
    fake = FakeEC2(endpoints=[ours], groups=[group])
    changed, result, _actions = run(fake, check_mode=True, state="absent", vpc_id="vpc-1")
    assert changed and fake.writes == []
    changed, result, _actions = run(fake, state="absent", vpc_id="vpc-1")
    assert changed and fake.writes == ["delete_vpc_endpoints", "delete_security_group"]
    assert result["deleted_endpoint_ids"] == ["vpce-ours"] and result["deleted_group_ids"] == ["sg-new"]


def test_absent_leaves_a_created_endpoint_that_is_not_ours_or_that_others_still_use():
    # Someone else's deployment made it; this deployment never marked it: nothing to do.
    theirs = {"VpcEndpointId": "vpce-1", "ServiceName": "x", "VpcId": "vpc-1", "State": "available", "Groups": [{"GroupId": "sg-1"}],
              "Tags": created_tags(OTHER)}
    group = {"GroupId": "sg-1", "GroupName": "other-sg", "Tags": created_tags(OTHER),
             "IpPermissions": [tcp(443, groups=[SERVICE_SG], description=rule_description(ENDPOINT_RULE_DESCRIPTION, [OTHER]))]}
    fake = FakeEC2(endpoints=[theirs], groups=[group])
    changed, _result, _actions = run(fake, state="absent", vpc_id="vpc-1")
    assert (changed, fake.writes) == (False, [])
    # Carrying a created-by tag is not enough: the legacy check deleted anything with the tag.
    assert fake.endpoints and fake.groups


def test_two_deployments_share_an_endpoint_and_the_last_one_out_deletes_it():
    fake = FakeEC2()
    run(fake)  # shop creates the endpoint, its group and the 443 rule from the service group
    # billing's service shares the service group: AWS keeps one rule per source, so billing joins it.
    fake.calls.clear()
    changed, _result, _actions = run(fake, deployment_id=OTHER, name="billing-sm", security_group_name="billing-sm-sg", tags={"app": "billing"})
    assert changed and fake.writes == ["create_tags", "update_security_group_rule_descriptions_ingress", "create_tags"]
    assert existing_tags(fake, "vpce-new")["Name"] == "sm" and existing_tags(fake, "vpce-new")["app"] == "demo"
    assert existing_tags(fake, "vpce-new")[deployment_tag(OTHER)] == "adopted"
    shared = fake.groups[0]["IpPermissions"][0]["UserIdGroupPairs"][0]["Description"]
    assert shared == rule_description(ENDPOINT_RULE_DESCRIPTION, [ME, OTHER])
    fake.calls.clear()
    assert run(fake, deployment_id=OTHER, name="billing-sm", security_group_name="billing-sm-sg")[0] is False and fake.writes == []

    # shop leaves: its mark goes, the rule stays for billing, nothing is deleted.
    changed, _result, _actions = run(fake, state="absent", vpc_id="vpc-1")
    assert changed and sorted(fake.writes) == ["delete_tags", "delete_tags", "update_security_group_rule_descriptions_ingress"]
    assert fake.endpoints and fake.groups[0]["IpPermissions"][0]["UserIdGroupPairs"][0]["Description"].endswith("[ecsrds:billing]")
    fake.calls.clear()
    assert run(fake, deployment_id=OTHER, name="billing-sm", security_group_name="billing-sm-sg")[0] is False and fake.writes == []

    # billing is the last user of what this collection created: both go.
    changed, result, _actions = run(fake, state="absent", vpc_id="vpc-1", deployment_id=OTHER, security_group_name="billing-sm-sg")
    assert result["deleted_endpoint_ids"] == ["vpce-new"] and result["deleted_group_ids"] == ["sg-new"]
    assert fake.endpoints == [] and fake.groups == []


def sg_params(**overrides):
    base = dict(name="demo-rds-sg", vpc_id="vpc-1", description="d", port=5432, source_security_group_ids=[SERVICE_SG],
                source_cidrs=None, rule_description="ours", tags={"app": "demo"}, deployment_id=ME, state="present")
    base.update(overrides)
    return base


def test_security_group_ingress_adds_only_what_is_missing():
    existing = {"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "IpPermissions": [tcp(5432, cidrs=["10.9.0.0/16"])], "Tags": []}
    fake = FakeEC2(groups=[existing])
    changed, result, _actions = ingress(fake, sg_params(), True)
    assert changed and fake.writes == [] and result["group_id"] == "sg-db" and result["would_create"] is False
    changed, result, _actions = ingress(fake, sg_params(), False)
    assert fake.writes == ["create_tags", "authorize_security_group_ingress"]
    assert existing_tags(fake, "sg-db") == {deployment_tag(ME): "adopted"}
    fake.calls.clear()
    changed, _result, _actions = ingress(fake, sg_params(), False)
    assert (changed, fake.writes, len(fake.calls)) == (False, [], 1)


def test_a_port_change_replaces_our_rule_and_no_one_elses():
    # Ours on 5432; an unmarked bastion rule; another deployment's rule with our text; an admin rule.
    existing = {"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "Tags": [{"Key": deployment_tag(ME), "Value": "adopted"}],
                "IpPermissions": [tcp(5432, groups=[SERVICE_SG], description=OURS), tcp(5432, cidrs=["10.9.0.0/16"], description="bastion"),
                                  tcp(5432, cidrs=["10.8.0.0/16"], description=rule_description("ours", [OTHER])),
                                  tcp(22, groups=["sg-admin"], description="admin")]}
    fake = FakeEC2(groups=[existing])
    changed, planned, actions = ingress(fake, sg_params(port=5433), True)
    assert changed and fake.writes == [] and any("revoke our rule for port 5432" in a for a in actions)
    # --check --diff shows both halves: the new rule, and ours on the old port going (no one else's).
    assert planned["diff"]["before"]["our_rules_on_other_ports"] == [{"port": 5432, "source": SERVICE_SG, "description": OURS}]
    assert planned["diff"]["after"]["our_rules_on_other_ports"] == []
    assert [s["group_id"] for s in planned["diff"]["after"]["ingress_sources"] if "group_id" in s] == [SERVICE_SG]
    ingress(fake, sg_params(port=5433), False)
    # The new rule first, so the service is never without one; then only ours for 5432 goes.
    assert fake.writes == ["authorize_security_group_ingress", "revoke_security_group_ingress"]
    revoked = dict(fake.calls)["revoke_security_group_ingress"]["IpPermissions"]
    assert revoked == [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": SERVICE_SG, "Description": OURS}]}]


def test_a_changed_group_is_returned_as_aws_holds_it_without_describing_it_again():
    # Ours on 5432 moves to 5433, a shared rule on 5432 loses our mark, and the group gets our mark.
    shared = rule_description("ours", [ME, OTHER])
    existing = {"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "Tags": [],
                "IpPermissions": [tcp(5432, groups=[SERVICE_SG], description=OURS), tcp(5432, cidrs=["10.8.0.0/16"], description=shared)]}
    fake = FakeEC2(groups=[existing])
    changed, result, _actions = ingress(fake, sg_params(port=5433), False)
    assert changed and [name for name, _kwargs in fake.calls].count("describe_security_groups") == 1
    # What the module returns is what a describe now answers.
    fresh = ingress(fake, sg_params(port=5433), True)[1]
    assert result["security_group"] == fresh["security_group"]
    assert result["security_group"]["tags"] == {deployment_tag(ME): "adopted"}
    assert [source.get("group_id") for source in result["security_group"]["ingress_sources"]] == [SERVICE_SG]


def test_rule_changes_are_applied_entry_by_entry():
    group = {"GroupId": "sg-db", "IpPermissions": [tcp(5432, groups=["sg-a", "sg-b"], description="x"), tcp(22, cidrs=["10.0.0.0/8"])]}

    def rules(changed_group):
        return [(p["FromPort"], entry.get("GroupId") or entry.get("CidrIp"), entry.get("Description"))
                for p in changed_group["IpPermissions"] for entry in p.get("UserIdGroupPairs", []) + p.get("IpRanges", [])]

    changed = with_rule_changes(group, added=[tcp(5433, groups=["sg-a"], description="new")],
                                described=[tcp(5432, groups=["sg-b"], description="y")], revoked=[tcp(5432, groups=["sg-a"], description="x")])
    assert rules(changed) == [(5432, "sg-b", "y"), (22, "10.0.0.0/8", None), (5433, "sg-a", "new")]
    # The last entry of a rule revoked takes the rule with it; the group given is not changed.
    assert rules(with_rule_changes(group, revoked=[tcp(22, cidrs=["10.0.0.0/8"])])) == [(5432, "sg-a", "x"), (5432, "sg-b", "x")]
    assert len(group["IpPermissions"]) == 2
    assert with_tags({"Tags": [{"Key": "a", "Value": "1"}]}, {"b": "2"})["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]


def test_a_port_change_leaves_a_shared_old_rule_to_the_other_deployment():
    shared = rule_description("ours", [ME, OTHER])
    existing = {"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "Tags": [{"Key": deployment_tag(ME), "Value": "adopted"}],
                "IpPermissions": [tcp(5432, groups=[SERVICE_SG], description=shared)]}
    fake = FakeEC2(groups=[existing])
    ingress(fake, sg_params(port=5433), False)
    assert fake.writes == ["authorize_security_group_ingress", "update_security_group_rule_descriptions_ingress"]
    described = dict(fake.calls)["update_security_group_rule_descriptions_ingress"]["IpPermissions"]
    assert described[0]["FromPort"] == 5432 and described[0]["UserIdGroupPairs"][0]["Description"] == rule_description("ours", [OTHER])


def test_security_group_ingress_creates_tagged_group_and_absent_respects_ownership():
    fake = FakeEC2()
    changed, result, _actions = ingress(fake, sg_params(), True)
    assert changed and fake.writes == [] and result["group_id"] is None and result["would_create"] is True
    ingress(fake, sg_params(), False)
    tags = dict(fake.calls)["create_security_group"]["TagSpecifications"][0]["Tags"]
    assert {"Key": CREATED_BY_TAG, "Value": ME} in tags and {"Key": "Name", "Value": "demo-rds-sg"} in tags
    changed, result, _actions = ingress(fake, sg_params(state="absent"), False)
    assert changed and result["deleted_group_ids"] == ["sg-new"] and fake.groups == []

    foreign = {"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "Tags": [{"Key": deployment_tag(ME), "Value": "adopted"}],
               "IpPermissions": [tcp(5432, groups=[SERVICE_SG], description=OURS), tcp(5432, cidrs=["10.9.0.0/16"], description="bastion")]}
    fake = FakeEC2(groups=[foreign])
    changed, result, _actions = ingress(fake, sg_params(state="absent"), False)
    assert changed and fake.writes == ["revoke_security_group_ingress", "delete_tags"] and result["deleted_group_ids"] == []
    assert fake.groups[0]["IpPermissions"][1]["IpRanges"][0]["Description"] == "bastion"
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
            "Tags": created_tags(Name="demo-rds-sg", keep="x")}
    fake = FakeEC2(groups=[ours])
    changed, _result, actions = ingress(fake, sg_params(tags={"app": "demo"}), False)
    assert changed and fake.writes == ["create_tags"], actions
    assert dict(fake.calls)["create_tags"] == {"Resources": ["sg-db"], "Tags": [{"Key": "app", "Value": "demo"}]}

    foreign = dict(ours, Tags=[{"Key": "Name", "Value": "demo-rds-sg"}, {"Key": deployment_tag(ME), "Value": "adopted"}])
    fake = FakeEC2(groups=[foreign])
    changed, _result, _actions = ingress(fake, sg_params(tags={"app": "demo"}), False)
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

    # Only the 443 rule (and this deployment's marks) are missing: the endpoint itself is untouched, and
    # not described again either (the first answer and the tags this run added say what it is now).
    settled = dict(existing, PrivateDnsEnabled=True, SubnetIds=["subnet-a", "subnet-b"])
    fake = PendingEC2(pending_looks=5, endpoints=[settled], groups=[service_group])
    changed, result, _actions = run(fake)
    assert changed and fake.writes == ["create_tags", "authorize_security_group_ingress", "create_tags"] and fake.looks == 0
    assert result["endpoint"]["vpc_endpoint_id"] == "vpce-old" and result["endpoint"]["tags"]


def test_wait_is_bounded_and_can_be_turned_off(no_delay):
    with pytest.raises(EcsRdsError, match="Timed out after 0 seconds waiting for VPC endpoint vpce-new to be available"):
        run(PendingEC2(pending_looks=100), wait_timeout=0)
    fake = PendingEC2(pending_looks=100)
    _changed, result, _actions = run(fake, wait=False)
    assert result["endpoint"]["state"] == "pending" and fake.looks == 1


def test_an_endpoint_that_fails_stops_the_wait(no_delay):
    with pytest.raises(EcsRdsError, match="vpce-new became failed instead of available"):
        run(PendingEC2(pending_looks=1, then="failed"), wait_timeout=600)


# ---------------------------------------------------------------------------------------------
# ecs_network_access: the endpoint and the database group in one call

# The inputs check's aws.subnets: what DescribeSubnets said, in snake_case.
GIVEN_SUBNETS = [{"subnet_id": s["SubnetId"], "availability_zone": s["AvailabilityZone"], "cidr_block": s["CidrBlock"], "vpc_id": s["VpcId"]}
                 for s in SUBNETS]


def access_params(**overrides):
    base = dict(
        subnet_ids=["subnet-a", "subnet-b"], subnets=GIVEN_SUBNETS, vpc_id=None, secretsmanager_endpoint="auto",
        endpoint=dict(source_security_group_ids=[SERVICE_SG], source_cidrs=[], manage_vpc_dns=True, name="sm", security_group_name="sm-sg",
                      security_group_description="d", rule_description=ENDPOINT_RULE_DESCRIPTION, client_token=None, wait=True, wait_timeout=5),
        db_security_group=dict(name="demo-rds-sg", description="d", port=5432, source_security_group_ids=[SERVICE_SG], source_cidrs=[],
                               rule_description="ours"),
        tags={"app": "demo"}, deployment_id=ME)
    base.update(overrides)
    return base


def run_access(fake, check_mode=False, **overrides):
    return triple(run_network_access(clients(fake), access_params(**overrides), check_mode, True))


def both_groups_by_name(kwargs):
    return kwargs == {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}, {"Name": "group-name", "Values": ["demo-rds-sg", "sm-sg"]}]}


def test_given_subnets_stand_in_for_describe_subnets_only_when_they_cover_all():
    assert described_subnets(["subnet-b", "subnet-a"], GIVEN_SUBNETS) == [SUBNETS[1], SUBNETS[0]]
    assert described_subnets(["subnet-a", "subnet-c"], GIVEN_SUBNETS) is None
    assert described_subnets(["subnet-a"], [dict(GIVEN_SUBNETS[0], cidr_block=None)]) is None
    assert described_subnets(["subnet-a"], None) is None
    fake = FakeEC2()
    run(fake, subnets=GIVEN_SUBNETS)
    assert "describe_subnets" not in [name for name, _kwargs in fake.calls]
    fake = FakeEC2()
    run(fake, subnets=GIVEN_SUBNETS[:1])
    assert [kw for name, kw in fake.calls if name == "describe_subnets"] == [{"SubnetIds": ["subnet-a", "subnet-b"]}]


def test_network_access_converges_then_a_no_op_is_two_describes():
    fake = FakeEC2()
    changed, result, actions = run_access(fake)
    assert changed and result["endpoint"]["changed"] and result["db_security_group"]["changed"]
    assert fake.writes == ["create_security_group", "authorize_security_group_ingress", "create_vpc_endpoint",
                           "create_security_group", "authorize_security_group_ingress"], actions
    assert result["vpc_id"] == "vpc-1" and result["endpoint"]["endpoint"]["vpc_endpoint_id"] == "vpce-new"
    assert result["endpoint"]["security_group_id"] == "sg-new" and result["db_security_group"]["group_id"] == "sg-new2"
    assert result["db_security_group"]["security_group"]["ingress_sources"] == [{"group_id": SERVICE_SG, "description": OURS}]

    fake.calls.clear()
    changed, result, actions = run_access(fake)
    assert (changed, actions, fake.writes) == (False, [], [])
    # No DescribeSubnets (given), no DescribeVpcAttribute (private DNS is on), both groups in one describe.
    assert [name for name, _kwargs in fake.calls] == ["describe_security_groups", "describe_vpc_endpoints"]
    assert both_groups_by_name(fake.calls[0][1])
    assert result["endpoint"]["changed"] is False and result["endpoint"]["endpoint"]["vpc_endpoint_id"] == "vpce-new"
    assert result["db_security_group"]["group_id"] == "sg-new2" and result["db_security_group"]["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"]

    fake.calls.clear()
    changed, _result, _actions = run_access(fake, check_mode=True)
    assert changed is False and [name for name, _kwargs in fake.calls] == ["describe_security_groups", "describe_vpc_endpoints"]


def test_network_access_in_check_mode_writes_nothing_and_predicts_both():
    fake = FakeEC2()
    changed, result, actions = run_access(fake, check_mode=True)
    assert changed and fake.writes == []
    assert result["endpoint"]["would_create"] is True and result["endpoint"]["endpoint"] is None
    assert result["db_security_group"]["would_create"] is True and result["db_security_group"]["group_id"] is None
    assert any("create security group sm-sg" in a for a in actions) and any("create security group demo-rds-sg" in a for a in actions)
    # Nothing was written, so the one answer about both groups stays good for the whole call.
    assert [name for name, _kwargs in fake.calls].count("describe_security_groups") == 1
    assert result["diff"]["before"] == {"endpoint": {}, "db_security_group": {}}


def test_a_write_drops_the_prefetched_answer_of_the_group_it_names_only():
    fake = FakeEC2()
    run_access(fake)
    # Someone removed the endpoint's 443 rule: putting it back is a write on the endpoint's group only,
    # so the database group keeps the one answer and is not described again.
    endpoint_group = next(g for g in fake.groups if g["GroupName"] == "sm-sg")
    endpoint_group["IpPermissions"] = []
    fake.calls.clear()
    changed, result, _actions = run_access(fake)
    assert changed and result["endpoint"]["changed"] and not result["db_security_group"]["changed"]
    assert fake.writes == ["authorize_security_group_ingress"]
    reads = [(name, kw) for name, kw in fake.calls if name == "describe_security_groups"]
    assert len(reads) == 1 and both_groups_by_name(reads[0][1])

    net = NetworkClient(FakeEC2(groups=[{"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "IpPermissions": []}]))
    net.prefetch_security_groups("vpc-1", ["demo-rds-sg", "sm-sg"])
    assert net.security_groups(vpc_id="vpc-1", name="sm-sg") == []  # not there: an answer, not a reason to ask again
    assert net.security_groups(group_ids=["sg-db"])[0]["GroupName"] == "demo-rds-sg"
    assert len(net.client.calls) == 1
    # Another VPC or a name that was not asked for is not in the answer.
    net.security_groups(vpc_id="vpc-2", name="demo-rds-sg")
    net.security_groups(vpc_id="vpc-1", name="other")
    assert len(net.client.calls) == 3
    # A write naming a group (by id, or by name when creating it) drops that group's answer, and only that.
    net.forget(["sg-db", 443])
    net.security_groups(group_ids=["sg-db"])
    assert len(net.client.calls) == 4
    net.prefetch_security_groups("vpc-1", ["demo-rds-sg", "sm-sg"])
    net.forget(["sm-sg", "HTTPS", "vpc-1"])
    assert net.security_groups(group_ids=["sg-db"])[0]["GroupName"] == "demo-rds-sg"
    assert len(net.client.calls) == 5
    net.security_groups(vpc_id="vpc-1", name="sm-sg")
    assert len(net.client.calls) == 6
    net.forget()
    net.security_groups(group_ids=["sg-db"])
    assert len(net.client.calls) == 7


def test_an_adopted_endpoints_foreign_group_is_described_by_id():
    # The VPC's own endpoint, already used by this deployment: private DNS on, both zones, 443 from the service.
    existing = {"VpcEndpointId": "vpce-old", "VpcEndpointType": "Interface", "ServiceName": "com.amazonaws.us-east-1.secretsmanager",
                "VpcId": "vpc-1", "SubnetIds": ["subnet-a", "subnet-b"], "Groups": [{"GroupId": "sg-vpc-endpoints"}], "PrivateDnsEnabled": True,
                "State": "available", "Tags": [{"Key": deployment_tag(ME), "Value": "adopted"}]}
    endpoint_group = {"GroupId": "sg-vpc-endpoints", "GroupName": "vpc-endpoints", "VpcId": "vpc-1", "IpPermissions": [tcp(443, cidrs=["10.0.0.0/16"])],
                      "Tags": [{"Key": deployment_tag(ME), "Value": "adopted"}]}
    db_group = {"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "IpPermissions": [tcp(5432, groups=[SERVICE_SG], description=OURS)],
                "Tags": created_tags(Name="demo-rds-sg", app="demo")}
    fake = FakeEC2(endpoints=[existing], groups=[endpoint_group, db_group])
    changed, result, _actions = run_access(fake)
    assert changed is False and fake.writes == []
    assert [(name, kw) for name, kw in fake.calls if name == "describe_security_groups"][1:] == [
        ("describe_security_groups", {"GroupIds": ["sg-vpc-endpoints"]})]
    assert len(fake.calls) == 3 and result["endpoint"]["security_group_id"] == "sg-vpc-endpoints"


def test_network_access_without_the_endpoint_and_without_given_subnets():
    fake = FakeEC2(groups=[{"GroupId": "sg-db", "GroupName": "demo-rds-sg", "VpcId": "vpc-1", "Tags": created_tags(Name="demo-rds-sg", app="demo"),
                            "IpPermissions": [tcp(5432, groups=[SERVICE_SG], description=OURS)]}])
    changed, result, _actions = run_access(fake, secretsmanager_endpoint="never", subnets=None)
    assert changed is False and result["endpoint"]["skipped"] is True and result["endpoint"]["endpoint"] is None
    assert result["vpc_id"] == "vpc-1" and result["db_security_group"]["group_id"] == "sg-db"
    assert [name for name, _kwargs in fake.calls] == ["describe_subnets", "describe_security_groups"]
    assert fake.calls[1][1]["Filters"][1] == {"Name": "group-name", "Values": ["demo-rds-sg"]}


def test_network_access_turns_private_dns_on_only_after_reading_the_vpc():
    existing = {"VpcEndpointId": "vpce-old", "VpcEndpointType": "Interface", "ServiceName": "com.amazonaws.us-east-1.secretsmanager",
                "VpcId": "vpc-1", "SubnetIds": ["subnet-a", "subnet-b"], "Groups": [{"GroupId": SERVICE_SG}], "PrivateDnsEnabled": False,
                "State": "available", "Tags": []}
    service_group = {"GroupId": SERVICE_SG, "GroupName": "svc", "IpPermissions": [tcp(443, cidrs=["10.0.0.0/16"])]}
    fake = FakeEC2(dns=(True, False), endpoints=[existing], groups=[service_group])
    with pytest.raises(EcsRdsError, match="enableDnsHostnames"):
        run_access(fake, endpoint=dict(access_params()["endpoint"], manage_vpc_dns=False))
    assert fake.writes == [] and [name for name, _kwargs in fake.calls].count("describe_vpc_attribute") == 2


def test_network_access_parameter_checks_name_the_part():
    assert "subnet_ids" in validate_access_params(access_params(subnet_ids=[]))
    assert validate_access_params(access_params(endpoint=dict(access_params()["endpoint"], source_security_group_ids=[]))).startswith(
        "endpoint: source_security_group_ids")
    assert validate_access_params(access_params(secretsmanager_endpoint="never", endpoint={})) is None
    assert validate_access_params(access_params(db_security_group=dict(access_params()["db_security_group"], port=0))).startswith(
        "db_security_group: port")
    assert "deployment_id" in validate_access_params(access_params(deployment_id="two words"))
    assert validate_access_params(access_params()) is None


# ---------------------------------------------------------------------------------------------
# The network role's step: its inputs -> ecs_network_access's options -> what it publishes


def network_inputs(**overrides):
    return role_inputs("network", network_ecs_cluster="shop", network_ecs_services=["api", {"name": "worker", "container_name": "w"}],
                       network_deployment_id="shop-db", **overrides)


SERVICES_FOUND = {
    "services": {
        "api": {"subnets": ["subnet-a", "subnet-b"], "security_groups": ["sg-app"]},
        "worker": {"subnets": ["subnet-b", "subnet-c"], "security_groups": ["sg-app", "sg-w"]},
    },
    "subnets": [{"subnet_id": "subnet-a", "availability_zone": "us-east-1a", "cidr_block": "10.0.1.0/24", "vpc_id": "vpc-1"}],
}


def test_the_network_step_takes_the_services_subnets_and_groups_once_each_in_order():
    options = access_options(network_inputs(), SERVICES_FOUND)
    assert options["subnet_ids"] == ["subnet-a", "subnet-b", "subnet-c"]
    assert options["endpoint"]["source_security_group_ids"] == ["sg-app", "sg-w"]
    assert options["db_security_group"]["source_security_group_ids"] == ["sg-app", "sg-w"]
    assert options["db_security_group"]["source_cidrs"] == [] and options["db_security_group"]["port"] == 5432
    assert options["subnets"] == SERVICES_FOUND["subnets"] and options["vpc_id"] is None
    # Valid for the module as it stands: what the role's task passes through.
    assert validate_access_params(options) is None
    # Names left unset are the deployment's own, never a default two deployments would share.
    assert (options["db_security_group"]["name"], options["endpoint"]["name"], options["endpoint"]["security_group_name"]) == (
        "shop-db-sg", "shop-db-secretsmanager", "shop-db-secretsmanager-endpoint-sg")
    given = access_options(network_inputs(network_db_security_group_name="payments-db-sg"), SERVICES_FOUND)
    assert given["db_security_group"]["name"] == "payments-db-sg"


def test_the_network_step_prefers_given_ids_and_admits_cidrs_when_asked():
    options = access_options(network_inputs(network_subnet_ids=["subnet-z"], network_service_security_group_ids=["sg-given"],
                                            network_db_ingress_source="cidr", network_db_ingress_cidrs=["10.0.0.0/16"],
                                            network_vpc_id="vpc-9"), SERVICES_FOUND)
    assert options["subnet_ids"] == ["subnet-z"] and options["vpc_id"] == "vpc-9"
    assert options["db_security_group"]["source_security_group_ids"] == []
    assert options["db_security_group"]["source_cidrs"] == ["10.0.0.0/16"]
    assert options["endpoint"]["source_security_group_ids"] == ["sg-given"]


def test_a_vpc_named_must_be_exactly_one():
    named = network_inputs(network_vpc_name="main")
    assert access_options(named, SERVICES_FOUND, [{"vpc_id": "vpc-7"}])["vpc_id"] == "vpc-7"
    with pytest.raises(ValueError, match="network_vpc_name main matches 2 VPCs; exactly one is needed"):
        access_options(named, SERVICES_FOUND, [{"vpc_id": "vpc-7"}, {"vpc_id": "vpc-8"}])
    with pytest.raises(ValueError, match="network_vpc_name main was not looked up"):
        access_options(named, SERVICES_FOUND)
    # A VPC id wins over the name.
    assert access_options(network_inputs(network_vpc_name="main", network_vpc_id="vpc-1"), SERVICES_FOUND)["vpc_id"] == "vpc-1"


def test_the_network_role_publishes_what_the_next_roles_take():
    options = access_options(network_inputs(), SERVICES_FOUND)
    result = {"vpc_id": "vpc-1", "db_security_group": {"group_id": "sg-db"},
              "endpoint": {"changed": True, "endpoint": {"vpc_endpoint_id": "vpce-1", "state": "available"}}}
    assert access_facts(result, options) == {
        "network__vpc_id": "vpc-1", "network__subnet_ids": ["subnet-a", "subnet-b", "subnet-c"],
        "network__service_security_group_ids": ["sg-app", "sg-w"], "network__db_security_group_id": "sg-db",
        "network__secretsmanager_endpoint_id": "vpce-1", "network__secretsmanager_endpoint_changed": True,
        "network__secretsmanager_endpoint_pending_id": "",
    }
    # Created without waiting (AWS answers State "pendingAcceptance"/"pending" until it is ready): the service role waits for it.
    pending = dict(result, endpoint={"changed": True, "endpoint": {"vpc_endpoint_id": "vpce-1", "state": "pending"}})
    assert access_facts(pending, options)["network__secretsmanager_endpoint_pending_id"] == "vpce-1"
    skipped = dict(result, endpoint={"changed": False, "endpoint": None}, db_security_group={"group_id": None})
    facts = access_facts(skipped, options)
    assert facts["network__secretsmanager_endpoint_id"] is None and facts["network__db_security_group_id"] is None
    assert facts["network__secretsmanager_endpoint_pending_id"] == ""


def test_the_role_waits_for_the_endpoint_unless_told_not_to():
    assert access_options(network_inputs(), SERVICES_FOUND)["endpoint"]["wait"] is True
    assert access_options(network_inputs(network_wait=False), SERVICES_FOUND)["endpoint"]["wait"] is False


def test_the_teardown_finds_the_vpc_without_describing_the_services_when_it_can():
    described_services = [{"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"]}}},
                          {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-b"]}}}]
    plain = teardown_options(role_inputs("network", entry_point="teardown", network_deployment_id="shop-db", network_ecs_services=["api"]),
                             described_services)
    assert plain["describe_services"] is True and plain["service_names"] == ["api"]
    assert plain["endpoint"] == {"state": "absent", "deployment_id": "shop-db", "vpc_id": None,
                                 "subnet_ids": ["subnet-a", "subnet-b"], "security_group_name": "shop-db-secretsmanager-endpoint-sg"}
    assert plain["db_security_group"] == {"state": "absent", "deployment_id": "shop-db", "name": "shop-db-sg", "port": 5432,
                                          "rule_description": "ecsrds.connect: PostgreSQL from the ECS service"}
    named = teardown_options(role_inputs("network", entry_point="teardown", network_vpc_name="main",
                                         network_ecs_services=[{"name": "api"}]), [], [{"vpc_id": "vpc-7"}])
    assert named["describe_services"] is False and named["service_names"] == ["api"] and named["endpoint"]["vpc_id"] == "vpc-7"
