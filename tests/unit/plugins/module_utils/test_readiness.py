"""readiness: the one wait, before the preflight and the rollouts, for the Secrets Manager endpoint and
the Aurora cluster that site.yml created without waiting. The fakes answer as AWS documents it: an
endpoint's State is "pending" after CreateVpcEndpoint, then "available" (or "rejected"/"failed"); a
cluster's Status and its writer's DBInstanceStatus are "creating" until "available", and the managed
secret's SecretStatus "creating" until "active"."""

from __future__ import annotations

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper

from ansible_collections.ecsrds.connect.plugins.module_utils import common
from ansible_collections.ecsrds.connect.plugins.module_utils.common import Clients, EcsRdsError
from ansible_collections.ecsrds.connect.plugins.module_utils.readiness import run_dependencies_ready
from ansible_collections.ecsrds.connect.plugins.module_utils import ecs_service
from ansible_collections.ecsrds.connect.tests.unit.plugins.module_utils.roles import role_inputs


class Settling:
    """EC2 and RDS in one fake: each resource answers its transitional state for a number of looks."""

    def __init__(self, endpoint_looks=0, cluster_looks=0, writer_looks=0, endpoint_end="available"):
        self.left = {"endpoint": endpoint_looks, "cluster": cluster_looks, "writer": writer_looks}
        self.endpoint_end = endpoint_end
        self.calls = []

    def _state(self, kind, settling, settled):
        self.left[kind] -= 1
        return settling if self.left[kind] >= 0 else settled

    def describe_vpc_endpoints(self, VpcEndpointIds, **_kwargs):
        self.calls.append("DescribeVpcEndpoints")
        return {"VpcEndpoints": [{"VpcEndpointId": VpcEndpointIds[0], "State": self._state("endpoint", "pending", self.endpoint_end)}]}

    def describe_db_clusters(self, DBClusterIdentifier):
        self.calls.append("DescribeDBClusters")
        status = self._state("cluster", "creating", "available")
        secret = "creating" if status == "creating" else "active"
        return {"DBClusters": [{"DBClusterIdentifier": DBClusterIdentifier, "Status": status,
                                "MasterUserSecret": {"SecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:rds!cluster-x", "SecretStatus": secret},
                                "DBClusterMembers": [{"DBInstanceIdentifier": "shop-db-instance-1", "IsClusterWriter": True}]}]}

    def get_paginator(self, name):
        fake = self

        class Paginator:
            def paginate(self, **kwargs):
                if name == "describe_vpc_endpoints":
                    return iter([fake.describe_vpc_endpoints(**kwargs)])
                fake.calls.append("DescribeDBInstances")
                status = fake._state("writer", "creating", "available")

                class Pages:
                    def build_full_result(self):
                        return {"DBInstances": [{"DBInstanceIdentifier": "shop-db-instance-1", "DBClusterIdentifier": "shop-db",
                                                 "DBInstanceStatus": status}]}
                return Pages()

        return Paginator()


def ready(fake, check_mode=False, **params):
    options = dict({"vpc_endpoint_ids": ["vpce-1"], "db_cluster_identifier": "shop-db", "wait_timeout": 1800}, **params)
    # The real wrapper, as the module makes its clients: a call made without aws_retry=True would fail here.
    client = RetryingBotoClientWrapper(fake, common.aws_retry)
    return run_dependencies_ready(Clients(lambda service: client, "us-east-1"), options, check_mode, False)


def test_the_endpoint_and_the_database_are_awaited_together_each_looked_at_only_while_pending(fake_clock):
    fake = Settling(endpoint_looks=1, cluster_looks=2, writer_looks=2)
    outcome = ready(fake)
    # One poll every 5 s; what is ready is not described again.
    assert fake.calls.count("DescribeVpcEndpoints") == 2
    assert fake.calls.count("DescribeDBInstances") == 3  # the writer is only listed once the cluster is available
    assert outcome.changed is False and outcome.result["pending"] == []
    assert outcome.result["ready"] == [{"name": "VPC endpoint vpce-1", "seconds": 5.0}, {"name": "DB cluster shop-db", "seconds": 20.0}]
    assert fake_clock.now == 20.0


def test_check_mode_looks_once_and_says_what_a_run_would_wait_for(fake_clock):
    fake = Settling(endpoint_looks=3, cluster_looks=3)
    outcome = ready(fake, check_mode=True)
    assert fake_clock.now == 0.0
    assert outcome.result["pending"] == [{"name": "VPC endpoint vpce-1", "state": "state 'pending'"},
                                         {"name": "DB cluster shop-db", "state": "cluster status 'creating'"}]


def test_an_endpoint_that_failed_stops_the_wait_and_the_time_up_names_what_is_pending(fake_clock):
    with pytest.raises(EcsRdsError, match="VPC endpoint vpce-1 became failed instead of available"):
        ready(Settling(endpoint_looks=1, endpoint_end="failed"), db_cluster_identifier=None)
    with pytest.raises(EcsRdsError) as error:
        ready(Settling(cluster_looks=99), vpc_endpoint_ids=[], wait_timeout=60)
    assert "waiting for DB cluster shop-db to be available; last seen: DB cluster shop-db: cluster status 'creating'" in error.value.message


def test_nothing_pending_is_nothing_to_wait_for():
    fake = Settling()
    assert ready(fake, vpc_endpoint_ids=[], db_cluster_identifier=None).result == {"ready": [], "pending": []} and fake.calls == []
    inputs = role_inputs("service", service_ecs_cluster="shop", service_ecs_services=["api"], service_secret_arn="arn:s")
    assert ecs_service.dependencies_options(inputs) is None
    awaited = ecs_service.dependencies_options(dict(inputs, service_secretsmanager_endpoint_pending_id="vpce-1",
                                                    service_db_pending_cluster_identifier="shop-db"))
    assert awaited == {"vpc_endpoint_ids": ["vpce-1"], "db_cluster_identifier": "shop-db", "wait_timeout": 1800}
