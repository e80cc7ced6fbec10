"""`make build-check`: the Galaxy tarball is complete, installs, runs, and galaxy-importer accepts it.

1. `ansible-galaxy collection build` into build/dist/; the tarball holds what a user needs and
   none of the local toolchain (build_ignore in galaxy.yml).
2. `ansible-galaxy collection install -r requirements.yml --no-deps` (the tarball as a `type: file`
   entry, as a user's requirements.yml names a collection) into an empty build/install/, next to exactly the
   collections galaxy.yml declares (linked from the `ansible` package: Galaxy is unreachable here)
   and nothing else: the `ansible` package's other collections are hidden
   (ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false), so a collection the roles call but galaxy.yml does not
   declare fails the run with "couldn't resolve module".
3. From that install only: `ansible-playbook ecsrds.connect.site --syntax-check`, then against a
   moto server on 127.0.0.1 holding the demo's starting environment a `--check` run (it must
   predict changes and fail nothing), a real run (changes, fails nothing) and a re-run (changed=0).
4. galaxy-importer (its own venv, offline, tests/tools/galaxy-importer.cfg) imports the tarball;
   any ERROR or WARNING line it prints fails the check.

Usage: .venv/bin/python tests/tools/check_build.py --importer-python .venv-importer/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
DIST = BUILD / "dist"
INSTALL = BUILD / "install"
IMPORTER_DEPS = BUILD / "importer-deps"
BIN = Path(sys.executable).parent

from support.demo_environment import build_demo_environment
from support.sandbox import MotoServer, safe_aws_env

# What a user of the tarball needs; a missing one means build_ignore went too far.
REQUIRED = (
    "MANIFEST.json", "FILES.json", "README.md", "LICENSE", "requirements.txt", "CHANGELOG.rst",
    "changelogs/changelog.yaml", "meta/runtime.yml", "meta/execution-environment.yml",
    "playbooks/site.yml",
)
# Local toolchain and generated output that must never ship.
FORBIDDEN = re.compile(r"(^|/)(\.venv[^/]*|\.ansible|\.git|\.pytest_cache|__pycache__|build|tests/output)(/|$)|\.pyc$|\.tar\.gz$")
RECAP = re.compile(r"^\S+\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    proc = subprocess.run(cmd, text=True, capture_output=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise SystemExit(f"failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
    return proc


def build() -> Path:
    shutil.rmtree(DIST, ignore_errors=True)
    run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(DIST), str(REPO)])
    (tarball,) = DIST.glob("ecsrds-connect-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = [m.name for m in tar.getmembers()]
    problems = [f"missing {name}" for name in REQUIRED if name not in names]
    problems += [f"ships {name}" for name in names if FORBIDDEN.search(name)]
    for folder in ("plugins/modules", "roles"):
        if not any(n.startswith(folder + "/") for n in names):
            problems.append(f"missing {folder}/")
    if problems:
        raise SystemExit(f"{tarball.name}: " + "; ".join(problems[:20]) + ("; ..." if len(problems) > 20 else ""))
    print(f"{tarball.name}: {len(names)} entries, {tarball.stat().st_size // 1024} KiB")
    return tarball


def installed_env() -> dict[str, str]:
    """Ansible sees only build/install: our collection and its declared dependencies (not the
    checkout's link, not the collections bundled in the `ansible` package)."""
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(INSTALL), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default")
    return env


def declared_dependencies() -> list[str]:
    with open(REPO / "galaxy.yml", encoding="utf-8") as handle:
        return sorted((yaml.safe_load(handle).get("dependencies") or {}).keys())


def add_declared_dependencies() -> None:
    """What `ansible-galaxy collection install` would fetch from Galaxy for our dependencies,
    taken from the `ansible` package instead: exactly the declared ones."""
    source = Path(sysconfig.get_paths()["purelib"]) / "ansible_collections"
    for name in declared_dependencies():
        path = Path(*name.split("."))
        if not (source / path / "MANIFEST.json").exists():
            raise SystemExit(f"galaxy.yml declares {name}, which the ansible package in this venv does not hold")
        link = INSTALL / "ansible_collections" / path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source / path, target_is_directory=True)


def install(tarball: Path, workdir: str) -> None:
    shutil.rmtree(INSTALL, ignore_errors=True)
    env = installed_env()
    requirements = Path(workdir) / "requirements.yml"
    requirements.write_text(yaml.safe_dump({"collections": [{"name": str(tarball), "type": "file"}]}))
    run([str(BIN / "ansible-galaxy"), "collection", "install", "-r", str(requirements), "--no-deps", "-p", str(INSTALL)], cwd=workdir, env=env)
    add_declared_dependencies()
    listed = json.loads(run([str(BIN / "ansible-galaxy"), "collection", "list", "ecsrds.connect", "--format", "json"],
                            cwd=workdir, env=env).stdout)
    paths = [path for path, collections in listed.items() if "ecsrds.connect" in collections]
    if paths != [str(INSTALL / "ansible_collections")]:
        raise SystemExit(f"ecsrds.connect should come only from {INSTALL}, found in {paths}")


def run_installed_playbook(workdir: str) -> None:
    installed = INSTALL / "ansible_collections" / "ecsrds" / "connect"
    playbook = [str(BIN / "ansible-playbook"), "ecsrds.connect.site", "-e", f"@{installed / 'playbooks' / 'vars' / 'demo.yml'}"]
    run([*playbook, "--syntax-check"], cwd=workdir, env=installed_env())
    server = MotoServer()
    try:
        build_demo_environment(server.client)
        env = safe_aws_env(server.endpoint, installed_env())
        env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
        endpoint = ["-e", json.dumps({"ecsrds_aws_endpoint_url": server.endpoint})]
        counts = {label: recap_counts(run([*playbook, *flags, *endpoint], cwd=workdir, env=env).stdout, label)
                  for label, flags in (("--check", ["--check"]), ("converge", []), ("re-run", []))}
    finally:
        server.stop()
    if not counts["--check"][0] or not counts["converge"][0] or counts["re-run"][0]:
        raise SystemExit(f"the installed ecsrds.connect.site on moto: changed (--check, converge, re-run) = "
                         f"{[counts[k][0] for k in counts]}; the re-run must change nothing, the others something")
    print(f"installed ecsrds.connect.site with only {', '.join(declared_dependencies())}: --syntax-check ok; on moto "
          f"--check predicts changed={counts['--check'][0]}, the run changes {counts['converge'][0]}, the re-run 0")


def recap_counts(stdout: str, label: str) -> tuple[int, int]:
    """(changed, failed) of a run's recap; a run that failed or printed no recap ends the check."""
    recap = RECAP.findall(stdout)
    changed = sum(int(row[1]) for row in recap)
    failed = sum(int(row[2]) + int(row[3]) for row in recap)
    if not recap or failed:
        raise SystemExit(f"{label} run of the installed ecsrds.connect.site: changed={changed} failed={failed}\n{stdout[-4000:]}")
    return changed, failed


def importer_deps() -> Path:
    """The importer resets ANSIBLE_COLLECTIONS_PATH to its own temporary tree, so amazon.aws (our doc
    fragments, the modules ansible-lint resolves) is offered on PYTHONPATH, where Ansible's collection
    loader also looks."""
    source = Path(sysconfig.get_paths()["purelib"]) / "ansible_collections"
    shutil.rmtree(IMPORTER_DEPS, ignore_errors=True)
    for name in ("amazon/aws", "community/aws"):
        link = IMPORTER_DEPS / "ansible_collections" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source / name, target_is_directory=True)
    return IMPORTER_DEPS


def galaxy_importer(tarball: Path, importer_python: Path, workdir: str) -> None:
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)
    env.update(
        GALAXY_IMPORTER_CONFIG=str(REPO / "tests" / "tools" / "galaxy-importer.cfg"),
        # The importer calls ansible-doc, ansible-lint and flake8 by name.
        PATH=f"{importer_python.parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(importer_deps()),
        ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"),
    )
    proc = run([str(importer_python), "-m", "galaxy_importer.main", str(tarball)], cwd=workdir, env=env)
    output = proc.stdout + proc.stderr
    print(output)
    findings = [line for line in output.splitlines() if line.startswith(("ERROR", "WARNING"))]
    if findings or "Importer processing completed successfully" not in output:
        raise SystemExit("galaxy-importer did not accept the tarball cleanly:\n" + "\n".join(findings))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--importer-python", type=Path, required=True, help="python of the venv holding galaxy-importer")
    args = parser.parse_args()
    tarball = build()
    with tempfile.TemporaryDirectory(prefix="ecsrds-build-check-") as workdir:
        install(tarball, workdir)
        run_installed_playbook(workdir)
        galaxy_importer(tarball, args.importer_python.absolute(), workdir)
    print(f"build-check: {tarball.relative_to(REPO)} builds, installs, runs from the install, and imports cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
