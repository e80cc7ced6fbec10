"""ecs_service: the stop-reason diagnosis, rollout decisions and the deployer's calls (fake client)."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import (
    ServiceDeployer,
    diagnose_stopped_reason,
    needs_deployment,
    rollout_progress,
    started_for_deployment,
)

SECRET = "arn:aws:secretsmanager:ap-northeast-2:1234567890:secret:rds!cluster-12345667890-abcd-erfg-hijk-lmnopqrstu-VWXYZ"
# The two stop reasons of the walk-through, verbatim.
NO_ROUTE = (
    "ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secret from asm: "
    "There is a connection issue between the task and AWS Secrets Manager. Check your task network configuration. "
    f"failed to fetch secret {SECRET} from secrets manager: RequestCanceled: request context canceled caused by: "
    "context deadline exceeded"
)
DENIED = (
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
    "unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret "
    f"{SECRET} from secrets manager: AccessDeniedException: User: "
    "arn:aws:sts::1234567890:assumed-role/ecsTaskExecutionRole/365abd05e5e64b4db9025dbeee553342 is not authorized "
    f"to perform: secretsmanager:GetSecretValue on resource: {SECRET} because no identity-based policy allows the "
    "secretsmanager:GetSecretValue action status code: 400, request id: 9ce8d0e9-9057-4743-a3f2-afdc519fcebe"
)
KMS_DENIED = (
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
    f"unable to retrieve secret from asm: failed to fetch secret {SECRET} from secrets manager: "
    "AccessDeniedException: Access to KMS is not allowed. User: arn:aws:sts::1234567890:assumed-role/execRole/abc "
    "is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:ap-northeast-2:1234567890:key/1111-2222"
)
PULL = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:latest: dial tcp 52.95.0.1:443: i/o timeout"
)


class TestDiagnosis:
    def test_no_route_to_secrets_manager(self):
        diagnosis = diagnose_stopped_reason(NO_ROUTE, "us-east-1")
        assert "cannot reach AWS Secrets Manager" in diagnosis.cause
        # The region comes from the secret ARN in the reason, not from the default.
        assert "com.amazonaws.ap-northeast-2.secretsmanager" in diagnosis.fix
        assert "private DNS" in diagnosis.fix and "443" in diagnosis.fix and "NAT" in diagnosis.fix

    def test_deadline_exceeded_alone_is_enough(self):
        reason = "ResourceInitializationError: unable to retrieve secret from asm: RequestCanceled: context deadline exceeded"
        assert "com.amazonaws.eu-central-1.secretsmanager" in diagnose_stopped_reason(reason, "eu-central-1").fix

    def test_access_denied_names_role_secret_and_execution_role(self):
        diagnosis = diagnose_stopped_reason(DENIED, "us-east-1")
        assert "may not read the secret" in diagnosis.cause
        assert f"secretsmanager:GetSecretValue on exactly {SECRET} " in diagnosis.fix
        assert "EXECUTION role ecsTaskExecutionRole" in diagnosis.fix and "not the task role" in diagnosis.fix
        assert "kms:Decrypt" in diagnosis.fix

    def test_kms_denial(self):
        diagnosis = diagnose_stopped_reason(KMS_DENIED)
        assert "KMS key" in diagnosis.cause
        assert "kms:Decrypt on arn:aws:kms:ap-northeast-2:1234567890:key/1111-2222" in diagnosis.fix
        assert "kms:ViaService = secretsmanager.ap-northeast-2.amazonaws.com" in diagnosis.fix
        assert "execRole" in diagnosis.fix

    def test_image_pull(self):
        diagnosis = diagnose_stopped_reason(PULL, "eu-west-1")
        assert "com.amazonaws.eu-west-1.ecr.api" in diagnosis.fix and "com.amazonaws.eu-west-1.ecr.dkr" in diagnosis.fix
        assert "com.amazonaws.eu-west-1.s3" in diagnosis.fix

    def test_missing_json_key(self):
        reason = "ResourceInitializationError: ... retrieved secret from Secrets Manager did not contain json key pass"
        assert "username" in diagnose_stopped_reason(reason).fix

    @pytest.mark.parametrize("reason", [None, "", "Essential container in task exited", "Scaling activity initiated by (deployment ecs-svc/1)"])
    def test_unknown_reasons(self, reason):
        assert diagnose_stopped_reason(reason, "us-east-1") is None


def _service(task_definition="td:1", deployments=None, running=2, desired=2, name="svc"):
    return {
        "serviceName": name,
        "serviceArn": f"arn:aws:ecs:us-east-1:1:service/c/{name}",
        "clusterArn": "arn:aws:ecs:us-east-1:1:cluster/c",
        "status": "ACTIVE",
        "taskDefinition": task_definition,
        "desiredCount": desired,
        "runningCount": running,
        "deployments": deployments if deployments is not None else [
            {"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": task_definition, "rolloutState": "COMPLETED"}
        ],
        "tags": [{"key": "team", "value": "a"}],
        "events": [{"message": "long"}],
    }


class TestDecisions:
    def test_needs_deployment(self):
        assert needs_deployment(_service("td:1"), "td:2", force=False)
        assert not needs_deployment(_service("td:2"), "td:2", force=False)
        assert needs_deployment(_service("td:2"), "td:2", force=True)

    def test_rollout_state(self):
        assert rollout_progress(_service())[0] == "COMPLETED"
        failed = _service(deployments=[{"status": "PRIMARY", "rolloutState": "FAILED", "rolloutStateReason": "circuit breaker"}])
        assert rollout_progress(failed) == ("FAILED", "circuit breaker")
        assert rollout_progress(_service(deployments=[{"status": "PRIMARY", "rolloutState": "IN_PROGRESS"}]))[0] == "IN_PROGRESS"

    def test_without_rollout_state_needs_steady_single_deployment(self):
        one = [{"status": "PRIMARY"}]
        two = [{"status": "PRIMARY"}, {"status": "ACTIVE"}]
        assert rollout_progress(_service(deployments=one))[0] == "COMPLETED"
        assert rollout_progress(_service(deployments=one, running=1))[0] == "IN_PROGRESS"
        assert rollout_progress(_service(deployments=two))[0] == "IN_PROGRESS"

    def test_started_for_deployment(self):
        task = {"group": "service:svc", "taskDefinitionArn": "td:2", "startedBy": "ecs-svc/9"}
        assert started_for_deployment(task, "svc", "td:2", "ecs-svc/9")
        assert not started_for_deployment(task, "svc", "td:2", "ecs-svc/8")  # an earlier deployment
        assert not started_for_deployment(task, "other", "td:2", "ecs-svc/9")
        assert not started_for_deployment(task, "svc", "td:1", "ecs-svc/9")
        assert started_for_deployment(dict(task, startedBy=""), "svc", "td:2", "ecs-svc/9")


class _Pages:
    def __init__(self, pages):
        self.pages = pages

    def paginate(self, **kwargs):
        return self

    def build_full_result(self):
        merged = {}
        for page in self.pages:
            for key, value in page.items():
                merged.setdefault(key, []).extend(value)
        return merged


class FakeEcs:
    """Just enough ECS for the deployer; records every call."""

    def __init__(self, services, task_definitions, stopped_tasks=()):
        self.services = services
        self.task_definitions = task_definitions  # arn -> (definition, tags)
        self.stopped_tasks = list(stopped_tasks)
        self.calls = []

    def _record(self, name, kwargs):
        kwargs.pop("aws_retry", None)
        self.calls.append((name, kwargs))

    def describe_services(self, **kwargs):
        self._record("describe_services", kwargs)
        return {"services": [copy.deepcopy(self.services[n.split("/")[-1]]) for n in kwargs["services"] if n.split("/")[-1] in self.services]}

    def describe_task_definition(self, **kwargs):
        self._record("describe_task_definition", kwargs)
        definition, tags = self.task_definitions[kwargs["taskDefinition"]]
        return {"taskDefinition": definition, "tags": [{"key": k, "value": v} for k, v in tags.items()]}

    def update_service(self, **kwargs):
        self._record("update_service", kwargs)
        service = self.services[kwargs["service"]]
        service["taskDefinition"] = kwargs["taskDefinition"]
        service["deployments"][0]["id"] = "ecs-svc/2"
        return {"service": copy.deepcopy(service)}

    def deregister_task_definition(self, **kwargs):
        self._record("deregister_task_definition", kwargs)
        return {}

    def describe_tasks(self, **kwargs):
        self._record("describe_tasks", kwargs)
        return {"tasks": [t for t in self.stopped_tasks if t["taskArn"] in kwargs["tasks"]]}

    def get_paginator(self, name):
        self._record(name, {})
        if name == "list_tasks":
            return _Pages([{"taskArns": [t["taskArn"] for t in self.stopped_tasks]}])
        if name == "list_services":
            return _Pages([{"serviceArns": list(self.services)}])
        if name == "list_task_definitions":
            return _Pages([{"taskDefinitionArns": list(self.task_definitions)}])
        raise AssertionError(name)

    @property
    def writes(self):
        return [name for name, _kwargs in self.calls if name in ("update_service", "deregister_task_definition")]


TD1 = "arn:aws:ecs:us-east-1:1:task-definition/app:1"
TD2 = "arn:aws:ecs:us-east-1:1:task-definition/app:2"
TD3 = "arn:aws:ecs:us-east-1:1:task-definition/app:3"
OURS = {"ecsrds.connect/managed": "true", "ecsrds.connect/original-task-definition": TD1}


def _fake(current=TD1, stopped=(), rollout="COMPLETED", other=None):
    services = {"svc": _service(current, deployments=[{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": current, "rolloutState": rollout}])}
    if other:
        services["other"] = _service(other, name="other")
    definitions = {
        TD1: ({"taskDefinitionArn": TD1, "family": "app", "revision": 1}, {}),
        TD2: ({"taskDefinitionArn": TD2, "family": "app", "revision": 2}, dict(OURS)),
        TD3: ({"taskDefinitionArn": TD3, "family": "app", "revision": 3}, dict(OURS)),
    }
    return FakeEcs(services, definitions, stopped)


class TestDeployer:
    def test_check_mode_predicts_without_writing(self):
        ecs = _fake()
        result = ServiceDeployer(ecs, "us-east-1", check_mode=True).run("c", "svc", task_definition=TD2)
        assert result["changed"] and result["deployed"]
        assert result["diff"] == {"before": {"task_definition": TD1}, "after": {"task_definition": TD2}}
        assert ecs.writes == []

    def test_deploys_only_the_task_definition_then_is_idempotent(self):
        ecs = _fake()
        result = ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0).run("c", "svc", task_definition=TD2)
        assert result["deployed"] and result["previous_task_definition_arn"] == TD1
        assert result["service"]["task_definition"] == TD2 and result["service"]["tags"] == {"team": "a"}
        (update,) = [kwargs for name, kwargs in ecs.calls if name == "update_service"]
        assert update == {"cluster": "c", "service": "svc", "taskDefinition": TD2, "forceNewDeployment": True}

        ecs.calls.clear()
        again = ServiceDeployer(ecs, "us-east-1", check_mode=False).run("c", "svc", task_definition=TD2)
        assert not again["changed"] and not again["deployed"]
        # The no-op path: one describe, reused as the first look of the wait.
        assert [name for name, _kwargs in ecs.calls] == ["describe_services"]

    def test_force_redeploys_the_same_revision(self):
        ecs = _fake(current=TD2)
        result = ServiceDeployer(ecs, "us-east-1", check_mode=False).run("c", "svc", task_definition=TD2, force=True, wait=False)
        assert result["deployed"] and ecs.writes == ["update_service"]

    def test_wait_fails_early_with_the_fix(self):
        stopped = [{"taskArn": "t1", "group": "service:svc", "taskDefinitionArn": TD2, "startedBy": "ecs-svc/2", "stoppedReason": DENIED}]
        ecs = _fake(stopped=stopped, rollout="IN_PROGRESS")
        with pytest.raises(EcsRdsError) as error:
            ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0).run("c", "svc", task_definition=TD2, wait_timeout=60)
        assert "task t1 stopped with: ResourceInitializationError" in error.value.message
        assert "to the task EXECUTION role ecsTaskExecutionRole" in error.value.message

    def test_timeout_mentions_the_last_unknown_stop_reason(self):
        stopped = [{
            "taskArn": "t1", "group": "service:svc", "taskDefinitionArn": TD2, "startedBy": "ecs-svc/2",
            "stoppedReason": "Essential container in task exited",
        }]
        ecs = _fake(stopped=stopped, rollout="IN_PROGRESS")
        with pytest.raises(EcsRdsError, match="Timed out.*last stopped task reason: Essential container"):
            ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0).run("c", "svc", task_definition=TD2, wait_timeout=0)

    def test_lookup_reports_running_revision_and_tags(self):
        ecs = _fake(current=TD2)
        result = ServiceDeployer(ecs, "us-east-1", check_mode=False).run("c", "svc")
        assert not result["changed"] and ecs.writes == []
        assert result["running_task_definition"]["tags"] == OURS
        assert result["running_task_definition"]["task_definition_arn"] == TD2

    def test_restore_and_deregister_keeps_what_others_run(self):
        ecs = _fake(current=TD3, other=TD2)
        planned = ServiceDeployer(ecs, "us-east-1", check_mode=True).run(
            "c", "svc", restore_from_tag="ecsrds.connect/original-task-definition", deregister_tagged={"ecsrds.connect/managed": "true"})
        assert planned["deployed"] and planned["deregistered_task_definition_arns"] == [TD3] and ecs.writes == []

        result = ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0).run(
            "c", "svc", restore_from_tag="ecsrds.connect/original-task-definition", deregister_tagged={"ecsrds.connect/managed": "true"})
        assert result["service"]["task_definition"] == TD1
        assert result["deregistered_task_definition_arns"] == [TD3]
        assert ecs.writes == ["update_service", "deregister_task_definition"]
        assert result["running_task_definition"]["task_definition_arn"] == TD1

    def test_restore_without_tag_leaves_service_alone(self):
        ecs = _fake(current=TD1)
        result = ServiceDeployer(ecs, "us-east-1", check_mode=False).run("c", "svc", restore_from_tag="ecsrds.connect/original-task-definition")
        assert not result["changed"] and ecs.writes == []

    def test_missing_service_names_the_option(self):
        with pytest.raises(EcsRdsError, match="'nope' not found.*option service"):
            ServiceDeployer(_fake(), "us-east-1", check_mode=False).run("c", "nope", task_definition=TD2)
