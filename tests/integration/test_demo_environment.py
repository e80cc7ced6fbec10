"""The walk-through's starting point, as tests/support/demo_environment.py builds it on moto."""


from support import demo_environment


def _ingress(group):
    return {(p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p.get("IpRanges", [])}


def test_builds_the_walkthrough_starting_point_once(moto):
    env = demo_environment.build_demo_environment(moto.client)
    ec2, ecs = moto.client("ec2"), moto.client("ecs")

    vpc = ec2.describe_vpcs(VpcIds=[env["vpc_id"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert {"Key": "Name", "Value": "demo-service-vpc"} in vpc["Tags"]
    for attribute, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        assert ec2.describe_vpc_attribute(VpcId=env["vpc_id"], Attribute=attribute)[key]["Value"] is True

    subnets = ec2.describe_subnets(SubnetIds=env["subnet_ids"])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == ["us-east-1a", "us-east-1b"]
    assert not any(s["MapPublicIpOnLaunch"] for s in subnets)

    # Private: the subnets' route table sends nothing to a NAT or internet gateway.
    table = ec2.describe_route_tables(RouteTableIds=[env["route_table_id"]])["RouteTables"][0]
    assert {a["SubnetId"] for a in table["Associations"] if a.get("SubnetId")} == set(env["subnet_ids"])
    assert not any(r.get("NatGatewayId") or r.get("GatewayId", "").startswith("igw-") for r in table["Routes"])

    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [env["vpc_id"]]}])["VpcEndpoints"]
    by_service = {e["ServiceName"]: e for e in endpoints}
    assert set(by_service) == {f"com.amazonaws.us-east-1.{s}" for s in ("ecr.api", "ecr.dkr", "logs", "s3")}
    assert by_service["com.amazonaws.us-east-1.s3"]["VpcEndpointType"] == "Gateway"
    assert by_service["com.amazonaws.us-east-1.logs"]["PrivateDnsEnabled"] is True
    assert not any("secretsmanager" in name for name in by_service)

    group = ec2.describe_security_groups(GroupIds=[env["service_security_group_id"]])["SecurityGroups"][0]
    assert group["GroupName"] == "demo-ecs-service-sg"
    assert _ingress(group) == {(8080, "10.0.0.0/16"), (443, "10.0.0.0/16")}

    service = ecs.describe_services(cluster="demo-ecs-cluster", services=["demo-ecs-service"])["services"][0]
    assert service["desiredCount"] == 2 and service["launchType"] == "FARGATE"
    awsvpc = service["networkConfiguration"]["awsvpcConfiguration"]
    assert sorted(awsvpc["subnets"]) == sorted(env["subnet_ids"])
    assert awsvpc["securityGroups"] == [env["service_security_group_id"]]
    assert awsvpc["assignPublicIp"] == "DISABLED"

    taskdef = ecs.describe_task_definition(taskDefinition=env["task_definition_arn"])["taskDefinition"]
    assert taskdef["family"] == "demo-ecs-task" and taskdef["executionRoleArn"] == env["execution_role_arn"]
    (container,) = taskdef["containerDefinitions"]
    assert container["name"] == "app" and container["portMappings"][0]["containerPort"] == 8080
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/demo-ecs-task"
    assert moto.client("logs").describe_log_groups(logGroupNamePrefix="/ecs/demo-ecs-task")["logGroups"]

    iam = moto.client("iam")
    trust = iam.get_role(RoleName="ecsTaskExecutionRole")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    # Nothing that could read Secrets Manager: at most the AWS managed execution policy (moto only
    # knows it with MOTO_IAM_LOAD_MANAGED_POLICIES=true), never an inline grant.
    assert set(env["execution_role_policy_arns"]) <= {demo_environment.EXECUTION_POLICY_ARN}
    assert iam.list_role_policies(RoleName="ecsTaskExecutionRole")["PolicyNames"] == []

    # A second build finds everything and creates nothing.
    moto.start_recording()
    assert demo_environment.build_demo_environment(moto.client) == env
    writes = [c.operation for c in moto.stop_recording() if c.is_write]
    if not env["execution_role_policy_arns"]:
        writes.remove("AttachRolePolicy")  # retried, and refused again by a moto without managed policies
    assert writes == []
