# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Predict, before a deployment, the failures the original walk-through met only after one: a
task that cannot reach Secrets Manager, an execution role that may not read the secret, a database
that does not admit the service; plus the references, VPC DNS and Fargate platform they rest on.

:class:`PreflightReader` describes the facts (reads only: DescribeSecret, never GetSecretValue;
DescribeParameters, never GetParameter). Each check is a pure function of those facts returning
findings ``{check, status, resource, message, fix}``, so each is unit-tested without AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError, Outcome, call
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import describe_task_definition, value_from_error
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import ServiceReads
from ansible_collections.ecsrds.connect.plugins.module_utils.iam import (
    ALLOWED,
    EXPLICIT_DENY,
    OWN_EVALUATION,
    SIMULATION,
    UNKNOWN,
    Decision,
    IamReader,
    NamedPolicy,
    broad_grants,
    evaluate,
    role_name_from_arn,
)
from ansible_collections.ecsrds.connect.plugins.module_utils.kms import KeyReader
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import port_problem
from ansible_collections.ecsrds.connect.plugins.module_utils.network import (
    NetworkClient,
    route_table_for,
    secretsmanager_service_name,
    source_allowed,
)

OK, WARN, FAIL = "ok", "warn", "fail"
CHECKS = ("secret_reference", "execution_role_access", "network_path", "vpc_dns", "platform_version", "db_ingress")
FAIL_ON = ("fail", "warn", "never")
RDS_SECRET_KEYS = ("username", "password")
GET_SECRET_VALUE = "secretsmanager:GetSecretValue"
GET_PARAMETERS = "ssm:GetParameters"
KMS_DECRYPT = "kms:Decrypt"
RDS_DB_CONNECT = "rds-db:connect"
_USABLE_ENDPOINT_STATES = ("available", "pending", "pendingacceptance")


def finding(check: str, status: str, resource: Optional[str], message: str, fix: Optional[str] = None) -> Dict[str, Any]:
    return {"check": check, "status": status, "resource": resource, "message": message, "fix": fix if status != OK else None}


def summarize(findings: Sequence[Mapping[str, Any]]) -> Dict[str, int]:
    return {status: sum(1 for f in findings if f["status"] == status) for status in (OK, WARN, FAIL)}


def reached(findings: Sequence[Mapping[str, Any]], fail_on: str) -> List[Mapping[str, Any]]:
    """The findings that make the module fail under ``fail_on``."""
    if fail_on == "never":
        return []
    statuses = (FAIL,) if fail_on == "fail" else (FAIL, WARN)
    return [f for f in findings if f["status"] in statuses]


def failure_message(service: str, failing: Sequence[Mapping[str, Any]]) -> str:
    parts = [f"[{f['check']}] {f['resource']}: {f['message']}" + (f" Fix: {f['fix']}" if f.get("fix") else "") for f in failing]
    return f"Preflight of service {service} found {len(failing)} problem(s): " + " | ".join(parts)


# ---------------------------------------------------------------------------------------------
# Secret references


@dataclass
class Reference:
    """One ``secrets[]`` entry of a container, parsed."""

    container: str
    name: str
    value_from: str
    kind: str = "secretsmanager"  # or "ssm"
    secret_id: Optional[str] = None  # the secret ARN without the JSON key part, or the parameter name
    json_key: str = ""
    version_stage: str = ""
    version_id: str = ""
    region: Optional[str] = None
    error: Optional[str] = None


def parse_reference(container: str, name: str, value_from: Any) -> Reference:
    """ECS's valueFrom: a Secrets Manager ARN with optional ``:json-key:version-stage:version-id``,
    an SSM parameter ARN, or an SSM parameter name in the task's region."""
    ref = Reference(container, name, str(value_from))
    problem = value_from_error(value_from)
    if problem:
        ref.error = f"valueFrom {problem}"
        return ref
    parts = ref.value_from.split(":")
    if ref.value_from.startswith("arn:") and parts[2] == "secretsmanager":
        ref.secret_id = ":".join(parts[:7])
        ref.region = parts[3]
        if len(parts) == 10:
            ref.json_key, ref.version_stage, ref.version_id = parts[7:10]
    else:
        ref.kind = "ssm"
        if ref.value_from.startswith("arn:"):
            ref.region = parts[3]
            path = ref.value_from.split(":parameter", 1)[1]
            # arn:...:parameter/name names "name"; arn:...:parameter/a/b names "/a/b".
            ref.secret_id = path[1:] if path.count("/") == 1 else path
        else:
            ref.secret_id = ref.value_from
    return ref


def container_references(task_definition: Mapping[str, Any], container_name: Optional[str]) -> List[Reference]:
    containers = task_definition.get("containerDefinitions") or []
    if container_name:
        chosen = [c for c in containers if c.get("name") == container_name]
        if not chosen:
            names = ", ".join(c.get("name", "?") for c in containers) or "none"
            raise EcsRdsError(
                message=f"container_name {container_name!r} is not a container of {task_definition.get('taskDefinitionArn')}; its containers are: {names}"
            )
        containers = chosen
    return [parse_reference(c.get("name", "?"), s.get("name", "?"), s.get("valueFrom")) for c in containers for s in c.get("secrets") or []]


def check_secret_reference(
    references: Sequence[Reference],
    secrets: Mapping[str, Optional[Mapping[str, Any]]],
    parameters: Mapping[str, Optional[Mapping[str, Any]]],
    region: Optional[str],
) -> List[Dict[str, Any]]:
    """Each reference well formed and pointing at something that exists; a key an RDS-owned secret
    does not have fails, naming the key."""
    check = "secret_reference"
    if not references:
        return [finding(check, OK, None, "The container(s) reference no secrets.")]
    result = []
    for ref in references:
        where = f"secret {ref.name} of container {ref.container}"
        if ref.error:
            result.append(finding(check, FAIL, ref.value_from if ref.value_from.startswith("arn:") else ref.name, f"The {where}: {ref.error}.",
                                  "write valueFrom as arn:<partition>:secretsmanager:<region>:<account>:secret:<name>"
                                  "[:<json-key>:<version-stage>:<version-id>] or an SSM parameter ARN or name."))
            continue
        if region and ref.region and ref.region != region:
            result.append(finding(check, WARN, ref.value_from, f"The {where} is in region {ref.region}; this check looks in {region}, so it was not checked.",
                                  f"run the preflight with region {ref.region} to check it."))
            continue
        if ref.kind == "ssm":
            if parameters.get(ref.secret_id) is None:
                result.append(finding(check, FAIL, ref.value_from, f"The {where} names SSM parameter {ref.secret_id}, which does not exist.",
                                      "create the parameter or point valueFrom at an existing one."))
            else:
                result.append(finding(check, OK, ref.value_from, f"The {where} names existing SSM parameter {ref.secret_id}."))
            continue
        described = secrets.get(ref.secret_id)
        if described is None:
            result.append(finding(check, FAIL, ref.secret_id, f"The {where} names a secret that does not exist.",
                                  "point valueFrom at the current secret ARN (RDS replaces its managed secret when management is turned off and on)."))
            continue
        stages = {stage for names in (described.get("VersionIdsToStages") or {}).values() for stage in names}
        if ref.json_key and described.get("OwningService") == "rds" and ref.json_key not in RDS_SECRET_KEYS:
            result.append(finding(check, FAIL, ref.secret_id,
                                  f"The {where} asks for JSON key {ref.json_key!r}, but the secret is managed by RDS "
                                  "and holds only the keys username and password.",
                                  f"use the key username or password instead of {ref.json_key!r}."))
        elif ref.version_stage and stages and ref.version_stage not in stages:
            result.append(finding(check, FAIL, ref.secret_id, f"The {where} asks for version stage {ref.version_stage!r}, which the secret does not have.",
                                  f"use one of {', '.join(sorted(stages))}, or leave the stage empty for AWSCURRENT."))
        elif ref.version_id and ref.version_id not in (described.get("VersionIdsToStages") or {}):
            result.append(finding(check, FAIL, ref.secret_id, f"The {where} asks for version id {ref.version_id!r}, which the secret does not have.",
                                  "leave the version id empty to follow AWSCURRENT."))
        elif not ref.json_key and described.get("OwningService") == "rds":
            result.append(finding(check, WARN, ref.secret_id, f"The {where} takes the whole JSON document of the RDS-managed secret, not one key.",
                                  f"append :username:: or :password:: to the ARN in valueFrom of {ref.name}."))
        else:
            key = f" with JSON key {ref.json_key!r}" if ref.json_key else ""
            result.append(finding(check, OK, ref.secret_id, f"The {where} names an existing secret{key}."))
    return result


# ---------------------------------------------------------------------------------------------
# Execution role


@dataclass
class AccessNeed:
    """One permission ECS needs with the execution role to inject a secret."""

    action: str
    resource: str
    context: Dict[str, List[str]] = field(default_factory=dict)
    # What needs it, for the message: the secret (ARN) a key is needed for.
    secret: Optional[str] = None


def access_needs(references: Sequence[Reference], secrets: Mapping[str, Optional[Mapping[str, Any]]], keys: Mapping[str, Optional[str]],
                 region: Optional[str], account: Optional[str] = None) -> List[AccessNeed]:
    """GetSecretValue on each secret (ssm:GetParameters on each parameter), and kms:Decrypt through
    Secrets Manager on a customer-managed key that encrypts a secret. ``keys`` maps a secret id to
    the ARN of its customer-managed key (None for the AWS-managed one)."""
    needs: List[AccessNeed] = []
    seen = set()
    for ref in references:
        if ref.error or not ref.secret_id or ref.secret_id in seen or (region and ref.region and ref.region != region):
            continue
        seen.add(ref.secret_id)
        if ref.kind == "ssm":
            # A bare name is a parameter of the task's own account and region.
            arn = ref.value_from if ref.value_from.startswith("arn:") else None
            if arn is None and account and region:
                arn = f"arn:aws:ssm:{region}:{account}:parameter/{ref.secret_id.lstrip('/')}"
            needs.append(AccessNeed(GET_PARAMETERS, arn or f"parameter {ref.secret_id}"))
            continue
        described = secrets.get(ref.secret_id)
        if described is None:
            continue
        arn = described.get("ARN") or ref.secret_id
        tags = {f"aws:ResourceTag/{t['Key']}": [t["Value"]] for t in described.get("Tags") or [] if "Key" in t}
        needs.append(AccessNeed(GET_SECRET_VALUE, arn, tags, arn))
        key = keys.get(ref.secret_id)
        if key:
            via = f"secretsmanager.{ref.region or region}.amazonaws.com"
            needs.append(AccessNeed(KMS_DECRYPT, key, {"kms:ViaService": [via]}, arn))
    return needs


def role_missing(check: str, kind: str, field_name: str, role_arn: Optional[str], role_found: bool, without: str,
                 fix: str) -> Optional[List[Dict[str, Any]]]:
    """The one finding when the revision names no such role (``without``, ``fix``) or the role does not exist; None otherwise."""
    if not role_arn:
        return [finding(check, FAIL, None, without, fix)]
    if not role_found:
        return [finding(check, FAIL, role_arn, f"{kind} role {role_name_from_arn(role_arn)} does not exist.",
                        f"create the role or point {field_name} at an existing one.")]
    return None


def check_execution_role_access(
    role_arn: Optional[str],
    needs: Sequence[AccessNeed],
    decisions: Mapping[Tuple[str, str], Decision],
    method: str,
    broad: Sequence[str],
    role_found: bool = True,
) -> List[Dict[str, Any]]:
    """A finding per permission the execution role needs, plus a warn per grant broader than needed."""
    check = "execution_role_access"
    if not needs:
        return [finding(check, OK, role_arn, "No secret needs the execution role.")]
    missing = role_missing(check, "Execution", "executionRoleArn", role_arn, role_found,
                           "The task definition has secrets but no execution role, so ECS cannot fetch them.",
                           "set executionRoleArn on the task definition to a role that may read the secrets.")
    if missing:
        return missing
    role = role_name_from_arn(str(role_arn))
    result = []
    for need in needs:
        decision = decisions.get((need.action, need.resource))
        target = need.resource + (f" (the key of {need.secret})" if need.action == KMS_DECRYPT else "")
        how = f" (checked with {method})"
        condition = " with kms:ViaService " + need.context["kms:ViaService"][0] if need.action == KMS_DECRYPT else ""
        if decision is None and not need.resource.startswith("arn:"):
            result.append(finding(check, WARN, need.resource, f"Cannot tell whether execution role {role} may {need.action} on {target}: its ARN is unknown.",
                                  "reference the parameter by its full ARN."))
        elif decision is not None and decision.decision == ALLOWED:
            result.append(finding(check, OK, need.resource, f"Execution role {role} may {need.action} on {target}{condition}{how}."))
        elif decision is not None and decision.decision == UNKNOWN:
            result.append(finding(check, WARN, need.resource,
                                  f"Cannot tell whether execution role {role} may {need.action} on {target}{how}: "
                                  f"{'; '.join(decision.reasons)} depend(s) on conditions that cannot be evaluated here.",
                                  f"make sure those conditions hold for ECS's {need.action} call, or grant it without them."))
        else:
            denied = decision is not None and decision.decision == EXPLICIT_DENY
            why = f"explicitly denied by {', '.join(decision.reasons)}" if denied and decision else "no policy of the role allows it"
            fix = (f"remove or narrow {', '.join(decision.reasons)}" if denied and decision
                   else f"add an inline policy to {role} allowing {need.action} on {need.resource}{condition}")
            result.append(finding(check, FAIL, need.resource, f"Execution role {role} may not {need.action} on {target}: {why}{how}.", fix + "."))
    for grant in broad:
        result.append(finding(check, WARN, role_arn, f"Execution role {role} has a grant broader than reading the secret: {grant}.",
                              f"replace it with {GET_SECRET_VALUE} on the secret's ARN only (the service role's inline policy does that)."))
    return result


# ---------------------------------------------------------------------------------------------
# Network path to Secrets Manager


def direct_route(subnet: Mapping[str, Any], route_tables: Sequence[Mapping[str, Any]], public_ip: bool) -> Optional[str]:
    """How the subnet reaches Secrets Manager's public endpoint without a VPC endpoint: 'NAT gateway
    <id>' or 'internet gateway <id> with a public IP', or None."""
    table = route_table_for(dict(subnet), [dict(t) for t in route_tables])
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" or route.get("State", "active") != "active":
            continue
        if route.get("NatGatewayId"):
            return f"NAT gateway {route['NatGatewayId']}"
        if route.get("InstanceId"):
            return f"NAT instance {route['InstanceId']}"
        if str(route.get("GatewayId", "")).startswith("igw-") and public_ip:
            return f"internet gateway {route['GatewayId']} with a public IP"
    return None


@dataclass
class NetworkFacts:
    region: str
    vpc_id: Optional[str]
    subnets: List[Dict[str, Any]]  # the service's subnets, described
    route_tables: List[Dict[str, Any]]
    endpoints: List[Dict[str, Any]]  # Secrets Manager interface endpoints of the VPC
    endpoint_subnet_zones: Dict[str, str]  # endpoint subnet id -> Availability Zone
    endpoint_groups: List[Dict[str, Any]]  # the endpoints' security groups, described
    service_group_ids: List[str]
    public_ip: bool
    vpc_dns: Dict[str, bool] = field(default_factory=dict)


def _endpoint_problem(endpoint: Mapping[str, Any], subnet: Mapping[str, Any], facts: NetworkFacts) -> Optional[Tuple[str, str]]:
    """(what is wrong, fix) for this endpoint serving this subnet, or None when it does."""
    endpoint_id = endpoint["VpcEndpointId"]
    zone = subnet["AvailabilityZone"]
    if not endpoint.get("PrivateDnsEnabled"):
        return (f"endpoint {endpoint_id} has private DNS off, so the task still resolves Secrets Manager's public name",
                f"turn on private DNS for {endpoint_id}.")
    if zone not in {facts.endpoint_subnet_zones.get(s) for s in endpoint.get("SubnetIds") or []}:
        return (f"endpoint {endpoint_id} has no subnet in {zone}", f"add a subnet of {zone} (such as {subnet['SubnetId']}) to {endpoint_id}.")
    group_ids = {g["GroupId"] for g in endpoint.get("Groups") or []}
    groups = [g for g in facts.endpoint_groups if g.get("GroupId") in group_ids]
    cidrs = [subnet["CidrBlock"]]
    admitted = (facts.service_group_ids and all(source_allowed(groups, 443, source_group_id=g, source_cidrs=cidrs) for g in facts.service_group_ids)) or (
        source_allowed(groups, 443, source_cidrs=cidrs)
    )
    if not admitted:
        sources = ", ".join(facts.service_group_ids) or subnet["CidrBlock"]
        first = sorted(group_ids)[0] if group_ids else "its security group"
        return (f"the security groups of endpoint {endpoint_id} do not admit tcp 443 from {sources}",
                f"allow tcp 443 on {first} (security group of endpoint {endpoint_id}) from {sources}.")
    return None


def check_network_path(facts: NetworkFacts, needed: bool) -> List[Dict[str, Any]]:
    """From each subnet of the service, Secrets Manager is reachable: a NAT route (or an internet
    gateway with a public IP), or an interface endpoint with private DNS in the subnet's zone whose
    groups admit 443 from the service."""
    check = "network_path"
    service_name = secretsmanager_service_name(facts.region)
    if not needed:
        return [finding(check, OK, facts.vpc_id, "No Secrets Manager secret is referenced, so no path to Secrets Manager is needed.")]
    if not facts.subnets:
        return [finding(check, WARN, None, "The service has no awsvpc subnets to check (not awsvpc network mode?).",
                        "check by hand that the container instances reach Secrets Manager.")]
    result = []
    usable = [e for e in facts.endpoints if str(e.get("State", "")).lower() in _USABLE_ENDPOINT_STATES]
    for subnet in facts.subnets:
        subnet_id, zone = subnet["SubnetId"], subnet["AvailabilityZone"]
        direct = direct_route(subnet, facts.route_tables, facts.public_ip)
        if direct:
            result.append(finding(check, OK, subnet_id, f"Subnet {subnet_id} ({zone}) reaches Secrets Manager through {direct}."))
            continue
        problems = []
        for endpoint in usable:
            problem = _endpoint_problem(endpoint, subnet, facts)
            if problem is None:
                endpoint_id = endpoint["VpcEndpointId"]
                through = f"Subnet {subnet_id} ({zone}) reaches Secrets Manager through endpoint {endpoint_id}"
                if str(endpoint.get("State", "")).lower() != "available":
                    result.append(finding(check, WARN, subnet_id, f"{through}, which is still {endpoint.get('State')}.",
                                          f"wait until {endpoint_id} is available before deploying."))
                else:
                    result.append(finding(check, OK, subnet_id, f"{through} ({service_name})."))
                break
            problems.append(problem)
        else:
            no_route = "no 0.0.0.0/0 route to a NAT gateway" + ("" if facts.public_ip else " (and no public IP for an internet gateway)")
            if problems:
                message = f"Subnet {subnet_id} ({zone}) cannot reach Secrets Manager: {no_route}, and {'; '.join(p[0] for p in problems)}."
                fix = " ".join(p[1] for p in problems)
            else:
                message = (f"Subnet {subnet_id} ({zone}) cannot reach Secrets Manager: {no_route}, "
                           f"and no interface endpoint {service_name} in VPC {facts.vpc_id}.")
                groups = ", ".join(facts.service_group_ids) or "the service's subnets"
                fix = (f"create the interface VPC endpoint {service_name} in VPC {facts.vpc_id} with private DNS, a subnet in {zone} "
                       f"and a security group admitting tcp 443 from {groups} (ecsrds.connect.vpc_secretsmanager_endpoint does this), "
                       "or route 0.0.0.0/0 through a NAT gateway.")
            result.append(finding(check, FAIL, subnet_id, message, fix))
    return result


def relies_on_endpoint(facts: NetworkFacts) -> bool:
    """True when some subnet has no direct route and the VPC has a private-DNS Secrets Manager endpoint."""
    return any(direct_route(s, facts.route_tables, facts.public_ip) is None for s in facts.subnets) and any(
        e.get("PrivateDnsEnabled") for e in facts.endpoints
    )


def check_vpc_dns(facts: NetworkFacts, needed: bool) -> List[Dict[str, Any]]:
    """DNS support and DNS hostnames on when a private-DNS endpoint is the path to Secrets Manager."""
    check = "vpc_dns"
    if not (needed and relies_on_endpoint(facts)):
        return [finding(check, OK, facts.vpc_id, "No private-DNS endpoint is the path to Secrets Manager, so the VPC's DNS attributes do not matter here.")]
    off = [name for name in ("enableDnsSupport", "enableDnsHostnames") if not facts.vpc_dns.get(name)]
    if off:
        return [finding(check, FAIL, facts.vpc_id,
                        f"VPC {facts.vpc_id} has {' and '.join(off)} off: the Secrets Manager endpoint's private DNS name does not resolve to it.",
                        f"turn on {' and '.join(off)} for {facts.vpc_id} (ec2 modify-vpc-attribute).")]
    return [finding(check, OK, facts.vpc_id, f"VPC {facts.vpc_id} has DNS support and DNS hostnames on.")]


# ---------------------------------------------------------------------------------------------
# Platform version


def _version_tuple(version: str) -> Optional[Tuple[int, ...]]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return None


def check_platform_version(service: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Fargate platform 1.4.0 or later (or LATEST): earlier ones cannot take secrets this way
    (JSON keys and versions need 1.4.0)."""
    check = "platform_version"
    resource = service.get("serviceArn") or service.get("serviceName")
    providers = [p.get("capacityProvider", "") for p in service.get("capacityProviderStrategy") or []]
    fargate = service.get("launchType") == "FARGATE" or any(p.startswith("FARGATE") for p in providers)
    if not fargate:
        return [finding(check, OK, resource, "The service does not run on Fargate; no platform version applies.")]
    version = service.get("platformVersion") or "LATEST"
    if version.upper() == "LATEST":
        return [finding(check, OK, resource, f"Fargate platform version {version} (1.4.0 or later).")]
    parsed = _version_tuple(version)
    if parsed is None:
        return [finding(check, WARN, resource, f"Fargate platform version {version!r} is not one this check understands.", "use LATEST or 1.4.0.")]
    if parsed < (1, 4, 0):
        return [finding(check, FAIL, resource, f"Fargate platform version {version} is older than 1.4.0, which secrets with JSON keys need.",
                        "update the service with platformVersion LATEST (or 1.4.0).")]
    return [finding(check, OK, resource, f"Fargate platform version {version} (1.4.0 or later).")]


# ---------------------------------------------------------------------------------------------
# Database ingress


def check_db_ingress(requested: Sequence[str], groups: Sequence[Mapping[str, Any]], port: int, service_group_ids: Sequence[str],
                     subnet_cidrs: Sequence[str]) -> List[Dict[str, Any]]:
    """The database's groups admit ``port`` from the service's groups, or from CIDRs covering its subnets."""
    check = "db_ingress"
    if not requested:
        return []
    found = {g.get("GroupId") for g in groups}
    missing = [g for g in requested if g not in found]
    resource = ", ".join(requested)
    if missing:
        return [finding(check, FAIL, resource, f"Database security group(s) {', '.join(missing)} do not exist.",
                        "pass the ids of the groups attached to the database in db_security_group_ids.")]
    plain = [dict(g) for g in groups]
    by_group = [g for g in service_group_ids if source_allowed(plain, port, source_group_id=g, source_cidrs=subnet_cidrs)]
    if service_group_ids and len(by_group) == len(service_group_ids):
        return [finding(check, OK, resource, f"Database group(s) {resource} admit tcp {port} from {', '.join(service_group_ids)}.")]
    if subnet_cidrs and source_allowed(plain, port, source_cidrs=subnet_cidrs):
        return [finding(check, OK, resource, f"Database group(s) {resource} admit tcp {port} from CIDRs covering the service's subnets.")]
    sources = ", ".join(g for g in service_group_ids if g not in by_group) or ", ".join(subnet_cidrs)
    return [finding(check, FAIL, resource,
                    f"Database group(s) {resource} do not admit tcp port {port} from the service ({sources}): the tasks cannot open a connection.",
                    f"allow tcp {port} on {requested[0]} from {sources} (ecsrds.connect.security_group_ingress does this).")]


# ---------------------------------------------------------------------------------------------
# Reading the facts


@dataclass
class Facts:
    service: Dict[str, Any]
    task_definition: Dict[str, Any]
    references: List[Reference]
    secrets: Dict[str, Optional[Dict[str, Any]]]
    parameters: Dict[str, Optional[Dict[str, Any]]]
    keys: Dict[str, Optional[str]]
    role_arn: Optional[str]
    role_found: bool
    needs: List[AccessNeed]
    decisions: Dict[Tuple[str, str], Decision]
    method: str
    broad: List[str]
    network: NetworkFacts
    db_security_group_ids: List[str]
    db_groups: List[Dict[str, Any]]
    db_port: int
    # IAM database authentication: the logins (dbuser ARNs) the task role must connect as, and what it may.
    db_users: List[str] = field(default_factory=list)
    task_role_arn: Optional[str] = None
    task_role_found: bool = True
    connect_decisions: Dict[Tuple[str, str], Decision] = field(default_factory=dict)
    connect_method: str = ""


def check_task_role_connect(role_arn: Optional[str], db_users: Sequence[str], decisions: Mapping[Tuple[str, str], Decision], method: str,
                            role_found: bool = True) -> List[Dict[str, Any]]:
    """A finding per database login the service signs in as with IAM authentication: its task role
    (not the execution role: the application asks for the token) may rds-db:connect as it."""
    check = "task_role_db_connect"
    if not db_users:
        return []
    missing = role_missing(check, "Task", "taskRoleArn", role_arn, role_found,
                           "The service signs in with IAM database authentication but its task definition has no task role.",
                           "set taskRoleArn on the task definition; the application asks RDS for its token with that role.")
    if missing:
        return missing
    role = role_name_from_arn(str(role_arn))
    result = []
    for user in db_users:
        decision = decisions.get((RDS_DB_CONNECT, user))
        if decision is not None and decision.decision == ALLOWED:
            result.append(finding(check, OK, user, f"Task role {role} may {RDS_DB_CONNECT} as {user} (checked with {method})."))
        elif decision is not None and decision.decision == UNKNOWN:
            result.append(finding(check, WARN, user, f"Cannot tell whether task role {role} may {RDS_DB_CONNECT} as {user} (checked with {method}): "
                                  f"{'; '.join(decision.reasons)} depend(s) on conditions that cannot be evaluated here.",
                                  "make sure those conditions hold when the application asks for its token."))
        else:
            result.append(finding(check, FAIL, user, f"Task role {role} may not {RDS_DB_CONNECT} as {user} (checked with {method}): "
                                  "the database refuses the application's token.",
                                  f"add an inline policy to {role} allowing {RDS_DB_CONNECT} on {user} (the service role's grant does that)."))
    return result


def run_checks(facts: Facts) -> List[Dict[str, Any]]:
    region = facts.network.region
    secrets_needed = any(r.kind == "secretsmanager" and not r.error for r in facts.references)
    findings = []
    findings += check_secret_reference(facts.references, facts.secrets, facts.parameters, region)
    findings += check_execution_role_access(facts.role_arn, facts.needs, facts.decisions, facts.method, facts.broad, facts.role_found)
    findings += check_network_path(facts.network, secrets_needed)
    findings += check_vpc_dns(facts.network, secrets_needed)
    findings += check_platform_version(facts.service)
    findings += check_task_role_connect(facts.task_role_arn, facts.db_users, facts.connect_decisions, facts.connect_method, facts.task_role_found)
    findings += check_db_ingress(facts.db_security_group_ids, facts.db_groups, facts.db_port, facts.network.service_group_ids,
                                 [s["CidrBlock"] for s in facts.network.subnets])
    return findings


class PreflightReader:
    """Every read the preflight makes, from the clients of each area. Nothing here writes, reads a
    secret value (DescribeSecret only) or a parameter value (DescribeParameters only)."""

    def __init__(self, clients: Union[Mapping[str, Any], Callable[[str], Any]], region: str) -> None:
        # A client is made when first needed (each loads its service model): SSM's only for a
        # parameter reference, KMS's only for a secret with a key.
        self._client = clients if callable(clients) else clients.__getitem__
        self.region = region
        # Several services checked in one run share their secret, execution role and subnets: each
        # is read once.
        self._read: Dict[Any, Any] = {}

    @cached_property
    def ecs_client(self) -> Any:
        return self._client("ecs")

    @cached_property
    def ecs(self) -> ServiceReads:
        return ServiceReads(self.ecs_client)

    @cached_property
    def net(self) -> NetworkClient:
        return NetworkClient(self._client("ec2"))

    @cached_property
    def iam(self) -> IamReader:
        return IamReader(self._client("iam"))

    @cached_property
    def secretsmanager(self) -> Any:
        return self._client("secretsmanager")

    @cached_property
    def ssm(self) -> Any:
        return self._client("ssm")

    @cached_property
    def keys(self) -> KeyReader:
        return KeyReader(self._client("kms"))

    def _once(self, key: Any, read: Callable[[], Any]) -> Any:
        if key not in self._read:
            self._read[key] = read()
        return self._read[key]

    def describe_secret(self, secret_id: str) -> Optional[Dict[str, Any]]:
        def read() -> Optional[Dict[str, Any]]:
            return call(self.secretsmanager, "describe_secret", f"describe secret {secret_id}", not_found=("ResourceNotFoundException",), SecretId=secret_id)
        return self._once(("secret", secret_id), read)

    def describe_parameter(self, name: str) -> Optional[Dict[str, Any]]:
        response = call(self.ssm, "describe_parameters", f"describe SSM parameter {name}",
                        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}])
        found = response.get("Parameters") or []
        return found[0] if found else None

    def existing_groups(self, group_ids: Sequence[str]) -> List[Dict[str, Any]]:
        """The groups of ``group_ids`` that exist: a group-id filter answers without the
        InvalidGroup.NotFound error that GroupIds raises for a missing one."""
        def read() -> List[Dict[str, Any]]:
            response = call(self.net.client, "describe_security_groups", "describe the database security groups",
                            Filters=[{"Name": "group-id", "Values": list(group_ids)}])
            return response.get("SecurityGroups") or []
        return self._once(("groups", tuple(group_ids)), read)

    def customer_key(self, key_id: Optional[str]) -> Optional[str]:
        """The ARN of a customer-managed key, None for an AWS-managed one (aws/secretsmanager)."""
        return self._once(("key", key_id), lambda: self.keys.customer_key_arn(key_id))

    def role_access(self, role_arn: str, needs: Sequence[AccessNeed]) -> Tuple[Optional[List[NamedPolicy]], Dict[Tuple[str, str], Decision], str]:
        return self._once(("role", role_arn, repr(list(needs))), lambda: self._role_access(role_arn, needs))

    def _role_access(self, role_arn: str, needs: Sequence[AccessNeed]) -> Tuple[Optional[List[NamedPolicy]], Dict[Tuple[str, str], Decision], str]:
        policies = self.iam.role_policies(role_name_from_arn(role_arn))
        if policies is None:
            return None, {}, OWN_EVALUATION
        decisions: Dict[Tuple[str, str], Decision] = {}
        why_not = None
        for need in needs:
            if not need.resource.startswith("arn:"):
                continue
            simulated, why_not = self.iam.simulate(role_arn, need.action, [need.resource], need.context)
            if simulated is None:
                break
            decisions.update(simulated)
        else:
            return policies, decisions, SIMULATION
        decisions = {(n.action, n.resource): evaluate(policies, n.action, n.resource, n.context) for n in needs if n.resource.startswith("arn:")}
        return policies, decisions, f"{OWN_EVALUATION}; {why_not}" if why_not else OWN_EVALUATION

    def network(self, service: Mapping[str, Any], needed: bool) -> NetworkFacts:
        awsvpc = ((service.get("networkConfiguration") or {}).get("awsvpcConfiguration")) or {}
        key = ("network", tuple(awsvpc.get("subnets") or []), tuple(awsvpc.get("securityGroups") or []), awsvpc.get("assignPublicIp"), needed)
        return self._once(key, lambda: self._network(awsvpc, needed))

    def _network(self, awsvpc: Mapping[str, Any], needed: bool) -> NetworkFacts:
        subnet_ids = list(awsvpc.get("subnets") or [])
        facts = NetworkFacts(self.region, None, [], [], [], {}, [], list(awsvpc.get("securityGroups") or []),
                             awsvpc.get("assignPublicIp") == "ENABLED")
        if not subnet_ids:
            return facts
        facts.subnets = self.net.subnets(subnet_ids)
        facts.vpc_id = facts.subnets[0]["VpcId"] if facts.subnets else None
        if not facts.vpc_id:
            return facts
        if needed:
            facts.route_tables = self.net.route_tables(facts.vpc_id)
            facts.endpoints = self.net.endpoints(facts.vpc_id, secretsmanager_service_name(self.region))
            zones = {s["SubnetId"]: s["AvailabilityZone"] for s in facts.subnets}
            others = sorted({s for e in facts.endpoints for s in e.get("SubnetIds") or []} - set(zones))
            if others:
                zones.update({s["SubnetId"]: s["AvailabilityZone"] for s in self.net.subnets(others)})
            facts.endpoint_subnet_zones = zones
            group_ids = sorted({g["GroupId"] for e in facts.endpoints for g in e.get("Groups") or []})
            facts.endpoint_groups = self.net.security_groups(group_ids=group_ids) if group_ids else []
            if relies_on_endpoint(facts):
                facts.vpc_dns = self.net.vpc_dns(facts.vpc_id)
        return facts

    def read(self, cluster: str, service_name: str, task_definition: Optional[str], container_name: Optional[str],
             db_security_group_ids: Sequence[str], db_port: int, db_users: Sequence[str] = ()) -> Facts:
        service = self.ecs.describe_service(cluster, service_name)
        reference = task_definition or service.get("taskDefinition")
        described = describe_task_definition(self.ecs_client, reference)
        if described is None:
            raise EcsRdsError(message=f"Task definition {reference!r} not found (option task_definition)")
        revision = described[0]
        references = container_references(revision, container_name)

        secrets: Dict[str, Optional[Dict[str, Any]]] = {}
        parameters: Dict[str, Optional[Dict[str, Any]]] = {}
        keys: Dict[str, Optional[str]] = {}
        for ref in references:
            if ref.error or (ref.region and ref.region != self.region):
                continue
            if ref.kind == "ssm" and ref.secret_id not in parameters:
                parameters[ref.secret_id] = self.describe_parameter(ref.secret_id)
            elif ref.kind == "secretsmanager" and ref.secret_id not in secrets:
                secrets[ref.secret_id] = self.describe_secret(ref.secret_id)
                if secrets[ref.secret_id] is not None:
                    keys[ref.secret_id] = self.customer_key(secrets[ref.secret_id].get("KmsKeyId"))

        role_arn = revision.get("executionRoleArn")
        account = role_arn.split(":")[4] if role_arn and role_arn.count(":") >= 5 else None
        needs = access_needs(references, secrets, keys, self.region, account)
        policies: Optional[List[NamedPolicy]] = []
        decisions: Dict[Tuple[str, str], Decision] = {}
        method = OWN_EVALUATION
        if role_arn and needs:
            policies, decisions, method = self.role_access(role_arn, needs)

        secrets_needed = any(r.kind == "secretsmanager" and not r.error for r in references)
        network = self.network(service, secrets_needed)
        db_groups = self.existing_groups(db_security_group_ids) if db_security_group_ids else []
        task_role = revision.get("taskRoleArn")
        connect: Tuple[Optional[List[NamedPolicy]], Dict[Tuple[str, str], Decision], str] = ([], {}, "")
        if db_users and task_role:
            connect = self.role_access(task_role, [AccessNeed(RDS_DB_CONNECT, user) for user in db_users])
        return Facts(
            service=service, task_definition=revision, references=references, secrets=secrets, parameters=parameters, keys=keys,
            role_arn=role_arn, role_found=policies is not None, needs=needs, decisions=decisions, method=method,
            broad=broad_grants(policies or []), network=network, db_security_group_ids=list(db_security_group_ids),
            db_groups=db_groups, db_port=db_port, db_users=list(db_users), task_role_arn=task_role, task_role_found=connect[0] is not None,
            connect_decisions=connect[1], connect_method=connect[2],
        )


def run_preflight(reader: PreflightReader, params: Mapping[str, Any]) -> Dict[str, Any]:
    facts = reader.read(params["cluster"], params["service"], params.get("task_definition"), params.get("container_name"),
                        params.get("db_security_group_ids") or [], params["db_port"], params.get("db_users") or [])
    findings = run_checks(facts)
    return {
        "findings": findings,
        "summary": summarize(findings),
        "task_definition_arn": facts.task_definition.get("taskDefinitionArn"),
        "execution_role_arn": facts.role_arn,
        "access_method": facts.method if facts.needs else None,
    }


def preflight_problem(params: Mapping[str, Any]) -> Optional[str]:
    return port_problem("db_port", params["db_port"])


def run_secrets_preflight(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """ecs_secrets_preflight (read-only): the findings, failing the task with every finding that
    reaches ``fail_on``; for each service of ``services`` in turn when several are given, with what
    they share read once."""
    reader = PreflightReader(clients, clients.region)
    if not params.get("services"):
        result = run_preflight(reader, params)
        failing = reached(result["findings"], params["fail_on"])
        if failing:
            raise EcsRdsError(message=failure_message(params["service"], failing), changed=False, **result)
        return Outcome(False, result)
    each = [dict(run_preflight(reader, dict(params, **entry)), service=entry["service"]) for entry in params["services"]]
    findings = [dict(f, service=one["service"]) for one in each for f in one["findings"]]
    result = {"services": each, "findings": findings, "summary": summarize(findings)}
    failed = [(one["service"], reached(one["findings"], params["fail_on"])) for one in each]
    failed = [(service, failing) for service, failing in failed if failing]
    if failed:
        raise EcsRdsError(message=" || ".join(failure_message(service, failing) for service, failing in failed), changed=False, **result)
    return Outcome(False, result)


# ecs_secrets_preflight's options, here beside its runner (the deployment check validates with them too).
PREFLIGHT_ARGUMENT_SPEC = dict(
    cluster=dict(type="str", required=True),
    service=dict(type="str"),
    services=dict(type="list", elements="dict", options=dict(
        service=dict(type="str", required=True),
        task_definition=dict(type="str"),
        container_name=dict(type="str"),
        db_users=dict(type="list", elements="str", default=[]),
    )),
    task_definition=dict(type="str"),
    container_name=dict(type="str"),
    db_security_group_ids=dict(type="list", elements="str", default=[]),
    db_port=dict(type="int", default=5432),
    fail_on=dict(type="str", choices=list(FAIL_ON), default="fail"),
)
