# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an ECS task needs when it starts, awaited together where it is needed.

site.yml creates the Secrets Manager endpoint and the Aurora cluster with its writer without waiting
for them (on AWS about 2 minutes, and 7-10), registers the revisions and grants the secret meanwhile
(neither needs them), and waits here, once, for everything still settling, just before the preflight
and the rollouts: a task fetches its secrets through the endpoint and connects to the writer as it
starts. One look per poll at each resource still pending (DescribeVpcEndpoints; DescribeDBClusters
and DescribeDBInstances), every 5 seconds; nothing when nothing is pending.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Mapping, Optional

from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError, Outcome, wait_for
from ansible_collections.ecsrds.connect.plugins.module_utils.network import NetworkClient, endpoint_unusable
from ansible_collections.ecsrds.connect.plugins.module_utils.rds import AuroraCluster, cluster_ready

POLL_DELAY = 5.0


def run_dependencies_ready(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """ecs_task_dependencies_ready: wait (bounded by wait_timeout) until each endpoint of
    vpc_endpoint_ids is available and the cluster db_cluster_identifier, its secret and its writer
    are; in check mode, only say what is still pending."""
    looks: Dict[str, Callable[[], Optional[str]]] = {}
    if params["vpc_endpoint_ids"]:
        net = NetworkClient(clients("ec2"))
        for endpoint_id in params["vpc_endpoint_ids"]:
            looks[f"VPC endpoint {endpoint_id}"] = _endpoint_look(net, endpoint_id)
    if params.get("db_cluster_identifier"):
        looks[f"DB cluster {params['db_cluster_identifier']}"] = _cluster_look(AuroraCluster(clients("rds"), params["db_cluster_identifier"]))
    started = time.monotonic()
    ready: List[Dict[str, Any]] = []
    pending: Dict[str, str] = {}

    def look() -> Optional[bool]:
        for name in [n for n in looks if n not in {r["name"] for r in ready}]:
            state = looks[name]()
            if state is None:
                ready.append({"name": name, "seconds": round(time.monotonic() - started, 1)})
                pending.pop(name, None)
            else:
                pending[name] = state
        return True if not pending or check_mode else None

    if looks:
        wait_for(look, params["wait_timeout"], " and ".join(looks) + " to be available", delay=POLL_DELAY,
                 last_seen=lambda: "; ".join(f"{name}: {state}" for name, state in pending.items()))
    return Outcome(False, {"ready": ready, "pending": [{"name": name, "state": state} for name, state in pending.items()]})


def _endpoint_look(net: NetworkClient, endpoint_id: str) -> Callable[[], Optional[str]]:
    def look() -> Optional[str]:
        endpoint = net.endpoint(endpoint_id)
        problem = endpoint_unusable(endpoint_id, endpoint)
        if problem:
            raise EcsRdsError(message=problem)
        state = str((endpoint or {}).get("State", ""))
        return None if state.lower() == "available" else f"state {state!r}"
    return look


def _cluster_look(cluster: AuroraCluster) -> Callable[[], Optional[str]]:
    def look() -> Optional[str]:
        described = cluster.describe()
        if described is None or described.get("Status") != "available":
            # Its instances are listed only once the cluster itself is available.
            return cluster_ready(described, [])
        return cluster_ready(described, cluster.instances())
    return look


def dependencies_problem(params: Mapping[str, Any]) -> Optional[str]:
    return "wait_timeout must be zero or more seconds" if params["wait_timeout"] < 0 else None


DEPENDENCIES_ARGUMENT_SPEC = dict(
    vpc_endpoint_ids=dict(type="list", elements="str", default=[]),
    db_cluster_identifier=dict(type="str"),
    wait_timeout=dict(type="int", default=1800),
)
