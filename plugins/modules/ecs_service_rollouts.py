#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_service_rollouts
short_description: Move several ECS services onto their revisions, then follow the rollouts together
version_added: 0.2.0
description:
  - Each service in O(rollouts) that does not run its revision yet gets a new deployment first (one
    DescribeServices per cluster and 10 services, then UpdateService); only then are the deployments
    followed, all at once, so the run waits for the slowest rollout rather than for the sum of them.
  - Each deployment is judged exactly as M(ecsrds.connect.ecs_service_deploy) judges its own - done
    when PRIMARY with rolloutState C(COMPLETED); failed when C(FAILED), rolled back, or when a stopped
    task of it proves it cannot succeed (see O(recent_change_grace)) - with one DescribeServices per
    cluster and 10 services still rolling out per poll, and a poll every 10 seconds.
  - One rollout failing does not stop the others being followed. When any did not complete the module
    fails once all have ended, and its message and RV(rollouts) name every service's outcome.
  - A service already on its revision is not deployed again; when its last rollout has not settled
    it is followed, so an interrupted run finishes on the next one.
options:
  rollouts:
    description: The services to move, each onto its revision.
    type: list
    elements: dict
    required: true
    suboptions:
      cluster:
        description: Name or ARN of the service's ECS cluster.
        type: str
        required: true
      service:
        description: Name or ARN of the service.
        type: str
        required: true
      task_definition:
        description: The revision (ARN, or family:revision) the service is to run.
        type: str
        required: true
      force_new_deployment:
        description: Start a new deployment even when the service already runs the revision.
        type: bool
        default: false
  wait:
    description: Follow the deployments until each has completed or failed.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to follow them, for all together.
    type: int
    default: 900
  recent_change_grace:
    description:
      - Seconds, counted from the start of the module, during which a known stop reason fails a rollout
        only when it repeats (the grant or the Secrets Manager endpoint changed moments ago); as in
        M(ecsrds.connect.ecs_service_deploy).
    type: int
    default: 0
author:
  - ecsrds.connect maintainers (@ecsrds)
attributes:
  check_mode:
    support: full
    description: No write call; C(changed) and each rollout's C(deployed) predict what a real run would do.
  diff_mode:
    support: full
    description: The revision of each service before and after.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Move two services onto their new revisions and follow both rollouts together
  ecsrds.connect.ecs_service_rollouts:
    rollouts:
      - cluster: shop
        service: shop-api
        task_definition: arn:aws:ecs:eu-central-1:123456789012:task-definition/shop-api:8
      - cluster: shop
        service: shop-worker
        task_definition: arn:aws:ecs:eu-central-1:123456789012:task-definition/shop-worker:3
    wait_timeout: 900
"""

RETURN = r"""
rollouts:
  description:
    - One entry per rollout, in the order given; also returned when the module fails.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: The service as given.
      type: str
    cluster:
      description: The cluster as given.
      type: str
    deployed:
      description: Whether a new deployment was started (or would be, in check mode).
      type: bool
    deployment_id:
      description: The deployment followed; null in check mode when one would be started.
      type: str
    rollout_state:
      description: C(COMPLETED), C(IN_PROGRESS) or C(FAILED) at the end; null when there is no deployment to follow.
      type: str
    previous_task_definition_arn:
      description: The revision the service ran before.
      type: str
    task_definition_arn:
      description: The revision it was moved onto.
      type: str
    error:
      description: How a rollout that did not complete ended (failed, rolled back, a stopped task's known reason, timed out); null otherwise.
      type: str
  sample:
    - service: shop-api
      cluster: shop
      deployed: true
      deployment_id: ecs-svc/1234567890123456789
      rollout_state: COMPLETED
      previous_task_definition_arn: arn:aws:ecs:eu-central-1:123456789012:task-definition/shop-api:7
      task_definition_arn: arn:aws:ecs:eu-central-1:123456789012:task-definition/shop-api:8
      error: null
actions:
  description: The deployments started (in check mode, to be), in words.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import ROLLOUTS_ARGUMENT_SPEC, deploy_problem, run_service_rollouts


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ROLLOUTS_ARGUMENT_SPEC, supports_check_mode=True)
    run_step(module, run_service_rollouts, deploy_problem(module.params))


if __name__ == "__main__":
    main()
