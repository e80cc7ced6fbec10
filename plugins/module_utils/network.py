# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VPC plumbing between an ECS service in private subnets and Secrets Manager: the interface
endpoint, its security group rule, the VPC DNS attributes private DNS depends on, and the NAT test
that decides whether an endpoint is needed at all.

Pure functions (planning, rule matching) are kept apart from :class:`NetworkClient` so they can be
unit-tested without AWS.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

try:
    from botocore.exceptions import ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible_collections.ecsrds.connect.plugins.module_utils.common import (
    Clients,
    EcsRdsError,
    Outcome,
    call,
    create_or_adopt,
    error_code,
    retry_while_busy,
    tags_to_dict,
    wait_for,
)
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import service_names, tcp_port_problem
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import (
    DELETE,
    RELEASE,
    adoption_tags,
    created_by,
    deployment_id_problem,
    deployment_tag,
    release_plan,
    rule_description,
    rule_owners,
    usage_tags,
)

ENDPOINT_RULE_DESCRIPTION = "ecsrds.connect: HTTPS from the ECS service to the Secrets Manager endpoint"
_GONE_STATES = {"deleted", "deleting", "failed", "rejected", "expired"}
# The argument spec of a described subnet as the modules take it (deployment_check's discovered.subnets).
SUBNET_OPTIONS = {key: {"type": "str"} for key in ("subnet_id", "availability_zone", "cidr_block", "vpc_id")}
# How long a security group delete keeps meeting DependencyViolation (network interfaces of a
# just-deleted endpoint or cluster linger for minutes on AWS) before the error is reported.
DEPENDENCY_WAIT = 600


def secretsmanager_service_name(region: str) -> str:
    return f"com.amazonaws.{region}.secretsmanager"


# ---------------------------------------------------------------------------------------------
# Pure logic


def one_subnet_per_az(subnets: Sequence[Dict[str, Any]]) -> List[str]:
    """AWS takes at most one endpoint subnet per Availability Zone: keep the first of each zone, in
    the order the caller gave them."""
    chosen: Dict[str, str] = {}
    for subnet in subnets:
        chosen.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
    return list(chosen.values())


def described_subnets(subnet_ids: Sequence[str], given: Optional[Sequence[Dict[str, Any]]]) -> Optional[List[Dict[str, Any]]]:
    """The subnets ``subnet_ids`` in the shape DescribeSubnets gives them, from ``given`` (snake_case
    entries another task already described, such as the inputs check's ``aws.subnets``), in the
    order of ``subnet_ids``; None when ``given`` does not describe every one of them in full."""
    keys = (("SubnetId", "subnet_id"), ("AvailabilityZone", "availability_zone"), ("CidrBlock", "cidr_block"), ("VpcId", "vpc_id"))
    by_id = {}
    for entry in given or []:
        if isinstance(entry, dict) and all(entry.get(snake) for _camel, snake in keys):
            by_id[entry["subnet_id"]] = {camel: entry[snake] for camel, snake in keys}
    if not subnet_ids or any(subnet_id not in by_id for subnet_id in subnet_ids):
        return None
    return [by_id[subnet_id] for subnet_id in subnet_ids]


def route_table_for(subnet: Dict[str, Any], route_tables: Sequence[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The table a subnet uses: its explicit association, else the VPC's main table."""
    main = None
    for table in route_tables:
        for assoc in table.get("Associations", []):
            if assoc.get("SubnetId") == subnet["SubnetId"]:
                return table
            if assoc.get("Main"):
                main = table
    return main


def has_nat_route(table: Optional[Dict[str, Any]]) -> bool:
    """A default route through a NAT gateway (or NAT instance) reaches Secrets Manager without an endpoint."""
    if not table:
        return False
    for route in table.get("Routes", []):
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" or route.get("State", "active") != "active":
            continue
        if route.get("NatGatewayId") or route.get("InstanceId"):
            return True
    return False


def all_subnets_use_nat(subnets: Sequence[Dict[str, Any]], route_tables: Sequence[Dict[str, Any]]) -> bool:
    return bool(subnets) and all(has_nat_route(route_table_for(subnet, route_tables)) for subnet in subnets)


def _covers_port(permission: Dict[str, Any], port: int) -> bool:
    if permission.get("IpProtocol") == "-1":
        return True
    if permission.get("IpProtocol") not in ("tcp", "6"):
        return False
    return permission.get("FromPort", 0) <= port <= permission.get("ToPort", 65535)


def _cidr_contains(outer: str, inner: str) -> bool:
    try:
        return ipaddress.ip_network(inner, strict=False).subnet_of(ipaddress.ip_network(outer, strict=False))
    except (TypeError, ValueError):
        return False


def source_allowed(
    groups: Sequence[Dict[str, Any]], port: int, source_group_id: Optional[str] = None, source_cidrs: Sequence[str] = ()
) -> bool:
    """True when one of ``groups`` lets ``port`` in from the source group, or from CIDR ranges that
    contain every one of ``source_cidrs`` (the ranges the source's traffic comes from)."""
    for group in groups:
        for permission in group.get("IpPermissions", []):
            if not _covers_port(permission, port):
                continue
            if source_group_id and any(pair.get("GroupId") == source_group_id for pair in permission.get("UserIdGroupPairs", [])):
                return True
            if source_cidrs:
                ranges = [r["CidrIp"] for r in permission.get("IpRanges", [])]
                if all(any(_cidr_contains(outer, inner) for outer in ranges) for inner in source_cidrs):
                    return True
    return False


def missing_ingress(
    groups: Sequence[Dict[str, Any]],
    port: int,
    source_group_ids: Sequence[str],
    source_cidrs: Sequence[str],
    subnet_cidrs: Sequence[str] = (),
) -> Tuple[List[str], List[str]]:
    """Source groups and CIDRs that ``groups`` do not yet let in on ``port``.

    A source group counts as allowed when a CIDR rule covers all of ``subnet_cidrs`` (the subnets its
    tasks run in): that is how the walk-through's endpoint, open to 10.0.0.0/16, was reached.
    """
    groups_missing = [g for g in source_group_ids if not source_allowed(groups, port, source_group_id=g, source_cidrs=subnet_cidrs)]
    cidrs_missing = [c for c in source_cidrs if not source_allowed(groups, port, source_cidrs=[c])]
    return groups_missing, cidrs_missing


def ingress_permission(port: int, group_ids: Sequence[str], cidrs: Sequence[str], description: str) -> Dict[str, Any]:
    permission: Dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if group_ids:
        permission["UserIdGroupPairs"] = [{"GroupId": g, "Description": description} for g in group_ids]
    if cidrs:
        permission["IpRanges"] = [{"CidrIp": c, "Description": description} for c in cidrs]
    return permission


def _entries(permission: Dict[str, Any]) -> List[Tuple[str, str, Dict[str, Any]]]:
    """(list key, source key, entry) for each source of a permission."""
    return [("UserIdGroupPairs", "GroupId", p) for p in permission.get("UserIdGroupPairs", [])] + [
        ("IpRanges", "CidrIp", r) for r in permission.get("IpRanges", [])
    ]


def _with_entries(permission: Dict[str, Any], entries: List[Tuple[str, str, Dict[str, Any]]]) -> Dict[str, Any]:
    item = {k: permission[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in permission}
    for list_key, _source_key, entry in entries:
        item.setdefault(list_key, []).append(entry)
    return item


def reliable_rules(group: Dict[str, Any], deployment_id: str) -> Dict[str, Any]:
    """The group with only the rules ``deployment_id`` may rely on: its own, and those no deployment
    added (never revoked by us). Another deployment's rule goes with that deployment's teardown."""
    permissions = []
    for permission in group.get("IpPermissions", []):
        kept = []
        for entry in _entries(permission):
            owners = rule_owners(entry[2].get("Description"))[1]
            if not owners or deployment_id in owners:
                kept.append(entry)
        if kept:
            permissions.append(_with_entries(permission, kept))
    return dict(group, IpPermissions=permissions)


def exact_rule(group: Optional[Dict[str, Any]], port: int, source: str) -> Optional[Dict[str, Any]]:
    """The entry admitting exactly ``source`` (group id or CIDR) on exactly ``port``: AWS keeps one
    rule per protocol, port range and source, whatever the descriptions."""
    for permission in (group or {}).get("IpPermissions", []):
        if permission.get("IpProtocol") not in ("tcp", "6") or permission.get("FromPort") != port or permission.get("ToPort") != port:
            continue
        for _list_key, source_key, entry in _entries(permission):
            if entry.get(source_key) == source:
                return entry
    return None


def rules_of(group: Dict[str, Any], deployment_id: str) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """The group's rules that carry ``deployment_id``, shaped for the API: (to revoke, because no
    other deployment shares them; to re-describe without it, because others still do)."""
    revoke, update = [], []
    for permission in group.get("IpPermissions", []):
        alone, shared = [], []
        for list_key, source_key, entry in _entries(permission):
            text, owners = rule_owners(entry.get("Description"))
            if deployment_id not in owners:
                continue
            if owners == {deployment_id}:
                # The description rides along: AWS ignores it when matching, moto needs it.
                alone.append((list_key, source_key, {source_key: entry[source_key], "Description": entry["Description"]}))
            else:
                shared.append((list_key, source_key, {source_key: entry[source_key], "Description": rule_description(text, owners - {deployment_id})}))
        if alone:
            revoke.append(_with_entries(permission, alone))
        if shared:
            update.append(_with_entries(permission, shared))
    return revoke, update


def _same_rule(permission: Dict[str, Any], other: Dict[str, Any]) -> bool:
    return all(permission.get(key) == other.get(key) for key in ("IpProtocol", "FromPort", "ToPort"))


def with_rule_changes(
    group: Dict[str, Any], added: Sequence[Dict[str, Any]] = (), described: Sequence[Dict[str, Any]] = (), revoked: Sequence[Dict[str, Any]] = ()
) -> Dict[str, Any]:
    """The group as AWS holds it after this module's own writes, without describing it again: the
    permissions ``added`` (AuthorizeSecurityGroupIngress), the entries of ``described`` with their new
    description (UpdateSecurityGroupRuleDescriptionsIngress), the entries of ``revoked`` gone."""
    permissions = [dict(permission) for permission in group.get("IpPermissions", [])]
    for changes, drop in ((described, False), (revoked, True)):
        for change in changes:
            for index, permission in enumerate(permissions):
                if not _same_rule(permission, change):
                    continue
                kept = []
                for list_key, source_key, entry in _entries(permission):
                    match = next((e for lk, sk, e in _entries(change) if lk == list_key and e.get(sk) == entry.get(source_key)), None)
                    if match is None:
                        kept.append((list_key, source_key, entry))
                    elif not drop:
                        kept.append((list_key, source_key, dict(entry, Description=match.get("Description"))))
                permissions[index] = _with_entries(permission, kept)
    permissions = [permission for permission in permissions if _entries(permission)] + [dict(permission) for permission in added]
    return dict(group, IpPermissions=permissions)


def with_tags(resource: Dict[str, Any], added: Mapping[str, str]) -> Dict[str, Any]:
    """The resource after CreateTags of ``added``, without describing it again."""
    if not added:
        return resource
    tags = dict(tags_to_dict(resource.get("Tags")), **added)
    return dict(resource, Tags=[{"Key": key, "Value": value} for key, value in tags.items()])


def rules_on_other_ports(
    group: Dict[str, Any], text: str, deployment_id: str, port: int
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """What a port change leaves behind: this deployment's rules with description ``text`` for any
    port but ``port``, as ``rules_of`` shapes them (to revoke; to re-describe without it, because
    other deployments share them). A rule without our mark or with another text is never touched."""
    others = []
    for permission in group.get("IpPermissions", []):
        if (permission.get("FromPort"), permission.get("ToPort")) == (port, port):
            continue
        entries = [entry for entry in _entries(permission) if rule_owners(entry[2].get("Description"))[0] == text]
        if entries:
            others.append(_with_entries(permission, entries))
    return rules_of(dict(group, IpPermissions=others), deployment_id)


def ours_on_other_ports(group: Optional[Dict[str, Any]], text: str, deployment_id: str, port: int) -> List[Dict[str, Any]]:
    """This deployment's rules on ports other than ``port`` (:func:`rules_on_other_ports`), one entry
    per source, as a diff shows them."""
    if not group:
        return []
    stale, shared = rules_on_other_ports(group, text, deployment_id, port)
    return [{"port": permission.get("FromPort"), "source": entry.get(source_key), "description": entry.get("Description")}
            for permission in stale + shared for _list_key, source_key, entry in _entries(permission)]


def endpoint_summary(endpoint: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if not endpoint:
        return None
    return {
        "vpc_endpoint_id": endpoint.get("VpcEndpointId"),
        "vpc_endpoint_type": endpoint.get("VpcEndpointType"),
        "service_name": endpoint.get("ServiceName"),
        "vpc_id": endpoint.get("VpcId"),
        "state": endpoint.get("State"),
        "subnet_ids": sorted(endpoint.get("SubnetIds", [])),
        "security_group_ids": sorted(g["GroupId"] for g in endpoint.get("Groups", [])),
        "private_dns_enabled": bool(endpoint.get("PrivateDnsEnabled")),
        "dns_entries": [{"dns_name": d.get("DnsName"), "hosted_zone_id": d.get("HostedZoneId")} for d in endpoint.get("DnsEntries", [])],
        "tags": tags_to_dict(endpoint.get("Tags")),
    }


def missing_tags(resource: Dict[str, Any], wanted: Dict[str, str]) -> Dict[str, str]:
    """Tags to set on a resource we created so it carries ``wanted`` (others' tags are kept)."""
    current = tags_to_dict(resource.get("Tags"))
    return {k: v for k, v in wanted.items() if current.get(k) != v}


# ---------------------------------------------------------------------------------------------
# AWS calls


class NetworkClient:
    """Small typed wrappers over the EC2 calls this area makes; every one retried, every failure
    raised as EcsRdsError naming what was being done."""

    def __init__(self, client: Any) -> None:
        self.client = client
        # One DescribeSecurityGroups answer for several groups of one VPC, read by name or id until
        # the next write (see prefetch_security_groups and forget).
        self._prefetched: Optional[Dict[str, Any]] = None

    def _call(self, what: str, method: str, **kwargs: Any) -> Dict[str, Any]:
        return call(self.client, method, what, **kwargs)

    def _paged(self, what: str, method: str, key: str, **kwargs: Any) -> List[Dict[str, Any]]:
        items: List[Dict[str, Any]] = []
        while True:
            page = self._call(what, method, **kwargs)
            items.extend(page.get(key, []))
            token = page.get("NextToken")
            if not token:
                return items
            kwargs["NextToken"] = token

    # reads
    def subnets(self, subnet_ids: Sequence[str]) -> List[Dict[str, Any]]:
        found = self._paged("describe subnets", "describe_subnets", "Subnets", SubnetIds=list(subnet_ids))
        order = {subnet_id: index for index, subnet_id in enumerate(subnet_ids)}
        return sorted(found, key=lambda s: order.get(s["SubnetId"], len(order)))

    def route_tables(self, vpc_id: str) -> List[Dict[str, Any]]:
        return self._paged("describe route tables", "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])

    def vpc_dns(self, vpc_id: str) -> Dict[str, bool]:
        result = {}
        for attribute, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
            response = self._call(f"describe {attribute} of VPC {vpc_id}", "describe_vpc_attribute", VpcId=vpc_id, Attribute=attribute)
            result[attribute] = bool(response.get(key, {}).get("Value"))
        return result

    def endpoints(self, vpc_id: str, service_name: str) -> List[Dict[str, Any]]:
        found = self._paged(
            "describe VPC endpoints",
            "describe_vpc_endpoints",
            "VpcEndpoints",
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "service-name", "Values": [service_name]}],
        )
        return [e for e in found if str(e.get("State", "")).lower() not in _GONE_STATES and e.get("VpcEndpointType", "Interface") == "Interface"]

    def endpoint(self, endpoint_id: str) -> Optional[Dict[str, Any]]:
        found = self._paged("describe VPC endpoint", "describe_vpc_endpoints", "VpcEndpoints", VpcEndpointIds=[endpoint_id])
        return found[0] if found else None

    def prefetch_security_groups(self, vpc_id: str, names: Sequence[str]) -> None:
        """Describe the groups named ``names`` in the VPC in one call; later lookups of those names
        in that VPC, or of those groups' ids, are answered from it until ``forget``."""
        wanted = sorted({name for name in names if name})
        if not wanted:
            return
        found = self._paged(
            "describe security groups",
            "describe_security_groups",
            "SecurityGroups",
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": wanted}],
        )
        self._prefetched = {"vpc_id": vpc_id, "names": set(wanted), "groups": found}

    def forget(self, touched: Optional[Sequence[Any]] = None) -> None:
        """Drop what a write may change: the prefetched groups it names by id or by name (after that
        write only a new describe tells what AWS holds for them), or all of them when ``touched`` is
        None. A group the write does not name keeps its answer, so a converging run that changes the
        endpoint does not describe the database group again."""
        known = self._prefetched
        if known is None or touched is None:
            self._prefetched = None
            return
        words = {value for value in touched if isinstance(value, str)}
        gone = [group for group in known["groups"] if group.get("GroupId") in words or group.get("GroupName") in words]
        known["groups"] = [group for group in known["groups"] if group not in gone]
        known["names"] = known["names"] - words - {group.get("GroupName") for group in gone}

    def _from_prefetched(self, group_ids: Sequence[str], vpc_id: Optional[str], name: Optional[str]) -> Optional[List[Dict[str, Any]]]:
        known = self._prefetched
        if known is None:
            return None
        if group_ids and not (vpc_id or name):
            by_id = {group["GroupId"]: group for group in known["groups"]}
            if all(group_id in by_id for group_id in group_ids):
                return [by_id[group_id] for group_id in group_ids]
            return None
        if name and not group_ids and vpc_id == known["vpc_id"] and name in known["names"]:
            # An empty answer is an answer too: the group does not exist (yet).
            return [group for group in known["groups"] if group.get("GroupName") == name]
        return None

    def security_groups(self, group_ids: Sequence[str] = (), vpc_id: Optional[str] = None, name: Optional[str] = None) -> List[Dict[str, Any]]:
        prefetched = self._from_prefetched(group_ids, vpc_id, name)
        if prefetched is not None:
            return prefetched
        kwargs: Dict[str, Any] = {}
        if group_ids:
            kwargs["GroupIds"] = list(group_ids)
        filters = []
        if vpc_id:
            filters.append({"Name": "vpc-id", "Values": [vpc_id]})
        if name:
            filters.append({"Name": "group-name", "Values": [name]})
        if filters:
            kwargs["Filters"] = filters
        return self._paged("describe security groups", "describe_security_groups", "SecurityGroups", **kwargs)

    # writes
    def enable_vpc_dns(self, vpc_id: str, attribute: str) -> None:
        key = attribute[0].upper() + attribute[1:]
        self._call(f"turn on {attribute} for VPC {vpc_id}", "modify_vpc_attribute", VpcId=vpc_id, **{key: {"Value": True}})

    def create_security_group(self, name: str, description: str, vpc_id: str, tags: Dict[str, str]) -> str:
        spec = [{"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]

        def create() -> str:
            try:
                return self.client.create_security_group(GroupName=name, Description=description, VpcId=vpc_id, TagSpecifications=spec)["GroupId"]
            except ClientError as exc:
                # The name is unique in the VPC: "duplicate" means an earlier attempt (or a
                # concurrent run) made it since the caller looked.
                found = self.security_groups(vpc_id=vpc_id, name=name) if error_code(exc) == "InvalidGroup.Duplicate" else []
                if not found:
                    raise
                return found[0]["GroupId"]

        def find_existing() -> Optional[str]:
            found = self.security_groups(vpc_id=vpc_id, name=name)
            return found[0]["GroupId"] if found else None

        return create_or_adopt(create, find_existing, f"create security group {name}")

    def authorize_ingress(self, group_id: str, permission: Dict[str, Any]) -> None:
        # Resent after a lost answer, the rule is already there: AWS says so with Duplicate.
        call(self.client, "authorize_security_group_ingress", f"authorize ingress on security group {group_id}",
             already_done=("InvalidPermission.Duplicate",), GroupId=group_id, IpPermissions=[permission])

    def revoke_ingress(self, group_id: str, permissions: List[Dict[str, Any]]) -> None:
        call(self.client, "revoke_security_group_ingress", f"revoke ingress on security group {group_id}",
             already_done=("InvalidPermission.NotFound",), GroupId=group_id, IpPermissions=permissions)

    def tag(self, resource_id: str, tags: Dict[str, str]) -> None:
        self._call(f"tag {resource_id}", "create_tags", Resources=[resource_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def untag(self, resource_id: str, keys: List[str]) -> None:
        self._call(f"untag {resource_id}", "delete_tags", Resources=[resource_id], Tags=[{"Key": k} for k in keys])

    def describe_rules(self, group_id: str, permissions: List[Dict[str, Any]]) -> None:
        self._call(
            f"update rule descriptions on security group {group_id}",
            "update_security_group_rule_descriptions_ingress",
            GroupId=group_id,
            IpPermissions=permissions,
        )

    def delete_security_group(self, group_id: str, timeout: float = DEPENDENCY_WAIT) -> None:
        what = f"delete security group {group_id}"
        retry_while_busy(
            lambda: call(self.client, "delete_security_group", what, already_done=("InvalidGroup.NotFound",), GroupId=group_id),
            timeout,
            f"{what} (still in use: network interfaces of a deleted endpoint or cluster can linger for minutes)",
            codes=("DependencyViolation",),
        )

    def create_endpoint(self, vpc_id: str, service_name: str, subnet_ids: List[str], group_ids: List[str], tags: Dict[str, str], token: str) -> Dict[str, Any]:
        spec = [{"ResourceType": "vpc-endpoint", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]

        # The same ClientToken on every attempt makes AWS answer a resend with the endpoint it
        # already made; describing first also covers servers that ignore the token (moto does).
        def create() -> Dict[str, Any]:
            return self.client.create_vpc_endpoint(
                VpcEndpointType="Interface",
                VpcId=vpc_id,
                ServiceName=service_name,
                SubnetIds=subnet_ids,
                SecurityGroupIds=group_ids,
                PrivateDnsEnabled=True,
                TagSpecifications=spec,
                ClientToken=token,
            )["VpcEndpoint"]

        def find_existing() -> Optional[Dict[str, Any]]:
            found = self.endpoints(vpc_id, service_name)
            return found[0] if found else None

        return create_or_adopt(create, find_existing, f"create VPC endpoint for {service_name}")

    def modify_endpoint(self, endpoint_id: str, **changes: Any) -> None:
        self._call(f"modify VPC endpoint {endpoint_id}", "modify_vpc_endpoint", VpcEndpointId=endpoint_id, **changes)

    def delete_endpoint(self, endpoint_id: str) -> None:
        response = self._call(f"delete VPC endpoint {endpoint_id}", "delete_vpc_endpoints", VpcEndpointIds=[endpoint_id])
        if response.get("Unsuccessful"):
            error = response["Unsuccessful"][0].get("Error", {})
            raise EcsRdsError(message=f"Failed to delete VPC endpoint {endpoint_id}: {error.get('Message', error)}")


# ---------------------------------------------------------------------------------------------
# The job


class _NetworkJob:
    """What both network modules do alike: record (and outside check mode send) each write, tag
    what they create, and let sources in on a port, adding only the missing rules."""

    def __init__(self, net: NetworkClient, params: Dict[str, Any], check_mode: bool) -> None:
        self.net = net
        self.params = params
        self.check_mode = check_mode
        self.changed = False
        self.actions: List[str] = []

    def _do(self, action: str, write: Any, *args: Any, **kwargs: Any) -> Any:
        """Record a change; send it only outside check mode."""
        self.changed = True
        self.actions.append(action)
        if self.check_mode:
            return None
        # Before the write: a read inside it (adopting a duplicate) must see AWS, not the prefetch. Every
        # write that changes a security group names it (by id, or by name when creating it).
        self.net.forget(args)
        return write(*args, **kwargs)

    @property
    def me(self) -> str:
        return self.params["deployment_id"]

    def _tags(self, name: Optional[str]) -> Dict[str, str]:
        """Tags of a resource this deployment creates."""
        tags = dict(self.params.get("tags") or {})
        if name:
            tags.setdefault("Name", name)
        tags.update(usage_tags(self.me, created=True))
        return tags

    def _mark_used(self, resource: Dict[str, Any], resource_id: str, name: Optional[str]) -> Dict[str, Any]:
        """The creator keeps its resource's tags up to date; any other deployment only adds its own
        mark, so a shared or pre-existing resource is never renamed or retagged as its own. Returns
        the resource with the tags it (or check mode) added."""
        current = tags_to_dict(resource.get("Tags"))
        if created_by(current) == self.me:
            add = missing_tags(resource, self._tags(name))
        else:
            add = adoption_tags(current, self.me)
        if add:
            self._do(f"tag {resource_id} with {sorted(add)}", self.net.tag, resource_id, add)
        return with_tags(resource, add)

    def _sources(self) -> Tuple[List[str], List[str]]:
        return list(self.params.get("source_security_group_ids") or []), list(self.params.get("source_cidrs") or [])

    def _admit(
        self, groups: List[Dict[str, Any]], target_id: Optional[str], port: int, subnet_cidrs: Sequence[str]
    ) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
        """Let the sources in on ``port`` through ``target_id``: a source that only another
        deployment's rule admits gets this deployment added to that rule (AWS allows one rule per
        source) or a rule of its own. Returns the permission added and the one re-described (or None)."""
        group_sources, cidr_sources = self._sources()
        reliable = [reliable_rules(group, self.me) for group in groups]
        need_groups, need_cidrs = missing_ingress(reliable, port, group_sources, cidr_sources, subnet_cidrs)
        target = next((group for group in groups if group.get("GroupId") == target_id), None)
        joined: List[Tuple[str, str, Dict[str, Any]]] = []
        for list_key, source_key, sources in (("UserIdGroupPairs", "GroupId", need_groups), ("IpRanges", "CidrIp", need_cidrs)):
            for source in list(sources):
                shared = exact_rule(target, port, source)
                if shared is not None:
                    text, owners = rule_owners(shared.get("Description"))
                    joined.append((list_key, source_key, {source_key: source, "Description": rule_description(text, owners | {self.me})}))
                    sources.remove(source)
        described = _with_entries({"IpProtocol": "tcp", "FromPort": port, "ToPort": port}, joined) if joined else None
        if described:
            named = ", ".join(entry[2][entry[1]] for entry in joined)
            self._do(f"add {self.me} to the {port} rule on {target_id} for {named}", self.net.describe_rules, target_id, [described])
        if not (need_groups or need_cidrs):
            return None, described
        permission = ingress_permission(port, need_groups, need_cidrs, rule_description(self.params["rule_description"], [self.me]))
        self._do(f"allow {port} on {target_id or 'the new security group'} from {', '.join(need_groups + need_cidrs)}",
                 self.net.authorize_ingress, target_id, permission)
        return permission, described

    def _ensure_group(
        self, found: List[Dict[str, Any]], name: str, vpc_id: str, description: str, port: int, subnet_cidrs: Sequence[str] = ()
    ) -> Dict[str, Any]:
        """The group ``found`` by name in the VPC (created when missing) letting the sources in on
        ``port``. Returns it as described (``GroupId`` None when check mode would create it)."""
        tags = self._tags(name)
        if found:
            group = self._mark_used(found[0], found[0]["GroupId"], name)
        else:
            group_id = self._do(f"create security group {name} in {vpc_id}", self.net.create_security_group, name, description, vpc_id, tags)
            group = {"GroupId": group_id, "GroupName": name, "VpcId": vpc_id, "Description": description, "IpPermissions": [],
                     "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        added, described = self._admit([group], group["GroupId"], port, subnet_cidrs)
        return with_rule_changes(group, added=[added] if added else [], described=[described] if described else [])

    def _revoke_ours(self, group: Dict[str, Any]) -> None:
        """Take this deployment off the group's rules: revoke those only it holds, re-describe shared ones."""
        revoke, update = rules_of(group, self.me)
        if update:
            self._do(f"remove {self.me} from shared rules on {group['GroupId']}", self.net.describe_rules, group["GroupId"], update)
        if revoke:
            self._do(f"revoke our rules on {group['GroupId']}", self.net.revoke_ingress, group["GroupId"], revoke)

    def _release(self, resource: Dict[str, Any], resource_id: str) -> str:
        """Drop this deployment's mark unless the resource is to be deleted; the release plan."""
        plan = release_plan(tags_to_dict(resource.get("Tags")), self.me)
        if plan == RELEASE:
            self._do(f"untag {resource_id} ({deployment_tag(self.me)})", self.net.untag, resource_id, [deployment_tag(self.me)])
        return plan


def subnets_and_vpc(net: NetworkClient, params: Dict[str, Any]) -> Tuple[List[Dict[str, Any]], str]:
    """The subnets of ``subnet_ids`` (from ``subnets`` when they describe them all, else one
    DescribeSubnets) and the one VPC they are in."""
    subnet_ids = params["subnet_ids"]
    subnets = described_subnets(subnet_ids, params.get("subnets")) or net.subnets(subnet_ids)
    vpcs = {s["VpcId"] for s in subnets}
    if len(vpcs) != 1:
        raise EcsRdsError(message=f"subnet_ids must all be in one VPC; they are in {sorted(vpcs)}")
    vpc_id = vpcs.pop()
    if params.get("vpc_id") and params["vpc_id"] != vpc_id:
        raise EcsRdsError(message=f"subnet_ids are in VPC {vpc_id}, not in vpc_id {params['vpc_id']}")
    return subnets, vpc_id


class SecretsManagerEndpoint(_NetworkJob):
    """Ensure (or remove) the Secrets Manager interface endpoint an ECS service in private subnets
    needs, reusing one that already exists in the VPC."""

    poll_delay = 5.0

    def __init__(self, net: NetworkClient, region: str, params: Dict[str, Any], check_mode: bool) -> None:
        super().__init__(net, params, check_mode)
        self.service_name = secretsmanager_service_name(region)
        self.endpoint_modified = False
        # The 443 sources of an existing endpoint's group, before and after this run, for the diff.
        self.group_diff: Optional[Dict[str, Any]] = None
        # The existing endpoint with the tags this run added (it is not described again for them).
        self.tagged_endpoint: Optional[Dict[str, Any]] = None

    def _subnets_and_vpc(self) -> Tuple[List[Dict[str, Any]], str]:
        return subnets_and_vpc(self.net, self.params)

    def present(self) -> Dict[str, Any]:
        subnets, vpc_id = self._subnets_and_vpc()
        result: Dict[str, Any] = {"vpc_id": vpc_id, "service_name": self.service_name, "skipped": False, "skip_reason": None}
        endpoints = self.net.endpoints(vpc_id, self.service_name)
        if not endpoints and self.params["skip_when_nat"] and all_subnets_use_nat(subnets, self.net.route_tables(vpc_id)):
            result.update(skipped=True, skip_reason="every subnet routes 0.0.0.0/0 through a NAT gateway", endpoint=None, security_group_id=None)
            return result

        # The VPC's DNS attributes are read only when private DNS is about to be turned on (a new
        # endpoint, or one with it off). An endpoint that has private DNS already needed both on
        # (AWS refuses private DNS otherwise), and ecs_secrets_preflight re-checks them (vpc_dns)
        # before every rollout, so a no-op run does not read them again.
        if not endpoints or not endpoints[0].get("PrivateDnsEnabled"):
            self._ensure_vpc_dns(vpc_id)
        subnet_cidrs = [s["CidrBlock"] for s in subnets]
        before = endpoint_summary(endpoints[0]) if endpoints else None
        if endpoints:
            endpoint = endpoints[0]
            group_ids = [g["GroupId"] for g in endpoint.get("Groups", [])]
            group_id = self._ensure_ingress_on_existing(group_ids, subnet_cidrs)
            self._ensure_endpoint_settings(endpoint, subnets)
            endpoint_id = endpoint["VpcEndpointId"]
        else:
            group_id = self._ensure_endpoint_group(vpc_id, subnet_cidrs)
            endpoint_id = None
            created = self._do(
                f"create endpoint {self.service_name}",
                self.net.create_endpoint,
                vpc_id,
                self.service_name,
                one_subnet_per_az(subnets),
                [group_id],
                self._tags(self.params.get("name")),
                # One token per run: a retried create after a lost response returns the same endpoint,
                # while a later run (say after a teardown) is not answered with a deleted one.
                self.params.get("client_token") or str(uuid.uuid4()),
            )
            if created:
                endpoint_id = created["VpcEndpointId"]
        touched = not endpoints or self.endpoint_modified
        if endpoint_id and touched and not self.check_mode:
            # Created or modified: pending until AWS has made it so; its description then tells.
            endpoint = self._wait_available(endpoint_id) if self.params["wait"] else self.net.endpoint(endpoint_id)
        else:
            endpoint = self.tagged_endpoint or (endpoints[0] if endpoints else None)
        after = endpoint_summary(endpoint) if endpoint else self._planned(vpc_id, subnets, group_id)
        result.update(endpoint=endpoint_summary(endpoint), security_group_id=group_id, would_create=not endpoints and self.check_mode)
        # A new service's 443 rule on an existing endpoint's group is part of what the run changes.
        group = self.group_diff or {}
        result["diff"] = {side: dict(summary or {}, **({"security_group": group[side]} if group else {}))
                          for side, summary in (("before", before), ("after", after))}
        return result

    def _wait_available(self, endpoint_id: str) -> Dict[str, Any]:
        """An endpoint is pending after it is created or changed, and tasks cannot use it until it is
        available: wait (bounded by wait_timeout) and return it as described then."""

        def check() -> Optional[Dict[str, Any]]:
            endpoint = self.net.endpoint(endpoint_id)
            problem = endpoint_unusable(endpoint_id, endpoint)
            if problem:
                raise EcsRdsError(message=problem)
            return endpoint if str((endpoint or {}).get("State", "")).lower() == "available" else None

        return wait_for(check, self.params["wait_timeout"], f"VPC endpoint {endpoint_id} to be available", delay=self.poll_delay)

    def _planned(self, vpc_id: str, subnets: List[Dict[str, Any]], group_id: Optional[str]) -> Dict[str, Any]:
        return {
            "vpc_endpoint_id": None,
            "service_name": self.service_name,
            "vpc_id": vpc_id,
            "subnet_ids": sorted(one_subnet_per_az(subnets)),
            "security_group_ids": [group_id],
            "private_dns_enabled": True,
        }

    def _ensure_vpc_dns(self, vpc_id: str) -> None:
        off = [attribute for attribute, value in self.net.vpc_dns(vpc_id).items() if not value]
        if not off:
            return
        if not self.params["manage_vpc_dns"]:
            raise EcsRdsError(
                message=(
                    f"Private DNS for the Secrets Manager endpoint needs {' and '.join(off)} on VPC {vpc_id}; "
                    "turn them on or set manage_vpc_dns=true"
                )
            )
        # enableDnsHostnames can only be turned on once enableDnsSupport is.
        for attribute in ("enableDnsSupport", "enableDnsHostnames"):
            if attribute in off:
                self._do(f"turn on {attribute} for {vpc_id}", self.net.enable_vpc_dns, vpc_id, attribute)

    def _ensure_endpoint_group(self, vpc_id: str, subnet_cidrs: List[str]) -> Optional[str]:
        name = self.params["security_group_name"]
        found = self.net.security_groups(vpc_id=vpc_id, name=name)
        return self._ensure_group(found, name, vpc_id, self.params["security_group_description"], 443, subnet_cidrs)["GroupId"]

    def _ensure_ingress_on_existing(self, group_ids: List[str], subnet_cidrs: List[str]) -> Optional[str]:
        if not group_ids:
            raise EcsRdsError(message="The existing Secrets Manager endpoint has no security group to allow 443 on")
        groups = self.net.security_groups(group_ids=group_ids)
        # Add the rule to the first group: any of the endpoint's groups admits the traffic.
        first = next((group for group in groups if group["GroupId"] == group_ids[0]), None)
        if first is not None:
            self._mark_used(first, group_ids[0], None)
        added, described = self._admit(groups, group_ids[0], 443, subnet_cidrs)
        if first is not None:
            after = with_rule_changes(first, added=[added] if added else [], described=[described] if described else [])
            self.group_diff = {"before": group_summary(first, 443), "after": group_summary(after, 443)}
        return group_ids[0]

    def _ensure_endpoint_settings(self, endpoint: Dict[str, Any], subnets: List[Dict[str, Any]]) -> None:
        endpoint_id = endpoint["VpcEndpointId"]
        changes: Dict[str, Any] = {}
        if not endpoint.get("PrivateDnsEnabled"):
            changes["PrivateDnsEnabled"] = True
        covered = {s["AvailabilityZone"] for s in subnets if s["SubnetId"] in set(endpoint.get("SubnetIds", []))}
        add = one_subnet_per_az([s for s in subnets if s["AvailabilityZone"] not in covered and s["SubnetId"] not in endpoint.get("SubnetIds", [])])
        # An endpoint subnet the service does not use may still sit in a zone we need; AWS then
        # refuses a second one there, so only zones with no endpoint subnet at all are added.
        add = [s for s in add if not self._zone_has_endpoint_subnet(s, subnets, endpoint)]
        if add:
            changes["AddSubnetIds"] = add
        if changes:
            self.endpoint_modified = True
            self._do(f"update endpoint {endpoint_id}: {sorted(changes)}", self.net.modify_endpoint, endpoint_id, **changes)
        self.tagged_endpoint = self._mark_used(endpoint, endpoint_id, self.params.get("name"))

    def _zone_has_endpoint_subnet(self, subnet_id: str, subnets: List[Dict[str, Any]], endpoint: Dict[str, Any]) -> bool:
        zone = next(s["AvailabilityZone"] for s in subnets if s["SubnetId"] == subnet_id)
        unknown = [s for s in endpoint.get("SubnetIds", []) if s not in {x["SubnetId"] for x in subnets}]
        if not unknown:
            return False
        others = described_subnets(unknown, self.params.get("subnets")) or self.net.subnets(unknown)
        return any(s["AvailabilityZone"] == zone for s in others)

    def absent(self) -> Dict[str, Any]:
        """Take this deployment off the VPC's Secrets Manager endpoints: its rules revoked (or its
        name removed from shared ones), its tag removed, and an endpoint or security group this
        collection created deleted when no other deployment uses it."""
        if self.params.get("vpc_id"):
            vpc_id = self.params["vpc_id"]
        else:
            vpc_id = self._subnets_and_vpc()[1]
        deleted: List[str] = []
        groups_to_delete: Dict[str, Dict[str, Any]] = {}
        kept_groups: set = set()
        for endpoint in self.net.endpoints(vpc_id, self.service_name):
            groups = self.net.security_groups(group_ids=[g["GroupId"] for g in endpoint.get("Groups", [])])
            endpoint_plan = self._release(endpoint, endpoint["VpcEndpointId"])
            if endpoint_plan == DELETE:
                self._do(f"delete endpoint {endpoint['VpcEndpointId']}", self.net.delete_endpoint, endpoint["VpcEndpointId"])
                deleted.append(endpoint["VpcEndpointId"])
            for group in groups:
                group_plan = release_plan(tags_to_dict(group.get("Tags")), self.me)
                if group_plan == DELETE and endpoint_plan == DELETE:
                    groups_to_delete[group["GroupId"]] = group
                    continue
                kept_groups.add(group["GroupId"])
                self._revoke_ours(group)
                self._release(group, group["GroupId"])
        # A group this deployment created for an endpoint that was never made.
        for group in self.net.security_groups(vpc_id=vpc_id, name=self.params["security_group_name"]):
            if group["GroupId"] in groups_to_delete or group["GroupId"] in kept_groups:
                continue
            if release_plan(tags_to_dict(group.get("Tags")), self.me) == DELETE:
                groups_to_delete[group["GroupId"]] = group
            else:
                self._revoke_ours(group)
                self._release(group, group["GroupId"])
        if deleted and not self.check_mode and self.params["wait"]:
            # The endpoint's network interfaces hold the group until the endpoint is gone.
            for endpoint_id in deleted:
                wait_for(
                    lambda eid=endpoint_id: True if (self.net.endpoint(eid) or {}).get("State", "deleted").lower() in _GONE_STATES else None,
                    self.params["wait_timeout"],
                    f"VPC endpoint {endpoint_id} to be deleted",
                )
        for group_id in groups_to_delete:
            self._do(f"delete security group {group_id}", self.net.delete_security_group, group_id, self.params["wait_timeout"])
        return {"vpc_id": vpc_id, "service_name": self.service_name, "endpoint": None, "deleted_endpoint_ids": deleted,
                "deleted_group_ids": list(groups_to_delete), "skipped": False}


def endpoint_unusable(endpoint_id: str, endpoint: Optional[Mapping[str, Any]]) -> Optional[str]:
    """Why an endpoint being waited for will never be available (gone, rejected, failed), or None."""
    state = str((endpoint or {}).get("State", "")).lower()
    if endpoint is None or state in _GONE_STATES:
        return f"VPC endpoint {endpoint_id} became {state or 'gone'} instead of available"
    return None


def group_summary(group: Optional[Dict[str, Any]], port: int) -> Optional[Dict[str, Any]]:
    if not group:
        return None
    sources = []
    for permission in group.get("IpPermissions", []):
        if not _covers_port(permission, port):
            continue
        sources += [{"group_id": p["GroupId"], "description": p.get("Description")} for p in permission.get("UserIdGroupPairs", [])]
        sources += [{"cidr_ip": r["CidrIp"], "description": r.get("Description")} for r in permission.get("IpRanges", [])]
    return {
        "group_id": group.get("GroupId"),
        "group_name": group.get("GroupName"),
        "vpc_id": group.get("VpcId"),
        "description": group.get("Description"),
        "port": port,
        "ingress_sources": sources,
        "tags": tags_to_dict(group.get("Tags")),
    }


class SecurityGroupIngress(_NetworkJob):
    """A security group (found by name in the VPC, created when missing) that admits a port from
    given sources; rules are only added. ``absent`` deletes the group when it carries our tag and
    otherwise revokes only the rules carrying our description."""

    def present(self) -> Dict[str, Any]:
        p = self.params
        before_groups = self.net.security_groups(vpc_id=p["vpc_id"], name=p["name"])
        before = group_summary(before_groups[0], p["port"]) if before_groups else None
        group = self._ensure_group(before_groups, p["name"], p["vpc_id"], p["description"], p["port"])
        # After a port change this deployment leaves its rule for the old port, once the new one is in place.
        stale, shared = rules_on_other_ports(before_groups[0], p["rule_description"], self.me, p["port"]) if before_groups else ([], [])
        if shared:
            ports = ", ".join(sorted({str(rule.get("FromPort")) for rule in shared}))
            self._do(f"remove {self.me} from the shared rule for port {ports} on {group['GroupId']}",
                     self.net.describe_rules, group["GroupId"], shared)
        if stale:
            ports = ", ".join(sorted({str(rule.get("FromPort")) for rule in stale}))
            self._do(f"revoke our rule for port {ports} on {group['GroupId']}", self.net.revoke_ingress, group["GroupId"], stale)
        # As AWS holds it after these writes (their answers tell no more), so it is described once per run.
        group = with_rule_changes(group, described=shared, revoked=stale)
        after = group_summary(group, p["port"])
        # A port change also takes our rule off the old port: the diff shows it going (the result keeps
        # its shape, the rules of the port asked for).
        elsewhere = {"before": ours_on_other_ports(before_groups[0] if before_groups else None, p["rule_description"], self.me, p["port"]),
                     "after": ours_on_other_ports(group, p["rule_description"], self.me, p["port"])}
        return {
            "group_id": group["GroupId"],
            "security_group": after if group["GroupId"] else None,
            "would_create": self.check_mode and not before_groups,
            "diff": {side: dict(summary or {}, **({"our_rules_on_other_ports": elsewhere[side]} if any(elsewhere.values()) else {}))
                     for side, summary in (("before", before), ("after", after))},
        }

    def absent(self) -> Dict[str, Any]:
        p = self.params
        deleted = []
        for group in self.net.security_groups(vpc_id=p["vpc_id"], name=p["name"]):
            if release_plan(tags_to_dict(group.get("Tags")), self.me) == DELETE:
                self._do(f"delete security group {group['GroupId']}", self.net.delete_security_group, group["GroupId"])
                deleted.append(group["GroupId"])
            else:
                self._revoke_ours(group)
                self._release(group, group["GroupId"])
        return {"group_id": None, "security_group": None, "deleted_group_ids": deleted}


def run_security_group_ingress(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """security_group_ingress: the group and its rule (state=present), or this deployment's rule off it."""
    job = SecurityGroupIngress(NetworkClient(clients("ec2")), dict(params), check_mode)
    result = job.absent() if params["state"] == "absent" else job.present()
    diff = result.pop("diff", None)
    return Outcome(job.changed, result, diff if diff_mode else None, list(job.actions))


def validate_ingress_params(params: Dict[str, Any]) -> Optional[str]:
    problem = deployment_id_problem(params.get("deployment_id"))
    if problem:
        return problem
    if params["state"] == "present" and not (params.get("source_security_group_ids") or params.get("source_cidrs")):
        return "source_security_group_ids or source_cidrs is required with state=present"
    return tcp_port_problem("port", params["port"]) or source_cidrs_problem(params)


def source_cidrs_problem(params: Dict[str, Any]) -> Optional[str]:
    for cidr in params.get("source_cidrs") or []:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return f"source_cidrs: {cidr!r} is not a CIDR block"
    return None


def run_endpoint(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """vpc_secretsmanager_endpoint: the endpoint (state=present), or this deployment off it."""
    job = SecretsManagerEndpoint(NetworkClient(clients("ec2")), clients.region, dict(params), check_mode)
    result = job.absent() if params["state"] == "absent" else job.present()
    diff = result.pop("diff", None)
    return Outcome(job.changed, result, diff if diff_mode else None, list(job.actions))


def _snake_subnets(subnets: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{"subnet_id": s["SubnetId"], "availability_zone": s["AvailabilityZone"], "cidr_block": s["CidrBlock"], "vpc_id": s["VpcId"]}
            for s in subnets]


def access_job_params(params: Dict[str, Any], vpc_id: str, subnets: Sequence[Dict[str, Any]]) -> Tuple[Optional[Dict[str, Any]], Dict[str, Any]]:
    """The parameters of the endpoint job (None with ``secretsmanager_endpoint=never``) and of the
    database security group job, as their own modules take them, from ecs_network_access's."""
    shared = {"state": "present", "deployment_id": params["deployment_id"], "tags": params.get("tags")}
    endpoint = None
    if params["secretsmanager_endpoint"] != "never":
        endpoint = dict(params["endpoint"], subnet_ids=list(params["subnet_ids"]), subnets=_snake_subnets(subnets), vpc_id=vpc_id,
                        skip_when_nat=params["secretsmanager_endpoint"] == "auto", **shared)
    db_group = dict(params["db_security_group"], vpc_id=vpc_id, **shared)
    return endpoint, db_group


def run_network_access(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """ecs_network_access: the Secrets Manager endpoint and the database security group in one call:
    the subnets as given (or described once), both security groups described together by name, and
    the endpoint's own groups read from that answer unless they are someone else's."""
    net, region = NetworkClient(clients("ec2")), clients.region
    subnets, vpc_id = subnets_and_vpc(net, params)
    endpoint_params, db_params = access_job_params(params, vpc_id, subnets)
    names = [db_params["name"]] + ([endpoint_params["security_group_name"]] if endpoint_params else [])
    net.prefetch_security_groups(vpc_id, names)
    changed, actions = False, []
    if endpoint_params is None:
        endpoint = {"vpc_id": vpc_id, "service_name": secretsmanager_service_name(region), "skipped": True,
                    "skip_reason": "secretsmanager_endpoint is never", "endpoint": None, "security_group_id": None}
    else:
        job = SecretsManagerEndpoint(net, region, endpoint_params, check_mode)
        endpoint = job.present()
        changed, actions = job.changed, list(job.actions)
    endpoint["changed"] = changed
    endpoint_diff = endpoint.pop("diff", None) or {"before": {}, "after": {}}
    db_job = SecurityGroupIngress(net, db_params, check_mode)
    db_group = db_job.present()
    db_group["changed"] = db_job.changed
    db_diff = db_group.pop("diff")
    diff = {
        "before": {"endpoint": endpoint_diff["before"], "db_security_group": db_diff["before"]},
        "after": {"endpoint": endpoint_diff["after"], "db_security_group": db_diff["after"]},
    }
    result = {"vpc_id": vpc_id, "endpoint": endpoint, "db_security_group": db_group}
    return Outcome(changed or db_job.changed, result, diff if diff_mode else None, actions + db_job.actions)


def validate_access_params(params: Dict[str, Any]) -> Optional[str]:
    """A message naming the offending option (``endpoint.<option>``, ``db_security_group.<option>``), or None."""
    problem = deployment_id_problem(params.get("deployment_id"))
    if problem:
        return problem
    if not params.get("subnet_ids"):
        return "subnet_ids is required (the private subnets the services run in)"
    if params["secretsmanager_endpoint"] != "never":
        problem = validate_endpoint_params(dict(params["endpoint"], state="present", subnet_ids=params["subnet_ids"],
                                                deployment_id=params["deployment_id"]))
        if problem:
            return f"endpoint: {problem}"
    problem = validate_ingress_params(dict(params["db_security_group"], state="present", deployment_id=params["deployment_id"]))
    return f"db_security_group: {problem}" if problem else None


def validate_endpoint_params(params: Dict[str, Any]) -> Optional[str]:
    """A message naming the offending option, or None."""
    problem = deployment_id_problem(params.get("deployment_id"))
    if problem:
        return problem
    if params["state"] != "absent" and not params.get("subnet_ids"):
        return "subnet_ids is required unless state=absent"
    if params["state"] == "absent" and not (params.get("vpc_id") or params.get("subnet_ids")):
        return "state=absent needs vpc_id or subnet_ids"
    if params["state"] == "present" and not (params.get("source_security_group_ids") or params.get("source_cidrs")):
        return "source_security_group_ids or source_cidrs is required: the endpoint must let the service in on 443"
    return source_cidrs_problem(params)


# ---------------------------------------------------------------------------------------------
# The network role's step: its inputs -> ecs_network_access's options -> the facts it publishes
# ---------------------------------------------------------------------------------------------


def _once(items: Sequence[Any]) -> List[Any]:
    return list(dict.fromkeys(items))


def access_options(inputs: Mapping[str, Any], discovered: Mapping[str, Any], vpcs_named: Optional[Sequence[Mapping[str, Any]]] = None) -> Dict[str, Any]:
    """ecs_network_access's options from the network role's inputs (``network_*``) and what the
    deployment check discovered (``discovered``: each service's ``subnets`` and ``security_groups``
    under ``services``, the ``subnets`` as described): the subnets and security groups are the given
    ones, else the services', each once in order. ``vpcs_named``: the VPCs whose Name tag is
    network_vpc_name (looked up when network_vpc_id is empty); exactly one must match."""
    services = list((discovered.get("services") or {}).values())
    subnet_ids = list(inputs.get("network_subnet_ids") or []) or _once([s for service in services for s in service.get("subnets") or []])
    group_ids = list(inputs.get("network_service_security_group_ids") or []) or _once(
        [g for service in services for g in service.get("security_groups") or []])
    vpc_id = inputs.get("network_vpc_id") or None
    if not vpc_id and inputs.get("network_vpc_name"):
        if vpcs_named is None or len(vpcs_named) != 1:
            found = "was not looked up" if vpcs_named is None else f"matches {len(vpcs_named)} VPCs"
            raise ValueError(f"network_vpc_name {inputs['network_vpc_name']} {found}; exactly one is needed")
        vpc_id = vpcs_named[0]["vpc_id"]
    source = inputs.get("network_db_ingress_source")
    return {
        "subnet_ids": subnet_ids,
        "subnets": list(discovered.get("subnets") or []),
        "vpc_id": vpc_id,
        "secretsmanager_endpoint": inputs.get("network_secretsmanager_endpoint"),
        "endpoint": {
            "name": _named(inputs, "network_secretsmanager_endpoint_name", "-secretsmanager"),
            "security_group_name": _named(inputs, "network_secretsmanager_endpoint_security_group_name", "-secretsmanager-endpoint-sg"),
            "source_security_group_ids": group_ids,
            "source_cidrs": list(inputs.get("network_secretsmanager_endpoint_ingress_cidrs") or []),
            "manage_vpc_dns": inputs.get("network_manage_vpc_dns"),
            # site.yml creates the endpoint without waiting: the service role waits for it before the
            # first task needs it, while the database is being created.
            "wait": inputs.get("network_wait") is not False,
        },
        "db_security_group": {
            "name": _named(inputs, "network_db_security_group_name", "-sg"),
            "description": inputs.get("network_db_security_group_description"),
            "port": inputs.get("network_db_port"),
            "source_security_group_ids": group_ids if source == "security_group" else [],
            "source_cidrs": list(inputs.get("network_db_ingress_cidrs") or []) if source == "cidr" else [],
            "rule_description": inputs.get("network_db_rule_description"),
        },
        "deployment_id": inputs.get("network_deployment_id"),
        "tags": dict(inputs.get("network_tags") or {}),
    }


def _named(inputs: Mapping[str, Any], option: str, suffix: str) -> str:
    """The name given, else one made from the deployment's own identity: two deployments that leave a
    name unset never share a resource by a default name."""
    return inputs.get(option) or f"{inputs.get('network_deployment_id')}{suffix}"


def access_facts(result: Mapping[str, Any], options: Mapping[str, Any]) -> Dict[str, Any]:
    """What the network role publishes, from ecs_network_access's result and its options: the
    endpoint, when this run created or changed it (or its 443 rule), starts the service role's grace."""
    endpoint = result["endpoint"]
    return {
        "network__vpc_id": result["vpc_id"],
        "network__subnet_ids": list(options["subnet_ids"]),
        "network__service_security_group_ids": list(options["endpoint"]["source_security_group_ids"]),
        "network__db_security_group_id": result["db_security_group"]["group_id"],
        "network__secretsmanager_endpoint_id": endpoint["endpoint"]["vpc_endpoint_id"] if endpoint.get("endpoint") else None,
        "network__secretsmanager_endpoint_changed": bool(endpoint["changed"]),
        "network__secretsmanager_endpoint_pending_id": pending_endpoint_id(endpoint.get("endpoint")),
    }


def pending_endpoint_id(summary: Optional[Mapping[str, Any]]) -> str:
    """The id of an endpoint (as endpoint_summary gives it) that exists and is not available yet:
    created or changed by a run that did not wait for it, or still settling from an earlier run.
    Empty otherwise (the service role's input is a string)."""
    if not summary or not summary.get("vpc_endpoint_id") or str(summary.get("state") or "").lower() == "available":
        return ""
    return summary["vpc_endpoint_id"]


def teardown_options(inputs: Mapping[str, Any], services: Sequence[Mapping[str, Any]],
                     vpcs_named: Optional[Sequence[Mapping[str, Any]]] = None) -> Dict[str, Any]:
    """The network role's teardown: vpc_secretsmanager_endpoint's options (state=absent) under
    ``endpoint`` and security_group_ingress's under ``db_security_group`` (without its vpc_id, which
    the endpoint's removal returns). The VPC comes from network_vpc_id, else network_vpc_name
    (``vpcs_named``), else the subnets: the given ones, else those of ``services`` as
    community.aws.ecs_service_info describes them, which it is asked for (``describe_services``,
    ``service_names``) only when nothing else locates the VPC."""
    subnet_ids = list(inputs.get("network_subnet_ids") or []) or _once(
        [s for service in services for s in ((service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}).get("subnets") or []])
    vpc_id = inputs.get("network_vpc_id") or None
    if not vpc_id and inputs.get("network_vpc_name") and vpcs_named:
        vpc_id = vpcs_named[0]["vpc_id"]
    owner = {"deployment_id": inputs.get("network_deployment_id"), "state": "absent"}
    return {
        "describe_services": not (inputs.get("network_vpc_id") or inputs.get("network_vpc_name") or inputs.get("network_subnet_ids")),
        "service_names": service_names(inputs.get("network_ecs_services") or []),
        "endpoint": dict(owner, vpc_id=vpc_id, subnet_ids=subnet_ids,
                         security_group_name=_named(inputs, "network_secretsmanager_endpoint_security_group_name", "-secretsmanager-endpoint-sg")),
        "db_security_group": dict(owner, name=_named(inputs, "network_db_security_group_name", "-sg"), port=inputs.get("network_db_port"),
                                  rule_description=inputs.get("network_db_rule_description")),
    }


# ecs_network_access's options, here so that the deployment check (deployment.py) fills in the same defaults the module does.
_ENDPOINT_OPTIONS = dict(
    source_security_group_ids=dict(type="list", elements="str"),
    source_cidrs=dict(type="list", elements="str"),
    manage_vpc_dns=dict(type="bool", default=True),
    name=dict(type="str"),
    security_group_name=dict(type="str", default="secretsmanager-endpoint"),
    security_group_description=dict(type="str", default="HTTPS from ECS tasks to the Secrets Manager interface endpoint"),
    rule_description=dict(type="str", default=ENDPOINT_RULE_DESCRIPTION),
    client_token=dict(type="str", no_log=False),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=600),
)
# Also security_group_ingress's options, beside its vpc_id, tags, deployment_id and state.
DB_GROUP_OPTIONS = dict(
    name=dict(type="str", required=True),
    description=dict(type="str", default="Managed by ecsrds.connect"),
    port=dict(type="int", required=True),
    source_security_group_ids=dict(type="list", elements="str"),
    source_cidrs=dict(type="list", elements="str"),
    rule_description=dict(type="str", default="ecsrds.connect: managed rule"),
)
NETWORK_ACCESS_ARGUMENT_SPEC = dict(
    subnet_ids=dict(type="list", elements="str", required=True),
    subnets=dict(type="list", elements="dict", options=SUBNET_OPTIONS),
    vpc_id=dict(type="str"),
    secretsmanager_endpoint=dict(type="str", choices=["auto", "always", "never"], default="auto"),
    endpoint=dict(type="dict", default={}, options=_ENDPOINT_OPTIONS),
    db_security_group=dict(type="dict", required=True, options=DB_GROUP_OPTIONS),
    tags=dict(type="dict", aliases=["resource_tags"]),
    deployment_id=dict(type="str", required=True, aliases=["managed_by"]),
)
