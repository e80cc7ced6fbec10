# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the roles publish, as site.yml uses it: the inputs it sets on a role from the facts an
earlier role published (:data:`SITE_WIRING`), and the summary it shows at its end.

Pure and light on purpose: the summary is a filter (``ecsrds.connect.deployment_summary``) that
every run templates, and the deployment check (deployment.py) reads the wiring from here.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.ecsrds.connect.plugins.module_utils.rules import planned

# The role inputs site.yml sets from an earlier role's published facts: input -> fact, or [fact]
# for a list of that one fact (playbooks/site.yml, the vars of each role import).
SITE_WIRING: Dict[str, Any] = {
    "database_subnet_ids": "network__subnet_ids",
    "database_security_group_ids": ["network__db_security_group_id"],
    "service_secret_arn": "database__secret_arn",
    "service_secret_kms_key_id": "database__secret_kms_key_id",
    "service_secret_kms_key_manager": "database__secret_kms_key_manager",
    "service_db_endpoint": "database__endpoint",
    "service_db_port": "database__port",
    "service_db_name": "database__name",
    "service_secretsmanager_endpoint_changed": "network__secretsmanager_endpoint_changed",
    "service_secretsmanager_endpoint_pending_id": "network__secretsmanager_endpoint_pending_id",
    "service_db_pending_cluster_identifier": "database__pending_cluster_identifier",
    "service_db_cluster_resource_id": "database__cluster_resource_id",
    "service_preflight_db_security_group_ids": ["network__db_security_group_id"],
    "rotation_secret_arn": "database__secret_arn",
    "rotation_service_secrets": "service__own_secrets",
}


# What site.yml's role imports set to a value of their own: the endpoint and the cluster settle while the
# service role registers and grants; it waits for them where a task first needs them.
SITE_SETTINGS: Dict[str, Any] = {
    "network_wait": False,
    "database_wait": False,
}


def wired(inputs: Mapping[str, Any], facts: Mapping[str, Any]) -> Dict[str, Any]:
    """The roles' inputs as site.yml sets them: its own settings, and those it sets from the facts
    published so far."""
    result = dict(inputs, **SITE_SETTINGS)
    for name, source in SITE_WIRING.items():
        fact = source[0] if isinstance(source, list) else source
        if fact in facts:
            result[name] = [facts[fact]] if isinstance(source, list) else facts[fact]
    return result


def summary(published: Mapping[str, Any], plan: Optional[Mapping[str, Any]] = None, converge: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """What site.yml shows at its end, from the facts the roles published (or, when the deployment check
    found nothing to do, the same facts as the check derived them; when the roles' steps ran in one
    process, the facts that pass published), the check's ``plan`` and that pass's result (``converge``)."""
    in_sync = bool((plan or {}).get("in_sync"))
    released = unwired_services((published.get("service__released") or {}).get("results") or [])
    return {
        # Check mode before the cluster exists: what RDS will assign is not known yet (the steps plan with
        # marked stand-ins; the summary says null).
        "cluster_endpoint": _known(published.get("database__endpoint")),
        "port": published.get("database__port"),
        "secret_arn": _known(published.get("database__secret_arn")),
        "secretsmanager_endpoint_id": published.get("network__secretsmanager_endpoint_id"),
        "db_security_group_id": published.get("network__db_security_group_id"),
        "revisions": {entry["service"]: entry["task_definition_arn"] for entry in published.get("service__results") or []},
        "redeploy_on_rotation": (published.get("rotation__redeploy") or {}).get("state_machine_arn"),
        # Wired by this deployment (its rotation redeploy named them), no longer in its inputs, not released.
        "services_no_longer_in_inputs": [name for name in (published.get("rotation__redeploy") or {}).get("services_dropped") or []
                                         if name not in released],
        "services_released": released,
        # A service this deployment had wired (its rotation redeploy named it) whose running revision held
        # none of the wiring: an application's pipeline deployed without it. The revision that lost it.
        "wiring_lost_on": lost_wiring(published),
        "deployment_check": "nothing to do: the roles were skipped" if in_sync else _what_ran((plan or {}).get("reason") or "not asked", converge),
    }


def _what_ran(reason: str, converge: Optional[Mapping[str, Any]]) -> str:
    if not converge or converge.get("skipped"):
        return reason
    if converge.get("converged"):
        return f"{reason}; the roles' steps ran in one process"
    return f"{reason}; the roles ran, handed over: {converge.get('handed_over')}"


def unwired_services(results: Sequence[Mapping[str, Any]]) -> List[str]:
    """The services whose wiring a loop of ecs_service_deploy with ``unwire`` took out (or would, in
    check mode): the service role's teardown and its release of services."""
    return [result["item"]["service"] for result in results if result.get("changed") and isinstance(result.get("item"), Mapping)]


def lost_wiring(published: Mapping[str, Any]) -> Dict[str, str]:
    """Each service whose wiring this run put back, with the revision that ran without it: the service
    role registered on top of a revision holding none of the variables (ecs_taskdef_secret_env's
    ``wiring_missing``) and the rotation redeploy already named the service (so it had been wired)."""
    before = set((published.get("rotation__redeploy") or {}).get("services_before") or [])
    registered = (published.get("service__task_definitions") or {}).get("task_definitions") or []
    return {entry["name"]: entry["previous_task_definition_arn"] for entry in registered
            if entry.get("changed") and entry.get("wiring_missing") and entry.get("name") in before}


def _known(value: Any) -> Any:
    return None if planned(value) else value
