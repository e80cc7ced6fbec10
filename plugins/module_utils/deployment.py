# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml's steps in one process: whether its deployment already is what its inputs ask for (the
in-sync pass, read-only), and, when it is not, the same steps run for real (the converging pass).

site.yml runs the network, database, service and rotation roles in turn, each taking what the one
before published: eight module processes or more on a run with something to do, each paying for
Python, Ansible, boto3 and its clients (about 1.5 s here) before its first call. Both passes run the
same steps in one process, with each AWS client made once: a table of the steps, each with the
derivation its role calls (the role's inputs to the module's options), the module's own argument
spec, validation and runner, and the facts its role publishes. Nothing is derived here.

What the passes need besides the roles' inputs is how site.yml wires them: its settings for the role
imports and the inputs it sets on a role from what an earlier role published (``published.SITE_SETTINGS``
and ``published.SITE_WIRING``, the role imports' vars in playbooks/site.yml).

The in-sync pass stops at the first step with anything to do: then, unless the converging pass runs,
the roles run as on any other run and decide everything again. When no step has anything to do,
site.yml shows what is published here (what the roles would have published) and skips the roles.

The converging pass runs every step in the roles' order, the waits and the rollouts included, and
publishes what the roles would have. What it leaves to the roles it hands over, before its first write
where that can be known (a service to release, a VPC to look up by name) and otherwise where it meets
it (a step whose options its role or its module would refuse): the roles then run from the start, find done what
the pass did, and fail or go on exactly as without it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.ecsrds.connect.plugins.module_utils import ecs, ecs_service, iam, network, preflight, rds, rds_data, readiness, rotation
from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError, Outcome, Runner
from ansible_collections.ecsrds.connect.plugins.module_utils.published import wired


class NotInSync(Exception):
    """A step has something to do (or this pass cannot tell, or cannot do it): the roles run."""


@dataclass
class Pass:
    """What the steps see: the roles' inputs as site.yml wires them so far, what the deployment check
    discovered, and each earlier step's options and outcome by name."""

    inputs: Dict[str, Any]
    discovered: Mapping[str, Any]
    options: Dict[str, Dict[str, Any]]
    outcomes: Dict[str, Outcome]
    # The in-sync pass compares; the converging pass writes.
    check_mode: bool = True


@dataclass(frozen=True)
class Step:
    """One module task of one role: its options from the role's inputs (the role's own derivation),
    checked as the module checks them, run by the module's runner (in check mode by the in-sync pass,
    for real by the converging pass), then what the role publishes."""

    name: str
    spec: Mapping[str, Any]
    options: Callable[[Pass], Optional[Dict[str, Any]]]
    problem: Callable[[Mapping[str, Any]], Optional[str]]
    run: Runner
    publish: Callable[[Pass, Mapping[str, Any], Outcome], Dict[str, Any]]
    # Something beyond the step's own changes that a role run would still do (a wait, a rollout).
    still_to_do: Callable[[Pass, Mapping[str, Any], Outcome], Optional[str]] = lambda _pass, _options, _outcome: None
    # A step whose derivation may say "no task" (None): the role skips it, and so does the pass.
    optional: bool = False
    # A wait, the preflight or the rollouts: the in-sync pass sees what they would do through an earlier
    # step's still_to_do (a pending resource, a service to roll out); only the converging pass runs them.
    converging_only: bool = False
    # The values its options set that its module masks (no_log) wherever it would show them.
    masked: Callable[[Mapping[str, Any]], List[str]] = lambda _options: []


def _network_options(state: Pass) -> Dict[str, Any]:
    if state.inputs.get("network_vpc_name") and not state.inputs.get("network_vpc_id"):
        raise NotInSync("network: network_vpc_name is looked up by the network role itself")
    return network.access_options(state.inputs, state.discovered)


def _endpoint_still_to_do(state: Pass, options: Mapping[str, Any], outcome: Outcome) -> Optional[str]:
    # Created by a run that did not wait for it: the service role waits for it before a rollout.
    pending = network.pending_endpoint_id((outcome.result.get("endpoint") or {}).get("endpoint"))
    return f"Secrets Manager endpoint {pending} is still pending" if pending else None


def _database_still_to_do(state: Pass, options: Mapping[str, Any], outcome: Outcome) -> Optional[str]:
    # A cluster still settling is waited for - by the database role with wait=true, by the service
    # role's dependencies step when site.yml creates it without waiting: part of being in sync.
    if outcome.result.get("pending"):
        return outcome.result["pending"]
    if outcome.result.get("cluster") is None:
        return "no cluster yet"
    return None


def _logins(state: Pass) -> List[Dict[str, Any]]:
    outcome = state.outcomes.get("logins")
    return outcome.result["logins"] if outcome else []


def _taskdef_options(state: Pass) -> Optional[Dict[str, Any]]:
    options = ecs.taskdef_options(state.inputs, ecs_service.service_entries(state.inputs, state.discovered), _logins(state))
    if options is None:
        raise NotInSync("task_definitions: no database endpoint or managed secret yet")
    return options


def _plan(state: Pass, **kwargs: Any) -> List[Dict[str, Any]]:
    registered = state.outcomes["task_definitions"].result["task_definitions"]
    return ecs_service.rollout_plan(state.options["task_definitions"]["task_definitions"], state.discovered.get("services") or {},
                                    registered, check_mode=state.check_mode, **kwargs)


def _rollouts(state: Pass, options: Mapping[str, Any], outcome: Outcome) -> Optional[str]:
    rolling = [entry["service"] for entry in _plan(state) if entry["roll_out"]]
    if rolling:
        # The service role's rollout, not a change of the revisions: named after the role.
        raise NotInSync(f"service: {', '.join(rolling)} to roll out, or its rollout has not settled")
    return None


def _dependencies(before_logins: bool) -> Callable[[Pass], Optional[Dict[str, Any]]]:
    return lambda state: ecs_service.dependencies_options(state.inputs, before_logins=before_logins)


def _rollout_options(state: Pass) -> Optional[Dict[str, Any]]:
    # A grant made moments ago may take AWS a while to apply: the rollouts give it the grace the role gives it.
    options = ecs_service.deploy_options(_plan(state), state.inputs, state.outcomes["grant"].changed)
    return options if options["rollouts"] else None


def _no_facts(state: Pass, options: Mapping[str, Any], outcome: Outcome) -> Dict[str, Any]:
    return {}


def _grant_problem(options: Mapping[str, Any]) -> Optional[str]:
    return "; ".join(iam.grant_problems(options)) or None


def _rds_problem(options: Mapping[str, Any]) -> Optional[str]:
    try:
        rds.validate_params(dict(options))
    except EcsRdsError as exc:
        return exc.message
    return None


# The roles' module tasks in site.yml's order (network, database, service, rotation).
STEPS = (
    Step("network", network.NETWORK_ACCESS_ARGUMENT_SPEC, _network_options, network.validate_access_params, network.run_network_access,
         lambda state, options, outcome: network.access_facts(outcome.result, options), _endpoint_still_to_do),
    Step("database", rds.CLUSTER_ARGUMENT_SPEC, lambda state: rds.cluster_options(state.inputs), _rds_problem, rds.run_cluster,
         lambda state, options, outcome: rds.cluster_facts(outcome.result), _database_still_to_do),
    Step("logins_ready", readiness.DEPENDENCIES_ARGUMENT_SPEC, _dependencies(before_logins=True), readiness.dependencies_problem,
         readiness.run_dependencies_ready, _no_facts, optional=True, converging_only=True),
    Step("logins", rds_data.LOGINS_ARGUMENT_SPEC, lambda state: ecs_service.logins_options(state.inputs), rds_data.logins_problem,
         rds_data.run_logins, lambda state, options, outcome: {"service__own_secrets": ecs_service.own_secrets(state.inputs, outcome.result["logins"])},
         optional=True),
    Step("task_definitions", ecs.TASKDEF_ARGUMENT_SPEC, _taskdef_options, lambda options: None, ecs.run_taskdef_env,
         lambda state, options, outcome: {"service__task_definitions": {"task_definitions": outcome.result["task_definitions"]}}, _rollouts,
         masked=ecs.secret_looking_values),
    Step("grant", iam.GRANT_ARGUMENT_SPEC,
         lambda state: iam.grant_options(state.inputs, state.outcomes["task_definitions"].result["task_definitions"], _logins(state)),
         _grant_problem, iam.run_grant, lambda state, options, outcome: {"service__results": _plan(state, deployments=[])}),
    Step("dependencies", readiness.DEPENDENCIES_ARGUMENT_SPEC, _dependencies(before_logins=False), readiness.dependencies_problem,
         readiness.run_dependencies_ready, _no_facts, optional=True, converging_only=True),
    Step("preflight", preflight.PREFLIGHT_ARGUMENT_SPEC, lambda state: ecs_service.preflight_options(_plan(state), state.inputs, state.check_mode),
         preflight.preflight_problem, preflight.run_secrets_preflight, _no_facts, optional=True, converging_only=True),
    Step("rollouts", ecs_service.ROLLOUTS_ARGUMENT_SPEC, _rollout_options, ecs_service.deploy_problem, ecs_service.run_service_rollouts,
         lambda state, options, outcome: {"service__results": _plan(state, deployments=outcome.result["rollouts"])},
         optional=True, converging_only=True),
    Step("rotation", rotation.ROTATION_ARGUMENT_SPEC, lambda state: rotation.redeploy_options(state.inputs), rotation.validate_params,
         rotation.run_rotation, lambda state, options, outcome: rotation.redeploy_facts(outcome.result)),
)


def validated(step: str, spec: Mapping[str, Any], params: Mapping[str, Any]) -> Dict[str, Any]:
    """The options as the step's module would hold them: defaults filled in, types converted."""
    result = ArgumentSpecValidator(copy.deepcopy(dict(spec))).validate(dict(params))
    if result.error_messages:
        raise NotInSync(f"{step}: its options do not validate ({'; '.join(result.error_messages)}); the role will say why")
    return result.validated_parameters


def always_runs(inputs: Mapping[str, Any]) -> Optional[str]:
    """A step the roles run on every run, so that nothing can be skipped. (The log check also runs on
    every run when asked for; site.yml runs it without the roles.)"""
    if inputs.get("service_preflight") and inputs.get("service_preflight_every_run"):
        return "the preflight runs on every run (service_preflight_every_run)"
    return None


def still_to_release(discovered: Mapping[str, Any]) -> Optional[str]:
    """A service the inputs release whose running revision still reads the secret (the deployment
    check's ``released``): the service role takes its wiring out."""
    wired = [name for name, entry in (discovered.get("released") or {}).items() if entry.get("wired")]
    return f"service: {', '.join(wired)} to release" if wired else None


def _options(step: Step, state: Pass, role_inputs: Mapping[str, Any], facts: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The step's options as its role derives them from its inputs as site.yml wires them, validated as
    its module validates them; None when the role skips it. NotInSync when its role or its module would
    refuse them."""
    state.inputs = wired(role_inputs, facts)
    try:
        asked = step.options(state)
    except ValueError as exc:
        # A derivation that refuses its inputs: the role's filter refuses them with the same words.
        raise NotInSync(f"{step.name}: {exc}") from exc
    if asked is None and step.optional:
        return None
    options = validated(step.name, step.spec, asked)
    problem = step.problem(options)
    if problem:
        raise NotInSync(f"{step.name}: {problem}")
    return options


def check_deployment(clients: Clients, role_inputs: Mapping[str, Any], discovered: Mapping[str, Any]) -> Dict[str, Any]:
    """``in_sync`` (nothing to do), ``reason`` (the first step with something to do, or why the pass
    could not tell), ``steps`` (each step compared: its options and whether it would change) and,
    when in sync, ``facts``: what the roles would have published. ``role_inputs``: the four roles'
    inputs as site.yml sets them before any role ran; ``discovered``: the deployment check's."""
    state = Pass(dict(role_inputs), discovered, {}, {})
    compared: List[Dict[str, Any]] = []
    facts: Dict[str, Any] = {}
    step = STEPS[0]
    try:
        reason = always_runs(role_inputs) or still_to_release(discovered)
        if reason:
            raise NotInSync(reason)
        for step in STEPS:
            if step.converging_only:
                continue
            options = _options(step, state, role_inputs, facts)
            if options is None:
                continue
            outcome = step.run(clients, options, True, False)
            compared.append({"step": step.name, "options": options, "changed": outcome.changed})
            if outcome.changed:
                raise NotInSync(f"{step.name}: {', '.join(outcome.actions) or 'something to change'}")
            state.options[step.name], state.outcomes[step.name] = options, outcome
            pending = step.still_to_do(state, options, outcome)
            if pending:
                raise NotInSync(f"{step.name}: {pending}")
            facts.update(step.publish(state, options, outcome))
    except NotInSync as exc:
        return {"in_sync": False, "reason": str(exc), "steps": compared, "facts": {}}
    except EcsRdsError as exc:
        return {"in_sync": False, "reason": f"{step.name}: {exc.message}", "steps": compared, "facts": {}}
    except (BotoCoreError, ClientError, ValueError) as exc:
        return {"in_sync": False, "reason": f"{step.name}: {exc}", "steps": compared, "facts": {}}
    return {"in_sync": True, "reason": None, "steps": compared, "facts": facts}


def converge_deployment(clients: Clients, role_inputs: Mapping[str, Any], discovered: Mapping[str, Any], diff_mode: bool = False,
                        mask: Callable[[List[str]], None] = lambda _values: None) -> Dict[str, Any]:
    """Every step for real, in the roles' order, the waits and the rollouts included: ``converged``
    (every step ran), ``handed_over`` (else: why the roles must run, naming the step), ``changed``,
    ``steps`` (each step run: ``step``, ``changed``, ``actions``, its module's ``result`` and the ``seconds`` it took), ``facts``
    (when converged: what the roles would have published) and, in diff mode, ``diff`` (each step's).

    A step that fails (an AWS error, a preflight finding, a rollout that did not complete) raises its
    EcsRdsError as its module would, its message led by the step's name, carrying ``step``, the
    ``steps`` run before it and ``changed``: the run fails there, as the role's task would. ``mask``
    is given what each step's module would mask (no_log), before the step runs."""
    state = Pass(dict(role_inputs), discovered, {}, {}, check_mode=False)
    ran: List[Dict[str, Any]] = []
    diffs: List[Dict[str, Any]] = []
    facts: Dict[str, Any] = {}

    def report(handed_over: Optional[str]) -> Dict[str, Any]:
        return {"converged": handed_over is None, "handed_over": handed_over, "changed": any(entry["changed"] for entry in ran),
                "steps": ran, "facts": {} if handed_over else facts, "diff": diffs}

    step = STEPS[0]
    try:
        reason = still_to_release(discovered)
        if reason:
            raise NotInSync(reason)
        for step in STEPS:
            options = _options(step, state, role_inputs, facts)
            if options is None:
                continue
            mask(step.masked(options))
            started = time.monotonic()
            outcome = step.run(clients, options, False, diff_mode)
            ran.append({"step": step.name, "changed": outcome.changed, "actions": outcome.actions, "result": outcome.result,
                        "seconds": round(time.monotonic() - started, 2)})
            if outcome.diff is not None:
                # A module's diff is one before/after or a list of them; each is shown headed by the step.
                diffs += [dict(part, before_header=step.name, after_header=step.name)
                          for part in (outcome.diff if isinstance(outcome.diff, list) else [outcome.diff])]
            state.options[step.name], state.outcomes[step.name] = options, outcome
            facts.update(step.publish(state, options, outcome))
    except NotInSync as exc:
        return report(str(exc))
    except EcsRdsError as exc:
        exc.message = f"{step.name}: {exc.message}"
        exc.kwargs.update(step=step.name, steps=ran, changed=any(entry["changed"] for entry in ran))
        raise
    return report(None)
