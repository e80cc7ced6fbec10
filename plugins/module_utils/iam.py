# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ECS task execution roles and the database secret: granting read access, and checking it.

The grant (:func:`grant_policy`, :func:`run_grant`): one inline policy per execution role allowing
``secretsmanager:GetSecretValue`` on exactly the secret, plus ``kms:Decrypt`` through Secrets
Manager when a customer-managed key encrypts it. Read once per role, written only when different.

Whether a role may read the secret (the preflight's question) is decided two ways, in this order:

- ``iam:SimulatePrincipalPolicy``, which also sees permission boundaries and SCPs. It ignores
  resource policies for roles, and answers ``implicitDeny`` for a condition whose key has no
  context entry, so the keys we know (``kms:ViaService`` for the KMS grant, the secret's tags)
  are passed as context entries.
- When the simulation is refused (the caller may lack ``iam:SimulatePrincipalPolicy``) or not
  implemented (moto), our own evaluation of the role's inline and attached policies and its
  permission boundary: explicit Deny wins, then an Allow; wildcards, ``NotAction`` and
  ``NotResource`` are honoured; a condition on a key we cannot know is reported as "cannot tell".

The role's policies are read in both cases, to name grants broader than needed.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError, Outcome, call, error_code, parse_arn
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import kms_key_problem, role_arn_problem, secret_arn_problem
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import login_secret_arns, service_logins
from ansible_collections.ecsrds.connect.plugins.module_utils.kms import AWS, names_aws_managed_key
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import grant_policy_name


def normalize_policy(document: Any) -> Any:
    """A policy as IAM compares it: JSON text parsed, single strings and one-item lists alike,
    list order ignored."""
    if isinstance(document, str):
        document = json.loads(document)
    return _normalized(document)


def _normalized(document: Any) -> Any:
    if isinstance(document, dict):
        return {key: _normalized(value) for key, value in document.items()}
    if isinstance(document, list):
        items = [_normalized(item) for item in document]
        if len(items) == 1 and not isinstance(items[0], (dict, list)):
            return items[0]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return document


ALLOWED = "allowed"
EXPLICIT_DENY = "explicit_deny"
IMPLICIT_DENY = "implicit_deny"
UNKNOWN = "unknown"

SIMULATION = "iam:SimulatePrincipalPolicy"
OWN_EVALUATION = "own evaluation of the role's policies"

# AWS managed policies that grant far more than reading one secret.
BROAD_MANAGED_POLICIES = ("SecretsManagerReadWrite",)


@dataclass
class Decision:
    """Whether ``action`` on ``resource`` is allowed, and why."""

    action: str
    resource: str
    decision: str
    # Policy/statement names that decided it (the Deny, the Allow, or the conditions not evaluated).
    reasons: List[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED


@dataclass
class NamedPolicy:
    """A policy document and where it comes from (``inline``, ``attached`` or ``boundary``)."""

    name: str
    kind: str
    document: Dict[str, Any]
    arn: Optional[str] = None


# ---------------------------------------------------------------------------------------------
# Pure evaluation


def _as_list(value: Any) -> List[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def parse_document(document: Any) -> Dict[str, Any]:
    """A policy document as a dict: IAM returns them URL-encoded JSON (boto3 usually decodes them)."""
    if isinstance(document, dict):
        return document
    text = urllib.parse.unquote(document or "")
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise EcsRdsError(message=f"Could not read a policy document: {exc}")
    return parsed if isinstance(parsed, dict) else {}


def statements(document: Mapping[str, Any]) -> List[Dict[str, Any]]:
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, dict)]


def _wildcard(pattern: str, ignore_case: bool) -> "re.Pattern[str]":
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action names match case-insensitively, with ``*`` and ``?``."""
    return bool(_wildcard(pattern, True).match(action))


def resource_matches(pattern: str, resource: str) -> bool:
    """ARNs match case-sensitively, with ``*`` and ``?``."""
    return bool(_wildcard(pattern, False).match(resource))


def _matches_any(patterns: Iterable[str], value: str, matcher: Any) -> bool:
    return any(matcher(str(p), value) for p in patterns)


def statement_applies(statement: Mapping[str, Any], action: str, resource: str) -> Optional[bool]:
    """Whether the statement covers ``action`` on ``resource`` (conditions aside); None when its
    resource uses a policy variable we cannot resolve."""
    if "NotAction" in statement:
        if _matches_any(_as_list(statement["NotAction"]), action, action_matches):
            return False
    elif not _matches_any(_as_list(statement.get("Action")), action, action_matches):
        return False
    patterns = _as_list(statement.get("NotResource" if "NotResource" in statement else "Resource"))
    if any("${" in str(p) for p in patterns):
        return None
    hit = _matches_any(patterns, resource, resource_matches)
    return not hit if "NotResource" in statement else hit


_STRING_OPERATORS = {
    "StringEquals": (False, False, False),
    "StringNotEquals": (True, False, False),
    "StringEqualsIgnoreCase": (False, False, True),
    "StringNotEqualsIgnoreCase": (True, False, True),
    "StringLike": (False, True, False),
    "StringNotLike": (True, True, False),
    "ArnEquals": (False, True, False),
    "ArnLike": (False, True, False),
    "ArnNotEquals": (True, True, False),
    "ArnNotLike": (True, True, False),
}


def condition_holds(condition: Optional[Mapping[str, Any]], context: Mapping[str, Sequence[str]]) -> Optional[bool]:
    """True/False when every condition can be evaluated from ``context`` (keys compared without
    case), None when one names a key or an operator we cannot evaluate."""
    known = {k.lower(): list(v) for k, v in context.items()}
    result: Optional[bool] = True
    for operator, tests in (condition or {}).items():
        base = operator
        if_exists = base.endswith("IfExists")
        if if_exists:
            base = base[: -len("IfExists")]
        if ":" in base or base not in _STRING_OPERATORS or not isinstance(tests, dict):
            # ForAnyValue:/ForAllValues:, numeric, date, IP, Bool, Null: not ours to guess.
            return None
        negate, like, ignore_case = _STRING_OPERATORS[base]
        for key, wanted in tests.items():
            values = known.get(str(key).lower())
            if values is None:
                if if_exists:
                    continue
                return None
            patterns = [str(w) for w in _as_list(wanted)]
            if any("${" in p for p in patterns):
                return None

            def one(value: str) -> bool:
                if like:
                    return any(_wildcard(p, ignore_case).match(value) for p in patterns)
                if ignore_case:
                    return value.lower() in [p.lower() for p in patterns]
                return value in patterns

            hit = any(one(v) for v in values)
            if hit == negate:
                result = False
    return result


def _statement_name(policy: NamedPolicy, index: int, statement: Mapping[str, Any]) -> str:
    return f"{policy.kind} policy {policy.name} statement {statement.get('Sid') or index + 1}"


def evaluate(policies: Sequence[NamedPolicy], action: str, resource: str, context: Mapping[str, Sequence[str]]) -> Decision:
    """IAM's identity-policy logic: an explicit Deny wins, then an Allow, else an implicit deny.

    A permission boundary (policies of kind ``boundary``) must allow the action as well. A
    statement that would decide but has a condition we cannot evaluate makes the answer UNKNOWN,
    naming it.
    """
    identity = [p for p in policies if p.kind != "boundary"]
    boundary = [p for p in policies if p.kind == "boundary"]
    decision = _evaluate_set(identity, action, resource, context)
    if boundary and decision.decision in (ALLOWED, UNKNOWN):
        limit = _evaluate_set(boundary, action, resource, context)
        if limit.decision in (EXPLICIT_DENY, IMPLICIT_DENY):
            return Decision(action, resource, limit.decision, [f"permission boundary {boundary[0].name}"] + limit.reasons)
        if limit.decision == UNKNOWN:
            return Decision(action, resource, UNKNOWN, decision.reasons + limit.reasons)
    return decision


def _evaluate_set(policies: Sequence[NamedPolicy], action: str, resource: str, context: Mapping[str, Sequence[str]]) -> Decision:
    allows: List[str] = []
    unsure_allows: List[str] = []
    unsure_denies: List[str] = []
    for policy in policies:
        for index, statement in enumerate(statements(policy.document)):
            applies = statement_applies(statement, action, resource)
            if applies is False:
                continue
            holds = condition_holds(statement.get("Condition"), context) if applies else None
            name = _statement_name(policy, index, statement)
            deny = str(statement.get("Effect", "")).lower() == "deny"
            if holds is True and deny:
                return Decision(action, resource, EXPLICIT_DENY, [name])
            if holds is True:
                allows.append(name)
            elif holds is None:
                (unsure_denies if deny else unsure_allows).append(name)
    if unsure_denies and (allows or unsure_allows):
        return Decision(action, resource, UNKNOWN, unsure_denies)
    if allows:
        return Decision(action, resource, ALLOWED, allows)
    if unsure_allows:
        return Decision(action, resource, UNKNOWN, unsure_allows)
    return Decision(action, resource, IMPLICIT_DENY, [])


def simulation_decisions(evaluation_results: Sequence[Mapping[str, Any]]) -> Dict[Tuple[str, str], Decision]:
    """SimulatePrincipalPolicy's EvaluationResults as decisions keyed by (action, resource).

    A result listing MissingContextValues depends on a condition the simulation could not evaluate
    (it then says implicitDeny): that is UNKNOWN, not a deny.
    """
    result: Dict[Tuple[str, str], Decision] = {}
    for entry in evaluation_results:
        action = entry.get("EvalActionName", "")
        resource = entry.get("EvalResourceName", "*")
        code = entry.get("EvalDecision", "")
        statements_used = [s.get("SourcePolicyId", "?") for s in entry.get("MatchedStatements") or []]
        missing = list(entry.get("MissingContextValues") or [])
        if code == "allowed":
            decision = Decision(action, resource, ALLOWED, statements_used)
        elif code == "explicitDeny":
            decision = Decision(action, resource, EXPLICIT_DENY, statements_used)
        elif missing:
            decision = Decision(action, resource, UNKNOWN, [f"condition keys without a value: {', '.join(missing)}"])
        else:
            decision = Decision(action, resource, IMPLICIT_DENY, statements_used)
        boundary = entry.get("PermissionsBoundaryDecisionDetail") or {}
        if boundary.get("AllowedByPermissionsBoundary") is False and decision.allowed:
            decision = Decision(action, resource, IMPLICIT_DENY, ["permission boundary"])
        result[(action, resource)] = decision
    return result


def broad_grants(policies: Sequence[NamedPolicy]) -> List[str]:
    """Grants wider than reading the one secret: SecretsManagerReadWrite, ``secretsmanager:*`` (or
    ``*``), or GetSecretValue on ``Resource: "*"``. Each named once."""
    found: List[str] = []
    for policy in policies:
        if policy.kind == "boundary":
            continue
        if policy.kind == "attached" and policy.name in BROAD_MANAGED_POLICIES:
            found.append(f"attached policy {policy.name}")
            continue
        for index, statement in enumerate(statements(policy.document)):
            if str(statement.get("Effect", "")).lower() != "allow":
                continue
            name = _statement_name(policy, index, statement)
            if "NotAction" in statement:
                if not _matches_any(_as_list(statement["NotAction"]), "secretsmanager:GetSecretValue", action_matches):
                    found.append(f"{name} (NotAction allows secretsmanager:GetSecretValue and more)")
                continue
            actions = [str(a) for a in _as_list(statement.get("Action"))]
            wide = [a for a in actions if a == "*" or a.lower() == "secretsmanager:*"]
            if wide:
                found.append(f"{name} (Action {', '.join(wide)})")
            elif _matches_any(actions, "secretsmanager:GetSecretValue", action_matches) and (
                "*" in [str(r) for r in _as_list(statement.get("Resource"))] or "NotResource" in statement
            ):
                found.append(f"{name} (secretsmanager:GetSecretValue on Resource \"*\")")
    return found


def role_name_from_arn(role_arn: str) -> str:
    """arn:aws:iam::123456789012:role/path/name -> name (the path is not part of the name)."""
    return role_arn.rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------
# AWS calls (reads only)


class IamRoles:
    """The one reader of IAM roles and their inline policies (and the writer of those policies): the
    grant, the rotation wiring, the inputs check and the preflight all go through it."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _paged(self, what: str, method: str, key: str, **kwargs: Any) -> List[Any]:
        items: List[Any] = []
        while True:
            page = call(self.client, method, what, **kwargs)
            items.extend(page.get(key, []))
            if not page.get("IsTruncated"):
                return items
            kwargs["Marker"] = page["Marker"]

    def role(self, name: str) -> Optional[Dict[str, Any]]:
        """GetRole's role, None when there is no such role."""
        response = call(self.client, "get_role", f"describe IAM role {name}", not_found=("NoSuchEntity",), RoleName=name)
        return response["Role"] if response else None

    def inline_policy(self, role: str, policy_name: str) -> Optional[Dict[str, Any]]:
        """The inline policy's document, None when the role has none of that name (or there is no such role)."""
        response = call(self.client, "get_role_policy", f"read policy {policy_name} of IAM role {role}",
                        not_found=("NoSuchEntity",), RoleName=role, PolicyName=policy_name)
        return parse_document(response["PolicyDocument"]) if response else None

    def inline_policy_names(self, role: str) -> List[str]:
        return self._paged(f"list the inline policies of IAM role {role}", "list_role_policies", "PolicyNames", RoleName=role)

    def attached_policies(self, role: str) -> List[Dict[str, Any]]:
        return self._paged(f"list the attached policies of IAM role {role}", "list_attached_role_policies", "AttachedPolicies", RoleName=role)

    def managed_document(self, arn: str) -> Dict[str, Any]:
        policy = call(self.client, "get_policy", f"get policy {arn}", PolicyArn=arn)["Policy"]
        version = call(self.client, "get_policy_version", f"get policy {arn} version", PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        return parse_document(version["PolicyVersion"]["Document"])

    def put_inline_policy(self, role: str, policy_name: str, document: Mapping[str, Any]) -> None:
        call(self.client, "put_role_policy", f"put policy {policy_name} on IAM role {role}",
             RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(document))

    def delete_inline_policy(self, role: str, policy_name: str) -> None:
        # A resent delete whose first attempt landed finds nothing left: done.
        call(self.client, "delete_role_policy", f"delete policy {policy_name} of IAM role {role}",
             already_done=("NoSuchEntity",), RoleName=role, PolicyName=policy_name)


class IamReader:
    """The IAM reads the preflight makes. Nothing here writes."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.roles = IamRoles(client)

    def role_policies(self, role_name: str) -> Optional[List[NamedPolicy]]:
        """Inline, attached and boundary policies of the role; None when the role does not exist."""
        role = self.roles.role(role_name)
        if role is None:
            return None
        policies = [NamedPolicy(name, "inline", self.roles.inline_policy(role_name, name) or {}) for name in self.roles.inline_policy_names(role_name)]
        for item in self.roles.attached_policies(role_name):
            policies.append(NamedPolicy(item["PolicyName"], "attached", self.roles.managed_document(item["PolicyArn"]), item["PolicyArn"]))
        boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if boundary:
            policies.append(NamedPolicy(boundary.rsplit("/", 1)[-1], "boundary", self.roles.managed_document(boundary), boundary))
        return policies

    def simulate(
        self, role_arn: str, action: str, resources: Sequence[str], context: Mapping[str, Sequence[str]]
    ) -> Tuple[Optional[Dict[Tuple[str, str], Decision]], Optional[str]]:
        """(decisions, None), or (None, why) when IAM would not simulate: the caller may lack
        iam:SimulatePrincipalPolicy, or the endpoint (moto) does not implement it. Sent without our
        retries: a refusal is an answer, and the fallback is ready."""
        # botocore.parsers is loaded with the client; importing it at the top would load it in every
        # process that only derives (the roles' filters).
        from botocore.parsers import ResponseParserError  # pylint: disable=import-outside-toplevel

        entries = [{"ContextKeyName": k, "ContextKeyValues": list(v), "ContextKeyType": "string"} for k, v in context.items()]
        try:
            response = self.client.simulate_principal_policy(
                PolicySourceArn=role_arn, ActionNames=[action], ResourceArns=list(resources), ContextEntries=entries
            )
        except ClientError as exc:
            return None, f"{SIMULATION} failed: {error_code(exc)}"
        except (BotoCoreError, ResponseParserError) as exc:
            # moto answers an HTML 500 page, which botocore cannot parse.
            return None, f"{SIMULATION} failed: {type(exc).__name__}"
        return simulation_decisions(response.get("EvaluationResults", [])), None


# ---------------------------------------------------------------------------------------------
# The execution-role grant: pure logic

DB_USER_ARN_PATTERN = re.compile(r"arn:aws(-[a-z]+)*:rds-db:[a-z0-9-]+:[0-9]{12}:dbuser:[A-Za-z0-9-]+/[a-z_][a-z0-9_]{0,62}")
GRANT_SID = "ReadDatabaseSecret"
DECRYPT_SID = "DecryptDatabaseSecret"
CONNECT_SID = "ConnectAsDatabaseLogin"
# IAM's rules for role and inline policy names (IAM API Reference, CreateRole / PutRolePolicy).
ROLE_NAME_PATTERN = re.compile(r"[\w+=,.@-]{1,64}")
POLICY_NAME_PATTERN = re.compile(r"[\w+=,.@-]{1,128}")


def kms_key_arn(key_id: Optional[str], secret_arn: str) -> Optional[str]:
    """The ARN to grant ``kms:Decrypt`` on, or None when the AWS-managed key encrypts the secret.

    A key ARN is kept as given; a key id becomes the key's ARN in the secret's partition, region and
    account (a secret can only be encrypted by a key of its own region). Any other alias is refused:
    an IAM policy cannot grant ``kms:Decrypt`` by alias."""
    if names_aws_managed_key(key_id):
        return None
    key = str(key_id).strip()
    if key.startswith("alias/") or (key.startswith("arn:") and ":alias/" in key):
        raise ValueError(f"{key!r} is an alias: an IAM policy cannot grant kms:Decrypt by alias; give the key ARN or key id")
    if key.startswith("arn:"):
        return key
    secret = parse_arn(secret_arn)
    return f"arn:{secret['partition']}:kms:{secret['region']}:{secret['account']}:key/{key}"


def grant_policy(secret_arns: Any, kms_key_id: Optional[str] = None, db_users: Sequence[str] = ()) -> Dict[str, Any]:
    """Least privilege: GetSecretValue on the secrets named (one, or a list); kms:Decrypt on their key
    only when that key is customer-managed, and only when Secrets Manager (of the secrets' region) asks
    for it; rds-db:connect on exactly the database logins named (``db_users``: their dbuser ARNs)."""
    secrets = [secret_arns] if isinstance(secret_arns, str) else [arn for arn in secret_arns or [] if arn]
    statements_: List[Dict[str, Any]] = []
    if secrets:
        statements_.append({"Sid": GRANT_SID, "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": list(secrets)})
        key_arn = kms_key_arn(kms_key_id, secrets[0])
        if key_arn:
            region = parse_arn(secrets[0])["region"]
            statements_.append({
                "Sid": DECRYPT_SID, "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            })
    if db_users:
        statements_.append({"Sid": CONNECT_SID, "Effect": "Allow", "Action": ["rds-db:connect"], "Resource": list(db_users)})
    return {"Version": "2012-10-17", "Statement": statements_}


def db_user_arn(secret_arn: str, cluster_resource_id: str, login: str) -> str:
    """What rds-db:connect names: arn:<partition>:rds-db:<region>:<account>:dbuser:<cluster resource id>/<login>,
    in the partition, region and account of the cluster's master secret."""
    where = parse_arn(secret_arn)
    return f"arn:{where['partition']}:rds-db:{where['region']}:{where['account']}:dbuser:{cluster_resource_id}/{login}"


def same_policy(current: Any, wanted: Any) -> bool:
    """Whether two policy documents say the same to IAM (order of lists and statements aside, one
    item as good as a one-item list); ``current`` may be IAM's URL-encoded JSON text."""
    if current is None or wanted is None:
        return current is None and wanted is None
    return normalize_policy(parse_document(current)) == normalize_policy(parse_document(wanted))


def role_names(roles: Sequence[str]) -> List[str]:
    """Role names from names or role ARNs (the path dropped), each once, in the order given."""
    names: List[str] = []
    for role in roles:
        name = role_name_from_arn(role) if role.startswith("arn:") else role
        if name not in names:
            names.append(name)
    return names


def grant_problems(params: Mapping[str, Any]) -> List[str]:
    """Everything wrong with the grant's options, each naming the option and its value as given."""
    problems: List[str] = []
    for role in params.get("roles") or []:
        if not isinstance(role, str) or not role.strip():
            problems.append(f"roles has an empty entry {role!r}")
        elif role.startswith("arn:"):
            problem = role_arn_problem("roles entry", role)
            if problem:
                problems.append(problem)
        elif not ROLE_NAME_PATTERN.fullmatch(role):
            problems.append(f"roles entry {role!r} is not an IAM role name or role ARN")
    name = params.get("policy_name")
    if not isinstance(name, str) or not POLICY_NAME_PATTERN.fullmatch(name):
        problems.append(f"policy_name {name!r} is not an IAM policy name (1-128 letters, digits and +=,.@_-)")
    for index, grant in enumerate(params.get("grants") or []):
        role = grant.get("role")
        if not isinstance(role, str) or not (ROLE_NAME_PATTERN.fullmatch(role) or (role.startswith("arn:") and not role_arn_problem("r", role))):
            problems.append(f"grants[{index}].role {role!r} is not an IAM role name or role ARN")
        for secret in grant.get("secret_arns") or []:
            problem = secret_arn_problem(f"grants[{index}].secret_arns entry", secret)
            if problem:
                problems.append(problem)
        for user in grant.get("db_users") or []:
            if not DB_USER_ARN_PATTERN.fullmatch(str(user)):
                problems.append(f"grants[{index}].db_users entry {user!r} is not "
                                "arn:<partition>:rds-db:<region>:<account>:dbuser:<cluster resource id>/<login>")
        if not grant.get("secret_arns") and not grant.get("db_users"):
            problems.append(f"grants[{index}] ({role}) names neither secret_arns nor db_users")
    if params.get("grants") is not None and (params.get("roles") or params.get("secret_arn")):
        problems.append("grants gives each role its own policy: give it without roles and secret_arn")
    elif params.get("state", "present") == "present" and params.get("grants") is None:
        secret = params.get("secret_arn")
        if not secret:
            problems.append("secret_arn is required with state=present")
        else:
            problem = secret_arn_problem("secret_arn", secret)
            if problem:
                problems.append(problem)
    problem = kms_key_problem("secret_kms_key_id", params.get("secret_kms_key_id"), allow_alias=False)
    if problem:
        problems.append(problem)
    return problems


def policies_by_role(grants: Sequence[Mapping[str, Any]], kms_key_id: Optional[str]) -> Dict[str, Dict[str, Any]]:
    """Each role's own policy (the ``grants`` option): the secrets and logins of every entry naming
    the role (by name or ARN), merged. ``kms_key_id`` is the key of the secrets in entries that say
    ``decrypt`` (the master secret; a login's own secret has the AWS-managed key)."""
    merged: Dict[str, Dict[str, Any]] = {}
    for grant in grants:
        [name] = role_names([grant["role"]])
        entry = merged.setdefault(name, {"secrets": [], "users": [], "decrypt": False})
        entry["secrets"] += [arn for arn in grant.get("secret_arns") or [] if arn not in entry["secrets"]]
        entry["users"] += [arn for arn in grant.get("db_users") or [] if arn not in entry["users"]]
        entry["decrypt"] = entry["decrypt"] or bool(grant.get("decrypt"))
    return {name: grant_policy(entry["secrets"], kms_key_id if entry["decrypt"] else None, entry["users"]) for name, entry in merged.items()}


@dataclass
class RoleGrant:
    """One role: the policy it has (None: none of that name) and what it should have (None: absent)."""

    role_name: str
    before: Optional[Dict[str, Any]]
    after: Optional[Dict[str, Any]]

    @property
    def changed(self) -> bool:
        return not same_policy(self.before, self.after)


# ---------------------------------------------------------------------------------------------
# The execution-role grant: AWS calls and the job


def plan_grant(roles_reader: IamRoles, roles: Sequence[str], policy_name: str, wanted: Optional[Dict[str, Any]],
               wanted_by_role: Optional[Mapping[str, Dict[str, Any]]] = None) -> List[RoleGrant]:
    """One GetRolePolicy per role. Only when IAM says NoSuchEntity for a role that must get the
    policy is the role itself looked up, to tell "no policy yet" from "no such role"; every
    missing role is named, before any write. ``wanted_by_role``: a policy of its own for each role."""
    if wanted_by_role is not None:
        plans = [RoleGrant(name, roles_reader.inline_policy(name, policy_name), document) for name, document in wanted_by_role.items()]
    else:
        plans = [RoleGrant(name, roles_reader.inline_policy(name, policy_name), wanted) for name in role_names(roles)]
    missing = [p.role_name for p in plans if p.after is not None and p.before is None and roles_reader.role(p.role_name) is None]
    if missing:
        raise EcsRdsError(message=f"IAM role(s) {', '.join(missing)} not found: the execution role of a task definition must exist to be granted access")
    return plans


def run_grant(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """ecs_execution_role_grant: put (state=present) or delete (state=absent) the inline policy on
    every role whose policy differs; the result under ``grant``. Check mode makes no write."""
    roles_reader = IamRoles(clients("iam"))
    policy_name = params["policy_name"]
    present = params.get("state", "present") == "present"
    try:
        wanted = grant_policy(params["secret_arn"], params.get("secret_kms_key_id")) if present and params.get("grants") is None else None
        by_role = policies_by_role(params["grants"], params.get("secret_kms_key_id")) if present and params.get("grants") is not None else None
    except ValueError as exc:
        raise EcsRdsError(message=f"secret_kms_key_id {exc}")
    roles = params.get("roles") or [grant["role"] for grant in params.get("grants") or []]
    plans = plan_grant(roles_reader, roles, policy_name, wanted, by_role)
    actions = []
    for plan in plans:
        if not plan.changed:
            continue
        actions.append(f"{'put' if present else 'delete'} policy {policy_name} {'on' if present else 'of'} IAM role {plan.role_name}")
        if check_mode:
            continue
        if present:
            roles_reader.put_inline_policy(plan.role_name, policy_name, plan.after)
        else:
            roles_reader.delete_inline_policy(plan.role_name, policy_name)
    grant = {
        "policy_name": policy_name,
        "policy_document": wanted,
        "roles": [{"role_name": p.role_name, "changed": p.changed} for p in plans],
    }
    if by_role is not None:
        # Each role its own document (the grants option).
        grant["policy_documents"] = by_role
    diff = {"before": {p.role_name: p.before for p in plans}, "after": {p.role_name: p.after for p in plans}} if diff_mode else None
    return Outcome(any(p.changed for p in plans), {"grant": grant}, diff, actions)


# ---------------------------------------------------------------------------------------------
# The service role's grant: its inputs -> ecs_execution_role_grant's options
# ---------------------------------------------------------------------------------------------


def decrypt_key_id(inputs: Mapping[str, Any]) -> Optional[str]:
    """The key the execution roles need kms:Decrypt on: service_secret_kms_key_id, unless
    service_secret_kms_key_manager says AWS manages it (RDS names the aws/secretsmanager key by a
    plain key ARN, so the database role publishes which kind it is)."""
    if inputs.get("service_secret_kms_key_manager") == AWS:
        return None
    return inputs.get("service_secret_kms_key_id") or None


def execution_role_arns(task_definitions: Sequence[Mapping[str, Any]]) -> List[str]:
    """The execution roles of ecs_taskdef_secret_env's (or ecs_service_deploy's) task definitions."""
    return [td["execution_role_arn"] for td in task_definitions if (td or {}).get("execution_role_arn")]


def grant_options(inputs: Mapping[str, Any], task_definitions: Sequence[Mapping[str, Any]],
                  logins: Optional[Sequence[Mapping[str, Any]]] = None) -> Dict[str, Any]:
    """ecs_execution_role_grant's options (state=present): GetSecretValue on exactly the service role's
    secret for the execution role of each revision the services move to (``task_definitions``, as
    ecs_taskdef_secret_env returns them), each role once. When a service signs in with a login of its
    own, each role gets its own policy (``grants``): an execution role the secrets its services read
    (the master's, an app_user login's, from ``logins``: rds_db_logins' results), a task role
    rds-db:connect on the iam logins of its services. Refused (ValueError) for an iam service whose
    revision has no task role."""
    logins_by_service = {login["service"]: login for login in service_logins(inputs)}
    if all(login["auth"] == "master" for login in logins_by_service.values()):
        return {
            "roles": role_names(execution_role_arns([entry.get("task_definition") for entry in task_definitions])),
            "policy_name": grant_policy_name(inputs),
            "secret_arn": inputs.get("service_secret_arn"),
            "secret_kms_key_id": decrypt_key_id(inputs),
            "state": "present",
        }
    secret_of = login_secret_arns(inputs, logins)
    grants = []
    for entry in task_definitions:
        revision = entry.get("task_definition") or {}
        login = logins_by_service.get(entry.get("name")) or {"auth": "master"}
        if login["auth"] == "iam":
            if not revision.get("task_role_arn"):
                raise ValueError(f"service {entry.get('name')} signs in with iam, but its revision {entry.get('task_definition_arn')} has no task "
                                 "role (taskRoleArn): the application asks for its database token with that role; give the task definition one")
            grants.append({"role": revision["task_role_arn"], "db_users": [
                db_user_arn(inputs["service_secret_arn"], inputs.get("service_db_cluster_resource_id") or "", login["login"])]})
        elif revision.get("execution_role_arn"):
            own = login["auth"] == "app_user"
            secret = secret_of(login["login"]) if own else inputs.get("service_secret_arn")
            grants.append({"role": revision["execution_role_arn"], "secret_arns": [secret], "decrypt": not own})
    return {"grants": grants, "policy_name": grant_policy_name(inputs), "secret_kms_key_id": decrypt_key_id(inputs), "state": "present"}


def granted_roles(options: Mapping[str, Any]) -> List[str]:
    """The roles :func:`grant_options` puts the policy on, whichever shape it has."""
    return role_names(list(options.get("roles") or []) + [grant["role"] for grant in options.get("grants") or []])


def grant_removal_options(
    inputs: Mapping[str, Any], restored: Sequence[Mapping[str, Any]], kept: Optional[Sequence[Mapping[str, Any]]] = None
) -> Dict[str, Any]:
    """ecs_execution_role_grant's options (state=absent) for the service role's teardown, or its release
    of services: the policy off the execution roles of the revisions those services run afterwards
    (``restored``: ecs_service_deploy's results, each with its ``running_task_definition``), except the
    roles of the revisions the services still wired move to (``kept``: ecs_taskdef_secret_env's
    ``task_definitions``), which :func:`grant_options` grants."""
    keep = set(granted_roles(grant_options(inputs, kept))) if kept else set()
    on_iam = {login["service"] for login in service_logins(inputs) if login["auth"] == "iam"}
    # A service on iam had the policy on its task role (rds-db:connect) as well.
    task_roles = [(result.get("running_task_definition") or {}).get("task_role_arn") for result in restored
                  if ((result.get("item") or {}).get("service") or result.get("service")) in on_iam]
    running = execution_role_arns([result.get("running_task_definition") for result in restored]) + [arn for arn in task_roles if arn]
    return {
        "roles": [role for role in role_names(running) if role not in keep],
        "policy_name": grant_policy_name(inputs),
        "state": "absent",
    }


# ecs_execution_role_grant's options, here so that the deployment check (deployment.py) fills in the same defaults the module does.
GRANT_ARGUMENT_SPEC = dict(
    roles=dict(type="list", elements="str", default=[]),
    grants=dict(type="list", elements="dict", options=dict(
        role=dict(type="str", required=True),
        secret_arns=dict(type="list", elements="str", default=[], no_log=False),
        decrypt=dict(type="bool", default=False),
        db_users=dict(type="list", elements="str", default=[]),
    )),
    policy_name=dict(type="str", required=True),
    secret_arn=dict(type="str", no_log=False),
    secret_kms_key_id=dict(type="str", no_log=False),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)
