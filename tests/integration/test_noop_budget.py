"""The budgets of a run that has nothing to do (issue 12), asserted by counting, never by timing:
what reaches the moto server and which tasks run an AWS module. `make bench` measures the time.

Both paths of such a run have their budget: site.yml's deployment check deciding alone that nothing
differs (the roles skipped), and every role running anyway (ecsrds_skip_when_in_sync: false), where
each step's module runs once and reads what it compares once.

Each test converges its environment once and then only reads it (no-op re-runs and --check).
"""

from __future__ import annotations

import collections

import pytest
import yaml

from support.sandbox import REPO_ROOT, run_playbook

from support.demo_environment import build_demo_environment

SITE = REPO_ROOT / "site.yml"
AWS_MODULE_PREFIXES = ("ecsrds.connect.", "amazon.aws.", "community.aws.")

# The targets of issue 12 for the demo environment, on both paths.
MAX_CALLS = 16
MAX_CALLS_WITHOUT_ROTATION = 11
MAX_CALLS_PER_EXTRA_SERVICE = 4
# Tasks that run an AWS module: the deployment check alone when it finds nothing to do; with every
# role running, the check and one task per step (network access, cluster, revisions, grant, rotation).
MAX_AWS_MODULE_TASKS = {True: 1, False: 6}


def site_vars(server, env, services=None, **overrides):
    variables = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
    variables["ecsrds_aws_endpoint_url"] = server.endpoint
    if services:
        variables["ecsrds_ecs_services"] = [{"name": name, "container_name": env["container"]} for name in services]
    variables.update(overrides)
    return variables


def converge(server, variables):
    first = run_playbook(server.endpoint, SITE, extra_vars=variables)
    assert first.rc == 0, first.stdout[-3000:]


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


def add_services(moto, env, count):
    """More services like the demo's, running the same revision in the same subnets and group."""
    ecs = moto.client("ecs")
    names = [f"{env['service']}-{number}" for number in range(2, count + 2)]
    for name in names:
        ecs.create_service(cluster=env["cluster"], serviceName=name, taskDefinition=env["task_definition_arn"], desiredCount=1,
                           launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                               "subnets": env["subnet_ids"], "securityGroups": [env["service_security_group_id"]], "assignPublicIp": "DISABLED"}})
    return names


@pytest.mark.parametrize("skip_when_in_sync", [True, False], ids=["deployment-check-alone", "every-role"])
def test_a_run_with_nothing_to_do_stays_within_its_budget_also_in_check_mode(moto, skip_when_in_sync):
    env = build_demo_environment(moto.client)
    variables = site_vars(moto, env, ecsrds_skip_when_in_sync=skip_when_in_sync)
    converge(moto, variables)
    for check in (False, True):
        run, calls = measured(moto, variables, check=check)
        mode = ("--check" if check else "re-run", "skipping the roles" if skip_when_in_sync else "every role")
        writes = [c for c in calls if c.is_write]
        job_calls = without_rotation(calls, {env["execution_role_name"]})
        assert run.changed == 0, (mode, [t.name for t in run.tasks if t.changed])
        assert writes == [], (mode, by_operation(writes))
        assert len(calls) <= MAX_CALLS, (mode, len(calls), by_operation(calls))
        assert len(job_calls) <= MAX_CALLS_WITHOUT_ROTATION, (mode, len(job_calls), by_operation(job_calls))
        assert len(aws_module_tasks(run)) <= MAX_AWS_MODULE_TASKS[skip_when_in_sync], (mode, aws_module_tasks(run))
        # The preflight guards a rollout; with none about to happen it does not run.
        assert not any(t.action.endswith("ecs_secrets_preflight") and not t.result.get("skipped") for t in run.tasks), mode


def test_each_extra_service_costs_a_bounded_number_of_calls_and_no_extra_task(moto):
    env = build_demo_environment(moto.client)
    extra = add_services(moto, env, 4)
    everyone = [env["service"]] + extra
    # Without the rotation wiring, naming fewer services changes nothing: the same database, group
    # and execution role serve them all, so one converged environment gives both no-op runs.
    converge(moto, site_vars(moto, env, everyone, ecsrds_redeploy_on_rotation=False))
    one_run, one = measured(moto, site_vars(moto, env, [env["service"]], ecsrds_redeploy_on_rotation=False))
    five_run, five = measured(moto, site_vars(moto, env, everyone, ecsrds_redeploy_on_rotation=False))
    assert one_run.changed == 0 and five_run.changed == 0
    assert [c for c in five if c.is_write] == []
    per_extra_service = (len(five) - len(one)) / len(extra)
    assert per_extra_service <= MAX_CALLS_PER_EXTRA_SERVICE, (by_operation(one), by_operation(five))
    # Services are handled together: one task per step, whatever their number.
    assert aws_module_tasks(five_run) == aws_module_tasks(one_run)
