"""The roles' inputs as the roles see them (their argument specs' defaults, as the role_inputs lookup
applies them), for the tests of the derivations the roles call. The argument specs are read here
directly: module_utils tests run where controller plugins cannot be imported (ansible-test units)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import yaml

ROLES = ("network", "database", "service", "rotation")
ROLES_DIR = Path(__file__).resolve().parents[4] / "roles"


def argument_specs(role: str) -> Dict[str, Any]:
    return yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


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
