"""rules: each rule an input must follow, stated once, naming the input as the caller calls it."""

from __future__ import annotations

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils.rules import (
    cluster_identifier_problem,
    coerce,
    kms_key_problem,
    port_problem,
    service_entry,
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


@pytest.mark.parametrize("value, spec, expected, problem", [
    ("a,b", {"type": "list"}, "a,b", "x must be a list, got str 'a,b' (a string is not split"),
    (["a", 1], {"type": "list", "elements": "str"}, ["a", 1], "x must be a list of strings"),
    (" 5433 ", {"type": "int"}, 5433, None),
    (True, {"type": "int"}, True, "x must be an integer, got True"),
    ("yes", {"type": "bool"}, True, None),
    ("Off", {"type": "bool"}, False, None),
    ("maybe", {"type": "bool"}, "maybe", "x must be true or false, got 'maybe'"),
    (5432, {"type": "str"}, "5432", None),
    ({"a": 1}, {}, {"a": 1}, "x must be a string, got dict"),
    (None, {"type": "int"}, None, None),
])
def test_an_input_takes_its_spec_type_and_a_string_is_never_split(value, spec, expected, problem):
    converted, found = coerce("x", value, spec)
    assert converted == expected and (found is None if problem is None else found.startswith(problem)), found


def test_a_services_entry_is_a_name_or_a_name_with_its_container():
    assert service_entry("api", None) == {"name": "api", "container_name": "app"}
    assert service_entry("api", "web") == {"name": "api", "container_name": "web"}
    assert service_entry({"name": "api", "container_name": "c"}, "web") == {"name": "api", "container_name": "c"}
    assert service_entry({"container_name": "c"}, None) is None and service_entry(" ", None) is None
