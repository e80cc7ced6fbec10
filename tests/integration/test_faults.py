"""Faults between the modules and AWS (issue 10), through the project's fault-injecting proxy
(tests/support/faults.py) in front of moto, counting what reaches the server.

- Lost responses: each create/register/authorize/put/update call the collection makes is applied
  by the server and answered 500; the run converges (the same run, or the next) with no duplicate.
- Throttling and 5xx on a seeded 30% of all calls across a full site.yml: same end state as a clean run.
- SIGKILL after the cluster create, after the revision register, after the service update and
  mid-rollout, then a re-run: same end state as an uninterrupted run.

Each test adds what it saw to the ``reliability`` records that tests/tools/reliability_report.py
turns into docs/RELIABILITY.md (``make reliability``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import yaml

from support.sandbox import REPO_ROOT, ansible_env, assert_loopback, run_playbook

from support import demo_environment

SITE = REPO_ROOT / "site.yml"
DEFAULTS = {"group/ecsrds.connect.aws": {"region": "us-east-1"}}
SEED = 20261202
SECOND_SERVICE = "demo-ecs-worker"


def module_play(*tasks):
    return [{"hosts": "localhost", "gather_facts": False, "module_defaults": DEFAULTS, "tasks": list(tasks)}]


def leaked(moto, *runs):
    """How many outputs hold a managed secret's password (moto generates a fixed one)."""
    sm = moto.client("secretsmanager")
    passwords = [json.loads(sm.get_secret_value(SecretId=s["ARN"])["SecretString"]).get("password")
                 for s in sm.list_secrets()["SecretList"] if s["Name"].startswith("rds!")]
    return sum(1 for run in runs for password in passwords if password and (password in run.stdout or password in run.stderr))


# ---------------------------------------------------------------------------------------------
# Lost responses, one write at a time, through the single module that makes it
# ---------------------------------------------------------------------------------------------


SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-lost-AbCdEf"


def lost_steps(moto, demo):
    """(module, args, operations whose first call loses its answer there) in playbook order, and
    the environment each needs."""
    ec2, ecs, rds = moto.client("ec2"), moto.client("ecs"), moto.client("rds")
    ec2.modify_vpc_attribute(VpcId=demo["vpc_id"], EnableDnsHostnames={"Value": False})
    rds.create_db_cluster(DBClusterIdentifier="self-managed-db", Engine="aurora-postgresql", MasterUsername="postgres",
                          MasterUserPassword="self-managed-Passw0rd", StorageEncrypted=True)
    base = ecs.describe_task_definition(taskDefinition=demo["task_definition_arn"])["taskDefinition"]
    keep = ("containerDefinitions", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")
    target = ecs.register_task_definition(family=base["family"], **{k: base[k] for k in keep if k in base})["taskDefinition"]["taskDefinitionArn"]
    source = [demo["service_security_group_id"]]
    return [
        ("ecsrds.connect.security_group_ingress", {"name": "lost-db-sg", "vpc_id": demo["vpc_id"], "description": "db", "port": 5432,
                                                   "source_security_group_ids": source, "managed_by": "tests"},
         ["CreateSecurityGroup", "AuthorizeSecurityGroupIngress"]),
        ("ecsrds.connect.vpc_secretsmanager_endpoint", {"subnet_ids": demo["subnet_ids"], "source_security_group_ids": source,
                                                        "name": "lost-secretsmanager", "security_group_name": "lost-endpoint-sg",
                                                        "managed_by": "tests"},
         ["ModifyVpcAttribute", "CreateVpcEndpoint"]),
        # The subnet group as the database role manages it: inside the cluster's module.
        ("ecsrds.connect.rds_aurora_managed_secret", {"db_cluster_identifier": "lost-db", "db_subnet_group_name": "lost-subnets",
                                                      "db_subnet_group_subnet_ids": demo["subnet_ids"], "db_subnet_group_description": "db",
                                                      "deletion_protection": False, "wait_timeout": 120},
         ["CreateDBSubnetGroup", "CreateDBCluster", "CreateDBInstance"]),
        ("ecsrds.connect.rds_aurora_managed_secret", {"db_cluster_identifier": "self-managed-db", "deletion_protection": False,
                                                      "manage_existing_master_password": True, "instance_count": 0, "wait_timeout": 120},
         ["ModifyDBCluster"]),
        ("ecsrds.connect.ecs_taskdef_secret_env", {"task_definition": demo["task_definition_arn"], "container_name": "app",
                                                   "environment": {"DATABASE_DRIVER_CLASS": "org.postgresql.Driver"}, "secret_arn": SECRET_ARN,
                                                   "secret_keys": {"DATABASE_PASSWORD": "password"}, "tags": {"ecsrds.connect/managed": "true"}},
         ["RegisterTaskDefinition"]),
        ("ecsrds.connect.ecs_service_deploy", {"cluster": demo["cluster"], "service": demo["service"], "task_definition": target, "wait_timeout": 60},
         ["UpdateService"]),
        ("ecsrds.connect.ecs_execution_role_grant", {"roles": [demo["execution_role_name"]], "policy_name": "lost-policy",
                                                     "secret_arn": SECRET_ARN, "state": "present"},
         ["PutRolePolicy"]),
    ]


def lost_counts(moto, demo):
    """How many of each thing the steps above make; more than one is a duplicate."""
    ec2, ecs, iam, rds = (moto.client(name) for name in ("ec2", "ecs", "iam", "rds"))
    secrets = [s for s in moto.client("secretsmanager").list_secrets()["SecretList"] if s["Name"].startswith("rds!")]
    db_groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["lost-db-sg"]}])["SecurityGroups"]
    endpoint_groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["lost-endpoint-sg"]}])["SecurityGroups"]
    endpoints = [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["ServiceName"].endswith(".secretsmanager") and e["State"].lower() != "deleted"]
    service = ecs.describe_services(cluster=demo["cluster"], services=[demo["service"]])["services"][0]
    return {
        "subnet groups": len(rds.describe_db_subnet_groups()["DBSubnetGroups"]),
        "db security groups": len(db_groups),
        "db rules": sum(len(perm.get("UserIdGroupPairs", [])) for g in db_groups for perm in g["IpPermissions"]),
        "endpoint security groups": len(endpoint_groups),
        "endpoint rules": sum(len(perm.get("UserIdGroupPairs", [])) + len(perm.get("IpRanges", [])) for g in endpoint_groups for perm in g["IpPermissions"]),
        "endpoints": len(endpoints),
        "clusters": len(rds.describe_db_clusters()["DBClusters"]),
        "instances": len(rds.describe_db_instances()["DBInstances"]),
        "managed secrets": len(secrets),
        # The original, the deploy target made above, and the one the module registers.
        "revisions": len(ecs.list_task_definitions(familyPrefix=demo["family"], status="ACTIVE")["taskDefinitionArns"]),
        "deployments": len(service["deployments"]),
        "policies": len(iam.list_role_policies(RoleName=demo["execution_role_name"])["PolicyNames"]),
    }


EXPECTED = {"subnet groups": 1, "db security groups": 1, "db rules": 1, "endpoint security groups": 1, "endpoint rules": 1, "endpoints": 1,
            "clusters": 2, "instances": 1, "managed secrets": 2, "revisions": 3, "deployments": 1, "policies": 1}


def test_every_write_whose_answer_is_lost_converges_without_duplicates(moto, proxy, reliability):
    """Every create/register/authorize/put/update call the collection makes, applied by the server
    and answered 500 (the first call of each operation), in one playbook of the modules that make
    them: each module run twice (the second is "the next run" for a first that failed)."""
    demo = demo_environment.build_demo_environment(moto.client)
    steps = lost_steps(moto, demo)
    tasks = []
    for index, (module, args, operations) in enumerate(steps):
        for operation in operations:
            proxy.lose(operation)
        tasks.append({"name": f"first {index}", module: args, "ignore_errors": True})
        tasks.append({"name": f"again {index}", module: args})

    run = run_playbook(proxy.endpoint, module_play(*tasks))

    counts = lost_counts(moto, demo)
    leaks = leaked(moto, run)
    forwarded = proxy.log.forwarded()
    for index, (module, _args, operations) in enumerate(steps):
        first = run.result(f"first {index}") if run.tasks else {}
        for operation in operations:
            reliability.append({"kind": "lost", "operation": operation, "module": module, "sent": forwarded[operation],
                                "converged": "same run" if not first.get("failed") else "next run"})
    reliability.append({"kind": "lost-summary", "duplicates": sum(max(0, counts[k] - EXPECTED[k]) for k in EXPECTED), "leaks": leaks})
    assert run.rc == 0, run.stdout[-4000:]
    assert sorted(proxy.lost_fired()) == sorted(op for _m, _a, ops in steps for op in ops), "a fault was not injected"
    assert counts == EXPECTED
    assert leaks == 0
    for index, (module, _args, operations) in enumerate(steps):
        first, again = run.result(f"first {index}"), run.result(f"again {index}")
        # Our modules absorb the lost answer in the same run; the next run has nothing left to do.
        assert module.startswith("ecsrds.connect.")
        assert not first.get("failed"), (operations, first.get("msg"))
        assert again["changed"] is False, (operations, again)


# ---------------------------------------------------------------------------------------------
# Whole site.yml: a clean reference, 30% throttling/5xx, and runs killed at chosen points
# ---------------------------------------------------------------------------------------------


def site_vars(endpoint, services):
    variables = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
    variables["ecsrds_aws_endpoint_url"] = endpoint
    variables["ecsrds_ecs_services"] = [{"name": name, "container_name": "app"} for name in services]
    return variables


def environment(moto, services=1):
    demo = demo_environment.build_demo_environment(moto.client)
    names = [demo["service"]]
    if services > 1:
        moto.client("ecs").create_service(
            cluster=demo["cluster"], serviceName=SECOND_SERVICE, taskDefinition=demo["task_definition_arn"], desiredCount=1,
            launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                "subnets": demo["subnet_ids"], "securityGroups": [demo["service_security_group_id"]], "assignPublicIp": "DISABLED"}},
        )
        names.append(SECOND_SERVICE)
    return demo, names


def end_state(moto, demo, services):
    """What site.yml leaves behind, with AWS-generated ids and names replaced by stable labels,
    so a run that met faults compares equal to a clean one only when it made the same things."""
    ec2, ecs, iam, rds, sm = (moto.client(name) for name in ("ec2", "ecs", "iam", "rds", "secretsmanager"))
    clusters = rds.describe_db_clusters()["DBClusters"]
    secrets = [s for s in sm.list_secrets()["SecretList"] if s["Name"].startswith("rds!")]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [demo["vpc_id"]]}])["SecurityGroups"]
    labels = {g["GroupId"]: g["GroupName"] for g in groups}
    labels.update({c["Endpoint"]: "<cluster endpoint>" for c in clusters if c.get("Endpoint")})
    labels.update({s["ARN"]: "<managed secret>" for s in secrets})

    def stable(value):
        text = json.dumps(value, sort_keys=True, default=str)
        for raw, label in labels.items():
            text = text.replace(raw, label)
        return json.loads(text)

    endpoints = [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"].lower() != "deleted"]
    role = demo["execution_role_name"]
    state = {
        "clusters": [(c["DBClusterIdentifier"], c["Status"], c.get("Port"), sorted(g["VpcSecurityGroupId"] for g in c["VpcSecurityGroups"]))
                     for c in clusters],
        "instances": sorted((i["DBInstanceIdentifier"], i["DBInstanceClass"]) for i in rds.describe_db_instances()["DBInstances"]),
        "managed secrets": len(secrets),
        "subnet groups": sorted(g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]),
        "security groups": sorted((g["GroupName"], json.dumps(g["IpPermissions"], sort_keys=True)) for g in groups),
        "endpoints": sorted((e["ServiceName"], len(e.get("SubnetIds", [])), sorted(x["GroupId"] for x in e.get("Groups", []))) for e in endpoints),
        "task definitions": ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"],
        "services": {},
        "policies": {name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                     for name in iam.list_role_policies(RoleName=role)["PolicyNames"]},
    }
    for service in ecs.describe_services(cluster=demo["cluster"], services=services)["services"]:
        definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        app = definition["containerDefinitions"][0]
        state["services"][service["serviceName"]] = {
            "task definition": service["taskDefinition"], "environment": app.get("environment"), "secrets": app.get("secrets"),
        }
    return stable(state)


def duplicates(state, reference):
    """Things a faulty run made more of than a clean one."""
    counted = ("clusters", "instances", "endpoints", "task definitions", "security groups")
    return sum(max(0, len(state[key]) - len(reference[key])) for key in counted) + max(0, state["managed secrets"] - reference["managed secrets"])


def _spawn(endpoint, variables, tmp):
    assert_loopback(endpoint)
    vars_path = Path(tmp) / "vars.json"
    vars_path.write_text(json.dumps(variables))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(SITE), "-e", f"@{vars_path}"]
    # A session of its own, so SIGKILL reaches ansible-playbook and its module processes, not pytest.
    return subprocess.Popen(command, env=ansible_env(endpoint), cwd=str(REPO_ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)


def run_killed_at(proxy, variables, point, should_kill):
    """Run site.yml through the proxy and SIGKILL it right after the server applied the call
    ``should_kill`` picks (its answer never arrives). True when the kill happened."""
    killed = threading.Event()
    seen = []
    with tempfile.TemporaryDirectory(prefix="ecsrds-kill-") as tmp:
        process = _spawn(proxy.endpoint, variables, tmp)

        def hook(request):
            seen.append(request.operation)
            if not killed.is_set() and should_kill(request, seen):
                killed.set()
                os.killpg(process.pid, signal.SIGKILL)
                return "drop"
            return None

        proxy.after_forward = hook
        output, _ignored = process.communicate(timeout=600)
        proxy.after_forward = None
    assert killed.is_set(), f"{point}: the run ended (rc {process.returncode}) before the kill point: {output[-2000:]}"
    assert process.returncode == -signal.SIGKILL
    return output


def _after(operation):
    return lambda request, seen: request.operation == operation


def _mid_rollout(request, seen):
    # The first look at the service after its update: the deployment is under way.
    return request.operation == "DescribeServices" and "UpdateService" in seen[:-1]


KILL_POINTS = (
    ("after the cluster create", _after("CreateDBCluster")),
    ("after the revision register", _after("RegisterTaskDefinition")),
    ("after the service update", _after("UpdateService")),
    ("mid-rollout", _mid_rollout),
)


def test_site_under_faults_and_kills_ends_like_a_clean_run(moto, proxy, reliability):
    """One clean site.yml as the reference; then from the same start a run with 30% throttling/5xx,
    and a run killed at each of four points and run again: both must end exactly like the reference.
    Two services: the first one's update is the third kill point, the second one's rollout the fourth.
    One test, so the reference run (the expensive part) is made once."""
    demo, names = environment(moto, 2)
    clean = run_playbook(moto.endpoint, SITE, extra_vars=site_vars(moto.endpoint, names))
    assert clean.rc == 0, clean.stdout[-3000:]
    reference = end_state(moto, demo, names)

    # 30% of all calls throttled or failed with a 5xx, seeded.
    moto.reset()
    demo, names = environment(moto, 2)
    proxy.chaos(0.3, SEED)
    run = run_playbook(proxy.endpoint, SITE, extra_vars=site_vars(proxy.endpoint, names))
    faults = proxy.log.faults()
    state = end_state(moto, demo, names)
    leaks = leaked(moto, run)
    per_operation = {}
    for (operation, fault), number in sorted(faults.items()):
        per_operation.setdefault(operation, {})[fault] = number
    reliability.append({
        "kind": "chaos", "seed": SEED, "rate": 0.3, "calls": len(proxy.log.requests), "faults": per_operation,
        "absorbed": run.rc == 0, "same_end_state": state == reference, "leaks": leaks, "duplicates": duplicates(state, reference),
    })
    assert run.rc == 0, run.stdout[-4000:]
    assert sum(faults.values()) > 0.2 * len(proxy.log.requests)
    assert {fault for _operation, fault in faults} == {"throttled", "5xx", "unavailable"}
    assert state == reference
    assert leaks == 0

    # Killed with SIGKILL at each point in turn, each run resuming what the one before left.
    moto.reset()
    proxy.reset()
    demo, names = environment(moto, 2)
    variables = site_vars(proxy.endpoint, names)
    for point, should_kill in KILL_POINTS:
        run_killed_at(proxy, variables, point, should_kill)
        reliability.append({"kind": "kill", "point": point, "killed": True})
    proxy.reset()
    final = run_playbook(proxy.endpoint, SITE, extra_vars=variables)
    assert final.rc == 0, final.stdout[-4000:]
    state = end_state(moto, demo, names)
    leaks = leaked(moto, final)
    reliability.append({"kind": "resume", "points": [p for p, _k in KILL_POINTS], "same_end_state": state == reference,
                        "leaks": leaks, "duplicates": duplicates(state, reference)})
    assert state == reference
    assert leaks == 0
