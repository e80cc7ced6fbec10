"""AWS's busy and stopped states, readiness and ordering in the Aurora manager (issue 10).

The fake answers the way RDS documents: InvalidDBClusterStateFault / InvalidDBInstanceStateFault
while a cluster or instance is modifying, Status "stopped" for a stopped cluster, members flagged
IsClusterWriter, and PendingModifiedValues until an applied-immediately change has shown.
"""

from __future__ import annotations

import pytest
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.test_rds import FakeRDS, client_error, described, instance, manage, params

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.ecsrds.connect.plugins.module_utils import common, rds
from ansible_collections.ecsrds.connect.plugins.module_utils.common import EcsRdsError


@pytest.fixture(autouse=True)
def clock(fake_clock):
    # common, rds and amazon.aws's cloud (AWSRetry) share the one time module.
    assert common.time is rds.time is cloud.time
    return fake_clock


class BusyRDS(FakeRDS):
    def __init__(self, *args, busy=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.busy = busy  # how many modify calls meet a busy resource
        self.pending = {}  # instance -> [describes that still show the change as pending, new class]

    def _busy(self, name, code):
        if self.busy:
            self.busy -= 1
            self.calls.append(name + " (busy)")
            raise client_error(code)

    def modify_db_cluster(self, DBClusterIdentifier, ApplyImmediately, **changes):
        self._busy("ModifyDBCluster", "InvalidDBClusterStateFault")
        super().modify_db_cluster(DBClusterIdentifier, ApplyImmediately, **changes)

    def modify_db_instance(self, DBInstanceIdentifier, ApplyImmediately, **changes):
        self._busy("ModifyDBInstance", "InvalidDBInstanceStateFault")
        self.calls.append(f"ModifyDBInstance {DBInstanceIdentifier}")
        self.instances[DBInstanceIdentifier]["PendingModifiedValues"] = {"DBInstanceClass": changes["DBInstanceClass"]}
        self.pending[DBInstanceIdentifier] = [2, changes["DBInstanceClass"]]

    def get_paginator(self, name):
        for identifier, entry in list(self.pending.items()):
            entry[0] -= 1
            if not entry[0]:
                del self.pending[identifier]
                self.instances[identifier].pop("PendingModifiedValues", None)
                self.instances[identifier]["DBInstanceClass"] = entry[1]
        return super().get_paginator(name)

    def start_db_cluster(self, DBClusterIdentifier):
        self.calls.append("StartDBCluster")
        self.cluster["Status"] = "available"
        return {"DBCluster": self.cluster}


def run(fake, **overrides):
    return manage(fake, **overrides)


def test_modify_on_a_busy_cluster_is_sent_again_until_accepted():
    fake = BusyRDS(described(), [instance(1)], busy=3)
    result = run(fake, deletion_protection=False)
    assert fake.calls.count("ModifyDBCluster (busy)") == 3 and fake.calls.count("ModifyDBCluster") == 1
    assert result["changed"] is True


def test_a_cluster_that_stays_busy_fails_after_the_bounded_wait_and_says_so():
    fake = BusyRDS(described(), [instance(1)], busy=10**6)
    with pytest.raises(EcsRdsError) as raised:
        run(fake, deletion_protection=False, wait_timeout=120)
    message = str(raised.value)
    assert "Timed out after 120 seconds" in message and "modify DB cluster orders-db" in message
    assert "InvalidDBClusterStateFault" in message and "resumes" in message
    assert "ModifyDBCluster" not in fake.calls


def test_a_stopped_cluster_is_an_error_that_says_so_without_waiting_or_writing(clock):
    fake = BusyRDS(described(Status="stopped", DeletionProtection=False), [instance(1, DBInstanceStatus="stopped")])
    with pytest.raises(EcsRdsError, match="is stopped: start it .*start_if_stopped: true"):
        run(fake)
    assert set(fake.calls) <= {"DescribeDBClusters", "DescribeDBInstances"}
    assert clock.now == 0.0


def test_a_stopped_cluster_is_started_when_asked(monkeypatch):
    fake = BusyRDS(described(Status="stopped", DeletionProtection=False), [instance(1)])
    check = run(fake, check_mode=True, start_if_stopped=True, deletion_protection=False)
    assert check["changed"] is True and "StartDBCluster" not in fake.calls
    result = run(fake, start_if_stopped=True, deletion_protection=False)
    assert fake.calls.count("StartDBCluster") == 1 and result["changed"] is True
    assert result["cluster"]["status"] == "available"


def test_readiness_ignores_readers_that_are_not_ours():
    cluster = described(DBClusterMembers=[{"DBInstanceIdentifier": "orders-db-instance-1", "IsClusterWriter": True},
                                          {"DBInstanceIdentifier": "reporting-reader", "IsClusterWriter": False}])
    foreign = {"DBInstanceIdentifier": "reporting-reader", "DBInstanceStatus": "storage-optimization"}
    assert rds.cluster_ready(cluster, [instance(1), foreign]) is None
    assert rds.cluster_ready(cluster, [instance(1, DBInstanceStatus="modifying"), foreign]) == "instance orders-db-instance-1 status 'modifying'"
    # A writer someone else named still counts: without it the cluster takes no writes.
    writer = {"DBInstanceIdentifier": "legacy-writer", "DBInstanceStatus": "rebooting"}
    cluster["DBClusterMembers"][0]["DBInstanceIdentifier"] = "legacy-writer"
    assert rds.cluster_ready(cluster, [writer]) == "instance legacy-writer status 'rebooting'"


def test_an_available_status_with_our_change_still_pending_is_not_ready():
    cluster = described()
    pending = instance(1, PendingModifiedValues={"DBInstanceClass": "db.r6g.large"})
    assert rds.cluster_ready(cluster, [pending], {"orders-db-instance-1": ["DBInstanceClass"]}) == (
        "instance orders-db-instance-1 pending modified values ['DBInstanceClass']"
    )
    # Pending values we did not ask for (a maintenance-window change) do not hold the run.
    assert rds.cluster_ready(cluster, [pending]) is None


def test_instance_class_change_goes_readers_first_and_writer_last():
    fake = BusyRDS(described(), [instance(1), instance(2), instance(3)])
    run(fake, instance_count=3, instance_class="db.r6g.large")
    modified = [call.split()[1] for call in fake.calls if call.startswith("ModifyDBInstance ")]
    # The fake's writer is the first member, orders-db-instance-1.
    assert modified == ["orders-db-instance-2", "orders-db-instance-3", "orders-db-instance-1"]
    writer_at = fake.calls.index("ModifyDBInstance orders-db-instance-1")
    # Between the last reader and the writer the manager waited for the readers' change to show.
    assert "DescribeDBInstances" in fake.calls[fake.calls.index("ModifyDBInstance orders-db-instance-3"):writer_at]


def test_scale_down_never_deletes_the_writer():
    members = [instance(1), instance(2), instance(3)]
    plan = rds.plan_instances(params(instance_count=2), "orders-db", members, writers=["orders-db-instance-3"])
    assert plan["delete"] == ["orders-db-instance-2"]
    with pytest.raises(EcsRdsError, match="would delete the writer"):
        rds.plan_instances(params(instance_count=0), "orders-db", [instance(1)], writers=["orders-db-instance-1"])


def test_timeouts_name_what_they_waited_for_the_last_state_and_that_a_rerun_resumes(clock):
    with pytest.raises(EcsRdsError) as raised:
        common.wait_for(lambda: None, 30, "DB cluster x to be available", delay=5, last_seen=lambda: "cluster status 'modifying'")
    assert str(raised.value) == (
        "Timed out after 30 seconds waiting for DB cluster x to be available; last seen: cluster status 'modifying'; "
        "nothing was rolled back and running again resumes safely from the current state"
    )
