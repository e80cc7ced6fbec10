# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redeploy the ECS services when RDS rotates the managed master secret.

ECS injects ``secrets`` only when a task starts, so after a rotation the running tasks hold the old
password. An EventBridge rule on the default bus matches the successful rotation of exactly this
secret and starts a Step Functions state machine that forces a new deployment of every connected
service through the AWS SDK integration (no Lambda function to patch). Two IAM roles carry the
least privilege: EventBridge may only start that state machine; the state machine may only update
exactly those services.

The event (AWS Secrets Manager User Guide, "AWS CloudTrail entries for Secrets Manager", log entries
for rotation, and "Match Secrets Manager events with EventBridge"): Secrets Manager writes the
non-API CloudTrail events RotationStarted, RotationSucceeded, RotationFailed and RotationAbandoned;
EventBridge receives them on the default bus with source ``aws.secretsmanager`` and detail-type
``AWS Service Event via CloudTrail`` (CloudTrail ``eventType: AwsServiceEvent``). Such events carry
``requestParameters: null``; the secret is named in ``detail.additionalEventData.SecretId``.
Managed rotation (RDS's master user secret, "Managed rotation for AWS Secrets Manager secrets") is
run by Secrets Manager itself, so it is logged the same way. CloudTrail delivers service events on
a best-effort basis (EventBridge User Guide, "AWS service events delivered via AWS CloudTrail").

Pure functions (names, pattern, definition, policies, plans) come first and are unit-tested; the
AWS calls follow in :class:`RotationClient`; :func:`run_rotation` is the job.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible_collections.ecsrds.connect.plugins.module_utils.common import (
    EcsRdsError,
    Outcome,
    call,
    error_code,
    parse_arn,
    tags_to_dict,
    wait_for,
)
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import describe_services
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import planned, service_names
from ansible_collections.ecsrds.connect.plugins.module_utils.iam import IamRoles, normalize_policy
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import MANAGED_TAG

TARGET_ID = "redeploy-services"
EVENT_SOURCE = "aws.secretsmanager"
EVENT_DETAIL_TYPE = "AWS Service Event via CloudTrail"
EVENT_NAME = "RotationSucceeded"
POLICY_NAME = "ecsrds-connect-rotation"
# Where a CloudTrail service event names the secret (see above).
ROTATED_SECRET = "$.detail.additionalEventData.SecretId"
# Retry each UpdateService for about 5 minutes, so throttling and ECS hiccups pass (States.ALL does
# not cover States.Runtime, a mistake in the definition, which must not be retried).
_RETRY = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5, "MaxAttempts": 6, "BackoffRate": 2.0}
# IAM is eventually consistent: a role made moments ago may not be assumable by Step Functions yet.
_ROLE_NOT_READY_CODE = "AccessDeniedException"
_ROLE_NOT_READY_TEXT = "assume the provided role"


# ---------------------------------------------------------------------------------------------
# Pure logic


def secret_name_from_arn(secret_arn: str) -> str:
    """The secret's name: Secrets Manager appends a dash and six random characters in the ARN."""
    resource = parse_arn(secret_arn)["resource"]
    name = resource.split(":", 1)[1] if resource.startswith("secret:") else resource
    return name.rsplit("-", 1)[0] if "-" in name else name


def _bounded(prefix: str, identifier: str, suffix: str, limit: int) -> str:
    name = f"{prefix}{identifier}{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(identifier.encode()).hexdigest()[:8]
    keep = limit - len(prefix) - len(suffix) - len(digest) - 1
    return f"{prefix}{identifier[:keep]}-{digest}{suffix}"


def resource_names(db_cluster_identifier: str) -> Dict[str, str]:
    """Names of what one deployment makes, after its database: another database gets its own.
    Within AWS's limits (rule and role 64 characters, state machine 80); a long identifier is cut
    and a hash of the whole keeps two long identifiers apart."""
    ident = db_cluster_identifier
    return {
        "rule": _bounded("ecsrds-", ident, "-rotation", 64),
        "state_machine": _bounded("ecsrds-", ident, "-redeploy", 80),
        "events_role": _bounded("ecsrds-", ident, "-rotation-events", 64),
        "state_machine_role": _bounded("ecsrds-", ident, "-redeploy-role", 64),
    }


def event_pattern(secret_arn: str, own_secrets: Sequence[str] = ()) -> Dict[str, Any]:
    """The successful rotation of exactly this secret (and of the services' own login secrets,
    ``own_secrets``). ``SecretId`` is the ARN in AWS's examples; the name is listed too because it
    names the same secret and an event naming it must not be missed."""
    ids = [secret_arn, secret_name_from_arn(secret_arn)]
    for own in own_secrets:
        ids += [own, secret_name_from_arn(own)]
    return {
        "source": [EVENT_SOURCE],
        "detail-type": [EVENT_DETAIL_TYPE],
        "detail": {
            "eventSource": ["secretsmanager.amazonaws.com"],
            "eventName": [EVENT_NAME],
            "additionalEventData": {"SecretId": ids},
        },
    }


def state_machine_definition(partition: str, cluster_arn: str, service_names: Sequence[str],
                             service_secrets: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """One Parallel state with a branch per service, each a forced deployment through the AWS SDK
    integration, retried on its own so one busy service does not hold up the others. With services
    on a login of their own (``service_secrets``: service -> its own secret, empty for IAM
    authentication, which has no secret to rotate), a Choice on the rotated secret first: its own
    secret redeploys a service, the master's the services on the master, and nothing else does."""
    own = dict(service_secrets or {})
    master = [name for name in service_names if name not in own]
    by_secret: Dict[str, List[str]] = {}
    for name in service_names:
        if own.get(name):
            by_secret.setdefault(own[name], []).append(name)
    if not by_secret:
        # No own secret to tell apart (a Choice state needs a rule): the master's rotation is the only one.
        return _redeploy_all(partition, cluster_arn, master)
    states: Dict[str, Any] = {}
    choices = []
    for index, (secret, names) in enumerate(sorted(by_secret.items())):
        state = f"Redeploy the services of secret {index + 1}"
        states[state] = _redeploy_all(partition, cluster_arn, names)["States"]["Redeploy services"]
        choices.append({"Or": [{"Variable": ROTATED_SECRET, "StringEquals": value} for value in (secret, secret_name_from_arn(secret))],
                        "Next": state})
    if master:
        states["Redeploy services"] = _redeploy_all(partition, cluster_arn, master)["States"]["Redeploy services"]
    else:
        states["Redeploy services"] = {"Type": "Succeed", "Comment": "No service uses the master secret"}
    states["Which secret rotated"] = {"Type": "Choice", "Choices": choices, "Default": "Redeploy services"}
    return {
        "Comment": "ecsrds.connect: force a new deployment of every service that uses the rotated database secret",
        "StartAt": "Which secret rotated",
        "States": states,
    }


def _redeploy_all(partition: str, cluster_arn: str, service_names: Sequence[str]) -> Dict[str, Any]:
    resource = f"arn:{partition}:states:::aws-sdk:ecs:updateService"
    branches = []
    for name in service_names:
        state = f"Redeploy {name}"
        branches.append({
            "StartAt": state,
            "States": {
                state: {
                    "Type": "Task",
                    "Resource": resource,
                    "Parameters": {"Cluster": cluster_arn, "Service": name, "ForceNewDeployment": True},
                    # The service description UpdateService returns is large and not needed: with many
                    # services it could pass the 256 KiB limit of an execution's data. Keep the input.
                    "ResultPath": None,
                    "Retry": [dict(_RETRY)],
                    "End": True,
                }
            },
        })
    return {
        "Comment": "ecsrds.connect: force a new deployment of every service that uses the rotated database secret",
        "StartAt": "Redeploy services",
        "States": {"Redeploy services": {"Type": "Parallel", "Branches": branches, "End": True}},
    }


def machine_services(definition: Any) -> List[str]:
    """The services a state machine of :func:`state_machine_definition` redeploys (its definition as
    Step Functions returns it, text, or parsed), in order; none for anything else."""
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError:
            return []
    found: List[str] = []
    for states in ((definition or {}).get("States") or {}).values():
        found += [state["Parameters"]["Service"] for branch in (states or {}).get("Branches") or [] for state in (branch.get("States") or {}).values()
                  if isinstance(state.get("Parameters"), dict) and state["Parameters"].get("Service") and state["Parameters"]["Service"] not in found]
    return found


def services_dropped(before: Sequence[str], services: Sequence[str]) -> List[str]:
    """Services the deployment's state machine redeploys (``before``: :func:`machine_services` of it)
    that the inputs no longer name: wired by this deployment, still running with the wiring, and no
    longer redeployed on rotation once it is updated."""
    wanted = set(services)
    return [name for name in before if name not in wanted]


def trust_policy(service_principal: str) -> Dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service_principal}, "Action": "sts:AssumeRole"}],
    }


def events_role_policy(state_machine_arn: str) -> Dict[str, Any]:
    """EventBridge may start this state machine and do nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "StartRedeploy", "Effect": "Allow", "Action": ["states:StartExecution"], "Resource": [state_machine_arn]}],
    }


def state_machine_role_policy(service_arns: Sequence[str]) -> Dict[str, Any]:
    """The state machine may force deployments of exactly these services and do nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "RedeployServices", "Effect": "Allow", "Action": ["ecs:UpdateService"], "Resource": sorted(service_arns)}],
    }


def same_json(current: Any, wanted: Any) -> bool:
    if current is None:
        return False
    if isinstance(current, str):
        try:
            current = json.loads(current)
        except ValueError:
            return False
    return current == wanted


def rotation_days_of(secret: Optional[Dict[str, Any]]) -> Optional[int]:
    """The interval of a secret's schedule in days, from AutomaticallyAfterDays or rate(N days)."""
    rules = (secret or {}).get("RotationRules") or {}
    if rules.get("AutomaticallyAfterDays"):
        return int(rules["AutomaticallyAfterDays"])
    expression = (rules.get("ScheduleExpression") or "").replace(" ", "")
    if expression.startswith("rate(") and expression.endswith("days)"):
        try:
            return int(expression[5:-5])
        except ValueError:
            return None
    if expression in ("rate(1day)",):
        return 1
    return None


# What a target may carry that changes the input an execution gets; ours sends the event as it is.
_TARGET_INPUT_KEYS = ("Input", "InputPath", "InputTransformer")


def targets_plan(current: Sequence[Dict[str, Any]], wanted: Dict[str, Any]) -> Tuple[List[str], bool]:
    """Target ids to remove (anything not ours) and whether ours must be put (missing, another
    state machine or role, or an input someone added)."""
    remove = [t["Id"] for t in current if t.get("Id") != wanted["Id"]]
    ours = next((t for t in current if t.get("Id") == wanted["Id"]), None)
    if ours is None:
        return remove, True
    return remove, any(ours.get(key) != value for key, value in wanted.items()) or any(key in ours for key in _TARGET_INPUT_KEYS)


def ecs_cluster_arn(cluster: str, partition: str, region: str, account: str) -> str:
    """The cluster's ARN without asking ECS: given as an ARN, or named in the secret's account and
    region (the module reaches ECS and Secrets Manager with the same credentials and region)."""
    if cluster.startswith("arn:"):
        return cluster
    return f"arn:{partition}:ecs:{region}:{account}:cluster/{cluster}"


def service_arn_forms(cluster_arn: str, service: str) -> Tuple[str, str]:
    """A service's ARN in ECS's long format (with the cluster name) and the old short one, which
    services created before the account opted in to the long format keep for good."""
    head, _sep, cluster_name = cluster_arn.partition(":cluster/")
    return f"{head}:service/{cluster_name}/{service}", f"{head}:service/{service}"


def confirmed_service_arns(policy: Any, cluster_arn: str, services: Sequence[str]) -> Optional[List[str]]:
    """The services' ARNs, in the order given, when ``policy`` (as IAM returns it) is exactly the
    state machine role's policy for these services and nothing more; otherwise None.

    This is what lets a converged run skip DescribeServices: the ARNs the policy names were read
    from ECS when the policy was written, and each still names one of the services in this cluster.
    A service missing, one too many, or an ARN of another cluster or account is drift."""
    if policy is None:
        return None
    try:
        statements = normalize_policy(policy)["Statement"]
        (statement,) = statements if isinstance(statements, list) else [statements]
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else list(resources)
    except (KeyError, TypeError, ValueError):
        return None
    if not all(isinstance(arn, str) for arn in resources):
        return None
    by_form = {form: name for name in services for form in service_arn_forms(cluster_arn, name)}
    named = {by_form.get(arn) for arn in resources}
    if None in named or len(named) != len(services) or len(resources) != len(services):
        return None
    arns = {by_form[arn]: arn for arn in resources}
    ordered = [arns[name] for name in services]
    if normalize_policy(policy) != normalize_policy(state_machine_role_policy(ordered)):
        return None
    return ordered


def tags_fingerprint(tags: Dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(tags, sort_keys=True).encode()).hexdigest()[:8]


def rule_description(db_cluster_identifier: str, tags: Dict[str, str], rotation_days: Optional[int]) -> str:
    """The rule's description, which also records what this module applied that a converged run
    does not read back: the tags it asked for (as a fingerprint) and the rotation schedule it set.
    A run whose inputs match the record skips ListTagsForResource (rule, state machine), GetRole
    (both roles) and DescribeSecret; any difference sends it down the repair path, which reads all
    of them and rewrites the record only after applying them. Like kubectl's last-applied annotation,
    it says what was asked, not what is: tags or a schedule changed outside Ansible are not noticed
    until something else needs repair."""
    applied = f"tags {tags_fingerprint(tags)}"
    if rotation_days is not None:
        applied += f"; rotation every {rotation_days} days"
    return f"ecsrds.connect: redeploy the services of {db_cluster_identifier} when its master secret rotates (applied: {applied})"


def description_confirms(current: Optional[str], db_cluster_identifier: str, tags: Dict[str, str], rotation_days: Optional[int]) -> bool:
    """Whether the rule's description records these tags and schedule. An unset ``rotation_days``
    leaves the schedule alone, so any recorded schedule (or none) confirms it."""
    if current == rule_description(db_cluster_identifier, tags, rotation_days):
        return True
    if rotation_days is not None or not current:
        return False
    without = rule_description(db_cluster_identifier, tags, None)
    head = without[:-1] + "; rotation every "
    return current.startswith(head) and current.endswith(" days)") and current[len(head):-len(" days)")].isdigit()


# ---------------------------------------------------------------------------------------------
# AWS calls


class RotationClient:
    """Small wrappers over the IAM, Step Functions, EventBridge, ECS and Secrets Manager calls this
    area makes; each retried, each failure raised as EcsRdsError naming what was being done."""

    def __init__(self, clients: Callable[[str], Any], sleep: Callable[[float], None] = None) -> None:
        """``clients(service)`` gives each service's client (a Clients)."""
        self.iam = clients("iam")
        self.roles = IamRoles(self.iam)
        self.sfn = clients("stepfunctions")
        self.events = clients("events")
        self.ecs = clients("ecs")
        self.secretsmanager = clients("secretsmanager")
        self.sleep = sleep

    # reads
    def services(self, cluster: str, names: Sequence[str]) -> List[Dict[str, Any]]:
        return describe_services(self.ecs, cluster, names) or []

    def role(self, name: str) -> Optional[Dict[str, Any]]:
        return self.roles.role(name)

    def role_policy(self, role: str, policy: str) -> Optional[Any]:
        return self.roles.inline_policy(role, policy)

    def state_machine(self, arn: str) -> Optional[Dict[str, Any]]:
        return call(self.sfn, "describe_state_machine", f"describe state machine {arn}", not_found=("StateMachineDoesNotExist",), stateMachineArn=arn)

    def state_machine_arn_by_name(self, name: str) -> Optional[str]:
        """Teardown knows the name only (no secret, so no account): look it up among all of them."""
        kwargs: Dict[str, Any] = {}
        while True:
            page = call(self.sfn, "list_state_machines", "list state machines", **kwargs)
            for machine in page.get("stateMachines", []):
                if machine.get("name") == name:
                    return machine["stateMachineArn"]
            if not page.get("nextToken"):
                return None
            kwargs["nextToken"] = page["nextToken"]

    def state_machine_tags(self, arn: str) -> Dict[str, str]:
        return tags_to_dict(call(self.sfn, "list_tags_for_resource", f"list the tags of state machine {arn}", resourceArn=arn).get("tags"))

    def rule(self, name: str) -> Optional[Dict[str, Any]]:
        return call(self.events, "describe_rule", f"describe EventBridge rule {name}", not_found=("ResourceNotFoundException",), Name=name)

    def targets(self, rule: str) -> List[Dict[str, Any]]:
        response = call(self.events, "list_targets_by_rule", f"list the targets of EventBridge rule {rule}",
                        not_found=("ResourceNotFoundException",), Rule=rule)
        return (response or {}).get("Targets", [])

    def rule_tags(self, arn: str) -> Dict[str, str]:
        return tags_to_dict(call(self.events, "list_tags_for_resource", f"list the tags of EventBridge rule {arn}", ResourceARN=arn).get("Tags"))

    def secret(self, arn: str) -> Dict[str, Any]:
        return call(self.secretsmanager, "describe_secret", f"describe secret {arn}", SecretId=arn)

    # writes
    def create_role(self, name: str, trust: Dict[str, Any], description: str, tags: Dict[str, str]) -> None:
        call(self.iam, "create_role", f"create IAM role {name}", RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
             Description=description, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def update_trust(self, name: str, trust: Dict[str, Any]) -> None:
        call(self.iam, "update_assume_role_policy", f"update the trust policy of IAM role {name}", RoleName=name, PolicyDocument=json.dumps(trust))

    def put_role_policy(self, role: str, policy: str, document: Dict[str, Any]) -> None:
        self.roles.put_inline_policy(role, policy, document)

    def tag_role(self, name: str, tags: Dict[str, str]) -> None:
        call(self.iam, "tag_role", f"tag IAM role {name}", RoleName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def delete_role(self, name: str) -> None:
        for policy in self.roles.inline_policy_names(name):
            self.roles.delete_inline_policy(name, policy)
        call(self.iam, "delete_role", f"delete IAM role {name}", not_found=("NoSuchEntity",), RoleName=name)

    def _while_role_settles(self, what: str, method: Any, **kwargs: Any) -> Any:
        """Step Functions refuses a role IAM has not spread yet (AccessDeniedException "Neither the
        global service principal states.amazonaws.com, nor the regional one is authorized to assume
        the provided role"): try again for up to a minute."""

        def attempt() -> Any:
            try:
                return {"response": method(aws_retry=True, **kwargs)}
            except ClientError as exc:
                if error_code(exc) == _ROLE_NOT_READY_CODE and _ROLE_NOT_READY_TEXT in str(exc):
                    return None
                raise EcsRdsError(message=f"Failed to {what}", exception=exc)
            except BotoCoreError as exc:
                raise EcsRdsError(message=f"Failed to {what}", exception=exc)

        kwargs_sleep = {"sleep": self.sleep} if self.sleep else {}
        return wait_for(attempt, 60, f"IAM to let Step Functions use the role ({what})", delay=5.0, **kwargs_sleep)["response"]

    def create_state_machine(self, name: str, definition: Dict[str, Any], role_arn: str, tags: Dict[str, str]) -> str:
        response = self._while_role_settles(
            f"create state machine {name}", self.sfn.create_state_machine, name=name, definition=json.dumps(definition),
            roleArn=role_arn, type="STANDARD", tags=[{"key": k, "value": v} for k, v in tags.items()],
        )
        return response["stateMachineArn"]

    def update_state_machine(self, arn: str, definition: Dict[str, Any], role_arn: str) -> None:
        self._while_role_settles(f"update state machine {arn}", self.sfn.update_state_machine, stateMachineArn=arn,
                                 definition=json.dumps(definition), roleArn=role_arn)

    def tag_state_machine(self, arn: str, tags: Dict[str, str]) -> None:
        call(self.sfn, "tag_resource", f"tag state machine {arn}", resourceArn=arn, tags=[{"key": k, "value": v} for k, v in tags.items()])

    def delete_state_machine(self, arn: str) -> None:
        call(self.sfn, "delete_state_machine", f"delete state machine {arn}", not_found=("StateMachineDoesNotExist",), stateMachineArn=arn)

    def put_rule(self, name: str, pattern: Dict[str, Any], description: str, tags: Optional[Dict[str, str]]) -> str:
        kwargs: Dict[str, Any] = {"Name": name, "EventPattern": json.dumps(pattern), "State": "ENABLED", "Description": description}
        if tags is not None:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return call(self.events, "put_rule", f"put EventBridge rule {name}", **kwargs)["RuleArn"]

    def tag_rule(self, arn: str, tags: Dict[str, str]) -> None:
        call(self.events, "tag_resource", f"tag EventBridge rule {arn}", ResourceARN=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def _checked_targets(self, what: str, method: str, **kwargs: Any) -> None:
        response = call(self.events, method, what, **kwargs)
        if response.get("FailedEntryCount"):
            raise EcsRdsError(message=f"Failed to {what}: {response.get('FailedEntries')}")

    def put_target(self, rule: str, target: Dict[str, Any]) -> None:
        self._checked_targets(f"put the target of EventBridge rule {rule}", "put_targets", Rule=rule, Targets=[target])

    def remove_targets(self, rule: str, ids: List[str]) -> None:
        self._checked_targets(f"remove targets from EventBridge rule {rule}", "remove_targets", Rule=rule, Ids=ids)

    def delete_rule(self, name: str) -> None:
        call(self.events, "delete_rule", f"delete EventBridge rule {name}", not_found=("ResourceNotFoundException",), Name=name)

    def set_rotation_days(self, arn: str, days: int) -> None:
        # Managed rotation: no RotationLambdaARN (the RotateSecret API reference says to omit it).
        # RotateImmediately=false so that changing the schedule does not itself rotate the password.
        call(self.secretsmanager, "rotate_secret", f"set the rotation schedule of secret {arn}", SecretId=arn,
             RotationRules={"AutomaticallyAfterDays": days}, RotateImmediately=False)


# ---------------------------------------------------------------------------------------------
# The job


class _Job:
    def __init__(self, client: RotationClient, check_mode: bool) -> None:
        self.client = client
        self.check_mode = check_mode
        self.actions: List[str] = []

    def do(self, action: str, write: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Record a change; send it only outside check mode."""
        self.actions.append(action)
        if self.check_mode:
            return None
        return write(*args, **kwargs)


def _refuse_foreign(kind: str, name: str, tags: Dict[str, str]) -> None:
    if MANAGED_TAG not in tags:
        raise EcsRdsError(message=f"{kind} {name} exists but was not made by ecsrds.connect (no {MANAGED_TAG} tag); rename or remove it")


# Each role: its key in resource_names, the service that assumes it, its description.
_ROLES = (
    ("events_role", "events.amazonaws.com", "ecsrds.connect: lets EventBridge start the redeploy state machine"),
    ("state_machine_role", "states.amazonaws.com", "ecsrds.connect: lets the redeploy state machine update the services"),
)


def _ensure_role(job: _Job, name: str, role: Optional[Dict[str, Any]], principal: str, description: str,
                 current_policy: Any, policy: Dict[str, Any], tags: Dict[str, str]) -> Dict[str, Any]:
    """Trust policy, tags and the inline policy of one role, from what was read already (GetRole
    for ``role``, GetRolePolicy for ``current_policy``)."""
    trust = trust_policy(principal)
    before: Dict[str, Any] = {"exists": role is not None}
    if role is None:
        job.do(f"create IAM role {name}", job.client.create_role, name, trust, description, tags)
        current_policy = None
    else:
        role_tags = tags_to_dict(role.get("Tags"))
        before["trust_policy"] = role.get("AssumeRolePolicyDocument")
        if normalize_policy(role.get("AssumeRolePolicyDocument")) != normalize_policy(trust):
            job.do(f"update the trust policy of IAM role {name}", job.client.update_trust, name, trust)
        missing = {k: v for k, v in tags.items() if role_tags.get(k) != v}
        if missing:
            job.do(f"tag IAM role {name}", job.client.tag_role, name, missing)
        before["policy"] = current_policy
    if current_policy is None or normalize_policy(current_policy) != normalize_policy(policy):
        job.do(f"put policy {POLICY_NAME} on IAM role {name}", job.client.put_role_policy, name, POLICY_NAME, policy)
    return before


def _ensure_rotation_days(job: _Job, params: Dict[str, Any], before: Dict[str, Any]) -> None:
    """The schedule is the secret's own setting, independent of the redeploy: applied whenever asked."""
    days = params.get("rotation_days")
    if days is None or not params.get("secret_arn"):
        return
    current = rotation_days_of(job.client.secret(params["secret_arn"]))
    before["rotation_days"] = current
    if current != days:
        job.do(f"rotate the secret every {days} days", job.client.set_rotation_days, params["secret_arn"], days)


def plan_inputs(params: Dict[str, Any]) -> Dict[str, Any]:
    """Everything derived from the inputs alone: names, ARNs, documents. The ARNs of the state
    machine, the rule and the roles follow from their names and the partition, region and account
    in the secret's ARN, the cluster's from its name; no describe call is needed for any of them."""
    secret = parse_arn(params["secret_arn"])
    partition, region, account = secret["partition"], secret["region"], secret["account"]
    names = resource_names(params["db_cluster_identifier"])
    cluster_arn = ecs_cluster_arn(params["cluster"], partition, region, account)
    state_machine_arn = f"arn:{partition}:states:{region}:{account}:stateMachine:{names['state_machine']}"
    events_role_arn = f"arn:{partition}:iam::{account}:role/{names['events_role']}"
    return {
        "names": names,
        "partition": partition,
        "region": region,
        "account": account,
        "cluster_arn": cluster_arn,
        "state_machine_arn": state_machine_arn,
        "rule_arn": f"arn:{partition}:events:{region}:{account}:rule/{names['rule']}",
        "events_role_arn": events_role_arn,
        "state_machine_role_arn": f"arn:{partition}:iam::{account}:role/{names['state_machine_role']}",
        "event_pattern": event_pattern(params["secret_arn"], sorted({arn for arn in (params.get("service_secrets") or {}).values() if arn})),
        "definition": state_machine_definition(partition, cluster_arn, params["services"], params.get("service_secrets")),
        "events_role_policy": events_role_policy(state_machine_arn),
        "target": {"Id": TARGET_ID, "Arn": state_machine_arn, "RoleArn": events_role_arn},
    }


def _active_services(client: RotationClient, cluster: str, names: Sequence[str]) -> List[Dict[str, Any]]:
    """The services in the order given; each must exist and be ACTIVE."""
    found = {s["serviceName"]: s for s in client.services(cluster, names) if s.get("status") == "ACTIVE"}
    missing = [n for n in names if n not in found]
    if missing:
        raise EcsRdsError(message=f"ECS service(s) {', '.join(missing)} not found or not ACTIVE in cluster {cluster}")
    return [found[n] for n in names]


def read_redeploy(client: RotationClient, plan: Dict[str, Any]) -> Dict[str, Any]:
    """The reads that confirm a converged redeploy, at most five: the rule (pattern, state and the
    record of what was applied), its targets, the state machine (definition, role) and the inline
    policy of each role. GetRolePolicy on a role that is gone answers NoSuchEntity, so it also
    notices a deleted role without GetRole."""
    names = plan["names"]
    rule = client.rule(names["rule"])
    return {
        "rule": rule,
        "targets": client.targets(names["rule"]) if rule is not None else [],
        "machine": client.state_machine(plan["state_machine_arn"]),
        "events_role_policy": client.role_policy(names["events_role"], POLICY_NAME),
        "state_machine_role_policy": client.role_policy(names["state_machine_role"], POLICY_NAME),
    }


def redeploy_drift(seen: Dict[str, Any], plan: Dict[str, Any], params: Dict[str, Any], tags: Dict[str, str]) -> Tuple[List[str], Optional[List[str]]]:
    """What differs from the plan in what :func:`read_redeploy` saw, in words (empty when converged),
    and the service ARNs the state machine role's policy confirms (None when it does not)."""
    found: List[str] = []
    rule = seen["rule"]
    if rule is None:
        found.append("the rule is missing")
    else:
        if not same_json(rule.get("EventPattern"), plan["event_pattern"]) or rule.get("State") != "ENABLED":
            found.append("the rule's pattern or state")
        if not description_confirms(rule.get("Description"), params["db_cluster_identifier"], tags, params.get("rotation_days")):
            found.append("the tags or rotation schedule last applied")
        remove, put = targets_plan(seen["targets"], plan["target"])
        if remove or put:
            found.append("the rule's targets")
    machine = seen["machine"]
    if machine is None:
        found.append("the state machine is missing")
    elif not same_json(machine.get("definition"), plan["definition"]) or machine.get("roleArn") != plan["state_machine_role_arn"]:
        found.append("the state machine's definition or role")
    current = seen["events_role_policy"]
    if current is None or normalize_policy(current) != normalize_policy(plan["events_role_policy"]):
        found.append("the events role or its policy")
    service_arns = confirmed_service_arns(seen["state_machine_role_policy"], plan["cluster_arn"], params["services"])
    if service_arns is None:
        found.append("the state machine role or its policy")
    return found, service_arns


def _rule_state(rule: Dict[str, Any], targets: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {"event_pattern": json.loads(rule["EventPattern"]) if rule.get("EventPattern") else None, "state": rule.get("State"),
            "description": rule.get("Description"), "targets": targets}


def _machine_state(machine: Dict[str, Any]) -> Dict[str, Any]:
    return {"definition": json.loads(machine["definition"]), "role_arn": machine.get("roleArn")}


def _repair(job: _Job, plan: Dict[str, Any], seen: Dict[str, Any], params: Dict[str, Any], tags: Dict[str, str]) -> Dict[str, Any]:
    """Something differs: read what a converged run skips (the services, both roles' trust policy
    and tags, the rule's and the state machine's tags, the schedule), refuse what is not ours, then
    write only what differs. Every read comes before the first write, so a foreign resource stops
    the run with nothing changed."""
    client, names = job.client, plan["names"]
    db, days = params["db_cluster_identifier"], params.get("rotation_days")
    services = _active_services(client, params["cluster"], params["services"])
    roles = {key: client.role(names[key]) for key, _principal, _description in _ROLES}
    machine, rule = seen["machine"], seen["rule"]
    machine_tags = client.state_machine_tags(plan["state_machine_arn"]) if machine is not None else {}
    rule_tags = client.rule_tags(rule["Arn"]) if rule is not None else {}
    secret = client.secret(params["secret_arn"]) if days is not None else None
    for key, _principal, _description in _ROLES:
        if roles[key] is not None:
            _refuse_foreign("IAM role", names[key], tags_to_dict(roles[key].get("Tags")))
    if machine is not None:
        _refuse_foreign("State machine", names["state_machine"], machine_tags)
    if rule is not None:
        _refuse_foreign("EventBridge rule", names["rule"], rule_tags)

    # ECS's own answers are used from here on: a service of an account that never opted in to the
    # long ARN format keeps its short ARN, and the policy must name it as ECS does.
    service_arns = [s["serviceArn"] for s in services]
    definition = state_machine_definition(plan["partition"], services[0]["clusterArn"], params["services"], params.get("service_secrets"))
    policies = {"events_role": plan["events_role_policy"], "state_machine_role": state_machine_role_policy(service_arns)}
    before: Dict[str, Any] = {}
    for key, principal, description in _ROLES:
        before[key] = _ensure_role(job, names[key], roles[key], principal, description, seen[f"{key}_policy"], policies[key], tags)

    before["state_machine"] = _machine_state(machine) if machine is not None else None
    if machine is None:
        job.do(f"create state machine {names['state_machine']}", client.create_state_machine, names["state_machine"], definition,
               plan["state_machine_role_arn"], tags)
    else:
        if not same_json(machine.get("definition"), definition) or machine.get("roleArn") != plan["state_machine_role_arn"]:
            job.do(f"update state machine {names['state_machine']}", client.update_state_machine, plan["state_machine_arn"], definition,
                   plan["state_machine_role_arn"])
        missing = {k: v for k, v in tags.items() if machine_tags.get(k) != v}
        if missing:
            job.do(f"tag state machine {names['state_machine']}", client.tag_state_machine, plan["state_machine_arn"], missing)

    # The schedule before the rule: the rule's description records it, and must not claim a
    # schedule that a failed RotateSecret did not set.
    if days is not None:
        before["rotation_days"] = rotation_days_of(secret)
        if before["rotation_days"] != days:
            job.do(f"rotate the secret every {days} days", client.set_rotation_days, params["secret_arn"], days)

    # With rotation_days unset the schedule is left alone, and so is a schedule the record holds.
    current_description = rule.get("Description") if rule is not None else None
    keep = days is None and description_confirms(current_description, db, tags, None)
    description = current_description if keep else rule_description(db, tags, days)
    target = plan["target"]
    if rule is None:
        before["rule"] = None
        job.do(f"create EventBridge rule {names['rule']}", client.put_rule, names["rule"], plan["event_pattern"], description, tags)
        job.do(f"target state machine {names['state_machine']} from rule {names['rule']}", client.put_target, names["rule"], target)
    else:
        before["rule"] = _rule_state(rule, seen["targets"])
        if not same_json(rule.get("EventPattern"), plan["event_pattern"]) or rule.get("State") != "ENABLED" or current_description != description:
            job.do(f"update EventBridge rule {names['rule']}", client.put_rule, names["rule"], plan["event_pattern"], description, None)
        missing = {k: v for k, v in tags.items() if rule_tags.get(k) != v}
        if missing:
            job.do(f"tag EventBridge rule {names['rule']}", client.tag_rule, rule["Arn"], missing)
        remove, put = targets_plan(seen["targets"], target)
        if remove:
            job.do(f"remove targets {', '.join(remove)} from rule {names['rule']}", client.remove_targets, names["rule"], remove)
        if put:
            job.do(f"target state machine {names['state_machine']} from rule {names['rule']}", client.put_target, names["rule"], target)

    after: Dict[str, Any] = {
        "state_machine": {"definition": definition, "role_arn": plan["state_machine_role_arn"]},
        "rule": {"event_pattern": plan["event_pattern"], "state": "ENABLED", "description": description, "targets": [target]},
    }
    for key, principal, _description in _ROLES:
        after[key] = {"exists": True, "trust_policy": trust_policy(principal), "policy": policies[key]}
    if days is not None:
        after["rotation_days"] = days
    return {"before": before, "after": after, "service_arns": service_arns, "definition": definition}


def _converged(plan: Dict[str, Any], seen: Dict[str, Any], params: Dict[str, Any], service_arns: List[str]) -> Dict[str, Any]:
    """The result of a run that found nothing to do: before and after are what was read."""
    state: Dict[str, Any] = {
        "events_role": {"exists": True, "policy": seen["events_role_policy"]},
        "state_machine_role": {"exists": True, "policy": seen["state_machine_role_policy"]},
        "state_machine": _machine_state(seen["machine"]),
        "rule": _rule_state(seen["rule"], seen["targets"]),
    }
    if params.get("rotation_days") is not None:
        # As the rule's record says it was applied (not read back: see rule_description).
        state["rotation_days"] = params["rotation_days"]
    return {"before": state, "after": state, "service_arns": service_arns, "definition": plan["definition"]}


def ensure_present(client: RotationClient, params: Dict[str, Any], check_mode: bool) -> Tuple[bool, Dict[str, Any]]:
    """Confirm a converged redeploy with :func:`read_redeploy` alone (at most five calls, none of
    them DescribeServices, GetRole, ListTagsForResource or DescribeSecret); repair otherwise."""
    job = _Job(client, check_mode)
    names = resource_names(params["db_cluster_identifier"])
    tags = dict(params.get("tags") or {}, **{MANAGED_TAG: "true"})
    if not params.get("secret_arn") or planned(params["secret_arn"]) or any(planned(arn) for arn in (params.get("service_secrets") or {}).values()):
        # Check mode before the database exists: the secret (a stand-in at most), and so the pattern and
        # the account of every ARN, are not known yet; the real run will create (or update) the
        # redeploy once RDS has made the secret.
        action = f"create or update the rotation redeploy {names['rule']} once the database secret exists"
        return True, {"rotation": None, "actions": [action], "diff": None}
    plan = plan_inputs(params)
    seen = read_redeploy(client, plan)
    drift, service_arns = redeploy_drift(seen, plan, params, tags)
    if drift or service_arns is None:
        outcome = _repair(job, plan, seen, params, tags)
    else:
        outcome = _converged(plan, seen, params, service_arns)

    before = machine_services((seen["machine"] or {}).get("definition"))
    result = {
        "rule_name": names["rule"],
        "rule_arn": plan["rule_arn"],
        "state_machine_name": names["state_machine"],
        "state_machine_arn": plan["state_machine_arn"],
        "events_role_arn": plan["events_role_arn"],
        "state_machine_role_arn": plan["state_machine_role_arn"],
        "service_arns": outcome["service_arns"],
        "event_pattern": plan["event_pattern"],
        "definition": outcome["definition"],
        "rotation_days": params.get("rotation_days"),
        # A service on IAM authentication is still connected, only not redeployed.
        "services_dropped": services_dropped(before, list(params["services"]) + list(params.get("service_secrets") or {})),
        # What the state machine redeployed before this run: the services this deployment had wired.
        "services_before": before,
    }
    return bool(job.actions), {"rotation": result, "actions": job.actions, "diff": {"before": outcome["before"], "after": outcome["after"]}}


def ensure_absent(client: RotationClient, params: Dict[str, Any], check_mode: bool) -> Tuple[bool, Dict[str, Any]]:
    """Target, rule, state machine, roles: in that order, so nothing is left that points at what is
    gone. Only what carries our tag is removed; the secret's rotation schedule is left as it is."""
    job = _Job(client, check_mode)
    names = resource_names(params["db_cluster_identifier"])
    before: Dict[str, Any] = {}
    rule = client.rule(names["rule"])
    if rule is not None:
        _refuse_foreign("EventBridge rule", names["rule"], client.rule_tags(rule["Arn"]))
        before["rule"] = rule["Arn"]
        ids = [t["Id"] for t in client.targets(names["rule"])]
        if ids:
            job.do(f"remove targets {', '.join(ids)} from rule {names['rule']}", client.remove_targets, names["rule"], ids)
        job.do(f"delete EventBridge rule {names['rule']}", client.delete_rule, names["rule"])
    machine_arn = client.state_machine_arn_by_name(names["state_machine"])
    if machine_arn is not None:
        _refuse_foreign("State machine", names["state_machine"], client.state_machine_tags(machine_arn))
        before["state_machine"] = machine_arn
        job.do(f"delete state machine {names['state_machine']}", client.delete_state_machine, machine_arn)
    for role_key in ("state_machine_role", "events_role"):
        role = client.role(names[role_key])
        if role is not None:
            _refuse_foreign("IAM role", names[role_key], tags_to_dict(role.get("Tags")))
            before[role_key] = role["Arn"]
            job.do(f"delete IAM role {names[role_key]}", client.delete_role, names[role_key])
    after: Dict[str, Any] = {}
    _ensure_rotation_days(job, params, before)
    if params.get("rotation_days") is not None and params.get("secret_arn"):
        after["rotation_days"] = params["rotation_days"]
    return bool(job.actions), {"rotation": None, "actions": job.actions, "diff": {"before": before, "after": after}}


def run_rotation(clients: Callable[[str], Any], params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """ecs_redeploy_on_rotation: the redeploy wiring (state=present) or its removal; the result under ``rotation``."""
    client = RotationClient(clients)
    ensure = ensure_absent if params["state"] == "absent" else ensure_present
    changed, result = ensure(client, dict(params), check_mode)
    diff, actions = result.pop("diff"), result.pop("actions")
    return Outcome(changed, result, diff if diff_mode else None, actions)


def validate_params(params: Dict[str, Any]) -> Optional[str]:
    """A clear error naming the input, before any AWS call."""
    problems = []
    ident = params.get("db_cluster_identifier") or ""
    if not ident:
        problems.append("db_cluster_identifier is empty")
    if params.get("secret_arn"):
        try:
            if parse_arn(params["secret_arn"])["service"] != "secretsmanager":
                problems.append(f"secret_arn is not a Secrets Manager ARN: {params['secret_arn']}")
        except ValueError:
            problems.append(f"secret_arn is not an ARN: {params['secret_arn']}")
    if params["state"] == "present":
        if not params.get("cluster"):
            problems.append("cluster is required with state=present")
        if not params.get("services"):
            problems.append("services must name at least one ECS service with state=present")
        elif len(set(params["services"])) != len(params["services"]):
            problems.append("services names a service twice")
        strangers = sorted({name for name, secret in (params.get("service_secrets") or {}).items() if secret} - set(params.get("services") or []))
        if strangers:
            problems.append(f"service_secrets names {', '.join(strangers)}, not in services")
    days = params.get("rotation_days")
    if days is not None and not 1 <= days <= 1000:
        problems.append(f"rotation_days must be between 1 and 1000 (got {days})")
    return "; ".join(problems) or None


# ---------------------------------------------------------------------------------------------
# The rotation role's step: its inputs -> ecs_redeploy_on_rotation's options -> the fact it publishes
# ---------------------------------------------------------------------------------------------


def redeploy_options(inputs: Mapping[str, Any]) -> Dict[str, Any]:
    """ecs_redeploy_on_rotation's options from the rotation role's inputs (``rotation_*``): the wiring
    ensured (rotation_redeploy) or removed, for every service by name that a rotation concerns. A
    service on IAM authentication (an empty secret in rotation_service_secrets) has no secret to
    rotate: it is neither redeployed nor allowed to be; with no other service the wiring is removed."""
    own = dict(inputs.get("rotation_service_secrets") or {})
    services = [name for name in service_names(inputs.get("rotation_ecs_services") or []) if own.get(name, True)]
    return {
        "state": "present" if inputs.get("rotation_redeploy") and services else "absent",
        "db_cluster_identifier": inputs.get("rotation_db_cluster_identifier"),
        "secret_arn": inputs.get("rotation_secret_arn") or None,
        "cluster": inputs.get("rotation_ecs_cluster"),
        "services": services,
        # The iam services stay named (with no secret): still connected, not "no longer in the inputs".
        "service_secrets": own,
        "rotation_days": inputs.get("rotation_secret_rotation_days") or None,
        "tags": dict(inputs.get("rotation_tags") or {}),
    }


def redeploy_facts(result: Mapping[str, Any]) -> Dict[str, Any]:
    """What the rotation role publishes: the wiring as ensured (null when removed, or in check mode
    before the secret exists)."""
    return {"rotation__redeploy": result.get("rotation")}


# ecs_redeploy_on_rotation's options, here so that the deployment check (deployment.py) fills in the same defaults the module does.
ROTATION_ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    db_cluster_identifier=dict(type="str", required=True),
    secret_arn=dict(type="str", no_log=False),
    cluster=dict(type="str"),
    services=dict(type="list", elements="str"),
    service_secrets=dict(type="dict", default={}, no_log=False),
    rotation_days=dict(type="int"),
    tags=dict(type="dict", aliases=["resource_tags"]),
)
