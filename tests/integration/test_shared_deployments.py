"""Two deployments in one VPC, resources that existed before, and a teardown that cannot hurt:
site.yml and teardown.yml end to end against moto.

One converged environment per test (each playbook run costs ~10 s); the steps of a test build on
each other in the order a user would run them.
"""

from __future__ import annotations

import json
import re

from support.sandbox import REPO_ROOT, write_calls

from support.demo_environment import FAMILY, IMAGE, build_demo_environment

SITE = REPO_ROOT / "site.yml"
TEARDOWN = REPO_ROOT / "playbooks" / "teardown.yml"
SECRETSMANAGER = "com.amazonaws.us-east-1.secretsmanager"
SHOP, BILLING = "shop-orders-db", "billing-db"
BILLING_CLUSTER, BILLING_SERVICE, BILLING_FAMILY = "billing-ecs-cluster", "billing-service", "billing-task"


def site_vars(moto, deployment, **overrides):
    variables = {
        "ecsrds_aws_region": "us-east-1",
        "ecsrds_require_loopback_endpoint": True,
        "ecsrds_aws_endpoint_url": moto.endpoint,
        "ecsrds_db_cluster_identifier": deployment,
        "ecsrds_ecs_cluster": "demo-ecs-cluster" if deployment == SHOP else BILLING_CLUSTER,
        "ecsrds_ecs_services": [{"name": "demo-ecs-service" if deployment == SHOP else BILLING_SERVICE, "container_name": "app"}],
    }
    variables.update(overrides)
    return variables


def add_billing_service(moto, demo):
    """billing's service: another ECS cluster and security group, the same subnets and execution
    role as the demo's (a shared account).

    Its own security group because moto matches UpdateSecurityGroupRuleDescriptionsIngress on the
    old description too and so never updates a group-sourced rule; AWS matches protocol, ports and
    source. Joining a rule another deployment holds is unit-tested (test_network.py) against that
    documented behaviour."""
    ec2, ecs = moto.client("ec2"), moto.client("ecs")
    group = ec2.create_security_group(GroupName="billing-service-sg", Description="billing service", VpcId=demo["vpc_id"])["GroupId"]
    ecs.create_cluster(clusterName=BILLING_CLUSTER)
    arn = ecs.register_task_definition(
        family=BILLING_FAMILY, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        executionRoleArn=demo["execution_role_arn"],
        containerDefinitions=[{"name": "app", "image": IMAGE, "essential": True, "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=BILLING_CLUSTER, serviceName=BILLING_SERVICE, taskDefinition=arn, desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": demo["subnet_ids"], "securityGroups": [group]}},
    )
    return group


def endpoints(ec2):
    found = ec2.describe_vpc_endpoints(Filters=[{"Name": "service-name", "Values": [SECRETSMANAGER]}])["VpcEndpoints"]
    return [e for e in found if e["State"].lower() not in ("deleted", "deleting")]


def tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or resource.get("TagList") or []}


def owners(description):
    found = re.search(r"\[ecsrds:([^\]]*)\]$", description or "")
    return set(found.group(1).split(",")) if found else set()


def rules_of(group, deployment):
    """(port, source) of the rules that name ``deployment`` (others may share them)."""
    return sorted(
        (p["FromPort"], e.get("GroupId") or e.get("CidrIp"))
        for p in group["IpPermissions"] for e in p.get("UserIdGroupPairs", []) + p.get("IpRanges", [])
        if deployment in owners(e.get("Description"))
    )


def deployment_view(moto, deployment, cluster, service):
    """Everything ``deployment`` relies on, as AWS reports it."""
    ec2, ecs, iam = moto.client("ec2"), moto.client("ecs"), moto.client("iam")
    groups = {g["GroupName"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
    running = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"]
    family = running.rsplit("/", 1)[1].split(":")[0]
    return {
        "endpoints": [(e["VpcEndpointId"], tags(e).get(f"ecsrds.connect/deployment:{deployment}")) for e in endpoints(ec2)],
        "rules": {name: rules_of(g, deployment) for name, g in groups.items() if rules_of(g, deployment)},
        "marked_groups": sorted(name for name, g in groups.items() if f"ecsrds.connect/deployment:{deployment}" in tags(g)),
        "grant": iam.get_role_policy(RoleName="ecsTaskExecutionRole", PolicyName=f"ecsrds-connect-{deployment}")["PolicyDocument"],
        "service_revision": running,
        "revisions": ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"],
    }


def manual_snapshots(rds):
    # moto also makes an automated rds:<id>-<date> snapshot at create time.
    return sorted(s["DBClusterSnapshotIdentifier"] for s in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"] if s["SnapshotType"] == "manual")


def test_two_deployments_share_an_endpoint_and_tear_down_independently(moto, play):
    demo = build_demo_environment(moto.client)
    billing_sg = add_billing_service(moto, demo)
    ec2, rds, iam = moto.client("ec2"), moto.client("rds"), moto.client("iam")

    shop = play(SITE, extra_vars=site_vars(moto, SHOP))
    assert shop.rc == 0, shop.stdout[-4000:]
    billing = play(SITE, extra_vars=site_vars(moto, BILLING))
    assert billing.rc == 0, billing.stdout[-4000:]

    # One endpoint: billing added itself to shop's, never renaming it or claiming it.
    (endpoint,) = endpoints(ec2)
    assert tags(endpoint)["Name"] == f"{SHOP}-secretsmanager" and tags(endpoint)["ecsrds.connect/created-by"] == SHOP
    assert tags(endpoint)[f"ecsrds.connect/deployment:{SHOP}"] == "created"
    assert tags(endpoint)[f"ecsrds.connect/deployment:{BILLING}"] == "adopted"
    # Each deployment's rule on the shared endpoint group names its deployment.
    endpoint_sg = ec2.describe_security_groups(GroupIds=[endpoint["Groups"][0]["GroupId"]])["SecurityGroups"][0]
    assert rules_of(endpoint_sg, SHOP) == [(443, demo["service_security_group_id"])] and rules_of(endpoint_sg, BILLING) == [(443, billing_sg)]
    assert tags(endpoint_sg)["Name"] == f"{SHOP}-secretsmanager-endpoint-sg" and tags(endpoint_sg)[f"ecsrds.connect/deployment:{BILLING}"] == "adopted"
    # Created and adopted are told apart on the cluster too; each deployment has its own grant on the shared role.
    cluster = rds.describe_db_clusters(DBClusterIdentifier=BILLING)["DBClusters"][0]
    assert tags(cluster)["ecsrds.connect/created-by"] == BILLING and "ecsrds.connect/managed" not in tags(cluster)
    assert sorted(iam.list_role_policies(RoleName="ecsTaskExecutionRole")["PolicyNames"]) == [f"ecsrds-connect-{BILLING}", f"ecsrds-connect-{SHOP}"]

    billing_before = deployment_view(moto, BILLING, BILLING_CLUSTER, BILLING_SERVICE)
    assert billing_before["rules"].keys() == {f"{BILLING}-sg", f"{SHOP}-secretsmanager-endpoint-sg"}

    # shop leaves first, with the default final snapshot.
    gone = play(TEARDOWN, extra_vars=site_vars(moto, SHOP, ecsrds_teardown_confirm_delete=True))
    assert gone.rc == 0, gone.stdout[-4000:]
    assert manual_snapshots(rds) == [f"{SHOP}-final"]
    assert [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]] == [BILLING]
    # billing's endpoint, security groups, rules, grant and revisions are as they were.
    assert deployment_view(moto, BILLING, BILLING_CLUSTER, BILLING_SERVICE) == billing_before
    (endpoint,) = endpoints(ec2)
    assert f"ecsrds.connect/deployment:{SHOP}" not in tags(endpoint)
    assert iam.list_role_policies(RoleName="ecsTaskExecutionRole")["PolicyNames"] == [f"ecsrds-connect-{BILLING}"]
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{SHOP}-sg"]}])["SecurityGroups"]

    # Nothing billing needs went missing: its re-run changes nothing and writes nothing.
    moto.start_recording()
    again = play(SITE, extra_vars=site_vars(moto, BILLING))
    calls = moto.stop_recording()
    assert again.rc == 0 and again.changed == 0, [t.name for t in again.tasks if t.changed]
    assert write_calls(calls) == []

    # billing is the last user: the endpoint shop created goes with it, and so does its group.
    last = play(TEARDOWN, extra_vars=site_vars(moto, BILLING, ecsrds_teardown_confirm_delete=True))
    assert last.rc == 0, last.stdout[-4000:]
    assert endpoints(ec2) == []
    names = {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert not names & {f"{SHOP}-secretsmanager-endpoint-sg", f"{BILLING}-sg"} and {"demo-ecs-service-sg", "billing-service-sg"} <= names
    assert iam.list_role_policies(RoleName="ecsTaskExecutionRole")["PolicyNames"] == []
    assert manual_snapshots(rds) == [f"{BILLING}-final", f"{SHOP}-final"]


def test_what_existed_before_survives_and_a_refused_teardown_writes_nothing(moto, play):
    demo = build_demo_environment(moto.client)
    ec2, ecs, rds = moto.client("ec2"), moto.client("ecs"), moto.client("rds")
    vpc = demo["vpc_id"]
    # The account already has a Secrets Manager endpoint (443 open to the VPC) and a database group.
    corp_endpoint_sg = ec2.create_security_group(GroupName="corp-sm-sg", Description="corp", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=corp_endpoint_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "corp"}]}])
    corp_endpoint = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=vpc, ServiceName=SECRETSMANAGER, SubnetIds=demo["subnet_ids"], SecurityGroupIds=[corp_endpoint_sg],
        PrivateDnsEnabled=True, TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": [{"Key": "Name", "Value": "corp-sm"}]}],
    )["VpcEndpoint"]["VpcEndpointId"]
    corp_db_sg = ec2.create_security_group(GroupName="corp-db-sg", Description="corp db", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=corp_db_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.9.0.0/16", "Description": "bastion"}]}])
    # The service runs a revision with the password in plain text: the run that moves it to a secret must not print it.
    plain, token = "Plain-Pa55word-in-env", "tok-3f9a7c1e"
    definition = ecs.describe_task_definition(taskDefinition=FAMILY)["taskDefinition"]
    container = dict(definition["containerDefinitions"][0], environment=[
        {"name": "DATABASE_PASSWORD", "value": plain}, {"name": "API_TOKEN", "value": token}, {"name": "LOG_LEVEL", "value": "info"}])
    leaky = ecs.register_task_definition(
        family=FAMILY, requiresCompatibilities=definition["requiresCompatibilities"], networkMode="awsvpc", cpu=definition["cpu"],
        memory=definition["memory"], executionRoleArn=definition["executionRoleArn"], containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=demo["cluster"], service=demo["service"], taskDefinition=leaky)

    variables = site_vars(moto, SHOP, ecsrds_db_security_group_name="corp-db-sg", ecsrds_db_deletion_protection=True)
    first = play(SITE, extra_vars=variables, diff=True, extra_args=["-vvv"])
    assert first.rc == 0, first.stdout[-4000:]
    for secret in (plain, token):
        assert secret not in first.stdout and secret not in first.stderr
    assert "<redacted>" in first.stdout  # the diff of the move, with the value left out
    new_revision = ecs.describe_services(cluster=demo["cluster"], services=[demo["service"]])["services"][0]["taskDefinition"]
    env = {e["name"] for e in ecs.describe_task_definition(taskDefinition=new_revision)["taskDefinition"]["containerDefinitions"][0]["environment"]}
    assert "DATABASE_PASSWORD" not in env and "API_TOKEN" in env
    assert [e["VpcEndpointId"] for e in endpoints(ec2)] == [corp_endpoint]
    assert tags(endpoints(ec2)[0]) == {"Name": "corp-sm", f"ecsrds.connect/deployment:{SHOP}": "adopted"}

    # The cluster is protected and the confirm flag is missing: teardown stops before its first write.
    moto.start_recording()
    refused = play(TEARDOWN, extra_vars=variables)
    calls = moto.stop_recording()
    assert refused.rc != 0
    assert write_calls(calls) == [], [c.operation for c in write_calls(calls)]
    failures = [t for t in refused.tasks if t.failed]
    assert len(failures) == 1 and "ecsrds_teardown_confirm_delete" in failures[0].result["msg"], [t.result for t in failures]
    assert ecs.describe_services(cluster=demo["cluster"], services=[demo["service"]])["services"][0]["taskDefinition"] == new_revision

    done = play(TEARDOWN, extra_vars=dict(variables, ecsrds_teardown_confirm_delete=True), extra_args=["-vvv"])
    assert done.rc == 0, done.stdout[-4000:]
    # Going back to the leaky revision prints it no more than the move did.
    for secret in (plain, token):
        assert secret not in done.stdout and secret not in done.stderr
    assert ecs.describe_services(cluster=demo["cluster"], services=[demo["service"]])["services"][0]["taskDefinition"] == leaky
    assert manual_snapshots(rds) == [f"{SHOP}-final"] and rds.describe_db_clusters()["DBClusters"] == []
    # The endpoint and the database group that existed before are still there, as they were.
    (endpoint,) = endpoints(ec2)
    assert endpoint["VpcEndpointId"] == corp_endpoint and tags(endpoint) == {"Name": "corp-sm"}
    assert tags(ec2.describe_security_groups(GroupIds=[corp_endpoint_sg])["SecurityGroups"][0]) == {}
    (db_sg,) = ec2.describe_security_groups(GroupIds=[corp_db_sg])["SecurityGroups"]
    assert tags(db_sg) == {} and json.dumps(db_sg["IpPermissions"]).count("Description") == 1 and rules_of(db_sg, SHOP) == []
    assert [r["CidrIp"] for p in db_sg["IpPermissions"] for r in p.get("IpRanges", [])] == ["10.9.0.0/16"]
