#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_execution_role_grant
short_description: Let ECS task execution roles read exactly one Secrets Manager secret
version_added: 0.2.0
description:
  - ECS fetches a task definition's C(secrets) with the task B(execution) role. This module puts one inline policy,
    O(policy_name), on each role in O(roles) allowing C(secretsmanager:GetSecretValue) on exactly O(secret_arn), plus
    C(kms:Decrypt) on the secret's key with the condition C(kms:ViaService=secretsmanager.<region>.amazonaws.com) when
    O(secret_kms_key_id) names a customer-managed key. Never a managed policy such as C(SecretsManagerReadWrite).
  - Several roles in one call; a role named twice (by name and by ARN) is handled once.
  - Each role's policy is read once (C(iam:GetRolePolicy)) and written only when it says something else than the
    wanted document; documents are compared as IAM reads them, so the order of statements and list items does not
    matter. Only when a role has no policy of that name is the role looked up (C(iam:GetRole)), so a role that does
    not exist is an error naming it, raised before any write.
  - With O(state=absent) the policy is deleted from each role that has it; a role that does not exist has nothing to
    delete and is not an error.
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  roles:
    description:
      - The task execution roles, as role names or role ARNs (the ARN's path is ignored, IAM names are unique per
        account).
      - An empty list changes nothing.
      - Not with O(grants).
    type: list
    elements: str
    default: []
  grants:
    description:
      - Each role its own policy, under O(policy_name), in place of O(roles) and O(secret_arn) - services signing in
        with logins of their own (M(ecsrds.connect.rds_db_logins)).
      - A role named by several entries gets one policy with all of them.
    type: list
    elements: dict
    suboptions:
      role:
        description: The role, by name or ARN.
        type: str
        required: true
      secret_arns:
        description: Secrets the role may C(secretsmanager:GetSecretValue) (an execution role).
        type: list
        elements: str
        default: []
      decrypt:
        description: Also C(kms:Decrypt) on O(secret_kms_key_id) through Secrets Manager, for secrets it encrypts.
        type: bool
        default: false
      db_users:
        description:
          - C(rds-db:connect) on these database logins (a task role, IAM database authentication), as
            C(arn:<partition>:rds-db:<region>:<account>:dbuser:<cluster resource id>/<login>).
        type: list
        elements: str
        default: []
  policy_name:
    description:
      - Name of the inline policy. Another deployment's policy, under another name, is left alone.
    type: str
    required: true
  secret_arn:
    description:
      - ARN of the secret the roles may read. Required with O(state=present), unless O(grants) is given.
    type: str
  secret_kms_key_id:
    description:
      - The KMS key that encrypts the secret, as key id, key ARN, C(alias/aws/secretsmanager) or its alias ARN.
      - Unset, empty or the AWS-managed C(alias/aws/secretsmanager) key adds no KMS statement (Secrets Manager uses that
        key on the caller's behalf). A key id becomes the key ARN in the secret's partition, region and account.
      - Any other alias is refused, since an IAM policy cannot grant C(kms:Decrypt) by alias.
    type: str
  state:
    description:
      - V(present) puts the policy on every role, V(absent) deletes it from every role.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: No write call is made; C(changed) and RV(grant.roles[].changed) predict a real run.
  diff_mode:
    support: full
    description: The policy document of each role before and after (null when the role has no such policy).
notes:
  - "IAM calls: C(iam:GetRolePolicy) once per role; C(iam:GetRole) only for a role without the policy;
    C(iam:PutRolePolicy) or C(iam:DeleteRolePolicy) only for a role whose policy changes."
  - IAM is eventually consistent; a policy just put may take a few seconds before ECS can use it.
"""

EXAMPLES = r"""
- name: Let both services' execution roles read the database secret
  ecsrds.connect.ecs_execution_role_grant:
    roles:
      - ecsTaskExecutionRole
      - arn:aws:iam::123456789012:role/service-role/worker-execution
    policy_name: ecsrds-connect-demo-rds-aurora-postgres
    secret_arn: "{{ database__secret_arn }}"
    secret_kms_key_id: "{{ database__secret_kms_key_id | default(omit, true) }}"
  register: grant

- name: Remove it again
  ecsrds.connect.ecs_execution_role_grant:
    roles: [ecsTaskExecutionRole, worker-execution]
    policy_name: ecsrds-connect-demo-rds-aurora-postgres
    state: absent
"""

RETURN = r"""
grant:
  description: The grant asked for and, per role, whether it changed.
  returned: always
  type: dict
  contains:
    policy_name:
      description: The inline policy's name.
      type: str
      sample: ecsrds-connect-demo-rds-aurora-postgres
    policy_documents:
      description: With O(grants), each role's own policy by role name.
      type: dict
      returned: when O(grants) is given and O(state=present)
    policy_document:
      description: The policy put on every role; null with O(state=absent) or O(grants).
      type: dict
      sample:
        Version: "2012-10-17"
        Statement:
          - Sid: ReadDatabaseSecret
            Effect: Allow
            Action: [secretsmanager:GetSecretValue]
            Resource: ["arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1234-AbCdEf"]
    roles:
      description: Each distinct role, in the order given.
      type: list
      elements: dict
      contains:
        role_name:
          description: The role's name.
          type: str
          sample: ecsTaskExecutionRole
        changed:
          description: Whether its policy was (in check mode, would be) put or deleted.
          type: bool
actions:
  description: The policies put or deleted on each role (in check mode, to be), in words.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.iam import GRANT_ARGUMENT_SPEC, grant_problems, run_grant


def main() -> None:
    module = AnsibleAWSModule(argument_spec=GRANT_ARGUMENT_SPEC, supports_check_mode=True)
    run_step(module, run_grant, "; ".join(grant_problems(module.params)))


if __name__ == "__main__":
    main()
