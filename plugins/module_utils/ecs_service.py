# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving an ECS service onto a task definition revision, waiting for the rollout, and telling
the user what to fix when tasks of the new deployment stop with one of the classic errors.

The pure parts (``diagnose_stopped_reason``, ``rollout_progress``, ``needs_deployment`` ...) are
separate from :class:`ServiceDeployer`, which holds every AWS call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError, aws_retry, call, create_or_adopt, tags_to_dict, wait_for

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


def rollout_progress(service: Dict[str, Any]) -> Tuple[str, Optional[str]]:
    """("COMPLETED" | "IN_PROGRESS" | "FAILED", reason) for the service's current rollout.

    Services without rolloutState (external or CODE_DEPLOY controllers, old deployments) count as
    done once every desired task runs and no older deployment is left.
    """
    primary = primary_deployment(service)
    state = (primary or {}).get("rolloutState")
    if state in ("COMPLETED", "FAILED"):
        return state, (primary or {}).get("rolloutStateReason")
    if state:
        return "IN_PROGRESS", (primary or {}).get("rolloutStateReason")
    steady = service.get("runningCount") == service.get("desiredCount") and len(service.get("deployments") or []) <= 1
    return ("COMPLETED" if steady else "IN_PROGRESS"), None


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


def tags_match(tags: Dict[str, str], wanted: Dict[str, str]) -> bool:
    return all(tags.get(key) == value for key, value in wanted.items())


def service_result(service: Dict[str, Any]) -> Dict[str, Any]:
    """snake_case service with tags as a dict; events are dropped (long, and never compared)."""
    body = {key: value for key, value in service.items() if key not in ("tags", "events")}
    result = camel_dict_to_snake_dict(body)
    result["tags"] = tags_to_dict(service.get("tags"))
    return result


def task_definition_result(task_definition: Dict[str, Any], tags: Dict[str, str]) -> Dict[str, Any]:
    result = camel_dict_to_snake_dict(task_definition)
    result["tags"] = tags
    return result


def _chunks(items: List[str], size: int) -> Iterable[List[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------------------------------------
# AWS
# ---------------------------------------------------------------------------------------------


class ServiceDeployer:
    """Every ECS call the ecs_service_deploy module makes."""

    def __init__(self, client: Any, region: Optional[str], check_mode: bool, poll_delay: float = 10.0) -> None:
        self.client = client
        self.region = region
        self.check_mode = check_mode
        self.poll_delay = poll_delay

    def _call(self, what: str, method: str, **kwargs: Any) -> Dict[str, Any]:
        return call(self.client, method, what, **kwargs)

    def _list(self, what: str, operation: str, result_key: str, **kwargs: Any) -> List[str]:
        """Every page of a List call, retried as a whole (paginators do not take aws_retry)."""

        @aws_retry
        def every_page() -> Dict[str, Any]:
            return self.client.get_paginator(operation).paginate(**kwargs).build_full_result()

        try:
            return every_page().get(result_key, [])
        except (ClientError, BotoCoreError) as exc:
            raise EcsRdsError(message=f"Failed to {what}", exception=exc)

    # --- reads

    def describe_service(self, cluster: str, service: str) -> Dict[str, Any]:
        found = self.describe_services(cluster, [service])
        if not found:
            raise EcsRdsError(message=f"Service {service!r} not found in ECS cluster {cluster!r} (option service)")
        return found[0]

    def describe_services(self, cluster: str, services: List[str]) -> List[Dict[str, Any]]:
        result: List[Dict[str, Any]] = []
        for chunk in _chunks(services, 10):
            response = self._call(f"describe services in cluster {cluster}", "describe_services", cluster=cluster, services=chunk, include=["TAGS"])
            result += [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
        return result

    def describe_task_definition(self, reference: str) -> Tuple[Dict[str, Any], Dict[str, str]]:
        response = self._call(f"describe task definition {reference}", "describe_task_definition", taskDefinition=reference, include=["TAGS"])
        return response["taskDefinition"], tags_to_dict(response.get("tags"))

    def resolve_task_definition_arn(self, reference: str) -> str:
        """family:revision -> ARN, so it compares with what DescribeServices reports."""
        if reference.startswith("arn:"):
            return reference
        return self.describe_task_definition(reference)[0]["taskDefinitionArn"]

    def stopped_task_failure(self, cluster: str, service: Dict[str, Any], task_definition_arn: str) -> Optional[Tuple[str, str, Optional[StopDiagnosis]]]:
        """(task ARN, reason, diagnosis) of a stopped task of the current deployment, preferring one
        with a known diagnosis; None when no such task stopped."""
        name = service["serviceName"]
        deployment_id = (primary_deployment(service) or {}).get("id")
        arns = self._list(f"list stopped tasks of service {name}", "list_tasks", "taskArns", cluster=cluster, serviceName=name, desiredStatus="STOPPED")
        fallback = None
        for chunk in _chunks(arns, 100):
            tasks = self._call(f"describe stopped tasks of service {name}", "describe_tasks", cluster=cluster, tasks=chunk).get("tasks", [])
            for task in tasks:
                if not started_for_deployment(task, name, task_definition_arn, deployment_id):
                    continue
                for reason in stop_reasons(task):
                    diagnosis = diagnose_stopped_reason(reason, self.region)
                    if diagnosis:
                        return task["taskArn"], reason, diagnosis
                if fallback is None and stop_reasons(task):
                    fallback = (task["taskArn"], stop_reasons(task)[0], None)
        return fallback

    def task_definitions_in_use(self, cluster: str, other_than: str) -> Set[str]:
        """The revisions the cluster's other services run or still drain."""
        names = self._list(f"list services of cluster {cluster}", "list_services", "serviceArns", cluster=cluster)
        in_use: Set[str] = set()
        for service in self.describe_services(cluster, names):
            if service.get("serviceName") == other_than:
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

    # --- wait

    def wait_for_rollout(
        self, cluster: str, service_name: str, task_definition_arn: str, timeout: float, known: Optional[Dict[str, Any]] = None
    ) -> Dict[str, Any]:
        """Poll until the rollout completes; fail early when a task of it stopped for a known reason.

        ``known`` is a description just taken, used for the first look instead of describing again.
        """
        last_stop: Dict[str, Optional[str]] = {}
        fresh = [known] if known else []

        def check() -> Optional[Dict[str, Any]]:
            service = fresh.pop() if fresh else self.describe_service(cluster, service_name)
            state, reason = rollout_progress(service)
            if state == "COMPLETED":
                return service
            failure = self.stopped_task_failure(cluster, service, task_definition_arn)
            if failure and failure[2]:
                task_arn, stop_reason, diagnosis = failure
                raise EcsRdsError(
                    message=(
                        f"Deployment of {task_definition_arn} to service {service_name} is failing: task {task_arn} "
                        f"stopped with: {stop_reason} -- {diagnosis.message()}"
                    )
                )
            if failure:
                last_stop["reason"] = failure[1]
            if state == "FAILED":
                raise EcsRdsError(message=f"Deployment of {task_definition_arn} to service {service_name} failed: {reason}")
            return None

        try:
            return wait_for(check, timeout, f"service {service_name} to finish rolling out {task_definition_arn}", delay=self.poll_delay)
        except EcsRdsError as exc:
            if last_stop.get("reason") and exc.message.startswith("Timed out"):
                raise EcsRdsError(message=f"{exc.message}; last stopped task reason: {last_stop['reason']}")
            raise

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
    ) -> Dict[str, Any]:
        service = self.describe_service(cluster, service_name)
        previous = service.get("taskDefinition")
        running: Optional[Tuple[Dict[str, Any], Dict[str, str]]] = None
        target: Optional[str] = None
        if task_definition:
            target = self.resolve_task_definition_arn(task_definition)
        else:
            running = self.describe_task_definition(previous)
            if restore_from_tag:
                target = running[1].get(restore_from_tag) or None

        deployed = bool(target) and needs_deployment(service, target, force)
        if deployed and not self.check_mode:
            self.update(cluster, service["serviceName"], target, before=service)
        if target and wait and not self.check_mode:
            service = self.wait_for_rollout(cluster, service["serviceName"], target, wait_timeout, known=None if deployed else service)
        elif deployed and not self.check_mode:
            service = self.describe_service(cluster, service_name)

        deregistered: List[str] = []
        if deregister_tagged and running is not None:
            keep = {target or previous} | self.task_definitions_in_use(cluster, service["serviceName"])
            family = running[0]["family"]
            deregistered = [arn for arn in self.tagged_revisions(family, deregister_tagged) if arn not in keep]
            if not self.check_mode:
                for arn in deregistered:
                    self.deregister(arn)

        result: Dict[str, Any] = {
            "changed": deployed or bool(deregistered),
            "rollout_state": rollout_progress(service)[0],
            "deployed": deployed,
            "previous_task_definition_arn": previous,
            "service": service_result(service),
            "deregistered_task_definition_arns": deregistered,
            "diff": {"before": {"task_definition": previous}, "after": {"task_definition": target or previous}},
        }
        if running is not None:
            if deployed and not self.check_mode:
                running = self.describe_task_definition(target)
            result["running_task_definition"] = task_definition_result(*running)
        return result
