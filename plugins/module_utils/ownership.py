# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who created a resource and which deployments use it, decided the same way in every AWS area.

A deployment is one run of the collection's roles for one database (by default its DB cluster
identifier). Everything it creates or uses carries its identity:

- ``ecsrds.connect/created-by = <deployment>`` is set once, when this collection creates the
  resource, and never changed afterwards: without it a resource existed before and is never deleted.
- ``ecsrds.connect/deployment:<deployment> = created | adopted`` says that the deployment uses the
  resource, and whether it made it. A second deployment adds its own tag to a shared resource; it
  never rewrites the first one's tags.
- Security group rules carry the users in their description: ``<text> [ecsrds:<id>,<id>]``.
- The inline policy a deployment puts on an execution role is its own: ``ecsrds-connect-<deployment>``.

Teardown removes its own marks, and deletes a resource only when this collection created it and no
other deployment still uses it.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Mapping, Optional, Set, Tuple

CREATED_BY_TAG = "ecsrds.connect/created-by"
# Every revision, rule, state machine and role this collection registers or creates.
MANAGED_TAG = "ecsrds.connect/managed"
# On a revision the service role registered: the revision its service ran before the collection first
# touched it (teardown moves the service back to it).
ORIGINAL_TAG = "ecsrds.connect/original-task-definition"
DEPLOYMENT_TAG_PREFIX = "ecsrds.connect/deployment:"
CREATED = "created"
ADOPTED = "adopted"

# What teardown does with a resource: not ours to touch, drop our mark, or delete it.
NOT_OURS = "not-ours"
RELEASE = "release"
DELETE = "delete"

# Deployment ids go into tag keys (EC2, RDS and ECS each restrict the characters) and into rule
# descriptions (at most 255 characters, several ids in one): letters, digits, '.', '_' and '-'.
_DEPLOYMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_RULE_MARK = re.compile(r"\s*\[ecsrds:([A-Za-z0-9._,-]*)\]$")


def deployment_id_problem(value: object, option: str = "deployment_id") -> Optional[str]:
    if isinstance(value, str) and _DEPLOYMENT_ID.match(value):
        return None
    return (
        f"{option} must be 1 to 63 letters, digits, '.', '_' or '-' starting with a letter or digit "
        f"(it goes into tag keys and rule descriptions), got {value!r}"
    )


def secret_name(secret_arn: Optional[str]) -> str:
    """The name part of a secret's ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), or ''."""
    parts = (secret_arn or "").split(":")
    return parts[6] if len(parts) > 6 else ""


def service_deployment_name(inputs: Mapping[str, Any]) -> str:
    """Who the service role works for: service_deployment_id, else the DB cluster identifier, else the
    secret's name ('' when none is given). It tags the revisions the role registers (teardown
    deregisters only its own) and names the execution roles' policy, each in the characters its
    service accepts."""
    return str(inputs.get("service_deployment_id") or inputs.get("service_db_cluster_identifier") or secret_name(inputs.get("service_secret_arn")))


def service_deployment_id(inputs: Mapping[str, Any]) -> str:
    """:func:`service_deployment_name` in the characters ECS tag values accept."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", service_deployment_name(inputs))


def deployment_tag(deployment_id: str) -> str:
    return DEPLOYMENT_TAG_PREFIX + deployment_id


def usage_tags(deployment_id: str, created: bool) -> Dict[str, str]:
    """Tags a deployment puts on a resource it creates (``created``) or starts using."""
    if created:
        return {CREATED_BY_TAG: deployment_id, deployment_tag(deployment_id): CREATED}
    return {deployment_tag(deployment_id): ADOPTED}


def is_ownership_tag(key: str) -> bool:
    return key == CREATED_BY_TAG or key.startswith(DEPLOYMENT_TAG_PREFIX)


def users(tags: Dict[str, str]) -> Dict[str, str]:
    """Deployment id -> created/adopted for every deployment that marked the resource."""
    return {key[len(DEPLOYMENT_TAG_PREFIX):]: value for key, value in tags.items() if key.startswith(DEPLOYMENT_TAG_PREFIX)}


def created_by(tags: Dict[str, str]) -> Optional[str]:
    return tags.get(CREATED_BY_TAG) or None


def adoption_tags(tags: Dict[str, str], deployment_id: str) -> Dict[str, str]:
    """The mark to add to a resource this deployment uses but did not create ({} when present)."""
    return {} if deployment_id in users(tags) else usage_tags(deployment_id, created=False)


def release_plan(tags: Dict[str, str], deployment_id: str) -> str:
    """NOT_OURS when the deployment never marked the resource; DELETE when this collection created
    it and the deployment is its last user; RELEASE (drop the mark only) otherwise."""
    marked = users(tags)
    if deployment_id not in marked:
        return NOT_OURS
    others = set(marked) - {deployment_id}
    return DELETE if created_by(tags) and not others else RELEASE


# --- security group rules -------------------------------------------------------------------


def rule_owners(description: Optional[str]) -> Tuple[str, Set[str]]:
    """(text, deployments) of a rule description; no deployments for a rule we did not add."""
    description = description or ""
    found = _RULE_MARK.search(description)
    if not found:
        return description, set()
    return description[:found.start()], {owner for owner in found.group(1).split(",") if owner}


def rule_description(text: str, owners: Iterable[str]) -> str:
    return f"{text} [ecsrds:{','.join(sorted(set(owners)))}]"


def grant_policy_name(inputs: Mapping[str, Any]) -> str:
    """service_execution_role_policy_name, else ``ecsrds-connect-<deployment>`` in the characters IAM
    takes (one policy per deployment, so deployments sharing an execution role keep their own);
    '' when nothing names the deployment."""
    if inputs.get("service_execution_role_policy_name"):
        return str(inputs["service_execution_role_policy_name"])
    name = service_deployment_name(inputs)
    return re.sub(r"[^A-Za-z0-9+=,.@_-]", "-", f"ecsrds-connect-{name}")[:128] if name else ""
