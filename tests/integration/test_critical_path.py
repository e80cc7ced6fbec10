"""site.yml on AWS's latencies (tests/support/latency.py in front of moto): the waits are deferred to
where they are needed, and what is still settling is awaited once, together.

The proxy holds each resource as AWS shows it after the create or update call: the Secrets Manager
endpoint State "pending", the cluster Status and its writer's DBInstanceStatus "creating" (never
available before the cluster), each ECS rollout's PRIMARY deployment rolloutState "IN_PROGRESS" with
no task running. The latencies are short, and chosen so that the order the assertions read is the
only one a run that waits where it should can produce: these tests count and order calls, they
never time the run.
"""

from __future__ import annotations

import pytest
import yaml

from support.latency import Latencies, LatencyProxy
from support.sandbox import REPO_ROOT, run_playbook

from support import demo_environment

# The endpoint takes longest, so that a run waiting for it before creating the database would be
# caught; the writer takes longer than it takes to reach the service role's first writes.
LATENCIES = Latencies(endpoint=15.0, cluster=3.0, instance=12.0, rollout=3.0)


@pytest.fixture
def settling(moto):
    proxy = LatencyProxy(moto.endpoint, LATENCIES)
    yield proxy
    proxy.stop()


def _vars(endpoint, env):
    variables = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
    first = variables["ecsrds_ecs_services"][0]
    variables.update(ecsrds_aws_endpoint_url=endpoint,
                     ecsrds_ecs_services=[first] + [{"name": name, "container_name": first["container_name"]} for name in env["extra_services"]])
    return variables


def _at(proxy, operation):
    """When the proxy first forwarded ``operation`` (seconds on its clock)."""
    first = proxy.first(operation)
    assert first is not None, f"{operation} was never called: {proxy.operations()}"
    return first


def test_the_database_and_the_revisions_do_not_wait_for_the_endpoint_and_the_tasks_start_once_all_is_ready(moto, settling):
    env = demo_environment.build_demo_environment(moto.client, service_count=2)
    variables = _vars(settling.endpoint, env)
    run = run_playbook(settling.endpoint, REPO_ROOT / "site.yml", extra_vars=variables)
    assert run.rc == 0, run.stdout[-4000:]
    [endpoint], [cluster], [writer] = settling.of_kind("endpoint"), settling.of_kind("cluster"), settling.of_kind("instance")
    rollouts = settling.of_kind("rollout")

    # The network role did not wait for the endpoint: the database was asked for while it was pending.
    assert _at(settling, "CreateDBInstance") < endpoint.ready_at
    # The writer was asked for while the cluster was creating (AWS accepts it), not after.
    assert _at(settling, "CreateDBInstance") < cluster.ready_at
    # The revisions were registered and the secret granted while the writer was still creating.
    assert _at(settling, "RegisterTaskDefinition") < writer.ready_at and _at(settling, "PutRolePolicy") < writer.ready_at
    # No task started before the endpoint and the writer were seen available, looked at in one wait.
    first_update = _at(settling, "UpdateService")
    assert endpoint.seen_ready is not None and writer.seen_ready is not None
    assert max(endpoint.seen_ready, writer.seen_ready) <= first_update
    waited = run.step("dependencies")
    assert sorted(entry["name"] for entry in waited["ready"]) == ["DB cluster demo-rds-aurora-postgres", f"VPC endpoint {endpoint.resource}"]
    # The two rollouts were in flight together, each poll describing both.
    assert len(rollouts) == 2 and settling.max_in_flight("rollout") == 2
    polls = settling.polls()
    assert polls and all(call.services == 2 for call in polls)

    # Everything settled: the re-run has nothing to wait for and changes nothing.
    again = run_playbook(settling.endpoint, REPO_ROOT / "site.yml", extra_vars=variables)
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
