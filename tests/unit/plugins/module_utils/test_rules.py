"""rules: each rule an input must follow, stated once, naming the input as the caller calls it."""

from __future__ import annotations

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.rules import (
    cluster_identifier_problem,
    kms_key_problem,
    port_problem,
    tcp_port_problem,
)


@pytest.mark.parametrize("value, problem", [(5432, None), (1150, None), (65535, None), (1149, "out of range"), (70000, "out of range"),
                                            ("5432", "out of range"), (True, "out of range")])
def test_a_database_port_is_one_aurora_listens_on(value, problem):
    found = port_problem("ecsrds_db_port", value)
    assert (found is None) if problem is None else (found.startswith(f"ecsrds_db_port {value!r}") and problem in found)


def test_a_security_group_rule_takes_any_tcp_port():
    assert tcp_port_problem("port", 80) is None and tcp_port_problem("port", 65535) is None
    assert tcp_port_problem("port", 0) == "port must be between 1 and 65535, got 0"
    assert tcp_port_problem("port", 70000) == "port must be between 1 and 65535, got 70000"


def test_an_identifier_leaves_room_for_its_writer():
    assert cluster_identifier_problem("database_cluster_identifier", "shop-db") is None
    assert "too long" in cluster_identifier_problem("database_cluster_identifier", "a" * 60)
    assert "not a valid DB cluster identifier" in cluster_identifier_problem("database_cluster_identifier", "-db")


def test_a_key_given_by_alias_is_refused_where_a_policy_must_name_it():
    assert kms_key_problem("k", "alias/orders") is None
    assert "is an alias" in kms_key_problem("k", "alias/orders", allow_alias=False)
    assert kms_key_problem("k", "alias/aws/secretsmanager", allow_alias=False) is None
