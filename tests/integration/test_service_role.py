"""roles/service against moto: two services sharing the database and an execution role.

Check mode on a fresh account (no secret yet) and with a secret, apply, an idempotent re-run with
no write call, teardown back to the original revisions (nothing else changed since: no copy is
registered); the application's own pipeline releasing beside it; plus the policy the role derives from its
inputs (KMS key forms, policy name).
"""

from __future__ import annotations

import json

from support.sandbox import write_calls

from support import demo_environment

PASSWORD = "Sup3r-S3cret-Pa55word-never-printed"
ENDPOINT = "demo-rds-aurora-postgres.cluster-c1a2b3.us-east-1.rds.amazonaws.com"
POLICY = "ecsrds-connect-demo-rds-aurora-postgres"
MANAGED = "ecsrds.connect/managed"
ORIGINAL = "ecsrds.connect/original-task-definition"
WORKER = "demo-worker"
WORKER_FAMILY = "demo-worker-task"


def _role_play(role_vars, tasks_from="main", check=False):
    tasks = [
        {"name": "apply role", "ansible.builtin.include_role": {"name": "ecsrds.connect.service", "tasks_from": tasks_from}},
    ]
    if tasks_from == "main":
        tasks.append({"name": "results", "ansible.builtin.debug": {"var": "service__results"}})
    return [{
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}},
        "vars": role_vars,
        "tasks": tasks,
    }]


def _environment(moto):
    env = demo_environment.build_demo_environment(moto.client)
    ecs = moto.client("ecs")
    worker_td = ecs.register_task_definition(
        family=WORKER_FAMILY,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        executionRoleArn=env["execution_role_arn"],
        containerDefinitions=[{
            "name": "worker", "image": "public.ecr.aws/docker/library/busybox:latest", "essential": True, "memory": 512,
            "command": ["sh", "-c", "sleep 3600"],
            "environment": [{"name": "QUEUE", "value": "jobs"}],
        }],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=env["cluster"], serviceName=WORKER, taskDefinition=worker_td, desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": env["subnet_ids"], "securityGroups": [env["service_security_group_id"]]}},
    )
    secret_arn = moto.client("secretsmanager").create_secret(
        Name="rds!cluster-8f14e45f-ceea-467f-a8f2-aaaaaaaaaaaa",
        SecretString=json.dumps({"username": "postgres", "password": PASSWORD}),
    )["ARN"]
    env.update(worker_task_definition_arn=worker_td, secret_arn=secret_arn)
    return env


def _vars(env, **overrides):
    values = {
        "service_ecs_cluster": env["cluster"],
        "service_ecs_services": [env["service"], {"name": WORKER, "container_name": "worker"}],
        "service_secret_arn": env["secret_arn"],
        "service_db_endpoint": ENDPOINT,
        "service_db_port": 5432,
        "service_db_cluster_identifier": "demo-rds-aurora-postgres",
        "service_tags": {"team": "payments"},
        # No network role here: without its Secrets Manager endpoint the preflight would rightly stop
        # the rollout (test_ecs_secrets_preflight.py covers it).
        "service_preflight": False,
    }
    values.update(overrides)
    return values


def _container(ecs, arn, name):
    definition = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    container = next(c for c in definition["taskDefinition"]["containerDefinitions"] if c["name"] == name)
    return definition, container


def test_two_services_share_the_database(moto, play):
    env = _environment(moto)
    ecs, iam = moto.client("ecs"), moto.client("iam")
    originals = {env["service"]: env["task_definition_arn"], WORKER: env["worker_task_definition_arn"]}

    # Check mode on a fresh account: no secret, no endpoint yet. Completes, plans, writes nothing.
    moto.start_recording()
    fresh = play(_role_play(_vars(env, service_secret_arn=None, service_db_endpoint=None)), check=True)
    planned = play(_role_play(_vars(env)), check=True)
    calls = moto.stop_recording()
    assert fresh.rc == 0, fresh.stdout
    assert planned.rc == 0, planned.stdout
    assert write_calls(calls) == []
    assert fresh.changed > 0 and planned.changed > 0
    assert fresh.result("results")["service__results"] == [
        {"service": name, "task_definition_arn": None, "previous_task_definition_arn": originals[name], "revision": None, "deployed": True}
        for name in (env["service"], WORKER)
    ]
    assert [r["deployed"] for r in planned.result("results")["service__results"]] == [True, True]

    # Apply. The grant is in place before any service moves.
    moto.start_recording()
    run = play(_role_play(_vars(env)))
    writes = [c.operation for c in write_calls(moto.stop_recording())]
    assert run.rc == 0, run.stdout
    assert writes.index("PutRolePolicy") < writes.index("UpdateService")
    assert writes.count("PutRolePolicy") == 1 and writes.count("UpdateService") == 2
    assert PASSWORD not in run.stdout + run.stderr
    results = {r["service"]: r for r in run.result("results")["service__results"]}
    assert set(results) == {env["service"], WORKER}
    for name, result in results.items():
        assert result["deployed"] is True
        assert result["previous_task_definition_arn"] == originals[name]
        assert result["revision"] == 2
        service = ecs.describe_services(cluster=env["cluster"], services=[name])["services"][0]
        assert service["taskDefinition"] == result["task_definition_arn"]

    # The grant: one inline policy on the shared execution role, exactly this secret.
    assert iam.list_role_policies(RoleName="ecsTaskExecutionRole")["PolicyNames"] == [POLICY]
    document = iam.get_role_policy(RoleName="ecsTaskExecutionRole", PolicyName=POLICY)["PolicyDocument"]
    assert document == {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "ReadDatabaseSecret", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [env["secret_arn"]]}],
    }
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="ecsTaskExecutionRole")["AttachedPolicies"]]
    assert not any("SecretsManager" in arn for arn in attached)

    # The app's revision: variables added, everything else kept, tagged as ours with the original.
    definition, app = _container(ecs, results[env["service"]]["task_definition_arn"], "app")
    original, original_app = _container(ecs, originals[env["service"]], "app")
    assert {e["name"]: e["value"] for e in app["environment"]} == {
        "DATABASE_URL": f"jdbc:postgresql://{ENDPOINT}:5432/postgres", "DATABASE_DRIVER_CLASS": "org.postgresql.Driver"}
    assert sorted(app["secrets"], key=lambda s: s["name"]) == [
        {"name": "DATABASE_PASSWORD", "valueFrom": f"{env['secret_arn']}:password::"},
        {"name": "DATABASE_USERNAME", "valueFrom": f"{env['secret_arn']}:username::"},
    ]
    for key in ("image", "portMappings", "logConfiguration", "essential", "memory"):
        assert app[key] == original_app[key], key
    for key in ("executionRoleArn", "cpu", "memory", "networkMode", "requiresCompatibilities", "family"):
        assert definition["taskDefinition"][key] == original["taskDefinition"][key], key
    tags = {t["key"]: t["value"] for t in definition["tags"]}
    assert tags == {MANAGED: "true", ORIGINAL: originals[env["service"]], "team": "payments",
                    "ecsrds.connect/created-by": "demo-rds-aurora-postgres"}

    # The worker's own container got them, and kept its own variable and command.
    worker_definition, worker = _container(ecs, results[WORKER]["task_definition_arn"], "worker")
    assert {e["name"]: e["value"] for e in worker["environment"]}["QUEUE"] == "jobs"
    assert "DATABASE_URL" in {e["name"] for e in worker["environment"]}
    assert worker["command"] == ["sh", "-c", "sleep 3600"]
    assert {t["key"]: t["value"] for t in worker_definition["tags"]}[ORIGINAL] == originals[WORKER]

    # Re-run: nothing changes, not one write call.
    moto.start_recording()
    again = play(_role_play(_vars(env)))
    calls = moto.stop_recording()
    assert again.rc == 0, again.stdout
    assert again.changed == 0
    assert write_calls(calls) == []
    assert [r["deployed"] for r in again.result("results")["service__results"]] == [False, False]
    # One look-up for both services, by the inputs check (it showed them on their revisions with
    # the rollout done); each service's revision read by that check (its containers and execution
    # role) and by the module that builds on it.
    ecs_reads = [c.operation for c in calls if c.service == "ecs"]
    assert ecs_reads.count("DescribeServices") == 1
    assert ecs_reads.count("DescribeTaskDefinition") == 4
    assert PASSWORD not in again.stdout
    # The grant: one task for both services, one GetRolePolicy for their shared execution role,
    # no IAM write; the policy on the role is still exactly the one granted.
    grant_tasks = [t for t in again.tasks if t.name.endswith("Allow each execution role to read exactly the database secret")]
    assert len(grant_tasks) == 1 and grant_tasks[0].result["grant"]["roles"] == [{"role_name": "ecsTaskExecutionRole", "changed": False}]
    # (The inputs check's GetRole, which proves the execution role exists, is the only other IAM call.)
    iam_calls = [c.operation for c in calls if c.service == "iam"]
    assert iam_calls.count("GetRolePolicy") == 1 and iam_calls.count("GetRole") <= 1 and set(iam_calls) <= {"GetRolePolicy", "GetRole"}, iam_calls
    assert iam.list_role_policies(RoleName="ecsTaskExecutionRole")["PolicyNames"] == [POLICY]
    assert iam.get_role_policy(RoleName="ecsTaskExecutionRole", PolicyName=POLICY)["PolicyDocument"] == document

    # Teardown: planned first (no write), then original revisions back, ours deregistered, the
    # grant gone; then nothing left to do.
    moto.start_recording()
    planned_down = play(_role_play(_vars(env), tasks_from="teardown"), check=True)
    assert write_calls(moto.stop_recording()) == []
    assert planned_down.rc == 0 and planned_down.changed > 0, planned_down.stdout
    # The same inputs as applied: the worker's entry names the container its wiring is on.
    down = play(_role_play(_vars(env), tasks_from="teardown"))
    assert down.rc == 0, down.stdout
    for name, original_arn in originals.items():
        assert ecs.describe_services(cluster=env["cluster"], services=[name])["services"][0]["taskDefinition"] == original_arn
        ours = ecs.describe_task_definition(taskDefinition=results[name]["task_definition_arn"])["taskDefinition"]
        assert ours["status"] == "INACTIVE"
        assert ecs.describe_task_definition(taskDefinition=original_arn)["taskDefinition"]["status"] == "ACTIVE"
    assert iam.list_role_policies(RoleName="ecsTaskExecutionRole")["PolicyNames"] == []

    down_again = play(_role_play(_vars(env), tasks_from="teardown"))
    assert down_again.rc == 0 and down_again.changed == 0, down_again.stdout


def _derived_play(env, **role_vars):
    """One play that only evaluates the role's derived values (the validation step: reads only).
    The service exists, as the check asks AWS (reads) whether the cluster, service and container do."""
    base = {
        "service_ecs_cluster": env["cluster"],
        "service_ecs_services": [env["service"]],
        "service_secret_arn": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-1234-AbCdEf",
        "service_db_endpoint": "db.example",
    }
    base.update(role_vars)
    return {
        "hosts": "localhost",
        "gather_facts": False,
        "vars": dict(base, service__entry_point="main"),
        "tasks": [
            {"name": "validate", "ansible.builtin.include_role": {"name": "ecsrds.connect.service", "tasks_from": "validate", "public": True,
                                                                  "apply": {"ignore_errors": True}}},
            # The role's grant step, with the options the role derives from its inputs, planned only.
            {"name": "grant", "ecsrds.connect.ecs_execution_role_grant": {
                "roles": [env["execution_role_name"]], "policy_name": "{{ service__grant.policy_name }}",
                "secret_arn": "{{ service__grant.secret_arn }}", "secret_kms_key_id": "{{ service__grant.secret_kms_key_id }}"},
             "vars": {"service__grant": "{{ service__inputs | ecsrds.connect.grant_options([]) }}"},
             "check_mode": True, "ignore_errors": True, "register": "derived_grant"},
            {"name": "derived", "ansible.builtin.debug": {"msg": {
                "policy": "{{ derived_grant.grant.policy_document | default(none) }}",
                "name": "{{ (service__inputs | ecsrds.connect.grant_options([])).policy_name }}",
                "url": "{{ service__taskdef_options.environment.DATABASE_URL | default(none) }}"}}},
        ],
    }


def test_policy_follows_the_key_and_inputs_are_checked(moto, play):
    env = demo_environment.build_demo_environment(moto.client)
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    key_arn = f"arn:aws:kms:eu-west-1:111122223333:key/{key_id}"
    cases = [
        {"service_secret_kms_key_id": key_id},
        {"service_secret_kms_key_id": key_arn, "service_database_url_format": "jdbc:postgresql://{endpoint}:{port}/{database}?ssl=true",
         "service_db_name": "app"},
        {"service_secret_kms_key_id": "alias/aws/secretsmanager"},
        {"service_secret_kms_key_id": "alias/my-key"},
        {"service_ecs_services": [env["service"], {"name": env["service"]}], "service_secret_arn": None},
    ]
    moto.start_recording()
    run = play([_derived_play(env, **case) for case in cases])
    assert write_calls(moto.stop_recording()) == []
    validations = [t for t in run.tasks if t.name.endswith("Check the inputs before touching AWS")]
    derived = [t.result["msg"] for t in run.tasks if t.name == "derived"]
    grants = [t for t in run.tasks if t.name == "grant"]
    assert [g.failed for g in grants] == [False, False, False, True, True]
    assert "secret_kms_key_id 'alias/my-key' is an alias" in grants[3].result["msg"]
    assert [v.failed for v in validations] == [False, False, False, True, True], [v.result.get("msg") for v in validations]

    decrypt = {"Sid": "DecryptDatabaseSecret", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [key_arn],
               "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}}
    for case in derived[:2]:
        assert case["policy"]["Statement"][1] == decrypt
        assert case["policy"]["Statement"][0]["Resource"] == [cases[0].get("service_secret_arn") or
                                                              "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-1234-AbCdEf"]
    assert len(derived[2]["policy"]["Statement"]) == 1
    # Without a cluster identifier the policy is named after the secret, in characters IAM accepts.
    assert derived[0]["name"] == "ecsrds-connect-rds-cluster-1234-AbCdEf"
    assert derived[0]["url"] == "jdbc:postgresql://db.example:5432/postgres"
    assert derived[1]["url"] == "jdbc:postgresql://db.example:5432/app?ssl=true"
    assert "service_secret_kms_key_id 'alias/my-key' is an alias: an IAM policy cannot grant kms:Decrypt by alias" in validations[3].result["msg"]
    assert f"service_ecs_services names service '{env['service']}' twice" in validations[4].result["msg"]
    assert "service_secret_arn is required" in validations[4].result["msg"]


def test_a_run_killed_after_registering_deploys_on_the_next_run(moto, play):
    env = _environment(moto)
    ecs = moto.client("ecs")
    role_vars = _vars(env)
    # The role's first steps only, as if the run had been killed before the rollouts.
    steps = [{"name": step, "ansible.builtin.include_role": {"name": "ecsrds.connect.service", "tasks_from": step, "public": True}}
             for step in ("validate", "task_definitions", "grant")]
    killed = play([{"hosts": "localhost", "gather_facts": False, "vars": dict(role_vars, service__entry_point="main"),
                    "module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}}, "tasks": steps}])
    assert killed.rc == 0, killed.stdout
    registered = ecs.list_task_definitions(familyPrefix="demo-ecs-task")["taskDefinitionArns"]
    assert ecs.describe_services(cluster=env["cluster"], services=[env["service"]])["services"][0]["taskDefinition"] == env["task_definition_arn"]

    run = play(_role_play(role_vars))
    assert run.rc == 0, run.stdout
    results = {r["service"]: r for r in run.result("results")["service__results"]}
    assert results[env["service"]]["deployed"] is True
    assert results[env["service"]]["task_definition_arn"] == registered[-1]
    service = ecs.describe_services(cluster=env["cluster"], services=[env["service"]])["services"][0]
    assert service["taskDefinition"] == registered[-1]


def _pipeline_release(ecs, cluster, service, container, image, source=None):
    """What an application's deploy pipeline does (GitHub Actions' render and deploy steps, ecs-deploy):
    a task definition JSON (the running revision as describe-task-definition prints it, or ``source``,
    a file kept in the application's repository) with a new image, registered without tags, deployed."""
    running = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"]
    definition = ecs.describe_task_definition(taskDefinition=source or running)["taskDefinition"]
    fields = {key: definition[key] for key in ("family", "containerDefinitions", "executionRoleArn", "networkMode",
                                               "requiresCompatibilities", "cpu", "memory") if definition.get(key)}
    next(c for c in fields["containerDefinitions"] if c["name"] == container)["image"] = image
    arn = ecs.register_task_definition(**fields)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=cluster, service=service, taskDefinition=arn)
    return arn


def _wiring(ecs, arn, container):
    _definition, found = _container(ecs, arn, container)
    return ({e["name"] for e in found.get("environment") or [] if e["name"].startswith("DATABASE_")}
            | {s["name"] for s in found.get("secrets") or []}), found["image"]


def test_beside_the_applications_pipeline(moto, play):
    """The wiring judged by what runs, whoever registered it; drift put back on the pipeline's own
    revision; a teardown that takes the wiring out of each release and never rolls an image back."""
    env = _environment(moto)
    ecs = moto.client("ecs")
    cluster, app = env["cluster"], env["service"]
    wired = {"DATABASE_URL", "DATABASE_DRIVER_CLASS", "DATABASE_USERNAME", "DATABASE_PASSWORD"}
    first = play(_role_play(_vars(env)))
    assert first.rc == 0, first.stdout
    ours = {r["service"]: r["task_definition_arn"] for r in first.result("results")["service__results"]}

    # The app's pipeline copies the running revision with a new image: our variables come along,
    # our tags do not. Nothing to do: no revision, no deployment, not one write.
    release = _pipeline_release(ecs, cluster, app, "app", "public.ecr.aws/nginx/nginx:1.27")
    # The worker's pipeline registers from a JSON file kept in its repository: the wiring is lost.
    dropped = _pipeline_release(ecs, cluster, WORKER, "worker", "public.ecr.aws/docker/library/busybox:1.37",
                                source=env["worker_task_definition_arn"])
    moto.start_recording()
    again = play(_role_play(_vars(env)))
    writes = [c.operation for c in write_calls(moto.stop_recording())]
    assert again.rc == 0, again.stdout
    # Only the worker: its wiring back on top of the pipeline's revision, its image kept.
    assert writes == ["RegisterTaskDefinition", "UpdateService"], writes
    results = {r["service"]: r for r in again.result("results")["service__results"]}
    assert results[app]["deployed"] is False and results[app]["task_definition_arn"] == release
    assert results[WORKER]["previous_task_definition_arn"] == dropped
    assert _wiring(ecs, results[WORKER]["task_definition_arn"], "worker") == (wired, "public.ecr.aws/docker/library/busybox:1.37")
    rewired = results[WORKER]["task_definition_arn"]

    # Teardown: each service keeps its latest image, without the wiring; nothing left points at the secret.
    moto.start_recording()
    down = play(_role_play(_vars(env), tasks_from="teardown"))
    writes = [c.operation for c in write_calls(moto.stop_recording())]
    assert down.rc == 0, down.stdout
    # The app's release carried the wiring: a copy without it is registered. The worker's rewired
    # revision was built on the pipeline's own, which is exactly it without the wiring: that runs again.
    assert writes.count("RegisterTaskDefinition") == 1 and writes.count("UpdateService") == 2, writes
    assert ecs.describe_services(cluster=cluster, services=[WORKER])["services"][0]["taskDefinition"] == dropped
    for name, container, image in ((app, "app", "public.ecr.aws/nginx/nginx:1.27"), (WORKER, "worker", "public.ecr.aws/docker/library/busybox:1.37")):
        running = ecs.describe_services(cluster=cluster, services=[name])["services"][0]["taskDefinition"]
        assert _wiring(ecs, running, container) == (set(), image), name
        definition, found = _container(ecs, running, container)
        assert env["secret_arn"] not in json.dumps(definition)
    _definition, worker = _container(ecs, ecs.describe_services(cluster=cluster, services=[WORKER])["services"][0]["taskDefinition"], "worker")
    assert worker["environment"] == [{"name": "QUEUE", "value": "jobs"}] and worker["command"] == ["sh", "-c", "sleep 3600"]
    # Ours deregistered (no service runs them); the pipelines' revisions are theirs and stay.
    for arn in (ours[app], ours[WORKER], rewired):
        assert ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"] == "INACTIVE", arn
    for arn in (release, dropped):
        assert ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"] == "ACTIVE", arn

    moto.start_recording()
    down_again = play(_role_play(_vars(env), tasks_from="teardown"))
    assert write_calls(moto.stop_recording()) == []
    assert down_again.rc == 0 and down_again.changed == 0, down_again.stdout


def test_a_released_service_loses_the_wiring_and_the_grant_no_wired_service_needs(moto, play):
    """A service dropped from the inputs keeps working; listed in service_release_services it is
    unwired as teardown would (its image kept) and its own execution role loses the grant, while the
    role of a service still wired keeps it. Planned in check mode; a re-run changes nothing."""
    env = _environment(moto)
    ecs, iam = moto.client("ecs"), moto.client("iam")
    cluster, app = env["cluster"], env["service"]
    worker_role = iam.create_role(RoleName="demo-worker-execution", AssumeRolePolicyDocument=json.dumps(demo_environment.TRUST_POLICY))["Role"]["Arn"]
    own_role = dict(ecs.describe_task_definition(taskDefinition=env["worker_task_definition_arn"])["taskDefinition"], executionRoleArn=worker_role)
    fields = {key: own_role[key] for key in ("family", "containerDefinitions", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")}
    origin = ecs.register_task_definition(**fields)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=cluster, service=WORKER, taskDefinition=origin)
    first = play(_role_play(_vars(env)))
    assert first.rc == 0, first.stdout
    assert POLICY in iam.list_role_policies(RoleName="demo-worker-execution")["PolicyNames"]

    # Dropped from the inputs only: it keeps its wiring and grant.
    dropped = play(_role_play(_vars(env, service_ecs_services=[app])))
    assert dropped.rc == 0 and dropped.changed == 0, dropped.stdout
    assert _wiring(ecs, ecs.describe_services(cluster=cluster, services=[WORKER])["services"][0]["taskDefinition"], "worker")[0]

    release = _vars(env, service_ecs_services=[app], service_release_services=[{"name": WORKER, "container_name": "worker"}])
    moto.start_recording()
    planned = play(_role_play(release), check=True)
    assert write_calls(moto.stop_recording()) == [] and planned.rc == 0 and planned.changed > 0, planned.stdout

    moto.start_recording()
    released = play(_role_play(release))
    writes = sorted(c.operation for c in write_calls(moto.stop_recording()))
    assert released.rc == 0, released.stdout
    # Nothing else changed since the wiring: the revision it started from runs again (no copy registered);
    # ours is deregistered; the policy leaves the worker's own role only.
    assert writes == ["DeleteRolePolicy", "DeregisterTaskDefinition", "UpdateService"], writes
    assert ecs.describe_services(cluster=cluster, services=[WORKER])["services"][0]["taskDefinition"] == origin
    assert _wiring(ecs, origin, "worker") == (set(), "public.ecr.aws/docker/library/busybox:latest")
    assert POLICY not in iam.list_role_policies(RoleName="demo-worker-execution")["PolicyNames"]
    assert POLICY in iam.list_role_policies(RoleName=env["execution_role_arn"].rsplit("/", 1)[-1])["PolicyNames"]

    moto.start_recording()
    again = play(_role_play(release))
    assert write_calls(moto.stop_recording()) == [] and again.rc == 0 and again.changed == 0, again.stdout


def test_four_rollouts_are_started_before_the_first_is_followed(moto, play):
    """Counting, not timing: every UpdateService of the run comes before the first look at a rollout,
    and each look describes the four services in one DescribeServices (at most one per 10 services)."""
    env = demo_environment.build_demo_environment(moto.client, service_count=4)
    secret_arn = moto.client("secretsmanager").create_secret(
        Name="rds!cluster-8f14e45f-ceea-467f-a8f2-bbbbbbbbbbbb", SecretString=json.dumps({"username": "postgres", "password": PASSWORD}))["ARN"]
    services = [env["service"]] + env["extra_services"]
    moto.start_recording()
    run = play(_role_play(_vars(dict(env, secret_arn=secret_arn), service_ecs_services=services)))
    calls = [c for c in moto.stop_recording() if c.service == "ecs"]
    assert run.rc == 0, run.stdout[-3000:]
    operations = [c.operation for c in calls]
    first_update = operations.index("UpdateService")
    after = operations[first_update:]
    assert after[:4] == ["UpdateService"] * 4, after
    looks = [c for c in calls[first_update:] if c.operation == "DescribeServices"]
    assert looks and all(len(c.params["services"]) == 4 for c in looks), [c.params for c in looks]
    assert sorted(r["service"] for r in run.result("results")["service__results"] if r["deployed"]) == sorted(services)
