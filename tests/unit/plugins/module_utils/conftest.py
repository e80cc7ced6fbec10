"""Fixtures shared by the module_utils unit tests."""

from __future__ import annotations

import pytest

from ansible_collections.ecsrds.connect.plugins.module_utils import common


class Clock:
    """Time that only moves when the code sleeps: bounded waits end without real waiting."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, 0.001)


@pytest.fixture
def fake_clock(monkeypatch):
    """common's waits and AWSRetry's backoff run on a Clock (they share the one time module)."""
    fake = Clock()
    monkeypatch.setattr(common.time, "sleep", fake.sleep)
    monkeypatch.setattr(common.time, "monotonic", fake.monotonic)
    return fake
