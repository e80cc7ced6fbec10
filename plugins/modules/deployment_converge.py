#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deployment_converge
short_description: Run the steps of site.yml's roles in one process, in their order, waits and rollouts included
version_added: 0.2.0
description:
  - "What C(site.yml) runs, after M(ecsrds.connect.deployment_check) passed its inputs and found something to do, instead
    of the roles' module tasks one by one: the same steps, each deriving its module's options from the roles' inputs as its
    role does (the same Python), validated by the module's own argument spec and run by the module's own code, in
    one process with each AWS client made once. On moto that is about a second and a half saved per step; on AWS
    nothing changes in what is waited for or when."
  - "The steps, in the roles' order: the Secrets Manager endpoint and the database security group's rule
    (M(ecsrds.connect.ecs_network_access), without waiting for the endpoint), the Aurora cluster and writer
    (M(ecsrds.connect.rds_aurora_managed_secret), without waiting), the services' own logins when some services have one
    (M(ecsrds.connect.rds_db_logins), after waiting for the cluster), the revisions
    (M(ecsrds.connect.ecs_taskdef_secret_env)), the grant (M(ecsrds.connect.ecs_execution_role_grant)), the wait for what
    is still settling (M(ecsrds.connect.ecs_task_dependencies_ready)), the preflight (M(ecsrds.connect.ecs_secrets_preflight)),
    the rollouts followed together (M(ecsrds.connect.ecs_service_rollouts)) and the rotation redeploy
    (M(ecsrds.connect.ecs_redeploy_on_rotation)). A step the role would skip is skipped."
  - "It hands over to the roles (RV(handed_over)) what it does not do: a service to release (before any write), a VPC
    named by its Name tag (before any write), and a step whose options its role or its module would refuse (where it meets it). The
    roles then run as without it, find done what it did, and fail or go on as they would have."
  - A step that fails fails the task with its module's message, led by the step's name, with RV(step) and the RV(steps)
    run before it.
  - In check mode it does nothing (the roles plan instead, each step in its module's check mode).
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  role_inputs:
    description:
      - The four roles' inputs as C(site.yml) sets them before any role runs (name to value), as for
        M(ecsrds.connect.deployment_check)'s O(ecsrds.connect.deployment_check#module:role_inputs). Those C(site.yml)
        sets on a role itself, or from what an earlier role published, are set here as it sets them.
    type: dict
    required: true
  discovered:
    description: M(ecsrds.connect.deployment_check)'s RV(ecsrds.connect.deployment_check#module:discovered) for the same inputs.
    type: dict
    required: true
attributes:
  check_mode:
    support: none
    description: Skipped in check mode; C(site.yml) runs the roles then, each step planning in its module's check mode.
  diff_mode:
    support: full
    description: Each step's diff, as its module gives it, headed by the step's name.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Converge in one process what the deployment check found to do
  ecsrds.connect.deployment_converge:
    role_inputs: "{{ lookup('ecsrds.connect.role_inputs', 'network', 'database', 'service', 'rotation') }}"
    discovered: "{{ checked.discovered }}"
  register: converged
  when: not checked.plan.in_sync
"""

RETURN = r"""
converged:
  description: Every step ran; RV(facts) holds what the roles would have published.
  returned: success
  type: bool
handed_over:
  description: Why the roles must run (naming the step), when the pass stopped; null when it converged.
  returned: success
  type: str
  sample: "network: network_vpc_name is looked up by the network role itself"
steps:
  description: Each step run, in order, with C(step), C(changed), C(actions), C(result) (what its module returns) and C(seconds) (how long it took).
  returned: always
  type: list
  elements: dict
step:
  description: The step that failed.
  returned: failure
  type: str
  sample: rollouts
facts:
  description: When converged, the facts the roles would have published (C(network__*), C(database__*), C(service__results),
    C(service__own_secrets), C(rotation__redeploy)).
  returned: success
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError, fail_step
from ansible_collections.ecsrds.connect.plugins.module_utils.deployment import converge_deployment


def main() -> None:
    argument_spec = dict(
        role_inputs=dict(type="dict", required=True),
        discovered=dict(type="dict", required=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=False)
    params = module.params
    try:
        # What each step's module masks is masked here too: Ansible hides no_log values wherever they appear.
        result = converge_deployment(Clients.of(module), params["role_inputs"], params["discovered"], bool(module._diff),
                                     mask=module.no_log_values.update)
    except EcsRdsError as e:
        fail_step(module, e)
    diff = result.pop("diff")
    if module._diff and diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
