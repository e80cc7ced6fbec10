"""roles/database on the walk-through's private subnets (tests/support/demo_environment.py) on moto."""

import json

from support import demo_environment

CLUSTER = "demo-rds-aurora-postgres"
FACTS = ["database__endpoint", "database__port", "database__secret_arn", "database__secret_kms_key_id", "database__name", "database__cluster"]


def role_play(role_vars, tasks_from=None):
    include = {"name": "ecsrds.connect.database"}
    if tasks_from:
        include["tasks_from"] = tasks_from
    tasks = [{"name": "Apply the database role", "ansible.builtin.include_role": include}]
    if not tasks_from:
        tasks.append({"name": "Published facts", "ansible.builtin.debug": {"msg": {f: f"{{{{ {f} }}}}" for f in FACTS}}})
    return [{
        "name": "database role",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}},
        # The cluster is the user's to name: the role has no default identity.
        "vars": dict({"database_cluster_identifier": CLUSTER}, **role_vars),
        "tasks": tasks,
    }]


def role_task(run, name):
    return next(t.result for t in run.tasks if t.name == f"ecsrds.connect.database : {name}")


def test_check_apply_rerun_and_teardown(moto, play):
    env = demo_environment.build_demo_environment(moto.client)
    ec2, rds = moto.client("ec2"), moto.client("rds")
    db_sg = ec2.create_security_group(GroupName="demo-rds-sg", Description="db", VpcId=env["vpc_id"])["GroupId"]
    role_vars = {"database_subnet_ids": env["subnet_ids"], "database_security_group_ids": [db_sg],
                 "database_tags": {"app": "demo"}, "database_wait_timeout": 120}

    moto.start_recording()
    planned = play(role_play(role_vars), check=True)
    calls = moto.stop_recording()
    assert planned.rc == 0, planned.stdout[-3000:]
    assert [c.operation for c in calls if c.is_write] == []
    plan = role_task(planned, "Ensure the Aurora PostgreSQL cluster and its writer")
    assert plan["would_create"] is True
    # The subnet group the run would create, planned in the same task.
    assert plan["subnet_group"]["db_subnet_group_name"] == f"{CLUSTER}-subnets"
    assert plan["subnet_group"]["subnet_ids"] == sorted(env["subnet_ids"])
    # What RDS assigns at creation is published as marked stand-ins, so the service role can plan.
    assert planned.result("Published facts")["msg"] == {
        "database__endpoint": f"{CLUSTER}.cluster-planned-by-check-mode.us-east-1.rds.amazonaws.com", "database__port": 5432,
        "database__secret_arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:rds!cluster-planned-by-check-mode",
        "database__secret_kms_key_id": None, "database__name": "postgres", "database__cluster": None}

    applied = play(role_play(role_vars))
    assert applied.rc == 0, applied.stdout[-3000:]
    facts = applied.result("Published facts")["msg"]
    cluster = rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
    assert cluster["Engine"] == "aurora-postgresql" and cluster["DeletionProtection"] is True
    assert cluster["DBSubnetGroup"] == f"{CLUSTER}-subnets"
    assert [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]] == [db_sg]
    assert cluster["DatabaseName"] == "postgres" and cluster["Port"] == 5432
    assert [m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"] if m["IsClusterWriter"]] == [f"{CLUSTER}-instance-1"]
    group = rds.describe_db_subnet_groups(DBSubnetGroupName=f"{CLUSTER}-subnets")["DBSubnetGroups"][0]
    assert sorted(s["SubnetIdentifier"] for s in group["Subnets"]) == sorted(env["subnet_ids"])
    assert group["DBSubnetGroupDescription"] == "Private subnets of the Aurora PostgreSQL cluster"
    group_tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=group["DBSubnetGroupArn"])["TagList"]}
    assert group_tags == {"app": "demo", "ecsrds.connect/created-by": CLUSTER, f"ecsrds.connect/deployment:{CLUSTER}": "created"}
    # The subnet group and the cluster are one task: no amazon.aws module runs in the role.
    assert not [t.name for t in applied.tasks if t.action.startswith("amazon.aws.")]
    assert facts["database__endpoint"] == cluster["Endpoint"]
    assert facts["database__port"] == 5432 and facts["database__name"] == "postgres"
    assert facts["database__secret_arn"] == cluster["MasterUserSecret"]["SecretArn"]
    assert ":secret:rds!cluster" in facts["database__secret_arn"]
    assert facts["database__secret_kms_key_id"] == cluster["MasterUserSecret"].get("KmsKeyId")
    assert facts["database__cluster"]["db_cluster_identifier"] == CLUSTER

    moto.start_recording()
    again = play(role_play(role_vars))
    calls = moto.stop_recording()
    assert again.rc == 0 and again.changed == 0, [t.name for t in again.tasks if t.changed]
    assert [c.operation for c in calls if c.is_write] == []
    # Issue 12's budget: the subnet group, cluster and instances cost DescribeDBClusters and
    # DescribeDBInstances, nothing else (the group is compared as the writer's description shows it).
    # (The role run alone also checks its inputs against AWS: the instance class is asked of
    # DescribeOrderableDBInstanceOptions by ecsrds.connect.deployment_check; under site.yml the playbook asks once.)
    cluster_calls = [c.operation for c in calls if c.service == "rds" and c.operation != "DescribeOrderableDBInstanceOptions"]
    assert cluster_calls == ["DescribeDBClusters", "DescribeDBInstances"]
    assert role_task(again, "Ensure the Aurora PostgreSQL cluster and its writer")["subnet_group"]["subnet_ids"] == sorted(env["subnet_ids"])

    moto.start_recording()
    refused = play(role_play({}, tasks_from="teardown"))
    calls = moto.stop_recording()
    assert refused.rc != 0 and [c.operation for c in calls if c.is_write] == []
    failed = [t for t in refused.tasks if t.failed]
    assert len(failed) == 1 and "database_teardown_confirm_delete" in failed[0].result["msg"], [t.result for t in failed]
    # The input to set comes first, the module's wording after.
    assert failed[0].result["msg"].startswith("Teardown stopped before changing anything. ecsrds_teardown_confirm_delete")
    assert rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]["DeletionProtection"] is True

    password = json.loads(moto.client("secretsmanager").get_secret_value(SecretId=facts["database__secret_arn"])["SecretString"])["password"]
    for run in (planned, applied, again, refused):
        assert password not in run.stdout and password not in run.stderr

    moto.start_recording()
    gone = play(role_play({"database_teardown_confirm_delete": True, "database_wait_timeout": 120}, tasks_from="teardown"))
    calls = moto.stop_recording()
    assert gone.rc == 0, gone.stdout[-3000:]
    # The subnet group goes in the same module call, after the cluster.
    assert [c.operation for c in calls if c.is_write] == ["ModifyDBCluster", "DeleteDBInstance", "DeleteDBCluster", "DeleteDBSubnetGroup"]
    assert not [t.name for t in gone.tasks if t.action.startswith("amazon.aws.")]
    # One change, the delete: the check before it only asked (it reports what it would delete, unchanged).
    assert gone.changed == 1 and role_task(gone, "Check that the cluster can be deleted, without changing anything")["changed"] is False
    assert rds.describe_db_clusters()["DBClusters"] == []
    assert rds.describe_db_subnet_groups()["DBSubnetGroups"] == []
    # A final snapshot by default (moto also keeps an automated one from the create).
    manual = [s["DBClusterSnapshotIdentifier"] for s in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"] if s["SnapshotType"] == "manual"]
    assert manual == [f"{CLUSTER}-final"]
