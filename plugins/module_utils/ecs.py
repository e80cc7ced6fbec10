# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ECS task definitions: read a revision, change one container's environment variables and secret
references, and register a new revision only when that changes something.

Secrets are handled as references (``valueFrom``) only: nothing here ever reads a secret value.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.ecsrds.connect.plugins.module_utils.common import (
    Clients,
    EcsRdsError,
    Outcome,
    call,
    create_or_adopt,
    tags_to_dict,
)
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import CREATED_BY_TAG, MANAGED_TAG, ORIGINAL_TAG, service_deployment_id
from ansible_collections.ecsrds.connect.plugins.module_utils.published import wired
from ansible_collections.ecsrds.connect.plugins.module_utils.rds import cluster_facts, connection
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import login_secret_arns, service_login

# A Secrets Manager reference: the secret ARN (complete or partial), optionally followed by
# exactly three more fields json-key:version-stage:version-id, any of which may be empty.
_SECRETSMANAGER_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+"
    r"(?P<suffix>:[^:]*:[^:]*:[^:]*)?$"
)
_SSM_PARAMETER_ARN = re.compile(r"^arn:aws[a-z-]*:ssm:[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}:parameter/[A-Za-z0-9_.\-/]+$")
# ECS resolves a bare name as an SSM parameter in the task's own Region.
_SSM_PARAMETER_NAME = re.compile(r"^/?[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*$")

# Tags AWS reserves for itself: RegisterTaskDefinition refuses them, so they are never sent.
_RESERVED_TAG_PREFIX = "aws:"

# What DescribeTaskDefinition answers for a family or revision that does not exist (or is malformed).
_NOT_FOUND_CODES = {"ClientException", "InvalidParameterException"}

# Plain variables whose value is never shown (diff, results, logs): names that look secret, and
# names that are, or are being moved to, secrets (their old plaintext value is still in the base
# revision).
REDACTED = "<redacted>"
_SECRET_LOOKING_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)


def looks_secret(name: Any) -> bool:
    return bool(_SECRET_LOOKING_NAME.search(str(name)))


def secret_looking_values(params: Mapping[str, Any]) -> List[str]:
    """The values ecs_taskdef_secret_env's options set on secret-looking variables (its own
    ``environment`` and each entry's): what a module masks wherever it would show them."""
    requests = [params.get("environment") or {}] + [entry.get("environment") or {} for entry in params.get("task_definitions") or []]
    return [str(value) for request in requests for name, value in request.items() if looks_secret(name) and value not in (None, "")]


def redact_values(variables: Mapping[str, Any], hidden: Iterable[str] = ()) -> Dict[str, Any]:
    """name -> value with the value of every secret-looking or ``hidden`` name replaced."""
    hidden = set(hidden)
    return {name: REDACTED if looks_secret(name) or name in hidden else value for name, value in variables.items()}


def redact_task_definition(task_definition: Mapping[str, Any], hidden: Iterable[str] = ()) -> Dict[str, Any]:
    """A copy of a task definition (ECS's camelCase shape) safe to return: in every container the
    value of each secret-looking or ``hidden`` plain variable is replaced."""
    hidden = set(hidden)
    result = dict(task_definition)
    containers = []
    for container in task_definition.get("containerDefinitions") or []:
        container = dict(container)
        if container.get("environment"):
            container["environment"] = [
                dict(pair, value=REDACTED) if "value" in pair and (looks_secret(pair.get("name")) or pair.get("name") in hidden) else dict(pair)
                for pair in container["environment"]
            ]
        containers.append(container)
    if "containerDefinitions" in task_definition:
        result["containerDefinitions"] = containers
    return result

# ---------------------------------------------------------------------------------------------
# Validation of what the caller asked for (pure, runs before any AWS call)
# ---------------------------------------------------------------------------------------------


def value_from_error(value_from: Any) -> Optional[str]:
    """Why ``value_from`` is not something ECS can resolve, or None when it is well formed."""
    if not isinstance(value_from, str) or not value_from:
        return "must be a non-empty string"
    if value_from.startswith("arn:"):
        if ":secretsmanager:" in value_from:
            if _SECRETSMANAGER_ARN.match(value_from):
                return None
            return (
                "is not a Secrets Manager reference of the form "
                "arn:<partition>:secretsmanager:<region>:<account>:secret:<name>[:<json-key>:<version-stage>:<version-id>]"
            )
        if ":ssm:" in value_from:
            if _SSM_PARAMETER_ARN.match(value_from):
                return None
            return "is not an SSM parameter ARN of the form arn:<partition>:ssm:<region>:<account>:parameter/<name>"
        return "is an ARN of neither a Secrets Manager secret nor an SSM parameter"
    if _SSM_PARAMETER_NAME.match(value_from):
        return None
    return "is neither a Secrets Manager ARN, an SSM parameter ARN nor an SSM parameter name"


def stringify_scalar(option: str, name: str, value: Any) -> str:
    """ECS only takes strings; YAML turns ``PORT: 5432`` or ``DEBUG: true`` into other types."""
    if isinstance(value, bool):
        # YAML's spelling, not Python's "True".
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if value is None:
        raise EcsRdsError(message=f"{option}: the value of {name!r} is empty (null); write '' for an empty string")
    raise EcsRdsError(message=f"{option}: the value of {name!r} must be a string, number or boolean, not a {type(value).__name__}")


@dataclass
class ContainerVarsRequest:
    """What to change on the container. ``None`` means "leave that list alone"."""

    environment: Optional[Dict[str, str]] = None
    secrets: Optional[Dict[str, str]] = None
    purge_environment: bool = False
    purge_secrets: bool = False
    # Names taken out of the environment and the secrets: a password a login with IAM authentication no longer has.
    remove: FrozenSet[str] = frozenset()

    def key(self) -> str:
        """The request as text, to tell two requests apart (services sharing a revision, signing in differently)."""
        return json.dumps([self.environment, self.secrets, self.purge_environment, self.purge_secrets, sorted(self.remove)], sort_keys=True)


def build_request(
    environment: Optional[Mapping[Any, Any]] = None,
    secrets: Optional[Mapping[Any, Any]] = None,
    secret_arn: Optional[str] = None,
    secret_keys: Optional[Mapping[Any, Any]] = None,
    purge_environment: bool = False,
    purge_secrets: bool = False,
    remove: Optional[Iterable[Any]] = None,
) -> ContainerVarsRequest:
    """Check the module options against each other and turn them into one request."""
    env: Optional[Dict[str, str]] = None
    if environment is not None:
        env = {}
        for name, value in environment.items():
            name = _variable_name("environment", name)
            env[name] = stringify_scalar("environment", name, value)

    wanted_secrets: Optional[Dict[str, str]] = None
    if secrets is not None:
        wanted_secrets = {}
        for name, value_from in secrets.items():
            name = _variable_name("secrets", name)
            problem = value_from_error(value_from)
            if problem:
                # The value is not repeated: a secret value pasted here by mistake must not reach the log.
                raise EcsRdsError(message=f"secrets: the valueFrom of {name!r} {problem}")
            wanted_secrets[name] = value_from

    if secret_keys is not None and not secret_arn:
        raise EcsRdsError(message="secret_keys needs secret_arn: the JSON keys are looked up in that secret")
    if secret_arn and secret_keys is None:
        raise EcsRdsError(message="secret_arn needs secret_keys: which JSON keys of the secret should become variables")
    if secret_arn:
        match = _SECRETSMANAGER_ARN.match(secret_arn) if isinstance(secret_arn, str) else None
        if not match or match.group("suffix"):
            raise EcsRdsError(
                message=f"secret_arn ({secret_arn!r}) must be the ARN of a Secrets Manager secret, "
                "arn:<partition>:secretsmanager:<region>:<account>:secret:<name>, without a JSON key or version"
            )
        wanted_secrets = dict(wanted_secrets or {})
        for name, key in (secret_keys or {}).items():
            name = _variable_name("secret_keys", name)
            if not isinstance(key, str) or not key or ":" in key:
                raise EcsRdsError(message=f"secret_keys: the JSON key of {name!r} must be a non-empty string without ':'")
            if secrets is not None and name in wanted_secrets:
                raise EcsRdsError(message=f"{name!r} is named in both secrets and secret_keys; name it once")
            # Empty version-stage and version-id: always the secret's current version (AWSCURRENT).
            wanted_secrets[name] = f"{secret_arn}:{key}::"

    if env is not None and wanted_secrets is not None:
        both = sorted(set(env) & set(wanted_secrets))
        if both:
            option = "secret_keys" if all(secrets is None or name not in secrets for name in both) else "secrets"
            raise EcsRdsError(
                message=f"environment and {option} both name {', '.join(both)}: a variable is either plain or a secret"
            )

    removed = frozenset(_variable_name("remove", name) for name in remove or ())
    kept = sorted(removed & (set(env or {}) | set(wanted_secrets or {})))
    if kept:
        raise EcsRdsError(message=f"remove names {', '.join(kept)}, which the request also sets")
    return ContainerVarsRequest(env, wanted_secrets, bool(purge_environment), bool(purge_secrets), removed)


def _variable_name(option: str, name: Any) -> str:
    if not isinstance(name, (str, int)) or isinstance(name, bool) or str(name) == "":
        raise EcsRdsError(message=f"{option}: variable names must be non-empty strings, got {name!r}")
    return str(name)


def build_tags(tags: Optional[Mapping[Any, Any]]) -> Optional[Dict[str, str]]:
    if tags is None:
        return None
    result: Dict[str, str] = {}
    for key, value in tags.items():
        key = str(key)
        if not key or key.lower().startswith(_RESERVED_TAG_PREFIX):
            raise EcsRdsError(message=f"tags: {key!r} is not a tag key that can be set (empty or reserved 'aws:' prefix)")
        result[key] = stringify_scalar("tags", key, value)
    return result


# ---------------------------------------------------------------------------------------------
# Merging and comparing (pure)
# ---------------------------------------------------------------------------------------------


def pairs_to_dict(pairs: Optional[Iterable[Mapping[str, Any]]], value_key: str) -> Dict[str, Any]:
    """ECS name/value (or name/valueFrom) lists as a dict; order is not meaningful to ECS."""
    return {pair["name"]: pair.get(value_key) for pair in pairs or [] if "name" in pair}


def merge_pairs(
    current: Optional[List[Mapping[str, Any]]],
    value_key: str,
    wanted: Mapping[str, str],
    purge: bool,
) -> List[Dict[str, Any]]:
    """The container's new list: current order kept, values updated in place, new names appended
    sorted; with ``purge`` the names not wanted go."""
    result: List[Dict[str, Any]] = []
    written = set()
    for pair in current or []:
        name = pair.get("name")
        if name in wanted:
            if name not in written:
                result.append({"name": name, value_key: wanted[name]})
                written.add(name)
        elif not purge:
            result.append(dict(pair))
    for name in sorted(set(wanted) - written):
        result.append({"name": name, value_key: wanted[name]})
    return result


def user_tags(tags: Optional[Mapping[str, str]]) -> Dict[str, str]:
    return {k: v for k, v in (tags or {}).items() if not k.lower().startswith(_RESERVED_TAG_PREFIX)}


@dataclass
class ContainerPlan:
    """The container's variables and the task definition's tags, before and after."""

    container_index: int
    environment_before: List[Dict[str, Any]]
    secrets_before: List[Dict[str, Any]]
    environment_after: List[Dict[str, Any]]
    secrets_after: List[Dict[str, Any]]
    tags_before: Dict[str, str]
    tags_after: Dict[str, str]

    @property
    def changed(self) -> bool:
        """Judged by the container's variables alone, on whatever revision runs: an application's
        pipeline registers revisions of its own (a new image, our variables copied along), and one that
        already holds them needs nothing, whoever registered it. Tags go with a revision this
        registers; they record what was done and never decide that something must be."""
        return (
            pairs_to_dict(self.environment_before, "value") != pairs_to_dict(self.environment_after, "value")
            or pairs_to_dict(self.secrets_before, "valueFrom") != pairs_to_dict(self.secrets_after, "valueFrom")
        )

    @property
    def secret_names(self) -> FrozenSet[str]:
        """Variables that are, or are being made, secrets: their plain values are never shown."""
        return frozenset(pairs_to_dict(self.secrets_before, "valueFrom")) | frozenset(pairs_to_dict(self.secrets_after, "valueFrom"))

    def diff(self, container_name: str) -> Dict[str, Any]:
        def side(env, secrets, tags):
            return {
                "environment": redact_values(pairs_to_dict(env, "value"), self.secret_names),
                "secrets": pairs_to_dict(secrets, "valueFrom"),
                "tags": tags,
            }

        return {
            "before_header": f"container {container_name} (base revision)",
            "after_header": f"container {container_name} (new revision)",
            "before": side(self.environment_before, self.secrets_before, self.tags_before),
            "after": side(self.environment_after, self.secrets_after, self.tags_after),
        }


def secret_readers(task_definition: Mapping[str, Any], secret_arn: str) -> Dict[str, List[str]]:
    """The containers of the revision that take a variable from the secret (its whole value, a JSON
    key, a version), each with those variables' names: what ECS would fetch at every task start, and
    fail to once the secret is gone."""
    readers: Dict[str, List[str]] = {}
    for container in task_definition.get("containerDefinitions") or []:
        names = [str(ref.get("name")) for ref in container.get("secrets") or []
                 if str(ref.get("valueFrom", "")) == secret_arn or str(ref.get("valueFrom", "")).startswith(secret_arn + ":")]
        if names:
            readers[str(container.get("name"))] = names
    return readers


def find_container(task_definition: Mapping[str, Any], container_name: str) -> int:
    containers = task_definition.get("containerDefinitions") or []
    for index, container in enumerate(containers):
        if container.get("name") == container_name:
            return index
    names = ", ".join(c.get("name", "?") for c in containers) or "none"
    raise EcsRdsError(
        message=f"container_name {container_name!r} is not a container of {task_definition.get('taskDefinitionArn', 'the task definition')}; "
        f"its containers are: {names}"
    )


def plan_container(
    task_definition: Mapping[str, Any],
    base_tags: Mapping[str, str],
    container_name: str,
    request: ContainerVarsRequest,
    tags: Optional[Mapping[str, str]],
) -> ContainerPlan:
    index = find_container(task_definition, container_name)
    container = task_definition["containerDefinitions"][index]
    env_before = [dict(p) for p in container.get("environment") or []]
    secrets_before = [dict(p) for p in container.get("secrets") or []]
    env_after = env_before
    if request.environment is not None:
        env_after = merge_pairs(env_before, "value", request.environment, request.purge_environment)
    if request.secrets is not None:
        env_after = [p for p in env_after if p["name"] not in request.secrets]
    secrets_after = secrets_before
    if request.secrets is not None:
        secrets_after = merge_pairs(secrets_before, "valueFrom", request.secrets, request.purge_secrets)
    if request.environment is not None:
        secrets_after = [p for p in secrets_after if p["name"] not in request.environment]
    if request.remove:
        env_after = [p for p in env_after if p["name"] not in request.remove]
        secrets_after = [p for p in secrets_after if p["name"] not in request.remove]
    tags_before = user_tags(base_tags)
    tags_after = dict(tags_before)
    tags_after.update(tags or {})
    return ContainerPlan(index, env_before, secrets_before, env_after, secrets_after, tags_before, tags_after)


def unwire_plan(
    running: Mapping[str, Any],
    running_tags: Mapping[str, str],
    origin: Optional[Mapping[str, Any]],
    container_name: str,
    variables: Iterable[str],
) -> Optional[ContainerPlan]:
    """The inverse of the wiring, on the revision that runs now: each of ``variables`` (the names this
    deployment sets) taken out of the container's environment and secrets, or put back as the revision
    the wiring started from had it (``origin``, when known: a plain value the wiring moved to a secret
    comes back); everything else kept, the image included, so an application's later releases stay.
    Our own tags go, the rest stay. None when the container holds none of the wiring."""
    names = set(variables)
    index = find_container(running, container_name)
    container = running["containerDefinitions"][index]
    env_before = [dict(p) for p in container.get("environment") or []]
    secrets_before = [dict(p) for p in container.get("secrets") or []]
    origin_container = next((c for c in (origin or {}).get("containerDefinitions") or [] if c.get("name") == container_name), {})
    env_after = [p for p in env_before if p.get("name") not in names] + [
        dict(p) for p in origin_container.get("environment") or [] if p.get("name") in names]
    secrets_after = [p for p in secrets_before if p.get("name") not in names] + [
        dict(p) for p in origin_container.get("secrets") or [] if p.get("name") in names]
    tags_before = user_tags(running_tags)
    tags_after = {k: v for k, v in tags_before.items() if k not in (MANAGED_TAG, CREATED_BY_TAG, ORIGINAL_TAG)}
    plan = ContainerPlan(index, env_before, secrets_before, env_after, secrets_after, tags_before, tags_after)
    return plan if plan.changed else None


def same_content(task_definition: Mapping[str, Any], request: Mapping[str, Any], allowed: FrozenSet[str]) -> bool:
    """Whether a described revision is what ``request`` would register, tags aside (they record, they
    do not make a revision different)."""
    return normalise(task_definition, allowed, {}) == normalise(request, allowed, {})


def with_origin_tag(
    tags: Optional[Mapping[str, str]], origin_tag: Optional[str], base: Mapping[str, Any], base_tags: Mapping[str, str]
) -> Optional[Dict[str, str]]:
    """``tags`` plus ``origin_tag`` = the base revision's ARN, unless the base already carries it
    (then the first revision of the line stays recorded) or the caller set it."""
    if not origin_tag or origin_tag in base_tags or origin_tag in (tags or {}):
        return None if tags is None else dict(tags)
    return dict(tags or {}, **{origin_tag: base["taskDefinitionArn"]})


def register_parameters(service_model: Any) -> FrozenSet[str]:
    """The fields RegisterTaskDefinition takes, from the botocore model so new ones are kept."""
    return frozenset(service_model.operation_model("RegisterTaskDefinition").input_shape.members)


def build_register_request(
    task_definition: Mapping[str, Any],
    plan: ContainerPlan,
    allowed: FrozenSet[str],
) -> Dict[str, Any]:
    """The base revision as a RegisterTaskDefinition request, with only the planned changes."""
    request = {
        key: copy.deepcopy(value)
        for key, value in task_definition.items()
        if key in allowed and key != "tags" and value is not None
    }
    container = request["containerDefinitions"][plan.container_index]
    container["environment"] = [dict(p) for p in plan.environment_after]
    if plan.secrets_after or "secrets" in container:
        container["secrets"] = [dict(p) for p in plan.secrets_after]
    if plan.tags_after:
        request["tags"] = [{"key": k, "value": v} for k, v in plan.tags_after.items()]
    return request


def normalise(task_definition: Mapping[str, Any], allowed: FrozenSet[str], tags: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """A task definition (described, or a register request) in a form where equal means equivalent.

    Read-only fields go, empty values and absent ones are the same, and name/value lists become
    sorted tuples of pairs, since ECS gives their order no meaning. Tuples, unlike dicts and lists,
    are compared whole by :func:`covers`: an extra variable or tag is a difference, not a default.
    """
    result: Dict[str, Any] = {}
    for key, value in task_definition.items():
        if key not in allowed or key == "tags":
            continue
        if key == "containerDefinitions":
            value = [_normalise_container(c) for c in value or []]
        value = _drop_empty(value)
        if value is not None:
            result[key] = value
    if tags is None and "tags" in task_definition:
        tags = tags_to_dict(task_definition["tags"])
    result["tags"] = tuple(sorted(user_tags(tags).items()))
    return result


def _normalise_container(container: Mapping[str, Any]) -> Dict[str, Any]:
    result = dict(container)
    result["environment"] = tuple(sorted(pairs_to_dict(container.get("environment"), "value").items()))
    result["secrets"] = tuple(sorted(pairs_to_dict(container.get("secrets"), "valueFrom").items()))
    return result


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        cleaned = {k: v for k, v in cleaned.items() if v is not None}
        return cleaned or None
    if isinstance(value, list):
        cleaned_list = [_drop_empty(v) for v in value]
        return cleaned_list or None
    return value


def covers(actual: Any, expected: Any) -> bool:
    """True when ``actual`` holds everything ``expected`` does; extra keys in ``actual`` are the
    defaults AWS fills in on registration, so they do not count as a difference."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and covers(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(covers(a, e) for a, e in zip(actual, expected))
    return actual == expected


def container_vars(task_definition: Mapping[str, Any], index: int) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    container = task_definition["containerDefinitions"][index]
    return pairs_to_dict(container.get("environment"), "value"), pairs_to_dict(container.get("secrets"), "valueFrom")


# ---------------------------------------------------------------------------------------------
# Return values
# ---------------------------------------------------------------------------------------------


def _snake_key(name: str) -> str:
    return next(iter(camel_dict_to_snake_dict({name: None})))


def to_snake(value: Any, shape: Any = None) -> Any:
    """snake_case field names following the botocore shape, leaving the keys of map-typed fields
    (docker labels, log driver options, ...) exactly as the user wrote them."""
    type_name = getattr(shape, "type_name", None)
    if isinstance(value, dict):
        if type_name == "map":
            return {k: to_snake(v, shape.value) for k, v in value.items()}
        members = getattr(shape, "members", {}) if type_name == "structure" else {}
        return {_snake_key(k): to_snake(v, members.get(k)) for k, v in value.items()}
    if isinstance(value, list):
        member = shape.member if type_name == "list" else None
        return [to_snake(v, member) for v in value]
    return value


def task_definition_result(
    task_definition: Mapping[str, Any], tags: Mapping[str, str], service_model: Any, hidden: Iterable[str] = ()
) -> Dict[str, Any]:
    body = {k: v for k, v in redact_task_definition(task_definition, hidden).items() if k != "tags"}
    result = to_snake(body, service_model.shape_for("TaskDefinition"))
    result["tags"] = dict(tags)
    return result


# ---------------------------------------------------------------------------------------------
# AWS calls
# ---------------------------------------------------------------------------------------------


def describe_task_definition(client: Any, reference: str,
                             described: Optional[Dict[str, Any]] = None) -> Optional[Tuple[Dict[str, Any], Dict[str, str]]]:
    """The one reader of task definitions: the revision (a family means its latest ACTIVE one) and
    its tags, or None when there is none. ``described`` (Clients.described) keeps what this process
    has read by ARN: a revision's ARN names it for good, so it is never described twice in one run
    (a family name, whose latest revision may change, is always asked)."""
    if described is not None and reference in described:
        return described[reference]
    response = call(
        client, "describe_task_definition", f"describe task definition {reference}", _NOT_FOUND_CODES, taskDefinition=reference, include=["TAGS"]
    )
    if response is None:
        return None
    found = response["taskDefinition"], tags_to_dict(response.get("tags"))
    if described is not None and found[0].get("taskDefinitionArn"):
        described[found[0]["taskDefinitionArn"]] = found
    return found


def register_task_definition(client: Any, request: Dict[str, Any], allowed: FrozenSet[str]) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Register once, even when a response is lost: before sending again, adopt the family's latest
    revision if it is what we were registering."""
    wanted = normalise(request, allowed)

    def create() -> Tuple[Dict[str, Any], Dict[str, str]]:
        response = client.register_task_definition(**request)
        return response["taskDefinition"], tags_to_dict(response.get("tags"))

    def find_existing() -> Optional[Tuple[Dict[str, Any], Dict[str, str]]]:
        latest = describe_task_definition(client, request["family"])
        if latest and covers(normalise(latest[0], allowed, latest[1]), wanted):
            return latest
        return None

    return create_or_adopt(create, find_existing, f"register a new revision of task definition family {request['family']}")


def entry_request(entry: Mapping[str, Any]) -> Optional[ContainerVarsRequest]:
    """The request of a ``task_definitions`` entry that gives its own ``environment`` (a service signing
    in with a login of its own): its environment, secret and removals in place of the module's; None
    for an entry that takes the module's."""
    if entry.get("environment") is None:
        return None
    name = entry.get("name") or entry["task_definition"]
    try:
        return build_request(environment=entry["environment"], secret_arn=entry.get("secret_arn"), secret_keys=entry.get("secret_keys"),
                             remove=entry.get("remove"))
    except EcsRdsError as exc:
        raise EcsRdsError(message=f"task_definitions entry {name}: {exc.message}")


class TaskDefinitionEnv:
    """Sets one container's environment and secret references on a new task definition revision."""

    def __init__(self, client: Any, check_mode: bool = False, described: Optional[Dict[str, Any]] = None) -> None:
        """``described``: revisions already described in this process, by ARN (see :func:`describe_task_definition`)."""
        self.client = client
        self.check_mode = check_mode
        self.described = described if described is not None else {}
        self.service_model = client.meta.service_model
        self.allowed = register_parameters(self.service_model)

    def ensure(
        self,
        container_name: str,
        request: ContainerVarsRequest,
        family: Optional[str] = None,
        task_definition: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        origin_tag: Optional[str] = None,
    ) -> Dict[str, Any]:
        option, reference = ("task_definition", task_definition) if task_definition else ("family", family)
        found = describe_task_definition(self.client, reference, self.described)
        if found is None:
            what = "has no ACTIVE revision" if option == "family" else "was not found"
            raise EcsRdsError(message=f"{option}: task definition {reference!r} {what}")
        base, base_tags = found
        if family and task_definition and base.get("family") != family:
            raise EcsRdsError(
                message=f"task_definition {task_definition!r} belongs to family {base.get('family')!r}, not to family {family!r}"
            )

        plan = plan_container(base, base_tags, container_name, request, with_origin_tag(tags, origin_tag, base, base_tags))
        if plan.changed and plan.secrets_after and not base.get("executionRoleArn"):
            raise EcsRdsError(
                message=f"task definition {base['taskDefinitionArn']} has no execution role (executionRoleArn): "
                "ECS fetches secrets with it. Add an execution role to the task definition, then run again"
            )
        wanted = set(request.environment or {}) | set(request.secrets or {})
        held = {pair.get("name") for pair in plan.environment_before + plan.secrets_before}
        result: Dict[str, Any] = {
            "changed": plan.changed,
            "family": base["family"],
            "previous_task_definition_arn": base["taskDefinitionArn"],
            # The base holds none of the variables: never wired, or registered without them since
            # (an application's pipeline from a file of its own); the summary tells the two apart.
            "wiring_missing": bool(wanted) and not wanted & held,
            "diff": plan.diff(container_name),
        }
        register_request = build_register_request(base, plan, self.allowed) if plan.changed else None
        twin = self._latest_equal_to(register_request) if register_request and task_definition else None
        if register_request is None:
            final, final_tags = base, user_tags(base_tags)
        elif twin is not None:
            # A re-run pinned to the same old base (say, the service's revision before a deployment
            # that did not happen) would otherwise register an identical revision on every run.
            result["changed"] = False
            final, final_tags = twin[0], user_tags(twin[1])
        else:
            if self.check_mode:
                final = dict(register_request, taskDefinitionArn=None, revision=None)
                final_tags = plan.tags_after
            else:
                # RegisterTaskDefinition answers with the revision as ECS stored it, defaults included,
                # and its tags (moto leaves the tags out of that answer: they are the ones sent).
                final, final_tags = register_task_definition(self.client, register_request, self.allowed)
                final_tags = user_tags(final_tags or tags_to_dict(register_request.get("tags")))

        environment, secrets = container_vars(final, plan.container_index)
        result.update(
            task_definition=task_definition_result(final, final_tags, self.service_model, plan.secret_names),
            task_definition_arn=final.get("taskDefinitionArn"),
            revision=final.get("revision"),
            environment=redact_values(environment, plan.secret_names),
            secrets=secrets,
        )
        return result

    def ensure_each(
        self,
        entries: Sequence[Mapping[str, Any]],
        request: ContainerVarsRequest,
        tags: Optional[Mapping[str, str]] = None,
        origin_tag: Optional[str] = None,
    ) -> Dict[str, Any]:
        """:meth:`ensure` for each ``{task_definition, container_name, name}`` entry, one result per
        entry in order; an entry repeated (services sharing a revision) is described and registered once."""
        done: Dict[Tuple[str, str, str], Dict[str, Any]] = {}
        results: List[Dict[str, Any]] = []
        diffs: List[Dict[str, Any]] = []
        for entry in entries:
            own = entry_request(entry) or request
            key = (entry["task_definition"], entry["container_name"], own.key())
            if key not in done:
                done[key] = self.ensure(entry["container_name"], own, task_definition=entry["task_definition"], tags=tags, origin_tag=origin_tag)
                diff = done[key].pop("diff")
                if done[key]["changed"]:
                    diffs.append(dict(diff, before_header=f"{entry['task_definition']} {diff['before_header']}",
                                      after_header=f"{entry['task_definition']} {diff['after_header']}"))
            results.append(dict(done[key], name=entry.get("name"), container_name=entry["container_name"]))
        return {"changed": any(r["changed"] for r in results), "task_definitions": results, "diff": diffs}

    def _latest_equal_to(self, register_request: Dict[str, Any]) -> Optional[Tuple[Dict[str, Any], Dict[str, str]]]:
        """The family's latest revision when it already is exactly what would be registered.

        Exact equality, not :func:`covers`: both sides come from a describe, so AWS defaults are on
        both, and a latest revision with something more must not stand in for this request.
        """
        latest = describe_task_definition(self.client, register_request["family"])
        if latest and normalise(latest[0], self.allowed, latest[1]) == normalise(register_request, self.allowed):
            return latest
        return None


def run_taskdef_env(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """ecs_taskdef_secret_env: one revision (``family`` or ``task_definition``) or each of
    ``task_definitions``, registered only where the container's variables differ. Revisions this
    process already described (``clients.described``) are not described again."""
    request = build_request(
        environment=params["environment"],
        secrets=params["secrets"],
        secret_arn=params["secret_arn"],
        secret_keys=params["secret_keys"],
        purge_environment=params["purge_environment"],
        purge_secrets=params["purge_secrets"],
    )
    tags = build_tags(params["tags"])
    manager = TaskDefinitionEnv(clients("ecs"), check_mode=check_mode, described=clients.described)
    if params["task_definitions"]:
        result = manager.ensure_each(params["task_definitions"], request, tags=tags, origin_tag=params["origin_tag"])
        registered = [entry for entry in result["task_definitions"] if entry["changed"]]
    else:
        result = manager.ensure(
            params["container_name"],
            request,
            family=params["family"],
            task_definition=params["task_definition"],
            tags=tags,
            origin_tag=params["origin_tag"],
        )
        registered = [result] if result["changed"] else []
    changed, diff = result.pop("changed"), result.pop("diff")
    actions = _unique(f"register a revision of {entry['family']} on top of {entry['previous_task_definition_arn']}" for entry in registered)
    return Outcome(changed, result, diff if diff_mode else None, actions)


# ---------------------------------------------------------------------------------------------
# Render, don't register: the same patch on a task definition file an application's pipeline keeps
# ---------------------------------------------------------------------------------------------


def render_task_definition(document: Mapping[str, Any], container_name: str, request: ContainerVarsRequest) -> Tuple[Dict[str, Any], ContainerPlan]:
    """``document`` (a task definition as RegisterTaskDefinition takes it, or as describe-task-definition
    prints it, under ``taskDefinition``) with one container's variables set by :func:`plan_container`,
    the patch the roles register; every other field left exactly as it was."""
    rendered = copy.deepcopy(dict(document))
    definition = rendered.get("taskDefinition") if isinstance(rendered.get("taskDefinition"), dict) else rendered
    if not isinstance(definition.get("containerDefinitions"), list):
        raise EcsRdsError(message="the file holds no task definition: containerDefinitions is missing (nor is there a taskDefinition that has it)")
    plan = plan_container(definition, {}, container_name, request, None)
    container = definition["containerDefinitions"][plan.container_index]
    if plan.changed:
        container["environment"] = [dict(p) for p in plan.environment_after]
        container["secrets"] = [dict(p) for p in plan.secrets_after]
    return rendered, plan


def run_render(_clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """ecs_taskdef_render: read ``path``, merge the variables into ``container_name``, write ``dest``
    (``path`` when not given) only when its content would differ. No AWS call (no client is made)."""
    request = build_request(environment=params["environment"], secrets=params["secrets"],
                            secret_arn=params["secret_arn"], secret_keys=params["secret_keys"])
    path, dest = params["path"], params["dest"] or params["path"]
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as error:
        raise EcsRdsError(message=f"path: cannot read {path!r}: {error.strerror}") from None
    except ValueError as error:
        raise EcsRdsError(message=f"path: {path!r} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise EcsRdsError(message=f"path: {path!r} holds no task definition (a JSON object)")
    try:
        rendered, plan = render_task_definition(document, params["container_name"], request)
    except EcsRdsError as error:
        raise EcsRdsError(message=f"path {path!r}: {error.message}") from None
    text = json.dumps(rendered, indent=2) + "\n"
    # The file itself needs nothing when the variables are already there (its own formatting kept);
    # another dest, when it already holds exactly this.
    changed = plan.changed if dest == path else _read_or_none(dest) != text
    if changed and not check_mode:
        with open(dest, "w", encoding="utf-8") as handle:
            handle.write(text)
    environment, secrets = pairs_to_dict(plan.environment_after, "value"), pairs_to_dict(plan.secrets_after, "valueFrom")
    result = {"path": path, "dest": dest, "container_name": params["container_name"],
              "environment": redact_values(environment, plan.secret_names), "secrets": secrets}
    diff = dict(plan.diff(params["container_name"]), before_header=f"{path} container {params['container_name']}",
                after_header=f"{dest} container {params['container_name']}")
    return Outcome(changed, result, diff if diff_mode else None, [f"write {dest}"] if changed else [])


def _read_or_none(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def render_options(inputs: Mapping[str, Any], described: Mapping[str, Any], path: str, dest: Optional[str] = None,
                   container_name: Optional[str] = None) -> Dict[str, Any]:
    """ecs_taskdef_render's options from the service role's inputs and the cluster as
    amazon.aws.rds_cluster_info describes it: the variables :func:`taskdef_options` puts on the
    revisions, so a file rendered for a pipeline and a revision the role registers hold the same."""
    identifier = inputs.get("service_db_cluster_identifier")
    clusters = described.get("clusters") or []
    if not clusters:
        raise ValueError(f"the DB cluster {identifier!r} was not found: run site.yml first, it creates the cluster and its secret")
    # What the database role would publish for this cluster, passed on as site.yml passes it.
    facts = cluster_facts({"cluster": clusters[0], "connection": connection(clusters[0], {}, None)})
    if not facts["database__secret_arn"]:
        raise ValueError(f"the DB cluster {identifier!r} has no master secret managed by RDS: run site.yml first, it turns it on")
    options = taskdef_options(wired(inputs, facts), [])
    return {"path": path, "dest": dest or None, "container_name": container_name or inputs.get("service_container_name"),
            "environment": options["environment"], "secret_arn": options["secret_arn"], "secret_keys": options["secret_keys"]}


def _unique(items: Iterable[str]) -> List[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------------------------------------
# The service role's revisions: its inputs -> ecs_taskdef_secret_env's options
# ---------------------------------------------------------------------------------------------


def database_url(inputs: Mapping[str, Any], url_format: Optional[str] = None) -> str:
    """service_database_url_format (or ``url_format``) with the endpoint, port and database the database
    role published (as RDS reports them)."""
    return (str(url_format or inputs.get("service_database_url_format"))
            .replace("{endpoint}", str(inputs.get("service_db_endpoint") or ""))
            .replace("{port}", str(inputs.get("service_db_port")))
            .replace("{database}", str(inputs.get("service_db_name"))))


def taskdef_options(inputs: Mapping[str, Any], entries: Sequence[Mapping[str, Any]],
                    logins: Optional[Sequence[Mapping[str, Any]]] = None) -> Optional[Dict[str, Any]]:
    """ecs_taskdef_secret_env's options from the service role's inputs (``service_*``) and its
    services (:func:`ecs_service.service_entries`, with the revision each runs): on top of each
    revision, the URL and driver as plain variables and the user name and password as references to
    the secret's JSON keys, the revision tagged as this deployment's. A service signing in with a
    login of its own (:func:`rules.service_login`) gets its own entry: ``app_user`` the keys of its
    login's secret (``logins``: rds_db_logins' results), ``iam`` the AWS JDBC Wrapper's URL and driver,
    its login name as a plain variable and no password. None while the database is not known yet
    (check mode on an account without it: nothing can be planned in detail)."""
    if not (inputs.get("service_secret_arn") and inputs.get("service_db_endpoint")):
        return None
    tags = {str(key): str(value) for key, value in (inputs.get("service_tags") or {}).items()}
    tags.update({MANAGED_TAG: "true", CREATED_BY_TAG: service_deployment_id(inputs)})
    secret_of = login_secret_arns(inputs, logins)
    task_definitions = []
    for entry in entries:
        row = {"task_definition": entry["task_definition"], "container_name": entry["container_name"], "name": entry["name"]}
        row.update(login_wiring(inputs, service_login(entry, inputs.get("service_db_auth")), secret_of))
        task_definitions.append(row)
    return {
        "task_definitions": task_definitions,
        "environment": {inputs.get("service_url_variable"): database_url(inputs),
                        inputs.get("service_driver_variable"): inputs.get("service_driver_class")},
        "secret_arn": inputs["service_secret_arn"],
        "secret_keys": {inputs.get("service_username_variable"): inputs.get("service_secret_username_key"),
                        inputs.get("service_password_variable"): inputs.get("service_secret_password_key")},
        "tags": tags,
        "origin_tag": ORIGINAL_TAG,
    }


def login_wiring(inputs: Mapping[str, Any], login: Mapping[str, Any], secret_of: Callable[[str], str]) -> Dict[str, Any]:
    """One service's own request (ecs_taskdef_secret_env's entry options), or nothing for a service on
    the master secret. Before its secret exists (check mode), an app_user login's secret has a marked
    stand-in ARN in the master secret's account and region."""
    if login["auth"] == "master":
        return {}
    url, driver = inputs.get("service_url_variable"), inputs.get("service_driver_variable")
    user, password = inputs.get("service_username_variable"), inputs.get("service_password_variable")
    if login["auth"] == "iam":
        return {"environment": {url: database_url(inputs, inputs.get("service_iam_database_url_format")),
                                driver: inputs.get("service_iam_driver_class"), user: login["login"]},
                "secret_arn": None, "secret_keys": None, "remove": [password]}
    secret_arn = secret_of(login["login"])
    return {"environment": {url: database_url(inputs), driver: inputs.get("service_driver_class")},
            "secret_arn": secret_arn, "secret_keys": {user: "username", password: "password"}, "remove": []}


# ecs_taskdef_secret_env's options, here so that the deployment check (deployment.py) fills in the same defaults the module does.
TASKDEF_ARGUMENT_SPEC = dict(
    family=dict(type="str"),
    task_definition=dict(type="str"),
    container_name=dict(type="str"),
    task_definitions=dict(
        type="list",
        elements="dict",
        options=dict(
            task_definition=dict(type="str", required=True),
            container_name=dict(type="str", required=True),
            name=dict(type="str"),
            # The entry's own request, in place of the module's, when environment is given.
            environment=dict(type="dict"),
            secret_arn=dict(type="str", no_log=False),
            secret_keys=dict(type="dict", no_log=False),
            remove=dict(type="list", elements="str"),
        ),
    ),
    environment=dict(type="dict"),
    # References (ARNs and parameter names), not secret values.
    secrets=dict(type="dict", no_log=False),
    secret_arn=dict(type="str", no_log=False),
    secret_keys=dict(type="dict", no_log=False),
    purge_environment=dict(type="bool", default=False),
    purge_secrets=dict(type="bool", default=False),
    tags=dict(type="dict"),
    origin_tag=dict(type="str"),
    state=dict(type="str", default="present", choices=["present"]),
)
