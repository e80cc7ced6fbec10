"""The step filters the roles call are the module_utils derivations the deployment check calls, and a
derivation that refuses its inputs fails the task with its message."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ecsrds.connect.plugins.filter.steps import FILTERS, FilterModule, derivation
from ansible_collections.ecsrds.connect.plugins.module_utils import ecs, iam, network, published, rds, rotation


def test_the_filters_are_the_derivations_the_deployment_check_runs():
    filters = FilterModule().filters()
    assert set(filters) == set(FILTERS)
    used_by_the_check = {network.access_options, network.access_facts, rds.cluster_options, rds.cluster_facts, ecs.taskdef_options,
                         iam.grant_options, rotation.redeploy_options, rotation.redeploy_facts, published.summary}
    assert used_by_the_check <= {derivation(name) for name in FILTERS}
    assert filters["cluster_facts"]({"connection": {"port": 5433}})["database__port"] == 5433


def test_a_refusal_fails_the_task_with_its_message():
    with pytest.raises(AnsibleFilterError, match="network_vpc_name main matches 0 VPCs"):
        FilterModule().filters()["network_access_options"]({"network_vpc_name": "main"}, {}, [])
