"""teardown.yml never deletes the secret from under a service it does not unwire: a service of the ECS
cluster that the inputs leave out, whose running revision reads the cluster's managed secret, stops the
teardown before its first write, named. On moto: the cluster with its RDS-managed secret, and a worker
registered by hand (as another team's pipeline would) that reads it."""

from __future__ import annotations

import yaml

from support.sandbox import REPO_ROOT, write_calls
from support.demo_environment import build_demo_environment

TEARDOWN = REPO_ROOT / "playbooks" / "teardown.yml"
DEMO_VARS = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
WORKER = "reports-worker"


def test_a_service_left_out_that_reads_the_secret_stops_teardown_before_any_write(moto, play):
    env = build_demo_environment(moto.client)
    rds, ecs = moto.client("rds"), moto.client("ecs")
    cluster = rds.create_db_cluster(DBClusterIdentifier=DEMO_VARS["ecsrds_db_cluster_identifier"], Engine="aurora-postgresql",
                                    MasterUsername="postgres", ManageMasterUserPassword=True)["DBCluster"]
    secret_arn = cluster["MasterUserSecret"]["SecretArn"]
    revision = ecs.register_task_definition(
        family="reports-worker", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        executionRoleArn=env["execution_role_arn"],
        containerDefinitions=[{"name": "worker", "image": "busybox", "essential": True,
                               "secrets": [{"name": "DATABASE_PASSWORD", "valueFrom": f"{secret_arn}:password::"}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=env["cluster"], serviceName=WORKER, taskDefinition=revision, desiredCount=1, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {"subnets": env["subnet_ids"], "securityGroups": [env["service_security_group_id"]]}})

    variables = dict(DEMO_VARS, ecsrds_aws_endpoint_url=moto.endpoint, ecsrds_teardown_confirm_delete=True)
    moto.start_recording()
    refused = play(TEARDOWN, extra_vars=variables)
    calls = moto.stop_recording()
    assert refused.rc != 0 and write_calls(calls) == []
    [message] = [t.result.get("msg", "") for t in refused.tasks if t.failed]
    assert f"ecsrds_ecs_services leaves out service '{WORKER}'" in message and "reports-worker:1" in message, message
    assert rds.describe_db_clusters(DBClusterIdentifier=cluster["DBClusterIdentifier"])["DBClusters"]

    # Listed, it is no reason to stop: the check passes (the teardown then takes its wiring out).
    listed = play(TEARDOWN, extra_vars=dict(variables, ecsrds_ecs_services=DEMO_VARS["ecsrds_ecs_services"] + [
        {"name": WORKER, "container_name": "worker"}]), check=True)
    assert not any("leaves out service" in t.result.get("msg", "") for t in listed.tasks if t.failed), listed.stdout[-3000:]
