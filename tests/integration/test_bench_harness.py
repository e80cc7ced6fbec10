"""The parts of `make bench` (tests/benchmark/bench.py) that are cheap to check: the report made from
a recorded quick run, the N-services environment, and one measurement. Never timing."""

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmark"
_SPEC = importlib.util.spec_from_file_location("ecsrds_bench", BENCH_DIR / "bench.py")
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)

# Written by `bench.py --quick` (one run each, 1 and 5 services) on this project's moto server.
RECORDED = json.loads((BENCH_DIR / "fixtures" / "quick-results.json").read_text())


def _table_row(report, header_start, row_start):
    """One row of a Markdown table in the report, as {column header: cell}."""
    lines = report.splitlines()
    header = next(line for line in lines if line.startswith(header_start))
    row = next(line for line in lines if line.startswith(row_start))
    return dict(zip([c.strip() for c in header.strip("|").split("|")], [c.strip() for c in row.strip("|").split("|")]))


def test_report_is_made_from_the_results_alone_and_always_the_same():
    report = bench.render_report(copy.deepcopy(RECORDED))
    assert report == bench.render_report(copy.deepcopy(RECORDED))
    machine = RECORDED["machine"]
    for value in (machine["ansible_core"], machine["amazon_aws"], machine["community_aws"], machine["botocore"], machine["moto"], RECORDED["date"]):
        assert value in report
    for scenario in bench.SCENARIOS:
        for flavour in bench.FLAVOURS:
            assert f"| {scenario} | {flavour} | " in report
    # What the stock playbook cannot do is said, by the option amazon.aws lacks.
    assert "no `manage_master_user_password`" in report


def test_report_numbers_come_from_the_samples():
    results = copy.deepcopy(RECORDED)
    ours, stock = results["samples"]["ours"]["noop"][0], results["samples"]["stock"]["noop"][0]
    ours["wall_s"], stock["wall_s"] = 3.0, 12.0
    report = bench.render_report(results)
    assert "ours / stock: converge" in report and "noop **0.25**" in report
    row = _table_row(report, "| Scenario | Playbook |", "| noop | ours |")
    assert (row["Wall median s"], row["min"], row["max"]) == ("3.00", "3.00", "3.00")
    assert (row["Tasks"], row["Changed"], row["AWS calls"]) == (str(ours["tasks"]), str(ours["changed"]), str(ours["calls"]))
    assert row["AWS module tasks (runs)"].startswith(f"{ours['aws_module_tasks']} (")

    # Cost per extra service: the slope between the 1- and 5-service no-op re-runs.
    results["scaling"] = {n: results["scaling"][n] for n in ("1", "5")}
    one, five = results["scaling"]["1"]["noop"][0], results["scaling"]["5"]["noop"][0]
    expected = (five["calls"] - one["calls"]) / 4
    assert f"**{expected:.2f} AWS calls**" in bench.render_report(results)


def test_report_says_when_a_budget_is_missed():
    results = copy.deepcopy(RECORDED)
    for sample in results["samples"]["ours"]["noop"]:
        sample["writes"] = 1
    assert "| No-op writes: 0 | 1 | **not met** |" in bench.render_report(results)
    for sample in results["samples"]["ours"]["noop"]:
        sample["writes"] = 0
    assert "| No-op writes: 0 | 0 | met |" in bench.render_report(results)


def test_slope_is_least_squares():
    assert bench.slope([(1, 10), (5, 30), (20, 105)]) == 5.0
    assert bench.slope([(1, 10)]) is None


def test_environment_with_n_services_sharing_the_database(moto):
    default = bench.build_demo_environment(moto.client)
    assert "extra_services" not in default  # callers that know one service see what they always saw

    facts = bench.build_demo_environment(moto.client, service_count=3)
    assert facts["extra_services"] == ["demo-ecs-service-2", "demo-ecs-service-3"]
    ecs = moto.client("ecs")
    names = ["demo-ecs-service"] + facts["extra_services"]
    services = ecs.describe_services(cluster="demo-ecs-cluster", services=names)["services"]
    assert [s["serviceName"] for s in services] == names and all(s["status"] == "ACTIVE" for s in services)
    for service in services:
        awsvpc = service["networkConfiguration"]["awsvpcConfiguration"]
        assert sorted(awsvpc["subnets"]) == sorted(facts["subnet_ids"])
        assert awsvpc["securityGroups"] == [facts["service_security_group_id"]]
    families = [ecs.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"] for s in services]
    assert [f["family"] for f in families] == ["demo-ecs-task", "demo-ecs-task-2", "demo-ecs-task-3"]
    assert {f["executionRoleArn"] for f in families} == {facts["execution_role_arn"]}

    variables = bench.ours_vars(moto.endpoint, 3)
    assert variables["ecsrds_ecs_services"] == [{"name": name, "container_name": "app"} for name in names]
    assert variables["ecsrds_aws_endpoint_url"] == moto.endpoint


def test_one_measurement_counts_tasks_calls_and_memory(moto):
    play = [{
        "name": "one read", "hosts": "localhost", "gather_facts": False,
        "tasks": [
            {"name": "Read the VPCs", "amazon.aws.ec2_vpc_net_info": {"region": "us-east-1"}},
            {"name": "Read them per item", "amazon.aws.ec2_vpc_net_info": {"region": "us-east-1"}, "loop": ["a", "b", "c"], "when": "item != 'c'"},
            {"name": "Skipped", "amazon.aws.ec2_vpc_net_info": {"region": "us-east-1"}, "when": False},
            {"name": "Say it", "ansible.builtin.debug": {"msg": "done"}},
        ],
    }]
    sample = bench.measure(moto, play)
    assert sample["tasks"] == 3 and sample["skipped"] == 1
    # Two module tasks, three module processes: the loop ran its module for two of its three items.
    assert sample["aws_module_tasks"] == 2 and sample["aws_module_runs"] == 3
    assert sample["aws_module_task_list"] == ["amazon.aws.ec2_vpc_net_info | Read the VPCs", "amazon.aws.ec2_vpc_net_info | Read them per item"]
    # ec2_vpc_net_info also reads two attributes of each VPC (moto has a default one).
    assert sample["calls_by_operation"]["ec2:DescribeVpcs"] == 3
    assert sample["calls"] == sum(sample["calls_by_operation"].values()) == sample["reads"]
    assert sample["writes"] == 0 and sample["write_operations"] == [] and sample["changed"] == 0
    assert sample["peak_rss_mib"] > 20  # ansible-playbook alone is larger than this
    assert sample["cpu_s"] > 0.5  # its start-up alone costs more CPU than this


def test_peak_rss_covers_the_whole_process_tree(moto_server):
    # A child that starts a grandchild holding 80 MiB: the grandchild's memory is in the peak.
    holder = "import time; b = b'x' * (80 * 2**20); time.sleep(2)"
    sampler = bench.PeakRss(exclude={moto_server.process.pid})
    sampler.start()
    subprocess.run([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {holder!r}])"], check=True)
    assert sampler.stop() >= 80 * 2**20


def test_quick_mode_is_one_run_with_one_and_five_services():
    quick = bench.parse_options(["--quick", "--runs", "7"])
    assert (quick.runs, quick.services) == (1, (1, 5))
    full = bench.parse_options([])
    assert (full.runs, full.services) == (5, (1, 5, 20))
    assert bench.parse_options(["--runs", "3", "--services", "20,1"]).services == (1, 20)


def test_cpu_times_are_reported_when_recorded():
    results = copy.deepcopy(RECORDED)
    for flavour, cpu in (("ours", 2.0), ("stock", 4.0)):
        for scenario in bench.SCENARIOS:
            for sample in results["samples"][flavour][scenario]:
                sample["cpu_s"] = cpu
    for entry in results["scaling"].values():
        for sample in entry["noop"]:
            sample["cpu_s"] = 2.0
    results["calibration"].update(empty_play_cpu_s=[1.0], ping_play_cpu_s=[6.0])
    report = bench.render_report(results)
    assert "of median CPU\ntimes: converge 0.50, noop 0.50, check 0.50." in report
    assert "- In CPU seconds: start-up 1.00 s, 0.50 s per ping task; no-op ours 2.00 s" in report
