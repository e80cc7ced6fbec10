"""AWS's latencies in front of moto: a proxy that holds each resource in its transitional state.

On moto every resource is ready the moment it is asked for, so a run on moto measures Ansible, not
the waits. On AWS a Secrets Manager interface endpoint is ``pending`` for about 2 minutes after
CreateVpcEndpoint, an Aurora cluster ``creating`` for 3-5 after CreateDBCluster, its writer
``creating`` for 7-10 after CreateDBInstance (and never available before its cluster), and an ECS
rollout ``IN_PROGRESS`` for 2-5 minutes after UpdateService while its tasks start, pass their health
checks and the old ones drain. This proxy (the fault proxy of tests/support/faults.py, which
forwards every call to moto and counts it) rewrites moto's answers so that each describe shows the
resource as AWS would until its simulated time is up:

- DescribeVpcEndpoints: ``<state>pending</state>`` for an endpoint created through the proxy;
- DescribeDBClusters / DescribeDBInstances: ``<Status>creating</Status>`` /
  ``<DBInstanceStatus>creating</DBInstanceStatus>``, the fields AWS's documented answers carry;
- DescribeServices: the PRIMARY deployment with ``rolloutState`` ``IN_PROGRESS`` and no task
  running (``runningCount`` 0, ``pendingCount`` the desired count), as ECS shows a rollout whose
  tasks are starting.

It records, for each of them, when it was asked for, when it was ready, when a describe first saw it
still in transition (a wait began) and first saw it ready (the wait ended), and every call with its
time, so a benchmark can compare the run with the critical path of the simulated latencies, and a
test can check the order of the calls without timing anything.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from support.faults import FaultProxy, Request


@dataclass(frozen=True)
class Latencies:
    """Seconds each resource stays in transition; the defaults are AWS's typical times divided by 6."""

    endpoint: float = 20.0  # AWS: about 2 minutes pending
    cluster: float = 40.0  # AWS: 3-5 minutes creating
    instance: float = 80.0  # AWS: 7-10 minutes creating, from CreateDBInstance
    rollout: float = 30.0  # AWS: 2-5 minutes in progress

    def critical_path(self) -> float:
        """The least any run can take: the endpoint, the cluster and its writer settle side by side
        (the writer asked for while the cluster is creating, never ready before it), then the
        rollouts, all at once."""
        return max(self.endpoint, self.cluster, self.instance) + self.rollout

    def one_after_another(self, services: int) -> float:
        """Each wait after the one before: the endpoint, the cluster, then its writer, then each rollout."""
        return self.endpoint + self.cluster + self.instance + services * self.rollout


@dataclass
class Transition:
    """One resource held in its transitional state."""

    kind: str  # endpoint, cluster, instance, rollout
    resource: str
    asked: float  # when the create or update call was answered
    ready_at: float
    first_look: Optional[float] = None  # a describe first saw it still in transition: a wait began
    seen_ready: Optional[float] = None  # a describe first saw it ready: the wait ended
    looks_in_transition: int = 0


@dataclass
class Call:
    at: float
    operation: str
    services: int = 0  # DescribeServices: how many services it asked for


_JSON_SERVICE = re.compile(r'"service"\s*:\s*"([^"]+)"')


def _service_name(service: str) -> str:
    return service.rsplit("/", 1)[-1]


class LatencyProxy(FaultProxy):
    """``LatencyProxy(moto.endpoint, Latencies(...))``; point the modules at ``endpoint``."""

    def __init__(self, upstream: str, latencies: Latencies, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(upstream)
        self.latencies = latencies
        self.clock = clock
        self.started = clock()
        self.transitions: List[Transition] = []
        self.calls: List[Call] = []
        self._held = threading.Lock()
        self.rewrite = self._rewrite

    # -- what happened ------------------------------------------------------------------------

    def of_kind(self, kind: str) -> List[Transition]:
        with self._held:
            return [t for t in self.transitions if t.kind == kind]

    def first(self, operation: str) -> Optional[float]:
        with self._held:
            return next((c.at for c in self.calls if c.operation == operation), None)

    def operations(self) -> List[str]:
        with self._held:
            return [c.operation for c in self.calls]

    def max_in_flight(self, kind: str = "rollout") -> int:
        """The most transitions of ``kind`` asked for and not yet seen ready at the same moment."""
        events = sorted([(t.asked, 1) for t in self.of_kind(kind)] + [(t.seen_ready or float("inf"), -1) for t in self.of_kind(kind)])
        most = current = 0
        for _at, step in events:
            current += step
            most = max(most, current)
        return most

    def polls(self) -> List[Call]:
        """The DescribeServices calls made while a rollout was in flight."""
        rollouts = self.of_kind("rollout")
        with self._held:
            return [c for c in self.calls if c.operation == "DescribeServices"
                    and any(t.asked <= c.at < (t.seen_ready or float("inf")) for t in rollouts)]

    def seconds(self, at: Optional[float]) -> Optional[float]:
        return None if at is None else round(at - self.started, 1)

    # -- the rewrite --------------------------------------------------------------------------

    def _hold(self, kind: str, resource: str, seconds: float, not_before: Optional[float] = None) -> None:
        now = self.clock()
        ready = max(now + seconds, not_before or 0.0)
        with self._held:
            # A create answered again (an adopted resource) keeps its first clock.
            if not any(t.kind == kind and t.resource == resource and t.seen_ready is None for t in self.transitions):
                self.transitions.append(Transition(kind, resource, now, ready))

    def _in_transition(self, kind: str, resource: str) -> bool:
        """Whether a describe now shows ``resource`` still in transition, noting the look."""
        now = self.clock()
        with self._held:
            for transition in self.transitions:
                if transition.kind != kind or transition.resource != resource or transition.seen_ready is not None:
                    continue
                if now < transition.ready_at:
                    transition.looks_in_transition += 1
                    if transition.first_look is None:
                        transition.first_look = now
                    return True
                transition.seen_ready = now
        return False

    def _ready_at(self, kind: str, resource: str) -> Optional[float]:
        with self._held:
            return next((t.ready_at for t in self.transitions if t.kind == kind and t.resource == resource and t.seen_ready is None), None)

    def _rewrite(self, request: Request, body: bytes, status: int, answer: bytes) -> bytes:
        operation = request.operation
        services = 0
        if operation == "DescribeServices":
            services = len(json.loads(body or b"{}").get("services") or [])
        with self._held:
            self.calls.append(Call(self.clock(), operation, services))
        if status >= 300:
            return answer
        text = answer.decode("utf-8", errors="replace")
        if operation == "CreateVpcEndpoint":
            found = re.search(r"<vpcEndpointId>([^<]+)</vpcEndpointId>", text)
            if found:
                self._hold("endpoint", found.group(1), self.latencies.endpoint)
        elif operation == "CreateDBCluster":
            found = re.search(r"<DBClusterIdentifier>([^<]+)</DBClusterIdentifier>", text)
            if found:
                self._hold("cluster", found.group(1), self.latencies.cluster)
        elif operation == "CreateDBInstance":
            instance = re.search(r"<DBInstanceIdentifier>([^<]+)</DBInstanceIdentifier>", text)
            cluster = re.search(r"<DBClusterIdentifier>([^<]+)</DBClusterIdentifier>", text)
            if instance:
                self._hold("instance", instance.group(1), self.latencies.instance,
                           not_before=self._ready_at("cluster", cluster.group(1)) if cluster else None)
        elif operation == "UpdateService":
            found = _JSON_SERVICE.search(body.decode("utf-8", errors="replace"))
            if found:
                self._hold("rollout", _service_name(found.group(1)), self.latencies.rollout)
        elif operation == "DescribeVpcEndpoints":
            return self._held_items(text, "<vpcEndpointId>", r"<vpcEndpointId>([^<]+)</vpcEndpointId>", "endpoint",
                                    "<state>available</state>", "<state>pending</state>").encode()
        elif operation == "DescribeDBClusters":
            return self._held_items(text, "<DBCluster>", r"<DBClusterIdentifier>([^<]+)</DBClusterIdentifier>", "cluster",
                                    "<Status>available</Status>", "<Status>creating</Status>").encode()
        elif operation == "DescribeDBInstances":
            return self._held_items(text, "<DBInstance>", r"<DBInstanceIdentifier>([^<]+)</DBInstanceIdentifier>", "instance",
                                    "<DBInstanceStatus>available</DBInstanceStatus>", "<DBInstanceStatus>creating</DBInstanceStatus>").encode()
        elif operation == "DescribeServices":
            return self._held_services(answer)
        return answer

    def _held_items(self, text: str, separator: str, identifier: str, kind: str, ready: str, held: str) -> str:
        """Each item of a query-protocol answer (split at ``separator``) whose resource is in transition,
        with its ``ready`` state shown as ``held``."""
        parts = text.split(separator)
        for index in range(1, len(parts)):
            found = re.search(identifier, separator + parts[index])
            if found and self._in_transition(kind, found.group(1)):
                parts[index] = parts[index].replace(ready, held, 1)
        return separator.join(parts)

    def _held_services(self, answer: bytes) -> bytes:
        document = json.loads(answer)
        for service in document.get("services") or []:
            if not self._in_transition("rollout", service.get("serviceName", "")):
                continue
            for deployment in service.get("deployments") or []:
                if deployment.get("status") == "PRIMARY":
                    deployment.update(rolloutState="IN_PROGRESS", rolloutStateReason="ECS deployment ecs-svc in progress.",
                                      runningCount=0, pendingCount=deployment.get("desiredCount", service.get("desiredCount", 0)))
        return json.dumps(document).encode()

    # -- a report -----------------------------------------------------------------------------

    def report(self) -> Dict[str, object]:
        """The transitions (seconds from the proxy's start) and the calls made while waiting."""
        transitions = [t for kind in ("endpoint", "cluster", "instance", "rollout") for t in self.of_kind(kind)]
        waits = [{
            "kind": t.kind, "resource": t.resource, "asked": self.seconds(t.asked), "ready": self.seconds(t.ready_at),
            "wait_began": self.seconds(t.first_look), "wait_ended": self.seconds(t.seen_ready), "looks_in_transition": t.looks_in_transition,
        } for t in sorted(transitions, key=lambda t: t.asked)]
        polls = self.polls()
        poll_times = sorted({round(c.at, 1) for c in polls})
        looks: Dict[str, int] = {}
        for transition in transitions:
            looks[transition.kind] = looks.get(transition.kind, 0) + transition.looks_in_transition
        return {
            "waits": waits,
            "rollouts_in_flight_at_once": self.max_in_flight("rollout"),
            "describe_services_while_rolling": len(polls),
            "services_per_describe_max": max((c.services for c in polls), default=0),
            "poll_interval_min_s": round(min((b - a for a, b in zip(poll_times, poll_times[1:])), default=0.0), 1),
            "looks_in_transition": looks,
        }
