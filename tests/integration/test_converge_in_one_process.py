"""site.yml's one-process converge (ecsrds.connect.deployment_converge) and its roles run task by task
(ecsrds_converge_in_one_process: false) leave AWS the same way: each finds what the other made exactly
as it would have made it (nothing to change, no write). Here the pass on what the roles made; the roles
on what the pass made is test_site.py's re-run."""

from __future__ import annotations

import yaml

from support.sandbox import CONVERGE_TASK, REPO_ROOT, write_calls

from support.demo_environment import build_demo_environment

SITE = REPO_ROOT / "site.yml"


def _vars(moto, **overrides):
    variables = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
    return dict(variables, ecsrds_aws_endpoint_url=moto.endpoint, **overrides)


def test_what_the_roles_made_the_one_process_pass_finds_as_its_own(moto, play):
    build_demo_environment(moto.client)
    by_roles = play(SITE, extra_vars=_vars(moto, ecsrds_converge_in_one_process=False))
    assert by_roles.rc == 0, by_roles.stdout[-4000:]
    assert by_roles.result(CONVERGE_TASK).get("skipped") is True
    assert by_roles.changed_steps == ["network", "database", "task_definitions", "grant", "rollouts", "rotation"]
    # A run with something to do lists no task of the in-sync path's log check as skipped before the
    # network role: the first role task it shows is the network role's reading of its inputs, run.
    reads = [t for t in by_roles.tasks if t.name.endswith("Read the inputs as the argument spec declares them")]
    assert reads and not reads[0].result.get("skipped"), [(t.name, t.result.get("skipped")) for t in by_roles.tasks[:12]]

    # A preflight on every run keeps the deployment check from skipping: the pass runs every step.
    moto.start_recording()
    again = play(SITE, extra_vars=_vars(moto, ecsrds_preflight_every_run=True))
    calls = moto.stop_recording()
    assert again.rc == 0 and again.changed == 0, again.stdout[-4000:]
    assert write_calls(calls) == []
    converge = again.result(CONVERGE_TASK)
    assert converge["converged"] is True
    assert [entry["step"] for entry in converge["steps"]] == ["network", "database", "task_definitions", "grant", "preflight", "rotation"]
    [summary] = [t.result["msg"] for t in again.tasks if t.name == "Summary" and not t.result.get("skipped")]
    assert summary["deployment_check"] == "the preflight runs on every run (service_preflight_every_run); the roles' steps ran in one process"
    assert summary["revisions"] == {"demo-ecs-service": by_roles.step("rollouts")["rollouts"][0]["task_definition_arn"]}
