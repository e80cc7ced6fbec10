"""The roles' inputs as the roles see them (their argument specs' defaults, through the same lookup
the roles use), for the tests of the derivations the roles call."""

from __future__ import annotations

from typing import Any, Dict

from ansible_collections.ecsrds.connect.plugins.lookup.role_inputs import argument_specs

ROLES = ("network", "database", "service", "rotation")


def role_inputs(*roles: str, entry_point: str = "main", **overrides: Any) -> Dict[str, Any]:
    """The inputs of ``roles`` (all four by default) at their defaults, with ``overrides``."""
    values: Dict[str, Any] = {}
    for role in roles or ROLES:
        options = argument_specs(role)[entry_point]["options"]
        values.update({name: spec.get("default") for name, spec in options.items()})
    unknown = set(overrides) - set(values)
    assert not unknown, f"not inputs of {roles or ROLES}: {sorted(unknown)}"
    values.update(overrides)
    return values
