"""The budgets of a run that has nothing to do (issue 12), asserted by counting, never by timing:
what reaches the moto server and which tasks run an AWS module. `make bench` measures the time.

One converged demo environment (a moto server of this module's own) is shared by the tests here;
they only read it: a no-op re-run and --check change nothing.
"""

from __future__ import annotations

import collections
import os
import sys

import pytest
import yaml

from sandbox import REPO_ROOT, MotoServer, run_playbook, safe_aws_env

sys.path.insert(0, str(REPO_ROOT / "tests" / "demo"))
from environment import build_demo_environment  # noqa: E402

SITE = REPO_ROOT / "site.yml"
AWS_MODULE_PREFIXES = ("ecsrds.connect.", "amazon.aws.", "community.aws.")

# The targets of issue 12 for the demo environment.
MAX_CALLS = 16
MAX_CALLS_WITHOUT_ROTATION = 11
MAX_AWS_MODULE_TASKS = 10
MAX_CALLS_PER_EXTRA_SERVICE = 4


@pytest.fixture(scope="module")
def moto_server():
    """A server of this module's own: the environment is converged once and then only read."""
    server = MotoServer()
    os.environ.update(safe_aws_env(server.endpoint))
    yield server
    server.stop()


def site_vars(server, env, services=None):
    variables = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
    variables["ecsrds_aws_endpoint_url"] = server.endpoint
    if services:
        variables["ecsrds_ecs_services"] = [{"name": name, "container_name": env["container"]} for name in services]
    return variables


@pytest.fixture(scope="module")
def converged(moto_server):
    env = build_demo_environment(moto_server.client)
    variables = site_vars(moto_server, env)
    first = run_playbook(moto_server.endpoint, SITE, extra_vars=variables)
    assert first.rc == 0, first.stdout[-3000:]
    return env, variables


def measured(server, variables, check=False):
    server.start_recording()
    run = run_playbook(server.endpoint, SITE, extra_vars=variables, check=check)
    calls = server.stop_recording()
    assert run.rc == 0, run.stdout[-3000:]
    return run, calls


def aws_module_tasks(run):
    return [t.name for t in run.tasks if t.action.startswith(AWS_MODULE_PREFIXES) and not t.result.get("skipped")]


def without_rotation(calls, execution_roles):
    """The calls of everything but the rotation wiring: its EventBridge rule and Step Functions state
    machine, and the IAM reads of its own two roles (the job's IAM reads are of the execution roles)."""
    return [c for c in calls
            if c.service not in ("events", "states")
            and not (c.service == "iam" and c.params.get("RoleName") not in execution_roles)]


def by_operation(calls):
    return dict(collections.Counter(f"{c.service}:{c.operation}" for c in calls))


@pytest.mark.parametrize("check", [False, True], ids=["re-run", "check"])
def test_a_run_with_nothing_to_do_stays_within_its_budget(moto_server, converged, check):
    env, variables = converged
    run, calls = measured(moto_server, variables, check=check)
    writes = [c for c in calls if c.is_write]
    job_calls = without_rotation(calls, {env["execution_role_name"]})
    assert run.changed == 0, [t.name for t in run.tasks if t.changed]
    assert writes == [], by_operation(writes)
    assert len(calls) <= MAX_CALLS, by_operation(calls)
    assert len(job_calls) <= MAX_CALLS_WITHOUT_ROTATION, by_operation(job_calls)
    assert len(aws_module_tasks(run)) <= MAX_AWS_MODULE_TASKS, aws_module_tasks(run)
    # The preflight guards a rollout; with none about to happen it does not run.
    assert not any("preflight" in t.action for t in run.tasks if not t.result.get("skipped"))
