#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_taskdef_secret_env
short_description: Set environment variables and secret references on one container of an ECS task definition
version_added: 0.1.0
description:
  - Takes a base revision of an ECS task definition (by default the latest C(ACTIVE) revision of
    O(family)), changes the plain environment variables and the Secrets Manager or SSM Parameter
    Store secret references of one container, and registers a new revision only when that changes
    something.
  - Everything else of the base revision is kept as it is, including the other containers, every
    other field of the container, CPU and memory, network mode, roles, volumes, runtime platform,
    ephemeral storage and the task definition's tags. Which fields are copied is read from the AWS
    SDK's model of C(RegisterTaskDefinition), so fields AWS adds later are kept too.
  - Secrets are handled as references (C(valueFrom)) only. The module never reads a secret value.
  - A name given in O(environment) is removed from the container's secrets, and a name given in
    O(secrets) or O(secret_keys) is removed from its plain environment, so a variable can be moved
    from plain text to a secret in one step.
  - Diff and results never show the value of a plain variable whose name looks secret (C(PASSWORD),
    C(SECRET), C(TOKEN) or C(KEY), in any case) or that is, or is being moved to, a secret; C(<redacted>)
    stands in its place, so the old plaintext of a variable moved to a secret does not reach CI logs.
  - Because C(RegisterTaskDefinition) has no client token, a write whose response was lost is not
    simply sent again; the family's latest revision is adopted when it is what was being registered.
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  family:
    description:
      - Task definition family. Its latest C(ACTIVE) revision is the base, unless O(task_definition) is given.
      - Required unless O(task_definition) is given. When both are given, they must agree.
    type: str
  task_definition:
    description:
      - The revision to start from instead of the family's latest one, as an ARN or as C(family:revision),
        for example the revision a service currently runs.
      - The new revision is registered in the same family. When the family's latest revision already is
        exactly what would be registered (a re-run from the same old base), that revision is returned
        and nothing is registered.
    type: str
  container_name:
    description:
      - Name of the container whose environment and secrets are set.
      - Required unless O(task_definitions) is given.
    type: str
  task_definitions:
    description:
      - Several base revisions in one call, each with the container to change; the same O(environment),
        O(secrets), O(secret_keys), O(tags) and O(origin_tag) apply to each. This is how several ECS services
        sharing one database get their revisions in one task instead of one task per service.
      - Each entry is handled as O(task_definition) with O(container_name) would be; an entry repeated (two
        services running the same revision and container, asking the same) is handled once.
      - An entry giving its own C(environment) takes its own C(environment), C(secret_arn), C(secret_keys) and
        C(remove) instead of the module's (a service signing in with a login of its own).
      - Mutually exclusive with O(family), O(task_definition) and O(container_name).
    type: list
    elements: dict
    suboptions:
      task_definition:
        description: The revision to start from, as an ARN or as C(family:revision).
        type: str
        required: true
      container_name:
        description: Name of the container whose environment and secrets are set.
        type: str
        required: true
      name:
        description: A label for the entry (for example the ECS service), returned as it was given.
        type: str
      environment:
        description: This entry's plain variables, in place of O(environment); when given, the entry's request is its own.
        type: dict
      secret_arn:
        description: This entry's secret, in place of O(secret_arn) (unset - no secret for this entry).
        type: str
      secret_keys:
        description: This entry's variables from JSON keys of its C(secret_arn), in place of O(secret_keys).
        type: dict
      remove:
        description:
          - Variables taken out of this entry's container, from its environment and its secrets (a password a
            login with IAM database authentication no longer has).
        type: list
        elements: str
  environment:
    description:
      - Plain environment variables, name to value.
      - Numbers and booleans are turned into strings (booleans as V(true) and V(false)); lists,
        dictionaries and null values are refused.
      - Variables of the container not named here are kept, unless O(purge_environment=true).
      - When not given, the container's plain environment is left alone.
      - The values of names that look secret (containing C(PASSWORD), C(SECRET), C(TOKEN) or C(KEY), in any case) are
        masked in the module's logged arguments; pass real secrets with O(secrets) or O(secret_keys) instead.
    type: dict
  secrets:
    description:
      - Secret references, name to the full C(valueFrom) ECS resolves when the task starts.
      - A C(valueFrom) is a Secrets Manager ARN, optionally followed by C(:json-key:version-stage:version-id)
        (any of the three may be empty), an SSM parameter ARN, or the name of an SSM parameter in the task's Region.
      - Secrets of the container not named here (or in O(secret_keys)) are kept, unless O(purge_secrets=true).
    type: dict
  secret_arn:
    description:
      - ARN of a Secrets Manager secret holding a JSON document, such as the master user secret
        RDS manages for a cluster. Used with O(secret_keys).
    type: str
  secret_keys:
    description:
      - Variables taken from the JSON keys of O(secret_arn), name to JSON key. Each becomes the
        reference C(<secret_arn>:<json key>::), that is the key of the secret's current version.
      - A name may not appear in both O(secrets) and O(secret_keys).
    type: dict
  purge_environment:
    description:
      - Remove the container's plain environment variables that O(environment) does not name.
      - Has no effect when O(environment) is not given; use O(environment={}) to remove them all.
    type: bool
    default: false
  purge_secrets:
    description:
      - Remove the container's secrets that neither O(secrets) nor O(secret_keys) name.
      - Has no effect when neither is given; use O(secrets={}) to remove them all.
    type: bool
    default: false
  tags:
    description:
      - Tags merged over the base revision's tags on the new revision, for example to mark the revisions
        this module registers. Tags never decide whether a revision is registered. A base revision whose
        variables already are the requested ones is used as it is, whatever its tags and whoever registered
        it (say, an application's deploy pipeline that copied them along with a new image).
      - Tags of the base revision are always carried over; keys with the reserved C(aws:) prefix are not.
    type: dict
  origin_tag:
    description:
      - A tag key under which the new revision records the ARN of the revision it was based on.
      - When the base revision already carries this tag, its value is kept, so a line of revisions
        built on each other keeps pointing at the first one, for example to roll back to it later.
      - An explicit value for the same key in O(tags) wins.
    type: str
  state:
    description:
      - Only V(present) is supported; revisions are never deregistered.
    type: str
    choices: [present]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: No write call is made; C(changed) and RV(task_definition) show what a real run would register.
  diff_mode:
    support: full
    description:
      - Shows the container's environment and secrets (references only) and the tags, before and after.
      - With O(task_definitions), one such diff per entry that changes.
notes:
  - Registering a new revision does not deploy it; update the ECS service to use RV(task_definition_arn).
  - The task's execution role needs permission to read the referenced secrets or parameters; this
    module does not check that.
"""

EXAMPLES = r"""
- name: Give the app container the database connection, password from the RDS-managed secret
  ecsrds.connect.ecs_taskdef_secret_env:
    family: web
    container_name: app
    environment:
      DB_HOST: "{{ cluster_endpoint }}"
      DB_PORT: 5432
      DB_NAME: app
    secret_arn: "{{ master_user_secret_arn }}"
    secret_keys:
      DB_USER: username
      DB_PASSWORD: password
    tags:
      managed-by: ecsrds.connect
  register: web_taskdef

- name: Start from the revision the service runs rather than the family's latest
  ecsrds.connect.ecs_taskdef_secret_env:
    task_definition: "{{ service_task_definition_arn }}"
    container_name: app
    secrets:
      API_TOKEN: arn:aws:secretsmanager:us-east-1:123456789012:secret:api-token-AbCdEf
      FEATURE_FLAGS: /web/feature-flags
      SIGNING_KEY: arn:aws:ssm:us-east-1:123456789012:parameter/web/signing-key
    # Remember the revision the service ran before the first change, to roll back to it later.
    origin_tag: rollback-to

- name: Make the plain environment exactly this, dropping every other plain variable
  ecsrds.connect.ecs_taskdef_secret_env:
    family: web
    container_name: app
    environment:
      LOG_LEVEL: info
    purge_environment: true
"""

RETURN = r"""
task_definition:
  description:
    - The resulting task definition with snake_case field names and tags as a dictionary; the base
      revision when nothing had to change.
    - In check mode, when a revision would be registered, the would-be task definition with
      RV(task_definition.task_definition_arn) and RV(task_definition.revision) null.
  returned: success
  type: dict
  contains:
    task_definition_arn:
      description: ARN of the revision.
      type: str
      sample: arn:aws:ecs:us-east-1:123456789012:task-definition/web:4
    family:
      description: Family.
      type: str
      sample: web
    revision:
      description: Revision number.
      type: int
      sample: 4
    container_definitions:
      description: The containers, with snake_case field names (keys of docker labels and log options unchanged).
      type: list
      elements: dict
    tags:
      description: Tags of the revision.
      type: dict
      sample: {"managed-by": "ecsrds.connect"}
task_definition_arn:
  description: ARN of the resulting revision; null in check mode when a revision would be registered.
  returned: success
  type: str
  sample: arn:aws:ecs:us-east-1:123456789012:task-definition/web:4
revision:
  description: Revision number of the resulting revision; null in check mode when a revision would be registered.
  returned: success
  type: int
  sample: 4
family:
  description: Family of the task definition.
  returned: success
  type: str
  sample: web
previous_task_definition_arn:
  description: ARN of the base revision the changes were applied to.
  returned: success
  type: str
  sample: arn:aws:ecs:us-east-1:123456789012:task-definition/web:3
wiring_missing:
  description:
    - Whether the base revision's container held none of the variables asked for (never wired, or registered
      without them since, say by an application's pipeline from a file of its own).
  returned: success
  type: bool
environment:
  description:
    - The container's resulting plain environment variables, name to value.
    - The value of a variable whose name looks secret (C(PASSWORD), C(SECRET), C(TOKEN), C(KEY)) or that is (or is
      being moved to) a secret is shown as C(<redacted>), here, in RV(task_definition) and in the diff.
  returned: success
  type: dict
  sample: {"DB_HOST": "db.cluster-abc.us-east-1.rds.amazonaws.com", "DB_PORT": "5432"}
secrets:
  description: The container's resulting secrets, name to C(valueFrom) reference (never the secret's value).
  returned: success
  type: dict
  sample: {"DB_PASSWORD": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1a2b-AbCdEf:password::"}
task_definitions:
  description:
    - With O(task_definitions), one result per entry in the order given, each with the keys above
      (RV(task_definition), RV(task_definition_arn), RV(revision), RV(family), RV(previous_task_definition_arn),
      RV(wiring_missing), RV(environment), RV(secrets)) plus C(changed), C(name) and C(container_name) as given.
    - The single-revision keys above are not returned then.
  returned: when O(task_definitions) is given
  type: list
  elements: dict
actions:
  description: The revisions registered (in check mode, to be), each with the revision it builds on.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs import TASKDEF_ARGUMENT_SPEC, run_taskdef_env, secret_looking_values


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=TASKDEF_ARGUMENT_SPEC,
        required_one_of=[("family", "task_definition", "task_definitions")],
        required_by={"family": "container_name", "task_definition": "container_name"},
        mutually_exclusive=[("task_definitions", "family"), ("task_definitions", "task_definition"), ("task_definitions", "container_name")],
        supports_check_mode=True,
    )
    # Ansible masks no_log values wherever they appear, the logged invocation included (-vvv).
    module.no_log_values.update(secret_looking_values(module.params))
    run_step(module, run_taskdef_env)


if __name__ == "__main__":
    main()
