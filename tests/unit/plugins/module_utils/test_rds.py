"""rds: validation, comparison, instance planning and normalisation (no AWS), plus the manager's calls
against a fake client: check mode writes nothing, a lost create response is adopted, absent ordering,
and the DB subnet group (two calls on a no-op, created before the cluster, deleted after it)."""

from __future__ import annotations

import copy
from typing import Any, Dict, List

import pytest
from botocore.exceptions import ClientError

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper

from ansible_collections.ecsrds.connect.plugins.module_utils import common, rds
from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.roles import role_inputs

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1111-2222"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-abc-XyZ"


def params(**overrides: Any) -> Dict[str, Any]:
    """Module params as AnsibleModule would hand them over (defaults applied)."""
    base = dict(
        db_cluster_identifier="orders-db",
        state="present",
        engine="aurora-postgresql",
        engine_version=None,
        master_username="postgres",
        master_user_secret_kms_key_id=None,
        manage_existing_master_password=False,
        database_name=None,
        port=None,
        db_subnet_group_name=None,
        db_subnet_group_subnet_ids=None,
        db_subnet_group_description=None,
        vpc_security_group_ids=None,
        storage_encrypted=True,
        kms_key_id=None,
        deletion_protection=True,
        instance_class="db.t4g.medium",
        instance_count=1,
        monitoring_interval=None,
        monitoring_role_arn=None,
        skip_final_snapshot=False,
        final_snapshot_identifier=None,
        deployment_id=None,
        delete_adopted=False,
        tags=None,
        purge_tags=True,
        wait=True,
        wait_timeout=30,
    )
    base.update(overrides)
    return base


def described(**overrides: Any) -> Dict[str, Any]:
    cluster = {
        "DBClusterIdentifier": "orders-db",
        "DBClusterArn": "arn:aws:rds:us-east-1:123456789012:cluster:orders-db",
        "Status": "available",
        "Engine": "aurora-postgresql",
        "EngineVersion": "16.4",
        "MasterUsername": "postgres",
        "Port": 5432,
        "DBSubnetGroup": "private",
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-b", "Status": "active"}, {"VpcSecurityGroupId": "sg-a", "Status": "active"}],
        "StorageEncrypted": True,
        "KmsKeyId": KEY_ARN,
        "DeletionProtection": True,
        "MasterUserSecret": {"SecretArn": SECRET_ARN, "SecretStatus": "active", "KmsKeyId": KEY_ARN},
        "DBClusterMembers": [{"DBInstanceIdentifier": "orders-db-instance-1", "IsClusterWriter": True}],
        "TagList": [{"Key": "app", "Value": "orders"}],
    }
    cluster.update(overrides)
    return cluster


def instance(number: int, **overrides: Any) -> Dict[str, Any]:
    item = {
        "DBInstanceIdentifier": f"orders-db-instance-{number}",
        "DBClusterIdentifier": "orders-db",
        "DBInstanceClass": "db.t4g.medium",
        "DBInstanceStatus": "available",
        "PubliclyAccessible": False,
        "MonitoringInterval": 0,
    }
    item.update(overrides)
    return item


class TestValidation:
    def test_absent_needs_exactly_one_snapshot_choice(self):
        with pytest.raises(EcsRdsError, match="skip_final_snapshot.*final_snapshot_identifier"):
            rds.validate_params(params(state="absent"))
        with pytest.raises(EcsRdsError, match="mutually exclusive"):
            rds.validate_params(params(state="absent", skip_final_snapshot=True, final_snapshot_identifier="snap"))
        rds.validate_params(params(state="absent", skip_final_snapshot=True))
        rds.validate_params(params(state="absent", final_snapshot_identifier="snap"))

    @pytest.mark.parametrize("bad", ["1db", "db--x", "db-", "db_x", ""])
    def test_identifier_rules(self, bad):
        with pytest.raises(EcsRdsError, match="db_cluster_identifier"):
            rds.validate_params(params(db_cluster_identifier=bad))

    def test_identifier_too_long_for_instance_names(self):
        with pytest.raises(EcsRdsError, match="db_cluster_identifier is too long"):
            rds.validate_params(params(db_cluster_identifier="a" * 55))
        rds.validate_params(params(db_cluster_identifier="a" * 52))

    def test_monitoring_needs_both_halves(self):
        with pytest.raises(EcsRdsError, match="monitoring_role_arn"):
            rds.validate_params(params(monitoring_interval=60))
        with pytest.raises(EcsRdsError, match="monitoring_interval"):
            rds.validate_params(params(monitoring_role_arn="arn:aws:iam::1:role/m"))
        rds.validate_params(params(monitoring_interval=0))
        rds.validate_params(params(monitoring_interval=60, monitoring_role_arn="arn:aws:iam::1:role/m"))

    def test_negative_instance_count(self):
        with pytest.raises(EcsRdsError, match="instance_count"):
            rds.validate_params(params(instance_count=-1))


class TestComparison:
    def test_kms_key_forms(self):
        assert rds.same_kms_key("1111-2222", KEY_ARN)
        assert rds.same_kms_key(KEY_ARN, KEY_ARN)
        assert not rds.same_kms_key("3333", KEY_ARN)
        assert not rds.same_kms_key("alias/aws/rds", KEY_ARN)

    @pytest.mark.parametrize(
        "asked, actual, matches",
        [("16", "16.4", True), ("16.4", "16.4", True), ("16.4", "16.40", False), ("1", "16.4", False), (None, "16.4", True)],
    )
    def test_engine_version_prefix(self, asked, actual, matches):
        assert rds.engine_version_matches(asked, actual) is matches

    def test_defaults_match_a_default_cluster(self):
        assert rds.immutable_conflicts(params(), described()) == []
        assert rds.cluster_modifications(params(), described()) == {}
        assert rds.tag_changes(params(), described()) == ({}, [])

    @pytest.mark.parametrize(
        "option, value",
        [
            ("engine", "aurora-mysql"),
            ("storage_encrypted", False),
            ("kms_key_id", "9999"),
            ("master_username", "admin"),
            ("database_name", "other"),
            ("db_subnet_group_name", "public"),
            ("master_user_secret_kms_key_id", "9999"),
        ],
    )
    def test_each_immutable_option_is_named(self, option, value):
        problems = rds.immutable_conflicts(params(**{option: value}), described())
        assert len(problems) == 1 and problems[0].startswith(f"{option} cannot be changed")

    def test_same_values_in_other_forms_are_not_conflicts(self):
        assert rds.immutable_conflicts(params(kms_key_id="1111-2222", master_user_secret_kms_key_id=KEY_ARN, db_subnet_group_name="private"), described()) == []
        # RDS stores subnet group names in lower case.
        assert rds.immutable_conflicts(params(db_subnet_group_name="Private"), described()) == []
        # DBSubnetGroup is a dict in some responses.
        assert rds.immutable_conflicts(params(db_subnet_group_name="private"), described(DBSubnetGroup={"DBSubnetGroupName": "private"})) == []
        # An alias is compared through the ARN it resolves to.
        aliases = params(kms_key_id="alias/db", master_user_secret_kms_key_id="alias/aws/secretsmanager")
        assert rds.immutable_conflicts(aliases, described(), {"kms_key_id": KEY_ARN, "master_user_secret_kms_key_id": KEY_ARN}) == []
        assert len(rds.immutable_conflicts(aliases, described(), {"kms_key_id": KEY_ARN, "master_user_secret_kms_key_id": "other"})) == 1

    def test_secret_key_only_checked_once_the_secret_is_managed(self):
        self_managed = described(MasterUserSecret=None)
        assert rds.immutable_conflicts(params(master_user_secret_kms_key_id="9999"), self_managed) == []

    def test_engine_version_upgrade_and_downgrade(self):
        assert rds.cluster_modifications(params(engine_version="16"), described()) == {}
        assert rds.cluster_modifications(params(engine_version="16.6"), described()) == {"EngineVersion": "16.6"}
        assert rds.cluster_modifications(params(engine_version="17.2"), described()) == {"EngineVersion": "17.2", "AllowMajorVersionUpgrade": True}
        assert rds.immutable_conflicts(params(engine_version="15"), described()) == ["engine_version cannot go down from '16.4' to '15'"]

    def test_mutable_settings(self):
        assert rds.cluster_modifications(params(vpc_security_group_ids=["sg-a", "sg-b", "sg-a"]), described()) == {}
        assert rds.cluster_modifications(params(vpc_security_group_ids=["sg-c"]), described()) == {"VpcSecurityGroupIds": ["sg-c"]}
        assert rds.cluster_modifications(params(deletion_protection=False), described()) == {"DeletionProtection": False}
        assert rds.cluster_modifications(params(port=5433), described()) == {"Port": 5433}

    def test_managed_password_never_asked_twice(self):
        assert rds.cluster_modifications(params(manage_existing_master_password=True), described()) == {}
        assert rds.password_problem(params(), described()) is None

    def test_self_managed_password(self):
        cluster = described(MasterUserSecret=None)
        assert "manage_existing_master_password" in rds.password_problem(params(), cluster)
        asked = params(manage_existing_master_password=True, master_user_secret_kms_key_id="k")
        assert rds.password_problem(asked, cluster) is None
        assert rds.cluster_modifications(asked, cluster) == {"ManageMasterUserPassword": True, "MasterUserSecretKmsKeyId": "k"}

    def test_tags(self):
        cluster = described(TagList=[{"Key": "app", "Value": "orders"}, {"Key": "aws:owner", "Value": "x"}, {"Key": "old", "Value": "1"}])
        assert rds.tag_changes(params(tags={"app": "orders", "n": 1}), cluster) == ({"n": "1"}, ["old"])
        assert rds.tag_changes(params(tags={"app": "shop"}, purge_tags=False), cluster) == ({"app": "shop"}, [])


class TestInstancePlan:
    def test_counts_not_renumbers(self):
        instances = [instance(1), instance(3)]
        assert rds.plan_instances(params(instance_count=2), "orders-db", instances) == {"create": [], "delete": [], "modify": {}}

    def test_creates_lowest_free_numbers(self):
        plan = rds.plan_instances(params(instance_count=3), "orders-db", [instance(2)])
        assert plan["create"] == ["orders-db-instance-1", "orders-db-instance-3"]

    def test_deletes_highest_first_and_ignores_foreign_and_deleting(self):
        instances = [instance(1), instance(2), instance(10), instance(4, DBInstanceStatus="deleting"), {**instance(0), "DBInstanceIdentifier": "someone-else"}]
        plan = rds.plan_instances(params(instance_count=1), "orders-db", instances)
        assert plan["delete"] == ["orders-db-instance-10", "orders-db-instance-2"]
        assert plan["create"] == [] and plan["modify"] == {}

    def test_an_adopted_clusters_own_writer_counts_as_its_instance(self):
        writer = {**instance(0), "DBInstanceIdentifier": "orders-writer"}
        assert rds.plan_instances(params(instance_count=1), "orders-db", [writer]) == {"create": [], "delete": [], "modify": {}}
        # It is counted, never renamed, modified or deleted; more instances are still ours.
        assert rds.plan_instances(params(instance_count=2, instance_class="db.r6g.large"), "orders-db", [writer]) == {
            "create": ["orders-db-instance-1"], "delete": [], "modify": {}}

    def test_no_database_name_asked_adopts_a_cluster_without_one(self):
        cluster = {"DBClusterIdentifier": "orders-db", "Engine": "aurora-postgresql", "DatabaseName": None, "MasterUsername": "postgres",
                   "StorageEncrypted": True, "DBSubnetGroup": "orders-db-subnets"}
        assert rds.immutable_conflicts(params(database_name=None, db_subnet_group_name="orders-db-subnets"), cluster) == []
        assert "database_name" in rds.immutable_conflicts(params(database_name="postgres", db_subnet_group_name="orders-db-subnets"), cluster)[0]

    def test_class_public_access_and_monitoring(self):
        instances = [instance(1, DBInstanceClass="db.r6g.large", PubliclyAccessible=True), instance(2)]
        plan = rds.plan_instances(params(instance_count=2, monitoring_interval=60, monitoring_role_arn="arn:role"), "orders-db", instances)
        assert plan["modify"] == {
            "orders-db-instance-1": {
                "DBInstanceClass": "db.t4g.medium",
                "PubliclyAccessible": False,
                "MonitoringInterval": 60,
                "MonitoringRoleArn": "arn:role",
            },
            "orders-db-instance-2": {"MonitoringInterval": 60, "MonitoringRoleArn": "arn:role"},
        }

    def test_instance_number_is_case_insensitive_and_strict(self):
        assert rds.instance_number("Orders-DB", "orders-db-instance-7") == 7
        assert rds.instance_number("orders-db", "orders-db-instance-07") is None
        assert rds.instance_number("orders", "orders-db-instance-1") is None

    def test_new_instances_are_private_and_unmonitored(self):
        args = rds.instance_create_args(params(tags={"a": "b"}), described(), "orders-db-instance-2")
        assert args["PubliclyAccessible"] is False and args["MonitoringInterval"] == 0 and "MonitoringRoleArn" not in args
        assert args["Engine"] == "aurora-postgresql" and args["Tags"] == [{"Key": "a", "Value": "b"}]


class TestNormalisation:
    def test_create_args_ask_rds_to_manage_the_password(self):
        args = rds.cluster_create_args(params(database_name="orders", vpc_security_group_ids=["sg-a"]))
        assert args["ManageMasterUserPassword"] is True
        assert "MasterUserPassword" not in args
        assert args["StorageEncrypted"] is True and args["DeletionProtection"] is True
        assert args["DatabaseName"] == "orders" and args["VpcSecurityGroupIds"] == ["sg-a"]
        assert "KmsKeyId" not in args and "Port" not in args

    def test_snake_cluster_keeps_aws_names_and_tags_as_dict(self):
        result = rds.snake_cluster(described())
        assert result["db_cluster_identifier"] == "orders-db"
        assert result["db_cluster_arn"].endswith(":cluster:orders-db")
        assert result["master_user_secret"] == {"secret_arn": SECRET_ARN, "secret_status": "active", "kms_key_id": KEY_ARN}
        assert result["tags"] == {"app": "orders"} and "tag_list" not in result
        assert rds.snake_cluster(None) is None

    def test_instance_summaries(self):
        summaries = rds.instance_summaries(described(), [instance(2), instance(1)])
        assert [(s["db_instance_identifier"], s["is_cluster_writer"]) for s in summaries] == [("orders-db-instance-1", True), ("orders-db-instance-2", False)]
        assert rds.instance_summaries(None, [instance(1)]) == []

    def test_readiness(self):
        assert rds.cluster_ready(described(), [instance(1)]) is None
        assert "cluster status" in rds.cluster_ready(described(Status="modifying"), [])
        assert "secret" in rds.cluster_ready(described(MasterUserSecret={"SecretStatus": "creating"}), [])
        assert "orders-db-instance-1" in rds.cluster_ready(described(), [instance(1, DBInstanceStatus="creating")])

    def test_predicted_diff_changes_only_what_changes(self):
        cluster, instances = described(), [instance(1)]
        before = rds.compared_settings(cluster, instances)
        after = rds.predicted_settings(params(tags={"app": "orders", "team": "core"}, instance_count=2), cluster, instances)
        assert {key for key in before if before[key] != after[key]} == {"tags", "instances"}
        assert after["tags"] == {"app": "orders", "team": "core"}
        assert list(after["instances"]) == ["orders-db-instance-1", "orders-db-instance-2"]

    def test_predicted_diff_for_a_new_cluster(self):
        after = rds.predicted_settings(params(db_cluster_identifier="New-DB"), None, [])
        assert after["db_cluster_identifier"] == "new-db"
        assert after["manage_master_user_password"] is True and after["storage_encrypted"] is True
        assert list(after["instances"]) == ["new-db-instance-1"]


# ---------------------------------------------------------------------------------------------
# The manager against a fake RDS client
# ---------------------------------------------------------------------------------------------


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


class FakeRDS:
    """Just enough RDS: state in dicts, every call recorded, optional one-off failures."""

    def __init__(self, cluster=None, instances=None, subnet_groups=None):
        self.cluster = copy.deepcopy(cluster)
        self.instances = {item["DBInstanceIdentifier"]: copy.deepcopy(item) for item in instances or []}
        self.calls: List[str] = []
        self.lose_next_create_response = False
        self.throttle: Dict[str, int] = {}
        self.created_elsewhere = False
        self.snapshots = set()
        # name -> group as DescribeDBSubnetGroups answers it; ARN -> tag list.
        self.subnet_groups = {group["DBSubnetGroupName"]: copy.deepcopy(group) for group in subnet_groups or []}
        self.group_tags: Dict[str, List[Dict[str, str]]] = {}
        self.group_created_elsewhere = False
        self.lose_next_group_create_response = False
        self.group_busy = 0  # DeleteDBSubnetGroup calls answered "in use" although the cluster is gone
        self.deleted_group_while_cluster_existed = False
        self.deleting_describes = 0  # describes that still show a deleted cluster as "deleting", as AWS does for a while
        self.refuse_instances = 0  # CreateDBInstance calls refused because of the cluster's state

    def _with_subnet_group(self, item):
        """AWS's DescribeDBInstances carries an Aurora instance's DBSubnetGroup (the cluster's):
        name, description, VPC, status and subnets, without tags."""
        name = (self.cluster or {}).get("DBSubnetGroup")
        group = self.subnet_groups.get(name) if isinstance(name, str) else None
        if group is not None:
            item["DBSubnetGroup"] = {key: copy.deepcopy(value) for key, value in group.items() if key != "DBSubnetGroupArn"}
        return item

    def _throttled(self, name):
        """Reject the call, as AWS does under load, before anything is applied."""
        if self.throttle.get(name):
            self.throttle[name] -= 1
            self.calls.append(name + " (throttled)")
            raise client_error("Throttling" if name.startswith("Describe") else "ThrottlingException")

    def _record(self, name):
        self.calls.append(name)

    def describe_db_clusters(self, DBClusterIdentifier):
        self._throttled("DescribeDBClusters")
        self._record("DescribeDBClusters")
        if self.cluster is not None and self.cluster.get("Status") == "deleting":
            self.deleting_describes -= 1
            if self.deleting_describes < 0:
                self.cluster = None
        if self.cluster is None:
            raise client_error("DBClusterNotFoundFault", 404)
        members = [{"DBInstanceIdentifier": key, "IsClusterWriter": index == 0} for index, key in enumerate(sorted(self.instances))]
        return {"DBClusters": [dict(copy.deepcopy(self.cluster), DBClusterMembers=members)]}

    def describe_db_instances(self, DBInstanceIdentifier):
        self._record("DescribeDBInstances")
        if DBInstanceIdentifier not in self.instances:
            raise client_error("DBInstanceNotFound", 404)
        return {"DBInstances": [self._with_subnet_group(copy.deepcopy(self.instances[DBInstanceIdentifier]))]}

    def get_paginator(self, name):
        fake = self

        class Paginator:
            def paginate(self, Filters):
                fake._record("DescribeDBInstances")

                class Pages:
                    def build_full_result(self):
                        return {"DBInstances": [fake._with_subnet_group(item) for item in copy.deepcopy(list(fake.instances.values()))]}

                return Pages()

        return Paginator()

    def create_db_cluster(self, **args):
        self._throttled("CreateDBCluster")
        self._record("CreateDBCluster")
        if self.created_elsewhere:
            self.cluster = described(DBClusterIdentifier=args["DBClusterIdentifier"], Status="creating")
        if self.cluster is not None:
            raise client_error("DBClusterAlreadyExistsFault")
        group = args.get("DBSubnetGroupName", "private").lower()
        if "DBSubnetGroupName" in args and group not in self.subnet_groups:
            raise client_error("DBSubnetGroupNotFoundFault", 404)
        self.cluster = described(
            DBClusterIdentifier=args["DBClusterIdentifier"],
            DeletionProtection=args["DeletionProtection"],
            TagList=args.get("Tags", []),
            DBSubnetGroup=group,
        )
        if self.lose_next_create_response:
            self.lose_next_create_response = False
            raise client_error("InternalFailure", 500)
        return {"DBCluster": copy.deepcopy(self.cluster)}

    def create_db_instance(self, **args):
        if self.refuse_instances:
            # RDS's answer to an instance the cluster cannot take in its present state.
            self.refuse_instances -= 1
            self.calls.append("CreateDBInstance (refused)")
            raise client_error("InvalidDBClusterStateFault")
        self._record("CreateDBInstance")
        identifier = args["DBInstanceIdentifier"]
        self.instance_args = args
        self.instances[identifier] = instance(int(identifier.rsplit("-", 1)[1]), DBInstanceClass=args["DBInstanceClass"])
        return {"DBInstance": copy.deepcopy(self.instances[identifier])}

    def modify_db_cluster(self, DBClusterIdentifier, ApplyImmediately, **changes):
        self._record("ModifyDBCluster")
        if "DeletionProtection" in changes:
            self.cluster["DeletionProtection"] = changes["DeletionProtection"]

    def delete_db_instance(self, DBInstanceIdentifier, SkipFinalSnapshot):
        self._record("DeleteDBInstance")
        self.instances.pop(DBInstanceIdentifier)

    def describe_db_cluster_snapshots(self, DBClusterSnapshotIdentifier):
        self._record("DescribeDBClusterSnapshots")
        if DBClusterSnapshotIdentifier not in self.snapshots:
            raise client_error("DBClusterSnapshotNotFoundFault", 404)
        return {"DBClusterSnapshots": [{"DBClusterSnapshotIdentifier": DBClusterSnapshotIdentifier, "SnapshotType": "manual"}]}

    def add_tags_to_resource(self, ResourceName, Tags):
        self._record("AddTagsToResource")
        keys = {tag["Key"] for tag in Tags}
        if ":subgrp:" in ResourceName:
            self.group_tags[ResourceName] = [t for t in self.group_tags.get(ResourceName, []) if t["Key"] not in keys] + list(Tags)
            return
        self.cluster["TagList"] = [t for t in self.cluster.get("TagList", []) if t["Key"] not in keys] + list(Tags)

    def remove_tags_from_resource(self, ResourceName, TagKeys):
        self._record("RemoveTagsFromResource")
        if ":subgrp:" in ResourceName:
            self.group_tags[ResourceName] = [t for t in self.group_tags.get(ResourceName, []) if t["Key"] not in TagKeys]
            return
        self.cluster["TagList"] = [t for t in self.cluster.get("TagList", []) if t["Key"] not in TagKeys]

    def list_tags_for_resource(self, ResourceName):
        self._record("ListTagsForResource")
        return {"TagList": copy.deepcopy(self.group_tags.get(ResourceName, []))}

    def describe_db_subnet_groups(self, DBSubnetGroupName):
        self._record("DescribeDBSubnetGroups")
        if DBSubnetGroupName.lower() not in self.subnet_groups:
            raise client_error("DBSubnetGroupNotFoundFault", 404)
        return {"DBSubnetGroups": [copy.deepcopy(self.subnet_groups[DBSubnetGroupName.lower()])]}

    def create_db_subnet_group(self, DBSubnetGroupName, DBSubnetGroupDescription, SubnetIds, Tags=()):
        self._record("CreateDBSubnetGroup")
        name = DBSubnetGroupName.lower()
        if self.group_created_elsewhere:
            self.subnet_groups[name] = subnet_group(name, DBSubnetGroupDescription, SubnetIds)
        if name in self.subnet_groups:
            raise client_error("DBSubnetGroupAlreadyExists")
        self.subnet_groups[name] = subnet_group(name, DBSubnetGroupDescription, SubnetIds)
        self.group_tags[self.subnet_groups[name]["DBSubnetGroupArn"]] = list(Tags)
        if self.lose_next_group_create_response:
            self.lose_next_group_create_response = False
            raise client_error("InternalFailure", 500)
        return {"DBSubnetGroup": copy.deepcopy(self.subnet_groups[name])}

    def modify_db_subnet_group(self, DBSubnetGroupName, SubnetIds, DBSubnetGroupDescription=None):
        self._record("ModifyDBSubnetGroup")
        group = self.subnet_groups[DBSubnetGroupName.lower()]
        group["Subnets"] = subnet_group(group["DBSubnetGroupName"], "", SubnetIds)["Subnets"]
        if DBSubnetGroupDescription is not None:
            group["DBSubnetGroupDescription"] = DBSubnetGroupDescription
        return {"DBSubnetGroup": copy.deepcopy(group)}

    def delete_db_subnet_group(self, DBSubnetGroupName):
        self._record("DeleteDBSubnetGroup")
        name = DBSubnetGroupName.lower()
        if self.cluster is not None and self.cluster.get("DBSubnetGroup") == name:
            self.deleted_group_while_cluster_existed = True
            raise client_error("InvalidDBSubnetGroupStateFault")
        if self.group_busy:
            self.group_busy -= 1
            raise client_error("InvalidDBSubnetGroupStateFault")
        if name not in self.subnet_groups:
            raise client_error("DBSubnetGroupNotFoundFault", 404)
        del self.subnet_groups[name]

    def delete_db_cluster(self, DBClusterIdentifier, **args):
        self._record("DeleteDBCluster")
        self.deleted_with = args
        if args.get("FinalDBSnapshotIdentifier"):
            self.snapshots.add(args["FinalDBSnapshotIdentifier"])
        assert not self.instances, "RDS refuses to delete a cluster with members"
        if self.deleting_describes:
            self.cluster["Status"] = "deleting"
            return
        self.cluster = None


def subnet_group(name, description, subnet_ids):
    """A group as DescribeDBSubnetGroups answers it."""
    return {
        "DBSubnetGroupName": name,
        "DBSubnetGroupDescription": description,
        "VpcId": "vpc-1",
        "SubnetGroupStatus": "Complete",
        "Subnets": [{"SubnetIdentifier": subnet, "SubnetAvailabilityZone": {"Name": f"us-east-1{'abcdef'[index % 6]}"}, "SubnetStatus": "Active"}
                    for index, subnet in enumerate(subnet_ids)],
        "DBSubnetGroupArn": f"arn:aws:rds:us-east-1:123456789012:subgrp:{name}",
    }


class FakeKMS:
    """The key of the managed secret: AWS managed unless a test says otherwise."""

    def __init__(self, key_manager="AWS", aliases=()):
        self.key_manager = key_manager
        # As in AWS: an AWS managed key always carries its alias/aws/<service> alias.
        self.aliases = list(aliases) or (["alias/aws/secretsmanager"] if key_manager == "AWS" else [])
        self.calls: List[str] = []

    def describe_key(self, KeyId):
        self.calls.append("DescribeKey")
        return {"KeyMetadata": {"KeyId": KeyId.rsplit("/", 1)[-1], "Arn": KeyId, "KeyManager": self.key_manager}}

    def list_aliases(self, KeyId):
        self.calls.append("ListAliases")
        return {"Aliases": [{"AliasName": alias} for alias in self.aliases]}


def manage(client, check_mode=False, diff=False, kms=None, **overrides):
    """The manager as rds_aurora_managed_secret runs it (run_cluster), its Outcome read as one result."""
    # The real wrapper: calls made without aws_retry=True would not be retried, and fail the tests below.
    made = {"rds": RetryingBotoClientWrapper(client, common.aws_retry), "kms": RetryingBotoClientWrapper(kms or FakeKMS(), common.aws_retry)}

    def make(service):
        assert service in made, "the manager talks to RDS (and KMS for key facts), never Secrets Manager"
        return made[service]

    outcome = rds.run_cluster(common.Clients(make, "us-east-1"), params(**overrides), check_mode, diff)
    return dict(outcome.result, changed=outcome.changed, diff=outcome.diff, actions=outcome.actions)


READS = {"DescribeDBClusters", "DescribeDBInstances", "DescribeDBClusterSnapshots"}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(common.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(cloud.time, "sleep", lambda seconds: None)


class TestManager:
    def test_check_mode_on_fresh_account_writes_nothing(self):
        fake = FakeRDS()
        result = manage(fake, check_mode=True, diff=True)
        assert set(fake.calls) <= READS
        assert result["changed"] is True and result["would_create"] is True and result["cluster"] is None
        assert result["diff"]["before"] == {}
        # Stand-ins that later steps can plan with, shaped like what RDS assigns.
        assert "planned-by-check-mode" in result["planned"]["endpoint"]
        assert result["planned"]["secret_arn"].startswith("arn:aws:secretsmanager:") and ":secret:rds!cluster-" in result["planned"]["secret_arn"]

    def test_check_mode_on_existing_cluster_writes_nothing(self):
        fake = FakeRDS(described(), [instance(1)])
        result = manage(fake, check_mode=True, instance_count=3, deletion_protection=False)
        assert set(fake.calls) <= READS and result["changed"] is True

    def test_lost_create_response_is_adopted_not_repeated(self):
        fake = FakeRDS()
        fake.lose_next_create_response = True
        result = manage(fake)
        assert fake.calls.count("CreateDBCluster") == 1
        assert fake.calls.count("CreateDBInstance") == 1
        assert result["cluster"]["db_cluster_identifier"] == "orders-db"

    def test_the_writer_is_asked_for_while_the_cluster_is_still_creating(self):
        fake = FakeRDS()
        manage(fake)
        # No look at the cluster between the two creates: they settle together, not one after the other.
        created = fake.calls.index("CreateDBCluster")
        assert fake.calls[created:created + 2] == ["CreateDBCluster", "CreateDBInstance"]

    def test_a_writer_refused_for_the_cluster_state_is_sent_again_until_taken(self, fake_clock):
        fake = FakeRDS()
        fake.refuse_instances = 2
        result = manage(fake)
        assert fake.calls.count("CreateDBInstance (refused)") == 2 and fake.calls.count("CreateDBInstance") == 1
        assert result["instances"][0]["db_instance_identifier"] == "orders-db-instance-1"

    def test_cluster_created_concurrently_is_adopted(self):
        fake = FakeRDS()
        fake.created_elsewhere = True
        result = manage(fake, wait=False)
        assert result["changed"] is True and result["cluster"]["db_cluster_identifier"] == "orders-db"
        assert fake.calls.count("CreateDBCluster") == 1 and fake.calls.count("CreateDBInstance") == 1

    def test_throttled_calls_are_retried_and_create_happens_once(self):
        fake = FakeRDS()
        fake.throttle = {"DescribeDBClusters": 2, "CreateDBCluster": 2}
        result = manage(fake)
        assert fake.calls.count("CreateDBCluster (throttled)") == 2
        assert fake.calls.count("CreateDBCluster") == 1
        assert result["changed"] is True and result["instances"][0]["db_instance_identifier"] == "orders-db-instance-1"

    def test_unchanged_cluster_gets_no_write(self):
        fake = FakeRDS(described(), [instance(1)])
        result = manage(fake)
        assert set(fake.calls) <= READS and result["changed"] is False
        # A cluster that is already available is described once, not again by the wait.
        assert sorted(fake.calls) == ["DescribeDBClusters", "DescribeDBInstances"]

    def test_immutable_change_fails_before_any_write(self):
        fake = FakeRDS(described(), [instance(1)])
        with pytest.raises(EcsRdsError, match="master_username cannot be changed"):
            manage(fake, master_username="admin", deletion_protection=False)
        assert set(fake.calls) <= READS

    def test_absent_protected_without_explicit_false_fails(self):
        fake = FakeRDS(described(), [instance(1)])
        with pytest.raises(EcsRdsError, match="deletion_protection"):
            manage(fake, state="absent", skip_final_snapshot=True)
        assert set(fake.calls) <= READS

    def test_absent_without_snapshot_choice_fails_before_any_call(self):
        fake = FakeRDS(described(), [instance(1)])
        with pytest.raises(EcsRdsError, match="final snapshot"):
            manage(fake, state="absent", deletion_protection=False)
        assert fake.calls == []

    def test_absent_unprotects_then_deletes_instances_then_cluster(self):
        fake = FakeRDS(described(), [instance(1), instance(2)])
        result = manage(fake, state="absent", deletion_protection=False, skip_final_snapshot=True)
        writes = [call for call in fake.calls if call not in READS]
        assert writes == ["ModifyDBCluster", "DeleteDBInstance", "DeleteDBInstance", "DeleteDBCluster"]
        assert result["changed"] is True and result["cluster"] is None

    def test_wait_timeout_names_what_is_pending(self):
        fake = FakeRDS(described(Status="modifying"), [instance(1)])
        with pytest.raises(EcsRdsError, match="Timed out.*cluster status 'modifying'"):
            manage(fake, wait_timeout=0)


@pytest.mark.parametrize(
    "kms, expected",
    [
        (FakeKMS("AWS"), "AWS"),
        (FakeKMS("CUSTOMER", ["alias/aws/secretsmanager"]), "AWS"),
        (FakeKMS("CUSTOMER", ["alias/orders"]), "CUSTOMER"),
        (FakeKMS("CUSTOMER"), "CUSTOMER"),
    ],
)
def test_result_says_who_manages_the_secret_key_with_one_kms_call(kms, expected):
    result = manage(FakeRDS(), kms=kms)
    assert result["cluster"]["master_user_secret"]["kms_key_manager"] == expected
    assert kms.calls == ["ListAliases"]


def _tags(cluster):
    return {tag["Key"]: tag["Value"] for tag in cluster.get("TagList", [])}


class TestDeploymentOwnership:
    CREATED = [{"Key": "ecsrds.connect/created-by", "Value": "orders"}, {"Key": "ecsrds.connect/deployment:orders", "Value": "created"}]

    def test_a_created_cluster_is_marked_created_an_existing_one_adopted(self):
        fake = FakeRDS()
        manage(fake, deployment_id="orders", tags={"app": "a"}, purge_tags=False)
        assert _tags(fake.cluster) == {"app": "a", "ecsrds.connect/created-by": "orders", "ecsrds.connect/deployment:orders": "created"}

        fake = FakeRDS(described(TagList=[{"Key": "team", "Value": "x"}]), [instance(1)])
        manage(fake, deployment_id="orders")
        # Unset tags leave the others alone; the adopter never claims to have created it.
        assert _tags(fake.cluster) == {"team": "x", "ecsrds.connect/deployment:orders": "adopted"}
        fake.calls.clear()
        result = manage(fake, deployment_id="orders", tags={"team": "x"})
        assert result["changed"] is False and set(fake.calls) <= READS

    def test_purge_tags_never_removes_another_deployments_mark(self):
        fake = FakeRDS(described(TagList=self.CREATED), [instance(1)])
        manage(fake, deployment_id="billing", tags={"app": "b"}, purge_tags=True)
        assert _tags(fake.cluster) == {"app": "b", "ecsrds.connect/created-by": "orders", "ecsrds.connect/deployment:orders": "created",
                                       "ecsrds.connect/deployment:billing": "adopted"}

    def test_absent_keeps_an_adopted_cluster_and_only_drops_the_mark(self):
        fake = FakeRDS(described(DeletionProtection=True, TagList=[{"Key": "ecsrds.connect/deployment:orders", "Value": "adopted"}]), [instance(1)])
        result = manage(fake, state="absent", deployment_id="orders", final_snapshot_identifier="s")
        assert result["kept"] == "adopted" and result["changed"] is True
        assert [c for c in fake.calls if c not in READS] == ["RemoveTagsFromResource"] and fake.cluster is not None

    def test_absent_keeps_a_cluster_other_deployments_still_use(self):
        marks = self.CREATED + [{"Key": "ecsrds.connect/deployment:billing", "Value": "adopted"}]
        fake = FakeRDS(described(TagList=marks), [instance(1)])
        result = manage(fake, state="absent", deployment_id="orders", deletion_protection=False, final_snapshot_identifier="s")
        assert result["kept"] == "shared" and fake.cluster is not None

    def test_absent_deletes_an_adopted_cluster_only_when_told(self):
        fake = FakeRDS(described(), [instance(1)])
        manage(fake, state="absent", deployment_id="orders", delete_adopted=True, deletion_protection=False, final_snapshot_identifier="orders-final")
        assert fake.cluster is None and fake.deleted_with == {"SkipFinalSnapshot": False, "FinalDBSnapshotIdentifier": "orders-final"}

    def test_a_taken_snapshot_name_stops_before_any_write(self):
        fake = FakeRDS(described(DeletionProtection=True, TagList=self.CREATED), [instance(1)])
        fake.snapshots.add("orders-final")
        for check_mode in (True, False):
            with pytest.raises(EcsRdsError, match="snapshot orders-final already exists"):
                manage(fake, check_mode=check_mode, state="absent", deployment_id="orders", deletion_protection=False, final_snapshot_identifier="orders-final")
        assert set(fake.calls) <= READS

    def test_bad_deployment_id_is_refused_before_any_call(self):
        fake = FakeRDS()
        with pytest.raises(EcsRdsError, match="deployment_id"):
            manage(fake, deployment_id="a b")
        assert fake.calls == []


# ---------------------------------------------------------------------------------------------
# The DB subnet group, folded into the cluster's module call (issue 12)
# ---------------------------------------------------------------------------------------------

GROUP = "orders-db-subnets"
MARKED = [{"Key": "app", "Value": "orders"}] + TestDeploymentOwnership.CREATED


def with_group(**overrides: Any) -> Dict[str, Any]:
    """Module params that manage the cluster's subnet group (as the database role passes them)."""
    base = dict(db_subnet_group_name=GROUP, db_subnet_group_subnet_ids=["subnet-b", "subnet-a"], db_subnet_group_description="Private subnets",
                deployment_id="orders", tags={"app": "orders"}, purge_tags=False)
    base.update(overrides)
    return base


def converged(**group_overrides: Any) -> FakeRDS:
    """A cluster this deployment created, its writer and its subnet group, all as asked by with_group()."""
    group = dict(subnet_group(GROUP, "Private subnets", ["subnet-a", "subnet-b"]), **group_overrides)
    fake = FakeRDS(described(DBSubnetGroup=GROUP, TagList=MARKED), [instance(1)], [group])
    fake.group_tags[group["DBSubnetGroupArn"]] = [{"Key": "app", "Value": "orders"}]
    return fake


class TestSubnetGroupPlan:
    def test_the_instances_answer_is_read_writer_first_and_only_when_complete(self):
        cluster = described(DBClusterMembers=[{"DBInstanceIdentifier": "orders-db-instance-2", "IsClusterWriter": True}])
        reader = instance(1, DBSubnetGroup={"DBSubnetGroupName": GROUP, "Subnets": [{"SubnetIdentifier": "subnet-old"}]})
        writer = instance(2, DBSubnetGroup={"DBSubnetGroupName": GROUP, "Subnets": [{"SubnetIdentifier": "subnet-a"}]})
        assert rds.subnet_group_of_instances(cluster, [reader, writer]) is writer["DBSubnetGroup"]
        # A name without subnets (moto leaves the group out of an instance not created with it) is no answer.
        assert rds.subnet_group_of_instances(cluster, [instance(1, DBSubnetGroup={"DBSubnetGroupName": GROUP})]) is None
        assert rds.subnet_group_of_instances(cluster, [instance(1)]) is None
        assert rds.subnet_group_of_instances(None, []) is None

    def test_changes_compare_subnets_as_a_set_and_leave_an_unset_description_alone(self):
        group = subnet_group(GROUP, "Private subnets", ["subnet-a", "subnet-b"])
        assert rds.subnet_group_changes(params(**with_group(db_subnet_group_subnet_ids=["subnet-b", "subnet-a", "subnet-a"])), group) == {}
        assert rds.subnet_group_changes(params(**with_group(db_subnet_group_description=None)), dict(group, DBSubnetGroupDescription="x")) == {}
        assert rds.subnet_group_changes(params(**with_group(db_subnet_group_subnet_ids=["subnet-c", "subnet-a"])), group) == {
            "DBSubnetGroupName": GROUP, "SubnetIds": ["subnet-a", "subnet-c"], "DBSubnetGroupDescription": "Private subnets"}
        # ModifyDBSubnetGroup needs the subnets even when only the description changes.
        assert rds.subnet_group_changes(params(**with_group(db_subnet_group_description="New")), group) == {
            "DBSubnetGroupName": GROUP, "SubnetIds": ["subnet-a", "subnet-b"], "DBSubnetGroupDescription": "New"}

    def test_tag_changes_on_an_existing_group_never_touch_ownership_marks(self):
        current = {"app": "old", "team": "x", "ecsrds.connect/created-by": "orders"}
        asked = params(tags={"app": "new", "ecsrds.connect/deployment:billing": "adopted"}, purge_tags=True)
        assert rds.subnet_group_tag_changes(asked, current) == ({"app": "new"}, ["team"])
        assert rds.subnet_group_tag_changes(params(tags=None), current) == ({}, [])

    @pytest.mark.parametrize(
        "overrides, message",
        [
            (dict(db_subnet_group_subnet_ids=["subnet-a", "subnet-b"]), "db_subnet_group_subnet_ids needs db_subnet_group_name"),
            (dict(db_subnet_group_name=GROUP, db_subnet_group_subnet_ids=["subnet-a", "subnet-a"]), "at least 2 subnets"),
            (dict(db_subnet_group_name=GROUP, db_subnet_group_description="d"), "db_subnet_group_description needs db_subnet_group_subnet_ids"),
        ],
    )
    def test_bad_subnet_group_input_is_refused_before_any_call(self, overrides, message):
        fake = FakeRDS()
        with pytest.raises(EcsRdsError, match=message):
            manage(fake, **overrides)
        assert fake.calls == []


class TestSubnetGroupManager:
    def test_noop_is_exactly_the_cluster_and_instances_describes(self):
        for check_mode in (False, True):
            fake = converged()
            result = manage(fake, check_mode=check_mode, diff=True, **with_group())
            # AWS's DescribeDBInstances answer already shows the group: no call of its own.
            assert fake.calls == ["DescribeDBClusters", "DescribeDBInstances"], check_mode
            assert result["changed"] is False
            assert result["subnet_group"] == {
                "db_subnet_group_name": GROUP, "db_subnet_group_description": "Private subnets", "db_subnet_group_arn": None,
                "vpc_id": "vpc-1", "subnet_group_status": "Complete", "subnet_ids": ["subnet-a", "subnet-b"]}
            assert result["diff"]["before"]["subnet_group"] == result["diff"]["after"]["subnet_group"]

    def test_a_group_tag_change_alone_waits_for_the_groups_next_describe(self):
        # The chosen trade-off (see rds.py): reading the group's tags would be a third call on every run.
        fake = converged()
        result = manage(fake, **with_group(tags={"app": "orders", "cost": "db"}))
        assert "ListTagsForResource" not in fake.calls and "DescribeDBSubnetGroups" not in fake.calls
        assert fake.group_tags[f"arn:aws:rds:us-east-1:123456789012:subgrp:{GROUP}"] == [{"Key": "app", "Value": "orders"}]
        # The cluster, compared every run, gets the tag at once.
        assert result["changed"] is True and _tags(fake.cluster)["cost"] == "db"

    def test_fresh_account_creates_the_group_with_tags_before_the_cluster(self):
        fake = FakeRDS()
        result = manage(fake, **with_group())
        writes = [c for c in fake.calls if c not in READS | {"DescribeDBSubnetGroups", "ListTagsForResource"}]
        assert writes == ["CreateDBSubnetGroup", "CreateDBCluster", "CreateDBInstance"]
        # Described once before the create, never again: the create's answer is the group's state.
        assert fake.calls.count("DescribeDBSubnetGroups") == 1 and "ListTagsForResource" not in fake.calls
        group = fake.subnet_groups[GROUP]
        assert rds.subnet_ids_of(group) == ["subnet-a", "subnet-b"] and group["DBSubnetGroupDescription"] == "Private subnets"
        # Created in the same run as the cluster, so it carries the same created-by mark.
        assert {t["Key"]: t["Value"] for t in fake.group_tags[group["DBSubnetGroupArn"]]} == {
            "app": "orders", "ecsrds.connect/created-by": "orders", "ecsrds.connect/deployment:orders": "created"}
        assert fake.cluster["DBSubnetGroup"] == GROUP and fake.instance_args["DBSubnetGroupName"] == GROUP
        assert result["subnet_group"]["db_subnet_group_arn"].endswith(f":subgrp:{GROUP}") and result["subnet_group"]["vpc_id"] == "vpc-1"

        # The next run reads the group from the writer's answer: two calls, no change.
        fake.calls.clear()
        again = manage(fake, **with_group())
        assert fake.calls == ["DescribeDBClusters", "DescribeDBInstances"] and again["changed"] is False

    def test_check_mode_on_a_fresh_account_plans_the_group_without_writing(self):
        fake = FakeRDS()
        result = manage(fake, check_mode=True, diff=True, **with_group())
        assert fake.calls == ["DescribeDBClusters", "DescribeDBSubnetGroups"]
        assert result["changed"] is True and result["would_create"] is True
        assert result["subnet_group"]["subnet_ids"] == ["subnet-a", "subnet-b"] and result["subnet_group"]["vpc_id"] is None
        assert result["diff"]["before"] == {}
        assert result["diff"]["after"]["subnet_group"] == {
            "db_subnet_group_name": GROUP, "db_subnet_group_description": "Private subnets", "subnet_ids": ["subnet-a", "subnet-b"]}

    def test_an_existing_group_without_a_cluster_is_adopted_and_brought_in_line(self):
        fake = FakeRDS(subnet_groups=[subnet_group(GROUP, "Private subnets", ["subnet-a", "subnet-old"])])
        manage(fake, **with_group())
        assert [c for c in fake.calls if "SubnetGroup" in c or c.endswith("Resource")] == [
            "DescribeDBSubnetGroups", "ListTagsForResource", "ModifyDBSubnetGroup", "AddTagsToResource"]
        assert rds.subnet_ids_of(fake.subnet_groups[GROUP]) == ["subnet-a", "subnet-b"]
        # Someone else's group: the user's tags, never a created-by mark.
        assert fake.group_tags[f"arn:aws:rds:us-east-1:123456789012:subgrp:{GROUP}"] == [{"Key": "app", "Value": "orders"}]

    def test_subnet_change_is_described_once_modified_once_and_the_cluster_untouched(self):
        fake = converged()
        asked = with_group(db_subnet_group_subnet_ids=["subnet-a", "subnet-c"], tags={"app": "orders", "cost": "db"})
        fake.cluster["TagList"].append({"Key": "cost", "Value": "db"})
        result = manage(fake, diff=True, **asked)
        # The pending tag change rides along now that the group is described anyway.
        assert fake.calls == ["DescribeDBClusters", "DescribeDBInstances", "DescribeDBSubnetGroups", "ListTagsForResource",
                              "ModifyDBSubnetGroup", "AddTagsToResource"]
        assert result["changed"] is True and result["subnet_group"]["subnet_ids"] == ["subnet-a", "subnet-c"]
        diff = result["diff"]
        assert diff["before"]["subnet_group"]["subnet_ids"] == ["subnet-a", "subnet-b"]
        assert diff["after"]["subnet_group"] == {"db_subnet_group_name": GROUP, "db_subnet_group_description": "Private subnets",
                                                 "subnet_ids": ["subnet-a", "subnet-c"], "tags": {"app": "orders", "cost": "db"}}
        assert {key for key in diff["before"] if diff["before"][key] != diff["after"][key]} == {"subnet_group"}

    def test_check_mode_subnet_change_writes_nothing_and_shows_the_diff(self):
        fake = converged()
        result = manage(fake, check_mode=True, diff=True, **with_group(db_subnet_group_description="New"))
        assert fake.calls == ["DescribeDBClusters", "DescribeDBInstances", "DescribeDBSubnetGroups", "ListTagsForResource"]
        assert result["changed"] is True
        assert result["diff"]["after"]["subnet_group"]["db_subnet_group_description"] == "New"
        assert fake.subnet_groups[GROUP]["DBSubnetGroupDescription"] == "Private subnets"

    def test_without_an_instance_answer_the_group_is_described_once(self):
        # moto leaves DBSubnetGroup out of an instance created without DBSubnetGroupName; AWS never does.
        fake = converged()
        fake.subnet_groups[GROUP]["DBSubnetGroupName"] = GROUP
        fake._with_subnet_group = lambda item: item
        result = manage(fake, **with_group())
        assert fake.calls == ["DescribeDBClusters", "DescribeDBInstances", "DescribeDBSubnetGroups", "ListTagsForResource"]
        assert result["changed"] is False and result["subnet_group"]["subnet_ids"] == ["subnet-a", "subnet-b"]

    def test_lost_group_create_response_is_adopted_not_repeated(self):
        fake = FakeRDS()
        fake.lose_next_group_create_response = True
        manage(fake, **with_group())
        assert fake.calls.count("CreateDBSubnetGroup") == 1 and fake.calls.count("CreateDBCluster") == 1

    def test_group_created_concurrently_is_adopted(self):
        fake = FakeRDS()
        fake.group_created_elsewhere = True
        result = manage(fake, **with_group())
        assert fake.calls.count("CreateDBSubnetGroup") == 1 and "ModifyDBSubnetGroup" not in fake.calls
        assert result["subnet_group"]["subnet_ids"] == ["subnet-a", "subnet-b"]

    def test_unmanaged_group_is_reported_from_the_instances_and_never_described(self):
        fake = converged()
        result = manage(fake, deployment_id="orders", db_subnet_group_name=GROUP)
        assert fake.calls == ["DescribeDBClusters", "DescribeDBInstances"]
        assert result["subnet_group"]["db_subnet_group_name"] == GROUP


def absent(**overrides: Any) -> Dict[str, Any]:
    base = dict(state="absent", db_subnet_group_name=GROUP, deployment_id="orders", deletion_protection=False, skip_final_snapshot=True)
    base.update(overrides)
    return base


class TestSubnetGroupTeardown:
    def test_the_group_is_deleted_after_the_cluster_is_gone(self, fake_clock):
        fake = converged()
        fake.deleting_describes = 2
        result = manage(fake, wait=False, **absent())
        writes = [c for c in fake.calls if c not in READS]
        assert writes == ["ModifyDBCluster", "DeleteDBInstance", "DeleteDBCluster", "DeleteDBSubnetGroup"]
        # Even without wait: RDS refuses to delete a group its cluster still uses.
        assert not fake.deleted_group_while_cluster_existed and GROUP not in fake.subnet_groups
        assert result["changed"] is True and result["subnet_group"] is None

    def test_a_group_still_counted_as_in_use_is_sent_again(self, fake_clock):
        fake = converged()
        fake.group_busy = 2
        manage(fake, **absent())
        assert fake.calls.count("DeleteDBSubnetGroup") == 3 and GROUP not in fake.subnet_groups

    @pytest.mark.parametrize(
        "marks, overrides, reason",
        [
            ([{"Key": "ecsrds.connect/deployment:orders", "Value": "adopted"}], {}, "adopted"),
            (MARKED + [{"Key": "ecsrds.connect/deployment:billing", "Value": "adopted"}], {}, "shared"),
        ],
    )
    def test_a_kept_cluster_keeps_its_group(self, marks, overrides, reason):
        fake = converged()
        fake.cluster["TagList"] = marks
        for check_mode in (True, False):
            result = manage(fake, check_mode=check_mode, **absent(**overrides))
            assert result["kept"] == reason and result["subnet_group"]["db_subnet_group_name"] == GROUP
        assert "DeleteDBSubnetGroup" not in fake.calls and "DescribeDBSubnetGroups" not in fake.calls
        assert GROUP in fake.subnet_groups and fake.cluster is not None

    def test_check_mode_deletes_nothing_and_shows_the_group_going(self):
        fake = converged()
        result = manage(fake, check_mode=True, diff=True, **absent())
        assert set(fake.calls) <= READS and result["changed"] is True
        assert result["diff"]["before"]["subnet_group"]["db_subnet_group_name"] == GROUP and result["diff"]["after"] == {}

    def test_another_groups_name_is_refused_before_any_write(self):
        fake = converged()
        with pytest.raises(EcsRdsError, match="db_subnet_group_name 'other' is not the subnet group of DB cluster orders-db"):
            manage(fake, **absent(db_subnet_group_name="other"))
        assert set(fake.calls) <= READS

    def test_without_the_cluster_a_left_over_group_is_deleted_and_then_nothing_is_done(self):
        # A teardown interrupted after the cluster's deletion finishes on the re-run.
        fake = FakeRDS(subnet_groups=[subnet_group(GROUP, "Private subnets", ["subnet-a", "subnet-b"])])
        check = manage(fake, check_mode=True, **absent())
        assert check["changed"] is True and fake.calls == ["DescribeDBClusters", "DescribeDBSubnetGroups"]
        result = manage(fake, **absent())
        assert result["changed"] is True and GROUP not in fake.subnet_groups
        fake.calls.clear()
        again = manage(fake, **absent())
        assert again["changed"] is False and fake.calls == ["DescribeDBClusters", "DescribeDBSubnetGroups"]

    def test_without_a_group_name_the_group_is_left_alone(self):
        fake = converged()
        manage(fake, **absent(db_subnet_group_name=None))
        assert fake.cluster is None and GROUP in fake.subnet_groups and "DeleteDBSubnetGroup" not in fake.calls


class NothingToModify(FakeRDS):
    """RDS's answer to a modification that changes nothing (amazon.aws's rds module_utils treats it as
    unchanged): HTTP 400 InvalidParameterCombination, "No modifications were requested"."""

    def modify_db_cluster(self, DBClusterIdentifier, ApplyImmediately, **changes):
        self._record("ModifyDBCluster")
        raise ClientError({"Error": {"Code": "InvalidParameterCombination", "Message": "No modifications were requested"},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, "ModifyDBCluster")


def test_a_modification_rds_says_changes_nothing_is_reported_unchanged():
    fake = NothingToModify(described(), [instance(1)])
    result = manage(fake, deletion_protection=False)
    assert fake.calls.count("ModifyDBCluster") == 1
    assert result["changed"] is False and result["actions"] == []
    # Any other refusal is still an error.
    assert not rds.no_modifications(client_error("InvalidParameterCombination"))
    assert rds.no_modifications(ClientError({"Error": {"Code": "InvalidParameterCombination", "Message": "No modifications were requested"}}, "X"))


def test_the_actions_say_what_a_run_does_in_order():
    fake = FakeRDS(described(), [instance(1)])
    planned = manage(fake, check_mode=True, deletion_protection=False, instance_count=2)
    assert planned["actions"] == ["modify DB cluster orders-db (DeletionProtection)", "create DB instance orders-db-instance-2"]
    assert manage(fake, deletion_protection=False, instance_count=2)["actions"] == planned["actions"]
    assert manage(FakeRDS(), check_mode=True)["actions"] == ["create DB cluster orders-db", "create DB instance orders-db-instance-1"]


# ---------------------------------------------------------------------------------------------
# The database role's step: its inputs -> rds_aurora_managed_secret's options -> what it publishes


def database_inputs(entry_point="main", **overrides):
    return role_inputs("database", entry_point=entry_point, **overrides)


def test_the_database_step_asks_for_what_its_inputs_name_and_leaves_the_rest_alone():
    options = rds.cluster_options(database_inputs(database_cluster_identifier="shop-db", database_subnet_ids=["subnet-a", "subnet-b"],
                                                  database_security_group_ids=["sg-db", None], database_name=""))
    assert options["db_subnet_group_name"] == "shop-db-subnets" and options["db_subnet_group_subnet_ids"] == ["subnet-a", "subnet-b"]
    # A group id the network role published as null (check mode, not created yet) is left out.
    assert options["vpc_security_group_ids"] == ["sg-db"]
    # Empty inputs are not asked for: the cluster's own value (or RDS's default) stands.
    assert options["database_name"] is None and options["engine_version"] is None and options["kms_key_id"] is None
    assert options["deployment_id"] == "shop-db" and options["purge_tags"] is False and options["engine"] == "aurora-postgresql"
    assert rds.cluster_options(database_inputs(database_security_group_ids=[None]))["vpc_security_group_ids"] is None
    named = rds.cluster_options(database_inputs(database_subnet_group_name="private", database_deployment_id="team-a"))
    assert named["db_subnet_group_name"] == "private" and named["deployment_id"] == "team-a"


def test_the_teardown_takes_a_final_snapshot_unless_told_and_lifts_protection_only_when_confirmed():
    options = rds.cluster_delete_options(database_inputs("teardown", database_cluster_identifier="shop-db"))
    assert options["final_snapshot_identifier"] == "shop-db-final" and options["skip_final_snapshot"] is False
    assert options["deletion_protection"] is True and options["delete_adopted"] is False and options["state"] == "absent"
    assert options["db_subnet_group_name"] == "shop-db-subnets" and options["deployment_id"] == "shop-db"
    confirmed = rds.cluster_delete_options(database_inputs("teardown", database_teardown_confirm_delete=True,
                                                           database_teardown_skip_final_snapshot=True))
    assert confirmed["deletion_protection"] is False and "final_snapshot_identifier" not in confirmed
    named = rds.cluster_delete_options(database_inputs("teardown", database_teardown_final_snapshot_identifier="last"))
    assert named["final_snapshot_identifier"] == "last"


def test_the_connection_is_what_rds_reports():
    fake = FakeRDS(described(Port=5433, Endpoint="orders-db.cluster-x.us-east-1.rds.amazonaws.com"), [instance(1)])
    facts = rds.cluster_facts(manage(fake))
    assert facts["database__endpoint"] == "orders-db.cluster-x.us-east-1.rds.amazonaws.com"
    # The cluster's port and database, not what was asked: a cluster adopted as it is keeps its own.
    assert facts["database__port"] == 5433 and facts["database__name"] == "postgres"
    assert facts["database__secret_arn"] == SECRET_ARN and facts["database__secret_kms_key_manager"] == "AWS"
    assert facts["database__cluster"]["db_cluster_identifier"] == "orders-db"
    assert rds.cluster_facts(manage(FakeRDS(described(DatabaseName="shop"), [instance(1)])))["database__name"] == "shop"


def test_check_mode_publishes_the_connection_the_run_would_leave():
    # A port about to change is the new one: the revisions it causes are planned.
    fake = FakeRDS(described(Port=5432), [instance(1)])
    assert rds.cluster_facts(manage(fake, check_mode=True, port=5433))["database__port"] == 5433
    assert fake.cluster["Port"] == 5432
    # Before the cluster exists: marked stand-ins for what RDS assigns, the asked port and database.
    fresh = rds.cluster_facts(manage(FakeRDS(), check_mode=True, database_name="shop"))
    assert rds.PLANNED_MARK in fresh["database__endpoint"] and rds.PLANNED_MARK in fresh["database__secret_arn"]
    assert fresh["database__port"] == 5432 and fresh["database__name"] == "shop" and fresh["database__cluster"] is None


def test_serverless_v2_scaling_is_created_compared_on_what_is_asked_and_changed_in_place():
    scaling = {"min_capacity": 0, "max_capacity": 4, "seconds_until_auto_pause": None}
    args = rds.cluster_create_args({"db_cluster_identifier": "orders-db", "serverless_v2_scaling": scaling})
    assert args["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.0, "MaxCapacity": 4.0}
    # RDS answers with the auto-pause delay it chose (ServerlessV2ScalingConfigurationInfo): not asked, not compared.
    cluster = described(ServerlessV2ScalingConfiguration={"MinCapacity": 0.0, "MaxCapacity": 4.0, "SecondsUntilAutoPause": 300})
    assert rds.cluster_modifications({"serverless_v2_scaling": scaling}, cluster) == {}
    wider = dict(scaling, max_capacity=16)
    assert rds.cluster_modifications({"serverless_v2_scaling": wider}, cluster) == {
        "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.0, "MaxCapacity": 16.0}}
    assert rds.predicted_settings({"serverless_v2_scaling": wider}, cluster, [])["serverless_v2_scaling"] == {"MinCapacity": 0.0, "MaxCapacity": 16.0}
    with pytest.raises(EcsRdsError, match="instance_class db.serverless needs serverless_v2_scaling.min_capacity"):
        rds.validate_params(dict(params(), instance_class="db.serverless"))
    with pytest.raises(EcsRdsError, match="min_capacity 8.0 is above serverless_v2_scaling.max_capacity 4.0"):
        rds.validate_params(dict(params(), serverless_v2_scaling={"min_capacity": 8.0, "max_capacity": 4.0, "seconds_until_auto_pause": None}))


def test_iam_database_authentication_is_asked_at_creation_and_changed_only_when_it_differs():
    # AWS's DescribeDBClusters shows IAMDatabaseAuthenticationEnabled after ModifyDBCluster(EnableIAMDatabaseAuthentication);
    # moto keeps the created value (its ModifyDBCluster sets attributes by argument name), so the change is unit-tested here.
    assert rds.cluster_create_args({"db_cluster_identifier": "orders-db", "iam_database_authentication": True})["EnableIAMDatabaseAuthentication"] is True
    assert "EnableIAMDatabaseAuthentication" not in rds.cluster_create_args({"db_cluster_identifier": "orders-db"})
    off = described(IAMDatabaseAuthenticationEnabled=False)
    assert rds.cluster_modifications({"iam_database_authentication": True}, off) == {"EnableIAMDatabaseAuthentication": True}
    assert rds.cluster_modifications({"iam_database_authentication": False}, off) == {}
    # Unset: the cluster's own setting stays.
    assert rds.cluster_modifications({}, described(IAMDatabaseAuthenticationEnabled=True)) == {}
