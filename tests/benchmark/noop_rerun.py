"""Benchmark: what a re-run of site.yml that has nothing to do costs.

Builds the demo environment on a loopback moto server, converges it once, then re-runs site.yml
and reports wall time, module tasks and every AWS call by operation (duplicates stand out).
Usage: .venv/bin/python tests/benchmark/noop_rerun.py [--runs N]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent

from support.demo_environment import build_demo_environment
from support.sandbox import REPO_ROOT, MotoServer, run_playbook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="no-op re-runs to time (default 3)")
    args = parser.parse_args()

    server = MotoServer()
    try:
        build_demo_environment(server.client)
        variables = yaml.safe_load((REPO_ROOT / "playbooks" / "vars" / "demo.yml").read_text())
        variables["ecsrds_aws_endpoint_url"] = server.endpoint
        first = run_playbook(server.endpoint, REPO_ROOT / "site.yml", extra_vars=variables)
        if first.rc != 0:
            print(first.stdout[-3000:])
            return 1
        timings = []
        for _run in range(args.runs):
            server.start_recording()
            started = time.monotonic()
            run = run_playbook(server.endpoint, REPO_ROOT / "site.yml", extra_vars=variables)
            timings.append(time.monotonic() - started)
            calls = server.stop_recording()
            if run.rc != 0 or run.changed:
                print(f"re-run failed or changed something (rc={run.rc}, changed={run.changed})")
                return 1
        module_tasks = [t for t in run.tasks if "." in t.action and not t.action.startswith("ansible.builtin.") and not t.result.get("skipped")]
        by_operation = collections.Counter(f"{c.service}:{c.operation}" for c in calls)
        writes = [c for c in calls if c.is_write]
        print(f"no-op re-run: median {statistics.median(timings):.1f}s over {args.runs} runs (min {min(timings):.1f}s)")
        print(f"tasks run: {len(run.tasks)}, AWS module tasks: {len(module_tasks)}")
        for task in module_tasks:
            print(f"  {task.action:55} {task.name}")
        print(f"AWS calls: {len(calls)} ({len(writes)} writes)")
        for operation, count in sorted(by_operation.items()):
            print(f"  {count:3}  {operation}{'   <- repeated' if count > 1 else ''}")
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
