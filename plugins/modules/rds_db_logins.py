#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rds_db_logins
short_description: PostgreSQL logins of an Aurora cluster, each with its own secret and rights, made through the RDS Data API
version_added: 0.2.0
description:
  - Gives each application its own database login instead of the cluster's master. The cluster sits in private subnets;
    the module reaches it through the RDS Data API (HTTPS, authorised by IAM and the master secret), which it turns on
    (C(EnableHttpEndpoint)) when it is off. The Data API works on Aurora PostgreSQL provisioned and Serverless v2 clusters
    (13.11+, 14.8+, 15.3+, 16.1+, 17.4+), not on T instance classes.
  - For each login - its own Secrets Manager secret in the shape RDS and AWS's rotation functions use (C(engine), C(host),
    C(port), C(username), C(password), C(dbname), C(masterarn)), tagged with O(deployment_id), its password from
    C(GetRandomPassword); the PostgreSQL login made with a SCRAM-SHA-256 verifier computed by the module, so the password
    never travels in SQL text; its rights.
  - Rights - V(owner) a schema of its own (named after the login unless O(logins[].schema) names it) that it owns, so its
    migrations can run; V(read_write) or V(read_only) on a named schema (default C(public)), on its tables and, as default
    privileges of the schema's owner, on the tables created later. A login given rights it should not have (such as
    writing after a switch to V(read_only)) loses them.
  - Describe, compare, write only when different - one read-only C(SELECT) per login through the Data API tells what it
    has; a re-run sends no statement that changes anything. Every statement names its database (O(database)).
  - Never returns a password or a verifier; statements are returned with the verifier replaced.
  - A Serverless v2 cluster paused at 0 ACUs answers C(DatabaseResumingException) while it resumes; each statement is
    sent again, every 5 seconds within O(wait_timeout), until it runs.
options:
  db_cluster_identifier:
    description: The Aurora PostgreSQL cluster.
    type: str
    required: true
  master_secret_arn:
    description: Secret the Data API signs in with; default is the cluster's RDS-managed master secret.
    type: str
  database:
    description:
      - Database the schemas are made in and every statement names; default is the cluster's C(DatabaseName), else C(postgres).
      - RDS makes the cluster's C(DatabaseName) owned by the master login, which may create schemas in it.
    type: str
  logins:
    description: The logins.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The login (1 to 63 lower case letters, digits or C(_)); not the master's nor a role PostgreSQL or Aurora keeps.
        type: str
        required: true
      privileges:
        description: V(owner), V(read_write) or V(read_only).
        type: str
        choices: [owner, read_write, read_only]
        default: owner
      schema:
        description: The schema; default is the login's name for V(owner), C(public) otherwise. It must exist for V(read_write) and V(read_only).
        type: str
      secret_name:
        description: Name of the login's secret; default is O(secret_prefix) followed by the login's name.
        type: str
      auth:
        description:
          - V(password) - the login has its own secret and signs in with its password.
          - V(iam) - IAM database authentication - the login is granted C(rds_iam), has no password and no secret; its
            application signs in with a token its task role may ask for (C(rds-db:connect) on
            C(arn:aws:rds-db:<region>:<account>:dbuser:<cluster resource id>/<login>)). The cluster needs IAM database
            authentication on.
        type: str
        choices: [password, iam]
        default: password
  secret_prefix:
    description: Prefix of the secrets' names, such as C(shop-db/).
    type: str
    default: ""
  state:
    description:
      - V(present) makes the logins, secrets and rights; V(absent) drops the logins (and their rights) and deletes the secrets
        this O(deployment_id) created.
      - V(absent) refuses, before any change, a login that still owns tables or views, unless O(drop_owned) is true.
    type: str
    choices: [present, absent]
    default: present
  drop_owned:
    description: With O(state=absent), also drop what the logins own (their schema included).
    type: bool
    default: false
  deployment_id:
    description: Tag value of C(ecsrds.connect/created-by) on the secrets the module creates; only those are deleted.
    type: str
  wait_timeout:
    description: Seconds to wait for the Data API to be on after it was turned on, and for a paused cluster to resume.
    type: int
    default: 300
author:
  - ecsrds.connect maintainers (@ecsrds)
attributes:
  check_mode:
    support: full
    description: No write and no statement that changes anything; RV(actions) and each login's C(statements) say what would be done.
  diff_mode:
    support: none
    description: The actions say what changes.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: One login per service, the API owning its schema and the reports reading it
  ecsrds.connect.rds_db_logins:
    db_cluster_identifier: shop-db
    database: shop
    secret_prefix: shop-db/
    deployment_id: shop-db
    logins:
      - name: shop_api
        privileges: owner
      - name: shop_reports
        privileges: read_only
        schema: shop_api
"""

RETURN = r"""
logins:
  description: One entry per login, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The login.
      type: str
    auth:
      description: V(password) or V(iam).
      type: str
    secret_arn:
      description:
        - ARN of its secret (null in check mode before it exists, and for an V(iam) login, which has none).
          C(DATABASE_USERNAME) and C(DATABASE_PASSWORD) come from it.
      type: str
    created:
      description: Whether the login was made (or would be) by this run.
      type: bool
    statements:
      description: The statements sent (or, in check mode, to be), the verifier replaced.
      type: list
      elements: str
http_endpoint_enabled:
  description: The Data API is on.
  returned: always
  type: bool
statements_sent:
  description: Every statement sent that is not a read, the verifier replaced.
  returned: always
  type: list
  elements: str
actions:
  description: What was done (in check mode, would be), in words.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.rds_data import LOGINS_ARGUMENT_SPEC, logins_problem, run_logins


def main() -> None:
    module = AnsibleAWSModule(argument_spec=LOGINS_ARGUMENT_SPEC, supports_check_mode=True)
    run_step(module, run_logins, logins_problem(module.params))


if __name__ == "__main__":
    main()
