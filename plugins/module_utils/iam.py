# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether an ECS task execution role may read a secret: read-only IAM.

Two ways to decide, in this order:

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
    from botocore.parsers import ResponseParserError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError, call, error_code

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


class IamReader:
    """The IAM reads the preflight makes. Nothing here writes."""

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

    def _managed_document(self, arn: str) -> Dict[str, Any]:
        policy = call(self.client, "get_policy", f"get policy {arn}", PolicyArn=arn)["Policy"]
        version = call(self.client, "get_policy_version", f"get policy {arn} version", PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        return parse_document(version["PolicyVersion"]["Document"])

    def role_policies(self, role_name: str) -> Optional[List[NamedPolicy]]:
        """Inline, attached and boundary policies of the role; None when the role does not exist."""
        role = call(self.client, "get_role", f"get role {role_name}", not_found=("NoSuchEntity",), RoleName=role_name)
        if role is None:
            return None
        policies: List[NamedPolicy] = []
        for name in self._paged(f"list inline policies of role {role_name}", "list_role_policies", "PolicyNames", RoleName=role_name):
            document = call(self.client, "get_role_policy", f"get inline policy {name} of role {role_name}", RoleName=role_name, PolicyName=name)
            policies.append(NamedPolicy(name, "inline", parse_document(document["PolicyDocument"])))
        attached = self._paged(f"list attached policies of role {role_name}", "list_attached_role_policies", "AttachedPolicies", RoleName=role_name)
        for item in attached:
            policies.append(NamedPolicy(item["PolicyName"], "attached", self._managed_document(item["PolicyArn"]), item["PolicyArn"]))
        boundary = (role["Role"].get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if boundary:
            policies.append(NamedPolicy(boundary.rsplit("/", 1)[-1], "boundary", self._managed_document(boundary), boundary))
        return policies

    def simulate(
        self, role_arn: str, action: str, resources: Sequence[str], context: Mapping[str, Sequence[str]]
    ) -> Tuple[Optional[Dict[Tuple[str, str], Decision]], Optional[str]]:
        """(decisions, None), or (None, why) when IAM would not simulate: the caller may lack
        iam:SimulatePrincipalPolicy, or the endpoint (moto) does not implement it. Sent without our
        retries: a refusal is an answer, and the fallback is ready."""
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
