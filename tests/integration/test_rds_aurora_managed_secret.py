"""ecsrds.connect.rds_aurora_managed_secret through Ansible against moto: check mode, apply, idempotent
re-run without writes, single changes, refused inputs without writes, instance scaling, deletion, and
the managed secret's value never showing up in any output."""

from __future__ import annotations

import json

from support.sandbox import write_calls

MODULE = "ecsrds.connect.rds_aurora_managed_secret"


def task(name, register=None, ignore_errors=False, check_mode=None, **args):
    entry = {"name": name, MODULE: args}
    if register:
        entry["register"] = register
    if ignore_errors:
        entry["ignore_errors"] = True
    if check_mode is not None:
        entry["check_mode"] = check_mode
    return entry


def playbook(*tasks):
    return [
        {
            "name": "rds_aurora_managed_secret",
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/ecsrds.connect.aws": {"region": "us-east-1"}},
            "tasks": list(tasks),
        }
    ]


def operations(calls):
    return [call.operation for call in write_calls(calls)]


def secret_password(moto, secret_arn):
    value = json.loads(moto.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])
    return value["password"]


def make_cluster(moto, cluster_id, managed=True, instances=1, **extra):
    """A cluster made without the module, as someone else (or an older tool) would have."""
    rds = moto.client("rds")
    args = dict(
        DBClusterIdentifier=cluster_id,
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        StorageEncrypted=True,
        DeletionProtection=True,
    )
    if managed:
        args["ManageMasterUserPassword"] = True
    else:
        args["MasterUserPassword"] = "self-managed-Passw0rd"
    args.update(extra)
    rds.create_db_cluster(**args)
    for number in range(1, instances + 1):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{cluster_id}-instance-{number}",
            DBClusterIdentifier=cluster_id,
            Engine="aurora-postgresql",
            DBInstanceClass="db.t4g.medium",
        )
    return rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]


def test_check_apply_rerun_delete_and_secret_never_output(play, moto):
    cluster = {"db_cluster_identifier": "orders-db", "database_name": "orders", "tags": {"app": "orders"}}
    outputs = []

    moto.start_recording()
    check = play(playbook(task("plan", register="plan", **cluster)), check=True, diff=True)
    assert write_calls(moto.stop_recording()) == []
    outputs.append(check.stdout + check.stderr)
    assert check.rc == 0, check.stdout
    planned = check.result("plan")
    assert planned["changed"] is True
    assert planned["would_create"] is True
    assert planned["cluster"] is None and planned["instances"] == []
    assert planned["diff"]["before"] == {}
    assert planned["diff"]["after"]["storage_encrypted"] is True
    assert list(planned["diff"]["after"]["instances"]) == ["orders-db-instance-1"]
    assert moto.client("rds").describe_db_clusters()["DBClusters"] == []

    apply = play(playbook(task("apply", **cluster)), diff=True)
    outputs.append(apply.stdout + apply.stderr)
    assert apply.rc == 0, apply.stdout
    created = apply.result("apply")
    assert created["changed"] is True and created["would_create"] is False
    result = created["cluster"]
    assert result["db_cluster_identifier"] == "orders-db"
    assert result["status"] == "available"
    assert result["engine"] == "aurora-postgresql"
    assert result["master_username"] == "postgres"
    assert result["database_name"] == "orders"
    assert result["storage_encrypted"] is True
    assert result["deletion_protection"] is True
    assert result["endpoint"] and result["reader_endpoint"] and result["port"] == 5432
    assert result["tags"] == {"app": "orders"} and "tag_list" not in result
    secret = result["master_user_secret"]
    assert secret["secret_arn"].startswith("arn:aws:secretsmanager:") and secret["secret_status"] == "active"
    assert created["instances"] == [
        {
            "db_instance_identifier": "orders-db-instance-1",
            "db_instance_class": "db.t4g.medium",
            "is_cluster_writer": True,
            "db_instance_status": "available",
            "publicly_accessible": False,
        }
    ]
    instance = moto.client("rds").describe_db_instances(DBInstanceIdentifier="orders-db-instance-1")["DBInstances"][0]
    assert instance["PubliclyAccessible"] is False and instance["MonitoringInterval"] == 0

    moto.start_recording()
    rerun = play(playbook(task("again", **cluster), task("again in check mode", check_mode=True, **cluster)), diff=True)
    calls = moto.stop_recording()
    outputs.append(rerun.stdout + rerun.stderr)
    assert rerun.rc == 0, rerun.stdout
    assert write_calls(calls) == []
    assert {call.service for call in calls} <= {"rds", "kms"}, "RDS and the key metadata only: the secret is never read"
    for name in ("again", "again in check mode"):
        assert rerun.result(name)["changed"] is False
        assert rerun.result(name)["diff"]["before"] == rerun.result(name)["diff"]["after"]
    assert rerun.result("again")["cluster"]["master_user_secret"]["secret_arn"] == secret["secret_arn"]

    gone = {"db_cluster_identifier": "orders-db", "state": "absent", "deletion_protection": False, "final_snapshot_identifier": "orders-final"}
    moto.start_recording()
    delete = play(
        playbook(
            task("delete in check mode", check_mode=True, **gone),
            task("delete", **gone),
            task("delete again", **gone),
        )
    )
    calls = moto.stop_recording()
    outputs.append(delete.stdout + delete.stderr)
    assert delete.rc == 0, delete.stdout
    assert delete.result("delete in check mode")["changed"] is True
    assert delete.result("delete")["changed"] is True and delete.result("delete")["cluster"] is None
    assert delete.result("delete again")["changed"] is False
    assert operations(calls) == ["ModifyDBCluster", "DeleteDBInstance", "DeleteDBCluster"]
    rds = moto.client("rds")
    assert rds.describe_db_clusters()["DBClusters"] == []
    assert rds.describe_db_instances()["DBInstances"] == []
    assert [snap["DBClusterSnapshotIdentifier"] for snap in rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]] == ["orders-final"]

    # moto's generated password is a fixed value: make it exist again and prove no run ever printed it.
    password = secret_password(moto, make_cluster(moto, "probe")["MasterUserSecret"]["SecretArn"])
    assert len(password) >= 8
    for output in outputs:
        assert password not in output


def test_single_changes_and_refused_inputs_make_no_stray_write(play, moto):
    original = make_cluster(moto, "shop-db", Tags=[{"Key": "app", "Value": "shop"}, {"Key": "old", "Value": "x"}])
    make_cluster(moto, "legacy-db", managed=False, instances=0)
    base = {"db_cluster_identifier": "shop-db"}
    legacy = {"db_cluster_identifier": "legacy-db", "instance_count": 0}
    kms = moto.client("kms")
    kms.create_alias(AliasName="alias/db", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    keyed = {"db_cluster_identifier": "keyed-db", "instance_count": 0, "deletion_protection": False,
             "kms_key_id": "alias/db", "master_user_secret_kms_key_id": "alias/db"}

    moto.start_recording()
    run = play(
        playbook(
            task("absent without snapshot choice", ignore_errors=True, state="absent", deletion_protection=False, **base),
            task("absent while protected", ignore_errors=True, state="absent", skip_final_snapshot=True, **base),
            task("engine", ignore_errors=True, engine="aurora-mysql", **base),
            task("storage_encrypted", ignore_errors=True, storage_encrypted=False, **base),
            task("master_username", ignore_errors=True, master_username="admin", **base),
            task("database_name", ignore_errors=True, database_name="other", **base),
            task("kms_key_id", ignore_errors=True, kms_key_id="arn:aws:kms:us-east-1:123456789012:key/other", **base),
            task("master_user_secret_kms_key_id", ignore_errors=True, master_user_secret_kms_key_id="other-key", **base),
            task("monitoring without role", ignore_errors=True, monitoring_interval=60, **base),
            task("self-managed password", ignore_errors=True, **legacy),
            task("tags", register="tags", tags={"app": "shop", "team": "core"}, **base),
            task("tags again", tags={"app": "shop", "team": "core"}, **base),
            task("deletion protection off", deletion_protection=False, **base),
            task("take over password in check mode", check_mode=True, manage_existing_master_password=True, **legacy),
            task("take over password", manage_existing_master_password=True, **legacy),
            task("take over password again", manage_existing_master_password=True, **legacy),
            task("keys given as aliases", **keyed),
            task("keys given as aliases again", **keyed),
        ),
        diff=True,
    )
    calls = moto.stop_recording()

    expected_failures = {
        "absent without snapshot choice": "skip_final_snapshot",
        "absent while protected": "deletion_protection",
        "engine": "engine cannot be changed",
        "storage_encrypted": "storage_encrypted cannot be changed",
        "master_username": "master_username cannot be changed",
        "database_name": "database_name cannot be changed",
        "kms_key_id": "kms_key_id cannot be changed",
        "master_user_secret_kms_key_id": "master_user_secret_kms_key_id cannot be changed",
        "monitoring without role": "monitoring_role_arn",
        "self-managed password": "manage_existing_master_password",
    }
    for name, words in expected_failures.items():
        result = run.result(name)
        assert result.get("failed") is True, (name, result)
        assert words in result["msg"], (name, result["msg"])

    tags = run.result("tags")
    assert tags["changed"] is True and tags["cluster"]["tags"] == {"app": "shop", "team": "core"}
    changed_keys = {key for key in tags["diff"]["before"] if tags["diff"]["before"][key] != tags["diff"]["after"][key]}
    assert changed_keys == {"tags"}
    assert run.result("tags again")["changed"] is False
    assert run.result("deletion protection off")["changed"] is True
    assert run.result("deletion protection off")["cluster"]["deletion_protection"] is False
    assert run.result("take over password in check mode")["changed"] is True
    taken = run.result("take over password")
    assert taken["changed"] is True and taken["cluster"]["master_user_secret"]["secret_arn"]
    assert run.result("take over password again")["changed"] is False
    assert run.result("keys given as aliases")["changed"] is True
    assert run.result("keys given as aliases again")["changed"] is False, run.result("keys given as aliases again")

    # Every refusal happened before any write; only the intended changes reached AWS.
    assert operations(calls) == ["RemoveTagsFromResource", "AddTagsToResource", "ModifyDBCluster", "ModifyDBCluster", "CreateDBCluster"]
    rds = moto.client("rds")
    shop = rds.describe_db_clusters(DBClusterIdentifier="shop-db")["DBClusters"][0]
    assert shop["MasterUserSecret"]["SecretArn"] == original["MasterUserSecret"]["SecretArn"]
    assert shop["StorageEncrypted"] is True and shop["Engine"] == "aurora-postgresql"
    secrets = moto.client("secretsmanager").list_secrets()["SecretList"]
    assert len(secrets) == 3, "exactly one managed secret per cluster, none created twice"


def test_instance_count_and_class_up_and_back(play, moto):
    base = {"db_cluster_identifier": "scale-db", "deletion_protection": False}
    run = play(
        playbook(
            task("one", **base),
            task("two", instance_count=2, **base),
            task("two again", instance_count=2, **base),
            task("bigger class", instance_count=2, instance_class="db.r6g.large", **base),
            task("back to one", instance_count=1, instance_class="db.r6g.large", **base),
            # AWS keeps a cluster without instances, but scaling to none would delete the writer:
            # refused, before any write, so the cluster keeps serving.
            task("none", ignore_errors=True, instance_count=0, instance_class="db.r6g.large", **base),
            task("one again", instance_count=1, instance_class="db.r6g.large", **base),
        ),
        diff=True,
    )
    assert run.rc == 0, run.stdout

    def names(name):
        return [(item["db_instance_identifier"], item["db_instance_class"], item["is_cluster_writer"]) for item in run.result(name)["instances"]]

    assert names("one") == [("scale-db-instance-1", "db.t4g.medium", True)]
    assert names("two") == [("scale-db-instance-1", "db.t4g.medium", True), ("scale-db-instance-2", "db.t4g.medium", False)]
    assert run.result("two")["changed"] is True
    assert list(run.result("two")["diff"]["after"]["instances"]) == ["scale-db-instance-1", "scale-db-instance-2"]
    assert run.result("two again")["changed"] is False
    assert names("bigger class") == [("scale-db-instance-1", "db.r6g.large", True), ("scale-db-instance-2", "db.r6g.large", False)]
    assert names("back to one") == [("scale-db-instance-1", "db.r6g.large", True)]
    assert run.result("none")["failed"] is True and "would delete the writer" in run.result("none")["msg"]
    assert names("one again") == [("scale-db-instance-1", "db.r6g.large", True)]
    assert run.result("one again")["changed"] is False
    assert all(not item["publicly_accessible"] for name in ("two", "bigger class") for item in run.result(name)["instances"])


def test_subnet_group_in_the_same_call_two_reads_on_a_noop_and_follows_the_cluster(play, moto):
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{n}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
               for n, zone in ((1, "a"), (2, "b"), (3, "c"))]
    base = {"db_cluster_identifier": "grouped-db", "deployment_id": "orders", "deletion_protection": False, "tags": {"app": "orders"},
            "db_subnet_group_name": "grouped-db-subnets", "db_subnet_group_description": "Private subnets"}
    present = dict(base, db_subnet_group_subnet_ids=subnets[:2])
    moved = dict(base, db_subnet_group_subnet_ids=[subnets[0], subnets[2]])
    rds = moto.client("rds")

    moto.start_recording()
    apply = play(playbook(task("apply", **present)))
    calls = moto.stop_recording()
    assert apply.rc == 0, apply.stdout
    # The group exists before the cluster that needs it.
    assert operations(calls) == ["CreateDBSubnetGroup", "CreateDBCluster", "CreateDBInstance"]
    group = apply.result("apply")["subnet_group"]
    assert group["db_subnet_group_name"] == "grouped-db-subnets" and group["vpc_id"] == vpc and group["subnet_ids"] == sorted(subnets[:2])
    assert rds.describe_db_clusters(DBClusterIdentifier="grouped-db")["DBClusters"][0]["DBSubnetGroup"] == "grouped-db-subnets"

    moto.start_recording()
    rerun = play(playbook(task("again", **present), task("again in check mode", check_mode=True, **present)), diff=True)
    calls = moto.stop_recording()
    assert rerun.rc == 0, rerun.stdout
    assert write_calls(calls) == []
    # Two RDS reads per call; the group is compared as the writer's DescribeDBInstances answer shows it.
    assert [c.operation for c in calls if c.service == "rds"] == ["DescribeDBClusters", "DescribeDBInstances"] * 2
    for name in ("again", "again in check mode"):
        assert rerun.result(name)["changed"] is False
        assert rerun.result(name)["subnet_group"]["subnet_ids"] == sorted(subnets[:2])

    # Another deployment's teardown keeps the cluster it did not create, and the group with it.
    moto.start_recording()
    kept = play(playbook(task("not mine", state="absent", skip_final_snapshot=True, **{**base, "deployment_id": "billing"})))
    calls = moto.stop_recording()
    assert kept.rc == 0, kept.stdout
    assert kept.result("not mine")["kept"] == "adopted" and write_calls(calls) == []
    assert [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]] == ["grouped-db-subnets"]

    moto.start_recording()
    change = play(playbook(task("move in check mode", check_mode=True, **moved), task("move", **moved), task("move again", **moved)), diff=True)
    calls = moto.stop_recording()
    assert change.rc == 0, change.stdout
    assert operations(calls) == ["ModifyDBSubnetGroup"]
    planned = change.result("move in check mode")
    assert planned["changed"] is True and planned["diff"]["after"]["subnet_group"]["subnet_ids"] == sorted([subnets[0], subnets[2]])
    assert planned["diff"]["before"]["subnet_group"]["subnet_ids"] == sorted(subnets[:2])
    assert change.result("move")["changed"] is True and change.result("move")["subnet_group"]["subnet_ids"] == sorted([subnets[0], subnets[2]])
    assert change.result("move again")["changed"] is False
    writer = rds.describe_db_instances(DBInstanceIdentifier="grouped-db-instance-1")["DBInstances"][0]
    assert sorted(s["SubnetIdentifier"] for s in writer["DBSubnetGroup"]["Subnets"]) == sorted([subnets[0], subnets[2]])

    gone = dict(base, state="absent", skip_final_snapshot=True)
    moto.start_recording()
    delete = play(playbook(task("delete", **gone), task("delete again", **gone)))
    calls = moto.stop_recording()
    assert delete.rc == 0, delete.stdout
    assert operations(calls) == ["DeleteDBInstance", "DeleteDBCluster", "DeleteDBSubnetGroup"]
    assert delete.result("delete")["changed"] is True and delete.result("delete again")["changed"] is False
    # (moto drops a group from its registry when it is modified, so it cannot show this group's
    # deletion by a describe; the write order above and the role test, whose group was never
    # modified, do.)
    assert rds.describe_db_clusters()["DBClusters"] == [] and rds.describe_db_subnet_groups()["DBSubnetGroups"] == []


def test_a_serverless_v2_cluster_is_made_then_left_alone_then_scaled_in_place(moto, play):
    scaling = {"min_capacity": 0, "max_capacity": 4, "seconds_until_auto_pause": 600}
    args = dict(db_cluster_identifier="lean-db", instance_class="db.serverless", deletion_protection=False)
    wider = dict(scaling, max_capacity=8)
    run = play(playbook(task("create", serverless_v2_scaling=scaling, **args), task("again", serverless_v2_scaling=scaling, **args),
                        task("wider", serverless_v2_scaling=wider, **args)))
    assert run.rc == 0, run.stdout[-3000:]
    assert run.task("create").changed and not run.task("again").changed and run.task("wider").changed
    [cluster] = moto.client("rds").describe_db_clusters(DBClusterIdentifier="lean-db")["DBClusters"]
    assert cluster["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0 and cluster["ServerlessV2ScalingConfiguration"]["MaxCapacity"] == 8
    [instance] = moto.client("rds").describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": ["lean-db"]}])["DBInstances"]
    assert instance["DBInstanceClass"] == "db.serverless"
    # A db.serverless writer without the cluster's capacity is refused before any call.
    moto.start_recording()
    refused = play(playbook(task("refused", ignore_errors=True, db_cluster_identifier="other-db", instance_class="db.serverless")))
    assert write_calls(moto.stop_recording()) == []
    assert "instance_class db.serverless needs serverless_v2_scaling.min_capacity" in refused.result("refused")["msg"]
