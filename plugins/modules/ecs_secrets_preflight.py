#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_secrets_preflight
short_description: Predict, before a deployment, whether an ECS service's tasks can fetch their secrets and reach the database
version_added: 0.2.0
description:
  - Read-only checks of what an ECS service's tasks need to start with secrets from AWS Secrets Manager (or SSM
    Parameter Store) and to connect to the database, made before a deployment instead of after a stopped task.
  - Never reads a secret or parameter value (C(DescribeSecret) and C(DescribeParameters) only) and makes no write
    call, in check mode or not.
  - Each check gives findings C({check, status, resource, message, fix}) with status V(ok), V(warn) or V(fail).
    The check names are stable.
  - C(secret_reference) - each C(secrets[].valueFrom) of the container(s) is well formed (a full Secrets Manager ARN
    with optional C(:json-key:version-stage:version-id), or an SSM parameter) and names something that exists; for a
    secret RDS owns, a JSON key other than C(username)/C(password) fails, naming the key.
  - C(execution_role_access) - the task execution role may C(secretsmanager:GetSecretValue) each secret
    (C(ssm:GetParameters) each parameter), plus C(kms:Decrypt) with the C(kms:ViaService) context when a
    customer-managed key encrypts the secret. Decided by C(iam:SimulatePrincipalPolicy) when IAM answers it,
    otherwise by evaluating the role's inline, attached and boundary policies (explicit Deny, Allow, wildcards,
    C(NotAction), C(NotResource)); a condition that cannot be evaluated gives V(warn). The message says which
    method was used. A grant broader than needed (C(SecretsManagerReadWrite), C(secretsmanager:*), C(Resource "*"))
    is a V(warn) naming it.
  - C(network_path) - from each subnet of the service, Secrets Manager is reachable through a C(0.0.0.0/0) route to a
    NAT gateway (or an internet gateway with a public IP), or an interface endpoint
    C(com.amazonaws.<region>.secretsmanager) with private DNS, a subnet in the subnet's zone and security groups
    admitting 443 from the service.
  - C(vpc_dns) - the VPC has DNS support and DNS hostnames on when a private-DNS endpoint is the path.
  - C(platform_version) - Fargate platform 1.4.0 or later (or C(LATEST)).
  - C(db_ingress) - only with O(db_security_group_ids) - the groups admit O(db_port) from the service's security
    groups, or from CIDR ranges covering its subnets.
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  cluster:
    description: Name or ARN of the ECS cluster.
    type: str
    required: true
  service:
    description: Name or ARN of the ECS service. One of O(service) and O(services) is required.
    type: str
  services:
    description:
      - Several services of O(cluster), checked in one run, each with the revision and container to check (as
        O(task_definition) and O(container_name) for one service). What they share - the secret, the execution role,
        the subnets and their endpoint, the database groups - is read once.
      - The module fails after every service was checked, naming each service's findings that reach O(fail_on).
    type: list
    elements: dict
    suboptions:
      service:
        description: Name or ARN of the ECS service.
        type: str
        required: true
      task_definition:
        description: Revision to check; default is the revision the service runs.
        type: str
      container_name:
        description: Container whose secrets are checked; default is every container of the revision.
        type: str
      db_users:
        description:
          - The database logins the service signs in as with IAM database authentication, as
            C(arn:<partition>:rds-db:<region>:<account>:dbuser:<cluster resource id>/<login>); the revision's task role
            must be allowed C(rds-db:connect) on each (check C(task_role_db_connect)).
        type: list
        elements: str
        default: []
  task_definition:
    description:
      - Revision to check (family, family:revision or ARN). Default is the revision the service runs.
      - The service's network configuration and platform are checked with it.
    type: str
  container_name:
    description: Container whose secrets are checked. Default is every container of the revision.
    type: str
  db_security_group_ids:
    description: Security groups of the database; the C(db_ingress) check runs only when they are given.
    type: list
    elements: str
    default: []
  db_port:
    description: Database port the C(db_ingress) check looks for; Aurora listens on a port from 1150 to 65535.
    type: int
    default: 5432
  fail_on:
    description:
      - V(fail) fails the task when a finding has status V(fail), V(warn) also on V(warn), V(never) only reports.
      - The task fails after computing every finding; its message names every finding that made it fail, and the
        findings are returned as well.
    type: str
    choices: [fail, warn, never]
    default: fail
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ecsrds.connect.read_only
notes:
  - The caller needs read permissions - C(ecs:DescribeServices), C(ecs:DescribeTaskDefinition), C(ec2:Describe*) for subnets,
    route tables, VPC endpoints, security groups and VPC attributes, C(secretsmanager:DescribeSecret),
    C(ssm:DescribeParameters), C(kms:DescribeKey), C(iam:GetRole), C(iam:ListRolePolicies), C(iam:GetRolePolicy),
    C(iam:ListAttachedRolePolicies), C(iam:GetPolicy), C(iam:GetPolicyVersion) and, optionally,
    C(iam:SimulatePrincipalPolicy).
  - C(iam:SimulatePrincipalPolicy) ignores resource policies for roles and needs a context entry for every condition
    key; C(kms:ViaService) and the secret's C(aws:ResourceTag/*) keys are passed. A secret's resource policy is not
    evaluated by either method.
  - Secrets in another region than the module's are reported as V(warn) and not checked.
  - moto does not implement C(iam:SimulatePrincipalPolicy) and accepts endpoint set-ups AWS refuses; the checks' logic
    is unit-tested on AWS-shaped answers.
"""

EXAMPLES = r"""
- name: Check the demo service before rolling out a revision with the database secret
  ecsrds.connect.ecs_secrets_preflight:
    cluster: demo-ecs-cluster
    service: demo-ecs-service
    task_definition: demo-ecs-task:7
    container_name: app
    db_security_group_ids: [sg-0db]
    db_port: 5432

- name: Check two services in one run, each on the revision about to be rolled out
  ecsrds.connect.ecs_secrets_preflight:
    cluster: demo-ecs-cluster
    services:
      - service: demo-ecs-service
        task_definition: demo-ecs-task:7
        container_name: app
      - service: demo-worker
        task_definition: demo-worker-task:3
    db_security_group_ids: [sg-0db]

- name: Only report; look at the findings afterwards
  ecsrds.connect.ecs_secrets_preflight:
    cluster: demo-ecs-cluster
    service: demo-ecs-service
    fail_on: never
  register: preflight

- name: Show what would stop a task
  ansible.builtin.debug:
    msg: "{{ preflight.findings | rejectattr('status', 'equalto', 'ok') | list }}"
"""

RETURN = r"""
services:
  description:
    - With O(services), one entry per service in the order given, each with the keys returned for one service
      (RV(findings), RV(summary), RV(task_definition_arn), RV(execution_role_arn), RV(access_method)) and its C(service).
  returned: when O(services) is given
  type: list
  elements: dict
findings:
  description:
    - Every finding, in the order secret_reference, execution_role_access, network_path, vpc_dns, platform_version, db_ingress.
    - With O(services), every service's findings in turn, each with the C(service) it is about.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: The check's stable name.
      type: str
      sample: network_path
    status:
      description: V(ok), V(warn) or V(fail).
      type: str
      sample: fail
    resource:
      description: The AWS resource the finding is about (secret ARN, role ARN, subnet, VPC, service or security groups).
      type: str
      sample: subnet-0aaa
    message:
      description: What was found.
      type: str
    fix:
      description: What to change; null when the status is V(ok).
      type: str
summary:
  description: How many findings have each status.
  returned: always
  type: dict
  contains:
    ok:
      description: Findings with status ok.
      type: int
    warn:
      description: Findings with status warn.
      type: int
    fail:
      description: Findings with status fail.
      type: int
  sample: {"ok": 5, "warn": 0, "fail": 3}
task_definition_arn:
  description: The revision that was checked.
  returned: when O(service) is given
  type: str
execution_role_arn:
  description: Its execution role, or null.
  returned: when O(service) is given
  type: str
access_method:
  description:
    - How execution_role_access was decided - C(iam:SimulatePrincipalPolicy), or C(own evaluation of the role's policies) followed by
      why the simulation was not used. Null when no permission was needed.
  returned: when O(service) is given
  type: str
actions:
  description: Always empty; the checks only read.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.preflight import PREFLIGHT_ARGUMENT_SPEC, preflight_problem, run_secrets_preflight


def main() -> None:
    module = AnsibleAWSModule(argument_spec=PREFLIGHT_ARGUMENT_SPEC, supports_check_mode=True, required_one_of=[("service", "services")],
                              mutually_exclusive=[("service", "services"), ("services", "task_definition"), ("services", "container_name")])
    run_step(module, run_secrets_preflight, preflight_problem(module.params))


if __name__ == "__main__":
    main()
