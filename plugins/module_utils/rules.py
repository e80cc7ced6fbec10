# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules an input must follow, each stated once (from the RDS, EC2, IAM and KMS documentation)
and each a pure function: a problem naming the input as the caller calls it, with its value, or
None. The inputs check applies them to a playbook's or role's inputs, the modules to their options.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.ecsrds.connect.plugins.module_utils.kms import names_aws_managed_key

# CreateDBCluster: 1-63 letters, digits or hyphens; first a letter; no two consecutive hyphens;
# not ending with a hyphen. Our writer is "<id>-instance-<n>", which must fit in 63 as well.
CLUSTER_ID_PATTERN = re.compile(r"[A-Za-z](?!.*--)[A-Za-z0-9-]*(?<!-)")
MAX_IDENTIFIER_LENGTH = 63
INSTANCE_SUFFIX = "-instance-1"
# Aurora PostgreSQL DatabaseName: a letter, then letters, digits or underscores; at most 63.
DB_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
# Aurora DB clusters listen on 1150-65535.
PORT_RANGE = (1150, 65535)
# aurora-postgresql versions: "16" or "16.4" (RDS picks the minor when only the major is given);
# optionally a documented suffix such as "16.4.limitless".
ENGINE_VERSION_PATTERN = re.compile(r"(1[0-9]|[2-9][0-9])(\.[0-9]{1,2})?(\.[a-z]+)?")
# Instance classes Aurora PostgreSQL documents ("Supported DB engines for DB instance classes"),
# used where DescribeOrderableDBInstanceOptions does not answer.
INSTANCE_CLASS_PATTERN = re.compile(
    r"db\.(serverless|t3\.(medium|large)|t4g\.(medium|large)"
    r"|(r5|r6g|r6gd|r6i|r6id|r7g|r7i|r8g|x2g)\.(large|xlarge|[1-9][0-9]?xlarge))"
)
IAM_ROLE_ARN_PATTERN = re.compile(r"arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}")
SECRET_ARN_PATTERN = re.compile(r"arn:aws(-[a-z]+)*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+")
KMS_KEY_ID_PATTERN = re.compile(r"(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
KMS_ALIAS_PATTERN = re.compile(r"alias/[A-Za-z0-9/_-]{1,250}")
KMS_ARN_PATTERN = re.compile(r"arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:[0-9]{12}:(key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})|alias/[A-Za-z0-9/_-]+)")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# A VPC is at most a /16 (IPv4) or a /56 (IPv6): anything wider admits addresses outside any VPC.
WIDEST_VPC_PREFIX = {4: 16, 6: 56}


def show(value: Any) -> str:
    """A value as a problem quotes it."""
    return repr(value)


def cluster_identifier_problem(name: str, value: Any) -> Optional[str]:
    if not isinstance(value, str) or not CLUSTER_ID_PATTERN.fullmatch(value):
        return (f"{name} {show(value)} is not a valid DB cluster identifier: it must start with a letter and hold only "
                "letters, digits and single hyphens, not ending with a hyphen")
    limit = MAX_IDENTIFIER_LENGTH - len(INSTANCE_SUFFIX)
    if len(value) > limit:
        return f"{name} {show(value)} is too long: at most {limit} characters, so that its writer <id>{INSTANCE_SUFFIX} fits in {MAX_IDENTIFIER_LENGTH}"
    return None


def db_name_problem(name: str, value: Any) -> Optional[str]:
    if value in (None, ""):
        return None  # unset: adopt a cluster without a DatabaseName
    if not isinstance(value, str) or not DB_NAME_PATTERN.fullmatch(value):
        return f"{name} {show(value)} is not a valid database name: a letter, then letters, digits or underscores, 63 at most"
    return None


def port_problem(name: str, value: Any) -> Optional[str]:
    """A database port: Aurora clusters listen on PORT_RANGE."""
    low, high = PORT_RANGE
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return f"{name} {show(value)} is out of range: Aurora listens on a port from {low} to {high}"
    return None


def tcp_port_problem(name: str, value: Any) -> Optional[str]:
    """Any TCP port, as a security group rule takes it."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        return f"{name} must be between 1 and 65535, got {show(value)}"
    return None


def cidr_problems(name: str, cidrs: Sequence[Any], allow_wide: bool, allow_name: str) -> List[str]:
    problems = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            problems.append(f"{name}: {show(cidr)} is not a CIDR block (such as 10.0.0.0/16)")
            continue
        if not allow_wide and network.prefixlen < WIDEST_VPC_PREFIX[network.version]:
            problems.append(
                f"{name}: {show(cidr)} is wider than any VPC (/{WIDEST_VPC_PREFIX[network.version]}) and would open the database "
                f"beyond it; give the VPC's range, or set {allow_name}: true"
            )
    return problems


def engine_version_problem(name: str, value: Any) -> Optional[str]:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not ENGINE_VERSION_PATTERN.fullmatch(value):
        return f"{name} {show(value)} is not an aurora-postgresql engine version (such as 16 or 16.4)"
    return None


def instance_class_pattern_problem(name: str, value: Any) -> Optional[str]:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not INSTANCE_CLASS_PATTERN.fullmatch(value):
        return f"{name} {show(value)} is not an instance class Aurora PostgreSQL offers (such as db.t4g.medium or db.r6g.large)"
    return None


def role_arn_problem(name: str, value: Any) -> Optional[str]:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not IAM_ROLE_ARN_PATTERN.fullmatch(value):
        return f"{name} {show(value)} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
    return None


def secret_arn_problem(name: str, value: Any) -> Optional[str]:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not SECRET_ARN_PATTERN.fullmatch(value):
        return f"{name} {show(value)} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)"
    return None


def kms_key_problem(name: str, value: Any, allow_alias: bool = True) -> Optional[str]:
    if value in (None, ""):
        return None
    text = str(value).strip()
    is_alias = bool(KMS_ALIAS_PATTERN.fullmatch(text)) or (bool(KMS_ARN_PATTERN.fullmatch(text)) and ":alias/" in text)
    if not (KMS_KEY_ID_PATTERN.fullmatch(text) or KMS_ARN_PATTERN.fullmatch(text) or KMS_ALIAS_PATTERN.fullmatch(text)):
        return f"{name} {show(value)} is not a KMS key id, key ARN or alias (alias/<name>)"
    if is_alias and not allow_alias and not names_aws_managed_key(text):
        return f"{name} {show(value)} is an alias: an IAM policy cannot grant kms:Decrypt by alias; give the key ARN or key id"
    return None


# The boolean spellings Ansible accepts (ansible.module_utils.parsing.convert_bool).
TRUE_STRINGS = ("yes", "on", "1", "true", "y", "t")
FALSE_STRINGS = ("no", "off", "0", "false", "n", "f")


def coerce(name: str, value: Any, spec: Mapping[str, Any]) -> Tuple[Any, Optional[str]]:
    """``value`` as the spec's type, or a problem. Strings are never split into lists."""
    kind = spec.get("type", "str")
    if value is None:
        return None, None
    if kind == "list":
        if not isinstance(value, list):
            hint = " (a string is not split: give a YAML list, such as [a, b])" if isinstance(value, str) else ""
            return value, f"{name} must be a list, got {type(value).__name__} {show(value)}{hint}"
        elements = spec.get("elements")
        if elements == "str":
            bad = [item for item in value if not isinstance(item, str)]
            if bad:
                return value, f"{name} must be a list of strings, got {show(value)}"
        return value, None
    if kind == "dict":
        if not isinstance(value, dict):
            return value, f"{name} must be a mapping (key: value), got {type(value).__name__} {show(value)}"
        return value, None
    if kind == "int":
        if isinstance(value, bool):
            return value, f"{name} must be an integer, got {show(value)}"
        if isinstance(value, int):
            return value, None
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
            return int(value), None
        return value, f"{name} must be an integer, got {show(value)}"
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, (str, int)) and str(value).strip().lower() in TRUE_STRINGS + FALSE_STRINGS:
            return str(value).strip().lower() in TRUE_STRINGS, None
        return value, f"{name} must be true or false, got {show(value)}"
    if kind == "str":
        if isinstance(value, (list, dict)):
            return value, f"{name} must be a string, got {type(value).__name__} {show(value)}"
        return value if isinstance(value, str) else str(value), None
    return value, None


# The services input of the network, service and rotation roles: a name, or {name, container_name}.
# The container that gets the database variables when neither the entry nor the inputs name one.
DEFAULT_CONTAINER = "app"


# What check mode stands in for a value AWS assigns only at creation (the cluster's endpoint and
# secret ARN): marked, so that no later step takes a stand-in for the real thing.
PLANNED_MARK = "planned-by-check-mode"


def planned(value: Any) -> bool:
    return isinstance(value, str) and PLANNED_MARK in value


# How a service signs in to the database (ecsrds_db_auth, a service entry's db_auth): the cluster's
# master secret, a login of its own with its own secret, or a login using IAM database authentication.
DB_AUTH_MODES = ("master", "app_user", "iam")
DB_PRIVILEGES = ("owner", "read_write", "read_only")
# What a service entry may say about its login, besides its name and container.
SERVICE_LOGIN_KEYS = ("db_auth", "db_user", "db_privileges", "db_schema")
# A PostgreSQL login or schema name the collection writes without quoting surprises: lower case.
DB_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# The Data API does not serve T instance classes (Aurora's documented limit).
DATA_API_REFUSED_CLASS_PREFIX = "db.t"


def service_entry(entry: Any, default_container: Optional[str]) -> Optional[Dict[str, Any]]:
    """One entry of the services input (a name, or {name, container_name, db_auth, db_user,
    db_privileges, db_schema}) as {name, container_name} plus the login keys it gives; None for an
    entry that is neither (the inputs check names it)."""
    if isinstance(entry, str) and entry.strip():
        return {"name": entry, "container_name": default_container or DEFAULT_CONTAINER}
    if isinstance(entry, Mapping) and isinstance(entry.get("name"), str) and entry["name"].strip():
        result = {"name": entry["name"], "container_name": entry.get("container_name") or default_container or DEFAULT_CONTAINER}
        result.update({key: entry[key] for key in SERVICE_LOGIN_KEYS if entry.get(key) not in (None, "")})
        return result
    return None


def login_name_of(service: str) -> str:
    """The PostgreSQL login a service gets when its entry names none: the service name in lower case,
    every other character than a letter, digit or _ made _, a leading digit prefixed, at most 63."""
    name = re.sub(r"[^a-z0-9_]", "_", service.lower())
    if not name or name[0].isdigit():
        name = f"svc_{name}"
    return name[:MAX_IDENTIFIER_LENGTH]


def service_login(entry: Mapping[str, Any], default_auth: Optional[str]) -> Dict[str, Any]:
    """How one service (:func:`service_entry`) signs in: its mode (the entry's db_auth, else the
    default), and for app_user and iam its login, rights and schema (owner: a schema named after the
    login; the others: public unless named)."""
    auth = entry.get("db_auth") or default_auth or "master"
    if auth == "master":
        return {"service": entry["name"], "auth": auth, "login": None, "privileges": None, "schema": None}
    login = entry.get("db_user") or login_name_of(entry["name"])
    privileges = entry.get("db_privileges") or "owner"
    schema = entry.get("db_schema") or (login if privileges == "owner" else "public")
    return {"service": entry["name"], "auth": auth, "login": login, "privileges": privileges, "schema": schema}


def login_secret_name(cluster_identifier: str, login: str) -> str:
    """The Secrets Manager secret of an app_user login: beside its cluster's name, found again by it."""
    return f"{cluster_identifier}/{login}"


def service_logins(inputs: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """How each service of the service role's inputs signs in (:func:`service_login`), in order."""
    entries = [service_entry(item, inputs.get("service_container_name")) for item in inputs.get("service_ecs_services") or []]
    return [service_login(entry, inputs.get("service_db_auth")) for entry in entries if entry]


def db_iam_authentication(asked: Any, default_auth: Any, services: Any) -> Optional[bool]:
    """IAM database authentication on the cluster: as asked when asked (the inputs check refuses false
    with an iam service), on when a service signs in with iam, else the cluster's setting left (None)."""
    if asked not in (None, ""):
        return bool(asked)
    entries = [service_entry(item, None) for item in services or [] if isinstance(item, (str, Mapping))]
    return True if any(entry and service_login(entry, default_auth)["auth"] == "iam" for entry in entries) else None


def planned_login_secret_arn(inputs: Mapping[str, Any], login: str) -> str:
    """An app_user login's secret before it exists (check mode): a marked stand-in in the master
    secret's partition, account and region."""
    partition, _service, region, account = (str(inputs.get("service_secret_arn")).split(":") + [""] * 6)[1:5]
    name = login_secret_name(str(inputs.get("service_db_cluster_identifier")), login)
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-{PLANNED_MARK}"


def login_secret_arns(inputs: Mapping[str, Any], logins: Optional[Sequence[Mapping[str, Any]]]) -> Callable[[str], str]:
    """An app_user login's secret ARN as rds_db_logins returned it (``logins``), or before it exists
    (check mode) :func:`planned_login_secret_arn`."""
    found = {login.get("name"): login.get("secret_arn") for login in logins or []}
    return lambda login: found.get(login) or planned_login_secret_arn(inputs, login)


def service_login_problems(where: str, entry: Mapping[str, Any]) -> List[str]:
    """The login keys of one service entry as the user wrote them (``where``: the entry's position)."""
    problems = []
    auth = entry.get("db_auth")
    if auth is not None and auth not in DB_AUTH_MODES:
        problems.append(f"{where}.db_auth {show(auth)} must be one of {', '.join(DB_AUTH_MODES)}")
    privileges = entry.get("db_privileges")
    if privileges is not None and privileges not in DB_PRIVILEGES:
        problems.append(f"{where}.db_privileges {show(privileges)} must be one of {', '.join(DB_PRIVILEGES)}")
    for key in ("db_user", "db_schema"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, str) or not DB_IDENTIFIER.fullmatch(value)):
            problems.append(f"{where}.{key} {show(value)} must be 1 to 63 lower case letters, digits or _, not starting with a digit")
    if entry.get("db_schema") == "public" and (privileges or "owner") == "owner":
        problems.append(f"{where}.db_schema public: a login with db_privileges owner gets a schema of its own; public is the database's")
    return problems


def db_auth_class_problem(modes: Sequence[str], instance_class: Any, auth_input: str, class_input: str) -> Optional[str]:
    """app_user and iam create their logins through the RDS Data API, which T instance classes do not serve."""
    needing = sorted({mode for mode in modes if mode != "master"})
    if needing and isinstance(instance_class, str) and instance_class.startswith(DATA_API_REFUSED_CLASS_PREFIX):
        return (f"{auth_input} {' and '.join(needing)} creates the database logins through the RDS Data API, which {class_input} "
                f"{instance_class} (a T class) does not serve: choose an R or X class (such as db.r6g.large) or db.serverless")
    return None


def service_names(services: Sequence[Any]) -> List[str]:
    """The names in a services input (names, or {name, container_name} entries)."""
    return [entry["name"] for entry in (service_entry(item, None) for item in services or []) if entry]


SERVERLESS_CLASS = "db.serverless"


def serverless_scaling(min_capacity: Any, max_capacity: Any, seconds_until_auto_pause: Any) -> Optional[Dict[str, Any]]:
    """The Serverless v2 scaling the inputs ask for; None when neither capacity is given."""
    if min_capacity is None and max_capacity is None:
        return None
    return {"min_capacity": min_capacity, "max_capacity": max_capacity, "seconds_until_auto_pause": seconds_until_auto_pause}


def serverless_problem(scaling: Optional[Mapping[str, Any]], instance_class: Optional[str], names: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Aurora Serverless v2's documented bounds: capacity 0 to 256 ACUs in steps of 0.5 (0 only with
    auto-pause, engine versions that support it), at least 1 as maximum, auto-pause after 300 to 86400
    s and only with a minimum of 0; a db.serverless writer needs the cluster's scaling. ``names``: the
    inputs as the user wrote them (min_capacity, max_capacity, seconds_until_auto_pause, instance_class)."""
    n = dict({"min_capacity": "serverless_v2_scaling.min_capacity", "max_capacity": "serverless_v2_scaling.max_capacity",
              "seconds_until_auto_pause": "serverless_v2_scaling.seconds_until_auto_pause", "instance_class": "instance_class"}, **(names or {}))
    if not scaling:
        return f"{n['instance_class']} {SERVERLESS_CLASS} needs {n['min_capacity']} and {n['max_capacity']}" if instance_class == SERVERLESS_CLASS else None
    low, high, pause = scaling.get("min_capacity"), scaling.get("max_capacity"), scaling.get("seconds_until_auto_pause")
    problems = []
    for name, value, least in ((n["min_capacity"], low, 0.0), (n["max_capacity"], high, 1.0)):
        if value is None or not least <= float(value) <= 256 or float(value) * 2 != int(float(value) * 2):
            problems.append(f"{name} {value} must be {least:g} to 256 ACUs in steps of 0.5")
    if not problems and float(low) > float(high):
        problems.append(f"{n['min_capacity']} {low} is above {n['max_capacity']} {high}")
    if pause is not None and (low is None or float(low) != 0):
        problems.append(f"{n['seconds_until_auto_pause']} needs {n['min_capacity']} 0: only a cluster scaling to 0 ACUs pauses")
    elif pause is not None and not 300 <= pause <= 86400:
        problems.append(f"{n['seconds_until_auto_pause']} {pause} must be 300 to 86400 seconds")
    return "; ".join(problems) or None
