"""ecs_service: the stop-reason diagnosis, rollout decisions and the deployer's calls (fake client)."""

from __future__ import annotations

import copy
import types
import datetime

import botocore.session
import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.roles import role_inputs
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import service_names
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import (
    ServiceDeployer,
    deploy_options,
    deploy_problem,
    log_check_options,
    preflight_options,
    release_options,
    restore_options,
    rollout_plan,
    run_service_deploy,
    run_service_rollouts,
    service_entries,
    diagnose_stopped_reason,
    early_failure,
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


def _service(task_definition="td:1", deployments=None, running=2, desired=2, name="svc", cluster="c"):
    return {
        "serviceName": name,
        "serviceArn": f"arn:aws:ecs:us-east-1:1:service/{cluster}/{name}",
        "clusterArn": f"arn:aws:ecs:us-east-1:1:cluster/{cluster}",
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
        if callable(self.pages):
            return _Pages(self.pages(**kwargs))
        return self

    def build_full_result(self):
        merged = {}
        for page in self.pages:
            for key, value in page.items():
                merged.setdefault(key, []).extend(value)
        return merged


class FakeEcs:
    """Just enough ECS for the deployer; records every call."""

    # Results are shaped by the real ECS service model, as with a boto3 client.
    meta = types.SimpleNamespace(service_model=botocore.session.get_session().get_service_model("ecs"))

    def __init__(self, services, task_definitions, stopped_tasks=()):
        self.services = services
        self.task_definitions = task_definitions  # arn -> (definition, tags)
        self.stopped_tasks = list(stopped_tasks)
        self.calls = []

    def _record(self, name, kwargs):
        kwargs.pop("aws_retry", None)
        self.calls.append((name, kwargs))

    def _in_cluster(self, cluster):
        return {name: s for name, s in self.services.items() if s["clusterArn"].split("/")[-1] == cluster.split("/")[-1]}

    def describe_services(self, **kwargs):
        self._record("describe_services", kwargs)
        services = self._in_cluster(kwargs["cluster"])
        return {"services": [copy.deepcopy(services[n.split("/")[-1]]) for n in kwargs["services"] if n.split("/")[-1] in services]}

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
        if name == "list_clusters":
            return _Pages([{"clusterArns": sorted({s["clusterArn"] for s in self.services.values()})}])
        if name == "list_services":
            return _Pages(lambda cluster, **_kw: [{"serviceArns": [s["serviceArn"] for s in self._in_cluster(cluster).values()]}])
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


def _fake(current=TD1, stopped=(), rollout="COMPLETED", other=None, other_cluster="c"):
    services = {"svc": _service(current, deployments=[{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": current, "rolloutState": rollout}])}
    if other:
        services["other"] = _service(other, name="other", cluster=other_cluster)
    definitions = {
        TD1: ({"taskDefinitionArn": TD1, "family": "app", "revision": 1}, {}),
        TD2: ({"taskDefinitionArn": TD2, "family": "app", "revision": 2}, dict(OURS)),
        TD3: ({"taskDefinitionArn": TD3, "family": "app", "revision": 3}, dict(OURS)),
    }
    return FakeEcs(services, definitions, stopped)


def _deploy_params(**overrides):
    return dict(dict(cluster="c", service="svc", task_definition=None, restore_from_tag=None, unwire=None, deregister_tagged=None, force_new_deployment=False,
                     wait=False, wait_timeout=900, recent_change_grace=0), **overrides)


def test_the_module_runner_says_what_it_did_and_shows_the_diff_only_when_asked():
    ecs = _fake()
    clients = Clients({"ecs": ecs}.__getitem__, "us-east-1")
    planned = run_service_deploy(clients, _deploy_params(task_definition=TD2), True, False)
    assert planned.changed and planned.actions == [f"deploy {TD2} to service svc"] and planned.diff is None and ecs.writes == []
    done = run_service_deploy(clients, _deploy_params(task_definition=TD2), False, True)
    assert done.actions == planned.actions and done.diff == {"before": {"task_definition": TD1}, "after": {"task_definition": TD2}}
    assert "changed" not in done.result and done.result["deployed"] is True
    assert deploy_problem(_deploy_params(wait_timeout=-1)) == "wait_timeout must be zero or more seconds"
    assert deploy_problem(_deploy_params()) is None


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

    def test_deregister_keeps_a_revision_a_service_of_another_cluster_runs(self):
        ecs = _fake(current=TD3, other=TD2, other_cluster="elsewhere")
        result = ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0).run(
            "c", "svc", restore_from_tag="ecsrds.connect/original-task-definition", deregister_tagged={"ecsrds.connect/managed": "true"})
        assert result["deregistered_task_definition_arns"] == [TD3]
        listed = [kwargs["cluster"] for name, kwargs in ecs.calls if name == "describe_services" and kwargs["cluster"].endswith("elsewhere")]
        assert listed, "the other cluster's services were not looked at"

    def test_restore_without_tag_leaves_service_alone(self):
        ecs = _fake(current=TD1)
        result = ServiceDeployer(ecs, "us-east-1", check_mode=False).run("c", "svc", restore_from_tag="ecsrds.connect/original-task-definition")
        assert not result["changed"] and ecs.writes == []

    def test_missing_service_names_the_option(self):
        with pytest.raises(EcsRdsError, match="'nope' not found.*option service"):
            ServiceDeployer(_fake(), "us-east-1", check_mode=False).run("c", "nope", task_definition=TD2)


class RegisteringEcs(FakeEcs):
    """FakeEcs that also registers revisions and answers a family name with its latest ACTIVE revision,
    as DescribeTaskDefinition and RegisterTaskDefinition do."""

    def describe_task_definition(self, **kwargs):
        reference = kwargs["taskDefinition"]
        if reference.startswith("arn:"):
            return super().describe_task_definition(**kwargs)
        self._record("describe_task_definition", kwargs)
        definition, tags = max(((d, t) for d, t in self.task_definitions.values() if d["family"] == reference and d["status"] == "ACTIVE"),
                               key=lambda found: found[0]["revision"])
        return {"taskDefinition": copy.deepcopy(definition), "tags": [{"key": k, "value": v} for k, v in tags.items()]}

    def register_task_definition(self, **kwargs):
        self._record("register_task_definition", kwargs)
        request = copy.deepcopy(kwargs)
        tags = {t["key"]: t["value"] for t in request.pop("tags", [])}
        revision = 1 + max(d["revision"] for d, _t in self.task_definitions.values() if d["family"] == request["family"])
        arn = f"arn:aws:ecs:us-east-1:1:task-definition/{request['family']}:{revision}"
        self.task_definitions[arn] = (dict(request, taskDefinitionArn=arn, revision=revision, status="ACTIVE"), tags)
        return {"taskDefinition": copy.deepcopy(self.task_definitions[arn][0]), "tags": kwargs.get("tags", [])}

    @property
    def writes(self):
        return [name for name, _kwargs in self.calls if name in ("update_service", "deregister_task_definition", "register_task_definition")]


WIRING = ["DATABASE_URL", "DATABASE_DRIVER_CLASS", "DATABASE_USERNAME", "DATABASE_PASSWORD"]
UNWIRE = {"container_name": "app", "variables": WIRING, "origin_tag": "ecsrds.connect/original-task-definition"}
CREATED_BY = {"ecsrds.connect/created-by": "shop-db"}
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:1:secret:rds!cluster-1-AbCdEf"


def _revision(revision, image, wired):
    environment = [{"name": "QUEUE", "value": "jobs"}]
    secrets = []
    if wired:
        environment += [{"name": "DATABASE_URL", "value": "jdbc:postgresql://db:5432/postgres"},
                        {"name": "DATABASE_DRIVER_CLASS", "value": "org.postgresql.Driver"}]
        secrets = [{"name": "DATABASE_USERNAME", "valueFrom": f"{SECRET_ARN}:username::"},
                   {"name": "DATABASE_PASSWORD", "valueFrom": f"{SECRET_ARN}:password::"}]
    arn = f"arn:aws:ecs:us-east-1:1:task-definition/app:{revision}"
    return arn, {"taskDefinitionArn": arn, "family": "app", "revision": revision, "status": "ACTIVE", "cpu": "256", "memory": "512",
                 "executionRoleArn": "arn:aws:iam::1:role/exec",
                 "containerDefinitions": [{"name": "app", "image": image, "environment": environment, "secrets": secrets}]}


def _pipeline_account(current):
    """app:1 the application's own, app:2 ours (app:1 wired, tagged), app:3 the application's pipeline's
    next release: our revision copied with image web:2, none of our tags (as a render/deploy step does)."""
    origin_arn, origin = _revision(1, "web:1", wired=False)
    ours_arn, ours = _revision(2, "web:1", wired=True)
    release_arn, release = _revision(3, "web:2", wired=True)
    definitions = {
        origin_arn: (origin, {"team": "a"}),
        ours_arn: (ours, dict(CREATED_BY, team="a", **{"ecsrds.connect/managed": "true", "ecsrds.connect/original-task-definition": origin_arn})),
        release_arn: (release, {}),
    }
    current_arn = {"origin": origin_arn, "ours": ours_arn, "release": release_arn}[current]
    primary = {"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": current_arn, "rolloutState": "COMPLETED"}
    services = {"svc": _service(current_arn, deployments=[primary])}
    return RegisteringEcs(services, definitions), origin_arn, ours_arn, release_arn


class TestUnwire:
    def test_a_pipelines_release_keeps_its_image_and_loses_only_the_wiring(self):
        ecs, _origin, ours, release = _pipeline_account("release")
        planned = ServiceDeployer(ecs, "us-east-1", check_mode=True).run("c", "svc", unwire=UNWIRE, deregister_tagged=CREATED_BY)
        assert planned["deployed"] and planned["unwired"] == {"variables": sorted(WIRING), "registered": False, "planned": True}
        assert planned["deregistered_task_definition_arns"] == [ours] and ecs.writes == []
        assert planned["diff"]["after"]["task_definition"] == "a new revision of app without the wiring"

        result = ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0).run("c", "svc", unwire=UNWIRE, deregister_tagged=CREATED_BY)
        assert ecs.writes == ["register_task_definition", "update_service", "deregister_task_definition"]
        unwired_arn = result["service"]["task_definition"]
        assert unwired_arn.endswith("app:4") and result["unwired"]["registered"] is True
        container = ecs.task_definitions[unwired_arn][0]["containerDefinitions"][0]
        assert container["image"] == "web:2" and container["environment"] == [{"name": "QUEUE", "value": "jobs"}] and container["secrets"] == []
        # Not ours: never deregistered by a later teardown. The release itself stays the application's.
        assert ecs.task_definitions[unwired_arn][1] == {}
        assert result["deregistered_task_definition_arns"] == [ours] and release not in result["deregistered_task_definition_arns"]

    def test_without_a_release_since_the_revision_it_started_from_runs_again(self):
        ecs, origin, ours, _release = _pipeline_account("ours")
        result = ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0).run("c", "svc", unwire=UNWIRE, deregister_tagged=CREATED_BY)
        assert result["service"]["task_definition"] == origin and result["unwired"]["registered"] is False
        # The origin was it: the family's latest revision is not described for nothing.
        assert not [kw for name, kw in ecs.calls if name == "describe_task_definition" and kw["taskDefinition"] == "app"]
        assert ecs.writes == ["update_service", "deregister_task_definition"] and result["deregistered_task_definition_arns"] == [ours]

    def test_an_unwired_service_is_left_where_it_is(self):
        ecs, origin, ours, _release = _pipeline_account("origin")
        result = ServiceDeployer(ecs, "us-east-1", check_mode=False).run("c", "svc", unwire=UNWIRE)
        assert not result["changed"] and not result["deployed"] and ecs.writes == []
        assert result["unwired"] == {"variables": [], "registered": False, "planned": False}

    def test_a_revision_an_interrupted_run_registered_is_used_again(self):
        ecs, _origin, _ours, release = _pipeline_account("release")
        ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0).run("c", "svc", unwire=UNWIRE)
        ecs.services["svc"]["taskDefinition"] = release  # the update was lost
        ecs.calls.clear()
        again = ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0).run("c", "svc", unwire=UNWIRE)
        assert ecs.writes == ["update_service"] and again["service"]["task_definition"].endswith("app:4")


# ---------------------------------------------------------------------------------------------
# Following one deployment. The DescribeServices answers below are shaped like ECS's (field names,
# statuses, reason and event texts): moto never rolls back nor reports FAILED by itself.

NEW, OLD, BACK = "ecs-svc/7101", "ecs-svc/7100", "ecs-svc/7102"
BREAKER = "ECS deployment circuit breaker: tasks failed to start."


def _deployment(dep_id, status, task_definition, rollout, reason=None, running=0, desired=2, failed=0):
    return {
        "id": dep_id, "status": status, "taskDefinition": task_definition, "desiredCount": desired, "pendingCount": 0,
        "runningCount": running, "failedTasks": failed, "rolloutState": rollout,
        "rolloutStateReason": reason or f"ECS deployment {dep_id} {'completed' if rollout == 'COMPLETED' else 'in progress'}.",
        "launchType": "FARGATE",
    }


def _answer(task_definition, deployments, events=(), running=2):
    service = _service(task_definition, deployments=deployments, running=running)
    service["events"] = [{"id": str(i), "message": message} for i, message in enumerate(events)]
    return service


AFTER_UPDATE = _answer(TD2, [_deployment(NEW, "PRIMARY", TD2, "IN_PROGRESS"), _deployment(OLD, "ACTIVE", TD1, "COMPLETED", running=2)])
# What AWS shows once the circuit breaker gave up and rolled back (TOOLCHAIN-NOTES.md): the failed
# deployment turns ACTIVE with rolloutState FAILED and drains, a new PRIMARY of the last completed
# revision appears, service.taskDefinition is the old revision, events say "rolling back".
ROLLING_BACK = _answer(
    TD1,
    [_deployment(BACK, "PRIMARY", TD1, "IN_PROGRESS", running=1), _deployment(NEW, "ACTIVE", TD2, "FAILED", BREAKER, failed=3)],
    events=[f"(service svc) rolling back to deployment {OLD}.", f"(service svc) (deployment {NEW}) deployment failed: tasks failed to start."],
)
ROLLED_BACK = _answer(
    TD1,
    [_deployment(BACK, "PRIMARY", TD1, "COMPLETED", running=2)],
    events=[f"(service svc) (deployment {BACK}) deployment completed.", f"(service svc) rolling back to deployment {OLD}."],
)
# Circuit breaker without rollback: the deployment stays PRIMARY with rolloutState FAILED.
FAILED_IN_PLACE = _answer(TD2, [_deployment(NEW, "PRIMARY", TD2, "FAILED", BREAKER, failed=3), _deployment(OLD, "ACTIVE", TD1, "COMPLETED", running=2)])
COMPLETED = _answer(TD2, [_deployment(NEW, "PRIMARY", TD2, "COMPLETED", running=2)])


class ScriptedEcs(FakeEcs):
    """UpdateService answers AFTER_UPDATE; each later DescribeServices takes the next scripted answer
    (the last one repeats)."""

    def __init__(self, script, before=None, stopped_tasks=()):
        fake = _fake()
        super().__init__({"svc": before or _service(TD1, deployments=[_deployment(OLD, "PRIMARY", TD1, "COMPLETED", running=2)])},
                         fake.task_definitions, stopped_tasks)
        self.script = list(script)

    def update_service(self, **kwargs):
        self._record("update_service", kwargs)
        self.services["svc"] = copy.deepcopy(AFTER_UPDATE)
        return {"service": copy.deepcopy(AFTER_UPDATE)}

    def describe_services(self, **kwargs):
        if any(name == "update_service" for name, _kwargs in self.calls) and self.script:
            self.services["svc"] = copy.deepcopy(self.script.pop(0) if len(self.script) > 1 else self.script[0])
        return super().describe_services(**kwargs)

    @property
    def polls(self):
        return sum(1 for name, _kwargs in self.calls if name == "describe_services")


def _deploy(ecs, **options):
    options.setdefault("wait_timeout", 900)
    grace = options.pop("grace", 0)
    clock = options.pop("clock", lambda: 1000.0)
    deployer = ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0, recent_change_grace=grace, clock=clock)
    return deployer.run("c", "svc", task_definition=TD2, **options)


class TestFollowsItsOwnDeployment:
    def test_completes_when_its_deployment_completes(self):
        ecs = ScriptedEcs([AFTER_UPDATE, COMPLETED])
        result = _deploy(ecs)
        assert result["deployment_id"] == NEW and result["rollout_state"] == "COMPLETED"
        assert ecs.polls == 3  # the first look, then one poll per answer

    def test_rollback_fails_long_before_the_timeout(self):
        ecs = ScriptedEcs([AFTER_UPDATE, ROLLING_BACK, ROLLED_BACK])
        with pytest.raises(EcsRdsError) as error:
            _deploy(ecs)
        message = error.value.message
        assert f"Deployment {NEW} of {TD2} to service svc was rolled back to {TD1}" in message
        assert BREAKER in message and f"rolling back to deployment {OLD}" in message
        assert error.value.kwargs == {"deployment_id": NEW, "rollout_state": "FAILED"}
        assert ecs.polls == 3  # failed at the first answer showing the rollback, out of a 900 s wait

    def test_a_completed_rollback_is_no_success(self):
        # Only the rolled-back state is seen (a poll missed the rollback in progress): PRIMARY and
        # COMPLETED, but of another deployment and the old revision.
        ecs = ScriptedEcs([ROLLED_BACK])
        with pytest.raises(EcsRdsError, match=f"rolled back to {TD1}.*latest service events:.*rolling back to deployment {OLD}"):
            _deploy(ecs)
        assert ecs.polls == 2

    def test_failed_rollout_fails_with_its_reason(self):
        ecs = ScriptedEcs([AFTER_UPDATE, FAILED_IN_PLACE])
        with pytest.raises(EcsRdsError) as error:
            _deploy(ecs)
        assert error.value.message.startswith(f"Deployment {NEW} of {TD2} to service svc failed: {BREAKER}")
        assert ecs.polls == 3

    def test_timeout_says_what_it_waited_for_and_the_last_state(self):
        ecs = ScriptedEcs([AFTER_UPDATE])
        with pytest.raises(EcsRdsError) as error:
            _deploy(ecs, wait_timeout=0)
        message = error.value.message
        assert f"waiting for deployment {NEW} of {TD2} to service svc to be PRIMARY with rolloutState COMPLETED" in message
        assert "last seen: PRIMARY, rolloutState IN_PROGRESS" in message and "0 of 2 tasks running" in message

    def test_resumes_the_rollout_that_runs_the_wanted_revision(self):
        # A previous run moved the service and was interrupted: follow that deployment, start none.
        ecs = ScriptedEcs([COMPLETED], before=copy.deepcopy(AFTER_UPDATE))
        ecs.calls.append(("update_service", {}))  # let the script play from the next describe
        result = ServiceDeployer(ecs, "us-east-1", check_mode=False, poll_delay=0).run("c", "svc", task_definition=TD2)
        assert not result["deployed"] and result["deployment_id"] == NEW and result["rollout_state"] == "COMPLETED"
        assert [name for name, _kwargs in ecs.calls if name == "update_service"] == ["update_service"]  # only the marker

    def test_lookup_reports_the_primary_deployment(self):
        result = ServiceDeployer(_fake(current=TD2), "us-east-1", check_mode=False).run("c", "svc")
        assert result["deployment_id"] == "ecs-svc/1" and result["rollout_state"] == "COMPLETED"

    def test_check_mode_has_no_deployment_yet(self):
        result = ServiceDeployer(_fake(), "us-east-1", check_mode=True).run("c", "svc", task_definition=TD2)
        assert result["deployment_id"] is None


def _stopped(arn, reason, created, stopped, started_by=NEW):
    utc = datetime.timezone.utc
    return {
        "taskArn": arn, "group": "service:svc", "taskDefinitionArn": TD2, "startedBy": started_by, "stoppedReason": reason,
        "createdAt": datetime.datetime.fromtimestamp(created, utc), "stoppedAt": datetime.datetime.fromtimestamp(stopped, utc),
    }


class TestEarlyFailureRule:
    """Right after the grant or the endpoint changed, a known stop reason fails early only when it repeats."""

    def test_without_a_recent_change_the_first_known_reason_fails(self):
        assert early_failure([_stopped("t1", DENIED, 1000, 1030)], "us-east-1", grace_until=None).task_arn == "t1"

    def test_within_the_grace_a_first_failure_waits(self):
        # Both first tasks started together, before IAM had applied the grant: no repeat yet.
        tasks = [_stopped("t1", DENIED, 1000, 1030), _stopped("t2", DENIED, 1001, 1031)]
        assert early_failure(tasks, "us-east-1", grace_until=1120) is None

    def test_within_the_grace_a_retry_that_meets_the_same_error_fails(self):
        tasks = [_stopped("t1", DENIED, 1000, 1030), _stopped("t2", DENIED, 1040, 1070)]
        assert early_failure(tasks, "us-east-1", grace_until=1120).task_arn == "t2"

    def test_a_task_started_after_the_grace_fails(self):
        assert early_failure([_stopped("t3", NO_ROUTE, 1130, 1160)], "us-east-1", grace_until=1120).task_arn == "t3"

    def test_unknown_reasons_never_fail_early(self):
        tasks = [_stopped("t1", "Essential container in task exited", 1000, 1030), _stopped("t2", "Essential container in task exited", 1200, 1230)]
        assert early_failure(tasks, "us-east-1", grace_until=None) is None

    def test_deployer_lets_a_healing_rollout_complete(self):
        # The grant changed this run: the first task stopped with AccessDenied, the next one started.
        ecs = ScriptedEcs([AFTER_UPDATE, COMPLETED], stopped_tasks=[_stopped("t1", DENIED, 1000, 1030)])
        result = _deploy(ecs, grace=120, clock=lambda: 1000.0)
        assert result["rollout_state"] == "COMPLETED" and result["deployment_id"] == NEW

    def test_deployer_without_grace_fails_on_the_same_answers(self):
        ecs = ScriptedEcs([AFTER_UPDATE, COMPLETED], stopped_tasks=[_stopped("t1", DENIED, 1000, 1030)])
        with pytest.raises(EcsRdsError, match="task t1 stopped with: ResourceInitializationError"):
            _deploy(ecs)
        assert ecs.polls == 2

    def test_deployer_fails_when_the_reason_repeats_within_the_grace(self):
        tasks = [_stopped("t1", NO_ROUTE, 1000, 1030), _stopped("t2", NO_ROUTE, 1040, 1070)]
        ecs = ScriptedEcs([AFTER_UPDATE], stopped_tasks=tasks)
        with pytest.raises(EcsRdsError, match="task t2 stopped with: .*interface VPC endpoint com.amazonaws"):
            _deploy(ecs, grace=120, clock=lambda: 1000.0)
        assert ecs.polls == 2

    def test_timeout_within_the_grace_reports_the_known_reason_and_fix(self):
        ecs = ScriptedEcs([AFTER_UPDATE], stopped_tasks=[_stopped("t1", DENIED, 1000, 1030)])
        with pytest.raises(EcsRdsError, match="Timed out.*last stopped task reason: ResourceInitializationError.*Fix: grant"):
            _deploy(ecs, grace=600, clock=lambda: 1000.0, wait_timeout=0)


# ---------------------------------------------------------------------------------------------
# The service role's one decision of which services roll out (rollout_plan), and what it publishes.

PLAN_SERVICES = [{"name": "api", "container_name": "app"}, {"name": "worker", "container_name": "app"}]
PLAN_OLD, PLAN_NEW = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3", "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:4"


def _registered(arn, changed):
    return {"task_definition_arn": arn, "revision": int(arn.rsplit(":", 1)[1]) if arn else None, "changed": changed}


def test_a_run_that_changes_nothing_rolls_nothing_out():
    running = {"api": {"task_definition": PLAN_NEW, "settled": True}, "worker": {"task_definition": PLAN_NEW, "settled": True}}
    plan = rollout_plan(PLAN_SERVICES, running, [_registered(PLAN_NEW, False)] * 2)
    assert [p["roll_out"] for p in plan] == [False, False]
    assert [p["deployed"] for p in plan] == [False, False]


def test_a_new_revision_or_an_unsettled_rollout_is_rolled_out():
    running = {"api": {"task_definition": PLAN_OLD, "settled": True}, "worker": {"task_definition": PLAN_NEW, "settled": False}}
    plan = rollout_plan(PLAN_SERVICES, running, [_registered(PLAN_NEW, True), _registered(PLAN_NEW, False)])
    assert [p["roll_out"] for p in plan] == [True, True]
    assert plan[0]["previous_task_definition_arn"] == PLAN_OLD and plan[0]["revision"] == 4


def test_check_mode_plans_the_rollout_of_a_revision_not_registered_yet():
    running = {"api": {"task_definition": PLAN_OLD, "settled": True}}
    unregistered = [_registered(None, True)]
    assert rollout_plan(PLAN_SERVICES[:1], running, unregistered, check_mode=True)[0]["roll_out"] is True
    # Outside check mode a missing ARN means nothing was registered: nothing to roll out.
    assert rollout_plan(PLAN_SERVICES[:1], running, unregistered)[0]["roll_out"] is False
    # Nothing could be registered (no database yet): nothing is rolled out, and the change is reported as planned.
    bare = rollout_plan(PLAN_SERVICES[:1], running, None, check_mode=True)[0]
    assert bare["roll_out"] is False and bare["deployed"] is True


def test_deployments_fill_in_what_was_deployed():
    running = {"api": {"task_definition": PLAN_OLD, "settled": True}, "worker": {"task_definition": PLAN_NEW, "settled": True}}
    registered = [_registered(PLAN_NEW, True), _registered(PLAN_NEW, False)]
    plan = rollout_plan(PLAN_SERVICES, running, registered)
    deployments = [{"item": plan[0], "deployed": True, "changed": True}]
    done = rollout_plan(PLAN_SERVICES, running, registered, deployments=deployments)
    assert [(p["service"], p["deployed"]) for p in done] == [("api", True), ("worker", False)]
    assert set(done[0]) == {"service", "task_definition_arn", "previous_task_definition_arn", "revision", "deployed"}


# ---------------------------------------------------------------------------------------------
# The service role's steps around the rollout: its inputs -> each module's options


def service_inputs(**overrides):
    given = dict(service_ecs_cluster="shop", service_ecs_services=["api", {"name": "worker", "container_name": "w"}],
                 service_db_cluster_identifier="shop-db")
    return role_inputs("service", **dict(given, **overrides))


def test_each_service_gets_its_container_and_the_revision_it_runs():
    discovered = {"services": {"api": {"task_definition": PLAN_OLD}, "worker": {"task_definition": PLAN_NEW}}}
    assert service_entries(service_inputs(), discovered) == [
        {"name": "api", "container_name": "app", "task_definition": PLAN_OLD},
        {"name": "worker", "container_name": "w", "task_definition": PLAN_NEW},
    ]
    assert service_entries(service_inputs(service_container_name="web"))[0] == {"name": "api", "container_name": "web", "task_definition": None}
    assert service_names(["api", {"name": "worker", "container_name": "w"}, {"container_name": "x"}, ""]) == ["api", "worker"]


def _plan(roll_out=(True, False), registered=(PLAN_NEW, PLAN_NEW)):
    return [{"service": name, "container_name": "app", "task_definition_arn": arn, "previous_task_definition_arn": PLAN_OLD, "roll_out": out}
            for name, arn, out in zip(("api", "worker"), registered, roll_out)]


def test_only_the_services_rolled_out_are_deployed_with_the_grace_after_a_recent_change():
    options = deploy_options(_plan(), service_inputs())
    assert options == {"rollouts": [{"cluster": "shop", "service": "api", "task_definition": PLAN_NEW, "force_new_deployment": False}],
                       "wait": True, "wait_timeout": 900, "recent_change_grace": 0}
    assert deploy_options(_plan(), service_inputs(), recent_change=True)["recent_change_grace"] == 180
    assert deploy_options(_plan(), service_inputs(service_secretsmanager_endpoint_changed=True))["recent_change_grace"] == 180
    # Check mode: a revision not registered yet is planned as a forced deployment of the running one.
    [planned] = deploy_options(_plan(registered=(None, None)), service_inputs())["rollouts"]
    assert planned["task_definition"] == PLAN_OLD and planned["force_new_deployment"] is True
    assert len(deploy_options(_plan(roll_out=(True, True)), service_inputs())["rollouts"]) == 2


def test_the_preflight_guards_a_rollout_and_only_reports_in_check_mode():
    api = preflight_options(_plan(), service_inputs(service_preflight_db_security_group_ids=["sg-db", None], service_db_port=5433))
    assert api == {"cluster": "shop", "services": [{"service": "api", "task_definition": PLAN_NEW, "container_name": "app", "db_users": []}],
                   "db_security_group_ids": ["sg-db"], "db_port": 5433, "fail_on": "fail"}
    # Every service in one run of the module.
    assert [o["service"] for o in preflight_options(_plan(), service_inputs(service_preflight_every_run=True))["services"]] == ["api", "worker"]
    assert preflight_options(_plan(), service_inputs(), check_mode=True)["fail_on"] == "never"
    assert preflight_options(_plan(), service_inputs(service_preflight=False)) is None
    # A revision check mode did not register has no ARN to check.
    assert preflight_options(_plan(registered=(None, None)), service_inputs()) is None


def test_the_log_check_reads_every_service_when_asked():
    assert log_check_options(service_inputs()) == []
    checks = log_check_options(service_inputs(service_verify_log_pattern="HikariPool", service_verify_log_timeout=60))
    assert [(c["service"], c["container_name"], c["pattern"], c["start_time"], c["wait_timeout"]) for c in checks] == [
        ("api", "app", "HikariPool", 0, 60), ("worker", "w", "HikariPool", 0, 60)]


def test_the_teardown_restores_each_service_and_refuses_to_guess_the_deployment():
    restores = restore_options(role_inputs("service", entry_point="teardown", service_ecs_cluster="shop", service_ecs_services=["api"],
                                           service_db_cluster_identifier="shop-db"))
    assert restores == [{"cluster": "shop", "service": "api", "unwire": {
        "container_name": "app", "variables": ["DATABASE_URL", "DATABASE_DRIVER_CLASS", "DATABASE_USERNAME", "DATABASE_PASSWORD"],
        "origin_tag": "ecsrds.connect/original-task-definition"},
        "deregister_tagged": {"ecsrds.connect/created-by": "shop-db"}, "wait": True, "wait_timeout": 900}]
    # The container and the variables the role was applied with.
    renamed = restore_options(role_inputs("service", entry_point="teardown", service_ecs_cluster="shop", service_db_cluster_identifier="shop-db",
                                          service_ecs_services=[{"name": "api", "container_name": "web"}], service_url_variable="JDBC_URL"))
    assert renamed[0]["unwire"]["container_name"] == "web" and renamed[0]["unwire"]["variables"][0] == "JDBC_URL"
    nameless = role_inputs("service", entry_point="teardown", service_ecs_cluster="shop", service_ecs_services=["api"])
    with pytest.raises(ValueError, match="service_execution_role_policy_name is empty"):
        restore_options(nameless)
    with pytest.raises(ValueError, match="service_deployment_id, service_db_cluster_identifier and service_secret_arn are empty"):
        restore_options(dict(nameless, service_execution_role_policy_name="mine"))


def test_the_teardown_also_unwires_the_services_found_reading_the_secret():
    inputs = role_inputs("service", entry_point="teardown", service_ecs_cluster="shop", service_ecs_services=["api"],
                         service_db_cluster_identifier="shop-db")
    found = {"secret_users": {"reports": {"task_definition": "arn:td/reports:4", "container_name": "worker", "variables": ["PGPASSWORD"]}}}
    listed, user = restore_options(inputs, found)
    assert listed == restore_options(inputs)[0]
    # Its container; the deployment's four names and the one of its own that reads the secret.
    assert (user["service"], user["cluster"], user["unwire"]["container_name"]) == ("reports", "shop", "worker")
    assert user["unwire"]["variables"] == ["DATABASE_URL", "DATABASE_DRIVER_CLASS", "DATABASE_USERNAME", "DATABASE_PASSWORD", "PGPASSWORD"]
    assert user["deregister_tagged"] == {"ecsrds.connect/created-by": "shop-db"}


def test_only_the_released_services_still_wired_are_unwired():
    inputs = role_inputs("service", service_ecs_cluster="shop", service_ecs_services=["api"], service_secret_arn="arn:s",
                         service_db_cluster_identifier="shop-db", service_release_services=["old", {"name": "batch", "container_name": "job"}])
    released = {"old": {"task_definition": "arn:td/old:3", "container_name": "app", "wired": False},
                "batch": {"task_definition": "arn:td/batch:9", "container_name": "job", "wired": True}}
    [batch] = release_options(inputs, {"released": released})
    assert (batch["service"], batch["unwire"]["container_name"]) == ("batch", "job")
    assert batch["unwire"]["variables"] == ["DATABASE_URL", "DATABASE_DRIVER_CLASS", "DATABASE_USERNAME", "DATABASE_PASSWORD"]
    # Nothing to release after the run that released them.
    assert release_options(inputs, {"released": {name: dict(entry, wired=False) for name, entry in released.items()}}) == []
    # Without the deployment check's reading (it was not asked): every listed service is looked at by the module.
    assert [(o["service"], o["unwire"]["container_name"]) for o in release_options(inputs)] == [("old", "app"), ("batch", "job")]
    assert release_options(role_inputs("service", service_ecs_cluster="shop", service_ecs_services=["api"], service_secret_arn="arn:s"),
                           {"released": {}}) == []


class FleetEcs(FakeEcs):
    """Services svc-0 .. svc-<n-1> of cluster c on TD1. UpdateService starts a deployment of TD2 that
    ECS reports IN_PROGRESS; each later description of that service counts as one look, and at look
    ``looks_to_end`` the deployment is COMPLETED (or FAILED for a service in ``failing``), as AWS
    shows them (PRIMARY with rolloutState)."""

    def __init__(self, count, looks_to_end, failing=(), clock=None):
        self.clock, self.poll_times = clock, []
        services = {f"svc-{i}": _service(TD1, deployments=[_deployment(OLD, "PRIMARY", TD1, "COMPLETED", running=2)], name=f"svc-{i}")
                    for i in range(count)}
        super().__init__(services, _fake().task_definitions)
        self.looks_to_end, self.failing, self.looks = looks_to_end, set(failing), {}

    def update_service(self, **kwargs):
        self._record("update_service", kwargs)
        name = kwargs["service"]
        self.services[name] = _answer(TD2, [_deployment(f"ecs-svc/{name}", "PRIMARY", TD2, "IN_PROGRESS"),
                                            _deployment(OLD, "ACTIVE", TD1, "COMPLETED", running=2)])
        self.services[name].update(serviceName=name, serviceArn=f"arn:aws:ecs:us-east-1:1:service/c/{name}")
        self.looks[name] = 0
        return {"service": copy.deepcopy(self.services[name])}

    def describe_services(self, **kwargs):
        if self.looks and self.clock:
            self.poll_times.append(self.clock.now)
        for name in kwargs["services"]:
            if name in self.looks:
                self.looks[name] += 1
                if self.looks[name] == self.looks_to_end:
                    state = "FAILED" if name in self.failing else "COMPLETED"
                    self.services[name]["deployments"] = [_deployment(f"ecs-svc/{name}", "PRIMARY", TD2, state, BREAKER if state == "FAILED" else None,
                                                                      running=0 if state == "FAILED" else 2)]
        return super().describe_services(**kwargs)

    def polls(self):
        """The services each DescribeServices after the first UpdateService asked for."""
        first = next(i for i, (name, _kwargs) in enumerate(self.calls) if name == "update_service")
        return [kwargs["services"] for name, kwargs in self.calls[first:] if name == "describe_services"]


def _rollouts(ecs, count, wait_timeout=900):
    params = {"rollouts": [{"cluster": "c", "service": f"svc-{i}", "task_definition": TD2, "force_new_deployment": False} for i in range(count)],
              "wait": True, "wait_timeout": wait_timeout, "recent_change_grace": 0}
    return run_service_rollouts(Clients(lambda service: ecs, "us-east-1"), params, False, False)


class TestRolloutsTogether:
    def test_every_service_is_moved_before_the_first_is_followed_and_a_poll_describes_ten_at_a_time(self, fake_clock):
        ecs = FleetEcs(12, looks_to_end=3, clock=fake_clock)
        outcome = _rollouts(ecs, 12)
        names = [name for name, _kwargs in ecs.calls]
        first_update, last_update = names.index("update_service"), len(names) - 1 - names[::-1].index("update_service")
        # All twelve UpdateService calls come before any look at a rollout.
        assert names[first_update:last_update + 1] == ["update_service"] * 12
        # Before them, one DescribeServices per 10 services decided who needs a deployment.
        assert [len(k["services"]) for n, k in ecs.calls[:first_update] if n == "describe_services"] == [10, 2]
        # Each poll: one DescribeServices per 10 services still rolling out; three polls to the end.
        assert [len(services) for services in ecs.polls()] == [10, 2, 10, 2, 10, 2]
        assert [r["rollout_state"] for r in outcome.result["rollouts"]] == ["COMPLETED"] * 12 and outcome.changed
        # Polls no more often than every 5 seconds (10 here).
        times = sorted(set(ecs.poll_times))
        assert [b - a for a, b in zip(times, times[1:])] == [10.0, 10.0]

    def test_one_failing_rollout_does_not_stop_the_others_and_every_outcome_is_named(self, fake_clock):
        ecs = FleetEcs(3, looks_to_end=2, failing={"svc-1"}, clock=fake_clock)
        with pytest.raises(EcsRdsError) as error:
            _rollouts(ecs, 3)
        rollouts = error.value.kwargs["rollouts"]
        assert [(r["service"], r["rollout_state"]) for r in rollouts] == [("svc-0", "COMPLETED"), ("svc-1", "FAILED"), ("svc-2", "COMPLETED")]
        assert rollouts[1]["error"].startswith(f"Deployment ecs-svc/svc-1 of {TD2} to service svc-1 failed: {BREAKER}")
        message = error.value.message
        assert message.startswith("1 of 3 rollouts did not complete: (1) svc-0: COMPLETED (2) svc-1: Deployment") and "(3) svc-2: COMPLETED" in message

    def test_the_time_is_shared_and_every_rollout_still_going_times_out_named(self, fake_clock):
        ecs = FleetEcs(2, looks_to_end=99, clock=fake_clock)
        with pytest.raises(EcsRdsError) as error:
            _rollouts(ecs, 2, wait_timeout=0)
        errors = [r["error"] for r in error.value.kwargs["rollouts"]]
        assert all(e.startswith("Timed out after 0 seconds waiting for deployment ecs-svc/svc-") and "last seen: PRIMARY, rolloutState IN_PROGRESS" in e
                   for e in errors), errors
        assert len(ecs.polls()) == 1  # one look at both, then the time was up

    def test_a_service_already_on_its_revision_is_not_deployed_again(self, fake_clock):
        ecs = FleetEcs(2, looks_to_end=1, clock=fake_clock)
        _rollouts(ecs, 2)
        writes_before = ecs.writes
        again = _rollouts(ecs, 2)
        assert ecs.writes == writes_before and not again.changed
        assert [r["deployed"] for r in again.result["rollouts"]] == [False, False]
