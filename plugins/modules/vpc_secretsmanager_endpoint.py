#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vpc_secretsmanager_endpoint
short_description: Secrets Manager interface VPC endpoint that an ECS service in private subnets can reach
version_added: 0.1.0
description:
  - Makes sure tasks in O(subnet_ids) can reach AWS Secrets Manager without a NAT gateway, which is what
    ECS needs to inject a secret (otherwise the task stops with C(ResourceInitializationError ... There is
    a connection issue between the task and AWS Secrets Manager)).
  - Reuses a C(com.amazonaws.<region>.secretsmanager) interface endpoint that already exists in the VPC; it
    turns its private DNS on, adds a subnet in each Availability Zone of O(subnet_ids) it does not cover,
    and allows 443 on its first security group from the sources that are not allowed yet.
  - Otherwise creates the endpoint with private DNS in one subnet per Availability Zone of O(subnet_ids),
    with the security group O(security_group_name) (created when missing) allowing 443 from
    O(source_security_group_ids) and O(source_cidrs).
  - Private DNS needs the VPC attributes C(enableDnsSupport) and C(enableDnsHostnames); they are turned
    on when O(manage_vpc_dns=true), otherwise the module fails saying so. They are read only when the endpoint
    is created or its private DNS must be turned on, since an endpoint with private DNS on needed them on (AWS refuses
    private DNS otherwise), and M(ecsrds.connect.ecs_secrets_preflight) checks them again before every rollout.
  - A source group counts as allowed when an existing rule admits it by group, or by a CIDR range that
    contains every subnet in O(subnet_ids); rules are only ever added, never removed, by O(state=present).
  - An endpoint or security group it creates is tagged C(ecsrds.connect/created-by=<deployment_id>) and
    C(ecsrds.connect/deployment:<deployment_id>=created). An endpoint it reuses, and the security group it adds its rule
    to, only get C(ecsrds.connect/deployment:<deployment_id>=adopted), so a second deployment adds itself to a shared
    endpoint and never renames or retags it. Rules it adds end in C([ecsrds:<deployment_id>]).
  - O(state=absent) revokes this deployment's rules (or removes its id from a rule another deployment shares) and its
    tags; an endpoint or security group this collection created is deleted when no other deployment's tag is left on
    it. An endpoint or group that existed before is never deleted.
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  state:
    description:
      - V(present) ensures the endpoint; V(absent) takes this deployment off the VPC's Secrets Manager endpoints and
        deletes what this collection created once its last user is gone (see the description).
    type: str
    choices: [present, absent]
    default: present
  subnet_ids:
    description:
      - Private subnets the ECS tasks run in. Required with O(state=present).
      - The endpoint gets the first subnet of each Availability Zone.
    type: list
    elements: str
  vpc_id:
    description:
      - The VPC; taken from O(subnet_ids) when unset. When both are given they must agree.
    type: str
  source_security_group_ids:
    description: Security groups of the ECS service that must reach the endpoint on 443.
    type: list
    elements: str
  source_cidrs:
    description: CIDR ranges that must reach the endpoint on 443.
    type: list
    elements: str
  skip_when_nat:
    description:
      - When no endpoint exists and every subnet in O(subnet_ids) sends C(0.0.0.0/0) through a NAT gateway,
        do nothing and return RV(skipped=true), since the tasks reach Secrets Manager through the NAT.
    type: bool
    default: false
  manage_vpc_dns:
    description: Turn on C(enableDnsSupport) and C(enableDnsHostnames) of the VPC when they are off.
    type: bool
    default: true
  name:
    description: Name tag of an endpoint this module creates.
    type: str
  security_group_name:
    description: Name of the security group for an endpoint this module creates (found in the VPC or created).
    type: str
    default: secretsmanager-endpoint
  security_group_description:
    description: Description of that security group when it is created.
    type: str
    default: HTTPS from ECS tasks to the Secrets Manager interface endpoint
  rule_description:
    description: Text of the ingress rules this module adds; C( [ecsrds:<deployment_id>]) is appended to it.
    type: str
    default: "ecsrds.connect: HTTPS from the ECS service to the Secrets Manager endpoint"
  tags:
    description:
      - Tags for the endpoint and security group this deployment creates, also added to them on later runs
        (tags are never removed). An endpoint or group it did not create only gets its deployment tag.
    type: dict
    aliases: [resource_tags]
  deployment_id:
    description:
      - Identity of the deployment the endpoint serves (the network role passes the DB cluster identifier).
      - 1 to 63 letters, digits, C(.), C(_) or C(-).
    type: str
    required: true
    aliases: [managed_by]
  client_token:
    description: Idempotency token for the create call; a fresh one per run when unset.
    type: str
  wait:
    description:
      - With O(state=present), when the module created the endpoint or changed it (private DNS, subnets),
        wait until its state is C(available), since tasks cannot reach Secrets Manager through a C(pending)
        endpoint, and a deployment started meanwhile would stop with the connection error.
      - With O(state=absent), wait until a deleted endpoint is gone before deleting its security group.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait; the module fails when the time is up.
    type: int
    default: 600
extends_documentation_fragment:
  - ecsrds.connect.described_subnets
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description:
      - No write call is made; C(changed) predicts a real run.
      - An endpoint or security group that would be created is returned as null with RV(would_create=true).
  diff_mode:
    support: partial
    description: Before and after of the endpoint (subnets, security groups, private DNS; for an existing endpoint, its group's 443 sources).
notes:
  - moto accepts private DNS without VPC DNS hostnames and two endpoint subnets in one zone; AWS does not.
    The checks for both are made here, before any call.
"""

EXAMPLES = r"""
- name: Let the demo service reach Secrets Manager from its private subnets
  ecsrds.connect.vpc_secretsmanager_endpoint:
    subnet_ids: [subnet-0aaa, subnet-0bbb]
    source_security_group_ids: [sg-0service]
    security_group_name: demo-secretsmanager-endpoint-sg
    name: demo-ecs-secrets-manager-eni
    deployment_id: demo-rds-aurora-postgres
    skip_when_nat: true
  register: endpoint

- name: Remove it again
  ecsrds.connect.vpc_secretsmanager_endpoint:
    state: absent
    vpc_id: "{{ endpoint.vpc_id }}"
    security_group_name: demo-secretsmanager-endpoint-sg
    deployment_id: demo-rds-aurora-postgres
"""

RETURN = r"""
vpc_id:
  description: The VPC.
  returned: always
  type: str
  sample: vpc-0123456789abcdef0
service_name:
  description: The endpoint service name.
  returned: always
  type: str
  sample: com.amazonaws.us-east-1.secretsmanager
skipped:
  description: True when O(skip_when_nat) found every subnet behind a NAT gateway and nothing was done.
  returned: always
  type: bool
skip_reason:
  description: Why it was skipped.
  returned: when O(state=present)
  type: str
would_create:
  description: In check mode, true when the endpoint would be created (RV(endpoint) is then null).
  returned: when O(state=present) and not skipped
  type: bool
security_group_id:
  description: The security group that allows 443 (null in check mode when it would be created).
  returned: when O(state=present)
  type: str
endpoint:
  description: The endpoint, or null when skipped, absent or not yet created (check mode).
  returned: always
  type: dict
  contains:
    vpc_endpoint_id:
      description: Endpoint id.
      type: str
      sample: vpce-0123456789abcdef0
    service_name:
      description: Service name.
      type: str
    vpc_id:
      description: VPC id.
      type: str
    state:
      description: Endpoint state as AWS reports it.
      type: str
      sample: available
    subnet_ids:
      description: Subnets of the endpoint, sorted.
      type: list
      elements: str
    security_group_ids:
      description: Security groups of the endpoint, sorted.
      type: list
      elements: str
    private_dns_enabled:
      description: Whether private DNS is on.
      type: bool
    dns_entries:
      description: DNS names of the endpoint.
      type: list
      elements: dict
    tags:
      description: Tags as a dict.
      type: dict
deleted_endpoint_ids:
  description: Endpoints deleted by O(state=absent).
  returned: when O(state=absent)
  type: list
  elements: str
deleted_group_ids:
  description: Security groups deleted by O(state=absent).
  returned: when O(state=absent)
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
from ansible_collections.ecsrds.connect.plugins.module_utils.network import ENDPOINT_RULE_DESCRIPTION, SUBNET_OPTIONS, run_endpoint, validate_endpoint_params


def main() -> None:
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        subnet_ids=dict(type="list", elements="str"),
        subnets=dict(type="list", elements="dict", options=SUBNET_OPTIONS),
        vpc_id=dict(type="str"),
        source_security_group_ids=dict(type="list", elements="str"),
        source_cidrs=dict(type="list", elements="str"),
        skip_when_nat=dict(type="bool", default=False),
        manage_vpc_dns=dict(type="bool", default=True),
        name=dict(type="str"),
        security_group_name=dict(type="str", default="secretsmanager-endpoint"),
        security_group_description=dict(type="str", default="HTTPS from ECS tasks to the Secrets Manager interface endpoint"),
        rule_description=dict(type="str", default=ENDPOINT_RULE_DESCRIPTION),
        tags=dict(type="dict", aliases=["resource_tags"]),
        deployment_id=dict(type="str", required=True, aliases=["managed_by"]),
        client_token=dict(type="str", no_log=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_step(module, run_endpoint, validate_endpoint_params(module.params))


if __name__ == "__main__":
    main()
