#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: security_group_ingress
short_description: Security group that admits one port from given security groups or CIDR ranges, adding rules only
version_added: 0.1.0
description:
  - Finds the security group O(name) in O(vpc_id), creating it (tagged) when missing, and adds an inbound
    TCP rule on O(port) for each source in O(source_security_group_ids) and O(source_cidrs) that no
    existing rule admits yet. Other rules are never touched, except that the rules carrying O(rule_description)
    for another port (left by an earlier run before a port change) are revoked once the new rule is in place.
  - One describe call when nothing needs changing, which is why the network role uses it instead of
    M(amazon.aws.ec2_security_group) (that one lists every group of the account and its tags on each run).
  - A group it creates is tagged C(ecsrds.connect/created-by=<deployment_id>) and
    C(ecsrds.connect/deployment:<deployment_id>=created); its O(tags) are kept up to date on later runs (never removing
    any). A group it finds (made by someone else or by another deployment) only gets
    C(ecsrds.connect/deployment:<deployment_id>=adopted), and it is never renamed or retagged.
  - Rules it adds end in C([ecsrds:<deployment_id>]). When a source is already admitted on O(port) only by another
    deployment's rule, this deployment is added to that rule's description (AWS keeps one rule per source).
  - With O(state=absent), this deployment's rules are revoked (or its id removed from a rule others share) and its tag
    removed; the group is deleted only when this collection created it and no other deployment's tag is left.
    A group that existed before is never deleted.
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  name:
    description: Group name, unique in the VPC.
    type: str
    required: true
  vpc_id:
    description: The VPC.
    type: str
    required: true
  description:
    description: Group description when it is created (AWS cannot change it later).
    type: str
    default: Managed by ecsrds.connect
  port:
    description: TCP port to admit.
    type: int
    required: true
  source_security_group_ids:
    description: Security groups to admit on O(port).
    type: list
    elements: str
  source_cidrs:
    description: CIDR ranges to admit on O(port).
    type: list
    elements: str
  rule_description:
    description: Text of the rules this module adds; C( [ecsrds:<deployment_id>]) is appended to it.
    type: str
    default: "ecsrds.connect: managed rule"
  tags:
    description: Tags of a group this module creates (C(Name) defaults to O(name)).
    type: dict
    aliases: [resource_tags]
  deployment_id:
    description:
      - Identity of the deployment this group and its rules serve (the network role passes the DB cluster identifier).
      - 1 to 63 letters, digits, C(.), C(_) or C(-).
    type: str
    required: true
    aliases: [managed_by]
  state:
    description: V(present) ensures the group and rules; V(absent) removes what V(present) created.
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
    description:
      - No write call is made; C(changed) predicts a real run.
      - A group that would be created is returned with RV(group_id=null) and RV(would_create=true).
  diff_mode:
    support: full
    description:
      - Before and after of the group's sources on O(port), and of this deployment's rules on other ports
        (C(our_rules_on_other_ports), which a port change revokes).
"""

EXAMPLES = r"""
- name: Let the ECS service reach PostgreSQL
  ecsrds.connect.security_group_ingress:
    name: demo-rds-sg
    vpc_id: vpc-0123456789abcdef0
    description: Aurora PostgreSQL reached from the ECS service
    port: 5432
    source_security_group_ids: [sg-0service]
    rule_description: "ecsrds.connect: PostgreSQL from the ECS service"
    deployment_id: demo-rds-aurora-postgres
    tags:
      app: demo
  register: db_sg

- name: Remove the group again (or only our rule, if the group was not created here)
  ecsrds.connect.security_group_ingress:
    name: demo-rds-sg
    vpc_id: vpc-0123456789abcdef0
    port: 5432
    deployment_id: demo-rds-aurora-postgres
    state: absent
"""

RETURN = r"""
group_id:
  description: Id of the group; null in check mode when it would be created, and after O(state=absent).
  returned: always
  type: str
  sample: sg-0123456789abcdef0
would_create:
  description: True in check mode when the group does not exist yet.
  returned: when O(state=present)
  type: bool
security_group:
  description: The group after the run (null when absent or not yet created).
  returned: always
  type: dict
  contains:
    group_id:
      description: Group id.
      type: str
    group_name:
      description: Group name.
      type: str
    vpc_id:
      description: VPC id.
      type: str
    description:
      description: Group description.
      type: str
    port:
      description: The port the sources are listed for.
      type: int
    ingress_sources:
      description: Sources admitted on O(port), each with C(group_id) or C(cidr_ip) and C(description).
      type: list
      elements: dict
    tags:
      description: Tags as a dict.
      type: dict
deleted_group_ids:
  description: Groups deleted by O(state=absent).
  returned: when O(state=absent)
  type: list
  elements: str
actions:
  description: What was (or in check mode would be) changed, in words.
  returned: always
  type: list
  elements: str
"""

import copy

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.network import DB_GROUP_OPTIONS, run_security_group_ingress, validate_ingress_params


def main() -> None:
    argument_spec = dict(
        copy.deepcopy(DB_GROUP_OPTIONS),
        vpc_id=dict(type="str", required=True),
        tags=dict(type="dict", aliases=["resource_tags"]),
        deployment_id=dict(type="str", required=True, aliases=["managed_by"]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_step(module, run_security_group_ingress, validate_ingress_params(module.params))


if __name__ == "__main__":
    main()
