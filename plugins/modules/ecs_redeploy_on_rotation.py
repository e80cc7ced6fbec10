#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_redeploy_on_rotation
short_description: Redeploy ECS services when the RDS-managed database secret rotates
version_added: 0.2.0
description:
  - ECS injects C(secrets) only when a task starts, so after RDS rotates the managed master secret (every 7 days
    by default) running tasks keep the old password and every new connection they open fails until they are
    replaced. This module makes AWS replace them on its own.
  - Ensures an EventBridge rule on the default bus matching the successful rotation of exactly O(secret_arn)
    (source C(aws.secretsmanager), detail-type C(AWS Service Event via CloudTrail), C(eventName) C(RotationSucceeded),
    C(detail.additionalEventData.SecretId) the secret's ARN or name), as documented in the AWS Secrets Manager User
    Guide (CloudTrail entries for Secrets Manager, log entries for rotation; Match Secrets Manager events with
    EventBridge).
  - The rule's one target is a Step Functions state machine that forces a new deployment of every service in
    O(services) through the AWS SDK integration C(arn:aws:states:::aws-sdk:ecs:updateService); no Lambda function.
  - Two IAM roles with one inline policy each are least privilege, C(states:StartExecution) on that state machine
    only for EventBridge, C(ecs:UpdateService) on exactly the services' ARNs only for the state machine.
  - Everything is named after O(db_cluster_identifier), so another database gets its own rule and state machine,
    and O(services) is the whole list of services sharing the database; a service left out of it is no longer
    redeployed (and no longer allowed).
  - Resources it creates carry the tag C(ecsrds.connect/managed); it refuses to change or delete a resource of
    the same name without it.
  - A run that finds everything in place makes five read calls and no other, with or without O(rotation_days),
    C(DescribeRule), C(ListTargetsByRule), C(DescribeStateMachine) and C(GetRolePolicy) for each role. That confirms
    the rule's pattern and state, its one target with its role and no added input, the state machine's definition
    and role, and both inline policies exactly. All ARNs are derived from names and O(secret_arn)'s partition,
    region and account, and the services' ARNs are confirmed from the state machine role's policy.
  - When any of that differs (or the tags or O(rotation_days) asked for differ from what the rule's description
    records as last applied), the run also reads the services (C(DescribeServices), which must be C(ACTIVE)), both
    roles (trust policy and tags, C(GetRole)), the tags of the rule and of the state machine, and the secret's
    schedule (C(DescribeSecret)), all before its first write, and puts back everything that differs.
  - Trade-off of that budget, a role's trust policy, tags and the rotation schedule changed outside Ansible, or a
    service deleted, are not noticed by a run that finds nothing else to do; they are checked and put back by the
    next run that creates or repairs anything, or by changing O(tags) or O(rotation_days). O(state=absent) reads
    every resource's tags before deleting it.
  - With O(rotation_days), also sets the rotation schedule of the managed secret. Secrets Manager allows that for
    a secret RDS manages (managed rotation), through C(RotateSecret) with C(RotationRules) and without a Lambda ARN, as
    the RotateSecret API reference says for managed rotation. RDS's own C(ModifyDBCluster) has no schedule
    parameter. The module sends C(RotateImmediately=false) so that changing the schedule does not itself rotate
    the password.
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  state:
    description:
      - V(present) ensures the rule, its target, the state machine and the two roles.
      - V(absent) removes the target, the rule, the state machine and the two roles (found by name, only when they
        carry the C(ecsrds.connect/managed) tag).
    type: str
    choices: [present, absent]
    default: present
  db_cluster_identifier:
    description: The Aurora cluster; everything is named C(ecsrds-<db_cluster_identifier>-...).
    type: str
    required: true
  secret_arn:
    description:
      - ARN of the RDS-managed master user secret whose rotation triggers the redeploy.
      - Required with O(state=present), except in check mode before the database exists (the run then only says
        that the redeploy would be created).
    type: str
  cluster:
    description: Name or ARN of the ECS cluster that runs O(services). Required with O(state=present).
    type: str
  services:
    description:
      - Names of every ECS service that uses the database. Required with O(state=present).
      - The state machine updates exactly these; they must exist and be C(ACTIVE) when the redeploy is created or
        changed.
    type: list
    elements: str
  service_secrets:
    description:
      - Services of O(services) that sign in with a login of their own (M(ecsrds.connect.rds_db_logins)), each with
        its login's secret ARN, or an empty string for a login with IAM database authentication.
      - The rule then also matches the rotation of those secrets, and the state machine chooses by the rotated secret
        (C(detail.additionalEventData.SecretId)) - its own secret redeploys a service, the master's the services not
        named here; a service with an empty string is never redeployed (an IAM token does not go stale with a secret).
      - Empty (the default) - every service uses the master secret, and the definition has no choice.
    type: dict
    default: {}
  rotation_days:
    description:
      - Rotate the managed secret every this many days (1 to 1000). Unset leaves the schedule AWS set (7 days
        for an RDS-managed secret) alone.
      - Applied with either O(state) (when O(secret_arn) is known); the schedule belongs to the secret, not to the
        redeploy, so turning the redeploy off does not change it.
      - The rule's description records the schedule once it is set, so a run that finds nothing else to do does not
        call C(DescribeSecret); with O(state=absent) the secret is read whenever O(rotation_days) is given.
    type: int
  tags:
    description:
      - Tags for what the module creates (C(ecsrds.connect/managed) is always added). Tags are only added, never removed.
      - Applied on creation and on every run that repairs something or where they differ from the tags last applied
        (the rule's description records a fingerprint of them); a tag removed outside Ansible is put back by such a run.
    type: dict
    aliases: [resource_tags]
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: No write call is made; C(changed) and RV(actions) predict a real run.
  diff_mode:
    support: full
    description:
      - Before and after of the roles' policies, the state machine, the rule (with its description) and its targets, and
        the rotation schedule; the roles' trust policies too when the run reads them (see the description).
notes:
  - Cost, when nothing rotates, one rule, one state machine and two roles, all free; each rotation starts one
    standard workflow execution of a few state transitions and one C(UpdateService) per service.
  - CloudTrail delivers service events to EventBridge on a best-effort basis; a rotation whose event is lost is
    not followed by a redeploy.
  - Step Functions may refuse a role IAM has not spread yet; creating or updating the state machine is tried again
    for up to a minute.
  - Why not the stock modules, M(amazon.aws.cloudwatchevent_rule) has no check mode and M(community.aws.stepfunctions_state_machine)
    neither waits for a new role nor gives a diff; M(amazon.aws.iam_role) returns no ARN in check mode. Here the names,
    ARNs, pattern, definition and both policies are derived once, in one place, and unit-tested.
"""

EXAMPLES = r"""
- name: Redeploy both services whenever RDS rotates the master secret
  ecsrds.connect.ecs_redeploy_on_rotation:
    db_cluster_identifier: demo-rds-aurora-postgres
    secret_arn: "{{ database__secret_arn }}"
    cluster: demo-ecs-cluster
    services: [demo-ecs-service, demo-worker]
    rotation_days: 30

- name: Remove it again
  ecsrds.connect.ecs_redeploy_on_rotation:
    state: absent
    db_cluster_identifier: demo-rds-aurora-postgres
"""

RETURN = r"""
rotation:
  description: What the redeploy consists of; null with O(state=absent) or before the secret exists.
  returned: always
  type: dict
  contains:
    rule_name:
      description: EventBridge rule on the default bus.
      type: str
      sample: ecsrds-demo-rds-aurora-postgres-rotation
    rule_arn:
      description: Its ARN.
      type: str
    state_machine_name:
      description: Step Functions state machine.
      type: str
      sample: ecsrds-demo-rds-aurora-postgres-redeploy
    state_machine_arn:
      description: Its ARN.
      type: str
    events_role_arn:
      description: Role EventBridge uses to start the state machine.
      type: str
    state_machine_role_arn:
      description: Role the state machine uses to update the services.
      type: str
    service_arns:
      description: The services it redeploys, in the order given.
      type: list
      elements: str
    event_pattern:
      description: The rule's event pattern.
      type: dict
    definition:
      description: The state machine's definition (Amazon States Language).
      type: dict
    rotation_days:
      description: The rotation schedule asked for, or null when left to AWS.
      type: int
    services_dropped:
      description:
        - Services the existing state machine redeployed that O(services) no longer names, found before it is updated.
          Their running revisions keep the wiring this deployment gave them (another deployment sharing the database
          may have taken them over); C(site.yml) names them in its summary.
      type: list
      elements: str
    services_before:
      description:
        - The services the existing state machine redeployed before this run, empty when there was none; they are those
          this deployment had wired. C(site.yml)'s summary names one of them whose wiring an application's pipeline lost.
      type: list
      elements: str
actions:
  description: What was (or in check mode would be) changed, in words.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.rotation import ROTATION_ARGUMENT_SPEC, run_rotation, validate_params


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ROTATION_ARGUMENT_SPEC, supports_check_mode=True)
    problem = validate_params(module.params)
    if not problem and module.params["state"] == "present" and not module.params["secret_arn"] and not module.check_mode:
        problem = "secret_arn is required with state=present (only check mode before the database exists may leave it unset)"
    run_step(module, run_rotation, problem)


if __name__ == "__main__":
    main()
