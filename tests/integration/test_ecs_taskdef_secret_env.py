"""ecsrds.connect.ecs_taskdef_secret_env through Ansible against moto: check mode, apply, re-run,
changes, pinned base revision, purge, diff output and bad input, each case a task of a few
playbook runs, with the write calls of each run counted on the moto server."""

from __future__ import annotations

import copy
from typing import Any, Dict

import pytest

from support.sandbox import write_calls

FAMILY = "web"
ACCOUNT = "123456789012"
MODULE = "ecsrds.connect.ecs_taskdef_secret_env"
# Stored in the secret the tests reference; no module output may ever contain it.
SECRET_PASSWORD = "n0t-in-any-output-7f3c"
SSM_ARN = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/web/api-token"

BASE: Dict[str, Any] = dict(
    family=FAMILY,
    networkMode="awsvpc",
    requiresCompatibilities=["FARGATE"],
    cpu="512",
    memory="1024",
    executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/web-execution",
    taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/web-task",
    runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
    ephemeralStorage={"sizeInGiB": 30},
    volumes=[{"name": "scratch"}],
    tags=[{"key": "team", "value": "payments"}, {"key": "Env", "value": "dev"}],
    containerDefinitions=[
        {
            "name": "app",
            "image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web:1.4.2",
            "essential": True,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "DB_PASSWORD", "value": "changeme"},
            ],
            "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/tmp/scratch"}],
            "dockerLabels": {"com.example.Owner": "payments"},
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "app"},
            },
            "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"], "interval": 30, "retries": 3},
        },
        {
            "name": "sidecar",
            "image": "public.ecr.aws/aws-observability/aws-otel-collector:latest",
            "essential": False,
            "environment": [{"name": "OTEL_MODE", "value": "agent"}],
        },
    ],
)


def register(ecs, **changes) -> str:
    definition = copy.deepcopy(BASE)
    definition.update(changes)
    return ecs.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]


def database_secret(moto) -> str:
    return moto.client("secretsmanager").create_secret(
        Name="rds!cluster-web", SecretString=f'{{"username": "app", "password": "{SECRET_PASSWORD}"}}'
    )["ARN"]


def normalised(ecs, reference: str) -> Dict[str, Any]:
    """A revision as register parameters only, env/secrets as maps, tags as a dict."""
    response = ecs.describe_task_definition(taskDefinition=reference, include=["TAGS"])
    allowed = set(ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members)
    result = {k: v for k, v in response["taskDefinition"].items() if k in allowed}
    for container in result["containerDefinitions"]:
        container["environment"] = {p["name"]: p["value"] for p in container.get("environment", [])}
        container["secrets"] = {p["name"]: p["valueFrom"] for p in container.get("secrets", [])}
    result["tags"] = {t["key"]: t["value"] for t in response.get("tags", [])}
    return result


def task(name: str, check_mode: bool = False, ignore_errors: bool = False, diff: bool = False, **args) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"name": name, MODULE: args}
    if check_mode:
        entry["check_mode"] = True
    if ignore_errors:
        entry["ignore_errors"] = True
    if diff:
        entry["diff"] = True
    return entry


def playbook(*tasks) -> list:
    return [{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}]


def no_secret_value(run) -> None:
    assert SECRET_PASSWORD not in run.stdout
    assert SECRET_PASSWORD not in run.stderr


def test_check_mode_and_bad_input_make_no_write_call(moto, play):
    ecs = moto.client("ecs")
    base_arn = register(ecs)
    secret_arn = database_secret(moto)
    good = dict(family=FAMILY, container_name="app")
    bad = {
        "unknown family": dict(family="nope", container_name="app", environment={"A": "1"}),
        "unknown revision": dict(task_definition=f"{FAMILY}:99", container_name="app", environment={"A": "1"}),
        "unknown container": dict(good, container_name="worker", environment={"A": "1"}),
        "both plain and secret": dict(good, environment={"TOKEN": "x"}, secrets={"TOKEN": SSM_ARN}),
        "both plain and secret key": dict(good, environment={"DB_USER": "x"}, secret_arn=secret_arn, secret_keys={"DB_USER": "username"}),
        "secrets and secret_keys": dict(good, secrets={"DB_USER": SSM_ARN}, secret_arn=secret_arn, secret_keys={"DB_USER": "username"}),
        "truncated secret arn": dict(good, secrets={"TOKEN": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret"}),
        "json key without stage and id": dict(good, secrets={"TOKEN": f"{secret_arn}:password"}),
        "not a parameter name": dict(good, secrets={"TOKEN": "my token"}),
        "arn of another service": dict(good, secrets={"TOKEN": f"arn:aws:s3:::bucket/{FAMILY}"}),
        "secret_keys without secret_arn": dict(good, secret_keys={"DB_USER": "username"}),
        "secret_arn with a json key": dict(good, secret_arn=f"{secret_arn}:password::", secret_keys={"DB_USER": "username"}),
        "list as env value": dict(good, environment={"HOSTS": ["a", "b"]}),
        "family and revision disagree": dict(family="other", task_definition=base_arn, container_name="app", environment={"A": "1"}),
        "neither family nor revision": dict(container_name="app", environment={"A": "1"}),
    }
    tasks = [
        task(
            "check",
            check_mode=True,
            diff=True,
            **good,
            environment={"DB_HOST": "db.example.internal", "DB_PORT": 5432},
            secret_arn=secret_arn,
            secret_keys={"DB_PASSWORD": "password"},
            tags={"managed-by": "ecsrds.connect"},
        )
    ]
    tasks += [task(name, ignore_errors=True, **args) for name, args in bad.items()]

    moto.start_recording()
    run = play(playbook(*tasks))
    calls = moto.stop_recording()
    assert write_calls(calls) == []
    assert {call.operation for call in calls} == {"DescribeTaskDefinition"}
    no_secret_value(run)

    check = run.result("check")
    assert check["changed"] is True
    assert check["task_definition_arn"] is None and check["revision"] is None
    assert check["task_definition"]["task_definition_arn"] is None and check["task_definition"]["revision"] is None
    assert check["previous_task_definition_arn"] == base_arn
    assert check["family"] == FAMILY
    assert check["environment"] == {"LOG_LEVEL": "info", "DB_HOST": "db.example.internal", "DB_PORT": "5432"}
    assert check["secrets"] == {"DB_PASSWORD": f"{secret_arn}:password::"}
    assert check["task_definition"]["tags"] == {"team": "payments", "Env": "dev", "managed-by": "ecsrds.connect"}
    # Map-typed fields keep their keys as written; structures are snake_cased.
    app = check["task_definition"]["container_definitions"][0]
    assert app["docker_labels"] == {"com.example.Owner": "payments"}
    assert app["log_configuration"]["options"]["awslogs-stream-prefix"] == "app"
    # Being moved to a secret: its old plaintext is withheld from the diff.
    assert check["diff"]["before"]["environment"]["DB_PASSWORD"] == "<redacted>"
    assert "DB_PASSWORD" not in check["diff"]["after"]["environment"]

    expected_words = {
        "unknown family": ["family", "'nope'"],
        "unknown revision": ["task_definition", f"{FAMILY}:99"],
        "unknown container": ["container_name", "'worker'", "app, sidecar"],
        "both plain and secret": ["environment and secrets", "TOKEN"],
        "both plain and secret key": ["environment and secret_keys", "DB_USER"],
        "secrets and secret_keys": ["secrets and secret_keys", "DB_USER"],
        "truncated secret arn": ["secrets:", "TOKEN"],
        "json key without stage and id": ["secrets:", "TOKEN", "json-key"],
        "not a parameter name": ["secrets:", "TOKEN", "SSM parameter name"],
        "arn of another service": ["secrets:", "TOKEN"],
        "secret_keys without secret_arn": ["secret_keys needs secret_arn"],
        "secret_arn with a json key": ["secret_arn", "without a JSON key"],
        "list as env value": ["environment:", "HOSTS", "list"],
        "family and revision disagree": ["task_definition", "'other'"],
        "neither family nor revision": ["family", "task_definition"],
    }
    for name, words in expected_words.items():
        result = run.result(name)
        assert result["failed"], name
        for word in words:
            assert word in result["msg"], (name, word, result["msg"])
    assert ecs.list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"] == [base_arn]


def test_apply_keeps_every_other_field_and_rerun_changes_nothing(moto, play):
    ecs = moto.client("ecs")
    base_arn = register(ecs)
    secret_arn = database_secret(moto)
    args = dict(
        family=FAMILY,
        container_name="app",
        environment={"DB_HOST": "db.example.internal", "DB_PORT": 5432, "DB_SSL": True},
        secret_arn=secret_arn,
        secret_keys={"DB_USER": "username", "DB_PASSWORD": "password"},
        secrets={"API_TOKEN": SSM_ARN},
        tags={"managed-by": "ecsrds.connect"},
    )

    moto.start_recording()
    run = play(playbook(task("apply", diff=True, **args), task("again", **args), task("again in check mode", check_mode=True, **args)))
    calls = moto.stop_recording()
    assert run.rc == 0, run.stdout
    no_secret_value(run)
    # The re-runs, real and checked, did not write: the one write is the apply's.
    assert [c.operation for c in write_calls(calls)] == ["RegisterTaskDefinition"]
    # Secrets are references only: no Secrets Manager or SSM call at all.
    assert {c.service for c in calls} == {"ecs"}

    applied = run.result("apply")
    assert applied["changed"] is True
    assert not applied.get("warnings")
    assert applied["revision"] == 2
    assert applied["task_definition_arn"].endswith(f"task-definition/{FAMILY}:2")
    assert applied["previous_task_definition_arn"] == base_arn
    assert applied["environment"] == {"LOG_LEVEL": "info", "DB_HOST": "db.example.internal", "DB_PORT": "5432", "DB_SSL": "true"}
    assert applied["secrets"] == {
        "API_TOKEN": SSM_ARN,
        "DB_PASSWORD": f"{secret_arn}:password::",
        "DB_USER": f"{secret_arn}:username::",
    }
    assert applied["diff"]["before"]["environment"] == {"LOG_LEVEL": "info", "DB_PASSWORD": "<redacted>"}
    assert applied["diff"]["after"]["environment"] == applied["environment"]
    assert applied["diff"]["before"]["secrets"] == {}
    assert applied["diff"]["after"]["secrets"] == applied["secrets"]

    for name in ("again", "again in check mode"):
        rerun = run.result(name)
        assert rerun["changed"] is False, name
        assert rerun["task_definition_arn"] == applied["task_definition_arn"], name
        assert rerun["environment"] == applied["environment"] and rerun["secrets"] == applied["secrets"], name
        assert "diff" not in rerun, name

    before, after = normalised(ecs, base_arn), normalised(ecs, applied["task_definition_arn"])
    assert set(before) == set(after)
    for field in before:
        if field not in ("containerDefinitions", "tags"):
            assert after[field] == before[field], field
    assert after["tags"] == dict(before["tags"], **{"managed-by": "ecsrds.connect"})
    assert after["containerDefinitions"][1] == before["containerDefinitions"][1]
    app_before, app_after = before["containerDefinitions"][0], after["containerDefinitions"][0]
    for field in set(app_before) | set(app_after):
        if field not in ("environment", "secrets"):
            assert app_after.get(field) == app_before.get(field), field
    assert app_after["environment"] == applied["environment"]
    assert app_after["secrets"] == applied["secrets"]
    # Existing variables keep their place; new ones follow in name order.
    raw = ecs.describe_task_definition(taskDefinition=applied["task_definition_arn"])["taskDefinition"]
    assert [p["name"] for p in raw["containerDefinitions"][0]["environment"]] == ["LOG_LEVEL", "DB_HOST", "DB_PORT", "DB_SSL"]
    assert applied["task_definition"]["tags"] == after["tags"]


def test_changes_pinned_base_purge_and_tags(moto, play):
    ecs = moto.client("ecs")
    first = register(ecs)
    second_containers = copy.deepcopy(BASE["containerDefinitions"])
    second_containers[0]["image"] = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web:1.5.0"
    second_containers[0]["secrets"] = [{"name": "API_TOKEN", "valueFrom": SSM_ARN}]
    second = register(ecs, containerDefinitions=second_containers)
    app = dict(family=FAMILY, container_name="app")

    moto.start_recording()
    run = play(
        playbook(
            task("new value", **app, environment={"LOG_LEVEL": "debug"}),
            task("same value", **app, environment={"LOG_LEVEL": "debug"}),
            task("pinned", task_definition=f"{FAMILY}:1", container_name="app", environment={"FEATURE": "on"}),
            task("pinned again by arn", task_definition=first, container_name="app", environment={"FEATURE": "on"}),
            task("purge", **app, environment={"ONLY": "this"}, purge_environment=True),
            task("purge secrets", **app, secrets={"TOKEN": "/web/token"}, purge_secrets=True),
            task("tags only", **app, tags={"release": "2026-11"}),
            task("sidecar", family=FAMILY, container_name="sidecar", environment={"OTEL_MODE": "agent"}),
        )
    )
    calls = moto.stop_recording()
    assert run.rc == 0, run.stdout
    assert [c.operation for c in write_calls(calls)] == ["RegisterTaskDefinition"] * 4

    new_value = run.result("new value")
    assert new_value["changed"] and new_value["revision"] == 3
    assert new_value["previous_task_definition_arn"] == second
    assert new_value["environment"]["LOG_LEVEL"] == "debug"
    # Built from revision 2, the family's latest: its image and secret are carried over.
    assert new_value["secrets"] == {"API_TOKEN": SSM_ARN}
    assert new_value["task_definition"]["container_definitions"][0]["image"].endswith("web:1.5.0")

    assert run.result("same value")["changed"] is False
    assert run.result("same value")["revision"] == 3

    pinned = run.result("pinned")
    assert pinned["changed"] and pinned["revision"] == 4
    assert pinned["previous_task_definition_arn"] == first
    # A name that looks secret never shows its value, even as a plain variable.
    assert pinned["environment"] == {"LOG_LEVEL": "info", "DB_PASSWORD": "<redacted>", "FEATURE": "on"}
    assert pinned["secrets"] == {}
    assert pinned["task_definition"]["container_definitions"][0]["image"].endswith("web:1.4.2")

    # Same old base, same change: the latest revision already is the result, so it is reused.
    again = run.result("pinned again by arn")
    assert again["changed"] is False and again["revision"] == 4
    assert again["previous_task_definition_arn"] == first

    purge = run.result("purge")
    assert purge["revision"] == 5 and purge["previous_task_definition_arn"].endswith(f"{FAMILY}:4")
    assert purge["environment"] == {"ONLY": "this"}
    purge_secrets = run.result("purge secrets")
    assert purge_secrets["revision"] == 6
    assert purge_secrets["secrets"] == {"TOKEN": "/web/token"}
    assert purge_secrets["environment"] == {"ONLY": "this"}

    # Tags record what a registration did; alone they never make a revision.
    tags_only = run.result("tags only")
    assert tags_only["changed"] is False and tags_only["revision"] == 6
    assert tags_only["task_definition"]["tags"] == {"team": "payments", "Env": "dev"}
    assert tags_only["environment"] == purge["environment"] and tags_only["secrets"] == purge_secrets["secrets"]

    sidecar = run.result("sidecar")
    assert sidecar["changed"] is False and sidecar["revision"] == 6
    assert sidecar["environment"] == {"OTEL_MODE": "agent"}

    latest = normalised(ecs, FAMILY)
    assert latest["containerDefinitions"][1] == normalised(ecs, first)["containerDefinitions"][1]


@pytest.mark.parametrize("check", [True, False])
def test_playbook_level_check_and_diff_flags(moto, play, check):
    """--check and --diff on the command line, as a user would run it."""
    ecs = moto.client("ecs")
    register(ecs)
    moto.start_recording()
    run = play(playbook(task("set", family=FAMILY, container_name="app", environment={"LOG_LEVEL": "warn"})), check=check, diff=True)
    calls = moto.stop_recording()
    assert run.rc == 0, run.stdout
    result = run.result("set")
    assert result["changed"] is True
    assert result["diff"]["before"]["environment"]["LOG_LEVEL"] == "info"
    assert result["diff"]["after"]["environment"]["LOG_LEVEL"] == "warn"
    assert (result["revision"] is None) == check
    assert len(write_calls(calls)) == (0 if check else 1)


def test_secret_looking_values_appear_in_no_output_even_at_vvv(moto, play):
    """The module's logged arguments (-vvv), its diff and its results never hold the value of a
    variable whose name looks secret, nor the old plaintext of one moved to a secret."""
    register(moto.client("ecs"))
    secret_arn = database_secret(moto)
    token = "tok-plain-7d41e9"
    run = play(playbook(
        task("plain token", diff=True, family=FAMILY, container_name="app", environment={"API_TOKEN": token, "LOG_LEVEL": "debug"}),
        task("move the password", diff=True, family=FAMILY, container_name="app", secret_arn=secret_arn,
             secret_keys={"DB_PASSWORD": "password"}),
    ), extra_args=["-vvv"])
    assert run.rc == 0, run.stdout[-3000:]
    for value in (token, "changeme", SECRET_PASSWORD):
        assert value not in run.stdout and value not in run.stderr, value
    # The variables themselves are there: only their values are withheld.
    assert "API_TOKEN" in run.stdout and "<redacted>" in run.stdout and "debug" in run.stdout
    definition = moto.client("ecs").describe_task_definition(taskDefinition=FAMILY)["taskDefinition"]
    assert {"name": "API_TOKEN", "value": token} in definition["containerDefinitions"][0]["environment"]
