#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_taskdef_render
short_description: Merge environment variables and secret references into a task definition JSON file
version_added: 0.2.0
description:
  - Render, don't register. Sets one container's environment variables and Secrets Manager references in a task
    definition kept as a JSON file - the file an application's pipeline registers itself, for example with GitHub
    Actions' C(aws-actions/amazon-ecs-render-task-definition) and C(aws-actions/amazon-ecs-deploy-task-definition),
    ecs-deploy or ecspresso - and registers nothing.
  - The merge is the one M(ecsrds.connect.ecs_taskdef_secret_env) applies to a revision, so a file rendered here and a
    revision the collection registers hold the same variables. Every other field of the file is left as it was.
  - The file may hold the task definition itself (the RegisterTaskDefinition input) or the output of
    C(aws ecs describe-task-definition), with the task definition under C(taskDefinition).
  - The file is written only when its content would change; a re-run on a rendered file reports no change. Makes no
    AWS call, so it runs wherever the file is, without credentials.
options:
  path:
    description: The task definition JSON file to read.
    type: path
    required: true
  dest:
    description: Where to write the result. Defaults to O(path).
    type: path
  container_name:
    description: The container whose variables are set.
    type: str
    required: true
  environment:
    description: Plain environment variables to set, name to value.
    type: dict
  secrets:
    description: Secret references to set, name to C(valueFrom) (a Secrets Manager or SSM Parameter Store ARN or name).
    type: dict
  secret_arn:
    description:
      - A Secrets Manager secret whose JSON keys become secret references; used with O(secret_keys).
    type: str
  secret_keys:
    description: Variable name to JSON key of O(secret_arn), for example C(DATABASE_PASSWORD=password).
    type: dict
author:
  - ecsrds.connect maintainers (@ecsrds)
seealso:
  - module: ecsrds.connect.ecs_taskdef_secret_env
notes:
  - C(ansible-playbook ecsrds.connect.render) derives these options from the same inputs as C(site.yml) and the cluster
    it created, and calls this module (see the collection README, "Beside the application's pipeline").
attributes:
  check_mode:
    support: full
    description: Nothing is written; C(changed) says whether the file would change.
  diff_mode:
    support: full
    description: The container's environment (values of secret-looking names hidden) and secrets, before and after.
"""

EXAMPLES = r"""
- name: Give the pipeline's task definition the database settings before it registers it
  ecsrds.connect.ecs_taskdef_render:
    path: task-definition.json
    container_name: app
    environment:
      DATABASE_URL: jdbc:postgresql://demo.cluster-abc.us-east-1.rds.amazonaws.com:5432/postgres
      DATABASE_DRIVER_CLASS: org.postgresql.Driver
    secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-8f14e45f-AbCdEf
    secret_keys:
      DATABASE_USERNAME: username
      DATABASE_PASSWORD: password
"""

RETURN = r"""
path:
  description: The file read.
  returned: always
  type: str
dest:
  description: The file written (or that would be, in check mode, when C(changed)).
  returned: always
  type: str
container_name:
  description: The container whose variables were set.
  returned: always
  type: str
environment:
  description: The container's plain variables afterwards; values of names that look secret or are secrets show C(<redacted>).
  returned: always
  type: dict
secrets:
  description: The container's secret references afterwards (references only, never values).
  returned: always
  type: dict
actions:
  description: The file written (in check mode, to be).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import run_render


def main() -> None:
    argument_spec = dict(
        path=dict(type="path", required=True),
        dest=dict(type="path"),
        container_name=dict(type="str", required=True),
        environment=dict(type="dict"),
        # References (ARNs and parameter names), not secret values.
        secrets=dict(type="dict", no_log=False),
        secret_arn=dict(type="str", no_log=False),
        secret_keys=dict(type="dict", no_log=False),
    )
    # Not an AWS module: it reads and writes a local file only, so it takes no region or credentials.
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_step(module, run_render)


if __name__ == "__main__":
    main()
