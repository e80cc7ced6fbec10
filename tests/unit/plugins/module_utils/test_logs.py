"""logs: the awslogs target of a revision, the scan's cursor, and the bounded wait for a line (fake
clients shaped like CloudWatch Logs' and ECS's answers)."""

from __future__ import annotations

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.ecs_service import ServiceReads
from ansible_collections.ecsrds.connect.plugins.module_utils.logs import (
    DEFAULT_PATTERN,
    LogExpectation,
    LogsReads,
    awslogs_target,
    task_stream_names,
)

HIKARI = ("2026-12-02 06:01:02.345  INFO 1 --- [main] com.zaxxer.hikari.pool.HikariPool : "
          "HikariPool-1 - Added connection org.postgresql.jdbc.PgConnection@5b6ec132")
GROUP = "/ecs/demo-ecs-task"
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/demo-ecs-task:2"
CURRENT, OLDER = "ecs-svc/200", "ecs-svc/100"
T1 = "arn:aws:ecs:us-east-1:123456789012:task/demo-ecs-cluster/11111111111111111111111111111111"
T2 = "arn:aws:ecs:us-east-1:123456789012:task/demo-ecs-cluster/22222222222222222222222222222222"
T_OLD = "arn:aws:ecs:us-east-1:123456789012:task/demo-ecs-cluster/99999999999999999999999999999999"


def _container(name, driver="awslogs", prefix="ecs"):
    options = {"awslogs-group": GROUP, "awslogs-region": "us-east-1"}
    if prefix:
        options["awslogs-stream-prefix"] = prefix
    return {"name": name, "logConfiguration": {"logDriver": driver, "options": options}}


class TestAwslogsTarget:
    def test_the_only_awslogs_container_by_default(self):
        target = awslogs_target({"taskDefinitionArn": TD, "containerDefinitions": [_container("app"), _container("side", driver="json-file")]}, None)
        assert (target.container, target.group, target.prefix) == ("app", GROUP, "ecs")
        assert task_stream_names(target, [T2, T1]) == ["ecs/app/11111111111111111111111111111111", "ecs/app/22222222222222222222222222222222"]

    def test_several_need_container_name(self):
        definition = {"taskDefinitionArn": TD, "containerDefinitions": [_container("app"), _container("worker")]}
        with pytest.raises(EcsRdsError, match="Several containers.*app, worker.*give container_name"):
            awslogs_target(definition, None)
        assert awslogs_target(definition, "worker").container == "worker"

    def test_unknown_or_non_awslogs_container_is_named(self):
        definition = {"taskDefinitionArn": TD, "containerDefinitions": [_container("app", driver="json-file")]}
        with pytest.raises(EcsRdsError, match="container_name 'web' is not a container"):
            awslogs_target(definition, "web")
        with pytest.raises(EcsRdsError, match="logs with json-file, not awslogs: give log_group"):
            awslogs_target(definition, "app")


class FakeLogs:
    """FilterLogEvents and DescribeLogStreams over stored streams, paginated two events a page."""

    def __init__(self, streams=None, group_exists=True):
        self.streams = streams or {}  # name -> [(timestamp, message)]
        self.group_exists = group_exists
        self.calls = []

    def _missing(self):
        from botocore.exceptions import ClientError

        return ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "The specified log group does not exist."}}, "x")

    def describe_log_streams(self, aws_retry=False, **kw):
        self.calls.append(("describe_log_streams", kw))
        if not self.group_exists:
            raise self._missing()
        prefix = kw.get("logStreamNamePrefix", "")
        return {"logStreams": [{"logStreamName": n} for n in sorted(self.streams) if n.startswith(prefix)]}

    def filter_log_events(self, aws_retry=False, **kw):
        self.calls.append(("filter_log_events", kw))
        if not self.group_exists:
            raise self._missing()
        events = [
            {"logStreamName": name, "timestamp": ts, "message": message, "ingestionTime": ts + 5, "eventId": f"{name}-{ts}-{i}"}
            for name in kw["logStreamNames"] for i, (ts, message) in enumerate(self.streams.get(name, [])) if ts >= kw["startTime"]
        ]
        start = int(kw.get("nextToken") or 0)
        page = events[start:start + 2]
        token = str(start + 2) if start + 2 < len(events) else None
        return {"events": page, **({"nextToken": token} if token else {})}


class FakeEcs:
    def __init__(self, tasks):
        self.tasks = tasks
        self.calls = []

    def describe_services(self, aws_retry=False, **kw):
        self.calls.append(("describe_services", kw))
        deployments = [{"id": CURRENT, "status": "PRIMARY", "taskDefinition": TD, "rolloutState": "COMPLETED"},
                       {"id": OLDER, "status": "ACTIVE", "taskDefinition": TD, "rolloutState": "COMPLETED"}]
        return {"services": [{"serviceName": "svc", "status": "ACTIVE", "taskDefinition": TD, "deployments": deployments}]}

    def describe_task_definition(self, aws_retry=False, **kw):
        self.calls.append(("describe_task_definition", kw))
        return {"taskDefinition": {"taskDefinitionArn": TD, "containerDefinitions": [_container("app")]}}

    def get_paginator(self, name):
        self.calls.append((name, {}))
        tasks = self.tasks

        class Pages:
            def paginate(self, **kw):
                self.status = kw["desiredStatus"]
                return self

            def build_full_result(self):
                return {"taskArns": [t["taskArn"] for t in tasks if t["lastStatus"] == self.status]}

        return Pages()

    def describe_tasks(self, aws_retry=False, **kw):
        self.calls.append(("describe_tasks", kw))
        return {"tasks": [t for t in self.tasks if t["taskArn"] in kw["tasks"]]}


def _task(arn, started_by, status="RUNNING"):
    return {"taskArn": arn, "group": "service:svc", "taskDefinitionArn": TD, "startedBy": started_by, "lastStatus": status}


def _params(**overrides):
    base = dict(log_group=GROUP, log_stream_prefix=None, cluster=None, service=None, container_name=None, pattern=DEFAULT_PATTERN,
                start_time=1000, wait_timeout=0, poll_interval=0)
    base.update(overrides)
    return base


def _expect(logs, ecs=None, **params):
    return LogExpectation(LogsReads(logs), ServiceReads(ecs) if ecs else None, _params(**params), region="us-east-1").run()


READS = {"describe_log_streams", "filter_log_events", "describe_services", "describe_task_definition", "list_tasks", "describe_tasks"}


class TestExpectation:
    def test_finds_the_line_across_pages(self):
        logs = FakeLogs({"ecs/app/1": [(1001, "Starting"), (1002, "HikariPool-1 - Starting..."), (1003, HIKARI)]})
        result = _expect(logs)
        assert result["matched"] and result["line"] == HIKARI and result["log_stream"] == "ecs/app/1" and result["timestamp"] == 1003
        assert {name for name, _kwargs in logs.calls} <= READS

    def test_ignores_lines_before_start_time(self):
        logs = FakeLogs({"ecs/app/1": [(900, HIKARI), (1001, "Started Application in 4.2 seconds")]})
        with pytest.raises(EcsRdsError) as error:
            _expect(logs)
        message = error.value.message
        assert message.startswith(f"No log line matching '{DEFAULT_PATTERN}' in log group {GROUP} (all its streams) since 1970-01-01T00:00:01.000Z")
        assert "1 line(s) read, the last ones: [ecs/app/1] Started Application in 4.2 seconds" in message
        assert error.value.kwargs["last_lines"] == ["[ecs/app/1] Started Application in 4.2 seconds"]
        assert error.value.kwargs["matched"] is False

    def test_prefix_limits_the_streams(self):
        logs = FakeLogs({"ecs/app/1": [(1001, "nothing")], "other/app/2": [(1001, HIKARI)]})
        with pytest.raises(EcsRdsError, match=r"streams starting with 'ecs/'"):
            _expect(logs, log_stream_prefix="ecs/")
        assert _expect(logs, log_stream_prefix="other/")["log_stream"] == "other/app/2"

    def test_times_out_on_an_empty_or_missing_group(self):
        with pytest.raises(EcsRdsError, match="no line at all was logged there since then"):
            _expect(FakeLogs({"ecs/app/1": []}))
        with pytest.raises(EcsRdsError, match="the log group does not exist"):
            _expect(FakeLogs(group_exists=False))

    def test_a_poll_reads_only_what_is_new_with_a_margin_for_late_ingestion(self):
        newest = 10_000_000
        logs = FakeLogs({"s": [(newest - 1, "a"), (newest, "b")]})
        polls = []

        def appear(**kw):
            polls.append(kw["startTime"])
            if len(polls) == 2:
                # Ingested late: older than the newest line the first poll saw, still found.
                logs.streams["s"].append((newest - 60_000, HIKARI))
            return FakeLogs.filter_log_events(logs, **kw)

        logs.filter_log_events = appear
        assert _expect(logs, wait_timeout=60)["timestamp"] == newest - 60_000
        # One call per page: the first poll from start_time, the next from 5 minutes behind the newest line.
        assert polls[0] == 1000 and set(polls[1:]) == {newest - 5 * 60 * 1000}

    def test_service_mode_reads_only_the_current_deployments_tasks(self):
        tasks = [_task(T1, CURRENT), _task(T2, CURRENT, status="STOPPED"), _task(T_OLD, OLDER)]
        logs = FakeLogs({
            f"ecs/app/{T_OLD.rsplit('/', 1)[1]}": [(1001, HIKARI)],  # an older deployment's task connected
            f"ecs/app/{T2.rsplit('/', 1)[1]}": [(1002, "Started")],
        })
        ecs = FakeEcs(tasks)
        with pytest.raises(EcsRdsError, match=f"2 task\\(s\\) of deployment {CURRENT} of service svc"):
            _expect(logs, ecs, log_group=None, cluster="c", service="svc")
        read = {name for _call_name, kw in logs.calls for name in kw.get("logStreamNames", [])}
        assert read == {f"ecs/app/{T1.rsplit('/', 1)[1]}", f"ecs/app/{T2.rsplit('/', 1)[1]}"}

        logs.streams[f"ecs/app/{T1.rsplit('/', 1)[1]}"] = [(1005, HIKARI)]
        result = _expect(logs, ecs, log_group=None, cluster="c", service="svc")
        assert result["deployment_id"] == CURRENT and result["log_stream"].endswith(T1.rsplit("/", 1)[1])
        assert {name for name, _kwargs in logs.calls + ecs.calls} <= READS  # not one write

    def test_bad_pattern_names_the_option(self):
        with pytest.raises(EcsRdsError, match=r"pattern 'Hikari\(' is not a valid Python regular expression"):
            _expect(FakeLogs(), pattern="Hikari(")

    def test_default_start_time_is_fifteen_minutes_back(self):
        logs = FakeLogs({"s": [(10_000_000 - 15 * 60 * 1000 - 1, HIKARI), (10_000_000 - 15 * 60 * 1000, HIKARI)]})
        job = LogExpectation(LogsReads(logs), None, _params(start_time=None), now_ms=lambda: 10_000_000)
        assert job.run()["timestamp"] == 10_000_000 - 15 * 60 * 1000
