"""A fault-injecting HTTP proxy between the modules and the moto server, on 127.0.0.1 (stdlib only).

The modules are pointed at the proxy (``endpoint_url``/``AWS_ENDPOINT_URL``); it forwards every
request to moto and can, per request:

- ``lose``: forward the call (moto applies it) and answer the client a 500, as when AWS applied a
  write but its answer was lost on the way back;
- ``chaos``: on a seeded share of the calls, answer without forwarding a throttling error or a
  5xx, each shaped like the service's own protocol (EC2's and RDS/IAM's query XML, the JSON
  protocol of ECS, Secrets Manager, CloudWatch Logs, KMS, EventBridge and Step Functions), so botocore parses the code exactly as
  it would from AWS;
- count what it forwarded, and call a hook after a forwarded request (the kill tests use it to
  stop ansible-playbook at a chosen point).

Moto's own control API (``/moto-api/``) passes through untouched.
"""

from __future__ import annotations

import http.client
import random
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Tuple

from support.sandbox import assert_loopback

# Services spoken in the JSON protocol (X-Amz-Target) among those the collection calls.
JSON_SERVICES = ("ecs", "secretsmanager", "logs", "kms", "events", "states", "sts-json")
# Of those, the ones on JSON protocol 1.0 (the rest speak 1.1).
JSON_1_0_SERVICES = ("states",)
THROTTLING = {"ec2": ("RequestLimitExceeded", 503), "query": ("Throttling", 400), "json": ("ThrottlingException", 400)}
SERVER_ERROR = {"ec2": ("InternalError", 500), "query": ("InternalFailure", 500), "json": ("ServerException", 500)}
UNAVAILABLE = {"ec2": ("Unavailable", 503), "query": ("ServiceUnavailable", 503), "json": ("ServiceUnavailableException", 503)}
INJECTED = {"throttled": THROTTLING, "5xx": SERVER_ERROR, "unavailable": UNAVAILABLE}


@dataclass
class Request:
    service: str
    operation: str
    fault: Optional[str] = None  # None, "lost", "throttled", "5xx" (500), "unavailable" (503)
    forwarded: bool = False


@dataclass
class _Rule:
    operation: str
    nth: int = 1  # which matching call (1 = first) gets the fault
    seen: int = 0
    fired: bool = False


@dataclass
class _Chaos:
    rate: float
    rng: random.Random
    operations: Optional[Tuple[str, ...]] = None  # None: every call


@dataclass
class FaultLog:
    requests: List[Request] = field(default_factory=list)

    def forwarded(self) -> Counter:
        return Counter(r.operation for r in self.requests if r.forwarded)

    def faults(self) -> Counter:
        return Counter((r.operation, r.fault) for r in self.requests if r.fault)


def _protocol(service: str) -> str:
    if service == "ec2":
        return "ec2"
    return "json" if service in JSON_SERVICES else "query"


def error_body(service: str, code: str, message: str) -> Tuple[bytes, str]:
    """An error answer as ``service`` gives it on AWS (body, content type)."""
    protocol = _protocol(service)
    if protocol == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>'
            "</Error></Errors><RequestID>00000000-0000-0000-0000-fault0000000</RequestID></Response>"
        )
        return body.encode(), "text/xml"
    if protocol == "json":
        version = "1.0" if service in JSON_1_0_SERVICES else "1.1"
        return f'{{"__type": "{code}", "message": "{message}"}}'.encode(), f"application/x-amz-json-{version}"
    kind = "Sender" if code == "Throttling" else "Receiver"
    body = (
        f'<ErrorResponse xmlns="http://{service}.amazonaws.com/doc/"><Error><Type>{kind}</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>00000000-0000-0000-0000-fault0000000</RequestId></ErrorResponse>"
    )
    return body.encode(), "text/xml"


def identify(headers: Dict[str, str], path: str, body: bytes) -> Tuple[str, str]:
    """(service, operation) of a signed AWS request."""
    auth = headers.get("authorization", "")
    service = auth.split("Credential=")[1].split("/")[3] if "Credential=" in auth else "?"
    target = headers.get("x-amz-target")
    if target:
        return service, target.split(".")[-1]
    form = urllib.parse.parse_qs(body.decode(errors="replace")) if body else {}
    action = form.get("Action") or urllib.parse.parse_qs(urllib.parse.urlparse(path).query).get("Action")
    return service, action[0] if action else "?"


class FaultProxy:
    """Start with ``FaultProxy(moto.endpoint)``; ``endpoint`` is what the modules should use."""

    def __init__(self, upstream: str) -> None:
        assert_loopback(upstream)
        self.upstream = urllib.parse.urlparse(upstream)
        self.log = FaultLog()
        self._rules: List[_Rule] = []
        self._chaos: Optional[_Chaos] = None
        self._lock = threading.Lock()
        # Called after each forwarded request; returning "drop" closes the connection unanswered.
        self.after_forward: Optional[Callable[[Request], Optional[str]]] = None
        # Given a forwarded request, its body, and moto's status and answer: the answer to give instead
        # (tests/support/latency.py holds resources in their transitional states this way).
        self.rewrite: Optional[Callable[[Request, bytes, int, bytes], bytes]] = None
        # Given a request (method, path, headers, body): an answer (status, headers, body) to give
        # without forwarding it, or None to forward it (tests/support/data_api.py plays an API moto lacks).
        self.intercept: Optional[Callable[[str, str, Dict[str, str], bytes], Optional[Tuple[int, List[Tuple[str, str]], bytes]]]] = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()

    # -- configuration ------------------------------------------------------------------------

    def lose(self, operation: str, nth: int = 1) -> None:
        """Apply the ``nth`` call of ``operation`` and answer it with a 500."""
        with self._lock:
            self._rules.append(_Rule(operation, nth))

    def chaos(self, rate: float, seed: int, operations: Optional[Tuple[str, ...]] = None) -> None:
        """Throttle or 5xx (half each) a seeded ``rate`` of the calls, without forwarding them."""
        with self._lock:
            self._chaos = _Chaos(rate, random.Random(seed), operations)

    def reset(self) -> None:
        with self._lock:
            self._rules, self._chaos, self.after_forward = [], None, None
            self.log = FaultLog()

    def lost_fired(self) -> List[str]:
        return [rule.operation for rule in self._rules if rule.fired]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- decisions ----------------------------------------------------------------------------

    def _decide(self, service: str, operation: str) -> Optional[str]:
        with self._lock:
            for rule in self._rules:
                if rule.operation == operation and not rule.fired:
                    rule.seen += 1
                    if rule.seen == rule.nth:
                        rule.fired = True
                        return "lost"
            chaos = self._chaos
            if chaos and (chaos.operations is None or operation in chaos.operations):
                draw = chaos.rng.random()
                if draw < chaos.rate / 2:
                    return "throttled"
                if draw < chaos.rate:
                    return "5xx" if draw < chaos.rate * 0.75 else "unavailable"
        return None

    def _forward(self, method: str, path: str, headers: Dict[str, str], body: bytes) -> Tuple[int, List[Tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=300)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "proxy-connection")}
                if self.path.startswith("/moto-api/"):
                    self._answer(*proxy._forward(self.command, self.path, headers, body))
                    return
                service, operation = identify({k.lower(): v for k, v in self.headers.items()}, self.path, body)
                request = Request(service, operation)
                request.fault = proxy._decide(service, operation)
                with proxy._lock:
                    proxy.log.requests.append(request)
                protocol = _protocol(service)
                answered = proxy.intercept(self.command, self.path, headers, body) if proxy.intercept and not request.fault else None
                if answered is not None:
                    request.forwarded = True  # answered by the stand-in, as the server would have
                    self._answer(*answered)
                    return
                if request.fault in INJECTED:
                    code, status = INJECTED[request.fault][protocol]
                    self._error(service, code, status, "injected by tests/support/faults.py")
                    return
                status, answer_headers, answer = proxy._forward(self.command, self.path, headers, body)
                request.forwarded = True
                if proxy.after_forward and proxy.after_forward(request) == "drop":
                    # The client was killed after the server applied the call: nobody to answer.
                    self.close_connection = True
                    return
                if request.fault == "lost":
                    code, status = SERVER_ERROR[protocol]
                    self._error(service, code, status, "the request was applied, its answer lost (tests/support/faults.py)")
                    return
                if proxy.rewrite is not None:
                    answer = proxy.rewrite(request, body, status, answer)
                self._answer(status, answer_headers, answer)

            def _error(self, service, code, status, message):
                body, content_type = error_body(service, code, message)
                headers = [("Content-Type", content_type), ("x-amzn-RequestId", "00000000-0000-0000-0000-fault0000000")]
                if _protocol(service) == "json":
                    headers.append(("x-amzn-ErrorType", code))
                self._answer(status, headers, body)

            def _answer(self, status, headers, body):
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

        return Handler
