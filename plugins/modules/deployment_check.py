#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deployment_check
short_description: Check a deployment's inputs, discover what they name in AWS, and compare the deployment with them, before any write
version_added: 0.2.0
description:
  - The one validation stage of C(site.yml), C(teardown.yml) and each role's entry point. It reports
    every problem at once, each naming the input as the user wrote it with its value, and changes nothing.
  - "Shapes: a string where a list or mapping is expected is an error (never split on commas); an
    unknown input with the entry point's prefix, or an unknown key in a service entry, is an error
    naming the nearest known name."
  - "Rules: DB cluster identifier, database name, port range (1150-65535), CIDR blocks (none wider
    than a VPC can be unless the wide-ingress input allows it), IAM role and secret ARNs, KMS key
    ids, the aurora-postgresql engine version, the region and (when required) a loopback endpoint."
  - "Then, with reads only, it discovers what the inputs name: the ECS cluster and services exist and
    use awsvpc (their subnets, security groups, running revision and rollout state are returned under
    RV(discovered)), each named container is in the revision its service runs, the execution roles
    exist, the subnets span two Availability Zones, and the instance class is offered for
    aurora-postgresql (DescribeOrderableDBInstanceOptions where it answers for the class, the documented
    class pattern otherwise); when given, the engine version is one RDS offers (DescribeDBEngineVersions) and
    the secret's customer managed KMS key exists and is enabled (DescribeKey)."
  - With O(role_inputs) (C(site.yml)), it also compares every step of the deployment with what the
    roles would ask, in this one process, and returns RV(plan).
  - Formerly C(ecsrds.connect.inputs_check), which still redirects here.
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  scope:
    description: Which entry point's inputs these are; it decides the input names and which AWS facts are checked.
    type: str
    required: true
    choices: [site, teardown, render, network, database, service, rotation]
  inputs:
    description:
      - The inputs as the user gave them (not yet converted), name to value.
      - A name with the entry point's prefix that the entry point does not know is reported, with its value unless
        the value is null (the roles pass such names without their values).
    type: dict
    required: true
  spec:
    description: The entry point's argument spec options (C(type), C(elements), C(choices), C(required)).
    type: dict
    required: true
  known:
    description: Other names with the profile's prefix that are valid here (inputs of the role's other entry points).
    type: list
    elements: str
    default: []
  discover:
    description: Ask AWS about the inputs as well; V(false) checks the rules only.
    type: bool
    default: true
    aliases: [facts]
  role_inputs:
    description:
      - With O(scope=site) and inputs that pass, also compare the whole deployment with what it asks for, with reads
        only and in this one process, and return RV(plan).
      - The four roles' inputs as C(site.yml) sets them before any role runs (name to value). Those it sets from what an
        earlier role published are taken from the earlier steps of the comparison instead.
      - Each step (network, database, task definitions, grant, rotation) derives its module's options from them as the
        role does (the same Python) and is compared by its module's own check-mode code; the first step with something to
        do ends the comparison.
    aliases: [plan_inputs]
    type: dict
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ecsrds.connect.read_only
"""

EXAMPLES = r"""
- name: Check the site inputs before touching AWS
  ecsrds.connect.deployment_check:
    scope: site
    inputs: "{{ dict(_names | zip(query('ansible.builtin.vars', *_names))) }}"
    spec: "{{ lookup('ansible.builtin.file', 'files/site_argument_spec.yml') | from_yaml }}"
  vars:
    _names: "{{ query('ansible.builtin.varnames', '^ecsrds_') }}"

- name: Check a role's inputs (what each role's own check does)
  ecsrds.connect.deployment_check:
    scope: network
    inputs: "{{ lookup('ecsrds.connect.role_inputs', 'network', with_unknown=true) }}"
    spec: "{{ lookup('ecsrds.connect.role_inputs', 'network', part='spec') }}"
"""

RETURN = r"""
services:
  description: The services as entries with the container that receives the variables.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "shop-api", "container_name": "app", "task_definition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop:7"}]
discovered:
  description:
    - What AWS told about the inputs, when it was asked (empty otherwise). The roles take it as their
      C(<role>_deployment_check) input instead of describing the same things again.
    - C(services), by the name given - the revision each runs (C(task_definition)), whether its rollout has settled
      (C(settled)), its C(subnets) and C(security_groups).
    - C(subnets) - the services' subnets (or the given ones) as described (C(subnet_id), C(availability_zone),
      C(cidr_block), C(vpc_id)).
  returned: success
  type: dict
  version_added: 0.2.0
plan:
  description:
    - With O(role_inputs), whether the deployment already is what the inputs ask for. C(site.yml) skips the roles when
      it is, and shows C(facts) instead.
  returned: when O(role_inputs) is given and the inputs pass
  type: dict
  contains:
    in_sync:
      description: True when no step has anything to do, no rollout is pending and no step runs on every run.
      type: bool
    reason:
      description: Why not, naming the first step with something to do (or what keeps every run full); null when in sync.
      type: str
    steps:
      description: Each step compared, in order, with C(step), C(changed) and the C(options) its module would be given.
      type: list
      elements: dict
    facts:
      description: When in sync, the facts the roles would have published (C(network__*), C(database__*), C(service__results), C(rotation__redeploy)).
      type: dict
  sample: {"in_sync": false, "reason": "grant: put policy ecsrds-connect-shop on IAM role ecsTaskExecutionRole", "steps": [], "facts": {}}
problems:
  description: Every problem found, each naming the input and its value.
  returned: failure
  type: list
  elements: str
  sample: ["ecsrds_db_port 70000 is out of range: Aurora listens on a port from 1150 to 65535"]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.deployment import check_deployment
from ansible_collections.ecsrds.connect.plugins.module_utils.inputs import problems_message, secret_unknown_values, validate


def main() -> None:
    argument_spec = dict(
        scope=dict(type="str", required=True, choices=["site", "teardown", "render", "network", "database", "service", "rotation"]),
        inputs=dict(type="dict", required=True),
        spec=dict(type="dict", required=True),
        known=dict(type="list", elements="str", default=[]),
        discover=dict(type="bool", default=True, aliases=["facts"]),
        role_inputs=dict(type="dict", aliases=["plan_inputs"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    module.no_log_values.update(secret_unknown_values(params["inputs"], set(params["spec"]) | set(params["known"])))
    clients = Clients.of(module)
    try:
        problems, result = validate(clients, params["scope"], params["inputs"], params["spec"], known=params["known"],
                                    with_facts=params["discover"], check_mode=module.check_mode)
    except EcsRdsError as e:
        module.fail_json_aws_error(e)
    if problems:
        module.fail_json(msg=problems_message(problems), problems=problems)
    if params["role_inputs"] is not None and params["scope"] == "site":
        result["plan"] = check_deployment(clients, params["role_inputs"], result["discovered"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
