# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' derivations, as filters: each role turns its inputs into its modules' options, and its
modules' results into the facts it publishes, through these. Each is one function in its area's
module_utils file (documented next to this file, one YAML per filter), the same functions the
deployment check of site.yml runs (module_utils/deployment.py): nothing is derived twice."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.ecsrds.connect.plugins.module_utils import deployment, ecs, ecs_service, iam, network, rds, rotation


def _refusing(derive):
    """A derivation that refuses its inputs (ValueError) fails the task with its message, before any write."""

    @functools.wraps(derive)
    def filter_(*args, **kwargs):
        try:
            return derive(*args, **kwargs)
        except ValueError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    return filter_


FILTERS = {
    "network_access_options": network.access_options,
    "network_facts": network.access_facts,
    "network_teardown_options": network.teardown_options,
    "cluster_options": rds.cluster_options,
    "cluster_facts": rds.cluster_facts,
    "cluster_delete_options": rds.cluster_delete_options,
    "service_entries": ecs_service.service_entries,
    "taskdef_options": ecs.taskdef_options,
    "grant_options": iam.grant_options,
    "preflight_options": ecs_service.preflight_options,
    "deploy_options": ecs_service.deploy_options,
    "log_check_options": ecs_service.log_check_options,
    "restore_options": ecs_service.restore_options,
    "grant_removal_options": iam.grant_removal_options,
    "redeploy_options": rotation.redeploy_options,
    "redeploy_facts": rotation.redeploy_facts,
    "deployment_summary": deployment.summary,
}


class FilterModule:
    def filters(self):
        return {name: _refusing(derive) for name, derive in FILTERS.items()}
