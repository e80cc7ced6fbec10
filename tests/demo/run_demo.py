"""`make demo`: the whole job on this machine, with no AWS account.

Starts a moto server on a free 127.0.0.1 port and a real PostgreSQL (pgserver), builds the environment
the original console walk-through started from, runs site.yml, runs it again to show `changed=0`,
prints what was built and stops both, also when interrupted. It refuses to run against anything but
loopback.

Real: PostgreSQL 16, the psycopg driver's connection and query, the values it connects with (resolved
from the new revision's environment and secrets the way the ECS agent resolves them), the master
login's password (the one in the cluster's managed secret). Emulated: the AWS APIs (moto), the task
(no container runs: a stand-in thread starts it in moto, connects in its place and logs what the app
logs), and the endpoint's DNS (the URL's host stands for the local server).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from support.demo_environment import TaskStandIn, build_demo_environment
from support.real_database import RealDatabase
from support.sandbox import REPO_ROOT, MotoServer, ansible_env, assert_loopback

# The line the service role waits for after the rollout (the seed's proof that the app connected).
VERIFY_LOG_PATTERN = r"HikariPool-\d+ - Added connection org\.postgresql"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def run_site(endpoint: str, label: str) -> int:
    """Run site.yml with the demo inputs, echoing Ansible's output; return the recap's changed count."""
    assert_loopback(endpoint)
    env = ansible_env(endpoint)
    env["ANSIBLE_STDOUT_CALLBACK"] = "default"
    env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "yaml"
    env["ANSIBLE_NOCOLOR"] = "0" if sys.stdout.isatty() else "1"
    env["ANSIBLE_FORCE_COLOR"] = "1" if sys.stdout.isatty() else "0"
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "site.yml",
        "-e", "@playbooks/vars/demo.yml",
        "-e", json.dumps({"ecsrds_aws_endpoint_url": endpoint, "ecsrds_verify_log_pattern": VERIFY_LOG_PATTERN}),
    ]
    print(f"\n=== {label}: ansible-playbook site.yml -e @playbooks/vars/demo.yml (endpoint {endpoint})\n", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    assert proc.stdout is not None
    for line in proc.stdout:
        output.append(line)
        sys.stdout.write(line)
    rc = proc.wait()
    recap = RECAP.findall("".join(output))
    if rc != 0 or not recap:
        raise SystemExit(f"{label} failed (exit {rc})")
    changed = sum(int(row[2]) for row in recap)
    print(f"=== {label} finished in {time.monotonic() - started:.1f}s with changed={changed}", flush=True)
    return changed


def report(service: str, done: dict) -> None:
    """What the stand-in for the task did, said as a stand-in's."""
    who = f"[stand-in for the task, not ECS] {service}"
    if "error" in done:
        print(f"{who}: could not act this second: {done['error']}", flush=True)
    elif done.get("stopped_reason"):
        print(f"{who}, deployment {done['deployment_id']}: the task stopped: {done['stopped_reason']}", flush=True)
    elif done["connected"]:
        print(f"{who}, deployment {done['deployment_id']}: resolved DATABASE_URL and the secrets as the ECS agent does, connected to "
              f"the real PostgreSQL as {done['connected']}, ran a query, and logged 'HikariPool-1 - Added connection "
              f"org.postgresql...' to {done['log_group']}", flush=True)
    else:
        print(f"{who}, deployment {done['deployment_id']}: PostgreSQL refused the connection; logged the app's failure to "
              f"{done['log_group']}", flush=True)


def show_what_was_built(server: MotoServer, facts: dict) -> None:
    rds = server.client("rds")
    ec2 = server.client("ec2")
    ecs = server.client("ecs")
    iam = server.client("iam")
    cluster = rds.describe_db_clusters(DBClusterIdentifier="demo-rds-aurora-postgres")["DBClusters"][0]
    print("\n=== What was built")
    print(f"Aurora cluster   {cluster['DBClusterIdentifier']} ({cluster['Engine']}, encrypted={cluster['StorageEncrypted']})")
    print(f"  writer         {cluster['Endpoint']}:{cluster['Port']}")
    print(f"  secret (ARN)   {cluster['MasterUserSecret']['SecretArn']}  (value never read)")
    for member in cluster.get("DBClusterMembers", []):
        instance = rds.describe_db_instances(DBInstanceIdentifier=member["DBInstanceIdentifier"])["DBInstances"][0]
        print(f"  instance       {instance['DBInstanceIdentifier']} {instance['DBInstanceClass']} "
              f"writer={member['IsClusterWriter']} public={instance['PubliclyAccessible']}")
    db_sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["demo-rds-sg"]}])["SecurityGroups"][0]
    for rule in db_sg["IpPermissions"]:
        sources = [pair["GroupId"] for pair in rule.get("UserIdGroupPairs", [])] + [r["CidrIp"] for r in rule.get("IpRanges", [])]
        print(f"DB security group {db_sg['GroupId']}: inbound {rule.get('FromPort')} from {', '.join(sources)}")
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [facts["vpc_id"]]}])["VpcEndpoints"]
    for endpoint in endpoints:
        if endpoint["ServiceName"].endswith(".secretsmanager"):
            print(f"VPC endpoint     {endpoint['VpcEndpointId']} {endpoint['ServiceName']} private_dns={endpoint['PrivateDnsEnabled']} "
                  f"subnets={','.join(endpoint['SubnetIds'])}")
    role = facts["execution_role_arn"].rsplit("/", 1)[-1]
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        print(f"Execution role   {role}: inline policy {name}")
        for statement in document["Statement"]:
            print(f"                 {statement['Effect']} {statement['Action']} on {statement['Resource']}")
    service = ecs.describe_services(cluster="demo-ecs-cluster", services=["demo-ecs-service"])["services"][0]
    taskdef = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    app = next(c for c in taskdef["containerDefinitions"] if c["name"] == "app")
    print(f"ECS service      demo-ecs-service runs {service['taskDefinition'].rsplit('/', 1)[-1]} "
          f"(running {service['runningCount']}/{service['desiredCount']})")
    for variable in app.get("environment", []):
        print(f"  env            {variable['name']}={variable['value']}")
    for secret in app.get("secrets", []):
        print(f"  secret         {secret['name']} <- {secret['valueFrom']}")
    log_group = app["logConfiguration"]["options"]["awslogs-group"]
    found = server.client("logs").filter_log_events(logGroupName=log_group)["events"]
    for event in (e for e in found if re.search(VERIFY_LOG_PATTERN, e["message"])):
        print(f"Log check        found in {log_group} {event['logStreamName']}: {event['message']}  "
              "(logged by the stand-in after its real connection)")


def main() -> int:
    server = None
    stand_in = None
    database = None

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    try:
        server = MotoServer()
        assert_loopback(server.endpoint)
        print(f"moto server on {server.endpoint}; building the walk-through's starting environment...", flush=True)
        facts = build_demo_environment(server.client)
        print(json.dumps(facts, indent=2, default=str))
        database = RealDatabase().start()
        print(f"Real: PostgreSQL {database.version} (pgserver, socket {database.socket_directory}), its master login set from the "
              "cluster's managed secret once moto has made it, the psycopg driver, and the values the task connects with. "
              "Emulated: the AWS APIs (moto), the task (no container runs: a stand-in thread starts it in moto, resolves its "
              "variables as the ECS agent does, connects and logs what the app logs) and the endpoint's DNS.", flush=True)
        stand_in = TaskStandIn(server.client, database, report=report)
        stand_in.start()
        first = run_site(server.endpoint, "First run")
        if first == 0:
            raise SystemExit("The first run changed nothing: the demo environment was not what site.yml expects")
        second = run_site(server.endpoint, "Second run (should change nothing)")
        if second != 0:
            raise SystemExit(f"The second run reported changed={second}; expected changed=0")
        show_what_was_built(server, facts)
        connected = [done["connected"] for _service, done in stand_in.outcomes if done.get("connected")]
        print(f"Connections      {len(connected)} real connection(s) with the resolved values: {', '.join(connected) or 'none'}")
        print(f"\nDemo finished in {time.monotonic() - started:.0f}s: first run changed={first}, second run changed=0.")
        return 0
    except KeyboardInterrupt:
        print("\nInterrupted; stopping the moto server.", file=sys.stderr)
        return 130
    finally:
        if stand_in is not None:
            stand_in.stop()
        if server is not None:
            server.stop()
        if database is not None:
            database.stop()


if __name__ == "__main__":
    sys.exit(main())
