"""Fixtures shared by the integration tests: one moto server per pytest worker, reset before each
test, so tests can run in parallel (pytest-xdist) without seeing each other's resources."""

from __future__ import annotations

import os

import pytest

from support.sandbox import MotoServer, run_playbook, safe_aws_env

# Whatever a test imports (boto3 in the test process included) must never reach real AWS.
os.environ.update(safe_aws_env("http://127.0.0.1:1"))


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server):
    """The worker's moto server, emptied before the test."""
    moto_server.reset()
    os.environ.update(safe_aws_env(moto_server.endpoint))
    return moto_server


@pytest.fixture
def play(moto):
    """Run a playbook (path or plays as data) against this test's moto server."""

    def _play(playbook, **kwargs):
        return run_playbook(moto.endpoint, playbook, **kwargs)

    return _play


@pytest.fixture
def proxy(moto):
    """A fault-injecting proxy in front of this test's moto server (tests/support/faults.py)."""
    from support.faults import FaultProxy

    server = FaultProxy(moto.endpoint)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def reliability():
    """What the fault tests saw, written for tests/tools/reliability_report.py (docs/RELIABILITY.md):
    a list of records per pytest worker in build/reliability/."""
    import json
    from pathlib import Path

    records = []
    yield records
    if records:
        out = Path(__file__).resolve().parents[2] / "build" / "reliability"
        out.mkdir(parents=True, exist_ok=True)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        (out / f"{worker}.json").write_text(json.dumps(records, indent=1, sort_keys=True))
