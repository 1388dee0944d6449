"""Where the QuantConnect credentials come from: the environment, else the lean CLI's file.

The environment wins (QC_USER_ID and QC_API_TOKEN, both or neither); without it, the lean CLI's
`~/.lean/credentials` (JSON with `user-id` and `api-token`) is read. `Credentials.source` says
which one was used, and the token stays out of every repr and message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

USER_ID_VARIABLE = "QC_USER_ID"
API_TOKEN_VARIABLE = "QC_API_TOKEN"
LEAN_CREDENTIALS_PATH = Path("~/.lean/credentials")


class CredentialsError(Exception):
    """No usable credentials: the message says where they were looked for."""


@dataclass(frozen=True)
class Credentials:
    """A user id and API token, and where they came from (for logs; never the token)."""

    user_id: str
    api_token: str = field(repr=False)
    source: str


def find_credentials(
    environ: Mapping[str, str] | None = None, lean_path: Path | None = None
) -> Credentials:
    """The credentials from `environ` (default: the process's), else from the lean CLI's file."""
    environ = os.environ if environ is None else environ
    user_id = environ.get(USER_ID_VARIABLE, "").strip()
    api_token = environ.get(API_TOKEN_VARIABLE, "").strip()
    if user_id and api_token:
        return Credentials(user_id, api_token, f"the environment ({USER_ID_VARIABLE})")
    if user_id or api_token:
        missing = API_TOKEN_VARIABLE if user_id else USER_ID_VARIABLE
        raise CredentialsError(f"{missing} is not set; set both it and the other, or neither.")
    path = (lean_path or LEAN_CREDENTIALS_PATH).expanduser()
    if not path.exists():
        raise CredentialsError(
            f"no QuantConnect credentials: set {USER_ID_VARIABLE} and {API_TOKEN_VARIABLE}, "
            f"or log in with the lean CLI (`lean login`, which writes {path})."
        )
    return _read_lean_credentials(path)


def _read_lean_credentials(path: Path) -> Credentials:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        # The file holds the token: name the failure, never echo the content.
        raise CredentialsError(f"{path} is not readable JSON ({type(error).__name__}).") from None
    user_id = stored.get("user-id") if isinstance(stored, dict) else None
    api_token = stored.get("api-token") if isinstance(stored, dict) else None
    if not isinstance(api_token, str) or not api_token.strip() or not str(user_id or "").strip():
        raise CredentialsError(f"{path} lacks `user-id` or `api-token`.")
    return Credentials(str(user_id).strip(), api_token.strip(), f"the lean CLI's file {path}")
