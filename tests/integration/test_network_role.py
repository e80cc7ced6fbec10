"""roles/network on the walk-through's starting point (tests/support/demo_environment.py) on moto."""

from support import demo_environment

SECRETSMANAGER = "com.amazonaws.us-east-1.secretsmanager"
CREATED_BY = "ecsrds.connect/created-by"
DEPLOYMENT = "demo-rds-aurora-postgres"
MARK = f"ecsrds.connect/deployment:{DEPLOYMENT}"
DB_RULE = f"ecsrds.connect: PostgreSQL from the ECS service [ecsrds:{DEPLOYMENT}]"
ACCESS = "Ensure the Secrets Manager endpoint and the database security group's ingress rule"
IDENTITY = {"network_ecs_cluster": "demo-ecs-cluster", "network_ecs_services": ["demo-ecs-service"], "network_deployment_id": DEPLOYMENT,
            "network_db_security_group_name": "demo-rds-sg", "network_secretsmanager_endpoint_name": "demo-ecs-secrets-manager-eni",
            "network_secretsmanager_endpoint_security_group_name": "demo-secretsmanager-endpoint-sg"}
FACTS = ["network__vpc_id", "network__subnet_ids", "network__service_security_group_ids",
         "network__db_security_group_id", "network__secretsmanager_endpoint_id"]


def role_play(role_vars=None, tasks_from=None):
    include = {"name": "ecsrds.connect.network"}
    if tasks_from:
        include["tasks_from"] = tasks_from
    tasks = [{"name": "Apply the network role", "ansible.builtin.include_role": include}]
    if not tasks_from:
        tasks.append({"name": "Published facts", "ansible.builtin.debug": {"msg": {f: f"{{{{ {f} }}}}" for f in FACTS}}})
    return [{
        "name": "network role",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}},
        # The walk-through's names, given: the role's identity inputs have no defaults.
        "vars": dict(IDENTITY, **(role_vars or {})),
        "tasks": tasks,
    }]


def role_task(run, name):
    """A role task's result; Ansible prefixes role task names with the role."""
    return next(t.result for t in run.tasks if t.name == f"ecsrds.connect.network : {name}")


def _group(ec2, vpc_id, name):
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    return groups[0] if groups else None


def _sources(group, port):
    """(source group ids, cidrs) that a group admits on ``port``, with their descriptions."""
    found = set()
    for permission in group["IpPermissions"]:
        if permission.get("FromPort") == port:
            found |= {(p["GroupId"], p.get("Description")) for p in permission.get("UserIdGroupPairs", [])}
            found |= {(r["CidrIp"], r.get("Description")) for r in permission.get("IpRanges", [])}
    return found


def _endpoints(ec2, vpc_id):
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "service-name", "Values": [SECRETSMANAGER]}]
    return [e for e in ec2.describe_vpc_endpoints(Filters=filters)["VpcEndpoints"] if e["State"].lower() not in ("deleted", "deleting")]


def test_apply_rerun_and_teardown(moto, play):
    env = demo_environment.build_demo_environment(moto.client)
    ec2 = moto.client("ec2")
    service_sg = env["service_security_group_id"]
    # Someone already made the database group with a rule of their own: it must survive.
    db_sg = ec2.create_security_group(GroupName="demo-rds-sg", Description="Aurora PostgreSQL reached from the ECS service", VpcId=env["vpc_id"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.9.0.0/16", "Description": "bastion"}]}])

    first = play(role_play({"network_tags": {"app": "demo"}}))
    assert first.rc == 0, first.stdout[-3000:]
    facts = first.result("Published facts")["msg"]
    assert facts["network__vpc_id"] == env["vpc_id"]
    assert sorted(facts["network__subnet_ids"]) == sorted(env["subnet_ids"])
    assert facts["network__service_security_group_ids"] == [service_sg]
    assert facts["network__db_security_group_id"] == db_sg

    group = _group(ec2, env["vpc_id"], "demo-rds-sg")
    assert _sources(group, 5432) == {(service_sg, DB_RULE), ("10.9.0.0/16", "bastion")}
    # Not created by the role: only marked as used by this deployment.
    assert {t["Key"]: t["Value"] for t in group.get("Tags", [])} == {MARK: "adopted"}

    (endpoint,) = _endpoints(ec2, env["vpc_id"])
    assert facts["network__secretsmanager_endpoint_id"] == endpoint["VpcEndpointId"]
    assert endpoint["VpcEndpointType"] == "Interface" and endpoint["PrivateDnsEnabled"] is True
    assert sorted(endpoint["SubnetIds"]) == sorted(env["subnet_ids"])
    (endpoint_sg_ref,) = endpoint["Groups"]
    endpoint_sg = ec2.describe_security_groups(GroupIds=[endpoint_sg_ref["GroupId"]])["SecurityGroups"][0]
    assert endpoint_sg["GroupName"] == "demo-secretsmanager-endpoint-sg" and endpoint_sg["GroupId"] != service_sg
    assert {source for source, _description in _sources(endpoint_sg, 443)} == {service_sg}
    tags = {t["Key"]: t["Value"] for t in endpoint["Tags"]}
    assert tags["app"] == "demo" and tags[CREATED_BY] == DEPLOYMENT and tags[MARK] == "created"
    assert tags["Name"] == "demo-ecs-secrets-manager-eni"

    moto.start_recording()
    second = play(role_play({"network_tags": {"app": "demo"}}))
    calls = moto.stop_recording()
    assert second.rc == 0 and second.changed == 0, [t.name for t in second.tasks if t.changed]
    assert [c.operation for c in calls if c.is_write] == []
    assert second.result("Published facts")["msg"] == facts
    # The role's own inputs check describes the service and its subnets; the rest is one module call
    # with DescribeVpcEndpoints and one DescribeSecurityGroups for both groups.
    noop_calls = sorted(f"{c.service}:{c.operation}" for c in calls)
    assert noop_calls == ["ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcEndpoints", "ecs:DescribeServices"]
    moto.start_recording()
    checked = play(role_play({"network_tags": {"app": "demo"}}), check=True)
    calls = moto.stop_recording()
    assert checked.rc == 0 and checked.changed == 0, [t.name for t in checked.tasks if t.changed]
    assert sorted(f"{c.service}:{c.operation}" for c in calls) == noop_calls
    assert checked.result("Published facts")["msg"] == facts

    gone = play(role_play(tasks_from="teardown"))
    assert gone.rc == 0, gone.stdout[-3000:]
    assert _endpoints(ec2, env["vpc_id"]) == []
    assert _group(ec2, env["vpc_id"], "demo-secretsmanager-endpoint-sg") is None
    # The group was there before the role: only the role's rule goes.
    assert _sources(_group(ec2, env["vpc_id"], "demo-rds-sg"), 5432) == {("10.9.0.0/16", "bastion")}
    assert _group(ec2, env["vpc_id"], "demo-rds-sg").get("Tags", []) == []
    # The walk-through's own resources are untouched.
    assert _group(ec2, env["vpc_id"], "demo-ecs-service-sg") is not None
    remaining = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [env["vpc_id"]]}])["VpcEndpoints"]
    assert len([e for e in remaining if e["State"].lower() == "available"]) == 4


def test_check_mode_on_a_fresh_environment_writes_nothing(moto, play):
    env = demo_environment.build_demo_environment(moto.client)
    moto.start_recording()
    run = play(role_play(), check=True, diff=True)
    calls = moto.stop_recording()
    assert run.rc == 0, run.stdout[-3000:]
    assert [c.operation for c in calls if c.is_write] == []
    access = role_task(run, ACCESS)
    assert access["changed"] is True and access["db_security_group"]["changed"] is True
    assert access["endpoint"]["would_create"] is True and access["db_security_group"]["would_create"] is True
    assert access["diff"]["before"] == {"endpoint": {}, "db_security_group": {}}
    assert access["diff"]["after"]["endpoint"]["service_name"] == SECRETSMANAGER
    assert sorted(access["diff"]["after"]["endpoint"]["subnet_ids"]) == sorted(env["subnet_ids"])
    assert access["diff"]["after"]["db_security_group"]["ingress_sources"] == [
        {"group_id": env["service_security_group_id"], "description": DB_RULE}]
    facts = run.result("Published facts")["msg"]
    assert facts["network__vpc_id"] == env["vpc_id"]
    assert facts["network__db_security_group_id"] is None
    assert facts["network__secretsmanager_endpoint_id"] is None


def test_cidr_mode_reuses_an_existing_endpoint_and_checks_vpc_dns(moto, play):
    env = demo_environment.build_demo_environment(moto.client)
    ec2 = moto.client("ec2")
    # The walk-through's endpoint: service SG (443 from 10.0.0.0/16 already), private DNS off.
    existing = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=env["vpc_id"], ServiceName=SECRETSMANAGER,
                                       SubnetIds=env["subnet_ids"][:1], SecurityGroupIds=[env["service_security_group_id"]],
                                       PrivateDnsEnabled=False)["VpcEndpoint"]["VpcEndpointId"]
    ec2.modify_vpc_attribute(VpcId=env["vpc_id"], EnableDnsHostnames={"Value": False})

    refused = play(role_play({"network_db_ingress_source": "cidr", "network_db_ingress_cidrs": ["10.0.0.0/16"],
                              "network_manage_vpc_dns": False, "network_secretsmanager_endpoint": "always"}))
    assert refused.rc != 0
    failure = role_task(refused, ACCESS)
    assert "enableDnsHostnames" in failure["msg"] and "manage_vpc_dns" in failure["msg"]

    run = play(role_play({"network_db_ingress_source": "cidr", "network_db_ingress_cidrs": ["10.0.0.0/16"],
                          "network_vpc_name": "demo-service-vpc", "network_secretsmanager_endpoint": "always"}))
    assert run.rc == 0, run.stdout[-3000:]
    facts = run.result("Published facts")["msg"]
    assert facts["network__secretsmanager_endpoint_id"] == existing
    (endpoint,) = _endpoints(ec2, env["vpc_id"])
    # moto 5.2.5 ignores PrivateDnsEnabled in ModifyVpcEndpoint, so the request is checked instead.
    actions = role_task(run, ACCESS)["actions"]
    assert any(existing in a and "PrivateDnsEnabled" in a and "AddSubnetIds" in a for a in actions), actions
    assert sorted(endpoint["SubnetIds"]) == sorted(env["subnet_ids"])
    assert ec2.describe_vpc_attribute(VpcId=env["vpc_id"], Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"] is True
    # 443 from the VPC range already covers the service's subnets: no rule added to the service SG.
    service_group = ec2.describe_security_groups(GroupIds=[env["service_security_group_id"]])["SecurityGroups"][0]
    assert _sources(service_group, 443) == {("10.0.0.0/16", "HTTPS to interface endpoints from the VPC")}
    db_group = _group(ec2, env["vpc_id"], "demo-rds-sg")
    assert {source for source, _description in _sources(db_group, 5432)} == {"10.0.0.0/16"}
    assert {"Key": CREATED_BY, "Value": DEPLOYMENT} in db_group["Tags"]

    # Teardown leaves an endpoint it did not create in place.
    gone = play(role_play({"network_vpc_name": "demo-service-vpc"}, tasks_from="teardown"))
    assert gone.rc == 0, gone.stdout[-3000:]
    assert [e["VpcEndpointId"] for e in _endpoints(ec2, env["vpc_id"])] == [existing]
    assert _group(ec2, env["vpc_id"], "demo-rds-sg") is None


def test_auto_skips_the_endpoint_behind_a_nat_gateway(moto, play):
    env = demo_environment.build_demo_environment(moto.client)
    ec2 = moto.client("ec2")
    public = ec2.create_subnet(VpcId=env["vpc_id"], CidrBlock="10.0.100.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    nat_id = ec2.create_nat_gateway(SubnetId=public, ConnectivityType="private")["NatGateway"]["NatGatewayId"]
    ec2.create_route(RouteTableId=env["route_table_id"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    run = play(role_play())
    assert run.rc == 0, run.stdout[-3000:]
    assert run.result("Published facts")["msg"]["network__secretsmanager_endpoint_id"] is None
    assert role_task(run, ACCESS)["endpoint"]["skipped"] is True
    assert _endpoints(ec2, env["vpc_id"]) == []

    # A service that is not there is an input error, reported by name before any write.
    moto.start_recording()
    missing = play(role_play({"network_ecs_services": ["demo-ecs-service", "no-such-service"]}))
    calls = moto.stop_recording()
    assert missing.rc != 0 and [c for c in calls if c.is_write] == []
    assert "network_ecs_services: service 'no-such-service' is not an ACTIVE service" in role_task(missing, "Check the inputs before touching AWS")["msg"]
