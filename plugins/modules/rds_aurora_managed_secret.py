#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rds_aurora_managed_secret
short_description: Aurora cluster whose master password RDS manages in Secrets Manager, with its instances and DB subnet group
version_added: 0.1.0
description:
  - Creates, updates or deletes an Amazon Aurora DB cluster (Aurora PostgreSQL by default) created with
    C(ManageMasterUserPassword), so RDS generates the master password and keeps it in a Secrets Manager
    secret, plus the cluster's DB instances, named C(<db_cluster_identifier>-instance-<n>), and, given
    O(db_subnet_group_subnet_ids), the DB subnet group O(db_subnet_group_name) the cluster lives in.
  - A run with nothing to do costs two AWS calls, C(DescribeDBClusters) and C(DescribeDBInstances); the subnet
    group is compared as the instances' answer shows it, and only described by itself (C(DescribeDBSubnetGroups),
    C(ListTagsForResource)) when there is no instance yet or something to change.
  - Instances are never publicly accessible; enhanced monitoring stays off unless O(monitoring_interval)
    and O(monitoring_role_arn) are given.
  - The secret's value is never read or returned; only its ARN, status and KMS key are.
  - An option left unset (without a default) leaves that setting of an existing cluster alone.
    Settings RDS cannot change on an existing cluster (O(engine), O(storage_encrypted), O(kms_key_id),
    O(master_username), O(database_name), O(db_subnet_group_name), and O(master_user_secret_kms_key_id)
    once the secret is managed) make the module fail, naming the option, without changing anything.
  - Changes to mutable settings are applied immediately (C(ApplyImmediately)).
  - With O(deployment_id), a cluster the module creates is tagged C(ecsrds.connect/created-by=<deployment_id>) and
    C(ecsrds.connect/deployment:<deployment_id>=created); an existing cluster gets only
    C(ecsrds.connect/deployment:<deployment_id>=adopted). O(state=absent) then deletes only a cluster this deployment
    created and no other deployment uses, unless O(delete_adopted=true); otherwise it only removes the deployment's tag.
  - O(state=absent) checks every precondition (deletion protection, the final snapshot name being free, O(db_subnet_group_name)
    being the cluster's group) before its first write, so a refusal changes nothing.
  - With O(state=absent) and O(db_subnet_group_name), the subnet group follows the cluster. It is deleted after a cluster
    the module deletes (once the cluster is gone, since RDS refuses to delete a group in use), and when the cluster does
    not exist (any more), so an interrupted teardown finishes on a re-run. It is never deleted with a kept cluster
    (RV(kept)).
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  db_cluster_identifier:
    description: Identifier of the DB cluster. RDS stores it in lower case.
    type: str
    required: true
  state:
    description: Whether the cluster and its instances should exist.
    type: str
    choices: [present, absent]
    default: present
  engine:
    description: Cluster engine. Cannot be changed on an existing cluster.
    type: str
    default: aurora-postgresql
  engine_version:
    description:
      - Engine version, for example V(16.4), or only the major version V(16) (satisfied by any 16.x).
      - A higher version on an existing cluster is applied as an upgrade (allowing a major upgrade when
        the major version differs); a lower one fails.
    type: str
  master_username:
    description: Master user name. Cannot be changed on an existing cluster.
    type: str
    default: postgres
  master_user_secret_kms_key_id:
    description:
      - KMS key (id, ARN or alias) that encrypts the managed secret; RDS uses C(aws/secretsmanager) when unset.
      - Cannot be changed once the secret is managed.
    type: str
  manage_existing_master_password:
    description:
      - Let RDS take over the master password of an existing cluster whose password is self-managed
        (it has no C(MasterUserSecret)). RDS then generates a new password, which changes what clients must use.
      - When V(false), such a cluster makes the module fail. A cluster that already has a managed secret
        is never asked again.
    type: bool
    default: false
  database_name:
    description:
      - Name of the database created with the cluster. Cannot be changed on an existing cluster.
      - Leave it unset to adopt a cluster created without one (no C(DatabaseName)).
    type: str
  port:
    description: Port the cluster listens on; RDS defaults to 5432 for Aurora PostgreSQL.
    type: int
  db_subnet_group_name:
    description:
      - DB subnet group of the cluster (and of the instances the module creates). Cannot be changed on an existing cluster.
      - With O(state=absent), the group to delete after the cluster (see the description); it must be the cluster's group.
    type: str
  db_subnet_group_subnet_ids:
    description:
      - Subnets of the DB subnet group O(db_subnet_group_name) (the whole list, compared as a set; at least two, in
        two Availability Zones). Given, the module creates the group when it is missing, before the cluster, and changes
        its subnets when they differ. Unset leaves the group alone.
      - The group gets O(tags) when it is created, with the deployment's C(created-by) mark when the cluster is created
        in the same run. Later changes of O(tags) reach the group the next time the module describes it by itself, when
        its subnets or description change, or when no instance of the cluster shows it. Reading its tags on every run
        would cost a third AWS call on a run that has nothing to do.
      - Ignored with O(state=absent).
    type: list
    elements: str
  db_subnet_group_description:
    description:
      - Description of the DB subnet group; needs O(db_subnet_group_subnet_ids). Unset leaves an existing group's
        description alone; a new group gets C(Subnets of DB cluster <db_cluster_identifier>).
    type: str
  vpc_security_group_ids:
    description: VPC security groups of the cluster (the whole list, compared as a set).
    type: list
    elements: str
  storage_encrypted:
    description: Whether the cluster storage is encrypted. Cannot be changed on an existing cluster.
    type: bool
    default: true
  kms_key_id:
    description: KMS key (id, ARN or alias) for storage encryption. Cannot be changed on an existing cluster.
    type: str
  deletion_protection:
    description:
      - Whether the cluster is protected from deletion.
      - With O(state=absent), a protected cluster is only unprotected and deleted when this is set to
        V(false) explicitly; otherwise the module fails.
    type: bool
    default: true
  instance_class:
    description: DB instance class of the cluster's instances; existing instances of another class are modified.
    type: str
    default: db.t4g.medium
  instance_count:
    description:
      - Number of instances named C(<db_cluster_identifier>-instance-<n>). Missing ones take the lowest free
        numbers; surplus ones are deleted, highest number first. Instances named otherwise are left alone.
      - Instances named otherwise count towards the number, so the existing writer of an adopted cluster is
        its instance and no C(<db_cluster_identifier>-instance-1) is created beside it.
    type: int
    default: 1
  monitoring_interval:
    description:
      - Enhanced monitoring interval in seconds for the instances (V(0) turns it off). Needs O(monitoring_role_arn)
        when above 0. New instances get V(0) when unset; existing ones are then left alone.
    type: int
    choices: [0, 1, 5, 10, 15, 30, 60]
  monitoring_role_arn:
    description: IAM role RDS uses to publish enhanced monitoring metrics. Needs O(monitoring_interval) above 0.
    type: str
  iam_database_authentication:
    description:
      - IAM database authentication on the cluster (C(EnableIAMDatabaseAuthentication)) - a login granted C(rds_iam) then
        signs in with a token its IAM role asks for (C(rds-db:connect)) instead of a password. Changed in place when it differs;
        unset leaves the cluster's setting.
    type: bool
  serverless_v2_scaling:
    description:
      - Aurora Serverless v2 capacity of the cluster, for instances of class C(db.serverless) (O(instance_class)), which
        needs it. Changed in place when it differs (only the values given are compared).
    type: dict
    suboptions:
      min_capacity:
        description: Least capacity, 0 to 256 ACUs in steps of 0.5; V(0) lets the cluster pause when idle (engine versions that support it).
        type: float
        required: true
      max_capacity:
        description: Most capacity, 1 to 256 ACUs in steps of 0.5, not below O(serverless_v2_scaling.min_capacity).
        type: float
        required: true
      seconds_until_auto_pause:
        description: With O(serverless_v2_scaling.min_capacity=0), idle seconds before the cluster pauses (300 to 86400).
        type: int
  skip_final_snapshot:
    description: With O(state=absent), delete without a final cluster snapshot. Either this or O(final_snapshot_identifier) is required.
    type: bool
    default: false
  final_snapshot_identifier:
    description:
      - With O(state=absent), the identifier of the final cluster snapshot taken before deletion.
      - It must not exist yet; the module fails before any change when it does.
    type: str
  deployment_id:
    description:
      - Identity of the deployment that uses the cluster, recorded in its tags (see the description).
      - 1 to 63 letters, digits, C(.), C(_) or C(-).
    type: str
  delete_adopted:
    description:
      - With O(state=absent) and O(deployment_id), also delete a cluster this deployment did not create, or one other
        deployments still use. Without it such a cluster is kept (RV(kept)).
    type: bool
    default: false
  tags:
    description: Tags of the cluster (also given to instances created by this module). Unset leaves tags alone.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description: Remove tags not listed in O(tags) (tags starting with C(aws:) are kept).
    type: bool
    default: true
  wait:
    description:
      - Wait until the cluster and its instances are C(available) and the secret C(active), or until the cluster is gone.
      - Deleting a cluster always waits for its instances to be gone, because RDS refuses to delete a cluster with members.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait in total, across all waits of one run.
      - Also bounds how long a change refused because the cluster or an instance is busy (for example
        C(modifying)) is sent again.
    type: int
    default: 2400
  start_if_stopped:
    description:
      - What to do with a cluster that is C(stopped) or C(stopping).
      - With V(false) the module fails at once, saying so, rather than waiting for a cluster that will not become available.
      - With V(true) it starts the cluster (after a C(stopping) one has stopped) and waits for it.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description:
      - No write call is made; C(changed) predicts a real run, and a cluster that would be created is returned as null with
        RV(would_create=true). A subnet group that would be created is returned as planned (no ARN or VPC).
  diff_mode:
    support: full
    description:
      - Before and after of the compared settings (cluster settings, tags, and instances with their class), and
        under C(subnet_group) the subnet group's name, description and subnets (and its tags when they were read).
notes:
  - The module never calls C(secretsmanager:GetSecretValue).
  - CreateDBCluster and CreateDBInstance take no client token; after a lost response the module describes
    and adopts what the first attempt created instead of creating a second one.
"""

EXAMPLES = r"""
- name: Aurora PostgreSQL cluster with an RDS-managed master password and one writer, in its own subnet group
  ecsrds.connect.rds_aurora_managed_secret:
    db_cluster_identifier: orders-db
    engine_version: "16"
    database_name: orders
    db_subnet_group_name: orders-private
    db_subnet_group_subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
    db_subnet_group_description: Private subnets of orders-db
    vpc_security_group_ids: [sg-0123456789abcdef0]
    tags:
      app: orders
  register: orders_db

- name: The secret the ECS task definition should reference
  ansible.builtin.debug:
    msg: "{{ orders_db.cluster.master_user_secret.secret_arn }}"

- name: Add a reader
  ecsrds.connect.rds_aurora_managed_secret:
    db_cluster_identifier: orders-db
    instance_count: 2

- name: Let RDS take over the password of an older cluster
  ecsrds.connect.rds_aurora_managed_secret:
    db_cluster_identifier: legacy-db
    master_username: admin
    manage_existing_master_password: true

- name: Delete the cluster, its instances and (through RDS) its managed secret
  ecsrds.connect.rds_aurora_managed_secret:
    db_cluster_identifier: orders-db
    state: absent
    deletion_protection: false
    final_snapshot_identifier: orders-db-final

- name: Tear down what deployment orders-db made, the subnet group after the cluster; a cluster it only adopted stays with its group
  ecsrds.connect.rds_aurora_managed_secret:
    db_cluster_identifier: orders-db
    db_subnet_group_name: orders-private
    deployment_id: orders-db
    state: absent
    deletion_protection: false
    final_snapshot_identifier: orders-db-final
"""

RETURN = r"""
cluster:
  description:
    - The described cluster in snake_case with AWS's field names, tags as a dict under C(tags).
    - Null when the cluster does not exist (after O(state=absent), or in check mode before creation).
  returned: always
  type: dict
  contains:
    db_cluster_identifier:
      description: Cluster identifier.
      type: str
      sample: orders-db
    db_cluster_arn:
      description: Cluster ARN.
      type: str
      sample: arn:aws:rds:us-east-1:123456789012:cluster:orders-db
    status:
      description: Cluster status.
      type: str
      sample: available
    endpoint:
      description: Writer endpoint.
      type: str
      sample: orders-db.cluster-abc.us-east-1.rds.amazonaws.com
    reader_endpoint:
      description: Reader endpoint.
      type: str
      sample: orders-db.cluster-ro-abc.us-east-1.rds.amazonaws.com
    port:
      description: Port.
      type: int
      sample: 5432
    engine:
      description: Engine.
      type: str
      sample: aurora-postgresql
    engine_version:
      description: Engine version.
      type: str
      sample: "16.4"
    master_username:
      description: Master user name.
      type: str
      sample: postgres
    storage_encrypted:
      description: Whether storage is encrypted.
      type: bool
    deletion_protection:
      description: Whether deletion protection is on.
      type: bool
    vpc_security_groups:
      description: Security groups with their status.
      type: list
      elements: dict
    master_user_secret:
      description: The managed secret (never its value).
      type: dict
      contains:
        secret_arn:
          description: ARN of the secret RDS manages.
          type: str
        secret_status:
          description: Secret status.
          type: str
          sample: active
        kms_key_id:
          description: KMS key encrypting the secret.
          type: str
        kms_key_manager:
          description:
            - C(AWS) for the AWS managed C(aws/secretsmanager) key, C(CUSTOMER) for a customer managed key.
            - Only a customer managed key needs C(kms:Decrypt) on the ECS task execution role.
          type: str
          returned: when the cluster has a managed secret and I(state=present)
          sample: AWS
    tags:
      description: Cluster tags.
      type: dict
      sample: {"app": "orders"}
instances:
  description: The cluster's DB instances, sorted by identifier.
  returned: always
  type: list
  elements: dict
  contains:
    db_instance_identifier:
      description: Instance identifier.
      type: str
      sample: orders-db-instance-1
    db_instance_class:
      description: Instance class.
      type: str
      sample: db.t4g.medium
    is_cluster_writer:
      description: Whether the instance is the writer.
      type: bool
    db_instance_status:
      description: Instance status.
      type: str
      sample: available
    publicly_accessible:
      description: Whether the instance is publicly accessible.
      type: bool
subnet_group:
  description:
    - The cluster's DB subnet group, AWS's field names in snake_case, as the instances' answer or the module's own
      describe or write last showed it. Its tags are not returned (a run with nothing to do does not read them).
    - In check mode, a group that would be created, as planned. Null when it is not known (no instance shows it and the
      module does not manage it) or after O(state=absent) deleted it.
  returned: always
  type: dict
  contains:
    db_subnet_group_name:
      description: Name (RDS stores it in lower case).
      type: str
      sample: orders-private
    db_subnet_group_description:
      description: Description.
      type: str
    db_subnet_group_arn:
      description: ARN, when the answer carried it (DescribeDBInstances may not).
      type: str
      sample: arn:aws:rds:us-east-1:123456789012:subgrp:orders-private
    vpc_id:
      description: VPC of the subnets (null when planned).
      type: str
    subnet_group_status:
      description: Status, for example C(Complete) (null when planned).
      type: str
    subnet_ids:
      description: The group's subnets, sorted.
      type: list
      elements: str
would_create:
  description: True in check mode when the cluster does not exist yet and a real run would create it.
  returned: always
  type: bool
pending:
  description:
    - What the cluster is still waiting for (its status, its secret's status or an instance's), or null when it and
      its instances are ready or it does not exist. With O(wait=true) a run waits for it, even when nothing changes.
  returned: always
  type: str
  version_added: 0.2.0
kept:
  description:
    - Why O(state=absent) left the cluster in place, C(adopted) (this deployment did not create it) or C(shared)
      (other deployments still use it).
  returned: when O(state=absent) kept the cluster
  type: str
  sample: adopted
planned:
  description:
    - Check mode only, when the cluster would be created. Stand-ins for the endpoint and the managed secret's ARN
      that RDS assigns at creation (marked C(planned-by-check-mode)), so later steps can be planned with them.
  returned: when would_create is true
  type: dict
  contains:
    endpoint:
      description: Stand-in for the cluster endpoint.
      type: str
      sample: orders-db.cluster-planned-by-check-mode.eu-west-1.rds.amazonaws.com
    secret_arn:
      description: Stand-in for the managed secret's ARN.
      type: str
      sample: arn:aws:secretsmanager:eu-west-1:000000000000:secret:rds!cluster-planned-by-check-mode
actions:
  description: The writes to the cluster, its instances and subnet group (in check mode, to come), in order.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.rds import CLUSTER_ARGUMENT_SPEC, run_cluster


def main() -> None:
    module = AnsibleAWSModule(argument_spec=CLUSTER_ARGUMENT_SPEC, supports_check_mode=True)
    run_step(module, run_cluster)


if __name__ == "__main__":
    main()
