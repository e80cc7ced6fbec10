# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pieces every ecsrds.connect module shares: the retry policy, our error type, client creation
and the one polling helper used for waits.

The retry policy, stated once (every module follows it; tests/integration/test_faults.py proves it
by counting the requests that reach a fault-injecting proxy in front of moto):

1. botocore sends each request exactly once (:func:`connect`); every resend is decided here, where
   it can be reasoned about, never silently below us.
2. Reads and idempotent writes (:func:`call`, :data:`aws_retry`) are resent with jittered backoff on
   throttling (:data:`THROTTLING_CODES`, ``ThrottlingException`` of ECS, Secrets Manager, CloudWatch
   Logs and KMS included) and on 5xx / server errors. A resent idempotent write whose first attempt
   did land is answered with an "already done" code, which the caller lists in ``already_done``.
3. A write that is not idempotent (a create without a client token, a forced deployment) goes
   through :func:`create_or_adopt`: throttling is resent at once (AWS did nothing), but after an
   unknown outcome (5xx, lost connection) what it would have made is described first, and adopted
   when it is there. Where the API takes a client token it is sent too, the same on every attempt.
4. A write refused because the resource is busy (:data:`BUSY_STATE_CODES`: a cluster that is
   ``modifying``, a security group still used by lingering network interfaces) is retried by
   :func:`retry_while_busy` within a bounded wait; the error after it says what it waited for.
5. A timeout names what was awaited and the state last seen, and says that running again resumes:
   every step describes before it writes, so a re-run continues where an interrupted one stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, TypeVar

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

T = TypeVar("T")

# Codes that prove AWS refused a request without acting on it: always safe to send again.
THROTTLING_CODES = frozenset(
    (
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "PriorRequestNotComplete",
        "SlowDown",
    )
)

# Server-side failures named by code (most also come with a 5xx status, which is enough on its own).
SERVER_ERROR_CODES = frozenset(
    ("InternalFailure", "InternalError", "InternalServiceError", "ServiceUnavailable", "ServiceUnavailableException", "Unavailable", "ServerException")
)
_HTTP_5XX = "HTTP 5xx"


class _PolicyRetry(AWSRetry):
    """Reads and idempotent writes: throttling, or any server error (by code or by 5xx status)."""

    @staticmethod
    def status_code_from_exception(error: Any) -> str:
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            return _HTTP_5XX
        return error.response.get("Error", {}).get("Code", "")

    @staticmethod
    def found(response_code: str, catch_extra_error_codes: Any = None) -> bool:
        return response_code == _HTTP_5XX or response_code in THROTTLING_CODES or response_code in SERVER_ERROR_CODES


aws_retry = _PolicyRetry.jittered_backoff(retries=10, delay=1, backoff=2.0, max_delay=20)


class _RejectedOnlyRetry(AWSRetry):
    """Retries only what AWS refused outright. After a 5xx a create without a client token may
    already have been applied; create_or_adopt describes before sending it again."""

    @staticmethod
    def found(response_code: str, catch_extra_error_codes: Any = None) -> bool:
        return response_code in THROTTLING_CODES


create_retry = _RejectedOnlyRetry.jittered_backoff(retries=10, delay=1, backoff=2.0, max_delay=20)

# Codes AWS answers when a resource is in a state that refuses the write for now ("modifying",
# "backing-up", network interfaces still attached): the same write succeeds once it settles.
BUSY_STATE_CODES = frozenset(("InvalidDBClusterStateFault", "InvalidDBInstanceState", "InvalidDBInstanceStateFault", "DependencyViolation"))
RESUME_HINT = "running again resumes safely from the current state"

# Error codes after which a write may or may not have been applied by AWS.
_OUTCOME_UNKNOWN_CODES = SERVER_ERROR_CODES


class EcsRdsError(AnsibleAWSError):
    """The one exception our module_utils raise; ``main()`` reports it with :func:`fail_step`."""


@dataclass
class Outcome:
    """What every step runner returns (the one contract between a module and its module_utils).

    ``changed``: the world changed (or would, in check mode). ``result``: the resource under its own
    key(s), as the module returns it. ``diff``: before/after, built only in diff mode. ``actions``: what
    was (or, in check mode, would be) done, in words, in order.
    """

    changed: bool
    result: Dict[str, Any]
    diff: Optional[Dict[str, Any]] = None
    actions: List[str] = field(default_factory=list)


def connect(module: Any, service: str) -> Any:
    """A client whose calls take ``aws_retry=True`` for our retry policy.

    botocore's own retries are turned off: they would silently resend a write whose response was
    lost, which is how a second task definition revision or DB cluster gets created. Writes go
    through :func:`create_or_adopt` instead, which describes before sending again.

    ``total_max_attempts`` counts the first attempt (``max_attempts`` in a Config counts retries, so
    ``max_attempts: 1`` would still resend once). It is merged over the user's ``aws_config`` so a
    ``retries`` setting there cannot turn botocore's resends back on for our clients.
    """
    # Imported here, not above: the roles' filters and lookups import these module_utils in every
    # Ansible worker process that templates them, and never make a client (botocore.config brings
    # urllib3 and most of botocore).
    import botocore.config  # pylint: disable=import-outside-toplevel

    once = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
    user = (getattr(module, "params", None) or {}).get("aws_config")
    if isinstance(user, dict) and user:
        return module.client(service, retry_decorator=aws_retry, config=once, aws_config=botocore.config.Config(**user).merge(once))
    return module.client(service, retry_decorator=aws_retry, config=once)


class Clients:
    """What a step runner talks to AWS with: ``clients(service)`` gives one :func:`connect` client per
    AWS service for the whole module run (building a client loads its service model; EC2's takes
    about 0.1 s), ``region`` the region they talk to, and ``described`` what a reader of this run
    has already described and may be asked again (immutable resources only, such as a task
    definition revision by ARN), so that nothing is described twice in one process."""

    def __init__(self, make: Callable[[str], Any], region: Optional[str]) -> None:
        self._make = make
        self._made: Dict[str, Any] = {}
        self.region = region
        self.described: Dict[Any, Any] = {}

    @classmethod
    def of(cls, module: Any) -> "Clients":
        return cls(lambda service: connect(module, service), getattr(module, "region", None))

    def __call__(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = self._make(service)
        return self._made[service]


Runner = Callable[[Clients, Mapping[str, Any], bool, bool], Outcome]


def finish(module: Any, outcome: Outcome, **extra: Any) -> None:
    """Every step module's ending: the result, ``changed`` and ``actions``, and the diff only when the
    user asked for one (--diff)."""
    result = dict(outcome.result, **extra)
    if module._diff and outcome.diff is not None:
        result["diff"] = outcome.diff
    module.exit_json(changed=outcome.changed, actions=outcome.actions, **result)


def run_step(module: Any, runner: Runner, problem: Optional[str] = None) -> None:
    """A step module's main after its argument spec: refuse a ``problem`` before any AWS call, run the
    step with the module's own clients, options, check mode and diff mode, and finish."""
    if problem:
        module.fail_json(msg=problem)
    try:
        outcome = runner(Clients.of(module), module.params, module.check_mode, bool(module._diff))
    except EcsRdsError as e:
        fail_step(module, e)
    finish(module, outcome)


def fail_step(module: Any, error: EcsRdsError) -> None:
    """Every step module's failure: a refusal or a failure of our own (a rollout that failed, a
    preflight finding) with its message, an AWS error with AWS's details; either way what the error
    carries (the deployment's state, the findings, the steps run before) is in the result."""
    if error.exception is None:
        module.fail_json(msg=error.message, **error.kwargs)
    module.fail_json_aws(error.exception, msg=error.message, **error.kwargs)


def call(client: Any, method: str, what: str, not_found: Iterable[str] = (), already_done: Iterable[str] = (), **kwargs: Any) -> Any:
    """One AWS call with our retry policy. A failure becomes EcsRdsError("Failed to <what>"); an
    error code listed in ``not_found`` means the resource is not there and gives None, one listed in
    ``already_done`` means an earlier attempt of this idempotent write (whose answer was lost) did
    it, and gives None too."""
    try:
        return getattr(client, method)(aws_retry=True, **kwargs)
    except ClientError as exc:
        if error_code(exc) in not_found or error_code(exc) in already_done:
            return None
        raise EcsRdsError(message=f"Failed to {what}", exception=exc)
    except BotoCoreError as exc:
        raise EcsRdsError(message=f"Failed to {what}", exception=exc)


def error_code(exc: BaseException) -> Optional[str]:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def outcome_unknown(exc: BaseException) -> bool:
    """True when AWS may have applied a write even though the caller saw an error."""
    if isinstance(exc, ClientError):
        return error_code(exc) in _OUTCOME_UNKNOWN_CODES or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
    return isinstance(exc, BotoCoreError)


def create_or_adopt(
    create: Callable[[], T],
    find_existing: Callable[[], Optional[T]],
    what: str,
    attempts: int = 4,
    delay: float = 1.0,
) -> T:
    """Run a create call that AWS does not make idempotent, without ever creating twice.

    ``create`` is called without ``aws_retry``: throttling is resent here, and when the outcome of
    an attempt is unknown (lost response, 5xx), what it would have created is looked for before
    sending it again, and adopted when it is there.
    """
    last_error: Optional[BaseException] = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(delay * attempt)
            existing = find_existing()
            if existing is not None:
                return existing
        try:
            return create_retry(create)()
        except (ClientError, BotoCoreError) as exc:
            if not outcome_unknown(exc):
                raise EcsRdsError(message=f"Failed to {what}", exception=exc)
            last_error = exc
    raise EcsRdsError(message=f"Failed to {what} after {attempts} attempts", exception=last_error)


def wait_for(
    check: Callable[[], Optional[T]],
    timeout: float,
    what: str,
    delay: float = 5.0,
    clock: Optional[Callable[[], float]] = None,
    sleep: Optional[Callable[[float], None]] = None,
    last_seen: Optional[Callable[[], Optional[str]]] = None,
) -> T:
    """Poll ``check`` until it returns something other than None, or fail after ``timeout`` seconds.

    The timeout error names what was awaited, the state ``last_seen`` reports, and that a re-run
    resumes.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    deadline = clock() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if clock() >= deadline:
            seen = last_seen() if last_seen else None
            raise EcsRdsError(message=timeout_message(timeout, what, seen))
        sleep(min(delay, max(0.0, deadline - clock())))


def timeout_message(timeout: float, what: str, last_seen: Optional[str]) -> str:
    seen = f"; last seen: {last_seen}" if last_seen else ""
    return f"Timed out after {int(timeout)} seconds waiting for {what}{seen}; nothing was rolled back and {RESUME_HINT}"


def retry_while_busy(
    write: Callable[[], T],
    timeout: float,
    what: str,
    codes: Iterable[str] = BUSY_STATE_CODES,
    delay: float = 10.0,
    clock: Optional[Callable[[], float]] = None,
    sleep: Optional[Callable[[float], None]] = None,
) -> T:
    """Send ``write`` (itself retried on throttling and 5xx) until AWS stops refusing it with one of
    the busy-state ``codes``, for at most ``timeout`` seconds; other errors are raised at once."""
    codes = frozenset(codes)
    refused: Dict[str, Any] = {}

    def attempt() -> Optional[Dict[str, Any]]:
        try:
            return {"result": write()}
        except EcsRdsError as exc:
            if error_code(exc.exception) not in codes:
                raise
            refused["error"] = exc
            return None
        except ClientError as exc:
            if error_code(exc) not in codes:
                raise  # the caller's own handling (create_or_adopt looks at unknown outcomes)
            refused["error"] = EcsRdsError(message=f"Failed to {what}", exception=exc)
            return None

    def last() -> Optional[str]:
        exc = refused.get("error")
        if exc is None or not isinstance(exc.exception, ClientError):
            return None
        error = exc.exception.response.get("Error", {})
        return f"AWS still answered {error.get('Code')}: {error.get('Message')}"

    return wait_for(attempt, timeout, f"AWS to accept: {what}", delay=delay, clock=clock, sleep=sleep, last_seen=last)["result"]


def tags_to_dict(tag_list: Optional[Iterable[Dict[str, str]]]) -> Dict[str, str]:
    """AWS tag lists come as Key/Value or key/value pairs depending on the service."""
    result: Dict[str, str] = {}
    for tag in tag_list or []:
        key = tag.get("Key", tag.get("key"))
        value = tag.get("Value", tag.get("value", ""))
        if key is not None:
            result[key] = value
    return result


def parse_arn(arn: str) -> Dict[str, str]:
    """An ARN's parts: partition, service, region, account and resource (the rest, colons included)."""
    parts = (arn or "").split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return {"partition": parts[1], "service": parts[2], "region": parts[3], "account": parts[4], "resource": parts[5]}
