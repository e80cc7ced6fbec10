"""README's table of site.yml's inputs says what playbooks/files/site_argument_spec.yml declares: every
input has a row, and every row names a declared input (a newcomer reads the table, the check reads the spec)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _table_names():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Inputs of `site.yml`", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `ecsrds_")]
    return {name for row in rows for name in re.findall(r"`(ecsrds_[a-z_]+)`", row.split("|")[1])}


def test_the_readme_inputs_table_is_the_argument_spec():
    declared = set(yaml.safe_load((ROOT / "playbooks" / "files" / "site_argument_spec.yml").read_text()))
    listed = _table_names()
    assert sorted(declared - listed) == [], "declared but not in README's table"
    assert sorted(listed - declared) == [], "in README's table but not declared"
