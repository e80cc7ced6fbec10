"""`make docs-check`: every module, role, filter and lookup of the collection renders with ansible-doc.

For each module: `ansible-doc ecsrds.connect.<module>` renders without warnings, and its
documentation has a short description, examples, return values and the check_mode/diff_mode
attributes. For each role: every role has meta/argument_specs.yml and
`ansible-doc -t role ecsrds.connect.<role>` renders each entry point without warnings.
Run with the venv's python from the repo root after `make install` (the collection link).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "ecsrds.connect"
ANSIBLE_DOC = str(Path(sys.executable).parent / "ansible-doc")


def ansible_doc(*args: str) -> str:
    """Run ansible-doc; any warning or error counts as a failure, since Galaxy's docs would lose it."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="true")
    proc = subprocess.run([ANSIBLE_DOC, *args], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or "[WARNING]" in proc.stderr or "[ERROR]" in proc.stderr or "[DEPRECATION" in proc.stderr:
        raise SystemExit(f"ansible-doc {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr}{proc.stdout[-2000:]}")
    return proc.stdout


def module_problems(name: str, data: dict) -> list[str]:
    doc = data.get("doc") or {}
    problems = []
    if not doc.get("short_description"):
        problems.append("no short_description")
    if not (data.get("examples") or "").strip():
        problems.append("no EXAMPLES")
    if not data.get("return"):
        problems.append("no RETURN")
    attributes = doc.get("attributes") or {}
    for attribute in ("check_mode", "diff_mode"):
        if attribute not in attributes:
            problems.append(f"no {attribute} attribute")
    return [f"module {name}: {p}" for p in problems]


def check_modules() -> list[str]:
    names = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))
    if not names:
        return []
    fqcns = [f"{COLLECTION}.{n}" for n in names]
    listed = json.loads(ansible_doc("-t", "module", "--list", "--json", COLLECTION))
    problems = [f"module {fqcn}: not listed by ansible-doc --list" for fqcn in fqcns if fqcn not in listed]
    ansible_doc("-t", "module", *fqcns)  # the text rendering, as a user reads it
    docs = json.loads(ansible_doc("-t", "module", "--json", *fqcns))
    for fqcn in fqcns:
        problems += module_problems(fqcn, docs.get(fqcn) or {})
    print(f"modules: {len(fqcns)} rendered ({', '.join(names)})")
    return problems


def check_roles() -> list[str]:
    roles = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir()) if (REPO / "roles").is_dir() else []
    undocumented = [role for role in roles if not (REPO / "roles" / role / "meta" / "argument_specs.yml").is_file()]
    problems = [f"role {role}: no meta/argument_specs.yml, so ansible-doc cannot document it" for role in undocumented]
    fqcns = [f"{COLLECTION}.{role}" for role in roles if role not in undocumented]
    if not fqcns:
        return problems
    ansible_doc("-t", "role", *fqcns)
    docs = json.loads(ansible_doc("-t", "role", "--json", *fqcns))
    for fqcn in fqcns:
        data = docs.get(fqcn) or {}
        entry_points = data.get("entry_points") or {}
        if "main" not in entry_points:
            problems.append(f"role {fqcn}: no documented main entry point")
        for entry, spec in entry_points.items():
            if not spec.get("short_description"):
                problems.append(f"role {fqcn}: entry point {entry} has no short_description")
        print(f"role {fqcn}: entry points {', '.join(sorted(entry_points))}")
    return problems


def check_plugins(plugin_type: str) -> list[str]:
    """Every filter (one documentation file each, plugins/filter/<name>.yml or in its .py) and lookup renders."""
    folder = REPO / "plugins" / plugin_type
    names = sorted({p.stem for p in folder.glob("*.yml")} | {p.stem for p in folder.glob("*.py") if "DOCUMENTATION" in p.read_text()})
    listed = json.loads(ansible_doc("-t", plugin_type, "--list", "--json", COLLECTION))
    fqcns = [f"{COLLECTION}.{name}" for name in names]
    problems = [f"{plugin_type} {fqcn}: not documented" for fqcn in fqcns if listed.get(fqcn) in (None, "UNDOCUMENTED")]
    undocumented = sorted(name for name, text in listed.items() if text == "UNDOCUMENTED")
    problems += [f"{plugin_type} {name}: no documentation" for name in undocumented]
    if fqcns:
        ansible_doc("-t", plugin_type, *fqcns)
    print(f"{plugin_type}: {len(fqcns)} rendered ({', '.join(names)})")
    return problems


def main() -> int:
    problems = check_modules() + check_roles() + check_plugins("filter") + check_plugins("lookup")
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
