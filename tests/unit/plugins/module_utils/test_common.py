"""The shared retry, adopt-before-recreate and polling helpers."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from ansible_collections.ecsrds.connect.plugins.module_utils import common


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "CreateThing")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(common.time, "sleep", lambda _seconds: None)
    # AWSRetry sleeps through its own module's time.sleep.
    from ansible_collections.amazon.aws.plugins.module_utils import cloud

    monkeypatch.setattr(cloud.time, "sleep", lambda _seconds: None)


def test_throttled_create_is_resent_without_describing():
    answers = [client_error("ThrottlingException"), client_error("ThrottlingException"), "created"]
    looked = []

    def create():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert common.create_or_adopt(create, lambda: looked.append(1), "create thing") == "created"
    assert looked == []


@pytest.mark.parametrize("lost", [client_error("InternalFailure", 500), EndpointConnectionError(endpoint_url="http://127.0.0.1:1")])
def test_lost_response_is_adopted_instead_of_created_twice(lost):
    created = []

    def create():
        created.append(1)
        raise lost

    adopted = common.create_or_adopt(create, lambda: "the one created by the first attempt", "create thing")
    assert adopted == "the one created by the first attempt"
    assert created == [1]


def test_lost_response_with_nothing_created_is_sent_again():
    answers = [client_error("ServiceUnavailable", 503), "created"]

    def create():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert common.create_or_adopt(create, lambda: None, "create thing") == "created"


def test_refusal_is_reported_at_once_with_the_action():
    calls = []

    def create():
        calls.append(1)
        raise client_error("InvalidParameterValue")

    with pytest.raises(common.EcsRdsError, match="Failed to create thing"):
        common.create_or_adopt(create, lambda: None, "create thing")
    assert calls == [1]


def test_unknown_outcomes_give_up_after_the_attempts():
    def create():
        raise client_error("InternalFailure", 500)

    with pytest.raises(common.EcsRdsError, match="after 3 attempts"):
        common.create_or_adopt(create, lambda: None, "create thing", attempts=3)


def test_wait_for_returns_the_first_result_and_times_out_clearly():
    now = [0.0]
    answers = [None, None, "ready"]
    assert common.wait_for(lambda: answers.pop(0), 60, "thing", clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)) == "ready"
    with pytest.raises(common.EcsRdsError, match="Timed out after 10 seconds waiting for cluster x"):
        common.wait_for(lambda: None, 10, "cluster x", clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))


def test_throttling_exception_is_retried_by_the_shared_policy():
    answers = [client_error("ThrottlingException"), "ok"]

    @common.aws_retry
    def describe():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert describe() == "ok"


def test_tag_lists_of_either_casing_become_dicts():
    assert common.tags_to_dict([{"Key": "a", "Value": "1"}, {"key": "b", "value": "2"}]) == {"a": "1", "b": "2"}
    assert common.tags_to_dict(None) == {}


class _Client:
    def __init__(self, error=None):
        self.error = error
        self.kwargs = None

    def describe_thing(self, aws_retry=False, **kwargs):
        assert aws_retry, "every call goes through the shared retry policy"
        self.kwargs = kwargs
        if self.error:
            raise self.error
        return {"Thing": kwargs}


def test_call_retries_maps_not_found_to_none_and_names_the_action():
    assert common.call(_Client(), "describe_thing", "describe thing", Name="x") == {"Thing": {"Name": "x"}}
    assert common.call(_Client(client_error("ThingNotFound")), "describe_thing", "describe thing", ("ThingNotFound",)) is None
    with pytest.raises(common.EcsRdsError, match="Failed to describe thing x"):
        common.call(_Client(client_error("AccessDenied")), "describe_thing", "describe thing x", ("ThingNotFound",))
    with pytest.raises(common.EcsRdsError, match="Failed to describe thing"):
        common.call(_Client(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")), "describe_thing", "describe thing")


class _ExitingModule:
    def __init__(self, diff):
        self._diff = diff
        self.exited = None

    def exit_json(self, **kwargs):
        self.exited = kwargs


def test_a_module_result_shows_its_diff_only_when_asked():
    from ansible_collections.ecsrds.connect.plugins.module_utils.common import Outcome, finish

    asked, quiet = _ExitingModule(diff=True), _ExitingModule(diff=False)
    outcome = Outcome(True, {"group_id": "sg-1"}, {"before": {}, "after": {"port": 5432}}, ["allow 5432"])
    finish(asked, outcome)
    finish(quiet, outcome)
    assert asked.exited == {"changed": True, "actions": ["allow 5432"], "group_id": "sg-1", "diff": {"before": {}, "after": {"port": 5432}}}
    assert quiet.exited == {"changed": True, "actions": ["allow 5432"], "group_id": "sg-1"}


class _Failing:
    """A module's two ways of failing, recorded (each ends the module: an exception here)."""

    def fail_json(self, **kwargs):
        raise SystemExit(("fail_json", None, kwargs))

    def fail_json_aws(self, exception, **kwargs):
        raise SystemExit(("fail_json_aws", exception, kwargs))


def test_a_step_s_failure_keeps_what_its_error_carries_whether_ours_or_aws_s():
    with pytest.raises(SystemExit) as ours:
        common.fail_step(_Failing(), common.EcsRdsError(message="rollouts: 1 of 2 rollouts did not complete", rollouts=[{"service": "api"}]))
    assert ours.value.code == ("fail_json", None, {"msg": "rollouts: 1 of 2 rollouts did not complete", "rollouts": [{"service": "api"}]})
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "UpdateService")
    with pytest.raises(SystemExit) as aws:
        common.fail_step(_Failing(), common.EcsRdsError(message="rollouts: Failed to update service api", exception=throttled, step="rollouts"))
    assert aws.value.code == ("fail_json_aws", throttled, {"msg": "rollouts: Failed to update service api", "step": "rollouts"})
