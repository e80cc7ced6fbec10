#!/usr/bin/env python
"""Run ansible-test on this checkout without Galaxy or the host ansible-test downloads get-pip from.

ansible-test wants the collection at .../ansible_collections/ecsrds/connect, resets
ANSIBLE_COLLECTIONS_PATH to that tree, and does not follow a symlinked collection, so this script
keeps a real copy of the checkout under tests/output/collections/ with amazon.aws (and community.aws
when our code refers to it) copied next to it from the `ansible` package in the running venv.

Usage (from the repo root, with the venv's python):
    .venv/bin/python tests/tools/run_ansible_test.py sanity [extra ansible-test args]
    .venv/bin/python tests/tools/run_ansible_test.py units [extra ansible-test args]
    .venv/bin/python tests/tools/run_ansible_test.py tree      # only refresh the copy, print its path
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TREE = REPO / "tests" / "output" / "collections"
COLLECTION = TREE / "ansible_collections" / "ecsrds" / "connect"
PYTHON_VERSION = "%d.%d" % sys.version_info[:2]

# Local toolchains and generated output; the copy must look like a clean clone.
EXCLUDED_TOP = (".git", ".ansible", "build", ".pytest_cache")
EXCLUDED_PREFIXES = ("tests/output/",)

# Sanity tests that cannot run here, each with the reason. Keep empty unless a test truly needs
# something this machine cannot have; everything else must pass.
SKIPPED_SANITY_TESTS: dict[str, str] = {}

# ansible-test bootstraps pip in each of its venvs with a get-pip script downloaded from
# its download host, which is unreachable here. It runs the script as
# `python get_pip.py <pip options> pip==X setuptools==Y wheel==Z [--no-setuptools] [--no-wheel]`;
# this stand-in does the same job with the interpreter's own ensurepip and PyPI.
GET_PIP_STANDIN = '''"""Offline stand-in for get-pip.py, written by tests/tools/run_ansible_test.py."""
import subprocess
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY_FLAGS]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
'''
STANDIN_MARKER = "Offline stand-in for get-pip.py"


def excluded(rel: str) -> bool:
    top = rel.split("/", 1)[0]
    if top in EXCLUDED_TOP or top.startswith(".venv"):
        return True
    if "__pycache__" in rel.split("/") or rel.endswith((".pyc", ".tar.gz")):
        return True
    return rel.startswith(EXCLUDED_PREFIXES)


def source_files() -> list[str]:
    """What a clean clone would hold: tracked files plus new files git does not ignore."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, check=True, capture_output=True,
        ).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        listed = [str(p.relative_to(REPO)) for p in REPO.rglob("*")]
    return sorted(
        rel for rel in listed
        if rel and not excluded(rel) and (REPO / rel).is_file() and not (REPO / rel).is_symlink()
    )


def sync_collection() -> None:
    """Mirror the checkout into COLLECTION, keeping the copy's own tests/output between runs."""
    wanted = set(source_files())
    for rel in wanted:
        src, dst = REPO / rel, COLLECTION / rel
        if not (dst.is_file() and filecmp.cmp(src, dst, shallow=False)
                and src.stat().st_mode == dst.stat().st_mode):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for path in sorted(COLLECTION.rglob("*"), reverse=True):
        rel = path.relative_to(COLLECTION).as_posix()
        if rel == "tests/output" or rel.startswith("tests/output/"):
            continue
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
        elif rel not in wanted:
            path.unlink()


def dependencies() -> list[str]:
    """Collections our code needs at test time: galaxy.yml's dependencies, plus community.aws if
    anything we ship or unit-test refers to it."""
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))
    names = set(galaxy.get("dependencies") or {})
    for folder in ("plugins", "tests/unit"):
        for path in (REPO / folder).rglob("*.py"):
            if "community.aws" in path.read_text(encoding="utf-8", errors="replace"):
                names.add("community.aws")
                break
    return sorted(names)


def copy_dependencies() -> None:
    installed = Path(sysconfig.get_paths()["purelib"]) / "ansible_collections"
    for name in dependencies():
        namespace, collection = name.split(".")
        src, dst = installed / namespace / collection, TREE / "ansible_collections" / namespace / collection
        if not src.is_dir():
            sys.exit(f"{name} is not installed in {installed}: run `make install` first")
        if (dst / "MANIFEST.json").is_file() and filecmp.cmp(src / "MANIFEST.json", dst / "MANIFEST.json", shallow=False):
            continue
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def seed_get_pip() -> None:
    requirements = Path(sysconfig.get_paths()["purelib"]) / "ansible_test" / "_internal" / "python_requirements.py"
    match = re.search(r"pip='([0-9.]+)'", requirements.read_text(encoding="utf-8"))
    if not match:
        sys.exit(f"cannot find the pip version ansible-test bootstraps in {requirements}")
    cache = Path.home() / ".ansible" / "test" / "cache" / ("get_pip_%s.py" % match.group(1).replace(".", "_"))
    if cache.is_file():
        current = cache.read_text(encoding="utf-8", errors="replace")
        if current == GET_PIP_STANDIN or STANDIN_MARKER not in current:
            return  # ours, up to date; or a real get-pip script someone downloaded: use it
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(GET_PIP_STANDIN, encoding="utf-8")


def ansible_test(command: str, args: list[str], env: dict[str, str] | None = None) -> int:
    base = ["--venv", "--requirements", "--python", PYTHON_VERSION, "--color", "no"]
    if command == "sanity":
        for test in SKIPPED_SANITY_TESTS:
            base += ["--skip-test", test]
    elif command == "units":
        workers = os.environ.get("PYTEST_WORKERS", "")  # the Makefile's knob; "auto" means ansible-test's own default
        if workers.isdigit():
            base += ["--num-workers", workers]
    env = dict(os.environ if env is None else env)
    # Without this ansible-test walks up from the copy, finds the checkout's .git and asks git for
    # the copy's files, which .gitignore hides (tests/output/): the copy would look empty.
    env["ANSIBLE_TEST_CONTENT_ROOT"] = str(COLLECTION)
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    env.pop("ANSIBLE_CONFIG", None)  # our ansible.cfg points at the symlinked collection
    exe = Path(sys.executable).parent / "ansible-test"
    cmd = [str(exe), command, *base, *args]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=COLLECTION, env=env)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("sanity", "units", "tree"):
        print(__doc__)
        return 2
    command, args = sys.argv[1], sys.argv[2:]
    sync_collection()
    copy_dependencies()
    if command == "tree":
        print(TREE)
        return 0
    seed_get_pip()
    return ansible_test(command, args)


if __name__ == "__main__":
    sys.exit(main())
