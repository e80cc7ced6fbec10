#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_task_dependencies_ready
short_description: Wait until what an ECS task needs when it starts is available - a VPC endpoint, an Aurora cluster and its writer
version_added: 0.2.0
description:
  - An ECS task fetches its secrets through the Secrets Manager interface endpoint and connects to the
    database as it starts. C(site.yml) creates the endpoint and the Aurora cluster with its writer without
    waiting for them, registers the revisions and grants the secret meanwhile, and waits with this module
    once, just before the preflight and the rollouts, so that the waits overlap instead of adding up.
  - Each poll (every 5 seconds) describes only what is still pending - DescribeVpcEndpoints for an endpoint,
    DescribeDBClusters and DescribeDBInstances for the cluster - until every endpoint is C(available) and the
    cluster, its managed secret and its writer are. Nothing is described when nothing is given.
  - Read-only. In check mode it looks once and returns what is still pending, without waiting.
options:
  vpc_endpoint_ids:
    description: VPC endpoints that must be C(available); one that is deleted, rejected or failed fails the module.
    type: list
    elements: str
    default: []
  db_cluster_identifier:
    description: Aurora cluster whose status, managed master secret and writer instance must be C(available).
    type: str
  wait_timeout:
    description: Seconds to wait for all of them together; the module fails naming what is still pending when the time is up.
    type: int
    default: 1800
author:
  - ecsrds.connect maintainers (@ecsrds)
attributes:
  check_mode:
    support: full
    description: One look, no wait; RV(pending) says what a real run would wait for.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to show.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Wait for the Secrets Manager endpoint and the database before any task starts
  ecsrds.connect.ecs_task_dependencies_ready:
    vpc_endpoint_ids: [vpce-0123456789abcdef0]
    db_cluster_identifier: shop-db
    wait_timeout: 1800
"""

RETURN = r"""
ready:
  description: What was found available, in the order it was, with the seconds from the start of the wait.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The resource, in words.
      type: str
    seconds:
      description: Seconds from the start of the wait until it was seen available.
      type: float
  sample:
    - name: VPC endpoint vpce-0123456789abcdef0
      seconds: 0.0
    - name: DB cluster shop-db
      seconds: 412.3
pending:
  description: What is still pending (check mode only; a real run waits until this is empty or fails).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The resource, in words.
      type: str
    state:
      description: What is still pending about it.
      type: str
  sample: []
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.readiness import DEPENDENCIES_ARGUMENT_SPEC, dependencies_problem, run_dependencies_ready


def main() -> None:
    module = AnsibleAWSModule(argument_spec=DEPENDENCIES_ARGUMENT_SPEC, supports_check_mode=True)
    run_step(module, run_dependencies_ready, dependencies_problem(module.params))


if __name__ == "__main__":
    main()
