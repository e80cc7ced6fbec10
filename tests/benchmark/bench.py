"""`make bench`: what site.yml costs, beside the same job written with stock modules.

One moto server on 127.0.0.1 for the whole run. Alternating rounds (ours, stock, ours, stock...), each
on a fresh environment (moto reset, the walk-through's environment rebuilt): converge, no-op re-run,
then ``--check`` on the converged environment. Then the no-op re-run of site.yml with 1, 5 and 20 ECS
services sharing the database, and a calibration of what Ansible itself costs here. Writes
build/bench/results.json and docs/BENCHMARKS.md (generated from the JSON only, so the lead can
regenerate it with ``--report-only``).

Usage: .venv/bin/python tests/benchmark/bench.py [--runs N] [--quick] [--services 1,5,20]
       .venv/bin/python tests/benchmark/bench.py --report-only build/bench/results.json
"""

from __future__ import annotations

import argparse
import collections
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

import yaml

HERE = Path(__file__).resolve().parent

from support.demo_environment import build_demo_environment, extra_service_names
from support.sandbox import REPO_ROOT, MotoServer, PlaybookRun, run_playbook

SITE = REPO_ROOT / "site.yml"
STOCK_SITE = HERE / "stock" / "site.yml"
DEMO_VARS = REPO_ROOT / "playbooks" / "vars" / "demo.yml"
DEFAULT_OUTPUT = REPO_ROOT / "build" / "bench" / "results.json"
DEFAULT_REPORT = REPO_ROOT / "docs" / "BENCHMARKS.md"
SCENARIOS = ("converge", "noop", "check")
FLAVOURS = ("ours", "stock")
DEFAULT_SERVICES = (1, 5, 20)
QUICK_SERVICES = (1, 5)
CALIBRATION_TASKS = 10
RSS_INTERVAL = 0.1
# Issue 12's budgets, shown beside the numbers (the test that enforces them counts, it never times).
TARGETS = {"noop_calls": 16, "noop_aws_module_tasks": 10, "noop_wall_ratio": 0.5, "per_service_calls": 4, "per_service_seconds": 0.3,
           "converge_wall_ratio": 0.6}


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------- RSS

def _children(pid: int) -> List[int]:
    """Child pids from /proc/<pid>/task/<tid>/children (any thread may have forked): a few reads per
    process of the tree instead of a scan of all of /proc, so sampling stays cheap on a busy machine."""
    found: List[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found  # exited
    for tid in threads:
        try:
            found.extend(int(child) for child in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        except OSError:
            continue
    return found


def _rss_bytes(pid: int) -> int:
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int, exclude: Set[int]) -> int:
    """Resident memory of ``root``'s descendants (not root itself), leaving out the subtrees of
    ``exclude``: with root = this process and the moto server excluded, that is the
    ansible-playbook process tree (its forks, the AnsiballZ module processes)."""
    total, stack = 0, [pid for pid in _children(root) if pid not in exclude]
    while stack:
        pid = stack.pop()
        total += _rss_bytes(pid)
        stack.extend(child for child in _children(pid) if child not in exclude)
    return total


class PeakRss(threading.Thread):
    """Samples tree_rss every RSS_INTERVAL seconds while a playbook runs and keeps the peak. A
    module process that lives less than one interval can be missed: the peak is a lower bound."""

    def __init__(self, exclude: Iterable[int], interval: float = RSS_INTERVAL) -> None:
        super().__init__(daemon=True)
        self.exclude = set(exclude)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        root = os.getpid()
        while True:
            self.peak = max(self.peak, tree_rss(root, self.exclude))
            self.samples += 1
            if self._stop_event.wait(self.interval):
                return

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


# ------------------------------------------------------------------------------------- measuring

def is_aws_module_task(action: str, result: Dict[str, Any]) -> bool:
    """A task that ran a collection module (ours, amazon.aws, community.aws): every action outside
    ansible.builtin with a collection prefix, not skipped. Loops count once."""
    return "." in action and not action.startswith("ansible.builtin.") and not result.get("skipped")


def module_runs(result: Dict[str, Any]) -> int:
    """How many times a task ran its module: once, or once per loop item that was not skipped
    (each item is a module process of its own, so a loop over services costs per service)."""
    items = result.get("results")
    if isinstance(items, list):
        return sum(1 for item in items if isinstance(item, dict) and not item.get("skipped"))
    return 1


def sample_from(run: PlaybookRun, calls: Sequence[Any], wall: float, peak_rss: int) -> Dict[str, Any]:
    ran = [task for task in run.tasks if not task.result.get("skipped")]
    modules = [task for task in ran if is_aws_module_task(task.action, task.result)]
    by_operation = collections.Counter(f"{call.service}:{call.operation}" for call in calls)
    writes = sum(1 for call in calls if call.is_write)
    return {
        "wall_s": round(wall, 3),
        "rc": run.rc,
        "tasks": len(ran),
        "skipped": len(run.tasks) - len(ran),
        "changed": run.changed,
        "aws_module_tasks": len(modules),
        "aws_module_runs": sum(module_runs(task.result) for task in modules),
        "aws_module_task_list": [f"{task.action} | {task.name}" for task in modules],
        "calls": len(calls),
        "reads": len(calls) - writes,
        "writes": writes,
        "calls_by_operation": dict(sorted(by_operation.items())),
        "write_operations": sorted({f"{c.service}:{c.operation}" for c in calls if c.is_write}),
        "peak_rss_mib": round(peak_rss / 2**20, 1),
    }


def measure(server: MotoServer, playbook: Any, extra_vars: Optional[Dict[str, Any]] = None, check: bool = False) -> Dict[str, Any]:
    """Run one playbook against ``server`` recording its AWS calls, wall time and peak RSS."""
    sampler = PeakRss(exclude={server.process.pid})
    server.start_recording()
    sampler.start()
    cpu_before = _children_cpu()
    started = time.monotonic()
    try:
        run = run_playbook(server.endpoint, playbook, extra_vars=extra_vars, check=check)
    finally:
        wall = time.monotonic() - started
        cpu = _children_cpu() - cpu_before
        peak = sampler.stop()
    calls = server.stop_recording()
    if run.rc != 0:
        raise BenchError(f"{playbook} exited {run.rc} (check={check}):\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}")
    sample = sample_from(run, calls, wall, peak)
    sample["cpu_s"] = round(cpu, 3)
    return sample


def _children_cpu() -> float:
    """User + system CPU seconds of this process's reaped descendants: the ansible-playbook process
    and every fork and module process it waited for (the moto server, still running, is not in it).
    Less sensitive than wall time to other work on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ours_vars(endpoint: str, service_count: int = 1) -> Dict[str, Any]:
    """site.yml's inputs: the walk-through's (playbooks/vars/demo.yml) with the extra services."""
    variables = yaml.safe_load(DEMO_VARS.read_text())
    variables["ecsrds_aws_endpoint_url"] = endpoint
    first = variables["ecsrds_ecs_services"][0]
    variables["ecsrds_ecs_services"] = [first] + [
        {"name": name, "container_name": first["container_name"]} for name, _family in extra_service_names(service_count)
    ]
    return variables


def stock_vars(endpoint: str, facts: Dict[str, Any], password_file: Path) -> Dict[str, Any]:
    """The stock playbook's inputs: the ids a user would copy from the console."""
    return {
        "stock_aws_endpoint_url": endpoint,
        "stock_vpc_id": facts["vpc_id"],
        "stock_subnet_ids": facts["subnet_ids"],
        "stock_service_security_group_id": facts["service_security_group_id"],
        "stock_execution_role_name": facts["execution_role_name"],
        "stock_execution_role_arn": facts["execution_role_arn"],
        "stock_password_file": str(password_file),
    }


def fresh_environment(server: MotoServer, service_count: int = 1) -> Dict[str, Any]:
    server.reset()
    return build_demo_environment(server.client, service_count=service_count)


def run_round(server: MotoServer, flavour: str, workdir: Path, log=print) -> Dict[str, Dict[str, Any]]:
    """converge, no-op, check for one flavour on a fresh environment."""
    facts = fresh_environment(server)
    if flavour == "ours":
        playbook, variables = SITE, ours_vars(server.endpoint)
    else:
        password_file = workdir / "stock-db-password"
        password_file.unlink(missing_ok=True)  # a fresh database gets a fresh password
        playbook, variables = STOCK_SITE, stock_vars(server.endpoint, facts, password_file)
    samples = {}
    for scenario in SCENARIOS:
        samples[scenario] = measure(server, playbook, variables, check=scenario == "check")
        log(f"  {flavour:5} {scenario:8} {samples[scenario]['wall_s']:6.1f}s tasks={samples[scenario]['tasks']} "
            f"changed={samples[scenario]['changed']} calls={samples[scenario]['calls']} writes={samples[scenario]['writes']}")
    return samples


def calibrate(server: MotoServer, runs: int, log=print) -> Dict[str, Any]:
    """Ansible alone on this machine: an empty play (start-up and shutdown) and one with
    CALIBRATION_TASKS ansible.builtin.ping tasks (a module process each, no AWS)."""
    empty = [{"name": "empty", "hosts": "localhost", "gather_facts": False, "tasks": []}]
    pings = [{"name": "pings", "hosts": "localhost", "gather_facts": False,
              "tasks": [{"name": f"ping {i}", "ansible.builtin.ping": {}} for i in range(CALIBRATION_TASKS)]}]
    result: Dict[str, Any] = {"tasks": CALIBRATION_TASKS, "empty_play_s": [], "ping_play_s": [], "empty_play_cpu_s": [], "ping_play_cpu_s": []}
    for _run in range(runs):
        for key, play in (("empty_play", empty), ("ping_play", pings)):
            sample = measure(server, play)
            result[f"{key}_s"].append(sample["wall_s"])
            result[f"{key}_cpu_s"].append(sample["cpu_s"])
    log(f"  calibration: empty play {statistics.median(result['empty_play_s']):.2f}s, "
        f"{CALIBRATION_TASKS} pings {statistics.median(result['ping_play_s']):.2f}s")
    return result


def run_scaling(server: MotoServer, runs: int, service_counts: Sequence[int], reuse: Dict[int, List[Dict[str, Any]]], log=print) -> Dict[str, Any]:
    """No-op re-runs of site.yml with N services; N already measured (``reuse``) is not re-run."""
    scaling: Dict[str, Any] = {}
    for count in service_counts:
        if count in reuse:
            scaling[str(count)] = {"converge": None, "noop": reuse[count]}
            continue
        fresh_environment(server, service_count=count)
        variables = ours_vars(server.endpoint, count)
        converge = measure(server, SITE, variables)
        log(f"  {count:2} services converge {converge['wall_s']:6.1f}s calls={converge['calls']}")
        noops = []
        for _run in range(runs):
            noops.append(measure(server, SITE, variables))
            log(f"  {count:2} services noop     {noops[-1]['wall_s']:6.1f}s calls={noops[-1]['calls']} tasks={noops[-1]['tasks']}")
        scaling[str(count)] = {"converge": converge, "noop": noops}
    return scaling


# --------------------------------------------------------------------------------------- machine

def _collection_version(namespace: str, name: str) -> str:
    """The copy the playbooks use: the `ansible` package's (ANSIBLE_COLLECTIONS_PATH holds only ours)."""
    manifest = Path(sysconfig.get_paths()["purelib"]) / "ansible_collections" / namespace / name / "MANIFEST.json"
    return json.loads(manifest.read_text())["collection_info"]["version"] if manifest.exists() else "not found"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> Dict[str, Any]:
    from ansible.release import __version__ as ansible_core

    def dist(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "ansible_core": ansible_core,
        "amazon_aws": _collection_version("amazon", "aws"),
        "community_aws": _collection_version("community", "aws"),
        "boto3": dist("boto3"),
        "botocore": dist("botocore"),
        "moto": dist("moto"),
    }


# ------------------------------------------------------------------------------------ the whole run

def run_bench(runs: int, service_counts: Sequence[int], quick: bool = False, log=print) -> Dict[str, Any]:
    if runs < 1:
        raise BenchError("--runs must be at least 1")
    started = time.monotonic()
    results: Dict[str, Any] = {
        "format": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": runs,
        "quick": quick,
        "service_counts": list(service_counts),
        "machine": machine_info(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "rss_interval_s": RSS_INTERVAL,
        "samples": {flavour: {scenario: [] for scenario in SCENARIOS} for flavour in FLAVOURS},
    }
    server = MotoServer()
    try:
        with tempfile.TemporaryDirectory(prefix="ecsrds-bench-") as tmp:
            for round_number in range(1, runs + 1):
                log(f"round {round_number}/{runs}")
                for flavour in FLAVOURS:
                    for scenario, sample in run_round(server, flavour, Path(tmp), log).items():
                        results["samples"][flavour][scenario].append(sample)
        log("calibration")
        results["calibration"] = calibrate(server, runs, log)
        log("scaling")
        results["scaling"] = run_scaling(server, runs, service_counts, {1: results["samples"]["ours"]["noop"]}, log)
    finally:
        server.stop()
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_wall_s"] = round(time.monotonic() - started, 1)
    return results


# ---------------------------------------------------------------------------------------- summary

def summarize(samples: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    walls = [s["wall_s"] for s in samples]
    first = samples[0]
    counted = ("tasks", "changed", "aws_module_tasks", "calls", "reads", "writes")
    return {
        "n": len(samples),
        "wall_median": statistics.median(walls),
        # Older results files have no CPU times: shown as n/a.
        "cpu_median": statistics.median(s["cpu_s"] for s in samples) if all("cpu_s" in s for s in samples) else None,
        "wall_min": min(walls),
        "wall_max": max(walls),
        **{key: first[key] for key in counted},
        # Older results files have no module runs: shown as n/a.
        "aws_module_runs": first.get("aws_module_runs"),
        # Counts are deterministic on moto; a run that differed is flagged rather than averaged away.
        "counts_vary": any(any(s[key] != first[key] for key in counted) for s in samples),
        "calls_by_operation": first["calls_by_operation"],
        "aws_module_task_list": first["aws_module_task_list"],
        "rss_median": statistics.median(s["peak_rss_mib"] for s in samples),
        "rss_max": max(s["peak_rss_mib"] for s in samples),
    }


def slope(points: Sequence[Sequence[float]]) -> Optional[float]:
    """Least-squares slope of y over x; None with fewer than two distinct x."""
    xs = [p[0] for p in points]
    if len(set(xs)) < 2:
        return None
    mean_x = statistics.fmean(xs)
    mean_y = statistics.fmean(p[1] for p in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x in xs)


def derived(results: Dict[str, Any]) -> Dict[str, Any]:
    """Every number the report shows that is computed rather than measured."""
    summary = {f: {s: summarize(results["samples"][f][s]) for s in SCENARIOS} for f in FLAVOURS}
    calibration = results["calibration"]
    startup = statistics.median(calibration["empty_play_s"])
    per_ping = (statistics.median(calibration["ping_play_s"]) - startup) / calibration["tasks"]
    scaling = {int(n): summarize(entry["noop"]) for n, entry in results["scaling"].items()}
    # The converge that prepared each N (one run); N=1 was converged in every side-by-side round.
    scaling_converge = {
        int(n): entry["converge"] or {"wall_s": summary["ours"]["converge"]["wall_median"], "calls": summary["ours"]["converge"]["calls"]}
        for n, entry in results["scaling"].items()
    }
    per_task = {}
    for flavour in FLAVOURS:
        noop = summary[flavour]["noop"]
        per_task[flavour] = {
            "per_task": (noop["wall_median"] - startup) / noop["tasks"] if noop["tasks"] else None,
            "per_aws_module_task": (noop["wall_median"] - startup) / noop["aws_module_tasks"] if noop["aws_module_tasks"] else None,
        }
    return {
        "summary": summary,
        "ratio": {s: summary["ours"][s]["wall_median"] / summary["stock"][s]["wall_median"] for s in SCENARIOS},
        "cpu_ratio": {
            s: None if summary["ours"][s]["cpu_median"] is None or not summary["stock"][s]["cpu_median"]
            else summary["ours"][s]["cpu_median"] / summary["stock"][s]["cpu_median"]
            for s in SCENARIOS
        },
        "startup": startup,
        "per_ping": per_ping,
        "per_task": per_task,
        "scaling": scaling,
        "scaling_converge": scaling_converge,
        "per_service_seconds": slope([(n, s["wall_median"]) for n, s in sorted(scaling.items())]),
        "per_service_cpu_seconds": None if any(s["cpu_median"] is None for s in scaling.values())
        else slope([(n, s["cpu_median"]) for n, s in sorted(scaling.items())]),
        "per_service_calls": slope([(n, s["calls"]) for n, s in sorted(scaling.items())]),
        "per_service_tasks": slope([(n, s["aws_module_tasks"]) for n, s in sorted(scaling.items())]),
        "per_service_module_runs": None if any(s["aws_module_runs"] is None for s in scaling.values())
        else slope([(n, s["aws_module_runs"]) for n, s in sorted(scaling.items())]),
    }


# ----------------------------------------------------------------------------------------- report

def _f(value: Optional[float], digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _module_tasks(row: Dict[str, Any]) -> str:
    runs = row["aws_module_runs"]
    return f"{row['aws_module_tasks']} ({'n/a' if runs is None else runs})"


def _cpu_costs(results: Dict[str, Any], d: Dict[str, Any]) -> List[str]:
    """The same costs in CPU seconds, when the results have them (older files do not)."""
    calibration = results["calibration"]
    if "empty_play_cpu_s" not in calibration or any(d["summary"][f]["noop"]["cpu_median"] is None for f in FLAVOURS):
        return []
    startup = statistics.median(calibration["empty_play_cpu_s"])
    per_ping = (statistics.median(calibration["ping_play_cpu_s"]) - startup) / calibration["tasks"]
    lines = [f"- In CPU seconds: start-up {_f(startup)} s, {_f(per_ping)} s per ping task"]
    for flavour in FLAVOURS:
        noop = d["summary"][flavour]["noop"]
        per_module = (noop["cpu_median"] - startup) / noop["aws_module_tasks"] if noop["aws_module_tasks"] else None
        lines[-1] += f"; no-op {flavour} {_f(noop['cpu_median'])} s, {_f(per_module)} s per AWS module task"
    lines[-1] += "."
    return lines


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def render_report(results: Dict[str, Any]) -> str:
    """docs/BENCHMARKS.md from results.json alone; the same JSON gives the same text."""
    d = derived(results)
    m = results["machine"]
    s = d["summary"]
    calibration_tasks = results["calibration"]["tasks"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (tests/benchmark/bench.py) from build/bench/results.json; do not edit by hand.",
        "Regenerate the text from a results file with `.venv/bin/python tests/benchmark/bench.py --report-only <results.json>`;",
        "`make bench BENCH_RUNS=N` sets the runs per scenario, `make bench BENCH_ARGS=--quick` is a one-run smoke test.",
        "",
        "What is measured: `site.yml` (ours) and `tests/benchmark/stock/site.yml` (the same job with stock",
        "amazon.aws/community.aws modules only) on the walk-through's environment (tests/support/demo_environment.py),",
        "one moto server on 127.0.0.1, in alternating rounds (ours, stock, ours, stock...). Each round starts",
        "from a fresh environment (moto reset, environment rebuilt) and runs: **converge** (first run),",
        "**no-op** (the same run again) and **check** (`--check` on the converged environment).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| Date | {results['date']} |",
        f"| CPU | {m['cpu_count']} cores, {m['cpu_model']} |",
        f"| Platform | {m['platform']} |",
        f"| Python | {m['python']} |",
        f"| ansible-core | {m['ansible_core']} |",
        f"| amazon.aws | {m['amazon_aws']} |",
        f"| community.aws | {m['community_aws']} |",
        f"| boto3 / botocore | {m['boto3']} / {m['botocore']} |",
        f"| moto | {m['moto']} |",
        f"| Runs per scenario | {results['runs']}{' (quick mode)' if results['quick'] else ''} |",
        f"| Load average (1/5/15 min) at start / end | {' '.join(map(str, results['load_average_start']))} / "
        f"{' '.join(map(str, results['load_average_end']))} |",
        f"| Whole bench wall time | {_f(results['total_wall_s'], 0)} s |",
        "",
        "Wall seconds are those of one `ansible-playbook` process, from start to exit (the harness's",
        "temporary vars file and JSON parsing included, a few milliseconds). *CPU* seconds are user + system",
        "time of that process and every process it started and waited for (getrusage of reaped children): on a",
        "shared machine they move much less than wall time. Compare numbers from the same run only.",
        "",
        "## Ours and stock, side by side",
        "",
        "| Scenario | Playbook | Wall median s | min | max | CPU median s | Tasks | Changed | AWS module tasks (runs) | AWS calls | reads | writes "
        "| Peak RSS MiB (median / max) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        for flavour in FLAVOURS:
            row = s[flavour][scenario]
            vary = " (varies)" if row["counts_vary"] else ""
            lines.append(
                f"| {scenario} | {flavour} | {_f(row['wall_median'])} | {_f(row['wall_min'])} | {_f(row['wall_max'])} | {_f(row['cpu_median'])} "
                f"| {row['tasks']}{vary} "
                f"| {row['changed']} | {_module_tasks(row)} | {row['calls']} | {row['reads']} | {row['writes']} "
                f"| {_f(row['rss_median'], 1)} / {_f(row['rss_max'], 1)} |"
            )
    lines += [
        "",
        "Ratio of median wall times, ours / stock: " + ", ".join(f"{sc} **{_f(d['ratio'][sc])}**" for sc in SCENARIOS) + "; of median CPU",
        "times: " + ", ".join(f"{sc} {_f(d['cpu_ratio'][sc])}" for sc in SCENARIOS) + ".",
        "",
        f"The no-op re-run: ours {_f(s['ours']['noop']['wall_median'])} s with {s['ours']['noop']['tasks']} tasks "
        f"({s['ours']['noop']['aws_module_tasks']} AWS module tasks) and {s['ours']['noop']['calls']} AWS calls; stock "
        f"{_f(s['stock']['noop']['wall_median'])} s with {s['stock']['noop']['tasks']} tasks "
        f"({s['stock']['noop']['aws_module_tasks']} AWS module tasks) and {s['stock']['noop']['calls']} AWS calls.",
        "",
        "How ours does it: its inputs check also compares every step with its inputs, read-only and in the same",
        "process (plugins/module_utils/deployment.py, each step by its own module's check-mode code); finding",
        "nothing to do, the play publishes the roles' facts, shows the summary and ends without starting the",
        "roles' module processes. When a step differs (the converge), the same steps run for real in one more",
        "process (ecsrds.connect.deployment_converge: each step's options by its role's derivation, run by its",
        "module's code, waits and rollouts included), and the play ends the same way: two AWS module processes",
        "where the roles run eight, each paying for Python, Ansible, boto3 and its clients before its first call.",
        "",
        "Definitions: *tasks* are the task results Ansible reports that were not skipped (a loop counts once);",
        "*AWS module tasks* are those whose action is a collection module outside ansible.builtin (ours,",
        "amazon.aws, community.aws), and their *runs* the module processes they started (a loop runs its module once per",
        "item: a loop over the services costs a module process per service); *AWS calls* are the requests the moto server recorded during the run, a",
        "*write* being any operation not named Describe/List/Get/Head/Lookup/BatchGet/Filter/Search/Simulate;",
        "*peak RSS* is the largest sum of resident memory of the `ansible-playbook` process tree (every",
        f"descendant of the harness except the moto server), sampled from /proc every {results['rss_interval_s']:.2f} s"
        " - a lower",
        "bound, as a module process shorter than one interval can be missed.",
        "",
        "The stock playbook does less than ours and cannot do what matters most here: amazon.aws",
        f"{m['amazon_aws']}'s `rds_cluster` and `rds_instance` have no `manage_master_user_password` (nor",
        "`master_user_secret_kms_key_id`), so there is no RDS-managed master secret; it keeps a password of its",
        "own, writes it to RDS and to a Secrets Manager secret it creates, and nothing rotates it. It is handed",
        "the VPC, subnet, security group and role ids instead of finding them, does not wait for the rollout,",
        "has no preflight, no log check and no redeploy on rotation, and writes the whole container definition",
        "out. Its `rds_cluster` task needs `purge_security_groups: false`: with the default it modifies the",
        "cluster (and reports changed) on every run. See the comments in tests/benchmark/stock/site.yml.",
        "",
        "## What a task costs here",
        "",
        f"- Fixed start-up: an empty play (no tasks) takes **{_f(d['startup'])} s** (median of {len(results['calibration']['empty_play_s'])}).",
        f"- Ansible's own cost per module task: a play of {calibration_tasks} `ansible.builtin.ping` tasks takes "
        f"{_f(statistics.median(results['calibration']['ping_play_s']))} s, so **{_f(d['per_ping'])} s** per task "
        f"((ping play - empty play) / {calibration_tasks}): forking the module's Python, no AWS.",
    ]
    for flavour in FLAVOURS:
        per = d["per_task"][flavour]
        noop = s[flavour]["noop"]
        lines.append(
            f"- No-op re-run, {flavour}: (median wall - start-up) / tasks = ({_f(noop['wall_median'])} - {_f(d['startup'])}) / "
            f"{noop['tasks']} = **{_f(per['per_task'])} s per task**, or {_f(per['per_aws_module_task'])} s per AWS module task "
            "(the builtin tasks around them and the AWS round trips included)."
        )
    lines += [
        *_cpu_costs(results, d),
        "",
        "The difference between the per-AWS-module-task figure and the ping figure is what an AWS module adds",
        "on top of Ansible's fork: importing boto3/botocore, building clients and the calls themselves.",
        "",
        "## No-op re-run with N services sharing the database (ours)",
        "",
        "| Services | Wall median s | min | max | CPU median s | Tasks | AWS module tasks (runs) | AWS calls | reads | writes | Changed | Converge s (calls) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count, row in sorted(d["scaling"].items()):
        lines.append(
            f"| {count} | {_f(row['wall_median'])} | {_f(row['wall_min'])} | {_f(row['wall_max'])} | {_f(row['cpu_median'])} | {row['tasks']} "
            f"| {_module_tasks(row)} | {row['calls']} | {row['reads']} | {row['writes']} | {row['changed']} "
            f"| {_f(d['scaling_converge'][count]['wall_s'])} ({d['scaling_converge'][count]['calls']}) |"
        )
    lines += [
        "",
        f"Cost per extra service (least-squares slope over the rows above): **{_f(d['per_service_calls'])} AWS calls** and "
        f"**{_f(d['per_service_seconds'])} s** ({_f(d['per_service_cpu_seconds'])} CPU s), {_f(d['per_service_tasks'])} AWS module tasks and "
        f"{_f(d['per_service_module_runs'])} module runs. "
        "The 1-service row is the no-op re-run of the side-by-side rounds; the last column is the one converge that",
        "prepared each environment (for 1 service, the median of the rounds').",
        "",
        "## Issue 12's targets for the no-op re-run",
        "",
        "| Target | Measured | |",
        "|---|---:|---|",
    ]
    ours_noop, ours_check = s["ours"]["noop"], s["ours"]["check"]
    checks = [
        ("No-op writes: 0", ours_noop["writes"], ours_noop["writes"] == 0),
        (f"No-op AWS calls <= {TARGETS['noop_calls']}", ours_noop["calls"], ours_noop["calls"] <= TARGETS["noop_calls"]),
        (f"No-op AWS module tasks <= {TARGETS['noop_aws_module_tasks']}", ours_noop["aws_module_tasks"],
         ours_noop["aws_module_tasks"] <= TARGETS["noop_aws_module_tasks"]),
        (f"No-op wall <= {TARGETS['noop_wall_ratio']} x stock", _f(d["ratio"]["noop"]), d["ratio"]["noop"] <= TARGETS["noop_wall_ratio"]),
        ("Check-mode writes: 0", ours_check["writes"], ours_check["writes"] == 0),
        (f"Check-mode AWS calls <= {TARGETS['noop_calls']}", ours_check["calls"], ours_check["calls"] <= TARGETS["noop_calls"]),
    ]
    if d["per_service_calls"] is not None:
        checks += [
            (f"Per extra service <= {TARGETS['per_service_calls']} calls", _f(d["per_service_calls"]),
             d["per_service_calls"] <= TARGETS["per_service_calls"]),
            (f"Per extra service < {TARGETS['per_service_seconds']} s", _f(d["per_service_seconds"]),
             d["per_service_seconds"] < TARGETS["per_service_seconds"]),
        ]
    lines += [f"| {label} | {value} | {_verdict(ok)} |" for label, value, ok in checks]
    converge_ok = d["ratio"]["converge"] <= TARGETS["converge_wall_ratio"]
    lines += [
        "",
        "## Issue 18's target for the converge on moto",
        "",
        "| Target | Measured | |",
        "|---|---:|---|",
        f"| Converge wall <= {TARGETS['converge_wall_ratio']} x stock | {_f(d['ratio']['converge'])} | {_verdict(converge_ok)} |",
    ]
    lines += ["", "## AWS calls by operation", ""]
    for scenario in ("noop", "check", "converge"):
        ops = sorted(set(s["ours"][scenario]["calls_by_operation"]) | set(s["stock"][scenario]["calls_by_operation"]))
        lines += [f"### {scenario}", "", "| Operation | ours | stock |", "|---|---:|---:|"]
        for op in ops:
            lines.append(f"| {op} | {s['ours'][scenario]['calls_by_operation'].get(op, 0)} | {s['stock'][scenario]['calls_by_operation'].get(op, 0)} |")
        lines.append("")
    lines += ["## AWS module tasks of the no-op re-run", ""]
    for flavour in FLAVOURS:
        tasks = [entry.split(" | ", 1) for entry in s[flavour]["noop"]["aws_module_task_list"]]
        lines += [f"{flavour}:", ""] + [f"- `{action}` {name}" for action, name in tasks] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ------------------------------------------------------------------------------------------- main

# The section tests/benchmark/critical_path.py writes into the same page, kept when this one rewrites it.
CRITICAL_PATH_BEGIN, CRITICAL_PATH_END = "<!-- critical-path:begin -->", "<!-- critical-path:end -->"


def with_kept_section(report: Path, text: str) -> str:
    old = report.read_text() if report.exists() else ""
    if CRITICAL_PATH_BEGIN not in old or CRITICAL_PATH_END not in old:
        return text
    kept = old[old.index(CRITICAL_PATH_BEGIN): old.index(CRITICAL_PATH_END) + len(CRITICAL_PATH_END)]
    return text.rstrip("\n") + "\n\n" + kept + "\n"


def write_outputs(results: Dict[str, Any], output: Path, report: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(with_kept_section(report, render_report(results)))


def parse_options(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line; ``runs`` and ``services`` come out settled (--quick overrides both)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measurements per scenario (default 5)")
    parser.add_argument("--services", default=",".join(map(str, DEFAULT_SERVICES)), help="service counts for the scaling no-op (default 1,5,20)")
    parser.add_argument("--quick", action="store_true", help=f"one run each, services {','.join(map(str, QUICK_SERVICES))}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON (default build/bench/results.json)")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="Markdown report (default docs/BENCHMARKS.md)")
    parser.add_argument("--report-only", type=Path, metavar="RESULTS_JSON", help="only regenerate the report from a results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.services = 1, QUICK_SERVICES
    else:
        try:
            args.services = tuple(sorted({int(n) for n in args.services.split(",")}))
        except ValueError:
            parser.error(f"--services takes comma-separated numbers, got {args.services!r}")
    if args.runs < 1 or min(args.services) < 1:
        parser.error("--runs and every --services count must be at least 1")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_options(argv)
    if args.report_only:
        args.report.write_text(with_kept_section(args.report, render_report(json.loads(args.report_only.read_text()))))
        print(f"wrote {args.report}")
        return 0
    try:
        results = run_bench(args.runs, args.services, quick=args.quick, log=lambda line: print(line, flush=True))
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    write_outputs(results, args.output, args.report)
    d = derived(results)
    print(f"no-op: ours {d['summary']['ours']['noop']['wall_median']:.1f}s vs stock {d['summary']['stock']['noop']['wall_median']:.1f}s "
          f"(ratio {d['ratio']['noop']:.2f}); wrote {args.output} and {args.report} in {results['total_wall_s']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
