# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a site.yml deployment already is what its inputs ask for, in one read-only pass.

site.yml runs the network, database, service and rotation roles in turn, each taking what the one
before published. On the most common run, the one with nothing to do, that is five module
processes (here each costs about half a second of Python start-up, imports and clients) only to
learn that nothing differs. This pass takes the roles' inputs as site.yml sets them, derives each
step's module options the way the roles' tasks do, and runs each step's own check-mode decision
(the code its module runs) in one process, with each AWS client made once.

The first step with anything to do ends the pass: the roles then run as on any other run and
decide everything again. When no step has anything to do, site.yml publishes the facts returned
here (what the roles would have published) and skips the roles.

The roles' tasks and the ``*_options`` functions below derive the same options in two places: the
integration test test_deployment_check.py compares them (the modules' logged invocations against
the options returned here) so that they cannot drift apart. What site.yml sets from an earlier
role's facts (``site__chained_inputs`` in playbooks/vars/inputs.yml) is derived here from the
earlier steps' results. An input this pass does not derive (``network_vpc_name``) stops it.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import TASKDEF_ARGUMENT_SPEC, run_taskdef_env
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import rollout_plan
from ansible_collections.ecsrds.connect.plugins.module_utils.iam import GRANT_ARGUMENT_SPEC, GrantClient, grant_problems, role_names, run_grant
from ansible_collections.ecsrds.connect.plugins.module_utils.network import (
    NETWORK_ACCESS_ARGUMENT_SPEC,
    NetworkClient,
    run_network_access,
    validate_access_params,
)
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import CREATED_BY_TAG
from ansible_collections.ecsrds.connect.plugins.module_utils.rds import CLUSTER_ARGUMENT_SPEC, AuroraManagedSecretManager
from ansible_collections.ecsrds.connect.plugins.module_utils.rotation import ROTATION_ARGUMENT_SPEC, RotationClient, run_rotation
from ansible_collections.ecsrds.connect.plugins.module_utils.rotation import validate_params as rotation_problem

# The service role's revision tags (roles/service/vars/main.yml).
MANAGED_TAG = "ecsrds.connect/managed"
ORIGINAL_TAG = "ecsrds.connect/original-task-definition"
STEPS = ("network", "database", "task_definitions", "grant", "rotation")


class NotInSync(Exception):
    """A step has something to do (or this pass cannot tell): the roles run."""


def _unique(items: Sequence[Any]) -> List[Any]:
    seen: List[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _options(step: str, spec: Mapping[str, Any], params: Mapping[str, Any], **constraints: Any) -> Dict[str, Any]:
    """The options as the step's module would hold them: defaults filled in, types converted."""
    result = ArgumentSpecValidator(copy.deepcopy(dict(spec)), **constraints).validate(dict(params))
    if result.error_messages:
        raise NotInSync(f"{step}: its options do not validate ({'; '.join(result.error_messages)}); the role will say why")
    return result.validated_parameters


def network_options(inputs: Mapping[str, Any], aws: Mapping[str, Any]) -> Dict[str, Any]:
    """roles/network/tasks/discover.yml and access.yml."""
    services = list((aws.get("services") or {}).values())
    if not inputs.get("network_vpc_id") and inputs.get("network_vpc_name"):
        raise NotInSync("network: network_vpc_name is looked up by the network role itself")
    subnet_ids = list(inputs.get("network_subnet_ids") or []) or _unique([s for service in services for s in service.get("subnets") or []])
    group_ids = list(inputs.get("network_service_security_group_ids") or []) or _unique(
        [g for service in services for g in service.get("security_groups") or []]
    )
    source = inputs.get("network_db_ingress_source")
    return {
        "subnet_ids": subnet_ids,
        "subnets": list(aws.get("subnets") or []),
        "vpc_id": inputs.get("network_vpc_id") or None,
        "secretsmanager_endpoint": inputs.get("network_secretsmanager_endpoint"),
        "endpoint": {
            "name": inputs.get("network_secretsmanager_endpoint_name"),
            "security_group_name": inputs.get("network_secretsmanager_endpoint_security_group_name"),
            "source_security_group_ids": group_ids,
            "source_cidrs": inputs.get("network_secretsmanager_endpoint_ingress_cidrs"),
            "manage_vpc_dns": inputs.get("network_manage_vpc_dns"),
        },
        "db_security_group": {
            "name": inputs.get("network_db_security_group_name"),
            "description": inputs.get("network_db_security_group_description"),
            "port": inputs.get("network_db_port"),
            "source_security_group_ids": group_ids if source == "security_group" else [],
            "source_cidrs": inputs.get("network_db_ingress_cidrs") if source == "cidr" else [],
            "rule_description": inputs.get("network_db_rule_description"),
        },
        "deployment_id": inputs.get("network_deployment_id"),
        "tags": inputs.get("network_tags"),
    }


def network_facts(options: Mapping[str, Any], result: Mapping[str, Any]) -> Dict[str, Any]:
    """roles/network/tasks/discover.yml and publish.yml (the endpoint admits the services' groups)."""
    endpoint = result["endpoint"]
    return {
        "network__subnet_ids": options["subnet_ids"],
        "network__service_security_group_ids": options["endpoint"]["source_security_group_ids"],
        "network__subnets": options["subnets"],
        "network__vpc_id": result["vpc_id"],
        "network__db_security_group_id": result["db_security_group"]["group_id"],
        "network__secretsmanager_endpoint_id": endpoint["endpoint"]["vpc_endpoint_id"] if endpoint.get("endpoint") else None,
        "network__secretsmanager_endpoint_changed": endpoint["changed"],
    }


def database_options(inputs: Mapping[str, Any], network: Mapping[str, Any]) -> Dict[str, Any]:
    """playbooks/vars/inputs.yml (subnets and group from the network step) and roles/database/tasks/cluster.yml."""
    cluster_id = inputs.get("database_cluster_identifier")
    group_id = network.get("network__db_security_group_id")
    return {
        "db_cluster_identifier": cluster_id,
        "engine": "aurora-postgresql",
        "engine_version": inputs.get("database_engine_version") or None,
        "master_username": inputs.get("database_master_username"),
        "master_user_secret_kms_key_id": inputs.get("database_master_user_secret_kms_key_id") or None,
        "manage_existing_master_password": inputs.get("database_manage_existing_master_password"),
        "database_name": inputs.get("database_name") or None,
        "port": inputs.get("database_port"),
        "db_subnet_group_name": inputs.get("database_subnet_group_name") or f"{cluster_id}-subnets",
        "db_subnet_group_subnet_ids": network.get("network__subnet_ids"),
        "db_subnet_group_description": inputs.get("database_subnet_group_description"),
        "vpc_security_group_ids": [group_id] if group_id else None,
        "storage_encrypted": inputs.get("database_storage_encrypted"),
        "kms_key_id": inputs.get("database_kms_key_id") or None,
        "deletion_protection": inputs.get("database_deletion_protection"),
        "instance_class": inputs.get("database_instance_class"),
        "instance_count": inputs.get("database_instance_count"),
        "monitoring_interval": inputs.get("database_monitoring_interval"),
        "monitoring_role_arn": inputs.get("database_monitoring_role_arn") or None,
        "tags": inputs.get("database_tags"),
        "purge_tags": False,
        "deployment_id": inputs.get("database_deployment_id") or cluster_id,
        "wait": inputs.get("database_wait"),
        "wait_timeout": inputs.get("database_wait_timeout"),
        "start_if_stopped": inputs.get("database_start_if_stopped"),
    }


def database_facts(inputs: Mapping[str, Any], result: Mapping[str, Any]) -> Dict[str, Any]:
    """roles/database/tasks/publish.yml, for a cluster that exists (a step in sync has one)."""
    cluster = result["cluster"]
    secret = cluster.get("master_user_secret") or {}
    return {
        "database__cluster": cluster,
        "database__endpoint": cluster.get("endpoint"),
        "database__port": int(inputs.get("database_port")),
        "database__name": inputs.get("database_name") or cluster.get("database_name") or "postgres",
        "database__secret_arn": secret.get("secret_arn"),
        "database__secret_kms_key_id": secret.get("kms_key_id"),
        "database__secret_kms_key_manager": secret.get("kms_key_manager"),
    }


def service_deployment_id(inputs: Mapping[str, Any], secret_arn: Optional[str]) -> str:
    """roles/service/vars/main.yml's service__deployment_id."""
    arn_parts = (secret_arn or "").split(":")
    name = inputs.get("service_deployment_id") or inputs.get("service_db_cluster_identifier") or (arn_parts[6] if len(arn_parts) > 6 else "")
    return re.sub(r"[^A-Za-z0-9._-]", "-", str(name))


def task_definition_options(inputs: Mapping[str, Any], services: Sequence[Mapping[str, Any]], database: Mapping[str, Any]) -> Dict[str, Any]:
    """playbooks/vars/inputs.yml (the connection from the database step), roles/service/vars/main.yml
    and roles/service/tasks/task_definitions.yml."""
    url = (
        str(inputs.get("service_database_url_format"))
        .replace("{endpoint}", str(database["database__endpoint"] or ""))
        .replace("{port}", str(database["database__port"]))
        .replace("{database}", str(database["database__name"]))
    )
    tags = dict(inputs.get("service_tags") or {})
    tags.update({MANAGED_TAG: "true", CREATED_BY_TAG: service_deployment_id(inputs, database["database__secret_arn"])})
    return {
        "task_definitions": [dict(service) for service in services],
        "environment": {inputs.get("service_url_variable"): url, inputs.get("service_driver_variable"): inputs.get("service_driver_class")},
        "secret_arn": database["database__secret_arn"],
        "secret_keys": {
            inputs.get("service_username_variable"): inputs.get("service_secret_username_key"),
            inputs.get("service_password_variable"): inputs.get("service_secret_password_key"),
        },
        "tags": tags,
        "origin_tag": ORIGINAL_TAG,
    }


def execution_role_names(task_definitions: Sequence[Mapping[str, Any]]) -> List[str]:
    """roles/service/vars/main.yml's service__execution_roles: each role once, by name."""
    arns = [((entry.get("task_definition") or {}).get("execution_role_arn") or "") for entry in task_definitions]
    return role_names([arn for arn in arns if arn])


def customer_key(database: Mapping[str, Any]) -> Optional[str]:
    """inputs.yml's service_secret_kms_key_id: only a customer managed key needs kms:Decrypt."""
    return database["database__secret_kms_key_id"] if database["database__secret_kms_key_manager"] == "CUSTOMER" else None


def grant_options(inputs: Mapping[str, Any], roles: List[str], database: Mapping[str, Any]) -> Dict[str, Any]:
    """roles/service/tasks/grant.yml."""
    return {
        "roles": roles,
        "policy_name": inputs.get("service_execution_role_policy_name"),
        "secret_arn": database["database__secret_arn"],
        "secret_kms_key_id": customer_key(database) or None,
        "state": "present",
    }


def rotation_options(inputs: Mapping[str, Any], database: Mapping[str, Any]) -> Dict[str, Any]:
    """roles/rotation/tasks/redeploy.yml."""
    return {
        "state": "present" if inputs.get("rotation_redeploy") else "absent",
        "db_cluster_identifier": inputs.get("rotation_db_cluster_identifier"),
        "secret_arn": database["database__secret_arn"] or None,
        "cluster": inputs.get("rotation_ecs_cluster"),
        "services": inputs.get("rotation_ecs_services"),
        "rotation_days": inputs.get("rotation_secret_rotation_days") or None,
        "tags": inputs.get("rotation_tags"),
    }


def changed_settings(diff: Optional[Mapping[str, Any]]) -> str:
    """The settings a diff changes, by name."""
    before, after = (diff or {}).get("before") or {}, (diff or {}).get("after") or {}
    return ", ".join(sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))) or "something to change"


def always_runs(inputs: Mapping[str, Any]) -> Optional[str]:
    """A step the roles run on every run, so that nothing can be skipped. (The log check also runs on
    every run when asked for; site.yml runs it after publishing the facts from here.)"""
    if inputs.get("service_preflight") and inputs.get("service_preflight_every_run"):
        return "the preflight runs on every run (service_preflight_every_run)"
    return None


class _StepModule:
    """The calling module as a step's manager sees it: that step's options, check mode, and the
    clients the pass shares."""

    def __init__(self, module: Any, params: Mapping[str, Any], clients: Callable[[str], Any]) -> None:
        self._module = module
        self._clients = clients
        self.params = dict(params, aws_config=module.params.get("aws_config"))
        self.check_mode = True
        # The database step names what it would change from the diff.
        self._diff = True

    def client(self, service: str, *args: Any, **kwargs: Any) -> Any:
        return self._clients(service)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


class DeploymentCheck:
    """The pass itself. ``clients`` gives one client per AWS service (made once), ``module`` the
    calling AnsibleAWSModule (for the managers that take one), ``checked`` the inputs check's result."""

    def __init__(self, module: Any, clients: Callable[[str], Any], region: str, inputs: Mapping[str, Any], checked: Mapping[str, Any],
                 described_revisions: Optional[Mapping[str, Any]] = None) -> None:
        self.module = module
        self.described_revisions = described_revisions
        self.clients = clients
        self.region = region
        self.inputs = inputs
        self.checked = checked
        self.steps: List[Dict[str, Any]] = []

    def _step(self, name: str, options: Dict[str, Any], changed: bool, why: Optional[str] = None) -> None:
        self.steps.append({"step": name, "options": options, "changed": changed})
        if changed:
            raise NotInSync(f"{name}: {why or 'something to change'}")

    def run(self) -> Dict[str, Any]:
        try:
            facts = self._facts()
        except NotInSync as exc:
            return {"in_sync": False, "reason": str(exc), "steps": self.steps, "facts": {}}
        except EcsRdsError as exc:
            return {"in_sync": False, "reason": f"{STEPS[len(self.steps)]}: {exc.message}", "steps": self.steps, "facts": {}}
        except (BotoCoreError, ClientError) as exc:
            return {"in_sync": False, "reason": f"{STEPS[len(self.steps)]}: {exc}", "steps": self.steps, "facts": {}}
        return {"in_sync": True, "reason": None, "steps": self.steps, "facts": facts}

    def _facts(self) -> Dict[str, Any]:
        reason = always_runs(self.inputs)
        if reason:
            raise NotInSync(reason)
        aws = self.checked.get("aws") or {}
        facts: Dict[str, Any] = {}

        options = _options("network", NETWORK_ACCESS_ARGUMENT_SPEC, network_options(self.inputs, aws))
        problem = validate_access_params(options)
        if problem:
            raise NotInSync(f"network: {problem}")
        changed, result, actions = run_network_access(NetworkClient(self.clients("ec2")), self.region, options, True)
        self._step("network", options, changed, ", ".join(actions))
        facts.update(network_facts(options, result))

        options = _options("database", CLUSTER_ARGUMENT_SPEC, database_options(self.inputs, facts))
        result = AuroraManagedSecretManager(_StepModule(self.module, options, self.clients)).run()
        pending = result.get("pending") if options["wait"] else None
        self._step("database", options, bool(result["changed"] or pending or result["cluster"] is None), pending or changed_settings(result.get("diff")))
        facts.update(database_facts(self.inputs, result))
        if not (facts["database__secret_arn"] and facts["database__endpoint"]):
            raise NotInSync("database: no endpoint or managed secret yet")

        services = self.checked.get("services") or []
        options = _options("task_definitions", TASKDEF_ARGUMENT_SPEC, task_definition_options(self.inputs, services, facts))
        registered = run_taskdef_env(self.clients("ecs"), options, True, described=self.described_revisions)
        to_register = _unique([entry["task_definition"] for entry, result in zip(services, registered["task_definitions"]) if result["changed"]])
        self._step("task_definitions", options, bool(registered["changed"]), f"a revision to register on top of {', '.join(to_register)}")
        plan = rollout_plan(services, aws.get("services") or {}, registered["task_definitions"], check_mode=True)
        rolling = [entry["service"] for entry in plan if entry["roll_out"]]
        if rolling:
            raise NotInSync(f"service: {', '.join(rolling)} to roll out, or its rollout has not settled")

        options = _options("grant", GRANT_ARGUMENT_SPEC, grant_options(self.inputs, execution_role_names(registered["task_definitions"]), facts))
        problems = grant_problems(options)
        if problems:
            raise NotInSync(f"grant: {'; '.join(problems)}")
        changed, _grant, _diff = run_grant(GrantClient(self.clients("iam")), options, True)
        self._step("grant", options, changed, "a policy to put")
        facts["service__results"] = rollout_plan(services, aws.get("services") or {}, registered["task_definitions"], check_mode=True, deployments=[])

        options = _options("rotation", ROTATION_ARGUMENT_SPEC, rotation_options(self.inputs, facts))
        problem = rotation_problem(options)
        if problem:
            raise NotInSync(f"rotation: {problem}")
        rotation_clients = {name: self.clients(name) for name in ("iam", "stepfunctions", "events", "ecs", "secretsmanager")}
        changed, result = run_rotation(RotationClient(rotation_clients), options, True)
        self._step("rotation", options, changed, ", ".join(result.get("actions") or []))
        facts["rotation__redeploy"] = result.get("rotation")
        return facts


def check_deployment(module: Any, clients: Callable[[str], Any], region: str, inputs: Mapping[str, Any], checked: Mapping[str, Any],
                     described_revisions: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """``in_sync`` (nothing to do), ``reason`` (the first step with something to do, or why the pass
    could not tell), ``steps`` (each step compared: its options and whether it would change) and,
    when in sync, ``facts``: what the roles would have published. ``described_revisions``: the
    revisions the inputs check described, by ARN, so that none is described twice."""
    return DeploymentCheck(module, clients, region, inputs, checked, described_revisions).run()
