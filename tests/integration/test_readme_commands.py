"""A README command as a newcomer types it, from the checkout: `ansible-playbook site.yml ...`, no -i,
and the checkout's ansible.cfg. The harness silences Ansible's inventory warnings for its own runs; these
runs use none of the harness's settings, so what a newcomer sees is what is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.sandbox import REPO_ROOT

PLAYBOOKS = ["site.yml", "playbooks/teardown.yml", "playbooks/render.yml"]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_a_readme_command_prints_no_inventory_warning(playbook):
    # --syntax-check parses the inventory and the play (where both warnings come from) and contacts nothing.
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(REPO_ROOT / ".ansible"), AWS_EC2_METADATA_DISABLED="true")
    run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), playbook, "--syntax-check"],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert "[WARNING]" not in run.stdout + run.stderr, run.stdout + run.stderr
