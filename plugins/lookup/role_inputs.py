# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: role_inputs
short_description: The inputs of one of this collection's roles, as its argument spec declares them
version_added: 0.2.0
description:
  - Reads the role's C(meta/argument_specs.yml) and returns its inputs for one entry point, so that each default and
    each type is stated once, in the argument spec, and nothing else with the role's prefix (an inventory's
    C(database_password), say) is ever read as an input.
  - The roles use it for the options of their steps (the derivations in the collection's Python) and for their own
    inputs check; C(site.yml) uses it to give the deployment check the four roles' inputs.
author:
  - ecsrds.connect maintainers (@ecsrds)
options:
  _terms:
    description: The role(s), by short name (V(network), V(database), V(service), V(rotation)); several are merged.
    type: list
    elements: str
    required: true
  entry_point:
    description: The entry point whose inputs are returned.
    type: str
    default: main
  part:
    description:
      - V(values) - each declared input, its value when it is set and not null, else its argument spec default,
        converted to its declared type where it can be (a string V(5433) to an integer, V(false) to a boolean).
      - V(check) - what the role's inputs check is given - the same, unconverted (a string where a list belongs is
        refused there, never split), plus every variable with the role's prefix that no entry point declares,
        named with a null value so that its value is never passed on.
      - V(spec) - the entry point's argument spec options.
      - V(known) - the inputs of the role's other entry points.
      - V(defaults) - the default of each input of every entry point (null for one without); a playbook that maps its
        own inputs onto the role's falls back on them, so that each default is stated once.
    type: str
    choices: [values, check, spec, known, defaults]
    default: values
"""

EXAMPLES = r"""
- name: The network role's step options, derived from its inputs
  ansible.builtin.set_fact:
    options: "{{ lookup('ecsrds.connect.role_inputs', 'network') | ecsrds.connect.network_access_options(discovered) }}"
"""

RETURN = r"""
_value:
  description: One mapping, input name to value (or, with O(part=spec), to its spec; with O(part=known), the names).
  type: list
  elements: dict
"""

import functools
from pathlib import Path

import yaml

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.ecsrds.connect.plugins.module_utils.rules import coerce

_ROLES = Path(__file__).resolve().parents[2] / "roles"
PARTS = ("values", "check", "spec", "known", "defaults")


@functools.lru_cache(maxsize=None)
def argument_specs(role: str) -> dict:
    """Read once per process: a playbook templates the roles' inputs many times."""
    path = _ROLES / role / "meta" / "argument_specs.yml"
    if not path.is_file():
        raise AnsibleError(f"ecsrds.connect.role_inputs: {role!r} is not a role of this collection")
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["argument_specs"]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, entry_point="main", part="values", **kwargs):
        if kwargs:
            raise AnsibleError(f"ecsrds.connect.role_inputs: unknown option(s) {', '.join(sorted(kwargs))}")
        if part not in PARTS:
            raise AnsibleError(f"ecsrds.connect.role_inputs: part must be one of {', '.join(PARTS)}, got {part!r}")
        # Each entry point reads its role's inputs once, into <role>__inputs: nothing here is asked twice.
        return self._answer(terms, variables or {}, entry_point, part)

    def _answer(self, terms, variables, entry_point, part):
        merged: dict = {}
        for role in terms:
            specs = argument_specs(role)
            if entry_point not in specs:
                raise AnsibleError(f"ecsrds.connect.role_inputs: role {role!r} has no entry point {entry_point!r}")
            options = specs[entry_point].get("options") or {}
            declared = {name for spec in specs.values() for name in (spec.get("options") or {})}
            if part == "spec":
                merged.update(options)
            elif part == "defaults":
                merged.update({name: spec.get("default") for entry in specs.values() for name, spec in (entry.get("options") or {}).items()})
            elif part == "known":
                merged.update(dict.fromkeys(sorted(declared - set(options))))
            else:
                merged.update(self._inputs(role, options, declared, variables, part))
        return [list(merged) if part == "known" else merged]

    def _inputs(self, role: str, options: dict, declared: set, variables: dict, part: str) -> dict:
        found = {}
        for name, spec in options.items():
            value = self._templar.template(variables[name]) if name in variables else None
            if value is None:
                value = spec.get("default")
            if part == "values":
                converted, problem = coerce(name, value, spec)
                value = value if problem else converted
            found[name] = value
        if part == "check":
            prefix = f"{role}_"
            found.update({name: None for name in variables if name.startswith(prefix) and not name.startswith(prefix + "_") and name not in declared})
        return found
