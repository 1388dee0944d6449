"""What a request to the QuantConnect API can fail with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CREDENTIAL_HINT = "Check QC_USER_ID and QC_API_TOKEN (or ~/.lean/credentials without them)."


class QuantConnectError(Exception):
    """A request to the QuantConnect API failed; the message names the endpoint and the ids."""

    def __init__(self, endpoint: str, body: Mapping[str, Any] | None, reason: str) -> None:
        self.endpoint = endpoint
        self.ids = describe_request(body)
        self.reason = reason
        super().__init__(f"{endpoint}{self.ids}: {reason}")


class QuantConnectAuthError(QuantConnectError):
    """The API rejected the credentials. Never retried: repeated bad logins can lock an account."""


class RetryableError(QuantConnectError):
    """A transient failure worth another attempt: 429, 5xx, a dropped connection, or
    `success:false` saying to try again later."""

    def __init__(
        self,
        endpoint: str,
        body: Mapping[str, Any] | None,
        reason: str,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(endpoint, body, reason)
        self.retry_after = retry_after
        self.status = status


def describe_request(body: Mapping[str, Any] | None) -> str:
    """The ids of a request body, for error messages: ` (projectId=1, backtestId=ab, start=0)`."""
    if not body:
        return ""
    names = ("projectId", "backtestId", "optimizationId", "start", "end")
    parts = [f"{name}={body[name]}" for name in names if name in body]
    return f" ({', '.join(parts)})" if parts else ""
