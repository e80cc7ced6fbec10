# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aurora clusters whose master password RDS keeps in Secrets Manager, their instances and their
DB subnet group.

The pure part (normalising what RDS describes, comparing it with what was asked, planning instance
changes) is separate from the calls so it can be unit-tested without AWS. Nothing here ever reads a
secret's value: the managed secret is only known by its ARN, status and KMS key.
"""

from __future__ import annotations

import re
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.ecsrds.connect.plugins.module_utils.common import (
    Clients,
    EcsRdsError,
    Outcome,
    aws_retry,
    call,
    create_or_adopt,
    error_code,
    retry_while_busy,
    tags_to_dict,
    wait_for,
)
from ansible_collections.ecsrds.connect.plugins.module_utils.kms import KeyReader
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import CLUSTER_ID_PATTERN, MAX_IDENTIFIER_LENGTH, PLANNED_MARK
from ansible_collections.ecsrds.connect.plugins.module_utils.rules import serverless_problem, serverless_scaling
from ansible_collections.ecsrds.connect.plugins.module_utils.ownership import (
    DELETE,
    adoption_tags,
    created_by,
    deployment_id_problem,
    deployment_tag,
    is_ownership_tag,
    release_plan,
    usage_tags,
)

DEFAULT_ENGINE = "aurora-postgresql"
POLL_DELAY = 5.0

# Options whose value RDS cannot change on an existing cluster (db_subnet_group_name included:
# Aurora only moves to another subnet group through a restore).
IMMUTABLE_OPTIONS = ("engine", "storage_encrypted", "kms_key_id", "master_username", "database_name", "db_subnet_group_name")

_CLUSTER_NOT_FOUND = ("DBClusterNotFoundFault", "DBClusterNotFound")
_INSTANCE_NOT_FOUND = ("DBInstanceNotFound", "DBInstanceNotFoundFault")
_GONE_STATUSES = ("deleting",)
_STOPPED_STATUSES = ("stopped", "stopping")
# Refusals that only mean "busy right now" (modifying, backing-up, starting ...).
_BUSY_CODES = ("InvalidDBClusterStateFault", "InvalidDBInstanceState", "InvalidDBInstanceStateFault")
_SNAPSHOT_NOT_FOUND = ("DBClusterSnapshotNotFoundFault",)
_SUBNET_GROUP_NOT_FOUND = ("DBSubnetGroupNotFoundFault", "DBSubnetGroupNotFound")
_SUBNET_GROUP_EXISTS = ("DBSubnetGroupAlreadyExists", "DBSubnetGroupAlreadyExistsFault")
# A group still used by a cluster or instance (one being deleted included) cannot be deleted yet.
_SUBNET_GROUP_IN_USE = ("InvalidDBSubnetGroupStateFault", "InvalidDBSubnetGroupState")
MIN_SUBNETS = 2

# ---------------------------------------------------------------------------------------------
# Pure logic: validation, normalisation and comparison
# ---------------------------------------------------------------------------------------------


def instance_identifier(cluster_id: str, number: int) -> str:
    return f"{cluster_id.lower()}-instance-{number}"


def instance_number(cluster_id: str, identifier: str) -> Optional[int]:
    """The n of ``<cluster>-instance-<n>``, or None for an instance this module did not name."""
    match = re.fullmatch(re.escape(cluster_id.lower()) + r"-instance-([1-9][0-9]*)", identifier.lower())
    return int(match.group(1)) if match else None


def validate_params(params: Dict[str, Any]) -> None:
    """Input errors that need no AWS call; raised before anything is described or written."""
    cluster_id = params["db_cluster_identifier"]
    if not CLUSTER_ID_PATTERN.fullmatch(cluster_id or ""):
        raise EcsRdsError(
            message=f"db_cluster_identifier {cluster_id!r} is not valid: it must start with a letter and hold only letters, "
            "digits and single hyphens, not ending with a hyphen"
        )
    if params.get("deployment_id") is not None:
        problem = deployment_id_problem(params["deployment_id"])
        if problem:
            raise EcsRdsError(message=problem)
    if params["state"] == "absent":
        # db_subnet_group_subnet_ids/description only shape a group that should exist: ignored here.
        if params.get("skip_final_snapshot") and params.get("final_snapshot_identifier"):
            raise EcsRdsError(message="skip_final_snapshot and final_snapshot_identifier are mutually exclusive for state=absent")
        if not params.get("skip_final_snapshot") and not params.get("final_snapshot_identifier"):
            raise EcsRdsError(
                message="state=absent needs a final snapshot choice: set skip_final_snapshot: true or give final_snapshot_identifier"
            )
        return
    count = params.get("instance_count")
    if count is not None and count < 0:
        raise EcsRdsError(message=f"instance_count must be 0 or more, got {count}")
    longest = instance_identifier(cluster_id, max(count or 1, 1))
    if len(longest) > MAX_IDENTIFIER_LENGTH:
        raise EcsRdsError(
            message=f"db_cluster_identifier is too long: the instance name {longest!r} would exceed {MAX_IDENTIFIER_LENGTH} characters"
        )
    problem = serverless_problem(params.get("serverless_v2_scaling"), params.get("instance_class"))
    if problem:
        raise EcsRdsError(message=problem)
    interval = params.get("monitoring_interval")
    if interval and not params.get("monitoring_role_arn"):
        raise EcsRdsError(message="monitoring_interval above 0 needs monitoring_role_arn (enhanced monitoring role)")
    if params.get("monitoring_role_arn") and not interval:
        raise EcsRdsError(message="monitoring_role_arn needs monitoring_interval above 0")
    subnet_ids = params.get("db_subnet_group_subnet_ids")
    if subnet_ids is not None:
        if not params.get("db_subnet_group_name"):
            raise EcsRdsError(message="db_subnet_group_subnet_ids needs db_subnet_group_name (the group the subnets make up)")
        if len({subnet for subnet in subnet_ids if subnet}) < MIN_SUBNETS:
            raise EcsRdsError(
                message=f"db_subnet_group_subnet_ids needs at least {MIN_SUBNETS} subnets (RDS wants two Availability Zones), got {subnet_ids!r}"
            )
    if params.get("db_subnet_group_description") is not None and subnet_ids is None:
        raise EcsRdsError(
            message="db_subnet_group_description needs db_subnet_group_subnet_ids: the module only manages a subnet group whose subnets it is given"
        )


def same_kms_key(requested: Optional[str], actual: Optional[str]) -> bool:
    """Whether a key given as id or ARN names the key RDS reports (always an ARN on AWS)."""
    if not requested or not actual:
        return requested == actual
    if requested == actual:
        return True
    # A bare key id matches the ARN ".../key/<id>"; an ARN matches a bare id the other way round.
    return actual.endswith("/" + requested) or requested.endswith("/" + actual)


def engine_version_matches(requested: Optional[str], actual: Optional[str]) -> bool:
    """``15`` or ``15.4`` asked, ``15.4`` running: satisfied. RDS picks the minor when only the major is given."""
    if not requested:
        return True
    if not actual:
        return False
    return actual == requested or actual.startswith(requested + ".")


def _version_key(version: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def is_downgrade(requested: str, actual: str) -> bool:
    return _version_key(requested) < _version_key(actual)[: len(_version_key(requested))]


def is_major_upgrade(requested: str, actual: str) -> bool:
    return _version_key(requested)[:1] != _version_key(actual)[:1]


def immutable_conflicts(params: Dict[str, Any], cluster: Dict[str, Any], resolved_keys: Optional[Dict[str, str]] = None) -> List[str]:
    """Messages for each asked setting an existing cluster has differently and cannot change.

    ``resolved_keys`` maps a KMS option given as an alias to the key ARN the alias points at.
    """
    problems: List[str] = []
    resolved_keys = resolved_keys or {}

    def conflict(option: str, asked: Any, actual: Any) -> None:
        problems.append(f"{option} cannot be changed on an existing cluster (asked {asked!r}, cluster has {actual!r})")

    if params.get("engine") is not None and params["engine"] != cluster.get("Engine"):
        conflict("engine", params["engine"], cluster.get("Engine"))
    if params.get("storage_encrypted") is not None and bool(params["storage_encrypted"]) != bool(cluster.get("StorageEncrypted")):
        conflict("storage_encrypted", params["storage_encrypted"], bool(cluster.get("StorageEncrypted")))
    if params.get("kms_key_id") and not _key_matches("kms_key_id", params, cluster.get("KmsKeyId"), resolved_keys):
        conflict("kms_key_id", params["kms_key_id"], cluster.get("KmsKeyId"))
    if params.get("master_username") is not None and params["master_username"] != cluster.get("MasterUsername"):
        conflict("master_username", params["master_username"], cluster.get("MasterUsername"))
    if params.get("database_name") is not None and params["database_name"] != cluster.get("DatabaseName"):
        conflict("database_name", params["database_name"], cluster.get("DatabaseName"))
    if params.get("db_subnet_group_name") is not None and not same_subnet_group_name(params["db_subnet_group_name"], _subnet_group_name(cluster)):
        conflict("db_subnet_group_name", params["db_subnet_group_name"], _subnet_group_name(cluster))
    secret = cluster.get("MasterUserSecret")
    asked_secret_key = params.get("master_user_secret_kms_key_id")
    if secret and asked_secret_key and not _key_matches("master_user_secret_kms_key_id", params, secret.get("KmsKeyId"), resolved_keys):
        conflict("master_user_secret_kms_key_id", asked_secret_key, secret.get("KmsKeyId"))
    version = params.get("engine_version")
    if version and not engine_version_matches(version, cluster.get("EngineVersion")) and is_downgrade(version, cluster.get("EngineVersion") or ""):
        problems.append(f"engine_version cannot go down from {cluster.get('EngineVersion')!r} to {version!r}")
    return problems


def _key_matches(option: str, params: Dict[str, Any], actual: Optional[str], resolved_keys: Dict[str, str]) -> bool:
    # RDS reports the key ARN; some implementations echo the alias that was given, so accept either.
    return same_kms_key(params[option], actual) or (option in resolved_keys and same_kms_key(resolved_keys[option], actual))


def _subnet_group_name(cluster: Dict[str, Any]) -> Optional[str]:
    group = cluster.get("DBSubnetGroup")
    return group.get("DBSubnetGroupName") if isinstance(group, dict) else group


def security_group_ids(cluster: Dict[str, Any]) -> List[str]:
    return sorted(group["VpcSecurityGroupId"] for group in cluster.get("VpcSecurityGroups", []) if group.get("Status") != "removing")


def password_problem(params: Dict[str, Any], cluster: Dict[str, Any]) -> Optional[str]:
    """Why an existing cluster's password handling blocks the run, if it does."""
    if cluster.get("MasterUserSecret") or params.get("manage_existing_master_password"):
        return None
    return (
        f"Cluster {cluster.get('DBClusterIdentifier')} has a self-managed master password (no MasterUserSecret); "
        "set manage_existing_master_password: true to let RDS manage it in Secrets Manager"
    )


def cluster_modifications(params: Dict[str, Any], cluster: Dict[str, Any]) -> Dict[str, Any]:
    """ModifyDBCluster arguments for the asked mutable settings that differ; empty when none do."""
    changes: Dict[str, Any] = {}
    if params.get("vpc_security_group_ids") is not None and sorted(set(params["vpc_security_group_ids"])) != security_group_ids(cluster):
        changes["VpcSecurityGroupIds"] = sorted(set(params["vpc_security_group_ids"]))
    if params.get("deletion_protection") is not None and bool(params["deletion_protection"]) != bool(cluster.get("DeletionProtection")):
        changes["DeletionProtection"] = bool(params["deletion_protection"])
    if params.get("port") is not None and params["port"] != cluster.get("Port"):
        changes["Port"] = params["port"]
    iam_auth = params.get("iam_database_authentication")
    if iam_auth is not None and bool(iam_auth) != bool(cluster.get("IAMDatabaseAuthenticationEnabled")):
        changes["EnableIAMDatabaseAuthentication"] = bool(iam_auth)
    scaling = serverless_configuration(params.get("serverless_v2_scaling"))
    described = cluster.get("ServerlessV2ScalingConfiguration") or {}
    # Only what is asked is compared: RDS fills in an auto-pause delay nobody asked for.
    if scaling and any(described.get(key) is None or float(described[key]) != float(value) for key, value in scaling.items()):
        changes["ServerlessV2ScalingConfiguration"] = scaling
    version = params.get("engine_version")
    if version and not engine_version_matches(version, cluster.get("EngineVersion")):
        changes["EngineVersion"] = version
        if is_major_upgrade(version, cluster.get("EngineVersion") or ""):
            changes["AllowMajorVersionUpgrade"] = True
    # Asking again on a cluster that already has a managed secret would make RDS (and moto) create
    # a second one, so this is only ever sent for a self-managed password.
    if not cluster.get("MasterUserSecret") and params.get("manage_existing_master_password"):
        changes["ManageMasterUserPassword"] = True
        if params.get("master_user_secret_kms_key_id"):
            changes["MasterUserSecretKmsKeyId"] = params["master_user_secret_kms_key_id"]
    return changes


def tag_changes(params: Dict[str, Any], cluster: Dict[str, Any]) -> Tuple[Dict[str, str], List[str]]:
    if params.get("tags") is None:
        return {}, []
    desired = {str(key): str(value) for key, value in params["tags"].items()}
    to_set, to_unset = compare_aws_tags(tags_to_dict(cluster.get("TagList")), desired, params.get("purge_tags", True))
    # Other deployments' marks are theirs to remove, whatever purge_tags says.
    return to_set, [key for key in to_unset if not is_ownership_tag(key)]


def with_usage_tags(params: Dict[str, Any], cluster: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """``params`` whose tags also carry the deployment's mark: created-by on a cluster it creates,
    ``adopted`` on an existing cluster it starts using (never created-by: it did not create it)."""
    deployment_id = params.get("deployment_id")
    if not deployment_id:
        return params
    mark = usage_tags(deployment_id, created=True) if cluster is None else adoption_tags(tags_to_dict(cluster.get("TagList")), deployment_id)
    if not mark:
        return params
    if params.get("tags") is None:
        # Unset tags mean "leave them alone": add the mark without purging anything.
        return dict(params, tags=mark, purge_tags=False)
    return dict(params, tags=dict(params["tags"], **mark))


def deletion_decision(params: Dict[str, Any], cluster: Dict[str, Any]) -> str:
    """DELETE, or why the cluster is kept: 'adopted' (this deployment did not create it and was not
    told to delete such a cluster) or 'shared' (it created it, but other deployments still use it)."""
    deployment_id = params.get("deployment_id")
    if not deployment_id:
        return DELETE
    tags = tags_to_dict(cluster.get("TagList"))
    if created_by(tags) != deployment_id:
        return DELETE if params.get("delete_adopted") else "adopted"
    return DELETE if release_plan(tags, deployment_id) == DELETE else "shared"


def plan_instances(
    params: Dict[str, Any], cluster_id: str, instances: List[Dict[str, Any]], writers: Iterable[str] = ()
) -> Dict[str, Any]:
    """Which of our ``<cluster>-instance-<n>`` instances to create, delete and modify.

    Counting, not renumbering: with instances 1 and 3 and a count of 2 nothing happens. Missing
    instances take the lowest free numbers, surplus ones go highest number first, but never the
    writer (``writers``: the cluster's IsClusterWriter members). Instances named otherwise belong to
    someone else and are left alone, but they count towards the number: the writer of an adopted
    cluster is its instance, so no ``<cluster>-instance-1`` joins it. ``modify`` lists readers first
    and the writer last.
    """
    writers = {writer.lower() for writer in writers}
    ours = {}
    foreign = 0
    for instance in instances:
        if instance.get("DBInstanceStatus") in _GONE_STATUSES:
            continue
        number = instance_number(cluster_id, instance["DBInstanceIdentifier"])
        if number is not None:
            ours[number] = instance
        else:
            foreign += 1
    count = params.get("instance_count")
    create: List[str] = []
    delete: List[str] = []
    if count is not None and len(ours) + foreign < count:
        number = 1
        while len(ours) + foreign + len(create) < count:
            if number not in ours:
                create.append(instance_identifier(cluster_id, number))
            number += 1
    elif count is not None and len(ours) > count:
        readers = [number for number in sorted(ours, reverse=True) if ours[number]["DBInstanceIdentifier"].lower() not in writers]
        if len(readers) < len(ours) - count:
            raise EcsRdsError(
                message=f"instance_count {count} would delete the writer of DB cluster {cluster_id}; the writer is never "
                "deleted by scaling down (use state=absent to delete the cluster)"
            )
        delete = [ours[number]["DBInstanceIdentifier"] for number in readers[: len(ours) - count]]
    modify: Dict[str, Dict[str, Any]] = {}
    for number, instance in sorted(ours.items(), key=lambda item: (item[1]["DBInstanceIdentifier"].lower() in writers, item[0])):
        if instance["DBInstanceIdentifier"] in delete:
            continue
        changes = instance_modifications(params, instance)
        if changes:
            modify[instance["DBInstanceIdentifier"]] = changes
    return {"create": create, "delete": delete, "modify": modify}


def writer_ids(cluster: Optional[Dict[str, Any]]) -> List[str]:
    return [m["DBInstanceIdentifier"] for m in (cluster or {}).get("DBClusterMembers", []) if m.get("IsClusterWriter")]


def instance_modifications(params: Dict[str, Any], instance: Dict[str, Any]) -> Dict[str, Any]:
    changes: Dict[str, Any] = {}
    if params.get("instance_class") and params["instance_class"] != instance.get("DBInstanceClass"):
        changes["DBInstanceClass"] = params["instance_class"]
    if instance.get("PubliclyAccessible"):
        changes["PubliclyAccessible"] = False
    interval = params.get("monitoring_interval")
    if interval is not None:
        if interval != (instance.get("MonitoringInterval") or 0):
            changes["MonitoringInterval"] = interval
        role = params.get("monitoring_role_arn")
        if interval and role and role != instance.get("MonitoringRoleArn"):
            changes["MonitoringRoleArn"] = role
            changes["MonitoringInterval"] = interval
    return changes


# Check mode on an account without the cluster: stand-ins for what RDS assigns at creation, so the
# next steps (task definitions, the grant) can still be planned and shown. Marked as planned
# (rules.PLANNED_MARK); the account is not looked up (no extra call), hence the zeros.


def planned_placeholders(cluster_id: str, region: Optional[str]) -> Dict[str, str]:
    region = region or "us-east-1"
    return {
        "endpoint": f"{cluster_id.lower()}.cluster-{PLANNED_MARK}.{region}.rds.amazonaws.com",
        "secret_arn": f"arn:aws:secretsmanager:{region}:000000000000:secret:rds!cluster-{PLANNED_MARK}",
    }


def instance_create_args(params: Dict[str, Any], cluster: Dict[str, Any], identifier: str) -> Dict[str, Any]:
    args: Dict[str, Any] = {
        "DBInstanceIdentifier": identifier,
        "DBClusterIdentifier": cluster["DBClusterIdentifier"],
        "Engine": cluster.get("Engine") or params.get("engine") or DEFAULT_ENGINE,
        "DBInstanceClass": params.get("instance_class") or "db.t4g.medium",
        "PubliclyAccessible": False,
        "MonitoringInterval": params.get("monitoring_interval") or 0,
    }
    if params.get("monitoring_interval"):
        args["MonitoringRoleArn"] = params["monitoring_role_arn"]
    if params.get("db_subnet_group_name"):
        # The cluster's own group (an existing cluster with another one was refused earlier). AWS
        # describes an Aurora instance with its group either way; moto only when it is named here.
        args["DBSubnetGroupName"] = params["db_subnet_group_name"]
    if params.get("tags"):
        args["Tags"] = [{"Key": str(key), "Value": str(value)} for key, value in params["tags"].items()]
    return args


def serverless_configuration(scaling: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """ServerlessV2ScalingConfiguration as CreateDBCluster and ModifyDBCluster take it."""
    if not scaling:
        return None
    configuration: Dict[str, Any] = {"MinCapacity": float(scaling["min_capacity"]), "MaxCapacity": float(scaling["max_capacity"])}
    if scaling.get("seconds_until_auto_pause") is not None:
        configuration["SecondsUntilAutoPause"] = int(scaling["seconds_until_auto_pause"])
    return configuration


def _described_scaling(cluster: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    described = cluster.get("ServerlessV2ScalingConfiguration") or {}
    if described.get("MinCapacity") is None:
        return None
    result = {"MinCapacity": float(described["MinCapacity"]), "MaxCapacity": float(described["MaxCapacity"])}
    if described.get("SecondsUntilAutoPause") is not None and float(described["MinCapacity"]) == 0:
        result["SecondsUntilAutoPause"] = int(described["SecondsUntilAutoPause"])
    return result


def cluster_create_args(params: Dict[str, Any]) -> Dict[str, Any]:
    args: Dict[str, Any] = {
        "DBClusterIdentifier": params["db_cluster_identifier"],
        "Engine": params.get("engine") or DEFAULT_ENGINE,
        "MasterUsername": params.get("master_username") or "postgres",
        "ManageMasterUserPassword": True,
        "StorageEncrypted": True if params.get("storage_encrypted") is None else bool(params["storage_encrypted"]),
        "DeletionProtection": True if params.get("deletion_protection") is None else bool(params["deletion_protection"]),
    }
    optional = {
        "EngineVersion": "engine_version",
        "MasterUserSecretKmsKeyId": "master_user_secret_kms_key_id",
        "DatabaseName": "database_name",
        "Port": "port",
        "DBSubnetGroupName": "db_subnet_group_name",
        "VpcSecurityGroupIds": "vpc_security_group_ids",
        "KmsKeyId": "kms_key_id",
    }
    for key, option in optional.items():
        if params.get(option) is not None:
            args[key] = params[option]
    if params.get("iam_database_authentication") is not None:
        args["EnableIAMDatabaseAuthentication"] = bool(params["iam_database_authentication"])
    scaling = serverless_configuration(params.get("serverless_v2_scaling"))
    if scaling:
        args["ServerlessV2ScalingConfiguration"] = scaling
    if params.get("tags"):
        args["Tags"] = [{"Key": str(key), "Value": str(value)} for key, value in params["tags"].items()]
    return args


def compared_settings(cluster: Optional[Dict[str, Any]], instances: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The settings this module compares, normalised, for diff mode; {} for no cluster."""
    if cluster is None:
        return {}
    secret = cluster.get("MasterUserSecret") or {}
    return {
        "db_cluster_identifier": cluster.get("DBClusterIdentifier"),
        "engine": cluster.get("Engine"),
        "engine_version": cluster.get("EngineVersion"),
        "master_username": cluster.get("MasterUsername"),
        "manage_master_user_password": bool(secret),
        "master_user_secret_kms_key_id": secret.get("KmsKeyId"),
        "database_name": cluster.get("DatabaseName"),
        "port": cluster.get("Port"),
        "db_subnet_group_name": _subnet_group_name(cluster),
        "vpc_security_group_ids": security_group_ids(cluster),
        "storage_encrypted": bool(cluster.get("StorageEncrypted")),
        "kms_key_id": cluster.get("KmsKeyId"),
        "deletion_protection": bool(cluster.get("DeletionProtection")),
        "serverless_v2_scaling": _described_scaling(cluster),
        "iam_database_authentication": bool(cluster.get("IAMDatabaseAuthenticationEnabled")),
        "tags": tags_to_dict(cluster.get("TagList")),
        "instances": {
            instance["DBInstanceIdentifier"]: {
                "db_instance_class": instance.get("DBInstanceClass"),
                "publicly_accessible": bool(instance.get("PubliclyAccessible")),
                "monitoring_interval": instance.get("MonitoringInterval") or 0,
            }
            for instance in instances
            if instance.get("DBInstanceStatus") not in _GONE_STATUSES
        },
    }


def predicted_settings(params: Dict[str, Any], cluster: Optional[Dict[str, Any]], instances: List[Dict[str, Any]]) -> Dict[str, Any]:
    """What :func:`compared_settings` would show after the run, for diff mode."""
    if cluster is None:
        created = cluster_create_args(params)
        cluster = {
            "DBClusterIdentifier": created["DBClusterIdentifier"].lower(),
            "Engine": created["Engine"],
            "EngineVersion": created.get("EngineVersion"),
            "MasterUsername": created["MasterUsername"],
            "MasterUserSecret": {"KmsKeyId": created.get("MasterUserSecretKmsKeyId")},
            "DatabaseName": created.get("DatabaseName"),
            "Port": created.get("Port"),
            "DBSubnetGroup": created.get("DBSubnetGroupName"),
            "VpcSecurityGroups": [{"VpcSecurityGroupId": group} for group in created.get("VpcSecurityGroupIds", [])],
            "StorageEncrypted": created["StorageEncrypted"],
            "KmsKeyId": created.get("KmsKeyId"),
            "DeletionProtection": created["DeletionProtection"],
            "ServerlessV2ScalingConfiguration": created.get("ServerlessV2ScalingConfiguration"),
            "IAMDatabaseAuthenticationEnabled": created.get("EnableIAMDatabaseAuthentication", False),
            "TagList": created.get("Tags", []),
        }
        instances = []
    after = compared_settings(cluster, instances)
    changes = cluster_modifications(params, cluster)
    if "VpcSecurityGroupIds" in changes:
        after["vpc_security_group_ids"] = changes["VpcSecurityGroupIds"]
    if "DeletionProtection" in changes:
        after["deletion_protection"] = changes["DeletionProtection"]
    if "Port" in changes:
        after["port"] = changes["Port"]
    if "ServerlessV2ScalingConfiguration" in changes:
        after["serverless_v2_scaling"] = changes["ServerlessV2ScalingConfiguration"]
    if "EnableIAMDatabaseAuthentication" in changes:
        after["iam_database_authentication"] = changes["EnableIAMDatabaseAuthentication"]
    if "EngineVersion" in changes:
        after["engine_version"] = changes["EngineVersion"]
    if changes.get("ManageMasterUserPassword"):
        after["manage_master_user_password"] = True
    to_set, to_unset = tag_changes(params, cluster)
    after["tags"] = {key: value for key, value in {**after["tags"], **to_set}.items() if key not in to_unset}
    plan = plan_instances(params, after["db_cluster_identifier"], instances, writer_ids(cluster))
    for identifier in plan["delete"]:
        after["instances"].pop(identifier, None)
    for identifier, mods in plan["modify"].items():
        entry = after["instances"][identifier]
        entry["db_instance_class"] = mods.get("DBInstanceClass", entry["db_instance_class"])
        entry["publicly_accessible"] = mods.get("PubliclyAccessible", entry["publicly_accessible"])
        entry["monitoring_interval"] = mods.get("MonitoringInterval", entry["monitoring_interval"])
    for identifier in plan["create"]:
        after["instances"][identifier] = {
            "db_instance_class": params.get("instance_class") or "db.t4g.medium",
            "publicly_accessible": False,
            "monitoring_interval": params.get("monitoring_interval") or 0,
        }
    return after


def cluster_ready(
    cluster: Optional[Dict[str, Any]], instances: List[Dict[str, Any]], awaited: Optional[Dict[str, Iterable[str]]] = None
) -> Optional[str]:
    """None when the cluster, its secret, its writer and our own instances are ready, else what is
    still pending.

    Readers someone else added (not named ``<cluster>-instance-<n>``) do not hold up the run.
    ``awaited`` maps "cluster" or an instance id to the settings just modified: until RDS no longer
    lists them in PendingModifiedValues the change has not shown, however "available" the status.
    """
    if cluster is None:
        return "cluster not found"
    if cluster.get("Status") != "available":
        return f"cluster status {cluster.get('Status')!r}"
    awaited = awaited or {}
    pending = sorted(set(awaited.get("cluster", ())) & set(cluster.get("PendingModifiedValues") or {}))
    if pending:
        return f"cluster pending modified values {pending}"
    secret = cluster.get("MasterUserSecret")
    if secret and secret.get("SecretStatus") != "active":
        return f"master user secret status {secret.get('SecretStatus')!r}"
    cluster_id = cluster.get("DBClusterIdentifier") or ""
    writers = {writer.lower() for writer in writer_ids(cluster)}
    for instance in instances:
        identifier = instance["DBInstanceIdentifier"]
        if identifier.lower() not in writers and instance_number(cluster_id, identifier) is None:
            continue
        if instance.get("DBInstanceStatus") != "available":
            return f"instance {identifier} status {instance.get('DBInstanceStatus')!r}"
        pending = sorted(set(awaited.get(identifier, ())) & set(instance.get("PendingModifiedValues") or {}))
        if pending:
            return f"instance {identifier} pending modified values {pending}"
    return None


def snake_cluster(cluster: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The described cluster in snake_case with AWS's field names, tags as a dict."""
    if cluster is None:
        return None
    raw = {key: value for key, value in cluster.items() if key not in ("TagList", "ResponseMetadata")}
    result = camel_dict_to_snake_dict(raw)
    result["tags"] = tags_to_dict(cluster.get("TagList"))
    return result


def instance_summaries(cluster: Optional[Dict[str, Any]], instances: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    if cluster is None:
        return []
    writers = {member["DBInstanceIdentifier"]: bool(member.get("IsClusterWriter")) for member in cluster.get("DBClusterMembers", [])}
    return [
        {
            "db_instance_identifier": instance["DBInstanceIdentifier"],
            "db_instance_class": instance.get("DBInstanceClass"),
            "is_cluster_writer": writers.get(instance["DBInstanceIdentifier"], False),
            "db_instance_status": instance.get("DBInstanceStatus"),
            "publicly_accessible": bool(instance.get("PubliclyAccessible")),
        }
        for instance in sorted(instances, key=lambda item: item["DBInstanceIdentifier"])
    ]


def cluster_actions(cluster_id: str, changes: Mapping[str, Any], to_set: Mapping[str, str], to_unset: Sequence[str],
                    plan: Mapping[str, Any]) -> List[str]:
    """The writes of an existing cluster's plan, in words, in the order they are made."""
    actions = []
    if changes:
        actions.append(f"modify DB cluster {cluster_id} ({', '.join(sorted(changes))})")
    if to_set or to_unset:
        actions.append(f"set tags of DB cluster {cluster_id} ({', '.join(sorted(set(to_set) | set(to_unset)))})")
    actions += [f"delete DB instance {identifier}" for identifier in plan.get("delete") or []]
    actions += [f"modify DB instance {identifier} ({', '.join(sorted(mods))})" for identifier, mods in (plan.get("modify") or {}).items()]
    actions += [f"create DB instance {identifier}" for identifier in plan.get("create") or []]
    return actions


# Aurora PostgreSQL listens on this port unless CreateDBCluster names another.
AURORA_POSTGRESQL_PORT = 5432


def connection(cluster: Optional[Mapping[str, Any]], after: Mapping[str, Any], planned: Optional[Mapping[str, str]]) -> Dict[str, Any]:
    """How the applications reach the database: the endpoint, port and database as RDS reports them
    for ``cluster`` (snake_case), and its managed secret. In check mode (``after``, the predicted
    settings) a port about to change is the new one, and a cluster not created yet has the
    ``planned`` stand-ins for what RDS assigns, the asked port (or Aurora PostgreSQL's 5432) and the
    asked database. Null where nothing is known."""
    cluster = cluster or {}
    secret = cluster.get("master_user_secret") or {}
    return {
        "endpoint": cluster.get("endpoint") or (planned or {}).get("endpoint"),
        "port": after.get("port") or cluster.get("port") or AURORA_POSTGRESQL_PORT,
        "database_name": cluster.get("database_name") or after.get("database_name"),
        "secret_arn": secret.get("secret_arn") or (planned or {}).get("secret_arn"),
        "secret_kms_key_id": secret.get("kms_key_id"),
        "secret_kms_key_manager": secret.get("kms_key_manager"),
    }


# ---------------------------------------------------------------------------------------------
# The DB subnet group (pure)
# ---------------------------------------------------------------------------------------------
#
# A no-op run must not cost a call of its own for the group: AWS's DescribeDBInstances answer
# carries each Aurora instance's DBSubnetGroup (name, description, VPC, status, subnets), which is
# the cluster's, so the instances the manager describes anyway are compared first. The group is
# only described itself (DescribeDBSubnetGroups, then ListTagsForResource for its tags) when that
# answer is not there (no cluster or no instance yet) or shows something to fix.
#
# Tags are the price of that budget: no answer the manager already has carries the group's tags,
# and reading them on every run would be a third call for a setting that rarely changes (the same
# tags sit on the cluster and instances, which are compared every run). So the group gets its tags
# when it is created, and later tag changes are applied the next time the group is described:
# when its subnets or description change, or a run finds no instance to read it from.


def subnet_group_managed(params: Dict[str, Any]) -> bool:
    """The module ensures the group only when it is given the group's subnets."""
    return params.get("db_subnet_group_subnet_ids") is not None


def subnet_ids_of(group: Dict[str, Any]) -> List[str]:
    return sorted({subnet["SubnetIdentifier"] for subnet in group.get("Subnets") or [] if subnet.get("SubnetIdentifier")})


def same_subnet_group_name(asked: Optional[str], actual: Optional[str]) -> bool:
    # RDS stores subnet group names in lower case.
    return bool(asked) and bool(actual) and asked.lower() == actual.lower()


def subnet_group_of_instances(cluster: Optional[Dict[str, Any]], instances: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The cluster's subnet group as DescribeDBInstances shows it, the writer's answer first; None
    when no instance carries it."""
    writers = {writer.lower() for writer in writer_ids(cluster)}
    for instance in sorted(instances, key=lambda item: item["DBInstanceIdentifier"].lower() not in writers):
        group = instance.get("DBSubnetGroup")
        if instance.get("DBInstanceStatus") in _GONE_STATUSES or not isinstance(group, dict):
            continue
        if group.get("DBSubnetGroupName") and group.get("Subnets") is not None:
            return group
    return None


def default_subnet_group_description(params: Dict[str, Any]) -> str:
    return f"Subnets of DB cluster {params['db_cluster_identifier']}"


def subnet_group_changes(params: Dict[str, Any], group: Dict[str, Any]) -> Dict[str, Any]:
    """ModifyDBSubnetGroup arguments for what differs from the asked group; {} when nothing does.
    An unset description is left alone; the subnets are always sent, as the API requires."""
    asked = sorted({subnet for subnet in params["db_subnet_group_subnet_ids"] if subnet})
    description = params.get("db_subnet_group_description")
    differs = asked != subnet_ids_of(group) or (description is not None and description != group.get("DBSubnetGroupDescription"))
    if not differs:
        return {}
    changes: Dict[str, Any] = {"DBSubnetGroupName": group["DBSubnetGroupName"], "SubnetIds": asked}
    if description is not None:
        changes["DBSubnetGroupDescription"] = description
    return changes


def subnet_group_create_args(params: Dict[str, Any]) -> Dict[str, Any]:
    """CreateDBSubnetGroup arguments; the tags include the deployment's created-by mark when the
    cluster is created in the same run (``params`` as :func:`with_usage_tags` left them)."""
    args: Dict[str, Any] = {
        "DBSubnetGroupName": params["db_subnet_group_name"],
        "DBSubnetGroupDescription": params.get("db_subnet_group_description") or default_subnet_group_description(params),
        "SubnetIds": sorted({subnet for subnet in params["db_subnet_group_subnet_ids"] if subnet}),
    }
    if params.get("tags"):
        args["Tags"] = [{"Key": str(key), "Value": str(value)} for key, value in params["tags"].items()]
    return args


def subnet_group_tag_changes(params: Dict[str, Any], current: Dict[str, str]) -> Tuple[Dict[str, str], List[str]]:
    """Tag changes for an existing group. Ownership marks are never set or removed here: the group
    follows its cluster, whose marks decide teardown."""
    if params.get("tags") is None:
        return {}, []
    desired = {str(key): str(value) for key, value in params["tags"].items() if not is_ownership_tag(str(key))}
    to_set, to_unset = compare_aws_tags(current, desired, params.get("purge_tags", True))
    return to_set, [key for key in to_unset if not is_ownership_tag(key)]


def planned_subnet_group(args: Dict[str, Any]) -> Dict[str, Any]:
    """The group CreateDBSubnetGroup would make, shaped like its answer (check mode)."""
    return {
        "DBSubnetGroupName": args["DBSubnetGroupName"].lower(),
        "DBSubnetGroupDescription": args["DBSubnetGroupDescription"],
        "Subnets": [{"SubnetIdentifier": subnet} for subnet in args["SubnetIds"]],
    }


def subnet_group_summary(group: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The group under its own result key: AWS's field names in snake_case, subnets as their ids.
    Its tags are not included: the no-op path never reads them."""
    if not group:
        return None
    return {
        "db_subnet_group_name": group.get("DBSubnetGroupName"),
        "db_subnet_group_description": group.get("DBSubnetGroupDescription"),
        "db_subnet_group_arn": group.get("DBSubnetGroupArn"),
        "vpc_id": group.get("VpcId"),
        "subnet_group_status": group.get("SubnetGroupStatus"),
        "subnet_ids": subnet_ids_of(group),
    }


def subnet_group_compared(group: Optional[Dict[str, Any]], tags: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The group's compared settings for diff mode; tags only when they were read."""
    if not group:
        return {}
    compared: Dict[str, Any] = {
        "db_subnet_group_name": group.get("DBSubnetGroupName"),
        "db_subnet_group_description": group.get("DBSubnetGroupDescription"),
        "subnet_ids": subnet_ids_of(group),
    }
    if tags is not None:
        compared["tags"] = dict(tags)
    return compared


def plan_subnet_group(
    params: Dict[str, Any], current: Optional[Dict[str, Any]], current_tags: Optional[Dict[str, str]] = None
) -> Dict[str, Any]:
    """What to do to the described group (None: it does not exist): create args, modify args and
    tag changes, plus its predicted compared settings for diff mode."""
    plan: Dict[str, Any] = {"create": None, "modify": None, "tags": ({}, []), "before": subnet_group_compared(current, current_tags)}
    if current is None:
        plan["create"] = subnet_group_create_args(params)
        plan["after"] = subnet_group_compared(planned_subnet_group(plan["create"]))
        return plan
    plan["modify"] = subnet_group_changes(params, current) or None
    if current_tags is not None:
        plan["tags"] = subnet_group_tag_changes(params, current_tags)
    after = dict(plan["before"])
    if plan["modify"]:
        after["subnet_ids"] = plan["modify"]["SubnetIds"]
        after["db_subnet_group_description"] = plan["modify"].get("DBSubnetGroupDescription", after["db_subnet_group_description"])
    if current_tags is not None:
        to_set, to_unset = plan["tags"]
        after["tags"] = {key: value for key, value in {**current_tags, **to_set}.items() if key not in to_unset}
    plan["after"] = after
    return plan


def subnet_group_plan_changes(plan: Optional[Dict[str, Any]]) -> bool:
    return bool(plan) and bool(plan["create"] or plan["modify"] or plan["tags"][0] or plan["tags"][1])


def subnet_group_actions(name: Optional[str], plan: Optional[Dict[str, Any]]) -> List[str]:
    """The writes of a subnet group's plan, in words."""
    if not subnet_group_plan_changes(plan):
        return []
    to_set, to_unset = plan["tags"]
    return ([f"create DB subnet group {name}"] if plan["create"] else [])\
        + ([f"modify DB subnet group {name} ({', '.join(sorted(k for k in plan['modify'] if k != 'DBSubnetGroupName'))})"] if plan["modify"] else [])\
        + ([f"set tags of DB subnet group {name}"] if (to_set or to_unset) and not plan["create"] else [])


# ---------------------------------------------------------------------------------------------
# AWS calls
# ---------------------------------------------------------------------------------------------


class AuroraCluster:
    """Describe, create, change and delete one cluster and its instances (thin, typed wrappers)."""

    def __init__(self, client: Any, cluster_id: str) -> None:
        self.client = client
        self.cluster_id = cluster_id

    def describe(self) -> Optional[Dict[str, Any]]:
        response = call(
            self.client, "describe_db_clusters", f"describe DB cluster {self.cluster_id}", _CLUSTER_NOT_FOUND, DBClusterIdentifier=self.cluster_id
        )
        clusters = (response or {}).get("DBClusters") or []
        return clusters[0] if clusters else None

    def instances(self) -> List[Dict[str, Any]]:
        @aws_retry
        def _all() -> List[Dict[str, Any]]:
            paginator = self.client.get_paginator("describe_db_instances")
            pages = paginator.paginate(Filters=[{"Name": "db-cluster-id", "Values": [self.cluster_id]}])
            return pages.build_full_result().get("DBInstances", [])

        try:
            found = _all()
        except (ClientError, BotoCoreError) as exc:
            raise EcsRdsError(message=f"Failed to describe the instances of DB cluster {self.cluster_id}", exception=exc)
        # Filters match the cluster id or ARN; keep exactly this cluster's members.
        return [item for item in found if (item.get("DBClusterIdentifier") or "").lower() == self.cluster_id.lower()]

    def describe_instance(self, identifier: str) -> Optional[Dict[str, Any]]:
        response = call(self.client, "describe_db_instances", f"describe DB instance {identifier}", _INSTANCE_NOT_FOUND, DBInstanceIdentifier=identifier)
        found = (response or {}).get("DBInstances") or []
        return found[0] if found else None

    def create(self, args: Dict[str, Any]) -> Dict[str, Any]:
        # CreateDBCluster takes no client token; the identifier is the only idempotency key, so a
        # lost response is resolved by describing (and adopting) rather than sending it again. An
        # "already exists" answer means an earlier attempt (or a concurrent run) got there first.
        def _create() -> Dict[str, Any]:
            try:
                return self.client.create_db_cluster(**args)["DBCluster"]
            except ClientError as exc:
                existing = self.describe() if error_code(exc) == "DBClusterAlreadyExistsFault" else None
                if existing is None:
                    raise
                return existing

        return create_or_adopt(_create, self.describe, f"create DB cluster {self.cluster_id}")

    def create_instance(self, args: Dict[str, Any], busy_timeout: float = 0) -> Dict[str, Any]:
        """Create (or adopt) one instance of the cluster, resending while RDS answers that the
        cluster is not in a state to take it (at most ``busy_timeout`` seconds)."""
        identifier = args["DBInstanceIdentifier"]
        what = f"create DB instance {identifier}"

        def _create() -> Dict[str, Any]:
            try:
                return self.client.create_db_instance(**args)["DBInstance"]
            except ClientError as exc:
                existing = self.describe_instance(identifier) if error_code(exc) == "DBInstanceAlreadyExists" else None
                if existing is None:
                    raise
                return existing

        def send() -> Dict[str, Any]:
            return retry_while_busy(_create, busy_timeout, what, codes=("InvalidDBClusterStateFault",))

        return create_or_adopt(send, lambda: self.describe_instance(identifier), what)

    def modify(self, changes: Dict[str, Any], busy_timeout: float = 0) -> bool:
        """Apply ``changes`` now, resending while RDS answers that the cluster is busy (at most
        ``busy_timeout`` seconds). False when RDS answers that nothing needed changing."""
        what = f"modify DB cluster {self.cluster_id} ({', '.join(sorted(changes))})"
        args = dict(DBClusterIdentifier=self.cluster_id, ApplyImmediately=True, **changes)
        if changes.get("ManageMasterUserPassword"):
            # Sent again after a lost answer this would make a second secret (moto does): look first.
            def send() -> Dict[str, Any]:
                return retry_while_busy(lambda: self.client.modify_db_cluster(**args), busy_timeout, what, codes=_BUSY_CODES)

            def find_existing() -> Optional[Dict[str, Any]]:
                cluster = self.describe()
                return cluster if cluster and cluster.get("MasterUserSecret") else None

            create_or_adopt(send, find_existing, what)
            return True
        return _modified(lambda: retry_while_busy(lambda: call(self.client, "modify_db_cluster", what, **args), busy_timeout, what, codes=_BUSY_CODES))

    def modify_instance(self, identifier: str, changes: Dict[str, Any], busy_timeout: float = 0) -> bool:
        """Like :meth:`modify`, for one instance."""
        what = f"modify DB instance {identifier} ({', '.join(sorted(changes))})"
        return _modified(lambda: retry_while_busy(
            lambda: call(self.client, "modify_db_instance", what, DBInstanceIdentifier=identifier, ApplyImmediately=True, **changes),
            busy_timeout, what, codes=_BUSY_CODES,
        ))

    def start(self) -> None:
        call(self.client, "start_db_cluster", f"start DB cluster {self.cluster_id}", already_done=_BUSY_CODES, DBClusterIdentifier=self.cluster_id)

    def set_tags(self, arn: str, to_set: Dict[str, str], to_unset: List[str]) -> None:
        set_rds_tags(self.client, arn, to_set, to_unset, f"DB cluster {self.cluster_id}")

    def delete_instance(self, identifier: str) -> None:
        # Data lives in the cluster volume, covered by the cluster's own final snapshot choice; an
        # Aurora instance has nothing of its own to snapshot.
        call(
            self.client, "delete_db_instance", f"delete DB instance {identifier}", _INSTANCE_NOT_FOUND,
            DBInstanceIdentifier=identifier, SkipFinalSnapshot=True,
        )

    def snapshot_exists(self, identifier: str) -> bool:
        response = call(
            self.client, "describe_db_cluster_snapshots", f"describe DB cluster snapshot {identifier}", _SNAPSHOT_NOT_FOUND,
            DBClusterSnapshotIdentifier=identifier,
        )
        return bool((response or {}).get("DBClusterSnapshots"))

    def delete(self, skip_final_snapshot: bool, final_snapshot_identifier: Optional[str]) -> None:
        args: Dict[str, Any] = {"SkipFinalSnapshot": bool(skip_final_snapshot)}
        if not skip_final_snapshot:
            args["FinalDBSnapshotIdentifier"] = final_snapshot_identifier
        call(self.client, "delete_db_cluster", f"delete DB cluster {self.cluster_id}", _CLUSTER_NOT_FOUND, DBClusterIdentifier=self.cluster_id, **args)


def no_modifications(exc: Optional[BaseException]) -> bool:
    """RDS's answer to a modification that would change nothing (amazon.aws treats it as unchanged too):
    InvalidParameterCombination, "No modifications were requested"."""
    if not isinstance(exc, ClientError) or error_code(exc) != "InvalidParameterCombination":
        return False
    return "No modifications were requested" in str(exc.response.get("Error", {}).get("Message", ""))


def _modified(send: Any) -> bool:
    try:
        send()
    except EcsRdsError as exc:
        if no_modifications(exc.exception):
            return False
        raise
    return True


def set_rds_tags(client: Any, arn: str, to_set: Dict[str, str], to_unset: List[str], what: str) -> None:
    """Remove then add tags on an RDS resource (cluster or subnet group alike)."""
    try:
        if to_unset:
            client.remove_tags_from_resource(ResourceName=arn, TagKeys=to_unset, aws_retry=True)
        if to_set:
            tags = [{"Key": key, "Value": str(value)} for key, value in to_set.items()]
            client.add_tags_to_resource(ResourceName=arn, Tags=tags, aws_retry=True)
    except (ClientError, BotoCoreError) as exc:
        raise EcsRdsError(message=f"Failed to update the tags of {what}", exception=exc)


class SubnetGroup:
    """Describe, create, change, tag and delete one DB subnet group (thin, typed wrappers)."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def describe(self) -> Optional[Dict[str, Any]]:
        response = call(
            self.client, "describe_db_subnet_groups", f"describe DB subnet group {self.name}", _SUBNET_GROUP_NOT_FOUND, DBSubnetGroupName=self.name
        )
        groups = (response or {}).get("DBSubnetGroups") or []
        return groups[0] if groups else None

    def tags(self, arn: str) -> Dict[str, str]:
        response = call(self.client, "list_tags_for_resource", f"list the tags of DB subnet group {self.name}", ResourceName=arn)
        return tags_to_dict((response or {}).get("TagList"))

    def create(self, args: Dict[str, Any]) -> Dict[str, Any]:
        # No client token here either: "already exists" after a lost answer (or from a concurrent
        # run) means the group is there, and it is adopted.
        def _create() -> Dict[str, Any]:
            try:
                return self.client.create_db_subnet_group(**args)["DBSubnetGroup"]
            except ClientError as exc:
                existing = self.describe() if error_code(exc) in _SUBNET_GROUP_EXISTS else None
                if existing is None:
                    raise
                return existing

        return create_or_adopt(_create, self.describe, f"create DB subnet group {self.name}")

    def modify(self, args: Dict[str, Any]) -> Dict[str, Any]:
        what = f"modify DB subnet group {self.name} ({', '.join(sorted(key for key in args if key != 'DBSubnetGroupName'))})"
        response = call(self.client, "modify_db_subnet_group", what, **args)
        return (response or {}).get("DBSubnetGroup") or {}

    def set_tags(self, arn: str, to_set: Dict[str, str], to_unset: List[str]) -> None:
        set_rds_tags(self.client, arn, to_set, to_unset, f"DB subnet group {self.name}")

    def delete(self, busy_timeout: float) -> None:
        """Delete the group (gone already is fine), resending while RDS still counts it as used by
        the cluster just deleted, for at most ``busy_timeout`` seconds."""
        what = f"delete DB subnet group {self.name}"
        retry_while_busy(
            lambda: call(self.client, "delete_db_subnet_group", what, _SUBNET_GROUP_NOT_FOUND, DBSubnetGroupName=self.name),
            busy_timeout, what, codes=_SUBNET_GROUP_IN_USE,
        )


def resolve_kms_aliases(keys: KeyReader, params: Mapping[str, Any]) -> Dict[str, str]:
    """The key ARN behind each KMS option given as an alias, since RDS reports keys by ARN."""
    return {option: keys.arn(params[option]) for option in ("kms_key_id", "master_user_secret_kms_key_id")
            if params.get(option) and "alias/" in params[option]}


# ---------------------------------------------------------------------------------------------
# The job: ensure present / absent
# ---------------------------------------------------------------------------------------------


class AuroraManagedSecretManager:
    """The cluster, its instances and its subnet group as rds_aurora_managed_secret ensures them;
    ``actions`` lists each write (made, or in check mode planned) in words."""

    def __init__(self, clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> None:
        self.clients = clients
        self.params: Dict[str, Any] = dict(params)
        self.check_mode = check_mode
        self.diff_mode = diff_mode
        self.cluster_id: str = self.params["db_cluster_identifier"]
        self.aws = AuroraCluster(clients("rds"), self.cluster_id)
        self.subnets = SubnetGroup(self.aws.client, self.params.get("db_subnet_group_name") or "")
        self.deadline = time.monotonic() + float(self.params.get("wait_timeout") or 0)
        self.delay = POLL_DELAY
        self.actions: List[str] = []
        self._keys: Optional[KeyReader] = None

    @property
    def keys(self) -> KeyReader:
        # A KMS client only when a key must be looked at (most runs need none besides the secret's).
        if self._keys is None:
            self._keys = KeyReader(self.clients("kms"))
        return self._keys

    def _remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def _result(
        self,
        changed: bool,
        before: Dict[str, Any],
        after: Dict[str, Any],
        cluster: Optional[Dict[str, Any]],
        instances: List[Dict[str, Any]],
        would_create: bool = False,
        subnet_group: Optional[Dict[str, Any]] = None,
    ) -> Dict[str, Any]:
        """``subnet_group``: the group as last described (AWS's shape), or None when unknown or gone."""
        snake = snake_cluster(cluster)
        secret = (snake or {}).get("master_user_secret") or {}
        if secret.get("kms_key_id") and self.params["state"] == "present":
            secret["kms_key_manager"] = self.keys.manager(secret["kms_key_id"])
        result: Dict[str, Any] = {
            "changed": changed,
            "cluster": snake,
            "instances": instance_summaries(cluster, instances),
            "subnet_group": subnet_group_summary(subnet_group),
            "would_create": would_create,
            # A run that changes nothing still waits for this (wait=true): it is part of being in sync.
            "pending": cluster_ready(cluster, instances) if cluster is not None else None,
        }
        if self.params["state"] == "present":
            # What RDS reports, but in check mode, where the run's own changes are only predicted.
            result["connection"] = connection(snake, after if self.check_mode else {}, self._planned() if would_create else None)
        if self.diff_mode:
            result["diff"] = {"before": before, "after": after}
        return result

    def _planned(self) -> Dict[str, str]:
        return planned_placeholders(self.cluster_id, self.clients.region)

    def run(self) -> Outcome:
        validate_params(self.params)
        result = self.ensure_absent() if self.params["state"] == "absent" else self.ensure_present()
        changed, diff = result.pop("changed"), result.pop("diff", None)
        return Outcome(changed, result, diff, self.actions)

    def _do(self, action: str) -> bool:
        """Note a write; True when it is to be made (not in check mode)."""
        self.actions.append(action)
        return not self.check_mode

    # -- present ---------------------------------------------------------------------------

    def ensure_present(self) -> Dict[str, Any]:
        cluster = self.aws.describe()
        self.params = with_usage_tags(self.params, cluster)
        if cluster is None:
            return self._create()
        if cluster.get("Status") in _GONE_STATUSES:
            raise EcsRdsError(message=f"DB cluster {self.cluster_id} is being deleted; run again once it is gone")
        started = False
        if cluster.get("Status") in _STOPPED_STATUSES:
            # A stopped cluster never becomes available by itself: say so instead of waiting it out.
            if not self.params.get("start_if_stopped"):
                raise EcsRdsError(
                    message=f"DB cluster {self.cluster_id} is {cluster.get('Status')}: start it (aws rds start-db-cluster "
                    f"--db-cluster-identifier {self.cluster_id}) or set start_if_stopped: true; nothing was changed"
                )
            if self._do(f"start DB cluster {self.cluster_id}"):
                cluster = self._start(cluster)
            started = True
        instances = self.aws.instances()
        problems = immutable_conflicts(self.params, cluster, resolve_kms_aliases(self.keys, self.params))
        problem = password_problem(self.params, cluster)
        if problem:
            problems.append(problem)
        if problems:
            raise EcsRdsError(message=f"DB cluster {self.cluster_id}: " + "; ".join(problems))

        group, group_plan = self._plan_subnet_group(subnet_group_of_instances(cluster, instances))
        changes = cluster_modifications(self.params, cluster)
        to_set, to_unset = tag_changes(self.params, cluster)
        writers = writer_ids(cluster)
        plan = plan_instances(self.params, self.cluster_id, instances, writers)
        group_changed = subnet_group_plan_changes(group_plan)
        cluster_changed = started or bool(changes or to_set or to_unset or plan["create"] or plan["delete"] or plan["modify"])
        changed = cluster_changed or group_changed
        before = compared_settings(cluster, instances)
        after = predicted_settings(self.params, cluster, instances)
        if group_plan:
            before["subnet_group"], after["subnet_group"] = group_plan["before"], group_plan["after"]
        group_actions = subnet_group_actions(self.params.get("db_subnet_group_name"), group_plan)
        if self.check_mode:
            self.actions += group_actions + cluster_actions(self.cluster_id, changes, to_set, to_unset, plan)
            return self._result(changed, before, after, cluster, instances, subnet_group=group)
        if group_changed:
            # Subnets come and go in the group only: the cluster needs no change or wait for it.
            group = self._apply_subnet_group(group, group_plan)
            self.actions += group_actions
        if not cluster_changed:
            # An earlier run with wait=false may have left the cluster still creating.
            if self.params["wait"] and cluster_ready(cluster, instances) is not None:
                cluster, instances = self._wait_ready()
            return self._result(changed, before, after, cluster, instances, subnet_group=group)

        if self.params["wait"] and cluster_ready(cluster, instances) is not None:
            # RDS refuses changes while a cluster is still creating or modifying.
            self._wait_ready()
        awaited: Dict[str, List[str]] = {}
        if changes and self.aws.modify(changes, self._remaining()):
            self.actions += cluster_actions(self.cluster_id, changes, {}, [], {})
            awaited["cluster"] = list(changes)
        if to_set or to_unset:
            self.aws.set_tags(cluster["DBClusterArn"], to_set, to_unset)
            self.actions += cluster_actions(self.cluster_id, {}, to_set, to_unset, {})
        for identifier in plan["delete"]:
            self.aws.delete_instance(identifier)
        # Readers first, the writer last (plan order), and with wait the writer only once the
        # readers show their change: the cluster keeps a working instance of each kind meanwhile.
        lower_writers = {writer.lower() for writer in writers}
        for identifier, instance_changes in plan["modify"].items():
            if identifier.lower() in lower_writers and awaited and self.params["wait"]:
                self._wait_ready(awaited)
            if self.aws.modify_instance(identifier, instance_changes, self._remaining()):
                awaited[identifier] = list(instance_changes)
        for identifier in plan["create"]:
            self.aws.create_instance(instance_create_args(self.params, cluster, identifier))
        self.actions += cluster_actions(self.cluster_id, {}, {}, [], dict(plan, modify={i: plan["modify"][i] for i in awaited if i != "cluster"}))
        if self.params["wait"]:
            if plan["delete"]:
                self._wait_instances_gone(plan["delete"])
            cluster, instances = self._wait_ready(awaited)
        else:
            cluster, instances = self.aws.describe(), self.aws.instances()
        # RDS may answer that a modification asked for changes nothing: then the run changed nothing either.
        return self._result(bool(self.actions), before, after, cluster, instances, subnet_group=group)

    def _plan_subnet_group(self, known: Optional[Dict[str, Any]]) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
        """(the group as described, the plan for it). Reads only, at most once each: nothing when
        the instances' answer (``known``) already shows the asked group, else DescribeDBSubnetGroups
        and, for an existing group whose tags are asked, ListTagsForResource. The plan is None when
        the module does not manage the group."""
        if not subnet_group_managed(self.params):
            return known, None
        if known is not None and same_subnet_group_name(self.params["db_subnet_group_name"], known.get("DBSubnetGroupName")):
            if not subnet_group_changes(self.params, known):
                return known, plan_subnet_group(self.params, known)
        current = self.subnets.describe()
        current_tags = None
        if current is not None and self.params.get("tags") is not None and current.get("DBSubnetGroupArn"):
            current_tags = self.subnets.tags(current["DBSubnetGroupArn"])
        plan = plan_subnet_group(self.params, current, current_tags)
        if current is None and self.check_mode:
            current = planned_subnet_group(plan["create"])
        return current, plan

    def _apply_subnet_group(self, group: Optional[Dict[str, Any]], plan: Dict[str, Any]) -> Dict[str, Any]:
        """The writes of ``plan``; returns the group as the last write answered it."""
        if plan["create"]:
            group = self.subnets.create(plan["create"])
            # A group adopted after "already exists" may not be the one asked for.
            adopted_changes = subnet_group_changes(self.params, group)
            if adopted_changes:
                group = self.subnets.modify(adopted_changes)
        elif plan["modify"]:
            group = self.subnets.modify(plan["modify"])
        to_set, to_unset = plan["tags"]
        if (to_set or to_unset) and group:
            self.subnets.set_tags(group["DBSubnetGroupArn"], to_set, to_unset)
        return group or {}

    def _start(self, cluster: Dict[str, Any]) -> Dict[str, Any]:
        if cluster.get("Status") == "stopping":
            wait_for(
                lambda: True if (self.aws.describe() or {}).get("Status") == "stopped" else None,
                self._remaining(), f"DB cluster {self.cluster_id} to finish stopping before it is started", delay=self.delay,
                last_seen=lambda: f"cluster status {(self.aws.describe() or {}).get('Status')!r}",
            )
        self.aws.start()
        return self._wait_ready()[0]

    def _create(self) -> Dict[str, Any]:
        group, group_plan = self._plan_subnet_group(None)
        before: Dict[str, Any] = {}
        after = predicted_settings(self.params, None, [])
        if group_plan:
            after["subnet_group"] = group_plan["after"]
            if group_plan["before"]:
                before["subnet_group"] = group_plan["before"]
        count = self.params.get("instance_count")
        identifiers = [instance_identifier(self.cluster_id, number) for number in range(1, (1 if count is None else count) + 1)]
        self.actions += subnet_group_actions(self.params.get("db_subnet_group_name"), group_plan)
        self.actions += [f"create DB cluster {self.cluster_id}"] + [f"create DB instance {identifier}" for identifier in identifiers]
        if self.check_mode:
            result = self._result(True, before, after, None, [], would_create=True, subnet_group=group)
            result["planned"] = self._planned()
            return result
        if subnet_group_plan_changes(group_plan):
            # CreateDBCluster needs the group to exist.
            group = self._apply_subnet_group(group, group_plan)
        cluster = self.aws.create(cluster_create_args(self.params))
        # The writer is asked for while the cluster is still creating (as the console does), so the two
        # settle together rather than one after the other (7-10 minutes saved on AWS); should RDS refuse
        # it as the cluster's state, it is sent again until the cluster takes it.
        for identifier in identifiers:
            self.aws.create_instance(instance_create_args(self.params, cluster, identifier),
                                     busy_timeout=self._remaining() if self.params["wait"] else 0)
        if self.params["wait"]:
            cluster, instances = self._wait_ready()
        else:
            cluster, instances = self.aws.describe(), self.aws.instances()
        return self._result(True, before, after, cluster, instances, subnet_group=group)

    def _wait_ready(self, awaited: Optional[Dict[str, Iterable[str]]] = None) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
        state: Dict[str, Any] = {}

        def check() -> Optional[bool]:
            cluster = self.aws.describe()
            instances = self.aws.instances() if cluster is not None else []
            state.update(cluster=cluster, instances=instances, pending=cluster_ready(cluster, instances, awaited))
            return True if state["pending"] is None else None

        what = f"DB cluster {self.cluster_id}, its writer and its instances to be available (wait_timeout {self.params['wait_timeout']})"
        wait_for(check, self._remaining(), what, delay=self.delay, last_seen=lambda: state.get("pending"))
        return state["cluster"], state["instances"]

    def _wait_instances_gone(self, identifiers: List[str]) -> None:
        state: Dict[str, Any] = {}

        def check() -> Optional[bool]:
            state["left"] = sorted({instance["DBInstanceIdentifier"] for instance in self.aws.instances()}.intersection(identifiers))
            return True if not state["left"] else None

        what = f"DB instances {', '.join(identifiers)} to be deleted (wait_timeout {self.params['wait_timeout']})"
        wait_for(check, self._remaining(), what, delay=self.delay, last_seen=lambda: f"still present: {', '.join(state.get('left') or [])}")

    # -- absent ----------------------------------------------------------------------------

    def ensure_absent(self) -> Dict[str, Any]:
        """Delete the cluster, and with O(db_subnet_group_name) its subnet group after it. The group
        follows the cluster: kept with a kept cluster, deleted once a deleted cluster is gone (RDS
        refuses to delete a group in use), and deleted when the cluster is already gone, so a
        teardown interrupted between the two finishes on a re-run."""
        group_name = self.params.get("db_subnet_group_name")
        cluster = self.aws.describe()
        if cluster is None:
            return self._delete_subnet_group_alone() if group_name else self._result(False, {}, {}, None, [])
        instances = self.aws.instances()
        group = subnet_group_of_instances(cluster, instances)
        before = compared_settings(cluster, instances)
        if group_name and group:
            before["subnet_group"] = subnet_group_compared(group)
        decision = deletion_decision(self.params, cluster)
        if decision != DELETE:
            return self._keep(cluster, instances, before, decision, group)
        # Every precondition is checked before the first write, so a refusal changes nothing.
        if group_name and not same_subnet_group_name(group_name, _subnet_group_name(cluster)):
            raise EcsRdsError(
                message=f"db_subnet_group_name {group_name!r} is not the subnet group of DB cluster {self.cluster_id} "
                f"({_subnet_group_name(cluster)!r}); nothing was changed"
            )
        turn_off_protection = bool(cluster.get("DeletionProtection"))
        if turn_off_protection and self.params.get("deletion_protection") is not False:
            raise EcsRdsError(
                message=f"DB cluster {self.cluster_id} has deletion protection on; pass deletion_protection: false "
                "with state=absent to turn it off and delete the cluster"
            )
        snapshot = None if self.params.get("skip_final_snapshot") else self.params.get("final_snapshot_identifier")
        if snapshot and cluster.get("Status") not in _GONE_STATUSES and self.aws.snapshot_exists(snapshot):
            raise EcsRdsError(
                message=f"DB cluster snapshot {snapshot} already exists, so the final snapshot of {self.cluster_id} cannot take "
                "that name; give another final_snapshot_identifier (or delete the old snapshot)"
            )
        deleting = cluster.get("Status") not in _GONE_STATUSES
        if deleting:
            final = "without a final snapshot" if self.params.get("skip_final_snapshot") else f"after final snapshot {snapshot}"
            self.actions += ([f"turn deletion protection off on DB cluster {self.cluster_id}"] if turn_off_protection else []) + [
                f"delete DB instance {instance['DBInstanceIdentifier']}" for instance in instances
                if instance.get("DBInstanceStatus") not in _GONE_STATUSES] + [f"delete DB cluster {self.cluster_id} {final}"]
        if group_name:
            self.actions.append(f"delete DB subnet group {group_name} once the cluster is gone")
        if self.check_mode:
            return self._result(True, before, {}, cluster, instances, subnet_group=group)
        if deleting:
            if turn_off_protection:
                self.aws.modify({"DeletionProtection": False}, self._remaining())
            for instance in instances:
                if instance.get("DBInstanceStatus") not in _GONE_STATUSES:
                    self.aws.delete_instance(instance["DBInstanceIdentifier"])
            # The cluster cannot be deleted while it has members, so this wait happens even without wait.
            if instances:
                self._wait_instances_gone([instance["DBInstanceIdentifier"] for instance in instances])
            self.aws.delete(bool(self.params.get("skip_final_snapshot")), self.params.get("final_snapshot_identifier"))
        # Nor can the subnet group go while the cluster is there: with it, the wait is not optional.
        if self.params["wait"] or group_name:
            wait_for(
                lambda: True if self.aws.describe() is None else None,
                self._remaining(),
                f"DB cluster {self.cluster_id} to be deleted (wait_timeout {self.params['wait_timeout']})",
                delay=self.delay,
            )
        if group_name:
            self.subnets.delete(self._remaining())
        return self._result(True, before, {}, None, [])

    def _delete_subnet_group_alone(self) -> Dict[str, Any]:
        """No cluster (any more): delete the named group if it is still there."""
        group = self.subnets.describe()
        if group is None:
            return self._result(False, {}, {}, None, [])
        before = {"subnet_group": subnet_group_compared(group)}
        if not self._do(f"delete DB subnet group {self.params['db_subnet_group_name']}"):
            return self._result(True, before, {}, None, [], subnet_group=group)
        self.subnets.delete(self._remaining())
        return self._result(True, before, {}, None, [])

    def _keep(
        self, cluster: Dict[str, Any], instances: List[Dict[str, Any]], before: Dict[str, Any], reason: str, group: Optional[Dict[str, Any]]
    ) -> Dict[str, Any]:
        """Leave the cluster (and its subnet group) in place, taking only this deployment's mark off it."""
        mark = deployment_tag(self.params["deployment_id"])
        changed = mark in tags_to_dict(cluster.get("TagList"))
        if changed and self._do(f"keep DB cluster {self.cluster_id} ({reason}), taking tag {mark} off it"):
            self.aws.set_tags(cluster["DBClusterArn"], {}, [mark])
            cluster = self.aws.describe() or cluster
        after = dict(before, tags={k: v for k, v in before.get("tags", {}).items() if k != mark})
        result = self._result(changed, before, after, cluster, instances, subnet_group=group)
        result["kept"] = reason
        return result


def run_cluster(clients: Clients, params: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Outcome:
    """rds_aurora_managed_secret: the cluster, its instances and subnet group (state=present), or
    their deletion (state=absent)."""
    return AuroraManagedSecretManager(clients, params, check_mode, diff_mode).run()


# ---------------------------------------------------------------------------------------------
# The database role's step: its inputs -> rds_aurora_managed_secret's options -> the facts it publishes
# ---------------------------------------------------------------------------------------------


def subnet_group_name_of(inputs: Mapping[str, Any]) -> str:
    """database_subnet_group_name, or one derived from the cluster's identifier."""
    return inputs.get("database_subnet_group_name") or f"{inputs['database_cluster_identifier']}-subnets"


def _deployment_id(inputs: Mapping[str, Any]) -> str:
    return inputs.get("database_deployment_id") or inputs["database_cluster_identifier"]


def cluster_options(inputs: Mapping[str, Any]) -> Dict[str, Any]:
    """rds_aurora_managed_secret's options (state=present) from the database role's inputs
    (``database_*``); an empty input means "not asked" (the cluster's or RDS's own value)."""
    return {
        "db_cluster_identifier": inputs["database_cluster_identifier"],
        "engine": DEFAULT_ENGINE,
        "engine_version": inputs.get("database_engine_version") or None,
        "master_username": inputs.get("database_master_username"),
        "master_user_secret_kms_key_id": inputs.get("database_master_user_secret_kms_key_id") or None,
        "manage_existing_master_password": inputs.get("database_manage_existing_master_password"),
        "database_name": inputs.get("database_name") or None,
        "port": inputs.get("database_port"),
        "db_subnet_group_name": subnet_group_name_of(inputs),
        "db_subnet_group_subnet_ids": list(inputs.get("database_subnet_ids") or []),
        "db_subnet_group_description": inputs.get("database_subnet_group_description"),
        # The network role publishes a null group id in check mode before it creates the group.
        "vpc_security_group_ids": [group for group in inputs.get("database_security_group_ids") or [] if group] or None,
        "storage_encrypted": inputs.get("database_storage_encrypted"),
        "kms_key_id": inputs.get("database_kms_key_id") or None,
        "deletion_protection": inputs.get("database_deletion_protection"),
        "instance_class": inputs.get("database_instance_class"),
        "instance_count": inputs.get("database_instance_count"),
        "monitoring_interval": inputs.get("database_monitoring_interval"),
        "monitoring_role_arn": inputs.get("database_monitoring_role_arn") or None,
        "serverless_v2_scaling": serverless_scaling_of(inputs),
        "iam_database_authentication": inputs.get("database_iam_authentication"),
        "tags": dict(inputs.get("database_tags") or {}),
        # Tags someone else put on the cluster stay.
        "purge_tags": False,
        "deployment_id": _deployment_id(inputs),
        "wait": inputs.get("database_wait"),
        "wait_timeout": inputs.get("database_wait_timeout"),
        "start_if_stopped": inputs.get("database_start_if_stopped"),
    }


def serverless_scaling_of(inputs: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The cluster's Serverless v2 scaling from the database role's inputs; None when neither capacity is given."""
    return serverless_scaling(inputs.get("database_serverless_min_capacity"), inputs.get("database_serverless_max_capacity"),
                              inputs.get("database_seconds_until_auto_pause"))


def cluster_facts(result: Mapping[str, Any]) -> Dict[str, Any]:
    """What the database role publishes, from rds_aurora_managed_secret's result: the connection as
    RDS reports it (in check mode, as the run would leave it; before the cluster exists, its
    planned stand-ins), the database named ``postgres`` (which Aurora PostgreSQL always has) when
    the cluster has none."""
    reached = result.get("connection") or {}
    return {
        "database__cluster": result.get("cluster"),
        "database__endpoint": reached.get("endpoint"),
        "database__port": reached.get("port"),
        "database__name": reached.get("database_name") or "postgres",
        "database__secret_arn": reached.get("secret_arn"),
        "database__secret_kms_key_id": reached.get("secret_kms_key_id"),
        "database__secret_kms_key_manager": reached.get("secret_kms_key_manager"),
        # What IAM database authentication names in rds-db:connect (a marked stand-in before the cluster exists).
        "database__cluster_resource_id": (result.get("cluster") or {}).get("db_cluster_resource_id") or f"cluster-{PLANNED_MARK}",
        # Created (or changed) by a run that did not wait for it: the service role waits for it before
        # the first task needs it. Empty otherwise (the service role's input is a string).
        "database__pending_cluster_identifier": (result.get("cluster") or {}).get("db_cluster_identifier") or "" if result.get("pending") else "",
    }


def cluster_delete_options(inputs: Mapping[str, Any]) -> Dict[str, Any]:
    """rds_aurora_managed_secret's options (state=absent) from the database role's teardown inputs: a
    final snapshot ``<cluster>-final`` unless named or skipped, deletion protection lifted only when
    confirmed, a cluster this deployment did not create kept unless told otherwise."""
    skip = bool(inputs.get("database_teardown_skip_final_snapshot"))
    options = {
        "db_cluster_identifier": inputs["database_cluster_identifier"],
        "state": "absent",
        # Deleted after the cluster, never with a kept one (the module decides).
        "db_subnet_group_name": subnet_group_name_of(inputs),
        "deployment_id": _deployment_id(inputs),
        "delete_adopted": bool(inputs.get("database_teardown_delete_adopted_cluster")),
        # The module lifts deletion protection only when told false explicitly.
        "deletion_protection": not inputs.get("database_teardown_confirm_delete"),
        "skip_final_snapshot": skip,
        "wait_timeout": inputs.get("database_wait_timeout"),
    }
    if not skip:
        options["final_snapshot_identifier"] = inputs.get("database_teardown_final_snapshot_identifier") or f"{inputs['database_cluster_identifier']}-final"
    return options


# rds_aurora_managed_secret's options, here so that the deployment check (deployment.py) fills in the same defaults the module does.
CLUSTER_ARGUMENT_SPEC = dict(
    db_cluster_identifier=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    engine=dict(type="str", default="aurora-postgresql"),
    engine_version=dict(type="str"),
    master_username=dict(type="str", default="postgres"),
    master_user_secret_kms_key_id=dict(type="str"),
    # A switch, not a password: no_log=False says so (and silences Ansible's warning about the name).
    manage_existing_master_password=dict(type="bool", default=False, no_log=False),
    database_name=dict(type="str"),
    port=dict(type="int"),
    db_subnet_group_name=dict(type="str"),
    db_subnet_group_subnet_ids=dict(type="list", elements="str"),
    db_subnet_group_description=dict(type="str"),
    vpc_security_group_ids=dict(type="list", elements="str"),
    storage_encrypted=dict(type="bool", default=True),
    kms_key_id=dict(type="str"),
    deletion_protection=dict(type="bool", default=True),
    instance_class=dict(type="str", default="db.t4g.medium"),
    instance_count=dict(type="int", default=1),
    monitoring_interval=dict(type="int", choices=[0, 1, 5, 10, 15, 30, 60]),
    iam_database_authentication=dict(type="bool"),
    serverless_v2_scaling=dict(type="dict", options=dict(
        min_capacity=dict(type="float", required=True),
        max_capacity=dict(type="float", required=True),
        seconds_until_auto_pause=dict(type="int"),
    )),
    monitoring_role_arn=dict(type="str"),
    skip_final_snapshot=dict(type="bool", default=False),
    final_snapshot_identifier=dict(type="str"),
    deployment_id=dict(type="str"),
    delete_adopted=dict(type="bool", default=False),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=2400),
    start_if_stopped=dict(type="bool", default=False),
)
