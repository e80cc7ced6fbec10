# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading CloudWatch Logs for a line that proves something happened (the app connected to the
database), bounded in time. Read-only: DescribeLogStreams and FilterLogEvents, plus the ECS reads
that find an ECS service's awslogs streams.

Matching is done here with Python's ``re``: CloudWatch's filter pattern syntax is no regular
expression, and moto's filter behaves differently from CloudWatch's.
"""

from __future__ import annotations

import collections
import datetime
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError, Outcome, call, wait_for
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import ServiceReads, primary_deployment

# The walk-through's proof that the app reached the database (HikariCP's pool start line).
DEFAULT_PATTERN = r"HikariPool-\d+ - Added connection org\.postgresql"
DEFAULT_LOOKBACK_MS = 15 * 60 * 1000
LAST_LINES = 5
# CloudWatch may ingest an event after a later one of another stream: each poll re-reads this far
# behind the newest line seen (already seen events are skipped by id).
INGESTION_LAG_MS = 5 * 60 * 1000
_LINE_CHARS = 300

# ---------------------------------------------------------------------------------------------
# Pure logic


def compile_pattern(pattern: str) -> "re.Pattern[str]":
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise EcsRdsError(message=f"pattern '{pattern}' is not a valid Python regular expression: {exc}")


def default_start_time(now_ms: int) -> int:
    return now_ms - DEFAULT_LOOKBACK_MS


@dataclass(frozen=True)
class AwslogsTarget:
    """Where the awslogs driver writes a container's output."""

    container: str
    group: str
    prefix: Optional[str]
    region: Optional[str]


def awslogs_target(task_definition: Dict[str, Any], container_name: Optional[str]) -> AwslogsTarget:
    """The awslogs group and stream prefix of ``container_name`` (default: the only container that
    logs with awslogs) in a task definition; a clear error otherwise."""
    arn = task_definition.get("taskDefinitionArn")
    containers = task_definition.get("containerDefinitions") or []
    with_awslogs = [c for c in containers if (c.get("logConfiguration") or {}).get("logDriver") == "awslogs"]
    if container_name:
        chosen = next((c for c in containers if c.get("name") == container_name), None)
        if chosen is None:
            names = ", ".join(c.get("name", "?") for c in containers)
            raise EcsRdsError(message=f"container_name {container_name!r} is not a container of {arn} (containers: {names})")
        if chosen not in with_awslogs:
            driver = (chosen.get("logConfiguration") or {}).get("logDriver") or "none"
            raise EcsRdsError(message=f"Container {container_name} of {arn} logs with {driver}, not awslogs: give log_group instead")
    elif len(with_awslogs) == 1:
        chosen = with_awslogs[0]
    elif not with_awslogs:
        raise EcsRdsError(message=f"No container of {arn} logs with awslogs: give log_group instead")
    else:
        names = ", ".join(c["name"] for c in with_awslogs)
        raise EcsRdsError(message=f"Several containers of {arn} log with awslogs ({names}): give container_name")
    options = chosen["logConfiguration"].get("options") or {}
    if not options.get("awslogs-group"):
        raise EcsRdsError(message=f"Container {chosen['name']} of {arn} has no awslogs-group option")
    return AwslogsTarget(chosen["name"], options["awslogs-group"], options.get("awslogs-stream-prefix") or None, options.get("awslogs-region") or None)


def task_id(task_arn: str) -> str:
    """arn:aws:ecs:<region>:<account>:task/<cluster>/<id> (or the old task/<id>) -> <id>."""
    return task_arn.rsplit("/", 1)[-1]


def task_stream_names(target: AwslogsTarget, task_arns: Iterable[str]) -> List[str]:
    """The awslogs driver names a task's stream ``<prefix>/<container>/<task-id>``."""
    return sorted(f"{target.prefix}/{target.container}/{task_id(arn)}" for arn in task_arns)


def format_ms(epoch_ms: int) -> str:
    return datetime.datetime.fromtimestamp(epoch_ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _shorten(message: str) -> str:
    message = message.rstrip("\n")
    return message if len(message) <= _LINE_CHARS else message[:_LINE_CHARS] + "..."


@dataclass
class Scan:
    """What the polls have read so far: a cursor, the events seen, the last lines."""

    start: int
    newest: int = 0
    streams: Tuple[str, ...] = ()
    seen: Set[str] = field(default_factory=set)
    last_lines: Deque[str] = field(default_factory=lambda: collections.deque(maxlen=LAST_LINES))
    lines_read: int = 0

    def since(self, streams: Sequence[str]) -> int:
        """Where the next read starts: a little behind the newest line seen, or at the start again
        when the streams changed (a new task's stream holds lines from before the newest one)."""
        if tuple(streams) != self.streams:
            self.streams, self.newest = tuple(streams), 0
        return max(self.start, self.newest - INGESTION_LAG_MS)

    def take(self, events: Sequence[Dict[str, Any]], regex: "re.Pattern[str]") -> Optional[Dict[str, Any]]:
        """The earliest new event at or after ``since`` whose message matches, or None; the cursor
        moves on so the next poll reads only what is new."""
        fresh = [e for e in events if e.get("timestamp", 0) >= self.start and _event_key(e) not in self.seen]
        fresh.sort(key=lambda e: (e.get("timestamp", 0), e.get("ingestionTime", 0)))
        for event in fresh:
            self.seen.add(_event_key(event))
            self.lines_read += 1
            message = event.get("message", "")
            if regex.search(message):
                return event
            self.last_lines.append(f"[{event.get('logStreamName')}] {_shorten(message)}")
        if fresh:
            self.newest = max(self.newest, fresh[-1].get("timestamp", 0))
        return None


def _event_key(event: Dict[str, Any]) -> str:
    return event.get("eventId") or f"{event.get('logStreamName')}@{event.get('timestamp')}@{event.get('message')}"


def match_result(event: Dict[str, Any], group: str, start_time: int) -> Dict[str, Any]:
    return {
        "matched": True,
        "line": event.get("message", "").rstrip("\n"),
        "log_stream": event.get("logStreamName"),
        "timestamp": event.get("timestamp"),
        "log_group": group,
        "start_time": start_time,
    }


# ---------------------------------------------------------------------------------------------
# AWS


class LogsReads:
    """The two CloudWatch Logs reads this area makes, retried, every page."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def stream_names(self, group: str, prefix: Optional[str]) -> Optional[List[str]]:
        """Streams of ``group`` (starting with ``prefix``); None when the group does not exist."""
        names: List[str] = []
        kwargs: Dict[str, Any] = {"logGroupName": group}
        if prefix:
            kwargs["logStreamNamePrefix"] = prefix
        while True:
            page = call(self.client, "describe_log_streams", f"describe log streams of {group}", not_found=("ResourceNotFoundException",), **kwargs)
            if page is None:
                return None
            names += [s["logStreamName"] for s in page.get("logStreams", []) if not prefix or s["logStreamName"].startswith(prefix)]
            token = page.get("nextToken")
            if not token or token == kwargs.get("nextToken"):
                return names
            kwargs["nextToken"] = token

    def events(self, group: str, streams: Sequence[str], since: int) -> List[Dict[str, Any]]:
        """Every event of ``streams`` at or after ``since`` (epoch ms), without a filter pattern."""
        events: List[Dict[str, Any]] = []
        for start in range(0, len(streams), 100):  # FilterLogEvents takes at most 100 stream names
            kwargs: Dict[str, Any] = {"logGroupName": group, "logStreamNames": list(streams[start:start + 100]), "startTime": since}
            while True:
                page = call(self.client, "filter_log_events", f"read log events of {group}", not_found=("ResourceNotFoundException",), **kwargs)
                if page is None:
                    break
                events += page.get("events", [])
                token = page.get("nextToken")
                if not token or token == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = token
        return events


class LogExpectation:
    """Wait, bounded, for a line matching ``pattern`` in a log group (optionally the streams with a
    prefix), or in the awslogs streams of the tasks of an ECS service's current deployment."""

    def __init__(
        self,
        logs: LogsReads,
        ecs: Optional[ServiceReads],
        params: Dict[str, Any],
        region: Optional[str] = None,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.logs = logs
        self.ecs = ecs
        self.params = params
        self.region = region
        self.regex = compile_pattern(params["pattern"])
        start_time = params.get("start_time")
        self.start_time = start_time if start_time is not None else default_start_time(now_ms())
        self._targets: Dict[str, AwslogsTarget] = {}  # a revision never changes: described once

    # Where to read: (group, stream names or None for "by prefix", words for messages, extra result keys)

    def _service_streams(self) -> Tuple[str, List[str], str, Dict[str, Any]]:
        if self.ecs is None:  # the module builds the ECS reads whenever service is given
            raise EcsRdsError(message="service mode needs an ECS client")
        cluster, name = self.params["cluster"], self.params["service"]
        service = self.ecs.describe_service(cluster, name)
        revision = service["taskDefinition"]
        deployment_id = (primary_deployment(service) or {}).get("id")
        if revision not in self._targets:
            self._targets[revision] = awslogs_target(self.ecs.describe_task_definition(revision)[0], self.params.get("container_name"))
        target = self._targets[revision]
        if target.region and self.region and target.region != self.region:
            raise EcsRdsError(message=f"Container {target.container} logs to region {target.region}: run the module with region {target.region}")
        if not target.prefix:
            raise EcsRdsError(
                message=f"Container {target.container} of {revision} has no awslogs-stream-prefix, so its streams cannot be told apart: give log_group"
            )
        tasks = []
        for status in ("RUNNING", "STOPPED"):
            tasks += self.ecs.tasks_of_deployment(cluster, service["serviceName"], revision, deployment_id, status=status)
        streams = task_stream_names(target, {t["taskArn"] for t in tasks})
        where = (
            f"the streams {target.prefix}/{target.container}/<task-id> of the {len(streams)} task(s) of deployment "
            f"{deployment_id} of service {service['serviceName']} ({revision})"
        )
        return target.group, streams, where, {"deployment_id": deployment_id, "log_streams": streams}

    def _prefix_streams(self) -> Tuple[str, Optional[List[str]], str, Dict[str, Any]]:
        group, prefix = self.params["log_group"], self.params.get("log_stream_prefix")
        streams = self.logs.stream_names(group, prefix)
        where = f"streams starting with {prefix!r}" if prefix else "all its streams"
        return group, streams, where, {"log_streams": streams or []}

    def run(self) -> Dict[str, Any]:
        scan = Scan(self.start_time)
        last: Dict[str, Any] = {}

        def check() -> Optional[Dict[str, Any]]:
            group, streams, where, extra = self._service_streams() if self.params.get("service") else self._prefix_streams()
            last.update(group=group, where=where, missing=streams is None)
            if not streams:
                return None
            event = scan.take(self.logs.events(group, streams, scan.since(streams)), self.regex)
            if event is None:
                return None
            return dict(match_result(event, group, self.start_time), **extra)

        timeout = self.params["wait_timeout"]
        try:
            return wait_for(check, timeout, "a matching log line", delay=self.params["poll_interval"])
        except EcsRdsError as exc:
            if not exc.message.startswith("Timed out"):
                raise
            raise EcsRdsError(message=self._not_found_message(scan, last, timeout), matched=False, last_lines=list(scan.last_lines),
                              start_time=self.start_time, log_group=last.get("group"))

    def _not_found_message(self, scan: Scan, last: Dict[str, Any], timeout: int) -> str:
        message = (
            f"No log line matching '{self.params['pattern']}' in log group {last.get('group')} ({last.get('where')}) "
            f"since {format_ms(self.start_time)} (start_time {self.start_time}) after waiting {timeout} seconds"
        )
        if last.get("missing"):
            return message + "; the log group does not exist"
        if scan.last_lines:
            return message + f"; {scan.lines_read} line(s) read, the last ones: " + " | ".join(scan.last_lines)
        return message + "; no line at all was logged there since then"


def log_expectation_problem(params: Mapping[str, Any]) -> Optional[str]:
    for option, least in (("wait_timeout", 0), ("poll_interval", 1), ("start_time", 0)):
        if params[option] is not None and params[option] < least:
            return f"{option} must be {least} or more, got {params[option]}"
    return None


def run_log_expectation(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """cloudwatch_logs_expect (read-only): the line found, or an error saying what was read."""
    ecs = ServiceReads(clients("ecs")) if params["service"] else None
    result = LogExpectation(LogsReads(clients("logs")), ecs, params, region=clients.region).run()
    return Outcome(False, result)
