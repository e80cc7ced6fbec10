"""ecsrds.connect.ecs_service_deploy against moto: check mode, deploy, idempotent re-run, forced
redeploy, look-up, restore, and the early failure with the fix when a task of the rollout stopped."""

from __future__ import annotations


from support.sandbox import write_calls

from support import demo_environment

DEFAULTS = {"module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}}}
NO_ROUTE = (
    "ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secret from asm: "
    "There is a connection issue between the task and AWS Secrets Manager. Check your task network configuration. "
    "failed to fetch secret arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1-AbCdEf from secrets "
    "manager: RequestCanceled: request context canceled caused by: context deadline exceeded"
)


def _play(tasks):
    return [dict(hosts="localhost", gather_facts=False, tasks=tasks, **DEFAULTS)]


def _new_revision(ecs, base_arn):
    base = ecs.describe_task_definition(taskDefinition=base_arn)["taskDefinition"]
    keep = ("containerDefinitions", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")
    body = {key: base[key] for key in keep if key in base}
    body["containerDefinitions"][0]["environment"] = [{"name": "DATABASE_DRIVER_CLASS", "value": "org.postgresql.Driver"}]
    return ecs.register_task_definition(family=base["family"], **body)["taskDefinition"]["taskDefinitionArn"]


def _deploy(service, **options):
    return {"ecsrds.connect.ecs_service_deploy": dict(cluster="demo-ecs-cluster", service=service, **options)}


def test_deploy_rerun_force_lookup_restore(moto, play):
    env = demo_environment.build_demo_environment(moto.client)
    ecs = moto.client("ecs")
    original = env["task_definition_arn"]
    before = ecs.describe_services(cluster=env["cluster"], services=[env["service"]])["services"][0]
    target = _new_revision(ecs, original)
    ecs.tag_resource(resourceArn=target, tags=[{"key": "ecsrds.connect/managed", "value": "true"},
                                               {"key": "ecsrds.connect/original-task-definition", "value": original}])

    run = play(_play([
        {"name": "planned", **_deploy(env["service"], task_definition=target), "check_mode": True, "diff": True},
        {"name": "deploy", **_deploy(env["service"], task_definition=target), "diff": True},
        {"name": "again", **_deploy(env["service"], task_definition=target.rsplit("/", 1)[1])},
        {"name": "forced", **_deploy(env["service"], task_definition=target, force_new_deployment=True)},
        {"name": "lookup", **_deploy(env["service"])},
        {"name": "bad", **_deploy("no-such-service", task_definition=target), "ignore_errors": True},
    ]))
    assert run.rc == 0, run.stdout

    planned = run.result("planned")
    assert planned["changed"] and planned["deployed"]
    assert planned["diff"] == {"before": {"task_definition": original}, "after": {"task_definition": target}}
    assert planned["service"]["task_definition"] == original

    deployed = run.result("deploy")
    assert deployed["changed"] and deployed["deployed"] and deployed["previous_task_definition_arn"] == original
    assert deployed["service"]["task_definition"] == target
    assert deployed["service"]["service_name"] == "demo-ecs-service" and deployed["service"]["running_count"] == 2
    assert deployed["rollout_state"] == "COMPLETED"

    again = run.result("again")  # family:revision resolves to the same ARN: nothing to do
    assert not again["changed"] and not again["deployed"] and again["previous_task_definition_arn"] == target

    forced = run.result("forced")
    assert forced["changed"] and forced["deployed"]
    assert forced["service"]["deployments"][0]["id"] != deployed["service"]["deployments"][0]["id"]

    lookup = run.result("lookup")
    assert not lookup["changed"]
    assert lookup["running_task_definition"]["task_definition_arn"] == target
    assert lookup["running_task_definition"]["execution_role_arn"] == env["execution_role_arn"]
    assert lookup["running_task_definition"]["tags"]["ecsrds.connect/original-task-definition"] == original

    assert run.result("bad")["failed"] and "'no-such-service' not found" in run.result("bad")["msg"]

    # Nothing but the task definition changed on the service.
    after = ecs.describe_services(cluster=env["cluster"], services=[env["service"]])["services"][0]
    for key in ("desiredCount", "launchType", "networkConfiguration", "serviceArn", "clusterArn"):
        assert after[key] == before[key], key

    # A re-run makes no write call at all.
    moto.start_recording()
    rerun = play(_play([{"name": "again", **_deploy(env["service"], task_definition=target)}]))
    calls = moto.stop_recording()
    assert rerun.rc == 0 and rerun.changed == 0
    assert write_calls(calls) == []

    # Restore: back to the tagged original, our revision deregistered.
    run = play(_play([
        {"name": "restore", **_deploy(env["service"], restore_from_tag="ecsrds.connect/original-task-definition",
                                      deregister_tagged={"ecsrds.connect/managed": "true"})},
        {"name": "restore again", **_deploy(env["service"], restore_from_tag="ecsrds.connect/original-task-definition",
                                            deregister_tagged={"ecsrds.connect/managed": "true"})},
    ]))
    assert run.rc == 0, run.stdout
    restored = run.result("restore")
    assert restored["changed"] and restored["service"]["task_definition"] == original
    assert restored["deregistered_task_definition_arns"] == [target]
    assert not run.result("restore again")["changed"]
    assert ecs.describe_task_definition(taskDefinition=target)["taskDefinition"]["status"] == "INACTIVE"


def test_stopped_task_of_the_rollout_fails_early_with_the_fix(moto, play):
    env = demo_environment.build_demo_environment(moto.client)
    ecs = moto.client("ecs")
    target = _new_revision(ecs, env["task_definition_arn"])
    network = {"awsvpcConfiguration": {"subnets": env["subnet_ids"], "securityGroups": [env["service_security_group_id"]]}}
    # The sandbox's moto runs 2 tasks per service: desiredCount 3 keeps this rollout IN_PROGRESS.
    ecs.create_service(cluster=env["cluster"], serviceName="slow", taskDefinition=env["task_definition_arn"],
                       desiredCount=3, launchType="FARGATE", networkConfiguration=network)
    # A previous run moved the service and was killed while the rollout was failing.
    old_id = ecs.describe_services(cluster=env["cluster"], services=["slow"])["services"][0]["deployments"][0]["id"]
    ecs.update_service(cluster=env["cluster"], service="slow", taskDefinition=target, forceNewDeployment=True)
    new_id = ecs.describe_services(cluster=env["cluster"], services=["slow"])["services"][0]["deployments"][0]["id"]
    for started_by, reason in ((old_id, "CannotPullContainerError: from an older deployment"), (new_id, NO_ROUTE)):
        task = ecs.run_task(cluster=env["cluster"], taskDefinition=target, group="service:slow", startedBy=started_by,
                            launchType="FARGATE", networkConfiguration=network)["tasks"][0]
        ecs.stop_task(cluster=env["cluster"], task=task["taskArn"], reason=reason)

    run = play(_play([
        {"name": "resume", **_deploy("slow", task_definition=target, wait_timeout=120), "ignore_errors": True},
        {"name": "no wait", **_deploy("slow", task_definition=target, wait=False)},
    ]))
    failed = run.result("resume")
    assert failed["failed"]
    assert "stopped with: ResourceInitializationError" in failed["msg"]
    assert "interface VPC endpoint com.amazonaws.us-east-1.secretsmanager with private DNS" in failed["msg"]
    assert "CannotPullContainerError" not in failed["msg"]
    assert not run.result("no wait")["changed"]
    assert run.result("no wait")["rollout_state"] == "IN_PROGRESS"
    # It followed the deployment the interrupted run started, the one running the revision.
    assert failed["deployment_id"] == new_id and run.result("no wait")["deployment_id"] == new_id
