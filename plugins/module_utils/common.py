# -*- coding: utf-8 -*-
# Copyright: Contributors to the ecsrds.connect collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pieces every ecsrds.connect module shares: the retry policy, our error type, client creation
and the one polling helper used for waits.

Retry policy in one place so a throttled ECS, Secrets Manager or KMS call (``ThrottlingException``,
which amazon.aws's AWSRetry does not know) is retried the same way everywhere.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterable, Optional, TypeVar

try:
    import botocore.config
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

# For reads and idempotent writes: AWSRetry's own list (throttling and 5xx) plus the throttling
# codes it does not know, ECS's, Secrets Manager's, CloudWatch Logs' and KMS's among them.
aws_retry = AWSRetry.jittered_backoff(
    retries=10, delay=1, backoff=2.0, max_delay=20, catch_extra_error_codes=sorted(THROTTLING_CODES | {"ServerException"})
)


class _RejectedOnlyRetry(AWSRetry):
    """Retries only what AWS refused outright. After a 5xx a create without a client token may
    already have been applied; create_or_adopt describes before sending it again."""

    @staticmethod
    def found(response_code: str, catch_extra_error_codes: Any = None) -> bool:
        return response_code in THROTTLING_CODES


create_retry = _RejectedOnlyRetry.jittered_backoff(retries=10, delay=1, backoff=2.0, max_delay=20)

# Error codes after which a write may or may not have been applied by AWS.
_OUTCOME_UNKNOWN_CODES = {"InternalFailure", "InternalError", "ServiceUnavailable", "Unavailable", "ServerException"}


class EcsRdsError(AnsibleAWSError):
    """The one exception our module_utils raise; ``main()`` reports it with fail_json_aws_error."""


def connect(module: Any, service: str) -> Any:
    """A client whose calls take ``aws_retry=True`` for our retry policy.

    botocore's own retries are turned off: they would silently resend a write whose response was
    lost, which is how a second task definition revision or DB cluster gets created. Writes go
    through :func:`create_or_adopt` instead, which describes before sending again.
    """
    config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 1})
    return module.client(service, retry_decorator=aws_retry, config=config)


def call(client: Any, method: str, what: str, not_found: Iterable[str] = (), **kwargs: Any) -> Any:
    """One AWS call with our retry policy. A failure becomes EcsRdsError("Failed to <what>"); an
    error code listed in ``not_found`` means the resource is not there and gives None."""
    try:
        return getattr(client, method)(aws_retry=True, **kwargs)
    except ClientError as exc:
        if error_code(exc) in not_found:
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
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Poll ``check`` until it returns something other than None, or fail after ``timeout`` seconds."""
    deadline = clock() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if clock() >= deadline:
            raise EcsRdsError(message=f"Timed out after {int(timeout)} seconds waiting for {what}")
        sleep(min(delay, max(0.0, deadline - clock())))


def tags_to_dict(tag_list: Optional[Iterable[Dict[str, str]]]) -> Dict[str, str]:
    """AWS tag lists come as Key/Value or key/value pairs depending on the service."""
    result: Dict[str, str] = {}
    for tag in tag_list or []:
        key = tag.get("Key", tag.get("key"))
        value = tag.get("Value", tag.get("value", ""))
        if key is not None:
            result[key] = value
    return result
