"""The AWS environment the original walk-through started from, built with boto3 on a moto server.

Before the database existed the article had: the VPC ``demo-service-vpc`` (10.0.0.0/16) with two
private subnets and no NAT gateway, the interface endpoints a Fargate task in such subnets needs to
pull its image and ship logs (ECR api/dkr, CloudWatch Logs, S3 gateway) but none for Secrets
Manager, the service security group ``demo-ecs-service-sg`` (8080 and 443 from the VPC), the ECS
cluster ``demo-ecs-cluster`` running ``demo-ecs-service`` (two Fargate tasks, no public IP) and the
execution role ``ecsTaskExecutionRole`` with only AmazonECSTaskExecutionRolePolicy.

Usage as a script (the endpoint must be a loopback moto server)::

    PYTHONPATH=tests python -m support.demo_environment --endpoint http://127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

REGION = "us-east-1"
VPC_NAME = "demo-service-vpc"
VPC_CIDR = "10.0.0.0/16"
PRIVATE_SUBNETS = (("demo-service-private-a", "10.0.1.0/24", "us-east-1a"), ("demo-service-private-b", "10.0.2.0/24", "us-east-1b"))
SERVICE_SG_NAME = "demo-ecs-service-sg"
CLUSTER = "demo-ecs-cluster"
SERVICE = "demo-ecs-service"
FAMILY = "demo-ecs-task"
CONTAINER = "app"
IMAGE = "public.ecr.aws/docker/library/amazoncorretto:17"
LOG_GROUP = "/ecs/demo-ecs-task"
EXECUTION_ROLE = "ecsTaskExecutionRole"
EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
# What a Fargate task in a subnet without NAT needs before any secret is involved.
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs")
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

ClientFactory = Callable[[str], Any]


def _name_tags(resource_type: str, name: str) -> List[Dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}]}]


def _find_vpc(ec2: Any) -> Optional[str]:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [VPC_NAME]}])["Vpcs"]
    return vpcs[0]["VpcId"] if vpcs else None


def _ensure_vpc(ec2: Any) -> str:
    vpc_id = _find_vpc(ec2)
    if vpc_id is None:
        vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=_name_tags("vpc", VPC_NAME))["Vpc"]["VpcId"]
    # One attribute per request: that is how the API takes them.
    for attribute, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        if not ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)[key]["Value"]:
            ec2.modify_vpc_attribute(VpcId=vpc_id, **{key: {"Value": True}})
    return vpc_id


def _ensure_subnets(ec2: Any, vpc_id: str) -> List[str]:
    existing = {
        subnet["CidrBlock"]: subnet["SubnetId"]
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    }
    subnet_ids = []
    for name, cidr, zone in PRIVATE_SUBNETS:
        subnet_id = existing.get(cidr)
        if subnet_id is None:
            subnet_id = ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone, TagSpecifications=_name_tags("subnet", name)
            )["Subnet"]["SubnetId"]
        subnet_ids.append(subnet_id)
    return subnet_ids


def _ensure_private_route_table(ec2: Any, vpc_id: str, subnet_ids: List[str]) -> str:
    """A route table with only the local route (and the S3 prefix-list route added by the gateway
    endpoint): no NAT gateway, no internet gateway."""
    name = "demo-service-private-rt"
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "tag:Name", "Values": [name]}]
    )["RouteTables"]
    if tables:
        table = tables[0]
    else:
        table = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=_name_tags("route-table", name))["RouteTable"]
    associated = {assoc.get("SubnetId") for assoc in table.get("Associations", [])}
    for subnet_id in subnet_ids:
        if subnet_id not in associated:
            ec2.associate_route_table(RouteTableId=table["RouteTableId"], SubnetId=subnet_id)
    return table["RouteTableId"]


def _ensure_service_sg(ec2: Any, vpc_id: str) -> str:
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [SERVICE_SG_NAME]}]
    )["SecurityGroups"]
    if groups:
        return groups[0]["GroupId"]
    group_id = ec2.create_security_group(
        GroupName=SERVICE_SG_NAME,
        Description="demo ECS service: app port and HTTPS for interface endpoints",
        VpcId=vpc_id,
        TagSpecifications=_name_tags("security-group", SERVICE_SG_NAME),
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": VPC_CIDR, "Description": description}]}
            for port, description in ((8080, "app from the VPC"), (443, "HTTPS to interface endpoints from the VPC"))
        ],
    )
    return group_id


def _ensure_endpoints(ec2: Any, vpc_id: str, subnet_ids: List[str], route_table_id: str, sg_id: str) -> Dict[str, str]:
    existing = {
        endpoint["ServiceName"]: endpoint["VpcEndpointId"]
        for endpoint in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
        if endpoint.get("State", "").lower() not in ("deleted", "deleting")
    }
    result = {}
    for short in INTERFACE_ENDPOINTS:
        service_name = f"com.amazonaws.{REGION}.{short}"
        if service_name not in existing:
            existing[service_name] = ec2.create_vpc_endpoint(
                VpcEndpointType="Interface",
                VpcId=vpc_id,
                ServiceName=service_name,
                SubnetIds=subnet_ids,
                SecurityGroupIds=[sg_id],
                PrivateDnsEnabled=True,
                TagSpecifications=_name_tags("vpc-endpoint", f"demo-ecs-{short.replace('.', '-')}-eni"),
            )["VpcEndpoint"]["VpcEndpointId"]
        result[short] = existing[service_name]
    s3 = f"com.amazonaws.{REGION}.s3"
    if s3 not in existing:
        existing[s3] = ec2.create_vpc_endpoint(
            VpcEndpointType="Gateway",
            VpcId=vpc_id,
            ServiceName=s3,
            RouteTableIds=[route_table_id],
            TagSpecifications=_name_tags("vpc-endpoint", "demo-ecs-s3-gateway"),
        )["VpcEndpoint"]["VpcEndpointId"]
    result["s3"] = existing[s3]
    return result


def _ensure_execution_role(iam: Any) -> Dict[str, Any]:
    try:
        arn = iam.get_role(RoleName=EXECUTION_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=EXECUTION_ROLE, AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))["Role"]["Arn"]
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=EXECUTION_ROLE)["AttachedPolicies"]]
    if EXECUTION_POLICY_ARN not in attached:
        try:
            iam.attach_role_policy(RoleName=EXECUTION_ROLE, PolicyArn=EXECUTION_POLICY_ARN)
            attached.append(EXECUTION_POLICY_ARN)
        except iam.exceptions.NoSuchEntityException:
            # moto only knows AWS managed policies with MOTO_IAM_LOAD_MANAGED_POLICIES=true; a
            # look-alike customer policy would be a lie about the starting point, so none is made.
            pass
    return {"arn": arn, "policy_arns": attached}


def _ensure_log_group(logs: Any) -> str:
    found = logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
    if not any(group["logGroupName"] == LOG_GROUP for group in found):
        logs.create_log_group(logGroupName=LOG_GROUP)
    return LOG_GROUP


def _ensure_task_definition(ecs: Any, execution_role_arn: str, family: str = FAMILY) -> str:
    try:
        return ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["taskDefinitionArn"]
    except ecs.exceptions.ClientException:
        pass
    return ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        executionRoleArn=execution_role_arn,
        containerDefinitions=[
            {
                "name": CONTAINER,
                "image": IMAGE,
                "essential": True,
                "memory": 1024,
                "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": LOG_GROUP, "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"},
                },
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]


def _ensure_service(ecs: Any, task_definition_arn: str, subnet_ids: List[str], sg_id: str, name: str = SERVICE) -> str:
    if not any(c["clusterName"] == CLUSTER and c["status"] == "ACTIVE" for c in ecs.describe_clusters(clusters=[CLUSTER])["clusters"]):
        ecs.create_cluster(clusterName=CLUSTER)
    services = ecs.describe_services(cluster=CLUSTER, services=[name])["services"]
    if any(s["status"] == "ACTIVE" for s in services):
        return name
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=name,
        taskDefinition=task_definition_arn,
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": subnet_ids, "securityGroups": [sg_id], "assignPublicIp": "DISABLED"}
        },
    )
    return name


def extra_service_names(service_count: int) -> List[Tuple[str, str]]:
    """(service, task family) of the services beyond the walk-through's one, numbered from 2."""
    return [(f"{SERVICE}-{number}", f"{FAMILY}-{number}") for number in range(2, service_count + 1)]


def build_demo_environment(client_factory: ClientFactory, service_count: int = 1) -> Dict[str, Any]:
    """Create (or find) the walk-through's starting point and return its ids and names.

    ``service_count`` above 1 adds services ``demo-ecs-service-2`` ... ``-N`` beside the walk-through's
    one (the benchmark's "N services sharing the database"): same cluster, subnets, security group,
    execution role and log group, each with its own task family ``demo-ecs-task-<n>``, as separate
    applications would have. They are listed under ``extra_services``; the other keys stay those of
    the walk-through's service."""
    if service_count < 1:
        raise ValueError(f"service_count must be at least 1, got {service_count}")
    ec2 = client_factory("ec2")
    vpc_id = _ensure_vpc(ec2)
    subnet_ids = _ensure_subnets(ec2, vpc_id)
    route_table_id = _ensure_private_route_table(ec2, vpc_id, subnet_ids)
    sg_id = _ensure_service_sg(ec2, vpc_id)
    endpoints = _ensure_endpoints(ec2, vpc_id, subnet_ids, route_table_id, sg_id)
    role = _ensure_execution_role(client_factory("iam"))
    log_group = _ensure_log_group(client_factory("logs"))
    ecs = client_factory("ecs")
    task_definition_arn = _ensure_task_definition(ecs, role["arn"])
    service = _ensure_service(ecs, task_definition_arn, subnet_ids, sg_id)
    extra_services = [
        _ensure_service(ecs, _ensure_task_definition(ecs, role["arn"], family), subnet_ids, sg_id, name)
        for name, family in extra_service_names(service_count)
    ]
    facts = {
        "region": REGION,
        "vpc_id": vpc_id,
        "vpc_name": VPC_NAME,
        "vpc_cidr": VPC_CIDR,
        "subnet_ids": subnet_ids,
        "route_table_id": route_table_id,
        "service_security_group_id": sg_id,
        "vpc_endpoint_ids": endpoints,
        "cluster": CLUSTER,
        "service": service,
        "family": FAMILY,
        "container": CONTAINER,
        "task_definition_arn": task_definition_arn,
        "execution_role_name": EXECUTION_ROLE,
        "execution_role_arn": role["arn"],
        "execution_role_policy_arns": role["policy_arns"],
        "log_group": log_group,
    }
    if extra_services:
        facts["extra_services"] = extra_services
    return facts


# What the walk-through's Spring Boot app logs when its pool reaches PostgreSQL (the seed's proof).
APP_START_LINES = (
    "Starting DemoApplication using Java 17",
    "HikariPool-1 - Starting...",
    "HikariPool-1 - Added connection org.postgresql.jdbc.PgConnection@{suffix}",
    "HikariPool-1 - Start completed.",
    "Started DemoApplication in 6.2 seconds (process running for 7.1)",
)


# What the app logs when its pool cannot log in (HikariCP over pgjdbc), before it exits.
APP_FAILURE_LINES = (
    "Starting DemoApplication using Java 17",
    "HikariPool-1 - Starting...",
    "HikariPool-1 - Exception during pool initialization.",
    "org.postgresql.util.PSQLException: {error}",
    "Application run failed",
)


def app_stand_in(client_factory: ClientFactory, database: Any, cluster: str = CLUSTER, service: str = SERVICE) -> Optional[Dict[str, Any]]:
    """A STAND-IN for the application's task, which moto does not run, on a REAL PostgreSQL
    (``database``: support.real_database.RealDatabase). When the service's current deployment runs a
    revision with DATABASE_URL and has no task yet, it starts the deployment's tasks (as ECS would: group
    ``service:<name>``, startedBy the deployment id) and for each does what ECS and the app would:
    the container's environment and secrets resolved as the ECS agent does (a secret it cannot read,
    or a JSON key missing, stops the task with the agent's ResourceInitializationError); then a
    connection with those values, the URL's host standing for the PostgreSQL server (moto's cluster
    endpoint names none), and a query. The lines the app logs, connected or not, go to the awslogs
    stream ``<prefix>/<container>/<task-id>``. Returns what it did, or None when nothing was to do."""
    from support.real_database import TaskStartError, resolve_container

    starting = _start_deployment_tasks(client_factory, cluster, service, before_start=lambda: follow_clusters(client_factory, database))
    if starting is None:
        return None
    deployment_id, container, started = starting
    ecs = client_factory("ecs")
    try:
        variables = resolve_container(client_factory, container)
    except TaskStartError as error:
        for task in started:
            ecs.stop_task(cluster=cluster, task=task["taskArn"], reason=str(error))
        return {"deployment_id": deployment_id, "stopped_reason": str(error), "log_streams": [], "connected": None}
    try:
        user, version = database.connect_as_the_application(variables)
        lines, connected = APP_START_LINES, f"{user}@PostgreSQL {version}"
    except Exception as error:  # the driver's refusal is what the app logs
        refusal = str(error).replace("{", "(").replace("}", ")")
        lines, connected = tuple(line.replace("{error}", refusal) for line in APP_FAILURE_LINES), None
    done = _write_task_logs(client_factory, container, started, lines)
    return dict(done, deployment_id=deployment_id, connected=connected)


def log_app_start(client_factory: ClientFactory, cluster: str = CLUSTER, service: str = SERVICE) -> Optional[Dict[str, Any]]:
    """For the tests of log reading alone: the current deployment's tasks started and the app's start-up
    lines written as given data, with no database behind them (app_stand_in connects for real)."""
    starting = _start_deployment_tasks(client_factory, cluster, service)
    if starting is None:
        return None
    deployment_id, container, started = starting
    return dict(_write_task_logs(client_factory, container, started, APP_START_LINES), deployment_id=deployment_id)


def _start_deployment_tasks(client_factory: ClientFactory, cluster: str, service: str,
                            before_start: Callable[[], Any] = lambda: None) -> Optional[Tuple[str, Dict[str, Any], List[Dict[str, Any]]]]:
    """As ECS would for the service's PRIMARY deployment once it runs a revision with DATABASE_URL and
    has no task yet: its tasks (group ``service:<name>``, startedBy the deployment id). None otherwise."""
    ecs = client_factory("ecs")
    described = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    primary = next(d for d in described["deployments"] if d["status"] == "PRIMARY")
    revision = ecs.describe_task_definition(taskDefinition=described["taskDefinition"])["taskDefinition"]
    container = next((c for c in revision["containerDefinitions"] if any(e["name"] == "DATABASE_URL" for e in c.get("environment", []))), None)
    if container is None:
        return None
    arns = [arn for status in ("RUNNING", "STOPPED") for arn in ecs.list_tasks(cluster=cluster, desiredStatus=status)["taskArns"]]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    if any(t.get("startedBy") == primary["id"] and t.get("group") == f"service:{service}" for t in tasks):
        return None
    before_start()
    started = ecs.run_task(
        cluster=cluster, taskDefinition=described["taskDefinition"], count=described["desiredCount"], group=f"service:{service}",
        startedBy=primary["id"], launchType="FARGATE", networkConfiguration=described["networkConfiguration"],
    )["tasks"]
    return primary["id"], container, started


def _write_task_logs(client_factory: ClientFactory, container: Mapping[str, Any], started: List[Dict[str, Any]], lines: Tuple[str, ...]) -> Dict[str, Any]:
    """The lines each task's app logs, to its awslogs stream ``<prefix>/<container>/<task-id>``."""
    logs, options = client_factory("logs"), container["logConfiguration"]["options"]
    streams = []
    for task in started:
        stream = f"{options['awslogs-stream-prefix']}/{container['name']}/{task['taskArn'].rsplit('/', 1)[-1]}"
        logs.create_log_stream(logGroupName=options["awslogs-group"], logStreamName=stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now + i, "message": line.format(suffix=task["taskArn"][-8:])} for i, line in enumerate(lines)]
        logs.put_log_events(logGroupName=options["awslogs-group"], logStreamName=stream, logEvents=events)
        streams.append(stream)
    return {"log_group": options["awslogs-group"], "log_streams": streams}


class TaskStandIn(threading.Thread):
    """Plays the tasks of ``services`` every second (:func:`app_stand_in`) until stopped; each outcome
    goes to ``outcomes`` and to ``report`` (the demo prints it). A hiccup of moto's is reported as such
    and tried again the next second: the log check then tells whether the app connected."""

    def __init__(self, client_factory: ClientFactory, database: Any, services: Sequence[str] = (SERVICE,), cluster: str = CLUSTER,
                 report: Callable[[str, Dict[str, Any]], None] = lambda service, outcome: None) -> None:
        super().__init__(daemon=True)
        self.client_factory, self.database, self.services, self.cluster, self.report = client_factory, database, list(services), cluster, report
        self.outcomes: List[Tuple[str, Dict[str, Any]]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            for service in self.services:
                try:
                    done = app_stand_in(self.client_factory, self.database, self.cluster, service)
                except Exception as exc:  # noqa: BLE001 - a stand-in hiccup must not end the thread
                    done = {"error": str(exc)}
                if done:
                    self.outcomes.append((service, done))
                    self.report(service, done)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def follow_clusters(client_factory: ClientFactory, database: Any) -> List[str]:
    """RDS's part for every Aurora cluster moto holds: its master login on the real server is what its
    managed secret holds now. Returns the clusters whose login was (re)set."""
    clusters = client_factory("rds").describe_db_clusters()["DBClusters"]
    return [c["DBClusterIdentifier"] for c in clusters if database.follow_cluster(client_factory, c["DBClusterIdentifier"])]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--endpoint", required=True, help="loopback moto server URL, e.g. http://127.0.0.1:5000")
    args = parser.parse_args(argv)

    from support.sandbox import loopback_client  # the harness's loopback-only client, shared with the tests

    print(json.dumps(build_demo_environment(lambda service: loopback_client(args.endpoint, service)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
