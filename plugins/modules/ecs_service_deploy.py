#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_service_deploy
short_description: Move an ECS service onto a task definition revision and wait for the rollout
version_added: 0.1.0
description:
  - Points one Amazon ECS service at a task definition revision with a forced new deployment when the
    service does not run that revision yet, then waits for the rollout.
  - Only the service's task definition changes; desired count, network configuration, load balancers
    and every other setting are left as they are.
  - A re-run with the service already on the revision does not redeploy, and a run interrupted after
    the revision was registered but before the service moved deploys on the next run.
  - The module follows its own deployment, the one whose id UpdateService returned (or, when the
    service already runs the revision but its rollout has not settled, the deployment that runs the
    revision), and judges only that one. It is done when that deployment is PRIMARY with rolloutState
    C(COMPLETED); a deployment without rolloutState is done when it is the service's only deployment
    and every desired task runs. Another deployment that completes is no success.
  - It fails when its deployment's rolloutState is C(FAILED) (with the rolloutStateReason), when the
    deployment is no longer PRIMARY or is gone (a rollback; the message says C(rolled back to
    <revision>) with the rolloutStateReason and the latest service events), or after I(wait_timeout)
    (saying what it waited for and the last state it saw).
  - While waiting, stopped tasks of its deployment are inspected; when one stopped with a known
    error (no route to Secrets Manager, the execution role may not read the secret or decrypt its key,
    the image cannot be pulled), the module fails at once with the reason and the fix, unless
    I(recent_change_grace) says the grant or the endpoint changed moments ago (see there).
  - Without I(task_definition), I(unwire) and I(restore_from_tag) nothing changes and the module reports
    the service and the revision it runs (with that revision's tags).
options:
  cluster:
    description: Name or ARN of the ECS cluster.
    type: str
    required: true
  service:
    description: Name or ARN of the ECS service.
    type: str
    required: true
  task_definition:
    description:
      - Task definition revision to deploy, as an ARN or C(family:revision).
      - Mutually exclusive with I(restore_from_tag) and I(unwire).
    type: str
  unwire:
    description:
      - Take variables out of the revision the service runs now, whoever registered it, and deploy the
        result. Each of O(unwire.variables) leaves the container's environment and secrets, or is put back
        as the revision named by the O(unwire.origin_tag) tag had it; every other setting stays, the image
        included, so an application's releases since are never rolled back.
      - A revision that already is exactly that (the origin itself when nothing else changed since, or the
        family's latest after an interrupted run) is deployed as it is; otherwise a new revision is
        registered, with the running revision's tags minus C(ecsrds.connect/*) ones.
      - When the running revision holds none of the variables the service is left where it is.
      - Mutually exclusive with I(task_definition) and I(restore_from_tag).
    type: dict
    suboptions:
      container_name:
        description: The container that holds the variables.
        type: str
        required: true
      variables:
        description: Names of the variables to take out, plain or secret.
        type: list
        elements: str
        required: true
      origin_tag:
        description: Key of a tag on the running revision whose value is the ARN of the revision the variables were set on top of.
        type: str
    version_added: 0.2.0
  restore_from_tag:
    description:
      - Key of a tag on the revision the service runs now whose value is the ARN of the revision to go
        back to (for example C(ecsrds.connect/original-task-definition)).
      - That revision's image and every other setting come back too, so a release the application made
        since is rolled back. O(unwire) takes out only the variables.
      - When the running revision has no such tag the service is left where it is.
      - Mutually exclusive with I(task_definition) and I(unwire).
    type: str
  deregister_tagged:
    description:
      - After the service moved, deregister every ACTIVE revision of the family the service ran at the
        start that carries all of these tags, except the revision the service runs afterwards and
        revisions any other service of any ECS cluster in the region runs or still drains.
      - Used with I(unwire) or I(restore_from_tag) to remove the revisions a deployment tool registered.
      - Ignored when I(task_definition) is given.
    type: dict
  force_new_deployment:
    description: Redeploy even when the service already runs I(task_definition).
    type: bool
    default: false
  wait:
    description:
      - Wait until the rollout completed (the primary deployment's rolloutState is C(COMPLETED), or,
        for services without one, every desired task runs in a single deployment).
      - Also waits when the service was already on the revision, so an interrupted run can be resumed.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the rollout.
    type: int
    default: 900
  recent_change_grace:
    description:
      - Seconds, counted from the start of the module, during which a known stop reason alone does not
        fail the rollout early. Set it when the execution role's grant or the Secrets Manager endpoint
        was changed or created just before, as IAM is eventually consistent and a new endpoint is
        C(pending) until C(available), so the first tasks may stop with an error that heals by itself.
      - The early-failure rule. C(0) (default) fails at the first task of the deployment that stopped
        with a known reason. Above C(0), a known reason fails early only when it repeats - a task
        that stopped with a known reason and was started after another task of the deployment had
        already stopped with one (ECS retried and met the same error), or a task started after the
        grace ended. Otherwise the wait goes on, and a timeout reports the last known reason and its fix.
      - A C(FAILED) or rolled-back deployment fails at once whatever the grace.
    type: int
    default: 0
author:
  - ecsrds.connect maintainers (@ecsrds)
notes:
  - After a deployment circuit breaker rollback AWS starts a new PRIMARY deployment of the previous
    revision, which completes; C(service.taskDefinition) is the old revision again. That is why only
    the module's own deployment is judged.
  - ECS only reports a FAILED rollout with the deployment circuit breaker or alarms; without them a
    crash-looping deployment stays IN_PROGRESS until I(wait_timeout), unless a stopped task's reason
    is a known one.
attributes:
  check_mode:
    support: full
    description: No write call; C(changed) and C(deployed) predict what a real run would do.
  diff_mode:
    support: full
    description: Before and after task definition of the service.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Deploy the revision that reads the database credentials from Secrets Manager
  ecsrds.connect.ecs_service_deploy:
    cluster: demo-ecs-cluster
    service: demo-ecs-service
    task_definition: "{{ taskdef.task_definition_arn }}"
    wait_timeout: 600

- name: Look up the revision a service runs and its tags
  ecsrds.connect.ecs_service_deploy:
    cluster: demo-ecs-cluster
    service: demo-ecs-service
  register: current

- name: Take the database variables out of what the service runs now and remove the revisions we registered
  ecsrds.connect.ecs_service_deploy:
    cluster: demo-ecs-cluster
    service: demo-ecs-service
    unwire:
      container_name: app
      variables: [DATABASE_URL, DATABASE_DRIVER_CLASS, DATABASE_USERNAME, DATABASE_PASSWORD]
      origin_tag: ecsrds.connect/original-task-definition
    deregister_tagged:
      ecsrds.connect/managed: "true"
"""

RETURN = r"""
deployed:
  description: Whether a new deployment was started (or would be, in check mode).
  returned: always
  type: bool
  sample: true
rollout_state:
  description:
    - State of the deployment the module followed (C(deployment_id)) at the end, C(COMPLETED),
      C(IN_PROGRESS) or C(FAILED) (for services without a rolloutState, C(COMPLETED) once every desired
      task runs in one deployment). Null when there is no deployment to follow.
    - In check mode with a predicted deployment, the state of the deployment that runs now.
  returned: always
  type: str
  sample: COMPLETED
deployment_id:
  description:
    - Id of the deployment the module followed - the one UpdateService started, or when nothing was
      deployed the one running the revision (the PRIMARY in a look-up). Also returned, with
      C(rollout_state), when a rollout fails.
    - Null in check mode when a deployment would be started.
  returned: always
  type: str
  sample: ecs-svc/1234567890123456789
previous_task_definition_arn:
  description: The revision the service ran before the module ran.
  returned: always
  type: str
  sample: arn:aws:ecs:us-east-1:123456789012:task-definition/demo-ecs-task:1
service:
  description: The service after the module ran (before the change in check mode), in snake_case.
  returned: always
  type: dict
  contains:
    service_name:
      description: Service name.
      type: str
    service_arn:
      description: Service ARN.
      type: str
    cluster_arn:
      description: Cluster ARN.
      type: str
    task_definition:
      description: ARN of the revision the service runs.
      type: str
    desired_count:
      description: Desired number of tasks.
      type: int
    running_count:
      description: Running tasks.
      type: int
    deployments:
      description: The service's deployments, snake_case (id, status, task_definition, rollout_state...).
      type: list
      elements: dict
    tags:
      description: Service tags as a dict.
      type: dict
  sample:
    service_name: demo-ecs-service
    task_definition: arn:aws:ecs:us-east-1:123456789012:task-definition/demo-ecs-task:2
    desired_count: 2
    running_count: 2
running_task_definition:
  description:
    - The revision the service runs at the end (in check mode, at the start), snake_case, with C(tags)
      as a dict. Plain variables whose name looks secret (C(PASSWORD), C(SECRET), C(TOKEN), C(KEY)) show
      C(<redacted>) as their value.
    - Only when I(task_definition) is not given (look-up, unwire or restore).
  returned: when task_definition is not given
  type: dict
  sample:
    task_definition_arn: arn:aws:ecs:us-east-1:123456789012:task-definition/demo-ecs-task:2
    family: demo-ecs-task
    revision: 2
    execution_role_arn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    tags:
      ecsrds.connect/managed: "true"
unwired:
  description: What I(unwire) found on the running revision.
  returned: when unwire is given
  type: dict
  contains:
    variables:
      description: The variables taken out (or put back as the origin had them); empty when there were none.
      type: list
      elements: str
    registered:
      description: Whether a new revision was registered for it (false when an existing one was exactly that).
      type: bool
    planned:
      description: In check mode, whether a new revision would be registered.
      type: bool
  sample:
    variables: [DATABASE_DRIVER_CLASS, DATABASE_PASSWORD, DATABASE_URL, DATABASE_USERNAME]
    registered: true
    planned: false
deregistered_task_definition_arns:
  description: Revisions deregistered (or that would be, in check mode) because of I(deregister_tagged).
  returned: always
  type: list
  elements: str
  sample: [arn:aws:ecs:us-east-1:123456789012:task-definition/demo-ecs-task:2]
actions:
  description: The deployment started and the revisions deregistered (in check mode, to be).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import deploy_problem, run_service_deploy


def main() -> None:
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        service=dict(type="str", required=True),
        task_definition=dict(type="str"),
        restore_from_tag=dict(type="str"),
        unwire=dict(type="dict", options=dict(
            container_name=dict(type="str", required=True),
            variables=dict(type="list", elements="str", required=True),
            origin_tag=dict(type="str"),
        )),
        deregister_tagged=dict(type="dict"),
        force_new_deployment=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=900),
        recent_change_grace=dict(type="int", default=0),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, mutually_exclusive=[("task_definition", "restore_from_tag", "unwire")], supports_check_mode=True)
    run_step(module, run_service_deploy, deploy_problem(module.params))


if __name__ == "__main__":
    main()
