"""site.yml beside the applications' own pipelines, end to end on moto: a release registered from a
file without the wiring is wired again on top of that revision and the summary names the revision that
lost it; a service dropped from the inputs and released loses the wiring (its image kept), is named as
released, and the run after that has nothing to do. One converged environment, the runs in a user's order."""

from __future__ import annotations

import yaml

from support.sandbox import REPO_ROOT, write_calls
from support.demo_environment import build_demo_environment

SITE = REPO_ROOT / "site.yml"
DEMO_VARS = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
NEW_IMAGE = "public.ecr.aws/docker/library/amazoncorretto:21"


def _summary(run):
    [summary] = [t.result["msg"] for t in run.tasks if t.name == "Summary" and not t.result.get("skipped")]
    return summary


def _wiring(ecs, cluster, service):
    running = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"]
    [container] = ecs.describe_task_definition(taskDefinition=running)["taskDefinition"]["containerDefinitions"]
    names = {e["name"] for e in container.get("environment") or [] if e["name"].startswith("DATABASE_")} | {
        s["name"] for s in container.get("secrets") or []}
    return running, names, container["image"]


def test_drift_is_named_and_a_released_service_is_unwired(moto, play):
    env = build_demo_environment(moto.client, service_count=2)
    ecs = moto.client("ecs")
    cluster, app, other = env["cluster"], env["service"], env["extra_services"][0]
    original = ecs.describe_services(cluster=cluster, services=[other])["services"][0]["taskDefinition"]
    both = dict(DEMO_VARS, ecsrds_aws_endpoint_url=moto.endpoint, ecsrds_ecs_services=[app, other])
    first = play(SITE, extra_vars=both)
    assert first.rc == 0, first.stdout[-3000:]
    assert _summary(first)["wiring_lost_on"] == {}

    # The other application's pipeline registers from the task definition file in its repository
    # (the revision before the wiring) with a new image, and deploys it: the wiring is lost.
    fields = {key: value for key, value in ecs.describe_task_definition(taskDefinition=original)["taskDefinition"].items()
              if key in ("family", "containerDefinitions", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")}
    fields["containerDefinitions"][0]["image"] = NEW_IMAGE
    lost = ecs.register_task_definition(**fields)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=cluster, service=other, taskDefinition=lost)

    again = play(SITE, extra_vars=both)
    assert again.rc == 0, again.stdout[-3000:]
    assert _summary(again)["wiring_lost_on"] == {other: lost}
    rewired, names, image = _wiring(ecs, cluster, other)
    assert names == {"DATABASE_URL", "DATABASE_DRIVER_CLASS", "DATABASE_USERNAME", "DATABASE_PASSWORD"} and image == NEW_IMAGE

    released_vars = dict(both, ecsrds_ecs_services=[app], ecsrds_release_services=[other])
    moto.start_recording()
    released = play(SITE, extra_vars=released_vars)
    writes = [c.operation for c in write_calls(moto.stop_recording())]
    assert released.rc == 0, released.stdout[-3000:]
    summary = _summary(released)
    assert summary["services_released"] == [other] and summary["services_no_longer_in_inputs"] == [], summary
    running, names, image = _wiring(ecs, cluster, other)
    # The rewired revision was built on the pipeline's own, which is exactly it without the wiring: that runs again.
    assert (running, names, image) == (lost, set(), NEW_IMAGE)
    # Both services run under the demo's execution role: the grant stays for the one still wired.
    assert "DeleteRolePolicy" not in writes and "UpdateService" in writes, writes
    assert _wiring(ecs, cluster, app)[1] == {"DATABASE_URL", "DATABASE_DRIVER_CLASS", "DATABASE_USERNAME", "DATABASE_PASSWORD"}

    moto.start_recording()
    settled = play(SITE, extra_vars=released_vars)
    assert settled.rc == 0 and settled.changed == 0 and write_calls(moto.stop_recording()) == [], settled.stdout[-3000:]
    assert _summary(settled)["deployment_check"] == "nothing to do: the roles were skipped"
    assert _summary(settled)["services_released"] == []
