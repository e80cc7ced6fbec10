"""The retry policy of common.py, and the writes that follow it in network.py and ecs_service.py.

What reaches a real server is counted in tests/integration/test_faults.py; these pin the decisions
(which answers are resent, adopted or waited out) with answers shaped like AWS's.
"""

from __future__ import annotations

import botocore.config
import pytest
from botocore.exceptions import ClientError
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.test_network import FakeEC2, params

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.ecsrds.connect.plugins.module_utils import common
from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import ServiceDeployer
from ansible_collections.ecsrds.connect.plugins.module_utils.network import run_endpoint


def client_error(code, status=400, message=None):
    return ClientError({"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.fixture(autouse=True)
def clock(fake_clock):
    return fake_clock


class Recorder:
    def __init__(self):
        self.kwargs = None

    def client(self, service, retry_decorator=None, **kwargs):
        self.kwargs = kwargs
        return "client"


@pytest.mark.parametrize("user_config", [None, {"retries": {"max_attempts": 10}, "connect_timeout": 7}])
def test_botocore_sends_each_request_once_whatever_the_user_configured(user_config):
    module = Recorder()
    module.params = {"aws_config": user_config}
    common.connect(module, "rds")
    config = module.kwargs.get("aws_config") or module.kwargs["config"]
    # total_max_attempts counts the first attempt; max_attempts would count retries only.
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    if user_config:
        assert config.connect_timeout == 7
    session_args = botocore.config.Config(**{"retries": config.retries})
    assert session_args.retries["total_max_attempts"] == 1


def sequence(*answers):
    calls = []

    def call():
        calls.append(1)
        answer = answers[len(calls) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return call, calls


@pytest.mark.parametrize("error", [
    client_error("Throttling"), client_error("ThrottlingException"), client_error("RequestLimitExceeded", 503),
    client_error("InternalFailure", 500), client_error("ServiceUnavailableException", 503), client_error("SomethingNew", 502),
])
def test_reads_and_idempotent_writes_are_resent_on_throttling_and_5xx(error):
    call, calls = sequence(error, error, "ok")
    assert common.aws_retry(call)() == "ok" and len(calls) == 3


@pytest.mark.parametrize("error", [client_error("InvalidParameterValue"), client_error("AccessDenied", 403), client_error("InvalidDBClusterStateFault")])
def test_refusals_are_not_resent_by_the_backoff(error):
    call, calls = sequence(error, "ok")
    with pytest.raises(ClientError):
        common.aws_retry(call)()
    assert len(calls) == 1


def test_busy_writes_are_resent_until_accepted_then_the_wait_ends(clock):
    busy = client_error("InvalidDBClusterStateFault", message="Cluster is in modifying state")
    call, calls = sequence(busy, busy, "done")
    assert common.retry_while_busy(call, 300, "modify cluster x", codes=("InvalidDBClusterStateFault",)) == "done"
    assert len(calls) == 3 and clock.now == 20.0


def test_busy_writes_give_up_after_the_bounded_wait_saying_what_aws_answered(clock):
    busy = client_error("DependencyViolation", message="resource sg-1 has a dependent object")
    call, calls = sequence(*[busy] * 100)
    with pytest.raises(EcsRdsError) as raised:
        common.retry_while_busy(call, 60, "delete security group sg-1", codes=("DependencyViolation",))
    assert "Timed out after 60 seconds waiting for AWS to accept: delete security group sg-1" in str(raised.value)
    assert "DependencyViolation: resource sg-1 has a dependent object" in str(raised.value)
    assert "resumes" in str(raised.value) and 6 <= len(calls) <= 8


def test_other_errors_during_a_busy_wait_are_raised_at_once():
    call, calls = sequence(client_error("InvalidParameterCombination"))
    with pytest.raises(ClientError):
        common.retry_while_busy(call, 60, "modify", codes=("InvalidDBClusterStateFault",))
    assert len(calls) == 1


class LosingEC2(FakeEC2):
    """AWS applies the create, the answer is lost (500); a resent rule is refused as a duplicate."""

    def __init__(self, lose=(), **kwargs):
        super().__init__(**kwargs)
        self.lose = set(lose)
        self.rules = set()

    def __getattr__(self, name):
        write = super().__getattr__(name)

        def lossy(**kw):
            if name == "authorize_security_group_ingress":
                key = repr(kw["IpPermissions"])
                if key in self.rules:
                    self._record(name, dict(kw))
                    raise client_error("InvalidPermission.Duplicate")
                self.rules.add(key)
            answer = write(**kw)
            if name in self.lose:
                self.lose.discard(name)
                raise client_error("InternalError", 500)
            return answer

        return lossy


def test_lost_answers_on_the_endpoint_path_are_adopted_or_count_as_done():
    fake = LosingEC2(lose=("create_security_group", "authorize_security_group_ingress", "create_vpc_endpoint"))
    client = RetryingBotoClientWrapper(fake, common.aws_retry)
    outcome = run_endpoint(common.Clients({"ec2": client}.__getitem__, "us-east-1"), params(), False, False)
    changed, result = outcome.changed, outcome.result
    assert changed and result["endpoint"]["vpc_endpoint_id"] == "vpce-new"
    # Each create went out once, then a describe found it; the rule was resent once and refused as already there.
    assert fake.writes == ["create_security_group", "authorize_security_group_ingress", "authorize_security_group_ingress", "create_vpc_endpoint"]
    assert len(fake.endpoints) == 1 and len(fake.groups) == 1
    token = [kw["ClientToken"] for name, kw in fake.calls if name == "create_vpc_endpoint"]
    assert len(token) == 1 and token[0]


class LosingECS:
    """UpdateService applied (a new PRIMARY deployment), its answer lost."""

    def __init__(self):
        self.calls = []
        self.service = {"serviceName": "web", "status": "ACTIVE", "taskDefinition": "td:1",
                        "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "rolloutState": "COMPLETED"}]}

    def describe_services(self, **kw):
        self.calls.append("DescribeServices")
        return {"services": [dict(self.service)]}

    def update_service(self, **kw):
        self.calls.append("UpdateService")
        self.service = dict(self.service, taskDefinition=kw["taskDefinition"],
                            deployments=[{"id": f"ecs-svc/{len(self.calls)}", "status": "PRIMARY", "rolloutState": "COMPLETED"}])
        raise client_error("ServerException", 500)


def test_a_forced_deployment_whose_answer_was_lost_is_not_started_again():
    fake = LosingECS()
    deployer = ServiceDeployer(RetryingBotoClientWrapper(fake, common.aws_retry), "us-east-1", False, poll_delay=0)
    before = fake.describe_services()["services"][0]
    updated = deployer.update("c", "web", "td:2", before=before)
    assert fake.calls.count("UpdateService") == 1 and updated["taskDefinition"] == "td:2"
