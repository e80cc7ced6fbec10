"""Every collection the roles and playbooks call is declared: in galaxy.yml (what
`ansible-galaxy collection install` brings along) and in the example execution environment.
tests/tools/check_build.py proves it by running the installed tarball with only those; this test
names the missing one without a build."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# A task's module (or an action group in module_defaults) written as a fully qualified name.
_FQCN_KEY = re.compile(r"^\s*(?:- )?(?:group/)?([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+:", re.M)
_OURS_OR_BUILTIN = {"ecsrds.connect", "ansible.builtin"}


def called_collections():
    found = {}
    for path in sorted(list((ROOT / "roles").rglob("tasks/*.yml")) + list((ROOT / "playbooks").rglob("*.yml"))):
        for name in _FQCN_KEY.findall(path.read_text(encoding="utf-8")):
            if name not in _OURS_OR_BUILTIN:
                found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_the_roles_call_collections_at_all():
    # Guards the scan itself: a regex that matched nothing would make the tests below pass vacuously.
    assert {"amazon.aws", "community.aws"} <= set(called_collections())


def test_galaxy_yml_declares_every_collection_the_roles_call():
    declared = set(yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8")).get("dependencies") or {})
    missing = {name: where for name, where in called_collections().items() if name not in declared}
    assert not missing, f"called but not in galaxy.yml dependencies: {missing}"


def test_the_execution_environment_declares_them_too():
    requirements = yaml.safe_load((ROOT / "tests" / "ee" / "requirements.yml").read_text(encoding="utf-8"))
    declared = {entry["name"] for entry in requirements["collections"]}
    missing = set(called_collections()) - declared
    assert not missing, f"called but not in tests/ee/requirements.yml: {sorted(missing)}"
