"""site.yml's one-pass deployment check (deployment_check with role_inputs, module_utils/deployment.py).

It asks each step what the role would ask by construction: both derive the step's options with the
same function (module_utils, through the roles' filters). These tests run site.yml in --check on a
converged environment with inputs that leave a step something to do: the check names that step and
the roles plan its change. Then: when nothing differs the roles are skipped and the same summary is
shown, and a change made outside Ansible is seen and repaired.

The converged environment is built once for this module (its own moto server) and only read, but by
the last test, which puts back what it changed.
"""

from __future__ import annotations

import collections
import json

import pytest
import yaml

from support.sandbox import REPO_ROOT, module_server, run_playbook, write_calls

from support.demo_environment import build_demo_environment

SITE = REPO_ROOT / "site.yml"
RENDER = REPO_ROOT / "playbooks" / "render.yml"
STEP_MODULES = {
    "network": "ecsrds.connect.ecs_network_access",
    "database": "ecsrds.connect.rds_aurora_managed_secret",
    "task_definitions": "ecsrds.connect.ecs_taskdef_secret_env",
    "grant": "ecsrds.connect.ecs_execution_role_grant",
    "rotation": "ecsrds.connect.ecs_redeploy_on_rotation",
}
AWS_MODULE_PREFIXES = ("ecsrds.connect.", "amazon.aws.", "community.aws.")


# The world below is built once and only read: a server of this module's own.
moto_server = pytest.fixture(scope="module", name="moto_server")(module_server)


@pytest.fixture(scope="module")
def converged(moto_server):
    env = build_demo_environment(moto_server.client)
    first = run_playbook(moto_server.endpoint, SITE, extra_vars=site_vars(moto_server))
    assert first.rc == 0, first.stdout[-3000:]
    return env


def site_vars(server, **overrides):
    variables = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
    variables["ecsrds_aws_endpoint_url"] = server.endpoint
    variables.update(overrides)
    return variables


def the_check(run):
    """The site-level inputs check's plan (the roles' own checks are skipped under site.yml)."""
    found = [t.result for t in run.tasks if t.action == "ecsrds.connect.deployment_check" and not t.result.get("skipped")]
    assert len(found) == 1, [t.name for t in run.tasks]
    return found[0]["plan"]


def summary(run):
    [task] = [t for t in run.tasks if t.name == "Summary" and not t.result.get("skipped")]
    return dict(task.result["msg"])


def aws_module_tasks(run):
    return [t.name for t in run.tasks if t.action.startswith(AWS_MODULE_PREFIXES) and not t.result.get("skipped")]


# Each leaves one step something to do; the check compares every step up to that one.
VARIANTS = [
    # The last step: every step's options are compared.
    pytest.param({"ecsrds_db_secret_rotation_days": 30}, "rotation", id="rotation-schedule"),
    pytest.param({"ecsrds_redeploy_on_rotation": False}, "rotation", id="rotation-off"),
    pytest.param({"ecsrds_db_ingress_source": "cidr", "ecsrds_db_ingress_cidrs": ["10.0.0.0/16"]}, "network", id="cidr-ingress"),
    pytest.param({"ecsrds_tags": {"project": "ecsrds-demo", "team": "payments"}, "ecsrds_secretsmanager_endpoint": "always"},
                 "network", id="tags-endpoint-always"),
    pytest.param({"ecsrds_db_instance_class": "db.r6g.large", "ecsrds_db_deletion_protection": True}, "database", id="instance-class"),
]


@pytest.mark.parametrize("overrides, first_change", VARIANTS)
def test_the_check_stops_at_the_first_step_with_something_to_do_and_the_roles_plan_it(moto_server, converged, overrides, first_change):
    run = run_playbook(moto_server.endpoint, SITE, extra_vars=site_vars(moto_server, **overrides), check=True)
    assert run.rc == 0, run.stdout[-3000:]
    plan = the_check(run)
    assert plan["in_sync"] is False and plan["reason"].startswith(f"{first_change}: "), plan["reason"]
    compared = [step["step"] for step in plan["steps"]]
    assert compared[-1] == first_change and compared == list(STEP_MODULES)[: len(compared)]
    # The roles then ran, and the step the check named plans a change (its options are derived by the
    # same function in both: module_utils, through the roles' filters).
    changed = {t.action for t in run.tasks if t.changed}
    assert STEP_MODULES[first_change] in changed, changed


UNRELATED_SECRET = "an-inventory-password-4f1c"


def test_nothing_to_do_skips_the_roles_and_publishes_what_they_would(moto_server, converged):
    for check in (False, True):
        moto_server.start_recording()
        # An inventory variable that only shares a role's prefix is not a role input: it never reaches the check.
        skipped = run_playbook(moto_server.endpoint, SITE, extra_vars=site_vars(moto_server, database_password=UNRELATED_SECRET), check=check)
        calls = moto_server.stop_recording()
        assert UNRELATED_SECRET not in skipped.stdout + skipped.stderr
        full = run_playbook(moto_server.endpoint, SITE, extra_vars=site_vars(moto_server, ecsrds_skip_when_in_sync=False), check=check)
        assert skipped.rc == 0 and full.rc == 0, (skipped.stdout[-2000:], full.stdout[-2000:])
        assert skipped.changed == 0 and full.changed == 0 and write_calls(calls) == []
        assert the_check(skipped)["in_sync"] is True
        # One description of each resource per run: no request is repeated.
        asked = collections.Counter((c.service, c.operation, json.dumps(c.params, sort_keys=True, default=str)) for c in calls)
        assert [request for request, count in asked.items() if count > 1] == []
        # One module process read everything; the full run ran each step's module.
        assert aws_module_tasks(skipped) == ["Check the inputs before touching AWS"]
        assert set(STEP_MODULES.values()) <= {t.action for t in full.tasks if not t.result.get("skipped")}
        published, by_roles = summary(skipped), summary(full)
        assert published.pop("deployment_check") == "nothing to do: the roles were skipped"
        assert by_roles.pop("deployment_check") == "not asked"
        assert published == by_roles


def test_nothing_to_do_still_runs_the_log_check_when_asked(moto_server, converged):
    # A line no task logged: the check is in sync, and the log check after it fails the run.
    run = run_playbook(moto_server.endpoint, SITE, extra_vars=site_vars(
        moto_server, ecsrds_verify_log_pattern="no task ever logs this", service_verify_log_timeout=1))
    assert run.rc != 0 and the_check(run)["in_sync"] is True
    [failed] = [t for t in run.tasks if t.result.get("failed")]
    assert failed.action == "ecsrds.connect.cloudwatch_logs_expect"
    assert aws_module_tasks(run) == ["Check the inputs before touching AWS", failed.name]


def test_render_gives_a_pipelines_file_what_the_service_runs_and_reads_only(moto_server, converged, tmp_path):
    """The pipeline's side (playbooks/render.yml): the task definition JSON an application keeps in its
    repository, without the wiring, merged with exactly what site.yml put on the service's revision."""
    ecs = moto_server.client("ecs")
    running = ecs.describe_services(cluster=converged["cluster"], services=[converged["service"]])["services"][0]["taskDefinition"]
    wired = ecs.describe_task_definition(taskDefinition=running)["taskDefinition"]["containerDefinitions"][0]
    # As `aws ecs describe-task-definition` prints the revision before the wiring, which a repository keeps.
    kept = ecs.describe_task_definition(taskDefinition=converged["task_definition_arn"])
    kept.pop("ResponseMetadata", None)
    path = tmp_path / "task-definition.json"
    path.write_text(json.dumps(kept, default=str, indent=2))
    variables = site_vars(moto_server, ecsrds_render_task_definition_file=str(path))

    moto_server.start_recording()
    check = run_playbook(moto_server.endpoint, RENDER, extra_vars=variables, check=True, diff=True)
    unchanged = path.read_text()
    run = run_playbook(moto_server.endpoint, RENDER, extra_vars=variables)
    again = run_playbook(moto_server.endpoint, RENDER, extra_vars=variables)
    calls = moto_server.stop_recording()
    assert check.rc == 0 and check.changed == 1, check.stdout[-3000:]
    assert unchanged == json.dumps(kept, default=str, indent=2)
    assert run.rc == 0 and run.changed == 1, run.stdout[-3000:]
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    # Reads only: the cluster (amazon.aws.rds_cluster_info reads its tags too); nothing registered, nothing deployed.
    assert write_calls(calls) == [] and {c.operation for c in calls} == {"DescribeDBClusters", "ListTagsForResource"}, calls
    rendered = json.loads(path.read_text())["taskDefinition"]["containerDefinitions"][0]
    assert {e["name"]: e["value"] for e in rendered["environment"]} == {e["name"]: e["value"] for e in wired["environment"]}
    assert sorted(rendered["secrets"], key=lambda s: s["name"]) == sorted(wired["secrets"], key=lambda s: s["name"])
    assert rendered["image"] == wired["image"]

    # A name the playbook does not know, and a cluster that is not there: refused, the file untouched.
    typo = run_playbook(moto_server.endpoint, RENDER, extra_vars=dict(variables, ecsrds_render_task_definiton_file="x.json"))
    assert typo.rc != 0 and "ecsrds_render_task_definiton_file" in typo.stdout and "ecsrds_render_task_definition_file" in typo.stdout
    missing = run_playbook(moto_server.endpoint, RENDER, extra_vars=dict(variables, ecsrds_db_cluster_identifier="no-such-db"))
    assert missing.rc != 0 and "'no-such-db' was not found: run site.yml first" in missing.stdout


def test_a_change_made_outside_ansible_is_seen_and_repaired(moto_server, converged):
    ec2, iam = moto_server.client("ec2"), moto_server.client("iam")
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["demo-rds-sg"]}])["SecurityGroups"][0]
    ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    role = converged["execution_role_name"]
    [policy] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    iam.delete_role_policy(RoleName=role, PolicyName=policy)

    repair = run_playbook(moto_server.endpoint, SITE, extra_vars=site_vars(moto_server))
    assert repair.rc == 0, repair.stdout[-3000:]
    # The first step that differs is named, and the roles' steps run (in one process) and put both back.
    assert the_check(repair)["reason"].startswith("network: allow 5432"), the_check(repair)["reason"]
    assert repair.changed_steps == ["network", "grant"], [t.name for t in repair.tasks if t.changed]
    restored = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]
    assert [(p["FromPort"], [g["GroupId"] for g in p["UserIdGroupPairs"]]) for p in restored["IpPermissions"]] == [
        (5432, [converged["service_security_group_id"]])]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == [policy]

    again = run_playbook(moto_server.endpoint, SITE, extra_vars=site_vars(moto_server))
    assert again.rc == 0 and again.changed == 0 and the_check(again)["in_sync"] is True
