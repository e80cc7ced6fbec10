"""ecsrds.connect.cloudwatch_logs_expect against moto: the line of the service's current deployment
is found (check mode too), older lines and other deployments' streams are ignored, a missing line
times out with a clear message, and the module sends no write call."""

from __future__ import annotations

import time

from support.sandbox import write_calls

from support.demo_environment import build_demo_environment, log_app_start

DEFAULTS = {"module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}}}
HIKARI = "HikariPool-1 - Added connection org.postgresql.jdbc.PgConnection@1f2e3d4c"


def _expect(name, **options):
    return {"name": name, "ecsrds.connect.cloudwatch_logs_expect": dict(wait_timeout=0, **options), "ignore_errors": True}


def test_finds_the_current_deployments_line_and_nothing_older(moto, play):
    env = build_demo_environment(moto.client)
    ecs, logs = moto.client("ecs"), moto.client("logs")
    now = int(time.time() * 1000)

    # An older deployment's task connected an hour ago: its stream must not count for the new one.
    logs.create_log_stream(logGroupName=env["log_group"], logStreamName="ecs/app/0123456789abcdef0123456789abcdef")
    logs.put_log_events(logGroupName=env["log_group"], logStreamName="ecs/app/0123456789abcdef0123456789abcdef",
                        logEvents=[{"timestamp": now - 3_600_000, "message": HIKARI}])

    base = ecs.describe_task_definition(taskDefinition=env["task_definition_arn"])["taskDefinition"]
    keep = ("containerDefinitions", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")
    body = {key: base[key] for key in keep}
    body["containerDefinitions"][0]["environment"] = [{"name": "DATABASE_URL", "value": "jdbc:postgresql://db:5432/postgres"}]
    revision = ecs.register_task_definition(family=base["family"], **body)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=env["cluster"], service=env["service"], taskDefinition=revision, forceNewDeployment=True)
    started = log_app_start(moto.client)  # the new deployment's tasks log the line (data: this test reads logs)
    assert started and len(started["log_streams"]) == 2

    service = dict(cluster=env["cluster"], service=env["service"], container_name="app")
    moto.start_recording()
    run = play([dict(hosts="localhost", gather_facts=False, tasks=[
        _expect("service", **service),
        dict(_expect("service in check mode", **service), check_mode=True),
        _expect("only before start_time", log_group=env["log_group"], log_stream_prefix="ecs/app/0123"),
        _expect("not logged", pattern=r"Flyway Community Edition \d+", **service),
    ], **DEFAULTS)])
    calls = moto.stop_recording()
    assert run.rc == 0, run.stdout[-3000:]

    for name in ("service", "service in check mode"):
        found = run.result(name)
        assert not found.get("failed") and found["matched"] and not found["changed"], found
        assert found["line"].startswith("HikariPool-1 - Added connection org.postgresql")
        assert found["log_stream"] in started["log_streams"] and found["deployment_id"] == started["deployment_id"]
        assert sorted(found["log_streams"]) == sorted(started["log_streams"])

    older = run.result("only before start_time")
    assert older["failed"] and older["matched"] is False
    assert f"in log group {env['log_group']} (streams starting with 'ecs/app/0123')" in older["msg"]
    assert "no line at all was logged there since then" in older["msg"]

    missing = run.result("not logged")
    assert missing["failed"]
    assert r"No log line matching 'Flyway Community Edition \d+'" in missing["msg"]
    assert f"of deployment {started['deployment_id']} of service {env['service']}" in missing["msg"]
    assert "HikariPool-1 - Start completed." in missing["msg"] and missing["last_lines"]

    assert write_calls(calls) == []
    assert {c.operation for c in calls} >= {"FilterLogEvents", "DescribeServices", "DescribeTasks"}
