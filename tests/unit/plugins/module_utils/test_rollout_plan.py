"""The service role's one decision of which services roll out (rollout_plan), and what it publishes."""

from __future__ import annotations

from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import rollout_plan

SERVICES = [{"name": "api", "container_name": "app"}, {"name": "worker", "container_name": "app"}]
OLD, NEW = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3", "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:4"


def _registered(arn, changed):
    return {"task_definition_arn": arn, "revision": int(arn.rsplit(":", 1)[1]) if arn else None, "changed": changed}


def test_a_run_that_changes_nothing_rolls_nothing_out():
    running = {"api": {"task_definition": NEW, "settled": True}, "worker": {"task_definition": NEW, "settled": True}}
    plan = rollout_plan(SERVICES, running, [_registered(NEW, False)] * 2)
    assert [p["roll_out"] for p in plan] == [False, False]
    assert [p["deployed"] for p in plan] == [False, False]


def test_a_new_revision_or_an_unsettled_rollout_is_rolled_out():
    running = {"api": {"task_definition": OLD, "settled": True}, "worker": {"task_definition": NEW, "settled": False}}
    plan = rollout_plan(SERVICES, running, [_registered(NEW, True), _registered(NEW, False)])
    assert [p["roll_out"] for p in plan] == [True, True]
    assert plan[0]["previous_task_definition_arn"] == OLD and plan[0]["revision"] == 4


def test_check_mode_plans_the_rollout_of_a_revision_not_registered_yet():
    running = {"api": {"task_definition": OLD, "settled": True}}
    unregistered = [_registered(None, True)]
    assert rollout_plan(SERVICES[:1], running, unregistered, check_mode=True)[0]["roll_out"] is True
    # Outside check mode a missing ARN means nothing was registered: nothing to roll out.
    assert rollout_plan(SERVICES[:1], running, unregistered)[0]["roll_out"] is False
    # Nothing could be registered (no database yet): nothing is rolled out, and the change is reported as planned.
    bare = rollout_plan(SERVICES[:1], running, None, check_mode=True)[0]
    assert bare["roll_out"] is False and bare["deployed"] is True


def test_deployments_fill_in_what_was_deployed():
    running = {"api": {"task_definition": OLD, "settled": True}, "worker": {"task_definition": NEW, "settled": True}}
    registered = [_registered(NEW, True), _registered(NEW, False)]
    plan = rollout_plan(SERVICES, running, registered)
    deployments = [{"item": plan[0], "deployed": True, "changed": True}]
    done = rollout_plan(SERVICES, running, registered, deployments=deployments)
    assert [(p["service"], p["deployed"]) for p in done] == [("api", True), ("worker", False)]
    assert set(done[0]) == {"service", "task_definition_arn", "previous_task_definition_arn", "revision", "deployed"}
