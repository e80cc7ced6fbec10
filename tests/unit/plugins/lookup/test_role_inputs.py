"""The role_inputs lookup: a role's inputs as its argument spec declares them, each default stated
there once; nothing else with the role's prefix is read as an input, nor its value passed on."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.ecsrds.connect.plugins.lookup.role_inputs import LookupModule

ASKED = {"network_ecs_cluster": "shop", "network_db_port": "5433", "network_manage_vpc_dns": "no", "network_tags": None,
         "network_db_prot": 1, "network__internal": "x", "database_password": "hunter2"}


def lookup(*roles, variables=None, **options):
    variables = ASKED if variables is None else variables
    plugin = LookupModule(loader=DataLoader(), templar=Templar(loader=DataLoader(), variables=variables))
    [answer] = plugin.run(list(roles), variables=variables, **options)
    return answer


def test_values_are_the_declared_inputs_with_their_defaults_and_types():
    values = lookup("network")
    assert values["network_ecs_cluster"] == "shop"
    # Converted to the declared type, as -e gives them as strings; null means the default.
    assert values["network_db_port"] == 5433 and values["network_manage_vpc_dns"] is False and values["network_tags"] == {}
    assert values["network_secretsmanager_endpoint"] == "auto" and values["network_subnet_ids"] == []
    assert "network_db_prot" not in values and "network__internal" not in values and "database_password" not in values


def test_the_check_gets_the_inputs_as_given_and_unknown_names_without_their_values():
    given = lookup("network", part="check")
    assert given["network_db_port"] == "5433" and given["network_manage_vpc_dns"] == "no"
    assert given["network_db_prot"] is None
    assert "network__internal" not in given and "database_password" not in given


def test_spec_known_and_defaults_come_from_the_argument_spec():
    assert lookup("database", part="spec")["database_port"]["type"] == "int"
    assert "database_teardown_confirm_delete" in lookup("database", part="known")
    assert lookup("database", entry_point="teardown", part="known") == sorted(
        set(lookup("database", part="spec")) - set(lookup("database", entry_point="teardown", part="spec")))
    defaults = lookup("network", "database", part="defaults")
    assert defaults["network_db_port"] == 5432 and defaults["database_port"] == 5432 and defaults["database_security_group_ids"] == []
    # A required input has none.
    assert defaults["database_subnet_ids"] is None
    assert "rotation_secret_arn" in lookup("rotation", part="defaults") and lookup("rotation", part="defaults")["rotation_secret_arn"] is None
    # Of every entry point: a playbook maps its inputs once for all of them.
    assert lookup("database", part="defaults")["database_teardown_confirm_delete"] is False


def test_only_this_collections_roles_and_their_entry_points():
    with pytest.raises(AnsibleError, match="'shop' is not a role of this collection"):
        lookup("shop")
    with pytest.raises(AnsibleError, match="role 'rotation' has no entry point 'verify'"):
        lookup("rotation", entry_point="verify")
