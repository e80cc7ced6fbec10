"""The roles stand alone, and each run of one reads its own inputs.

- No role file names a playbook's variable (``site__``); no playbook sets a role's private fact.
- Every entry point a role declares starts by reading its inputs as that entry point declares them
  (``<role>__inputs``, a fact): a role run twice in one play (two databases, or main then verify)
  would otherwise derive from the inputs of the run before. Nothing else sets that fact.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("network", "database", "service", "rotation")
_READ = re.compile(r"lookup\('ecsrds\.connect\.role_inputs', '(?P<role>\w+)', entry_point=(?P<entry>'\w+'|\w+)\)")


def _tasks(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8")) or []


def _first_task(role: str, file_name: str, scope: dict):
    """The first task run by tasks/<file_name>, following imports, with the vars the imports set."""
    task = _tasks(ROOT / "roles" / role / "tasks" / file_name)[0]
    if "ansible.builtin.import_tasks" in task:
        return _first_task(role, task["ansible.builtin.import_tasks"], {**scope, **task.get("vars", {})})
    return task, scope


def _entry_points(role: str):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))["argument_specs"]
    return sorted(specs)


@pytest.mark.parametrize("role, entry_point", [(role, entry) for role in ROLES for entry in _entry_points(role)])
def test_each_entry_point_first_reads_its_own_inputs(role, entry_point):
    task, scope = _first_task(role, f"{entry_point}.yml", {})
    read = _READ.fullmatch(str((task.get("ansible.builtin.set_fact") or {}).get(f"{role}__inputs", "")).strip("{} "))
    assert read and read["role"] == role, f"roles/{role}/tasks/{entry_point}.yml does not start by reading {role}__inputs: {task}"
    entry = read["entry"].strip("'") if read["entry"].startswith("'") else scope.get(read["entry"])
    assert entry == entry_point, f"roles/{role}/tasks/{entry_point}.yml reads the inputs of entry point {entry!r}"


def test_only_those_reads_set_a_roles_inputs():
    setters = []
    for path in sorted((ROOT / "roles").rglob("tasks/*.yml")) + sorted((ROOT / "playbooks").rglob("*.yml")):
        for task in _walk(_tasks(path)):
            facts = task.get("ansible.builtin.set_fact") or {}
            setters += [(path.relative_to(ROOT).as_posix(), name) for name in facts if name.endswith("__inputs") and name.split("__")[0] in ROLES]
    assert sorted(setters) == sorted([("roles/database/tasks/teardown_preconditions.yml", "database__inputs"),
                                      ("roles/service/tasks/verify.yml", "service__inputs")]
                                     + [(f"roles/{role}/tasks/validate.yml", f"{role}__inputs") for role in ROLES])


def _walk(tasks):
    for task in tasks if isinstance(tasks, list) else []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks"):
            yield from _walk(task.get(key))


def test_no_role_names_a_playbook_variable():
    named = [path.relative_to(ROOT).as_posix() for path in sorted((ROOT / "roles").rglob("*")) if path.is_file()
             and path.suffix in (".yml", ".md") and "site__" in path.read_text(encoding="utf-8")]
    assert not named


def test_no_playbook_sets_a_roles_private_fact():
    private = re.compile(rf"^({'|'.join(ROLES)})__")
    set_here = [(path.relative_to(ROOT).as_posix(), name) for path in sorted((ROOT / "playbooks").rglob("*.yml"))
                for task in _walk(_tasks(path)) for name in (task.get("ansible.builtin.set_fact") or {}) if private.match(name)]
    assert not set_here


def test_no_role_default_names_the_demo():
    """A role used alone names nothing after the walk-through's demo: two teams that follow a role's
    README in one account must not share a deployment identity or a resource by a default name."""
    demo = []
    for role in ROLES:
        specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        demo += [(role, entry, name) for entry, spec in specs.items() for name, option in (spec.get("options") or {}).items()
                 if "demo" in str(option.get("default", ""))]
    assert not demo
