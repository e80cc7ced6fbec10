# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' derivations, as filters: each role turns its inputs into its modules' options, and its
modules' results into the facts it publishes, through these. Each is one function in its area's
module_utils file (documented next to this file, one YAML per filter), the same functions the
deployment check of site.yml runs (module_utils/deployment.py): nothing is derived twice."""

from __future__ import annotations

import importlib

from ansible.errors import AnsibleFilterError

# Filter name -> (module_utils file, function). Imported when a filter is first called, and then only
# its own area: Ansible loads every filter file of the collection in each worker process whose task
# templates any ecsrds.connect filter, and compiles collection code from source on each import.
FILTERS = {
    "network_access_options": ("network", "access_options"),
    "network_facts": ("network", "access_facts"),
    "network_teardown_options": ("network", "teardown_options"),
    "cluster_options": ("rds", "cluster_options"),
    "db_iam_authentication": ("rules", "db_iam_authentication"),
    "cluster_facts": ("rds", "cluster_facts"),
    "cluster_delete_options": ("rds", "cluster_delete_options"),
    "service_entries": ("ecs_service", "service_entries"),
    "rollout_plan": ("ecs_service", "rollout_plan"),
    "taskdef_options": ("ecs", "taskdef_options"),
    "render_options": ("ecs", "render_options"),
    "grant_options": ("iam", "grant_options"),
    "dependencies_options": ("ecs_service", "dependencies_options"),
    "logins_options": ("ecs_service", "logins_options"),
    "own_secrets": ("ecs_service", "own_secrets"),
    "preflight_options": ("ecs_service", "preflight_options"),
    "deploy_options": ("ecs_service", "deploy_options"),
    "log_check_options": ("ecs_service", "log_check_options"),
    "restore_options": ("ecs_service", "restore_options"),
    "release_options": ("ecs_service", "release_options"),
    "unwired_services": ("published", "unwired_services"),
    "grant_removal_options": ("iam", "grant_removal_options"),
    "redeploy_options": ("rotation", "redeploy_options"),
    "redeploy_facts": ("rotation", "redeploy_facts"),
    "deployment_summary": ("published", "summary"),
}


def derivation(name: str):
    """The module_utils function behind the filter ``name``."""
    area, function = FILTERS[name]
    return getattr(importlib.import_module(f"ansible_collections.ecsrds.connect.plugins.module_utils.{area}"), function)


def _refusing(name: str):
    """A derivation that refuses its inputs (ValueError) fails the task with its message, before any write."""

    def filter_(*args, **kwargs):
        derive = derivation(name)
        try:
            return derive(*args, **kwargs)
        except ValueError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    filter_.__name__ = name
    return filter_


class FilterModule:
    def filters(self):
        return {name: _refusing(name) for name in FILTERS}
