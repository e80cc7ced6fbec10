# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one validation stage every entry point runs before its first write.

Two halves, both returning *every* problem rather than the first:

- :func:`check_inputs` needs no AWS call: shapes (a string where a list is expected is an error,
  never split on commas), unknown input names and service-entry keys (with the nearest known name),
  identifier rules, port range, CIDRs, ARNs, KMS key ids, the engine version family.
- :class:`FactChecker` asks AWS what it can tell before anything is written, with reads only: the
  ECS cluster and services exist and use awsvpc, each named container is in the revision its service
  runs, the execution roles exist, the subnets span two Availability Zones, the instance class is
  offered for the engine.

Each problem names the input as the user wrote it (``ecsrds_db_port``, or ``database_port`` when a
role is used on its own) with its value. A :class:`Profile` says which name stands for what.
"""

from __future__ import annotations

import difflib
import functools
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError, call
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import describe_task_definition, looks_secret, secret_readers
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import describe_services, list_all, rollout_progress
from ansible_collections.ecsrds.connect.plugins.module_utils.iam import IamRoles
from ansible_collections.ecsrds.connect.plugins.module_utils.kms import names_aws_managed_key
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import CREATED_BY_TAG, grant_policy_name, service_deployment_id
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import (
    DEFAULT_CONTAINER,
    LOOPBACK_HOSTS,
    cidr_problems,
    coerce,
    cluster_identifier_problem,
    db_name_problem,
    engine_version_problem,
    instance_class_pattern_problem,
    kms_key_problem,
    port_problem,
    role_arn_problem,
    secret_arn_problem,
)
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import (
    DB_AUTH_MODES,
    SERVICE_LOGIN_KEYS,
    db_auth_class_problem,
    serverless_problem,
    serverless_scaling,
    service_entry,
    service_login,
    service_login_problems,
)
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import show as _show

SERVICE_ENTRY_KEYS = ("name", "container_name") + SERVICE_LOGIN_KEYS


@dataclass(frozen=True)
class Profile:
    """What one entry point calls its inputs: ``names`` maps a meaning to the input's name."""

    prefix: str
    names: Mapping[str, str]
    # Facts asked of AWS for this entry point (a subset of FactChecker.CHECKS).
    facts: Tuple[str, ...] = ()


_SITE_NAMES = {
    "region": "ecsrds_aws_region",
    "endpoint_url": "ecsrds_aws_endpoint_url",
    "require_loopback": "ecsrds_require_loopback_endpoint",
    "ecs_cluster": "ecsrds_ecs_cluster",
    "ecs_services": "ecsrds_ecs_services",
    "release_services": "ecsrds_release_services",
    "container_name": "ecsrds_container_name",
    "deployment_id": "ecsrds_deployment_id",
    "db_cluster_identifier": "ecsrds_db_cluster_identifier",
    "db_name": "ecsrds_db_name",
    "db_port": "ecsrds_db_port",
    "db_ingress_source": "ecsrds_db_ingress_source",
    "db_ingress_cidrs": "ecsrds_db_ingress_cidrs",
    "allow_wide_ingress": "ecsrds_db_allow_wide_ingress",
    "instance_class": "ecsrds_db_instance_class",
    "engine_version": "ecsrds_db_engine_version",
    "monitoring_interval": "ecsrds_db_monitoring_interval",
    "monitoring_role_arn": "ecsrds_db_monitoring_role_arn",
    "serverless_min_capacity": "ecsrds_db_serverless_min_capacity",
    "serverless_max_capacity": "ecsrds_db_serverless_max_capacity",
    "seconds_until_auto_pause": "ecsrds_db_seconds_until_auto_pause",
    "secret_kms_key_id": "ecsrds_db_secret_kms_key_id",
    "db_security_group_name": "ecsrds_db_security_group_name",
    "tags": "ecsrds_tags",
    "db_auth": "ecsrds_db_auth",
    "iam_authentication": "ecsrds_db_iam_authentication",
}

PROFILES: Dict[str, Profile] = {
    "site": Profile("ecsrds_", _SITE_NAMES, facts=("ecs", "containers", "subnets", "instance_class", "engine_version", "secret_kms_key",
                                                   "released")),
    # Teardown finds what site made from the same inputs (issue 9). One thing AWS holds is asked: the
    # services the inputs leave out that still read the secret the teardown deletes with the cluster.
    "teardown": Profile("ecsrds_", _SITE_NAMES, facts=("secret_users",)),
    # Render reads the cluster and writes a local file: the inputs' shapes are all it needs checked.
    "render": Profile("ecsrds_", _SITE_NAMES),
    "network": Profile(
        "network_",
        {
            "ecs_cluster": "network_ecs_cluster",
            "ecs_services": "network_ecs_services",
            "db_port": "network_db_port",
            "db_ingress_source": "network_db_ingress_source",
            "db_ingress_cidrs": "network_db_ingress_cidrs",
            "allow_wide_ingress": "network_db_allow_wide_ingress",
            "subnet_ids": "network_subnet_ids",
            "service_security_group_ids": "network_service_security_group_ids",
            "tags": "network_tags",
        },
        facts=("ecs", "subnets"),
    ),
    "database": Profile(
        "database_",
        {
            "db_cluster_identifier": "database_cluster_identifier",
            "db_name": "database_name",
            "db_port": "database_port",
            "subnet_ids": "database_subnet_ids",
            "instance_class": "database_instance_class",
            "engine_version": "database_engine_version",
            "monitoring_interval": "database_monitoring_interval",
            "monitoring_role_arn": "database_monitoring_role_arn",
            "serverless_min_capacity": "database_serverless_min_capacity",
            "serverless_max_capacity": "database_serverless_max_capacity",
            "seconds_until_auto_pause": "database_seconds_until_auto_pause",
            "secret_kms_key_id": "database_master_user_secret_kms_key_id",
            "kms_key_id": "database_kms_key_id",
            "tags": "database_tags",
        },
        facts=("subnets", "instance_class", "engine_version", "secret_kms_key"),
    ),
    "service": Profile(
        "service_",
        {
            "ecs_cluster": "service_ecs_cluster",
            "ecs_services": "service_ecs_services",
            "release_services": "service_release_services",
            "container_name": "service_container_name",
            "deployment_id": "service_deployment_id",
            "db_cluster_identifier": "service_db_cluster_identifier",
            "db_name": "service_db_name",
            "db_port": "service_db_port",
            "secret_arn": "service_secret_arn",
            "db_endpoint": "service_db_endpoint",
            "policy_name": "service_execution_role_policy_name",
            "service_kms_key_id": "service_secret_kms_key_id",
            "tags": "service_tags",
            "db_auth": "service_db_auth",
        },
        facts=("ecs", "containers", "released"),
    ),
    "rotation": Profile(
        "rotation_",
        {
            "ecs_cluster": "rotation_ecs_cluster",
            "ecs_services": "rotation_ecs_services",
            "db_cluster_identifier": "rotation_db_cluster_identifier",
            "secret_arn": "rotation_secret_arn",
            "rotation_days": "rotation_secret_rotation_days",
            "tags": "rotation_tags",
        },
        # Rule checks only: the services' network mode and containers are the service role's business.
    ),
}


def nearest(name: str, known: Iterable[str], prefix: str = "") -> Optional[str]:
    """The known name closest to ``name``, compared without the prefix they all share."""
    by_tail = {item[len(prefix):] if item.startswith(prefix) else item: item for item in known}
    tail = name[len(prefix):] if name.startswith(prefix) else name
    matches = difflib.get_close_matches(tail, sorted(by_tail), n=1, cutoff=0.6)
    return by_tail[matches[0]] if matches else None


def secret_unknown_values(inputs: Mapping[str, Any], known: Iterable[str]) -> List[str]:
    """The values of the inputs not ``known`` whose names look secret: a variable that only shares the
    prefix may be someone's password (an inventory's database_password). They are never shown, and
    the module masks them wherever Ansible would show its arguments."""
    known = set(known)
    return [str(value) for name, value in inputs.items() if name not in known and looks_secret(name) and value not in (None, "")]


def _unknown(what: str, name: str, known: Iterable[str], prefix: str = "", value: Any = None) -> str:
    guess = nearest(name, known, prefix)
    shown = f" (set to {_show(value)})" if value is not None and not secret_unknown_values({name: value}, ()) else ""
    return f"{what} {name!r}{shown} is not known" + (f", did you mean {guess!r}?" if guess else "")


# ---------------------------------------------------------------------------------------------
# Shapes: the argument spec, without Ansible's comma splitting
# ---------------------------------------------------------------------------------------------


def check_shapes(inputs: Mapping[str, Any], spec: Mapping[str, Mapping[str, Any]], prefix: str,
                 known: Iterable[str] = ()) -> Tuple[Dict[str, Any], List[str]]:
    """The inputs coerced to their spec types, and a problem for each wrong shape, unknown name,
    missing required input and value outside ``choices``."""
    problems: List[str] = []
    values: Dict[str, Any] = {}
    all_known = set(spec) | set(known)
    for name in sorted(inputs):
        if name not in all_known:
            if name.startswith(prefix):
                problems.append(_unknown("input", name, all_known, prefix, inputs[name]))
            continue
        if name not in spec:
            continue
        value, problem = coerce(name, inputs[name], spec[name])
        if problem:
            problems.append(problem)
            continue
        choices = spec[name].get("choices")
        if choices and value is not None and value not in choices:
            problems.append(f"{name} must be one of {', '.join(str(c) for c in choices)}, got {_show(inputs[name])}")
            continue
        values[name] = value
    for name, option in spec.items():
        if option.get("required") and inputs.get(name) in (None, "", [], {}):
            problems.append(f"{name} is required")
    return values, problems


# ---------------------------------------------------------------------------------------------
# Pure rules
# ---------------------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    container_name: Optional[str]
    # How the user wrote where the container name comes from, for the message.
    container_input: str


def normalise_services(profile: Profile, values: Mapping[str, Any], meaning: str = "ecs_services") -> Tuple[List[Service], List[str]]:
    """The services of one list input (``meaning``: the services to wire, or to release) as entries
    with their container name; problems for bad entries."""
    names = profile.names
    option = names.get(meaning)
    raw = values.get(option) if option else None
    if not isinstance(raw, list):
        return [], []
    default_container_input = names.get("container_name", "")
    default_container = values.get(default_container_input) or DEFAULT_CONTAINER
    services: List[Service] = []
    problems: List[str] = []
    for index, entry in enumerate(raw):
        where = f"{option}[{index}]"
        if isinstance(entry, str) and entry.strip():
            services.append(Service(entry, default_container, default_container_input))
        elif isinstance(entry, dict):
            unknown = [key for key in entry if key not in SERVICE_ENTRY_KEYS]
            for key in unknown:
                problems.append(_unknown(f"{where}: key", str(key), SERVICE_ENTRY_KEYS))
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip():
                problems.append(f"{where} needs a name (a service name string), got {_show(entry)}")
                continue
            container = entry.get("container_name")
            if container is not None and (not isinstance(container, str) or not container.strip()):
                problems.append(f"{where}.container_name must be a container name, got {_show(container)}")
                continue
            login_problems = service_login_problems(where, entry) if meaning == "ecs_services" else []
            problems += login_problems
            if unknown or login_problems:
                continue
            if container:
                services.append(Service(name, container, f"{where}.container_name"))
            else:
                services.append(Service(name, default_container, default_container_input))
        else:
            problems.append(f"{where} must be a service name or {{name, container_name}}, got {_show(entry)}")
    seen = set()
    for service in services:
        if service.name in seen:
            problems.append(f"{option} names service {service.name!r} twice")
        seen.add(service.name)
    return services, problems


def connection_problems(names: Mapping[str, str], values: Mapping[str, Any], region: Optional[str]) -> List[str]:
    problems = []
    if "region" in names and not region:
        problems.append(f"no AWS region: set {names['region']} (or AWS_REGION)")
    loopback_name, endpoint_name = names.get("require_loopback"), names.get("endpoint_url")
    if loopback_name and values.get(loopback_name):
        endpoint = values.get(endpoint_name) or ""
        host = urllib.parse.urlsplit(endpoint).hostname or ""
        if host not in LOOPBACK_HOSTS:
            problems.append(f"{endpoint_name} {_show(endpoint)} must point at a server on this machine, because {loopback_name} is true")
    return problems


def role_problems(names: Mapping[str, str], values: Mapping[str, Any], check_mode: bool) -> List[str]:
    """Combinations a role used on its own needs; site.yml always supplies them."""
    problems = []
    if "service_security_group_ids" in names and names.get("ecs_cluster") in values:
        has_services = bool(values.get(names["ecs_cluster"])) and bool(values.get(names["ecs_services"]))
        subnets = bool(values.get(names["subnet_ids"]))
        sources = bool(values.get(names["service_security_group_ids"])) or values.get(names["db_ingress_source"]) == "cidr"
        if not has_services and not (subnets and sources):
            problems.append(f"{names['ecs_cluster']}/{names['ecs_services']} are empty, so {names['subnet_ids']} and "
                            f"{names['service_security_group_ids']} (or {names['db_ingress_source']}: cidr) are needed")
    if "subnet_ids" in names and "db_cluster_identifier" in names and names["subnet_ids"] in values:
        subnet_ids = values.get(names["subnet_ids"]) or []
        if len(subnet_ids) < 2:
            problems.append(f"{names['subnet_ids']} {_show(subnet_ids)} needs two subnets at least, in two Availability Zones")
    if "db_endpoint" in names and names["db_endpoint"] in values:
        for meaning in ("ecs_cluster", "ecs_services"):
            if not values.get(names[meaning]):
                problems.append(f"{names[meaning]} is empty")
        if not check_mode:
            for meaning in ("secret_arn", "db_endpoint"):
                if not values.get(names[meaning]):
                    problems.append(f"{names[meaning]} is required (only check mode on an account without the database may leave it null)")
        if names["policy_name"] in values and not grant_policy_name(values):
            problems.append(f"{names['policy_name']} is empty, and neither service_deployment_id, {names['db_cluster_identifier']} "
                            f"nor {names['secret_arn']} names the deployment to derive it from")
    return problems


def check_inputs(profile: Profile, inputs: Mapping[str, Any], spec: Mapping[str, Mapping[str, Any]],
                 known: Iterable[str] = (), region: Optional[str] = None,
                 check_mode: bool = False) -> Tuple[Dict[str, Any], List[Service], List[Service], List[str]]:
    """Every problem AWS need not be asked about, plus the coerced values, the services to wire and
    those to release."""
    values, problems = check_shapes(inputs, spec, profile.prefix, known)
    n = profile.names

    def value(meaning: str) -> Any:
        return values.get(n[meaning]) if meaning in n else None

    def given(meaning: str) -> bool:
        return meaning in n and values.get(n[meaning]) not in (None, "")

    problems += connection_problems(n, values, region)
    problems += role_problems(n, values, check_mode)
    services, service_problems = normalise_services(profile, values)
    problems += service_problems
    released, release_problems = normalise_services(profile, values, "release_services")
    problems += release_problems
    wired_names = {service.name for service in services}
    for service in released:
        if service.name in wired_names:
            problems.append(f"{n['release_services']} names service {service.name!r}, which {n['ecs_services']} lists too: "
                            "a service is wired or released, not both")
    if given("db_cluster_identifier"):
        problems.append(cluster_identifier_problem(n["db_cluster_identifier"], value("db_cluster_identifier")))
    if "db_name" in n:
        problems.append(db_name_problem(n["db_name"], value("db_name")))
    if given("db_port"):
        problems.append(port_problem(n["db_port"], value("db_port")))
    if "db_ingress_cidrs" in n:
        cidrs = value("db_ingress_cidrs") or []
        allow = bool(value("allow_wide_ingress"))
        problems += cidr_problems(n["db_ingress_cidrs"], cidrs, allow, n.get("allow_wide_ingress", "allow_wide_ingress"))
        if value("db_ingress_source") == "cidr" and not inputs.get(n["db_ingress_cidrs"]):
            problems.append(f"{n['db_ingress_source']} is cidr but {n['db_ingress_cidrs']} is empty")
    problems.append(engine_version_problem(n.get("engine_version", ""), value("engine_version")))
    if given("monitoring_role_arn"):
        problems.append(role_arn_problem(n["monitoring_role_arn"], value("monitoring_role_arn")))
    if "monitoring_interval" in n:
        interval, role = value("monitoring_interval") or 0, value("monitoring_role_arn")
        if interval and not role:
            problems.append(f"{n['monitoring_interval']} {interval} needs {n['monitoring_role_arn']} (the enhanced monitoring role)")
        if role and not interval:
            problems.append(f"{n['monitoring_role_arn']} is set but {n['monitoring_interval']} is 0 (monitoring off)")
    if "serverless_min_capacity" in n:
        scaling = serverless_scaling(value("serverless_min_capacity"), value("serverless_max_capacity"), value("seconds_until_auto_pause"))
        problems.append(serverless_problem(scaling, value("instance_class"), {
            "min_capacity": n["serverless_min_capacity"], "max_capacity": n["serverless_max_capacity"],
            "seconds_until_auto_pause": n["seconds_until_auto_pause"], "instance_class": n["instance_class"]}))
    if "db_auth" in n:
        problems += db_auth_problems(n, values)
    for meaning in ("secret_kms_key_id", "kms_key_id"):
        if given(meaning):
            problems.append(kms_key_problem(n[meaning], value(meaning)))
    if given("service_kms_key_id"):
        problems.append(kms_key_problem(n["service_kms_key_id"], value("service_kms_key_id"), allow_alias=False))
    if given("secret_arn"):
        problems.append(secret_arn_problem(n["secret_arn"], value("secret_arn")))
    if given("rotation_days") and isinstance(value("rotation_days"), int) and not 1 <= value("rotation_days") <= 1000:
        problems.append(f"{n['rotation_days']} {_show(value('rotation_days'))} is out of range: Secrets Manager rotates every 1 to 1000 days")
    return values, services, released, [problem for problem in problems if problem]


def db_auth_problems(names: Mapping[str, str], values: Mapping[str, Any]) -> List[str]:
    """How the services sign in, against the database the inputs ask for: a mode named, no T class
    where a login is made through the Data API, IAM authentication not turned off for an iam login."""
    default = values.get(names["db_auth"])
    if default not in (None, "") and default not in DB_AUTH_MODES:
        return [f"{names['db_auth']} {_show(default)} must be one of {', '.join(DB_AUTH_MODES)}"]
    entries = [service_entry(entry, None) for entry in values.get(names.get("ecs_services", "")) or [] if isinstance(entry, (str, dict))]
    modes = [service_login(entry, default)["auth"] for entry in entries if entry and entry.get("db_auth", default or "master") in DB_AUTH_MODES]
    problems = [db_auth_class_problem(modes, values.get(names.get("instance_class", "")), names["db_auth"], names.get("instance_class", "instance class"))]
    if "iam" in modes and "iam_authentication" in names and values.get(names["iam_authentication"]) is False:
        problems.append(f"{names['iam_authentication']} is false but a service signs in with iam ({names['db_auth']} or its db_auth): "
                        "IAM database authentication must be on for its login")
    return [problem for problem in problems if problem]


# ---------------------------------------------------------------------------------------------
# Facts AWS can tell before any write (reads only)
# ---------------------------------------------------------------------------------------------


def orderable_answer(options: Sequence[Mapping[str, Any]], instance_class: str) -> Optional[bool]:
    """Whether DescribeOrderableDBInstanceOptions, asked for one class, says it is offered: True or
    False when the answer is about that class, None when the service ignored the class filter (moto
    does) and the documented pattern must decide."""
    if not options:
        return False
    if all(option.get("DBInstanceClass") == instance_class for option in options):
        return True
    return None


def engine_version_answer(versions: Sequence[Mapping[str, Any]], wanted: str) -> bool:
    """Whether DescribeDBEngineVersions for aurora-postgresql, asked for ``wanted`` (a full version such
    as 16.4 by EngineVersion, a major version such as 16 by its parameter group family), lists it."""
    if "." in wanted:
        return any(version.get("EngineVersion") == wanted for version in versions)
    return bool(versions)


def subnet_zone_problem(name: str, subnets: Sequence[Mapping[str, Any]]) -> Optional[str]:
    zones = sorted({subnet.get("AvailabilityZone") for subnet in subnets if subnet.get("AvailabilityZone")})
    if len(zones) < 2:
        ids = ", ".join(subnet["SubnetId"] for subnet in subnets) or "none"
        return (f"{name}: the subnets ({ids}) span {len(zones)} Availability Zone(s) ({', '.join(zones) or 'none'}); "
                "an Aurora DB subnet group needs two")
    return None


def container_problem(service: Service, task_definition: Mapping[str, Any]) -> Optional[str]:
    containers = [c.get("name") for c in task_definition.get("containerDefinitions", [])]
    if service.container_name in containers:
        return None
    return (f"{service.container_input} {_show(service.container_name)}: service {service.name!r} runs "
            f"{task_definition.get('family')}:{task_definition.get('revision')}, whose containers are {', '.join(containers) or 'none'}")


def active_by_name(described: Sequence[Mapping[str, Any]]) -> Dict[str, Mapping[str, Any]]:
    """The ACTIVE services of a DescribeServices answer, by name and by ARN (an input may give either)."""
    active: Dict[str, Mapping[str, Any]] = {}
    for service in described:
        if service.get("status") == "ACTIVE":
            active[service["serviceName"]] = service
            active[service.get("serviceArn", "")] = service
    return active


@dataclass
class FactChecker:
    """Reads AWS to find what would make a run fail half way; never writes."""

    clients: Any  # callable(service_name) -> client
    profile: Profile
    values: Mapping[str, Any]
    services: List[Service]
    released: List[Service] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    facts: Dict[str, Any] = field(default_factory=dict)

    def name(self, meaning: str) -> str:
        return self.profile.names[meaning]

    def value(self, meaning: str) -> Any:
        return self.values.get(self.profile.names[meaning]) if meaning in self.profile.names else None

    def run(self) -> Tuple[List[str], Dict[str, Any]]:
        wanted = self.profile.facts
        described: List[Dict[str, Any]] = []
        if "ecs" in wanted and self.value("ecs_cluster") and self.services:
            described = self.check_ecs()
        if "containers" in wanted and described:
            self.check_containers(described)
        if "subnets" in wanted:
            self.check_subnets(described)
        if "instance_class" in wanted and self.value("instance_class"):
            self.check_instance_class()
        # A version or key that does not exist would fail the cluster's creation, after the network
        # step's writes: both are known with one read each, made only when the input is set.
        if "engine_version" in wanted and self.value("engine_version") and not engine_version_problem("", self.value("engine_version")):
            self.check_engine_version()
        if "secret_users" in wanted and self.value("db_cluster_identifier") and self.value("ecs_cluster"):
            self.check_secret_users()
        if "released" in wanted and self.released and self.value("ecs_cluster"):
            self.check_released()
        key = self.value("secret_kms_key_id")
        # aws/secretsmanager is AWS's to create, on its first use in the account: not looked for.
        if "secret_kms_key" in wanted and key and not kms_key_problem("", key) and not names_aws_managed_key(str(key)):
            self.check_secret_kms_key()
        return self.problems, self.facts

    def check_ecs(self) -> List[Dict[str, Any]]:
        cluster = self.value("ecs_cluster")
        described = describe_services(self.clients("ecs"), cluster, [service.name for service in self.services])
        if described is None:
            self.problems.append(f"{self.name('ecs_cluster')} {_show(cluster)}: no ACTIVE ECS cluster of that name in this account and region")
            return []
        active = active_by_name(described)
        option = self.name("ecs_services")
        usable = []
        self.facts["services"] = {}
        for entry in self.services:
            service = active.get(entry.name)
            if service is None:
                self.problems.append(f"{option}: service {entry.name!r} is not an ACTIVE service of ECS cluster {cluster!r}")
            elif not (service.get("networkConfiguration") or {}).get("awsvpcConfiguration"):
                self.problems.append(f"{option}: service {entry.name!r} does not use the awsvpc network mode (Fargate needs it)")
            else:
                usable.append(service)
                awsvpc = service["networkConfiguration"]["awsvpcConfiguration"]
                # Keyed by the name as given; what the service role needs to plan without describing again.
                self.facts["services"][entry.name] = {
                    "task_definition": service.get("taskDefinition"),
                    "settled": rollout_progress(service)[0] == "COMPLETED",
                    "subnets": awsvpc.get("subnets", []),
                    "security_groups": awsvpc.get("securityGroups", []),
                }
        return usable

    def check_containers(self, described: List[Dict[str, Any]]) -> None:
        ecs, roles = self.clients("ecs"), None
        by_name = {service["serviceName"]: service for service in described}
        roles_checked: Dict[str, bool] = {}
        for entry in self.services:
            service = by_name.get(entry.name) or next((s for s in described if s.get("serviceArn") == entry.name), None)
            if service is None:
                continue
            arn = service.get("taskDefinition")
            found = describe_task_definition(ecs, arn, getattr(self.clients, "described", None))
            if found is None:
                self.problems.append(f"{self.name('ecs_services')}: service {entry.name!r} runs {arn}, which ECS does not describe")
                continue
            task_definition, tags = found
            registered_here = CREATED_BY_TAG in tags
            problem = container_problem(entry, task_definition)
            if problem:
                self.problems.append(problem)
            role_arn = task_definition.get("executionRoleArn")
            if not role_arn:
                self.problems.append(f"{self.name('ecs_services')}: service {entry.name!r} runs {arn} without an execution role "
                                     "(executionRoleArn); ECS needs one to fetch the database secret")
                continue
            role = role_arn.rsplit("/", 1)[-1]
            # A revision the service role registered had its execution role checked then, and a re-run that
            # changes nothing should not ask IAM twice (the grant step reads the role's policy anyway, and
            # names the role if it has been deleted since). Any other revision's role is checked here.
            if role not in roles_checked and not registered_here:
                roles = roles or IamRoles(self.clients("iam"))
                roles_checked[role] = roles.role(role) is not None
                if not roles_checked[role]:
                    self.problems.append(f"{self.name('ecs_services')}: service {entry.name!r} runs {arn}, whose execution role {role_arn} does not exist")

    def check_subnets(self, described: List[Dict[str, Any]]) -> None:
        if "subnet_ids" in self.profile.names and self.value("subnet_ids"):
            option, subnet_ids = self.name("subnet_ids"), list(self.value("subnet_ids"))
        elif described:
            option = f"{self.name('ecs_services')} (the services' awsvpc subnets)"
            subnet_ids = sorted({s for service in described for s in service["networkConfiguration"]["awsvpcConfiguration"].get("subnets", [])})
        else:
            return
        response = call(self.clients("ec2"), "describe_subnets", f"describe subnets {', '.join(subnet_ids)}",
                        ("InvalidSubnetID.NotFound",), SubnetIds=subnet_ids)
        if response is None:
            self.problems.append(f"{option}: one of the subnets {', '.join(subnet_ids)} does not exist")
            return
        subnets = response.get("Subnets", [])
        problem = subnet_zone_problem(option, subnets)
        if problem:
            self.problems.append(problem)
        # The network role plans the Secrets Manager endpoint from this description instead of asking again.
        self.facts["subnets"] = [
            {"subnet_id": s["SubnetId"], "availability_zone": s.get("AvailabilityZone"), "cidr_block": s.get("CidrBlock"), "vpc_id": s.get("VpcId")}
            for s in subnets
        ]

    def check_instance_class(self) -> None:
        option, instance_class = self.name("instance_class"), self.value("instance_class")
        answer = None
        try:
            response = self.clients("rds").describe_orderable_db_instance_options(
                Engine="aurora-postgresql", DBInstanceClass=instance_class, MaxRecords=20, aws_retry=True
            )
            answer = orderable_answer(response.get("OrderableDBInstanceOptions", []), instance_class)
        except (ClientError, BotoCoreError):
            answer = None  # not answered here: the documented pattern decides
        if answer is False:
            self.problems.append(f"{option} {_show(instance_class)} is not offered for aurora-postgresql in this region")
        elif answer is None:
            problem = instance_class_pattern_problem(option, instance_class)
            if problem:
                self.problems.append(problem)

    @functools.cached_property
    def secret_arn(self) -> Optional[str]:
        """The deployment's secret: as given (the service role's input), else the cluster's managed
        secret, described once. None when neither is known (no cluster yet)."""
        if self.value("secret_arn"):
            return str(self.value("secret_arn"))
        identifier = self.value("db_cluster_identifier")
        if not identifier:
            return None
        clusters = call(self.clients("rds"), "describe_db_clusters", f"describe DB cluster {identifier}", ("DBClusterNotFoundFault",),
                        DBClusterIdentifier=identifier)
        return (((clusters or {}).get("DBClusters") or [{}])[0].get("MasterUserSecret") or {}).get("SecretArn")

    def check_secret_users(self) -> None:
        """Services of the ECS cluster that the inputs leave out but whose running revision reads the
        cluster's managed secret: teardown would delete the secret under them (their next task start
        fails), so it takes their wiring out too (``secret_users``: the container and the variables that
        read the secret). One that another deployment wired (its revision carries that deployment's
        tag), or that reads the secret in more than one container, stops the teardown first, named."""
        ecs_cluster = self.value("ecs_cluster")
        # As the service role tags its revisions: the same derivation, in the characters a tag value takes.
        deployment = service_deployment_id({"service_deployment_id": self.value("deployment_id"),
                                            "service_db_cluster_identifier": self.value("db_cluster_identifier")})
        users: Dict[str, Dict[str, Any]] = {}
        try:
            secret_arn = self.secret_arn
            if not secret_arn:
                return
            ecs = self.clients("ecs")
            arns = list_all(ecs, f"list services of ECS cluster {ecs_cluster}", "list_services", "serviceArns", cluster=ecs_cluster)
            named = {service.name for service in self.services}
            others = [s for s in describe_services(ecs, ecs_cluster, arns) or []
                      if s.get("status") == "ACTIVE" and s.get("serviceName") not in named and s.get("serviceArn") not in named]
            for service in others:
                found = describe_task_definition(ecs, service["taskDefinition"], getattr(self.clients, "described", None))
                readers = secret_readers(found[0], secret_arn) if found else {}
                if not readers:
                    continue
                task_definition, tags = found
                revision = f"{task_definition.get('family')}:{task_definition.get('revision')}"
                leaves_out = (f"{self.name('ecs_services')} leaves out service {service['serviceName']!r} of ECS cluster {ecs_cluster!r}, "
                              f"whose revision {revision}")
                wired_by = tags.get(CREATED_BY_TAG)
                if wired_by and wired_by != deployment:
                    self.problems.append(f"{leaves_out} reads the database secret that teardown deletes with the cluster, wired by deployment "
                                         f"{wired_by!r}: tear that deployment down first, or move the service off the secret")
                elif len(readers) > 1:
                    self.problems.append(f"{leaves_out} reads the database secret in containers {', '.join(sorted(readers))}: teardown takes "
                                         "the wiring out of one container; move the others off the secret first")
                else:
                    container, variables = next(iter(readers.items()))
                    users[service["serviceName"]] = {"task_definition": service["taskDefinition"], "container_name": container, "variables": variables}
        except (EcsRdsError, ClientError, BotoCoreError):
            return  # not answered (no permission to list): teardown goes on with the services it was given
        self.facts["secret_users"] = users

    def check_released(self) -> None:
        """Each service to release, with the container to unwire and whether its running revision still
        reads the deployment's secret there (``wired``): the service role unwires only those, and the
        deployment check is not in sync while one does. A service that is gone has nothing left to release."""
        ecs, cluster = self.clients("ecs"), self.value("ecs_cluster")
        active = active_by_name(describe_services(ecs, cluster, [service.name for service in self.released]) or [])
        secret_arn = self.secret_arn
        released: Dict[str, Dict[str, Any]] = {}
        for entry in self.released:
            service = active.get(entry.name)
            found = describe_task_definition(ecs, service["taskDefinition"], getattr(self.clients, "described", None)) if service else None
            if found is None:
                continue
            problem = container_problem(entry, found[0])
            if problem:
                self.problems.append(problem)
                continue
            readers = secret_readers(found[0], secret_arn) if secret_arn else {}
            released[entry.name] = {"task_definition": service["taskDefinition"], "container_name": entry.container_name,
                                    "wired": entry.container_name in readers}
        self.facts["released"] = released

    def check_engine_version(self) -> None:
        option, wanted = self.name("engine_version"), self.value("engine_version")
        ask = {"EngineVersion": wanted} if "." in wanted else {"DBParameterGroupFamily": f"aurora-postgresql{wanted}"}
        try:
            response = self.clients("rds").describe_db_engine_versions(Engine="aurora-postgresql", MaxRecords=20, aws_retry=True, **ask)
        except (ClientError, BotoCoreError):
            return  # not answered here (moto has no such call): CreateDBCluster decides
        if not engine_version_answer(response.get("DBEngineVersions", []), wanted):
            self.problems.append(f"{option} {_show(wanted)} is not an aurora-postgresql engine version RDS offers in this region "
                                 "(aws rds describe-db-engine-versions --engine aurora-postgresql lists them)")

    def check_secret_kms_key(self) -> None:
        option, key = self.name("secret_kms_key_id"), self.value("secret_kms_key_id")
        try:
            metadata = self.clients("kms").describe_key(KeyId=key, aws_retry=True)["KeyMetadata"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NotFoundException":
                self.problems.append(f"{option} {_show(key)}: no such KMS key in this account and region")
            return  # not allowed to look (AccessDenied): CreateDBCluster decides
        except BotoCoreError:
            return
        if metadata.get("KeyState") not in (None, "Enabled"):
            self.problems.append(f"{option} {_show(key)}: the KMS key is {metadata['KeyState']}, and RDS needs an enabled key for the secret")


def validate(clients: Any, profile_name: str, inputs: Mapping[str, Any], spec: Mapping[str, Mapping[str, Any]],
             known: Iterable[str] = (), region: Optional[str] = None, with_facts: bool = True,
             check_mode: bool = False) -> Tuple[List[str], Dict[str, Any]]:
    """Every problem with the inputs of one entry point: first the rules, then (when a region and
    endpoint are usable) what AWS can tell. Returns the problems and what was learnt: the services
    (``services``) and what AWS said of them and their subnets (``discovered``). ``clients`` is a
    Clients (its region is used unless ``region`` is given); a revision it describes stays in
    ``clients.described`` for the later steps of the same process."""
    region = region or getattr(clients, "region", None)
    profile = PROFILES[profile_name]
    values, services, released, problems = check_inputs(profile, inputs, spec, known, region, check_mode)
    facts: Dict[str, Any] = {}
    connection_broken = any(p in problems for p in connection_problems(profile.names, values, region))
    if with_facts and profile.facts and region and not connection_broken:
        fact_problems, facts = FactChecker(clients, profile, values, services, released).run()
        problems += fact_problems
    elif "instance_class" in profile.names:
        problems.append(instance_class_pattern_problem(profile.names["instance_class"], values.get(profile.names["instance_class"])))
    running = facts.get("services", {})
    result = {
        "services": [{"name": s.name, "container_name": s.container_name, "task_definition": running.get(s.name, {}).get("task_definition")}
                     for s in services],
        "discovered": facts,
    }
    return [p for p in problems if p], result


def problems_message(problems: Sequence[str]) -> str:
    listed = " ".join(f"({number}) {problem}" for number, problem in enumerate(problems, 1))
    return f"{len(problems)} problem(s) with the inputs, nothing was changed: {listed}"
