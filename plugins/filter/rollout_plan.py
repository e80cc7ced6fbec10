# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: rollout_plan
short_description: Which ECS services the service role rolls out, and what each ended up running
version_added: 0.2.0
description:
  - Decides once, in Python, for each service whether it moves to the revision registered for it in this run
    (or its last rollout has not settled yet). The service role runs the preflight and the rollout only for
    those, so a run that changes nothing neither checks nor deploys.
  - Given the deploy task's results, the same plan also tells which services were deployed; the service role
    publishes that as C(service__results).
author:
  - ecsrds.connect maintainers (@ecsrds)
positional: running, registered
options:
  _input:
    description: The services as C(ecsrds.connect.service_entries) gives them (C(name), C(container_name)).
    type: list
    elements: dict
    required: true
  running:
    description: What the inputs check read of each service, by name (C(task_definition), C(settled)).
    type: dict
    required: true
  registered:
    description: The C(task_definitions) results of M(ecsrds.connect.ecs_taskdef_secret_env), in the same order.
    type: list
    elements: dict
  check_mode:
    description: Plan the rollout of a revision that check mode would register (it has no ARN yet).
    type: bool
    default: false
  deployments:
    description:
      - The loop results of the M(ecsrds.connect.ecs_service_deploy) task, to fill in C(deployed).
      - When given, each entry has only the published keys RV(_value.service), RV(_value.task_definition_arn),
        RV(_value.previous_task_definition_arn), RV(_value.revision) and RV(_value.deployed).
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Plan the rollouts
  ansible.builtin.set_fact:
    plan: "{{ services | ecsrds.connect.rollout_plan(running, registered.task_definitions, check_mode=ansible_check_mode) }}"
"""

RETURN = r"""
_value:
  description: One entry per service, in order.
  type: list
  elements: dict
  contains:
    service:
      description: The service name.
      type: str
    container_name:
      description: The container given the database variables.
      type: str
    task_definition_arn:
      description: The revision registered (or found) for it; null in check mode before registering.
      type: str
    previous_task_definition_arn:
      description: The revision it ran when the run started.
      type: str
    revision:
      description: Revision number of RV(_value.task_definition_arn).
      type: int
    roll_out:
      description: Whether this run moves the service (and so runs the preflight for it).
      type: bool
    deployed:
      description: Whether the deploy task started a deployment for it.
      type: bool
"""

from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import rollout_plan


class FilterModule:
    def filters(self):
        return {"rollout_plan": rollout_plan}
