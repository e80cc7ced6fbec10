"""teardown.yml never deletes the secret from under a service: every service of the ECS cluster whose
running revision reads the cluster's managed secret has the wiring taken out, listed or not (its image
kept), and the teardown names them. One that another deployment wired (its revision carries that
deployment's tag) stops the teardown before its first write, named. On moto: the cluster with its
RDS-managed secret, and a worker registered by hand (as another team's pipeline would) that reads it."""

from __future__ import annotations

import yaml

from support.sandbox import REPO_ROOT, write_calls
from support.demo_environment import build_demo_environment

TEARDOWN = REPO_ROOT / "playbooks" / "teardown.yml"
DEMO_VARS = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
WORKER = "reports-worker"
IMAGE = "public.ecr.aws/docker/library/busybox:1.37"


def _worker(moto, env, secret_arn, tags=()):
    ecs = moto.client("ecs")
    revision = ecs.register_task_definition(
        family="reports-worker", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        executionRoleArn=env["execution_role_arn"], tags=list(tags),
        containerDefinitions=[{"name": "worker", "image": IMAGE, "essential": True,
                               "environment": [{"name": "QUEUE", "value": "reports"}],
                               "secrets": [{"name": "PGPASSWORD", "valueFrom": f"{secret_arn}:password::"}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=env["cluster"], serviceName=WORKER, taskDefinition=revision, desiredCount=1, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {"subnets": env["subnet_ids"], "securityGroups": [env["service_security_group_id"]]}})
    return revision


def _cluster(moto):
    return moto.client("rds").create_db_cluster(DBClusterIdentifier=DEMO_VARS["ecsrds_db_cluster_identifier"], Engine="aurora-postgresql",
                                                MasterUsername="postgres", ManageMasterUserPassword=True)["DBCluster"]


def test_a_service_left_out_that_reads_the_secret_is_unwired_too(moto, play):
    env = build_demo_environment(moto.client)
    cluster = _cluster(moto)
    secret_arn = cluster["MasterUserSecret"]["SecretArn"]
    _worker(moto, env, secret_arn)
    ecs = moto.client("ecs")

    variables = dict(DEMO_VARS, ecsrds_aws_endpoint_url=moto.endpoint)
    down = play(TEARDOWN, extra_vars=variables)
    assert down.rc == 0, down.stdout[-3000:]
    assert down.result("Show the services whose wiring was taken out")["msg"]["services_unwired"] == [WORKER]
    running = ecs.describe_services(cluster=env["cluster"], services=[WORKER])["services"][0]["taskDefinition"]
    [container] = ecs.describe_task_definition(taskDefinition=running)["taskDefinition"]["containerDefinitions"]
    # The secret reference is gone, whatever its name; everything else, the image included, stays.
    assert secret_arn not in str(container) and container["image"] == IMAGE
    assert container["environment"] == [{"name": "QUEUE", "value": "reports"}] and not container.get("secrets")

    moto.start_recording()
    again = play(TEARDOWN, extra_vars=variables)
    assert again.rc == 0 and write_calls(moto.stop_recording()) == [], again.stdout[-3000:]
    assert again.result("Show the services whose wiring was taken out")["msg"]["services_unwired"] == []


def test_a_service_another_deployment_wired_stops_teardown_before_any_write(moto, play):
    env = build_demo_environment(moto.client)
    cluster = _cluster(moto)
    revision = _worker(moto, env, cluster["MasterUserSecret"]["SecretArn"], tags=[{"key": "ecsrds.connect/created-by", "value": "reports"}])

    moto.start_recording()
    refused = play(TEARDOWN, extra_vars=dict(DEMO_VARS, ecsrds_aws_endpoint_url=moto.endpoint, ecsrds_teardown_confirm_delete=True))
    calls = moto.stop_recording()
    assert refused.rc != 0 and write_calls(calls) == []
    [message] = [t.result.get("msg", "") for t in refused.tasks if t.failed]
    assert f"ecsrds_ecs_services leaves out service '{WORKER}'" in message and "wired by deployment 'reports'" in message, message
    assert revision.rsplit("/", 1)[-1] in message
    assert moto.client("rds").describe_db_clusters(DBClusterIdentifier=cluster["DBClusterIdentifier"])["DBClusters"]
