# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving an ECS service onto a task definition revision, waiting for the rollout, and telling
the user what to fix when tasks of the new deployment stop with one of the classic errors.

The pure parts (``diagnose_stopped_reason``, ``judge_deployment``, ``early_failure``,
``needs_deployment`` ...) are separate from the classes that call AWS, one per job:
:class:`ServiceReads` (describes and lists), :class:`RolloutWatcher` (follows one deployment) and
:class:`ServiceDeployer` (the module's job: update, follow, deregister what a restore left unused).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError, Outcome, aws_retry, call, create_or_adopt
from ansible_collections.ecsrds.connect.plugins.module_utils.common import tags_to_dict, timeout_message, wait_for
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import build_register_request, register_parameters, register_task_definition
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import describe_task_definition as describe_revision
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import same_content, task_definition_result, unwire_plan
from ansible_collections.ecsrds.connect.plugins.module_utils.iam import db_user_arn
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import grant_policy_name
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import login_secret_arns, login_secret_name, service_entry, service_logins
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import CREATED_BY_TAG, ORIGINAL_TAG, service_deployment_id

# ---------------------------------------------------------------------------------------------
# Stopped-task diagnosis
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StopDiagnosis:
    """What a task's stop reason means and what to change so the next task starts."""

    cause: str
    fix: str

    def message(self) -> str:
        return f"{self.cause} Fix: {self.fix}"


_REGION_IN_ARN = re.compile(r"arn:aws[a-z-]*:(?:secretsmanager|kms|ecr|ssm):([a-z0-9-]+):")
_ASSUMED_ROLE = re.compile(r"assumed-role/([\w+=,.@-]+)/")
_RESOURCE = re.compile(r"on resource: (arn:\S+)")


def _region(reason: str, default: Optional[str]) -> str:
    found = _REGION_IN_ARN.search(reason)
    return found.group(1) if found else (default or "<region>")


def diagnose_stopped_reason(reason: Optional[str], region: Optional[str] = None) -> Optional[StopDiagnosis]:
    """Map a stopped task's reason to its cause and fix; None when the reason is not a known one.

    ``region`` is used when the reason itself names no ARN to take it from.
    """
    if not reason:
        return None
    text = reason.lower()
    where = _region(reason, region)
    role = _ASSUMED_ROLE.search(reason)
    role_name = role.group(1) if role else None
    resource = _RESOURCE.search(reason)
    resource_arn = resource.group(1).rstrip(".,;") if resource else None

    # Denials first: a denied GetSecretValue also says "unable to retrieve secret from asm".
    if "kms:decrypt" in text and ("not authorized" in text or "accessdenied" in text):
        return StopDiagnosis(
            cause="The task execution role may not decrypt the secret's customer-managed KMS key.",
            fix=(
                f"allow kms:Decrypt on {resource_arn or 'the key that encrypts the secret'} to the task EXECUTION role"
                f"{' ' + role_name if role_name else ''} (not the task role) with the condition "
                f"kms:ViaService = secretsmanager.{where}.amazonaws.com, and check that the key policy lets the "
                "account's IAM policies grant access."
            ),
        )
    if "secretsmanager:getsecretvalue" in text and ("not authorized" in text or "accessdenied" in text):
        return StopDiagnosis(
            cause="The task execution role may not read the secret.",
            fix=(
                f"grant secretsmanager:GetSecretValue on exactly {resource_arn or 'the secret named in valueFrom'} to the "
                f"task EXECUTION role{' ' + role_name if role_name else ''} (the role in executionRoleArn, not the "
                "task role), plus kms:Decrypt on the secret's KMS key when that key is customer-managed. "
                "A broad managed policy such as SecretsManagerReadWrite is not needed."
            ),
        )
    if ("connection issue between the task and aws secrets manager" in text) or (
        "unable to retrieve secret from asm" in text and "context deadline exceeded" in text
    ):
        return StopDiagnosis(
            cause="The task cannot reach AWS Secrets Manager from its subnets.",
            fix=(
                f"add an interface VPC endpoint com.amazonaws.{where}.secretsmanager with private DNS enabled in the "
                "service's private subnets, with a security group that allows inbound TCP 443 from the tasks "
                "(or give the subnets a route to a NAT gateway)."
            ),
        )
    if "did not contain json key" in text:
        return StopDiagnosis(
            cause="A secret named in the task definition lacks the JSON key its valueFrom asks for.",
            fix="use keys that exist in the secret (an RDS-managed master secret holds 'username' and 'password').",
        )
    if "unable to retrieve secret from asm" in text and "resourcenotfoundexception" in text:
        return StopDiagnosis(
            cause="The secret named in the task definition does not exist.",
            fix="point valueFrom at the current secret ARN (RDS replaces the managed secret when management is turned off and on).",
        )
    if "cannotpullcontainererror" in text:
        return StopDiagnosis(
            cause="The task cannot pull its container image.",
            fix=(
                f"from private subnets add interface VPC endpoints com.amazonaws.{where}.ecr.api and "
                f"com.amazonaws.{where}.ecr.dkr (private DNS, 443 allowed) and the S3 gateway endpoint "
                "com.amazonaws.{0}.s3, or a NAT route; check that the image exists and that the execution role "
                "may pull it (AmazonECSTaskExecutionRolePolicy).".format(where)
            ),
        )
    return None


# ---------------------------------------------------------------------------------------------
# Pure decisions about a described service
# ---------------------------------------------------------------------------------------------


def needs_deployment(service: Dict[str, Any], task_definition_arn: str, force: bool) -> bool:
    """Deploy when the service is not on the revision yet, so an interrupted run deploys next time."""
    return force or service.get("taskDefinition") != task_definition_arn


def primary_deployment(service: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    return next((d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None)


def find_deployment(service: Dict[str, Any], deployment_id: Optional[str]) -> Optional[Dict[str, Any]]:
    return next((d for d in service.get("deployments") or [] if deployment_id and d.get("id") == deployment_id), None)


def deployment_for_revision(service: Dict[str, Any], task_definition_arn: str) -> Optional[Dict[str, Any]]:
    """The deployment that runs ``task_definition_arn``: the one naming it (PRIMARY first), else the
    PRIMARY when the service itself runs it (the PRIMARY deployment always runs service.taskDefinition;
    moto leaves the deployment's own field at the revision the service was created with)."""
    deployments = service.get("deployments") or []
    naming = [d for d in deployments if d.get("taskDefinition") == task_definition_arn]
    naming.sort(key=lambda d: d.get("status") != "PRIMARY")
    if naming:
        return naming[0]
    if service.get("taskDefinition") == task_definition_arn:
        return primary_deployment(service)
    return None


@dataclass(frozen=True)
class RolloutStatus:
    """Where one deployment stands.

    ``state``: COMPLETED, IN_PROGRESS, FAILED (AWS gave up: rolloutState FAILED while it is still
    PRIMARY) or ROLLED_BACK (no longer PRIMARY, or gone: AWS or someone else moved the service on).
    ``rollout_state`` is the deployment's rolloutState as AWS reports it (None without one).
    """

    state: str
    rollout_state: Optional[str]
    reason: Optional[str]
    deployment: Optional[Dict[str, Any]]

    @property
    def settled(self) -> bool:
        return self.state == "COMPLETED"

    @property
    def failed(self) -> bool:
        return self.state in ("FAILED", "ROLLED_BACK")


def judge_deployment(service: Dict[str, Any], deployment_id: Optional[str]) -> RolloutStatus:
    """Judge only the deployment ``deployment_id`` of a described service.

    Done when it is PRIMARY with rolloutState COMPLETED; a deployment without rolloutState (external
    or CODE_DEPLOY controllers, old deployments) is done when it is the only one and every desired
    task runs. A PRIMARY COMPLETED deployment of another id is no success: after a circuit-breaker
    rollback AWS starts a new PRIMARY of the old revision that completes.
    """
    return _judge(service, find_deployment(service, deployment_id))


def _judge(service: Dict[str, Any], deployment: Optional[Dict[str, Any]]) -> RolloutStatus:
    if deployment is None:
        return RolloutStatus("ROLLED_BACK", None, None, None)
    rollout_state = deployment.get("rolloutState")
    reason = deployment.get("rolloutStateReason")
    if deployment.get("status") != "PRIMARY":
        return RolloutStatus("ROLLED_BACK", rollout_state, reason, deployment)
    if rollout_state in ("COMPLETED", "FAILED"):
        return RolloutStatus(rollout_state, rollout_state, reason, deployment)
    if rollout_state:
        return RolloutStatus("IN_PROGRESS", rollout_state, reason, deployment)
    steady = service.get("runningCount") == service.get("desiredCount") and len(service.get("deployments") or []) <= 1
    return RolloutStatus("COMPLETED" if steady else "IN_PROGRESS", None, None, deployment)


def rollout_progress(service: Dict[str, Any]) -> Tuple[str, Optional[str]]:
    """("COMPLETED" | "IN_PROGRESS" | "FAILED", reason) for the service's PRIMARY deployment."""
    status = _judge(service, primary_deployment(service))
    return ("IN_PROGRESS" if status.state == "ROLLED_BACK" else status.state), status.reason


def describe_status(service: Dict[str, Any], status: RolloutStatus) -> str:
    """The last state seen, in words, for a timeout or failure message."""
    deployment = status.deployment
    if deployment is None:
        return f"the deployment is gone; the service runs {service.get('taskDefinition')}"
    words = [str(deployment.get("status"))]
    if status.rollout_state:
        words.append(f"rolloutState {status.rollout_state}" + (f" ({status.reason})" if status.reason else ""))
    running = deployment.get("runningCount", service.get("runningCount"))
    desired = deployment.get("desiredCount", service.get("desiredCount"))
    words.append(f"{running} of {desired} tasks running")
    if deployment.get("failedTasks"):
        words.append(f"{deployment['failedTasks']} failed tasks")
    others = len(service.get("deployments") or []) - 1
    if others > 0:
        words.append(f"{others} other deployment(s)")
    return ", ".join(words)


def latest_events(service: Dict[str, Any], count: int = 3) -> List[str]:
    """The newest service event messages (DescribeServices lists them newest first)."""
    return [event.get("message", "") for event in (service.get("events") or [])[:count] if event.get("message")]


def rollout_failure_message(service: Dict[str, Any], status: RolloutStatus, deployment_id: Optional[str], target: str) -> str:
    name = service.get("serviceName")
    if status.state == "FAILED":
        message = f"Deployment {deployment_id} of {target} to service {name} failed: {status.reason or 'rolloutState FAILED'}"
    else:
        now_runs = service.get("taskDefinition")
        primary = primary_deployment(service) or {}
        if now_runs == target:
            message = (
                f"Deployment {deployment_id} of {target} to service {name} was replaced by deployment "
                f"{primary.get('id')} of the same revision (someone else redeployed the service)"
            )
        else:
            message = f"Deployment {deployment_id} of {target} to service {name} was rolled back to {now_runs}"
        if status.reason:
            message += f": {status.reason}"
    events = latest_events(service)
    if events:
        message += "; latest service events: " + " | ".join(events)
    return message


def started_for_deployment(task: Dict[str, Any], service_name: str, task_definition_arn: str, deployment_id: Optional[str]) -> bool:
    """Whether a task belongs to the service's current deployment of ``task_definition_arn``.

    ECS starts a service's tasks with group ``service:<name>`` and startedBy = the deployment id;
    the group and revision are checked here because ListTasks' serviceName filter is not reliable
    everywhere (moto ignores it).
    """
    if task.get("group") != f"service:{service_name}" or task.get("taskDefinitionArn") != task_definition_arn:
        return False
    started_by = task.get("startedBy") or ""
    if deployment_id and started_by.startswith("ecs-svc/"):
        return started_by == deployment_id
    return True


def stop_reasons(task: Dict[str, Any]) -> List[str]:
    """The task's stop reason and its containers' reasons, most specific last."""
    reasons = [task.get("stoppedReason") or ""]
    reasons += [container.get("reason") or "" for container in task.get("containers") or []]
    return [reason for reason in reasons if reason]


def _epoch(value: Any) -> Optional[float]:
    """A task timestamp (datetime from botocore, or epoch seconds) as epoch seconds."""
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return float(value)


@dataclass(frozen=True)
class StopFailure:
    """A stopped task of the followed deployment and what its reason means (None: unknown reason)."""

    task_arn: str
    reason: str
    diagnosis: Optional[StopDiagnosis]


def classify_stopped_tasks(tasks: Sequence[Dict[str, Any]], region: Optional[str]) -> List[StopFailure]:
    """One entry per stopped task with a reason, ordered by when it stopped; a known reason is
    preferred over the task's other reasons."""
    result = []
    for task in sorted(tasks, key=lambda t: _epoch(t.get("stoppedAt")) or 0.0):
        reasons = stop_reasons(task)
        if not reasons:
            continue
        known = next(((r, d) for r, d in ((r, diagnose_stopped_reason(r, region)) for r in reasons) if d), None)
        reason, diagnosis = known if known else (reasons[0], None)
        result.append(StopFailure(task["taskArn"], reason, diagnosis))
    return result


def early_failure(tasks: Sequence[Dict[str, Any]], region: Optional[str], grace_until: Optional[float]) -> Optional[StopFailure]:
    """The stopped task that proves the rollout cannot succeed, or None.

    Without a grace (``grace_until`` None) the first task that stopped with a known reason is proof.
    Right after the execution role's grant or the Secrets Manager endpoint changed, AWS may still be
    applying the change (IAM is eventually consistent, a new endpoint is pending until available), so
    a known reason alone does not fail the rollout; it does when it repeats: a task that stopped
    with a known reason and was started after another task of the deployment had already stopped
    with one (ECS's retry met the same wall), or one started after ``grace_until`` (epoch seconds).
    A task without timestamps counts as started after the grace.
    """
    known = [failure for failure in classify_stopped_tasks(tasks, region) if failure.diagnosis]
    if grace_until is None:
        return known[0] if known else None
    by_arn = {task["taskArn"]: task for task in tasks}
    stops = [_epoch(by_arn[f.task_arn].get("stoppedAt")) for f in known]
    for failure in known:
        task = by_arn[failure.task_arn]
        started = _epoch(task.get("createdAt") or task.get("startedAt") or task.get("stoppedAt"))
        if started is None or started > grace_until:
            return failure
        if any(stopped is not None and stopped < started for stopped in stops):
            return failure
    return None


def tags_match(tags: Dict[str, str], wanted: Dict[str, str]) -> bool:
    return all(tags.get(key) == value for key, value in wanted.items())


def service_result(service: Dict[str, Any]) -> Dict[str, Any]:
    """snake_case service with tags as a dict; events are dropped (long, and never compared)."""
    body = {key: value for key, value in service.items() if key not in ("tags", "events")}
    result = camel_dict_to_snake_dict(body)
    result["tags"] = tags_to_dict(service.get("tags"))
    return result


def _chunks(items: List[str], size: int) -> Iterable[List[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------------------------------------
# AWS
# ---------------------------------------------------------------------------------------------


def describe_services(client: Any, cluster: str, names: Sequence[str], include_tags: bool = False) -> Optional[List[Dict[str, Any]]]:
    """The one reader of ECS services: DescribeServices for ``names`` (ten per request, its limit),
    every status included; None when the cluster does not exist or is INACTIVE (ECS answers
    ClusterNotFoundException, so this checks the cluster too, without a DescribeClusters)."""
    found: List[Dict[str, Any]] = []
    extra = {"include": ["TAGS"]} if include_tags else {}
    for chunk in _chunks(list(names), 10):
        response = call(client, "describe_services", f"describe ECS services in cluster {cluster}", ("ClusterNotFoundException",),
                        cluster=cluster, services=chunk, **extra)
        if response is None:
            return None
        found += response.get("services", [])
    return found


def list_all(client: Any, what: str, operation: str, result_key: str, **kwargs: Any) -> List[str]:
    """Every page of an ECS List call, retried as a whole (paginators do not take aws_retry)."""

    @aws_retry
    def every_page() -> Dict[str, Any]:
        return client.get_paginator(operation).paginate(**kwargs).build_full_result()

    try:
        return every_page().get(result_key, [])
    except (ClientError, BotoCoreError) as exc:
        raise EcsRdsError(message=f"Failed to {what}", exception=exc)


class ServiceReads:
    """The ECS reads of a rollout: services, task definitions, stopped tasks, revisions in use."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _call(self, what: str, method: str, **kwargs: Any) -> Dict[str, Any]:
        return call(self.client, method, what, **kwargs)

    def _list(self, what: str, operation: str, result_key: str, **kwargs: Any) -> List[str]:
        return list_all(self.client, what, operation, result_key, **kwargs)

    def describe_service(self, cluster: str, service: str) -> Dict[str, Any]:
        found = self.describe_services(cluster, [service])
        if not found:
            raise EcsRdsError(message=f"Service {service!r} not found in ECS cluster {cluster!r} (option service)")
        return found[0]

    def describe_services(self, cluster: str, services: List[str]) -> List[Dict[str, Any]]:
        found = describe_services(self.client, cluster, services, include_tags=True)
        if found is None:
            raise EcsRdsError(message=f"ECS cluster {cluster!r} not found, or not ACTIVE (option cluster)")
        return [s for s in found if s.get("status") != "INACTIVE"]

    def describe_each(self, services: Sequence[Tuple[str, str]]) -> Dict[Tuple[str, str], Dict[str, Any]]:
        """Each (cluster, service name or ARN) described, one DescribeServices per cluster and 10
        services; a service that is not there (or INACTIVE) is left out."""
        by_cluster: Dict[str, List[str]] = {}
        for cluster, name in services:
            by_cluster.setdefault(cluster, []).append(name)
        found: Dict[Tuple[str, str], Dict[str, Any]] = {}
        for cluster, names in by_cluster.items():
            for service in self.describe_services(cluster, names):
                for name in names:
                    if name in (service.get("serviceName"), service.get("serviceArn")):
                        found[(cluster, name)] = service
        return found

    def describe_task_definition(self, reference: str) -> Tuple[Dict[str, Any], Dict[str, str]]:
        found = describe_revision(self.client, reference)
        if found is None:
            raise EcsRdsError(message=f"Task definition {reference!r} was not found")
        return found

    def resolve_task_definition_arn(self, reference: str) -> str:
        """family:revision -> ARN, so it compares with what DescribeServices reports."""
        if reference.startswith("arn:"):
            return reference
        return self.describe_task_definition(reference)[0]["taskDefinitionArn"]

    def tasks_of_deployment(
        self, cluster: str, service_name: str, task_definition_arn: str, deployment_id: Optional[str], status: str = "STOPPED"
    ) -> List[Dict[str, Any]]:
        """Tasks (``status`` RUNNING or STOPPED) of one deployment of ``task_definition_arn``."""
        arns = self._list(
            f"list {status.lower()} tasks of service {service_name}", "list_tasks", "taskArns", cluster=cluster, serviceName=service_name, desiredStatus=status
        )
        result = []
        for chunk in _chunks(arns, 100):
            tasks = self._call(f"describe {status.lower()} tasks of service {service_name}", "describe_tasks", cluster=cluster, tasks=chunk).get("tasks", [])
            result += [task for task in tasks if started_for_deployment(task, service_name, task_definition_arn, deployment_id)]
        return result

    def task_definitions_in_use(self, other_than_arn: str) -> Set[str]:
        """The revisions every other service of the region runs or still drains, in every cluster:
        a revision of one family may run anywhere."""
        in_use: Set[str] = set()
        for cluster in self._list("list ECS clusters", "list_clusters", "clusterArns"):
            names = self._list(f"list services of cluster {cluster}", "list_services", "serviceArns", cluster=cluster)
            for service in self.describe_services(cluster, names) if names else []:
                if service.get("serviceArn") == other_than_arn:
                    continue
                in_use.add(service.get("taskDefinition"))
                # The PRIMARY deployment runs service.taskDefinition; older ones may still be draining.
                in_use.update(d.get("taskDefinition") for d in service.get("deployments") or [] if d.get("status") != "PRIMARY")
        return in_use

    def tagged_revisions(self, family: str, wanted: Dict[str, str]) -> List[str]:
        arns = self._list(
            f"list revisions of task definition family {family}", "list_task_definitions", "taskDefinitionArns", familyPrefix=family, status="ACTIVE"
        )
        # familyPrefix is a prefix: "app" also lists "app-worker".
        arns = [arn for arn in arns if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family]
        return [arn for arn in arns if tags_match(self.describe_task_definition(arn)[1], wanted)]


class RolloutWatcher:
    """Follows one deployment until it completes, fails, is rolled back, or the time is up; fails
    early when its stopped tasks prove it cannot succeed (see :func:`early_failure`)."""

    def __init__(
        self,
        reads: ServiceReads,
        region: Optional[str],
        poll_delay: float = 10.0,
        recent_change_grace: float = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reads = reads
        self.region = region
        self.poll_delay = poll_delay
        # The grace starts when the module does: right after the grant or endpoint changed.
        self.grace_until = clock() + recent_change_grace if recent_change_grace > 0 else None

    def wait(
        self, cluster: str, service_name: str, deployment_id: Optional[str], target: str, timeout: float, known: Optional[Dict[str, Any]] = None
    ) -> Tuple[Dict[str, Any], RolloutStatus]:
        """The service and the deployment's status once it completed.

        ``known`` is a description just taken, used for the first look instead of describing again.
        """
        fresh = [known] if known else []

        followed = Followed(cluster, service_name, deployment_id, target)

        def check() -> Optional[Tuple[Dict[str, Any], RolloutStatus]]:
            service = fresh.pop() if fresh else self.reads.describe_service(cluster, service_name)
            return self.look(followed, service)

        try:
            return wait_for(check, timeout, followed.what(), delay=self.poll_delay)
        except EcsRdsError as exc:
            if not exc.message.startswith("Timed out"):
                raise
            raise self.timed_out(followed, exc.message) from None

    def look(self, followed: "Followed", service: Dict[str, Any]) -> Optional[Tuple[Dict[str, Any], RolloutStatus]]:
        """One look at a followed deployment in a fresh description of its service: the service and
        the status once it completed, None while it goes on; EcsRdsError once it failed (rolled back,
        FAILED, or a stopped task proves it cannot succeed)."""
        cluster, service_name, deployment_id, target = followed.cluster, followed.service, followed.deployment_id, followed.target
        status = judge_deployment(service, deployment_id)
        followed.last.update(service=service, status=status)
        if status.settled:
            return service, status
        if status.failed:
            raise EcsRdsError(
                message=rollout_failure_message(service, status, deployment_id, target),
                deployment_id=deployment_id,
                rollout_state=status.rollout_state,
            )
        stopped = self.reads.tasks_of_deployment(cluster, service_name, target, deployment_id)
        failure = early_failure(stopped, self.region, self.grace_until)
        if failure and failure.diagnosis:
            raise EcsRdsError(
                message=(
                    f"Deployment {deployment_id} of {target} to service {service_name} is failing: task {failure.task_arn} "
                    f"stopped with: {failure.reason} -- {failure.diagnosis.message()}"
                ),
                deployment_id=deployment_id,
                rollout_state=status.rollout_state,
            )
        reasons = classify_stopped_tasks(stopped, self.region)
        if reasons:
            # A known reason seen within the grace is what the user most needs at a timeout.
            latest = next((r for r in reversed(reasons) if r.diagnosis), reasons[-1])
            followed.last["stop_reason"] = latest.reason + (f" -- {latest.diagnosis.message()}" if latest.diagnosis else "")
        return None

    @staticmethod
    def timed_out(followed: "Followed", message: str) -> EcsRdsError:
        last = followed.last
        if last.get("status"):
            message += f"; last seen: {describe_status(last['service'], last['status'])}"
        if last.get("stop_reason"):
            message += f"; last stopped task reason: {last['stop_reason']}"
        state = last["status"].rollout_state if last.get("status") else None
        return EcsRdsError(message=message, deployment_id=followed.deployment_id, rollout_state=state)

    def wait_together(self, followed: Sequence["Followed"], timeout: float, clock: Optional[Callable[[], float]] = None,
                      sleep: Optional[Callable[[float], None]] = None) -> None:
        """Follows every deployment at once until each has completed or failed, or the time is up:
        each poll describes the services still going on with one DescribeServices per cluster and 10
        services, and judges each as :meth:`wait` would. One failing does not stop the others being
        followed; each ends with ``outcome`` (service, status) or ``error`` (EcsRdsError)."""
        clock, sleep = clock or time.monotonic, sleep or time.sleep
        deadline = clock() + timeout
        going = [f for f in followed if f.deployment_id]
        while True:
            described = self.reads.describe_each([(f.cluster, f.service) for f in going if f.known is None])
            for entry in going:
                service = entry.known if entry.known is not None else described.get((entry.cluster, entry.service))
                entry.known = None
                if service is None:
                    entry.error = EcsRdsError(message=f"Service {entry.service!r} is no longer an ACTIVE service of ECS cluster {entry.cluster!r}")
                    continue
                try:
                    entry.outcome = self.look(entry, service)
                except EcsRdsError as exc:
                    entry.error = exc
            going = [f for f in going if f.outcome is None and f.error is None]
            if not going:
                return
            if clock() >= deadline:
                for entry in going:
                    entry.error = self.timed_out(entry, timeout_message(timeout, entry.what(), None))
                return
            sleep(min(self.poll_delay, max(0.0, deadline - clock())))


@dataclass
class Followed:
    """One deployment followed to its end: where, which, and how it ended (``outcome`` or ``error``)."""

    cluster: str
    service: str
    deployment_id: Optional[str]
    target: str
    known: Optional[Dict[str, Any]] = None  # a description just taken, for the first look
    last: Dict[str, Any] = field(default_factory=dict)
    outcome: Optional[Tuple[Dict[str, Any], RolloutStatus]] = None
    error: Optional[EcsRdsError] = None

    def what(self) -> str:
        return f"deployment {self.deployment_id} of {self.target} to service {self.service} to be PRIMARY with rolloutState COMPLETED"


class ServiceDeployer(ServiceReads):
    """The ecs_service_deploy job: move a service onto a revision, follow that deployment, and
    deregister the revisions a restore leaves unused."""

    def __init__(
        self,
        client: Any,
        region: Optional[str],
        check_mode: bool,
        poll_delay: float = 10.0,
        recent_change_grace: float = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client)
        self.region = region
        self.check_mode = check_mode
        self.watcher = RolloutWatcher(self, region, poll_delay, recent_change_grace, clock)

    # --- writes

    def update(self, cluster: str, service: str, task_definition_arn: str, before: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """One forced deployment, even when the answer is lost. UpdateService takes no client token
        and each resend would start another deployment, so after an unknown outcome the service is
        described first: on the revision with a new PRIMARY deployment means the first one landed."""
        previous_deployment = (primary_deployment(before or {}) or {}).get("id")

        def send() -> Dict[str, Any]:
            # Only these four fields: every other service setting is left as it is.
            return self.client.update_service(cluster=cluster, service=service, taskDefinition=task_definition_arn, forceNewDeployment=True)["service"]

        def find_existing() -> Optional[Dict[str, Any]]:
            now = self.describe_service(cluster, service)
            deployment = (primary_deployment(now) or {}).get("id")
            landed = now.get("taskDefinition") == task_definition_arn and deployment and deployment != previous_deployment
            return now if landed else None

        return create_or_adopt(send, find_existing, f"update service {service} to {task_definition_arn}")

    def deregister(self, arn: str) -> None:
        self._call(f"deregister task definition {arn}", "deregister_task_definition", taskDefinition=arn)

    def unwired_revision(self, running: Tuple[Dict[str, Any], Dict[str, str]], unwire: Mapping[str, Any]) -> Tuple[Optional[str], Dict[str, Any]]:
        """The revision to run once the wiring is out of the running one (:func:`ecs.unwire_plan`), and
        what was found: ``variables`` taken out, ``registered`` (or, in check mode, ``planned``).
        (None, ...) when the running revision holds no wiring."""
        base, tags = running
        origin_arn = tags.get(unwire["origin_tag"]) if unwire.get("origin_tag") else None
        origin = describe_revision(self.client, origin_arn) if origin_arn else None
        plan = unwire_plan(base, tags, origin[0] if origin else None, unwire["container_name"], unwire["variables"])
        if plan is None:
            return None, {"variables": [], "registered": False, "planned": False}
        present = {p["name"] for p in plan.environment_before + plan.secrets_before}
        found = {"variables": sorted(n for n in unwire["variables"] if n in present), "registered": False, "planned": False}
        allowed = register_parameters(self.client.meta.service_model)
        request = build_register_request(base, plan, allowed)

        def ready(candidate: Optional[Tuple[Dict[str, Any], Dict[str, str]]]) -> bool:
            return bool(candidate) and candidate[0].get("status") == "ACTIVE" and same_content(candidate[0], request, allowed)

        # A revision that already is exactly this runs as it is: the one the wiring started from when
        # nothing else changed since (no copy of it registered), else the family's latest when an
        # interrupted teardown registered it (described only then).
        if ready(origin):
            return origin[0]["taskDefinitionArn"], found
        latest = describe_revision(self.client, base["family"])
        if ready(latest):
            return latest[0]["taskDefinitionArn"], found
        if self.check_mode:
            return None, dict(found, planned=True)
        registered, _tags = register_task_definition(self.client, request, allowed)
        return registered["taskDefinitionArn"], dict(found, registered=True)

    # --- the job

    def run(
        self,
        cluster: str,
        service_name: str,
        task_definition: Optional[str] = None,
        restore_from_tag: Optional[str] = None,
        deregister_tagged: Optional[Dict[str, str]] = None,
        force: bool = False,
        wait: bool = True,
        wait_timeout: float = 900,
        unwire: Optional[Mapping[str, Any]] = None,
    ) -> Dict[str, Any]:
        service = self.describe_service(cluster, service_name)
        previous = service.get("taskDefinition")
        running: Optional[Tuple[Dict[str, Any], Dict[str, str]]] = None
        target: Optional[str] = None
        unwired: Optional[Dict[str, Any]] = None
        if task_definition:
            target = self.resolve_task_definition_arn(task_definition)
        else:
            running = self.describe_task_definition(previous)
            if unwire:
                target, unwired = self.unwired_revision(running, unwire)
            elif restore_from_tag:
                target = running[1].get(restore_from_tag) or None

        # In check mode a revision without the wiring that would be registered has no ARN yet: its
        # deployment is planned all the same.
        planned = bool(unwired and unwired["planned"])
        deployed = (bool(target) and needs_deployment(service, target, force)) or planned
        # The deployment to follow: the one UpdateService started, else the one running the revision
        # (a rollout an interrupted run started), else the PRIMARY (look-up).
        followed: Optional[Dict[str, Any]] = None
        if deployed and not self.check_mode:
            service = self.update(cluster, service["serviceName"], target, before=service)
            followed = primary_deployment(service)
        elif not deployed:
            followed = deployment_for_revision(service, target) if target else primary_deployment(service)
        deployment_id = (followed or {}).get("id")

        if target and wait and not self.check_mode and deployment_id:
            service, status = self.watcher.wait(
                cluster, service["serviceName"], deployment_id, target, wait_timeout, known=None if deployed else service
            )
        else:
            if deployed and not self.check_mode:
                service = self.describe_service(cluster, service_name)
            status = judge_deployment(service, deployment_id)

        deregistered: List[str] = []
        if deregister_tagged and running is not None:
            keep = ({target} if target else set() if planned else {previous}) | self.task_definitions_in_use(service.get("serviceArn"))
            family = running[0]["family"]
            deregistered = [arn for arn in self.tagged_revisions(family, deregister_tagged) if arn not in keep]
            if not self.check_mode:
                for arn in deregistered:
                    self.deregister(arn)

        result: Dict[str, Any] = {
            "changed": deployed or bool(deregistered),
            "rollout_state": _reported_state(status),
            "deployment_id": deployment_id,
            "deployed": deployed,
            "previous_task_definition_arn": previous,
            "service": service_result(service),
            "deregistered_task_definition_arns": deregistered,
            "diff": {"before": {"task_definition": previous}, "after": {"task_definition": (
                f"a new revision of {running[0]['family']} without the wiring" if planned and running else target or previous)}},
        }
        if unwire:
            result["unwired"] = unwired
        if running is not None:
            if deployed and not self.check_mode:
                running = self.describe_task_definition(target)
            # The same shape ecs_taskdef_secret_env returns, redacted the same way: the revision gone
            # back to may hold a password in plain text.
            result["running_task_definition"] = task_definition_result(*running, self.client.meta.service_model)
        return result

    def roll_out(self, rollouts: Sequence[Mapping[str, Any]], wait: bool, wait_timeout: float) -> List[Dict[str, Any]]:
        """The ecs_service_rollouts job: every service moved onto its revision first (one
        DescribeServices per cluster and 10 services, then UpdateService where it is needed), then every
        deployment followed together (:meth:`RolloutWatcher.wait_together`). One result per rollout, in
        order; ``error`` names how one that did not complete ended."""
        described = self.describe_each([(rollout["cluster"], rollout["service"]) for rollout in rollouts])
        followed: List[Followed] = []
        results: List[Dict[str, Any]] = []
        for rollout in rollouts:
            service = described.get((rollout["cluster"], rollout["service"]))
            if service is None:
                raise EcsRdsError(message=f"Service {rollout['service']!r} not found in ECS cluster {rollout['cluster']!r} (option rollouts)")
            target = self.resolve_task_definition_arn(rollout["task_definition"])
            deployed = needs_deployment(service, target, rollout["force_new_deployment"])
            previous = service.get("taskDefinition")
            deployment: Optional[Dict[str, Any]] = None
            if deployed and not self.check_mode:
                service = self.update(rollout["cluster"], service["serviceName"], target, before=service)
                deployment = primary_deployment(service)
            elif not deployed:
                # Already on it: its rollout (an interrupted run's) is followed from this description.
                deployment = deployment_for_revision(service, target)
            followed.append(Followed(rollout["cluster"], rollout["service"], (deployment or {}).get("id"), target,
                                     known=None if deployed else service, last={"service": service}))
            results.append({"service": rollout["service"], "cluster": rollout["cluster"], "previous_task_definition_arn": previous,
                            "task_definition_arn": target, "deployed": deployed, "deployment_id": (deployment or {}).get("id")})
        if wait and not self.check_mode:
            self.watcher.wait_together(followed, wait_timeout)
        for entry, result in zip(followed, results):
            status = entry.outcome[1] if entry.outcome else judge_deployment(entry.last["service"], entry.deployment_id)
            result.update(rollout_state=_reported_state(status), error=entry.error.message if entry.error else None)
        return results


def run_service_rollouts(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """ecs_service_rollouts: the services onto their revisions, their rollouts followed together; the
    module fails when one did not complete, naming every service's outcome."""
    deployer = ServiceDeployer(clients("ecs"), clients.region, check_mode, recent_change_grace=params["recent_change_grace"])
    results = deployer.roll_out(params["rollouts"], params["wait"], params["wait_timeout"])
    failed = [r for r in results if r["error"]]
    if failed:
        outcomes = " ".join(f"({n}) {r['service']}: {r['error'] or r['rollout_state'] or 'not followed'}" for n, r in enumerate(results, 1))
        raise EcsRdsError(message=f"{len(failed)} of {len(results)} rollouts did not complete: {outcomes}", rollouts=results)
    diff = {"before": {r["service"]: r["previous_task_definition_arn"] for r in results},
            "after": {r["service"]: r["task_definition_arn"] for r in results}}
    actions = [f"deploy {r['task_definition_arn']} to service {r['service']}" for r in results if r["deployed"]]
    return Outcome(any(r["deployed"] for r in results), {"rollouts": results}, diff if diff_mode else None, actions)


# ecs_service_rollouts' options, here beside its runner.
ROLLOUTS_ARGUMENT_SPEC = dict(
    rollouts=dict(type="list", elements="dict", required=True, options=dict(
        cluster=dict(type="str", required=True),
        service=dict(type="str", required=True),
        task_definition=dict(type="str", required=True),
        force_new_deployment=dict(type="bool", default=False),
    )),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=900),
    recent_change_grace=dict(type="int", default=0),
)


def deploy_problem(params: Mapping[str, Any]) -> Optional[str]:
    for option in ("wait_timeout", "recent_change_grace"):
        if params[option] < 0:
            return f"{option} must be zero or more seconds"
    return None


def run_service_deploy(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """ecs_service_deploy: the service onto its revision (or back on the one its tag records), the
    deployment followed, and on a restore the revisions it leaves unused deregistered."""
    deployer = ServiceDeployer(clients("ecs"), clients.region, check_mode, recent_change_grace=params["recent_change_grace"])
    wanted = {str(key): str(value) for key, value in params["deregister_tagged"].items()} if params.get("deregister_tagged") is not None else None
    result = deployer.run(
        cluster=params["cluster"],
        service_name=params["service"],
        task_definition=params["task_definition"],
        restore_from_tag=params["restore_from_tag"],
        deregister_tagged=None if params["task_definition"] else wanted,
        force=params["force_new_deployment"],
        wait=params["wait"],
        wait_timeout=params["wait_timeout"],
        unwire=params.get("unwire"),
    )
    changed, diff = result.pop("changed"), result.pop("diff")
    target = diff["after"]["task_definition"]
    unwired = result.get("unwired") or {}
    actions = [f"register a revision without {', '.join(unwired['variables'])} on top of {result['previous_task_definition_arn']}"
               ] if unwired.get("registered") or unwired.get("planned") else []
    actions += ([f"deploy {target} to service {params['service']}"] if result["deployed"] else []) + [
        f"deregister {arn}" for arn in result["deregistered_task_definition_arns"]]
    return Outcome(changed, result, diff if diff_mode else None, actions)


# ---------------------------------------------------------------------------------------------
# The service role's steps: its inputs -> the services, the rollouts, the checks around them
# ---------------------------------------------------------------------------------------------

def service_entries(inputs: Mapping[str, Any], discovered: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """The service role's services (service_ecs_services, with service_container_name where an entry
    names no container), each with the revision it runs (``task_definition``) as the deployment check
    discovered it (None when it was not asked)."""
    running = (discovered or {}).get("services") or {}
    entries = [service_entry(entry, inputs.get("service_container_name")) for entry in inputs.get("service_ecs_services") or []]
    return [dict(entry, task_definition=(running.get(entry["name"]) or {}).get("task_definition")) for entry in entries if entry]


def deploy_options(plan: Sequence[Mapping[str, Any]], inputs: Mapping[str, Any], recent_change: bool = False) -> Dict[str, Any]:
    """ecs_service_rollouts' options: a rollout for each service :func:`rollout_plan` rolls out, all
    followed together. In check mode a revision not registered yet has no ARN: a forced deployment of
    the running one stands for it, so the plan counts the deployments a real run makes.
    ``recent_change``: this run changed the grant or the Secrets Manager endpoint, which AWS may still
    be applying (service_recent_change_grace)."""
    return {
        "rollouts": [{
            "cluster": inputs.get("service_ecs_cluster"),
            "service": entry["service"],
            "task_definition": entry["task_definition_arn"] or entry["previous_task_definition_arn"],
            "force_new_deployment": entry["task_definition_arn"] is None,
        } for entry in plan if entry["roll_out"]],
        "wait": inputs.get("service_wait"),
        "wait_timeout": inputs.get("service_wait_timeout"),
        "recent_change_grace": inputs.get("service_recent_change_grace") if recent_change or inputs.get("service_secretsmanager_endpoint_changed") else 0,
    }


def dependencies_options(inputs: Mapping[str, Any], before_logins: bool = False) -> Optional[Dict[str, Any]]:
    """ecs_task_dependencies_ready's options: the Secrets Manager endpoint and the DB cluster that
    site.yml created without waiting and are still settling, awaited once: before the preflight, or,
    when a service signs in with a login of its own (made through the Data API, on a cluster that is
    available), before the logins (``before_logins``: the earlier of the two places asks). None (no
    task) when neither is pending, or at the other place."""
    endpoint = inputs.get("service_secretsmanager_endpoint_pending_id")
    cluster = inputs.get("service_db_pending_cluster_identifier")
    if not endpoint and not cluster or before_logins != (logins_options(inputs) is not None):
        return None
    return {"vpc_endpoint_ids": [endpoint] if endpoint else [], "db_cluster_identifier": cluster or None,
            "wait_timeout": inputs.get("service_dependencies_wait_timeout")}


def own_secrets(inputs: Mapping[str, Any], logins: Optional[Sequence[Mapping[str, Any]]] = None) -> Dict[str, str]:
    """Each service on a login of its own with that login's secret (``logins``: rds_db_logins'
    results; before the secret exists, in check mode, its marked stand-in), or an empty string for
    one on IAM authentication: what the rotation redeploy tells apart."""
    secret_of = login_secret_arns(inputs, logins)
    return {login["service"]: "" if login["auth"] == "iam" else secret_of(login["login"])
            for login in service_logins(inputs) if login["auth"] != "master"}


def logins_options(inputs: Mapping[str, Any], state: str = "present") -> Optional[Dict[str, Any]]:
    """rds_db_logins' options for the services signing in with a login of their own (app_user: a
    password in a secret named after the cluster and the login; iam: IAM database authentication),
    each login once; None when every service uses the master secret."""
    cluster = inputs.get("service_db_cluster_identifier")
    logins: List[Dict[str, Any]] = []
    for login in service_logins(inputs):
        if login["auth"] == "master":
            continue
        wanted = {"name": login["login"], "privileges": login["privileges"], "schema": login["schema"],
                  "auth": "iam" if login["auth"] == "iam" else "password", "secret_name": login_secret_name(str(cluster), login["login"])}
        if wanted not in logins:
            logins.append(wanted)
    if not logins:
        return None
    return {
        "db_cluster_identifier": cluster,
        "master_secret_arn": inputs.get("service_secret_arn"),
        "database": inputs.get("service_db_name") or None,
        "logins": logins,
        "state": state,
        "drop_owned": bool(inputs.get("service_teardown_drop_owned")) if state == "absent" else False,
        "deployment_id": service_deployment_id(inputs),
        "wait_timeout": inputs.get("service_dependencies_wait_timeout"),
    }


def preflight_options(plan: Sequence[Mapping[str, Any]], inputs: Mapping[str, Any], check_mode: bool = False) -> Optional[Dict[str, Any]]:
    """ecs_secrets_preflight's options, one run for every service about to be rolled out (every
    service with service_preflight_every_run) whose revision has an ARN (check mode has none for a
    revision it did not register); None when there is none. It guards a rollout, so a run that rolls
    nothing out checks nothing; in check mode, where the grant and network changes before it were not
    made, it only reports."""
    if not inputs.get("service_preflight"):
        return None
    db_users = {login["service"]: [db_user_arn(str(inputs.get("service_secret_arn")), str(inputs.get("service_db_cluster_resource_id")), login["login"])]
                for login in service_logins(inputs) if login["auth"] == "iam"}
    services = [{"service": entry["service"], "task_definition": entry["task_definition_arn"], "container_name": entry["container_name"],
                 "db_users": db_users.get(entry["service"], [])}
                for entry in plan if entry["task_definition_arn"] and (entry["roll_out"] or inputs.get("service_preflight_every_run"))]
    if not services:
        return None
    return {
        "cluster": inputs.get("service_ecs_cluster"),
        "services": services,
        "db_security_group_ids": [group for group in inputs.get("service_preflight_db_security_group_ids") or [] if group],
        "db_port": inputs.get("service_db_port"),
        "fail_on": "never" if check_mode else inputs.get("service_preflight_fail_on"),
    }


def log_check_options(inputs: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """cloudwatch_logs_expect's options for each service, when service_verify_log_pattern asks for the
    proof: every line of the current deployment's task streams counts (start_time 0), since an app
    logs its pool start once, however long ago that deployment completed."""
    if not inputs.get("service_verify_log_pattern"):
        return []
    return [{
        "cluster": inputs.get("service_ecs_cluster"),
        "service": entry["name"],
        "container_name": entry["container_name"],
        "pattern": inputs["service_verify_log_pattern"],
        "start_time": 0,
        "wait_timeout": inputs.get("service_verify_log_timeout"),
    } for entry in service_entries(inputs)]


def wiring_variables(inputs: Mapping[str, Any]) -> List[str]:
    """The variables the service role sets on each container: the URL and driver, the user name and password."""
    return [str(inputs.get(option)) for option in ("service_url_variable", "service_driver_variable",
                                                   "service_username_variable", "service_password_variable") if inputs.get(option)]


def _unwire_options(inputs: Mapping[str, Any], name: str, container_name: str, variables: Sequence[str] = ()) -> Dict[str, Any]:
    """ecs_service_deploy's options that take this deployment's wiring (and ``variables``, other names
    found reading its secret) out of the revision one service runs now, and deregister the revisions
    this deployment registered. Refused when the inputs do not say which deployment (and policy) that is."""
    # Nothing is guessed: both are checked before the first write of the teardown.
    if not grant_policy_name(inputs):
        raise ValueError("service_execution_role_policy_name is empty: give it, or service_db_cluster_identifier or "
                         "service_secret_arn, with the values the role was applied with")
    deployment = service_deployment_id(inputs)
    if not deployment:
        raise ValueError("service_deployment_id, service_db_cluster_identifier and service_secret_arn are empty; "
                         "give the values the role was applied with")
    names = wiring_variables(inputs)
    return {
        "cluster": inputs.get("service_ecs_cluster"),
        "service": name,
        "unwire": {"container_name": container_name, "variables": names + [v for v in variables if v not in names], "origin_tag": ORIGINAL_TAG},
        "deregister_tagged": {CREATED_BY_TAG: deployment},
        "wait": inputs.get("service_wait"),
        "wait_timeout": inputs.get("service_wait_timeout"),
    }


def restore_options(inputs: Mapping[str, Any], discovered: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """ecs_service_deploy's options for the service role's teardown: on each service, the revision it
    runs now without the wiring (the application's later releases kept: never an older image), and
    the revisions this deployment registered deregistered. Besides the services the inputs list, those
    the deployment check found reading the secret (``discovered``'s ``secret_users``: teardown.yml's),
    so no service is left pointing at the secret the teardown deletes."""
    options = [_unwire_options(inputs, entry["name"], entry["container_name"]) for entry in service_entries(inputs)]
    users = (discovered or {}).get("secret_users") or {}
    return options + [_unwire_options(inputs, name, user["container_name"], user.get("variables") or ()) for name, user in sorted(users.items())]


def release_options(inputs: Mapping[str, Any], discovered: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """ecs_service_deploy's options for the services the inputs release (service_release_services): the
    wiring out of each one's running revision, as teardown does, for those whose revision still reads
    the secret (the deployment check's ``released``); the others have nothing to release. Without that
    check (none was asked for) every listed service is looked at."""
    released = (discovered or {}).get("released")
    if released is None:
        entries = [service_entry(entry, inputs.get("service_container_name")) for entry in inputs.get("service_release_services") or []]
        return [_unwire_options(inputs, entry["name"], entry["container_name"]) for entry in entries if entry]
    return [_unwire_options(inputs, name, entry["container_name"]) for name, entry in released.items() if entry.get("wired")]


def rollout_plan(
    services: Sequence[Mapping[str, Any]],
    running: Mapping[str, Mapping[str, Any]],
    registered: Optional[Sequence[Mapping[str, Any]]],
    check_mode: bool = False,
    deployments: Optional[Sequence[Mapping[str, Any]]] = None,
) -> List[Dict[str, Any]]:
    """What the service role does with each service, decided once: ``roll_out`` when the service is to
    move to the revision registered for it (or its last rollout has not settled), which is also when
    the preflight runs. ``services`` are the inputs check's entries, ``running`` what it read of
    each service (task_definition, settled), ``registered`` ecs_taskdef_secret_env's results in the
    same order (None when nothing was registered), ``deployments`` ecs_service_rollouts' ``rollouts``;
    ``deployed`` then tells what happened, and the entries have the published shape of
    ``service__results`` (service, task_definition_arn, previous_task_definition_arn, revision, deployed)."""
    deployed = {d["service"]: bool(d["deployed"]) for d in deployments or () if "service" in d and "deployed" in d}
    plan: List[Dict[str, Any]] = []
    for index, entry in enumerate(services):
        current = running.get(entry["name"]) or {}
        revision = (registered[index] if registered and index < len(registered) else None) or {}
        target = revision.get("task_definition_arn")
        previous = current.get("task_definition")
        # In check mode a revision that would be registered has no ARN yet: its rollout is planned all the same.
        planned = target is not None or (check_mode and bool(revision.get("changed")))
        roll_out = bool(revision) and planned and (target != previous or not current.get("settled"))
        plan.append({
            "service": entry["name"],
            "container_name": entry.get("container_name"),
            "task_definition_arn": target,
            "previous_task_definition_arn": previous,
            "revision": revision.get("revision"),
            "roll_out": roll_out,
            # Not deployed by this run's deploy task: planned when the revision differs (say, check mode on
            # a fresh account, nothing registered yet), not needed when the service already runs it.
            "deployed": deployed.get(entry["name"], target != previous),
        })
    if deployments is not None:
        return [{key: entry[key] for key in _PUBLISHED} for entry in plan]
    return plan


_PUBLISHED = ("service", "task_definition_arn", "previous_task_definition_arn", "revision", "deployed")


def _reported_state(status: RolloutStatus) -> Optional[str]:
    """COMPLETED, IN_PROGRESS or FAILED for the followed deployment; None when there is none."""
    if status.deployment is None:
        return None
    return "FAILED" if status.state == "ROLLED_BACK" else status.state
