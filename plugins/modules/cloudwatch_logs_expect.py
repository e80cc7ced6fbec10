#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_logs_expect
short_description: Wait for a CloudWatch Logs line matching a regular expression (read-only)
version_added: 0.2.0
description:
  - Waits, bounded by O(wait_timeout), until a log event at or after O(start_time) matches O(pattern), and
    returns it. By default the pattern is the line HikariCP logs when the application's connection pool
    reached PostgreSQL, the proof the original walk-through looked for by hand.
  - Reads either a log group (O(log_group), optionally only the streams starting with O(log_stream_prefix)),
    or an ECS service's logs (O(cluster) and O(service)) - the group and stream prefix come from the awslogs
    options of the container in the revision the service runs, and only the streams of the tasks of the
    service's current (PRIMARY) deployment are read, named C(<prefix>/<container>/<task-id>) by the awslogs
    driver; older deployments' lines never count.
  - Matching is done by the module with a Python regular expression (CloudWatch's filter pattern syntax is
    not one). Each poll reads only the events that are new since the previous one.
  - When the time is up it fails, saying what it looked for, where, since when, and the last lines it saw.
  - Never writes anything, in check mode too.
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  log_group:
    description:
      - Log group to read. Mutually exclusive with O(cluster) and O(service).
    type: str
  log_stream_prefix:
    description:
      - With O(log_group), read only the streams whose name starts with this.
    type: str
  cluster:
    description:
      - ECS cluster of O(service) (name or ARN).
    type: str
  service:
    description:
      - ECS service whose current deployment's task logs are read. Needs O(cluster).
      - Its revision must send the container's output to CloudWatch Logs with the awslogs driver and an
        C(awslogs-stream-prefix).
    type: str
  container_name:
    description:
      - With O(service), the container whose logs are read. Default is the only container of the revision
        that logs with awslogs; with several, this option is required.
    type: str
  pattern:
    description:
      - Python regular expression searched for in each log line (C(re.search)).
    type: str
    default: 'HikariPool-\d+ - Added connection org\.postgresql'
  start_time:
    description:
      - Only lines logged at or after this time count, in milliseconds since the epoch (UTC).
      - Default is 15 minutes before the module started.
    type: int
  wait_timeout:
    description:
      - Seconds to wait for the line; V(0) looks once.
    type: int
    default: 300
  poll_interval:
    description:
      - Seconds between two looks.
    type: int
    default: 10
notes:
  - Lines that do not match are echoed in the failure message (the last few, shortened); do not point the
    module at logs that may carry secret values.
  - Permissions - C(logs:DescribeLogStreams) (with O(log_group)), C(logs:FilterLogEvents); with O(service) also
    C(ecs:DescribeServices), C(ecs:DescribeTaskDefinition), C(ecs:ListTasks), C(ecs:DescribeTasks).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ecsrds.connect.read_only
"""

EXAMPLES = r"""
- name: Wait until the service's current tasks logged that the pool connected to PostgreSQL
  ecsrds.connect.cloudwatch_logs_expect:
    cluster: demo-ecs-cluster
    service: demo-ecs-service
    container_name: app
    wait_timeout: 300
  register: connected

- name: Look for a line in a log group, in the streams of one prefix, since a given time
  ecsrds.connect.cloudwatch_logs_expect:
    log_group: /ecs/demo-ecs-task
    log_stream_prefix: ecs/app/
    pattern: 'Started \w+Application in [0-9.]+ seconds'
    start_time: 1764633600000
    wait_timeout: 0
"""

RETURN = r"""
matched:
  description: True when a matching line was found (the module fails otherwise).
  returned: always
  type: bool
  sample: true
line:
  description: The matching line.
  returned: success
  type: str
  sample: "HikariPool-1 - Added connection org.postgresql.jdbc.PgConnection@5b6ec132"
log_stream:
  description: Stream that holds the line.
  returned: success
  type: str
  sample: ecs/app/0f5a8b0e7c3d4e2f9a1b2c3d4e5f6a7b
timestamp:
  description: Time of the line, milliseconds since the epoch.
  returned: success
  type: int
  sample: 1764634012345
log_group:
  description: Log group read.
  returned: always
  type: str
  sample: /ecs/demo-ecs-task
start_time:
  description: Lines before this time (milliseconds since the epoch) were ignored.
  returned: always
  type: int
  sample: 1764633112345
log_streams:
  description: Streams read at the last look (with O(service), the current deployment's task streams).
  returned: success
  type: list
  elements: str
deployment_id:
  description: With O(service), the deployment whose tasks were read.
  returned: success with O(service)
  type: str
  sample: ecs-svc/1234567890123456789
last_lines:
  description: When no line matched, the last lines read (shortened), newest last.
  returned: failure
  type: list
  elements: str
actions:
  description: Always empty; reading logs changes nothing.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.ecsrds.connect.plugins.module_utils.common import run_step
from ansible_collections.ecsrds.connect.plugins.module_utils.logs import DEFAULT_PATTERN, log_expectation_problem, run_log_expectation


def main() -> None:
    argument_spec = dict(
        log_group=dict(type="str"),
        log_stream_prefix=dict(type="str"),
        cluster=dict(type="str"),
        service=dict(type="str"),
        container_name=dict(type="str"),
        pattern=dict(type="str", default=DEFAULT_PATTERN),
        start_time=dict(type="int"),
        wait_timeout=dict(type="int", default=300),
        poll_interval=dict(type="int", default=10),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("log_group", "cluster"), ("log_group", "service"), ("log_stream_prefix", "service")],
        required_one_of=[("log_group", "service")],
        required_together=[("cluster", "service")],
        required_by={"container_name": "service", "log_stream_prefix": "log_group"},
        supports_check_mode=True,
    )
    run_step(module, run_log_expectation, log_expectation_problem(module.params))


if __name__ == "__main__":
    main()
