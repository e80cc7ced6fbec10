#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_network_access
short_description: Secrets Manager endpoint and database security group for ECS services in private subnets, in one call
version_added: 0.2.0
description:
  - Does in one call what M(ecsrds.connect.vpc_secretsmanager_endpoint) and M(ecsrds.connect.security_group_ingress)
    do with C(state=present), with the same rules for reuse, ownership tags and rule descriptions (see those modules).
  - The Secrets Manager interface endpoint lets tasks in O(subnet_ids) fetch their secrets without a NAT gateway
    (O(secretsmanager_endpoint)); the database security group O(db_security_group.name) admits the services on
    O(db_security_group.port).
  - Fewer reads on a run that changes nothing. The subnets are taken from O(subnets) when they describe O(subnet_ids)
    (M(ecsrds.connect.deployment_check) returns them as C(discovered.subnets)); both security groups are described by name in one
    call, and the endpoint's own groups are read from that answer unless they are other groups (an endpoint that was
    already there). After any write the groups are described again.
  - The VPC attributes C(enableDnsSupport) and C(enableDnsHostnames) are read only when the endpoint is created or its
    private DNS must be turned on, since an endpoint with private DNS on needed them on (AWS refuses private DNS otherwise),
    and M(ecsrds.connect.ecs_secrets_preflight) checks them again before every rollout.
  - Teardown is done with the two modules above and their C(state=absent) (the network role's C(teardown) entry point).
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  subnet_ids:
    description:
      - Private subnets the ECS tasks run in; the endpoint gets the first subnet of each Availability Zone.
    type: list
    elements: str
    required: true
  vpc_id:
    description: The VPC; taken from the subnets when unset. When both are given they must agree.
    type: str
  secretsmanager_endpoint:
    description:
      - V(auto) ensures the endpoint unless none exists and every subnet routes C(0.0.0.0/0) through a NAT gateway;
        V(always) ensures it regardless; V(never) leaves the VPC's endpoints alone (RV(endpoint.skipped=true)).
    type: str
    choices: [auto, always, never]
    default: auto
  endpoint:
    description: The Secrets Manager endpoint, with the options M(ecsrds.connect.vpc_secretsmanager_endpoint) takes for C(state=present).
    type: dict
    default: {}
    suboptions:
      source_security_group_ids:
        description: Security groups of the ECS services that must reach the endpoint on 443.
        type: list
        elements: str
      source_cidrs:
        description: CIDR ranges that must reach the endpoint on 443.
        type: list
        elements: str
      manage_vpc_dns:
        description: Turn on C(enableDnsSupport) and C(enableDnsHostnames) of the VPC when they are off; V(false) fails instead.
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
        description: Text of the 443 rules this module adds; C( [ecsrds:<deployment_id>]) is appended to it.
        type: str
        default: "ecsrds.connect: HTTPS from the ECS service to the Secrets Manager endpoint"
      client_token:
        description: Idempotency token for the create call; a fresh one per run when unset.
        type: str
      wait:
        description: When the endpoint was created or changed, wait until it is C(available).
        type: bool
        default: true
      wait_timeout:
        description: Seconds to wait; the module fails when the time is up.
        type: int
        default: 600
  db_security_group:
    description: The database security group, with the options M(ecsrds.connect.security_group_ingress) takes for C(state=present).
    type: dict
    required: true
    suboptions:
      name:
        description: Group name, unique in the VPC; created when missing.
        type: str
        required: true
      description:
        description: Group description when it is created (AWS cannot change it later).
        type: str
        default: Managed by ecsrds.connect
      port:
        description: TCP port the database listens on.
        type: int
        required: true
      source_security_group_ids:
        description: Security groups to admit on O(db_security_group.port).
        type: list
        elements: str
      source_cidrs:
        description: CIDR ranges to admit on O(db_security_group.port).
        type: list
        elements: str
      rule_description:
        description: Text of the rules this module adds; C( [ecsrds:<deployment_id>]) is appended to it.
        type: str
        default: "ecsrds.connect: managed rule"
  tags:
    description:
      - Tags for the endpoint and security groups this deployment creates, also added to them on later runs (never
        removed). What it did not create only gets its deployment tag.
    type: dict
    aliases: [resource_tags]
  deployment_id:
    description:
      - Identity of the deployment (the network role passes the DB cluster identifier).
      - 1 to 63 letters, digits, C(.), C(_) or C(-).
    type: str
    required: true
    aliases: [managed_by]
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
      - What would be created is returned as null, with C(would_create=true).
  diff_mode:
    support: full
    description:
      - Before and after of the endpoint (subnets, security groups, private DNS; for an existing endpoint, its group's 443
        sources) and of the database group's sources
        (with this deployment's rules on another port, which a port change revokes).
notes:
  - moto accepts private DNS without VPC DNS hostnames and two endpoint subnets in one zone; AWS does not.
    The checks for both are made here, before any call.
"""

EXAMPLES = r"""
- name: Check the inputs, which describes the services and their subnets
  ecsrds.connect.deployment_check:
    scope: network
    inputs:
      network_ecs_cluster: demo-ecs-cluster
      network_ecs_services: [demo-ecs-service]
    spec: "{{ network_spec }}"
  register: checked

- name: Let the demo service reach Secrets Manager and the database
  ecsrds.connect.ecs_network_access:
    subnet_ids: "{{ checked.discovered.services['demo-ecs-service'].subnets }}"
    subnets: "{{ checked.discovered.subnets }}"
    deployment_id: demo-rds-aurora-postgres
    endpoint:
      name: demo-ecs-secrets-manager-eni
      security_group_name: demo-secretsmanager-endpoint-sg
      source_security_group_ids: "{{ checked.discovered.services['demo-ecs-service'].security_groups }}"
    db_security_group:
      name: demo-rds-sg
      description: Aurora PostgreSQL reached from the ECS service
      port: 5432
      source_security_group_ids: "{{ checked.discovered.services['demo-ecs-service'].security_groups }}"
      rule_description: "ecsrds.connect: PostgreSQL from the ECS service"
    tags:
      app: demo
  register: access

- name: The ids the database and the services need
  ansible.builtin.debug:
    msg: "{{ access.db_security_group.group_id }} {{ access.endpoint.endpoint.vpc_endpoint_id if access.endpoint.endpoint else 'no endpoint' }}"
"""

RETURN = r"""
vpc_id:
  description: The VPC of the subnets.
  returned: always
  type: str
  sample: vpc-0123456789abcdef0
endpoint:
  description: What M(ecsrds.connect.vpc_secretsmanager_endpoint) returns (without its diff and actions), and whether this part changed.
  returned: always
  type: dict
  contains:
    changed:
      description: Whether the endpoint, its security group or its 443 rule changed (or would, in check mode).
      type: bool
    skipped:
      description: True with O(secretsmanager_endpoint=never), or with V(auto) when every subnet is behind a NAT gateway.
      type: bool
    skip_reason:
      description: Why it was skipped.
      type: str
    vpc_id:
      description: The VPC.
      type: str
    service_name:
      description: The endpoint service name.
      type: str
      sample: com.amazonaws.us-east-1.secretsmanager
    would_create:
      description: In check mode, true when the endpoint would be created.
      type: bool
    security_group_id:
      description: The security group that allows 443 (null in check mode when it would be created).
      type: str
    endpoint:
      description: The endpoint (keys as in M(ecsrds.connect.vpc_secretsmanager_endpoint)), or null when skipped or not yet created.
      type: dict
      sample:
        vpc_endpoint_id: vpce-0123456789abcdef0
        vpc_endpoint_type: Interface
        service_name: com.amazonaws.us-east-1.secretsmanager
        vpc_id: vpc-0123456789abcdef0
        state: available
        subnet_ids: [subnet-0aaa, subnet-0bbb]
        security_group_ids: [sg-0endpoint]
        private_dns_enabled: true
        dns_entries: []
        tags: {}
db_security_group:
  description: What M(ecsrds.connect.security_group_ingress) returns (without its diff and actions), and whether this part changed.
  returned: always
  type: dict
  contains:
    changed:
      description: Whether the group, its tags or its rules changed (or would, in check mode).
      type: bool
    group_id:
      description: Id of the group; null in check mode when it would be created.
      type: str
      sample: sg-0123456789abcdef0
    would_create:
      description: True in check mode when the group does not exist yet.
      type: bool
    security_group:
      description: The group after the run (keys as in M(ecsrds.connect.security_group_ingress)); null when not yet created.
      type: dict
      sample:
        group_id: sg-0123456789abcdef0
        group_name: demo-rds-sg
        vpc_id: vpc-0123456789abcdef0
        description: Aurora PostgreSQL reached from the ECS service
        port: 5432
        ingress_sources: [{group_id: sg-0service, description: "ecsrds.connect: PostgreSQL from the ECS service [ecsrds:demo]"}]
        tags: {}
actions:
  description: What was (or in check mode would be) changed, in words.
  returned: always
  type: list
  elements: str
diff:
  description: Before and after of C(endpoint) and C(db_security_group).
  returned: in diff mode
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.network import NETWORK_ACCESS_ARGUMENT_SPEC, run_network_access, validate_access_params


def main() -> None:
    module = AnsibleAWSModule(argument_spec=NETWORK_ACCESS_ARGUMENT_SPEC, supports_check_mode=True)
    run_step(module, run_network_access, validate_access_params(module.params))


if __name__ == "__main__":
    main()
