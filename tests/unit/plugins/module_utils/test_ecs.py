"""Task definition logic of plugins/module_utils/ecs.py without AWS: validation of the options,
merging a container's variables, normalising and comparing revisions, and the register path
(check mode, lost responses, throttling) against an in-memory fake ECS client."""

from __future__ import annotations

import copy
import json
import time
from typing import Any, Dict, List, Optional

import botocore.session
import pytest
from botocore.exceptions import ClientError

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.roles import role_inputs
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import (
    ContainerVarsRequest,
    TaskDefinitionEnv,
    build_register_request,
    build_request,
    build_tags,
    covers,
    merge_pairs,
    normalise,
    plan_container,
    register_parameters,
    render_options,
    run_render,
    stringify_scalar,
    same_content,
    task_definition_result,
    unwire_plan,
    value_from_error,
    taskdef_options,
)

ECS_MODEL = botocore.session.get_session().get_service_model("ecs")
ALLOWED = register_parameters(ECS_MODEL)
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-abc-AbCdEf"

DESCRIBED: Dict[str, Any] = {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
    "family": "web",
    "revision": 3,
    "status": "ACTIVE",
    "compatibilities": ["EC2", "FARGATE"],
    "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.task-iam-role"}],
    "registeredAt": "2026-11-25T08:00:00Z",
    "registeredBy": "arn:aws:iam::123456789012:root",
    "requiresCompatibilities": ["FARGATE"],
    "networkMode": "awsvpc",
    "cpu": "256",
    "memory": "512",
    "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
    "placementConstraints": [],
    "volumes": [],
    "containerDefinitions": [
        {
            "name": "app",
            "image": "web:1",
            "cpu": 0,
            "essential": True,
            "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}, {"name": "DB_PASSWORD", "value": "changeme"}],
            "mountPoints": [],
            "dockerLabels": {"com.example.Owner": "payments"},
        },
        {"name": "sidecar", "image": "otel", "environment": [], "secrets": [{"name": "S", "valueFrom": "/sidecar/s"}]},
    ],
}


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value_from",
    [
        SECRET,
        f"{SECRET}:password::",
        f"{SECRET}:password:AWSPREVIOUS:",
        f"{SECRET}:::0a1b2c3d-1111-2222-3333-444455556666",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db/app",  # partial ARN
        "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:db-AbCdEf",
        "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db-AbCdEf:password::",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/web/api-token",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/token",
        "/web/api-token",
        "api_token.v2",
    ],
)
def test_valid_value_from(value_from):
    assert value_from_error(value_from) is None


@pytest.mark.parametrize(
    "value_from",
    [
        "",
        None,
        42,
        f"{SECRET}:password",  # json key without the two version fields
        f"{SECRET}:password:AWSCURRENT",
        f"{SECRET}:password:::extra",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret",
        "arn:aws:secretsmanager:us-east-1:1234:secret:db",
        "arn:aws:secretsmanager:useast1:123456789012:secret:db",
        "arn:aws:ssm:us-east-1:123456789012:param/web",
        "arn:aws:ssm:us-east-1:123456789012:parameter/",
        "arn:aws:s3:::bucket/key",
        "my token",
        "secretsmanager:db",
    ],
)
def test_malformed_value_from(value_from):
    assert value_from_error(value_from)


@pytest.mark.parametrize("value,expected", [("x", "x"), (5432, "5432"), (1.5, "1.5"), (True, "true"), (False, "false"), ("", "")])
def test_scalars_become_strings(value, expected):
    assert stringify_scalar("environment", "V", value) == expected


@pytest.mark.parametrize("value", [{"a": 1}, ["a"], None])
def test_non_scalars_are_refused_naming_option_and_variable(value):
    with pytest.raises(EcsRdsError) as err:
        stringify_scalar("environment", "HOSTS", value)
    assert "environment" in err.value.message and "'HOSTS'" in err.value.message


def test_secret_keys_become_json_key_references():
    request = build_request(environment={"PORT": 5432}, secret_arn=SECRET, secret_keys={"DB_USER": "username", "DB_PASSWORD": "password"})
    assert request.environment == {"PORT": "5432"}
    assert request.secrets == {"DB_USER": f"{SECRET}:username::", "DB_PASSWORD": f"{SECRET}:password::"}
    both = build_request(secrets={"TOKEN": "/web/token"}, secret_arn=SECRET, secret_keys={"DB_USER": "username"})
    assert both.secrets == {"TOKEN": "/web/token", "DB_USER": f"{SECRET}:username::"}


def test_unset_options_leave_lists_alone():
    request = build_request(environment={"A": "1"})
    assert request.secrets is None
    assert build_request().environment is None


@pytest.mark.parametrize(
    "kwargs,words",
    [
        (dict(environment={"X": "1"}, secrets={"X": "/p"}), ["environment and secrets", "X"]),
        (dict(environment={"X": "1"}, secret_arn=SECRET, secret_keys={"X": "k"}), ["environment and secret_keys", "X"]),
        (dict(secrets={"X": "/p"}, secret_arn=SECRET, secret_keys={"X": "k"}), ["secrets and secret_keys", "X"]),
        (dict(secret_keys={"X": "k"}), ["secret_keys needs secret_arn"]),
        (dict(secret_arn=SECRET), ["secret_arn needs secret_keys"]),
        (dict(secret_arn=f"{SECRET}:password::", secret_keys={"X": "k"}), ["secret_arn"]),
        (dict(secret_arn="arn:aws:ssm:us-east-1:123456789012:parameter/x", secret_keys={"X": "k"}), ["secret_arn"]),
        (dict(secret_arn=SECRET, secret_keys={"X": "a:b"}), ["secret_keys", "'X'"]),
        (dict(secret_arn=SECRET, secret_keys={"X": ""}), ["secret_keys", "'X'"]),
        (dict(secrets={"X": "not valid"}), ["secrets:", "'X'"]),
        (dict(environment={"": "1"}), ["environment"]),
        (dict(environment={"L": [1]}), ["environment:", "'L'"]),
    ],
)
def test_bad_options_name_the_option(kwargs, words):
    with pytest.raises(EcsRdsError) as err:
        build_request(**kwargs)
    for word in words:
        assert word in err.value.message


def test_tags_are_stringified_and_reserved_keys_refused():
    assert build_tags({"n": 1, "flag": True}) == {"n": "1", "flag": "true"}
    assert build_tags(None) is None
    with pytest.raises(EcsRdsError, match="tags"):
        build_tags({"aws:cloudformation:stack-name": "x"})


# --- merging ----------------------------------------------------------------------------------


def test_merge_keeps_order_updates_in_place_and_appends_sorted():
    current = [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]
    merged = merge_pairs(current, "value", {"Z": "26", "A": "one", "C": "3"}, purge=False)
    assert merged == [{"name": "B", "value": "2"}, {"name": "A", "value": "one"}, {"name": "C", "value": "3"}, {"name": "Z", "value": "26"}]
    assert current == [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]


def test_merge_purge_and_duplicates():
    current = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "A", "value": "old"}]
    assert merge_pairs(current, "value", {"A": "new"}, purge=True) == [{"name": "A", "value": "new"}]
    assert merge_pairs(current, "value", {}, purge=True) == []
    assert merge_pairs(current, "value", {"C": "3"}, purge=False) == current + [{"name": "C", "value": "3"}]


def test_plan_moves_a_plain_variable_to_a_secret_and_back():
    to_secret = plan_container(DESCRIBED, {}, "app", build_request(secret_arn=SECRET, secret_keys={"DB_PASSWORD": "password"}), None)
    assert [p["name"] for p in to_secret.environment_after] == ["B", "A"]
    assert to_secret.secrets_after == [{"name": "DB_PASSWORD", "valueFrom": f"{SECRET}:password::"}]
    assert to_secret.changed

    sidecar_back = plan_container(DESCRIBED, {}, "sidecar", build_request(environment={"S": "plain"}), None)
    assert sidecar_back.secrets_after == [] and sidecar_back.environment_after == [{"name": "S", "value": "plain"}]


def test_plan_without_difference_is_unchanged():
    same = plan_container(DESCRIBED, {"team": "x", "aws:ecs:cluster": "c"}, "app", build_request(environment={"A": 1, "B": "2"}), {"team": "x"})
    assert not same.changed
    assert same.tags_after == {"team": "x"}
    assert not plan_container(DESCRIBED, {}, "app", build_request(secrets={}), None).changed


def test_plan_purge_counts_as_change():
    purge = plan_container(DESCRIBED, {}, "app", build_request(environment={"A": "1"}, purge_environment=True), None)
    assert purge.changed and purge.environment_after == [{"name": "A", "value": "1"}]
    # purge_environment without environment: nothing is said about the list, so it is left alone.
    assert not plan_container(DESCRIBED, {}, "app", build_request(purge_environment=True), None).changed


def test_tags_alone_never_make_a_revision():
    # A revision an application's pipeline registered (our variables copied along, none of our tags)
    # is wired as asked: nothing to register, nothing to deploy.
    pipelines = plan_container(DESCRIBED, {"team": "x"}, "app", build_request(environment={"A": "1"}), {"release": "1", "managed": "true"})
    assert not pipelines.changed
    # The tags still go with a revision that is registered for a change of variables.
    wired = plan_container(DESCRIBED, {"team": "x"}, "app", build_request(environment={"NEW": "1"}), {"release": "1"})
    assert wired.changed and wired.tags_after == {"team": "x", "release": "1"}
    diff = wired.diff("app")
    assert diff["before"]["tags"] == {"team": "x"} and diff["after"]["tags"] == {"team": "x", "release": "1"}
    assert diff["before"]["environment"] == {"B": "2", "A": "1", "DB_PASSWORD": "<redacted>"}


# --- taking the wiring out ---------------------------------------------------------------------

WIRING = ["DATABASE_URL", "DATABASE_DRIVER_CLASS", "DATABASE_USERNAME", "DATABASE_PASSWORD"]
OUR_TAGS = {"ecsrds.connect/managed": "true", "ecsrds.connect/created-by": "shop-db"}


def _wired(image, origin_arn=None, password_was_plain=False):
    """DESCRIBED's app container with the service role's wiring, as ecs_taskdef_secret_env leaves it."""
    revision = copy.deepcopy(DESCRIBED)
    app = revision["containerDefinitions"][0]
    app["image"] = image
    app["environment"] = [p for p in app["environment"] if p["name"] != "DATABASE_PASSWORD"] + [
        {"name": "DATABASE_URL", "value": "jdbc:postgresql://db:5432/postgres"}, {"name": "DATABASE_DRIVER_CLASS", "value": "org.postgresql.Driver"}]
    app["secrets"] = [{"name": "DATABASE_USERNAME", "valueFrom": f"{SECRET}:username::"}, {"name": "DATABASE_PASSWORD", "valueFrom": f"{SECRET}:password::"}]
    tags = dict(OUR_TAGS, team="payments", **({"ecsrds.connect/original-task-definition": origin_arn} if origin_arn else {}))
    return revision, tags


def test_unwiring_keeps_the_image_and_everything_but_the_wiring():
    # A pipeline's release since the wiring: image web:2, no tags of ours, no origin known.
    running, _tags = _wired("web:2")
    plan = unwire_plan(running, {"team": "payments"}, None, "app", WIRING)
    request = build_register_request(running, plan, ALLOWED)
    app = request["containerDefinitions"][0]
    assert app["image"] == "web:2"
    assert pairs(app["environment"]) == {"B": "2", "A": "1", "DB_PASSWORD": "changeme"}
    assert app["secrets"] == [] and request["containerDefinitions"][1] == running["containerDefinitions"][1]
    assert request["tags"] == [{"key": "team", "value": "payments"}]


def test_unwiring_puts_back_what_the_origin_had_and_drops_only_our_tags():
    origin = copy.deepcopy(DESCRIBED)
    origin["containerDefinitions"][0]["environment"].append({"name": "DATABASE_PASSWORD", "value": "plain-before"})
    running, tags = _wired("web:1", origin_arn=origin["taskDefinitionArn"])
    plan = unwire_plan(running, tags, origin, "app", WIRING)
    assert pairs(plan.environment_after) == {"B": "2", "A": "1", "DB_PASSWORD": "changeme", "DATABASE_PASSWORD": "plain-before"}
    assert plan.secrets_after == [] and plan.tags_after == {"team": "payments"}
    # The value put back is never shown: it was a plain password once.
    assert plan.diff("app")["after"]["environment"]["DATABASE_PASSWORD"] == "<redacted>"
    # Nothing else changed since the wiring: the result is the origin itself, tags aside.
    assert same_content(origin, build_register_request(running, plan, ALLOWED), ALLOWED)
    # A later image is not, nor is a result that lost a variable the origin had.
    later, later_tags = _wired("web:2", origin_arn=origin["taskDefinitionArn"])
    assert not same_content(origin, build_register_request(later, unwire_plan(later, later_tags, origin, "app", WIRING), ALLOWED), ALLOWED)
    assert not same_content(origin, build_register_request(running, unwire_plan(running, tags, None, "app", WIRING), ALLOWED), ALLOWED)


def test_a_revision_without_the_wiring_needs_nothing():
    assert unwire_plan(DESCRIBED, {"team": "x"}, None, "app", WIRING) is None
    with pytest.raises(EcsRdsError, match="container_name 'web'"):
        unwire_plan(DESCRIBED, {}, None, "web", WIRING)


def pairs(items):
    return {p["name"]: p.get("value", p.get("valueFrom")) for p in items}


def test_unknown_container_lists_the_existing_ones():
    with pytest.raises(EcsRdsError) as err:
        plan_container(DESCRIBED, {}, "worker", ContainerVarsRequest(), None)
    assert "container_name 'worker'" in err.value.message and "app, sidecar" in err.value.message


# --- register request and comparison ------------------------------------------------------------


def test_register_request_drops_read_only_fields_and_keeps_the_rest():
    base = copy.deepcopy(DESCRIBED)
    plan = plan_container(base, {"team": "x"}, "app", build_request(environment={"NEW": "1"}), {"mark": "y"})
    request = build_register_request(base, plan, ALLOWED)
    for read_only in ("taskDefinitionArn", "revision", "status", "compatibilities", "requiresAttributes", "registeredAt", "registeredBy"):
        assert read_only not in request
    assert set(request) <= ALLOWED
    for kept in ("family", "requiresCompatibilities", "networkMode", "cpu", "memory", "executionRoleArn", "placementConstraints", "volumes"):
        assert request[kept] == DESCRIBED[kept]
    assert request["containerDefinitions"][1] == DESCRIBED["containerDefinitions"][1]
    assert request["containerDefinitions"][0]["dockerLabels"] == {"com.example.Owner": "payments"}
    assert request["containerDefinitions"][0]["environment"][-1] == {"name": "NEW", "value": "1"}
    assert "secrets" not in request["containerDefinitions"][0]
    assert request["tags"] == [{"key": "team", "value": "x"}, {"key": "mark", "value": "y"}]
    assert base == DESCRIBED  # the base is not modified


def test_fields_the_model_allows_are_kept_even_when_unknown_to_us():
    base = dict(copy.deepcopy(DESCRIBED), futureField={"on": True}, readOnlyFuture="x")
    plan = plan_container(base, {}, "app", ContainerVarsRequest(), None)
    request = build_register_request(base, plan, ALLOWED | {"futureField"})
    assert request["futureField"] == {"on": True} and "readOnlyFuture" not in request


def test_normalised_revision_covers_the_request_it_was_registered_from():
    plan = plan_container(DESCRIBED, {}, "app", build_request(environment={"NEW": "1"}), None)
    request = build_register_request(DESCRIBED, plan, ALLOWED)
    # What ECS would describe afterwards: defaults filled in, lists reordered or left out.
    described = copy.deepcopy(request)
    described.update(taskDefinitionArn="arn:...:web:4", revision=4, status="ACTIVE", placementConstraints=None)
    described["containerDefinitions"][0]["environment"].reverse()
    described["containerDefinitions"][0]["volumesFrom"] = []
    described["containerDefinitions"][1]["portMappings"] = []
    assert covers(normalise(described, ALLOWED, {}), normalise(request, ALLOWED))

    other = copy.deepcopy(described)
    other["containerDefinitions"][0]["environment"][0]["value"] = "different"
    assert not covers(normalise(other, ALLOWED, {}), normalise(request, ALLOWED))
    # Variables and tags are compared whole: one more than was sent is a different revision.
    assert not covers(normalise(described, ALLOWED, {"t": "1"}), normalise(request, ALLOWED))
    extra = copy.deepcopy(described)
    extra["containerDefinitions"][0]["environment"].append({"name": "EXTRA", "value": "x"})
    assert not covers(normalise(extra, ALLOWED, {}), normalise(request, ALLOWED))
    emptied = copy.deepcopy(request)
    emptied["containerDefinitions"][0]["environment"] = []
    assert not covers(normalise(described, ALLOWED, {}), normalise(emptied, ALLOWED))
    assert covers(normalise(emptied, ALLOWED, {}), normalise(dict(emptied, volumes=[]), ALLOWED))


def test_result_is_snake_case_except_map_keys():
    result = task_definition_result(DESCRIBED, {"Team": "x"}, ECS_MODEL)
    assert result["task_definition_arn"] == DESCRIBED["taskDefinitionArn"]
    assert result["requires_compatibilities"] == ["FARGATE"]
    assert result["container_definitions"][0]["docker_labels"] == {"com.example.Owner": "payments"}
    assert result["container_definitions"][1]["secrets"] == [{"name": "S", "value_from": "/sidecar/s"}]
    assert result["tags"] == {"Team": "x"}


# --- the register path against a fake ECS -------------------------------------------------------


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


class FakeEcs:
    """Revisions in memory; ``failures`` are raised by the next register calls, after applying the
    write when the code is a 5xx one (a response lost after AWS did the work)."""

    def __init__(self, failures: Optional[List[str]] = None) -> None:
        self.meta = type("Meta", (), {"service_model": ECS_MODEL})()
        first = copy.deepcopy(DESCRIBED)
        first.update(revision=1, taskDefinitionArn="arn:aws:ecs:us-east-1:123456789012:task-definition/web:1")
        self.revisions: List[Dict[str, Any]] = [first]
        self.tags: List[List[Dict[str, str]]] = [[{"key": "team", "value": "x"}]]
        self.failures = list(failures or [])
        self.register_calls = 0

    def describe_task_definition(self, taskDefinition: str, include=None, aws_retry: bool = False):
        for index in range(len(self.revisions) - 1, -1, -1):
            revision = self.revisions[index]
            if taskDefinition in (revision["family"], revision["taskDefinitionArn"], f"web:{revision['revision']}"):
                return {"taskDefinition": copy.deepcopy(revision), "tags": copy.deepcopy(self.tags[index])}
        raise client_error("ClientException")

    def register_task_definition(self, aws_retry: bool = False, **request):
        self.register_calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure == "ThrottlingException":
            raise client_error(failure)
        number = len(self.revisions) + 1
        revision = dict(copy.deepcopy(request), revision=number, status="ACTIVE")
        revision["taskDefinitionArn"] = f"arn:aws:ecs:us-east-1:123456789012:task-definition/web:{number}"
        tags = revision.pop("tags", [])
        self.revisions.append(revision)
        self.tags.append(tags)
        if failure:
            raise client_error(failure, 500)
        return {"taskDefinition": copy.deepcopy(revision), "tags": tags}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)


def test_check_mode_makes_no_write_call():
    ecs = FakeEcs()
    result = TaskDefinitionEnv(ecs, check_mode=True).ensure("app", build_request(environment={"NEW": "1"}), family="web")
    assert ecs.register_calls == 0
    assert result["changed"] and result["revision"] is None and result["task_definition_arn"] is None
    assert result["environment"]["NEW"] == "1"
    assert result["previous_task_definition_arn"].endswith("web:1")


def test_unchanged_request_makes_no_write_call():
    ecs = FakeEcs()
    result = TaskDefinitionEnv(ecs).ensure("app", build_request(environment={"A": "1"}), family="web", tags={"team": "x"})
    assert ecs.register_calls == 0 and not result["changed"] and result["revision"] == 1


def test_a_base_holding_none_of_the_variables_is_told_apart_from_one_with_other_values():
    ecs = FakeEcs()
    missing = TaskDefinitionEnv(ecs, check_mode=True).ensure("app", build_request(environment={"NEW": "1"}), family="web")
    changed_value = TaskDefinitionEnv(ecs, check_mode=True).ensure("app", build_request(environment={"A": "2", "NEW": "1"}), family="web")
    assert missing["changed"] and missing["wiring_missing"] is True
    assert changed_value["changed"] and changed_value["wiring_missing"] is False


def test_lost_response_adopts_the_revision_instead_of_registering_twice():
    ecs = FakeEcs(failures=["InternalFailure"])
    result = TaskDefinitionEnv(ecs).ensure("app", build_request(environment={"NEW": "1"}), family="web", tags={"mark": "y"})
    assert ecs.register_calls == 1 and len(ecs.revisions) == 2
    assert result["changed"] and result["revision"] == 2
    assert result["task_definition"]["tags"] == {"team": "x", "mark": "y"}


def test_failure_before_applying_is_sent_again():
    class RejectingOnce(FakeEcs):
        def register_task_definition(self, aws_retry=False, **request):
            if not self.register_calls:
                self.register_calls += 1
                raise client_error("ServiceUnavailable", 503)
            return super().register_task_definition(**request)

    ecs = RejectingOnce()
    result = TaskDefinitionEnv(ecs).ensure("app", build_request(environment={"NEW": "1"}), family="web")
    assert len(ecs.revisions) == 2 and result["revision"] == 2


def test_throttling_is_retried_once_registered():
    ecs = FakeEcs(failures=["ThrottlingException", "ThrottlingException"])
    result = TaskDefinitionEnv(ecs).ensure("app", build_request(environment={"NEW": "1"}), family="web")
    assert ecs.register_calls == 3 and len(ecs.revisions) == 2 and result["revision"] == 2


def test_client_error_is_reported_without_retry():
    ecs = FakeEcs(failures=["ClientException"])
    ecs.failures = []

    def refuse(aws_retry=False, **request):
        ecs.register_calls += 1
        raise client_error("ClientException")

    ecs.register_task_definition = refuse
    with pytest.raises(EcsRdsError, match="Failed to register"):
        TaskDefinitionEnv(ecs).ensure("app", build_request(environment={"NEW": "1"}), family="web")
    assert ecs.register_calls == 1


def test_unknown_family_and_revision_name_the_option():
    ecs = FakeEcs()
    with pytest.raises(EcsRdsError, match="^family: task definition 'api'"):
        TaskDefinitionEnv(ecs).ensure("app", ContainerVarsRequest(), family="api")
    with pytest.raises(EcsRdsError, match="^task_definition: task definition 'web:9'"):
        TaskDefinitionEnv(ecs).ensure("app", ContainerVarsRequest(), task_definition="web:9")
    with pytest.raises(EcsRdsError, match="belongs to family 'web'"):
        TaskDefinitionEnv(ecs).ensure("app", ContainerVarsRequest(), family="api", task_definition="web:1")
    assert ecs.register_calls == 0


def test_pinned_base_reuses_an_identical_latest_revision_but_not_a_richer_one():
    ecs = FakeEcs()
    env = TaskDefinitionEnv(ecs)
    first = env.ensure("app", build_request(environment={"NEW": "1"}), task_definition="web:1")
    assert first["changed"] and first["revision"] == 2
    again = env.ensure("app", build_request(environment={"NEW": "1"}), task_definition="web:1")
    assert not again["changed"] and again["revision"] == 2 and ecs.register_calls == 1
    assert again["previous_task_definition_arn"].endswith("web:1")
    # In check mode too: nothing would be registered.
    assert not TaskDefinitionEnv(ecs, check_mode=True).ensure("app", build_request(environment={"NEW": "1"}), task_definition="web:1")["changed"]

    ecs.revisions[-1]["pidMode"] = "task"  # the latest now has something the pinned base lacks
    third = env.ensure("app", build_request(environment={"NEW": "1"}), task_definition="web:1")
    assert third["changed"] and third["revision"] == 3 and ecs.register_calls == 2


def test_a_malformed_value_from_is_not_repeated_in_the_error():
    with pytest.raises(EcsRdsError) as err:
        build_request(secrets={"DB_PASSWORD": "pasted value: hunter2!"})
    assert "hunter2" not in str(err.value) and "'DB_PASSWORD'" in str(err.value)


def test_origin_tag_records_the_base_once_and_explicit_tags_win():
    from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import with_origin_tag

    base = {"taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/web:3"}
    assert with_origin_tag({"a": "1"}, "origin", base, {}) == {"a": "1", "origin": base["taskDefinitionArn"]}
    assert with_origin_tag(None, "origin", base, {}) == {"origin": base["taskDefinitionArn"]}
    # A base that already records its origin keeps it: the first revision of the line stays.
    assert with_origin_tag({"a": "1"}, "origin", base, {"origin": "arn:...:web:1"}) == {"a": "1"}
    assert with_origin_tag({"origin": "mine"}, "origin", base, {}) == {"origin": "mine"}
    assert with_origin_tag(None, None, base, {}) is None


def test_origin_tag_is_written_once_along_a_line_of_revisions():
    ecs = FakeEcs()
    first = TaskDefinitionEnv(ecs).ensure("app", build_request(environment={"NEW": "1"}), family="web", origin_tag="origin")
    assert first["task_definition"]["tags"]["origin"].endswith("web:1")
    second = TaskDefinitionEnv(ecs).ensure("app", build_request(environment={"NEW": "2"}), family="web", origin_tag="origin")
    assert second["revision"] == 3 and second["task_definition"]["tags"]["origin"].endswith("web:1")
    again = TaskDefinitionEnv(ecs).ensure("app", build_request(environment={"NEW": "2"}), family="web", origin_tag="origin")
    assert not again["changed"] and ecs.register_calls == 2


def test_secrets_without_an_execution_role_fail_before_registering():
    ecs = FakeEcs()
    del ecs.revisions[0]["executionRoleArn"]
    request = build_request(secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf", secret_keys={"DB_PASSWORD": "password"})
    with pytest.raises(EcsRdsError, match=r"no execution role \(executionRoleArn\)"):
        TaskDefinitionEnv(ecs).ensure("app", request, family="web")
    assert ecs.register_calls == 0


# --- redaction -------------------------------------------------------------------------------


def test_moving_a_plaintext_password_to_a_secret_never_shows_its_value():
    """The run that moves DATABASE_PASSWORD to a secret still has its old plaintext in the base
    revision: it must not reach the diff or the results (CI logs keep both)."""
    ecs = FakeEcs()
    ecs.revisions[0]["containerDefinitions"][0]["environment"] += [{"name": "DATABASE_PASSWORD", "value": "plain-hunter2"},
                                                                   {"name": "API_TOKEN", "value": "tok-123"},
                                                                   {"name": "LOG_LEVEL", "value": "debug"}]
    ecs.revisions[0]["containerDefinitions"][1]["environment"] = [{"name": "SIDECAR_KEY", "value": "side-456"}]
    request = build_request(environment={"DATABASE_URL": "jdbc:x"}, secret_arn=SECRET, secret_keys={"DATABASE_PASSWORD": "password"})
    for check_mode in (True, False):
        result = TaskDefinitionEnv(ecs, check_mode=check_mode).ensure("app", request, family="web")
        text = repr(result)
        for plaintext in ("plain-hunter2", "tok-123", "side-456", "changeme"):
            assert plaintext not in text, (check_mode, plaintext)
        assert result["diff"]["before"]["environment"]["DATABASE_PASSWORD"] == "<redacted>"
        assert result["diff"]["after"]["secrets"]["DATABASE_PASSWORD"] == f"{SECRET}:password::"
        assert result["environment"]["LOG_LEVEL"] == "debug" and result["environment"]["API_TOKEN"] == "<redacted>"
    # What is registered keeps every real value: only what is shown is redacted.
    registered = ecs.revisions[-1]["containerDefinitions"]
    assert {"name": "API_TOKEN", "value": "tok-123"} in registered[0]["environment"]
    assert registered[1]["environment"] == [{"name": "SIDECAR_KEY", "value": "side-456"}]


class CountingEcs(FakeEcs):
    def __init__(self):
        super().__init__()
        self.describe_calls = 0

    def describe_task_definition(self, taskDefinition: str, include=None, aws_retry: bool = False):
        self.describe_calls += 1
        return super().describe_task_definition(taskDefinition, include, aws_retry)


def test_services_sharing_a_revision_register_it_once_and_each_gets_its_result():
    ecs = CountingEcs()
    entries = [{"task_definition": "web:1", "container_name": "app", "name": "api"},
               {"task_definition": "web:1", "container_name": "app", "name": "worker"}]
    result = TaskDefinitionEnv(ecs).ensure_each(entries, build_request(environment={"NEW": "1"}))
    assert ecs.register_calls == 1
    assert [r["name"] for r in result["task_definitions"]] == ["api", "worker"]
    assert {r["task_definition_arn"] for r in result["task_definitions"]} == {"arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"}
    assert result["changed"] and len(result["diff"]) == 1 and result["diff"][0]["before_header"].startswith("web:1 ")
    # A no-op re-run from the revision now running: one describe for both services, no write, no diff.
    ecs.describe_calls = 0
    again = TaskDefinitionEnv(ecs).ensure_each([dict(e, task_definition="web:2") for e in entries], build_request(environment={"NEW": "1"}))
    assert ecs.describe_calls == 1 and ecs.register_calls == 1
    assert not again["changed"] and again["diff"] == []


def test_each_entry_in_check_mode_writes_nothing():
    ecs = FakeEcs()
    result = TaskDefinitionEnv(ecs, check_mode=True).ensure_each([{"task_definition": "web:1", "container_name": "app"}],
                                                                 build_request(environment={"NEW": "1"}))
    assert ecs.register_calls == 0
    assert result["changed"] and result["task_definitions"][0]["task_definition_arn"] is None


def test_a_registered_revision_is_returned_from_the_register_answer_without_describing_it_again():
    ecs = CountingEcs()
    result = TaskDefinitionEnv(ecs).ensure("app", build_request(environment={"NEW": "1"}), family="web", tags={"mark": "y"})
    # The base is described once; RegisterTaskDefinition's answer is the revision as ECS stored it.
    assert ecs.describe_calls == 1 and ecs.register_calls == 1
    assert result["revision"] == 2 and result["task_definition"]["tags"] == {"team": "x", "mark": "y"}


def test_the_tags_sent_stand_in_when_the_register_answer_has_none():
    """AWS's RegisterTaskDefinition answer carries the tags it set (the ones sent); moto's leaves them out."""

    class TaglessAnswer(CountingEcs):
        def register_task_definition(self, aws_retry: bool = False, **request):
            answer = super().register_task_definition(**request)
            answer.pop("tags")
            return answer

    ecs = TaglessAnswer()
    result = TaskDefinitionEnv(ecs).ensure("app", build_request(environment={"NEW": "1"}), family="web", tags={"mark": "y"})
    assert ecs.describe_calls == 1 and result["task_definition"]["tags"] == {"team": "x", "mark": "y"}


def test_a_revision_described_earlier_in_the_process_is_not_described_again():
    ecs = CountingEcs()
    described = {arn: (answer["taskDefinition"], {"team": "x"}) for arn, answer in
                 [("arn:aws:ecs:us-east-1:123456789012:task-definition/web:1", ecs.describe_task_definition("web:1"))]}
    ecs.describe_calls = 0
    result = TaskDefinitionEnv(ecs, check_mode=True, described=described).ensure_each(
        [{"task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1", "container_name": "app"}],
        build_request(environment={"A": "1"}), tags={"team": "x"})
    assert ecs.describe_calls == 0 and not result["changed"]


# ---------------------------------------------------------------------------------------------
# The service role's revisions: its inputs -> ecs_taskdef_secret_env's options


DB_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1a2b-xYz"
ENTRIES = [{"name": "api", "container_name": "app", "task_definition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:4"}]


def service_inputs(**overrides):
    given = dict(service_ecs_cluster="shop", service_ecs_services=["api"], service_secret_arn=DB_SECRET,
                 service_db_endpoint="db.cluster-x.eu-west-1.rds.amazonaws.com")
    return role_inputs("service", **dict(given, **overrides))


def test_the_revisions_get_the_url_driver_and_secret_keys_tagged_as_the_deployments():
    options = taskdef_options(service_inputs(service_deployment_id="shop", service_tags={"team": "a", "cost": 7}, service_db_port=5433,
                                             service_db_name="orders"), ENTRIES)
    assert options["environment"] == {"DATABASE_URL": "jdbc:postgresql://db.cluster-x.eu-west-1.rds.amazonaws.com:5433/orders",
                                      "DATABASE_DRIVER_CLASS": "org.postgresql.Driver"}
    assert options["secret_arn"] == DB_SECRET and options["secret_keys"] == {"DATABASE_USERNAME": "username", "DATABASE_PASSWORD": "password"}
    assert options["tags"] == {"team": "a", "cost": "7", "ecsrds.connect/managed": "true", "ecsrds.connect/created-by": "shop"}
    assert options["origin_tag"] == "ecsrds.connect/original-task-definition" and options["task_definitions"] == ENTRIES
    # Other names and formats, as the inputs say.
    custom = taskdef_options(service_inputs(service_url_variable="JDBC", service_username_variable="USER", service_secret_username_key="user",
                                            service_database_url_format="postgresql://{endpoint}/{database}?port={port}"), ENTRIES)
    assert custom["environment"]["JDBC"] == "postgresql://db.cluster-x.eu-west-1.rds.amazonaws.com/postgres?port=5432"
    assert custom["secret_keys"]["USER"] == "user"


def test_nothing_is_planned_in_detail_before_the_database_exists():
    assert taskdef_options(service_inputs(service_secret_arn=None), ENTRIES) is None
    assert taskdef_options(service_inputs(service_db_endpoint=None), ENTRIES) is None


# --- render, don't register -----------------------------------------------------------------------

RENDER = dict(environment={"DATABASE_URL": "jdbc:postgresql://db:5432/postgres"}, secrets=None, secret_arn=SECRET,
              secret_keys={"DATABASE_PASSWORD": "password"}, container_name="app", dest=None)


def _file(tmp_path, document, name="task-definition.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=4))
    return path


@pytest.mark.parametrize("shape", ["register input", "describe output"])
def test_render_merges_what_a_registered_revision_gets_and_keeps_every_other_field(tmp_path, shape):
    document = copy.deepcopy(DESCRIBED) if shape == "register input" else {"taskDefinition": copy.deepcopy(DESCRIBED), "tags": []}
    path = _file(tmp_path, document)
    outcome = run_render(None, dict(RENDER, path=str(path)), check_mode=False, diff_mode=True)
    rendered = json.loads(path.read_text())
    definition = rendered["taskDefinition"] if shape == "describe output" else rendered
    # The same patch the roles register (plan_container), nothing else touched.
    plan = plan_container(DESCRIBED, {}, "app", build_request(**{k: RENDER[k] for k in ("environment", "secrets", "secret_arn", "secret_keys")}), None)
    expected = copy.deepcopy(DESCRIBED)
    expected["containerDefinitions"][0].update(environment=plan.environment_after, secrets=plan.secrets_after)
    assert definition == expected
    assert outcome.changed and outcome.actions == [f"write {path}"]
    assert outcome.result["environment"]["DB_PASSWORD"] == "<redacted>" and "changeme" not in json.dumps(outcome.result)
    assert outcome.result["secrets"] == {"DATABASE_PASSWORD": f"{SECRET}:password::"}
    assert "changeme" not in json.dumps(outcome.diff)
    # A rendered file needs nothing: not even rewritten.
    before = path.stat().st_mtime_ns
    again = run_render(None, dict(RENDER, path=str(path)), check_mode=False, diff_mode=False)
    assert not again.changed and again.actions == [] and path.stat().st_mtime_ns == before


def test_render_in_check_mode_writes_nothing_and_dest_keeps_the_source(tmp_path):
    path = _file(tmp_path, DESCRIBED)
    original = path.read_text()
    planned = run_render(None, dict(RENDER, path=str(path)), check_mode=True, diff_mode=False)
    assert planned.changed and path.read_text() == original
    dest = tmp_path / "out" / "rendered.json"
    dest.parent.mkdir()
    done = run_render(None, dict(RENDER, path=str(path), dest=str(dest)), check_mode=False, diff_mode=False)
    assert done.changed and path.read_text() == original and json.loads(dest.read_text())["family"] == "web"
    assert not run_render(None, dict(RENDER, path=str(path), dest=str(dest)), check_mode=False, diff_mode=False).changed


@pytest.mark.parametrize("content, message", [
    (None, "path: cannot read"),
    ("{not json", "is not JSON"),
    ("[]", "holds no task definition"),
    ('{"family": "web"}', "containerDefinitions is missing"),
    (json.dumps(DESCRIBED), "container_name 'api' is not a container"),
])
def test_render_refuses_what_it_cannot_merge_into(tmp_path, content, message):
    path = tmp_path / "task-definition.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(EcsRdsError, match=message):
        run_render(None, dict(RENDER, path=str(path), container_name="api" if "api" in message else "app"), check_mode=False, diff_mode=False)


# DescribeDBClusters as amazon.aws.rds_cluster_info returns it (snake_case), with the managed secret.
DESCRIBED_CLUSTER = {"clusters": [{
    "db_cluster_identifier": "shop-db", "endpoint": "shop-db.cluster-c1a2b3.eu-central-1.rds.amazonaws.com", "port": 5433,
    "master_user_secret": {"secret_arn": SECRET, "secret_status": "active", "kms_key_id": "arn:aws:kms:eu-central-1:1:key/x"},
}]}


def test_render_options_are_what_the_roles_register():
    inputs = role_inputs("service", service_db_cluster_identifier="shop-db", service_ecs_cluster="c", service_ecs_services=["api"],
                         service_url_variable="JDBC_URL")
    options = render_options(inputs, DESCRIBED_CLUSTER, "td.json")
    # The same derivation as the revisions': the endpoint, the port and database as RDS reports them.
    registered = taskdef_options(dict(inputs, service_secret_arn=SECRET, service_db_endpoint=DESCRIBED_CLUSTER["clusters"][0]["endpoint"],
                                      service_db_port=5433, service_db_name="postgres"), [])
    assert {k: options[k] for k in ("environment", "secret_arn", "secret_keys")} == {k: registered[k] for k in ("environment", "secret_arn", "secret_keys")}
    assert options["environment"]["JDBC_URL"] == "jdbc:postgresql://shop-db.cluster-c1a2b3.eu-central-1.rds.amazonaws.com:5433/postgres"
    assert options["path"] == "td.json" and options["dest"] is None and options["container_name"] == "app"
    assert render_options(inputs, DESCRIBED_CLUSTER, "td.json", "out.json", "web")["container_name"] == "web"
    with pytest.raises(ValueError, match="'shop-db' was not found: run site.yml first"):
        render_options(inputs, {"clusters": []}, "td.json")
    unmanaged = {"clusters": [dict(DESCRIBED_CLUSTER["clusters"][0], master_user_secret=None)]}
    with pytest.raises(ValueError, match="no master secret managed by RDS"):
        render_options(inputs, unmanaged, "td.json")
