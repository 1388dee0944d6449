"""A faithful local emulator ("sandbox") of the QuantConnect REST API v2.

`SandboxServer` serves deterministic `SandboxAccount` data over HTTP with QuantConnect's auth,
shapes and quirks, plus fault injection. Run it with `python -m pipelines.sandbox --help`.
"""

from pipelines.sandbox.account import SIZES, SandboxAccount, SandboxSize
from pipelines.sandbox.server import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    FaultRule,
    SandboxServer,
    parse_fault_spec,
)

__all__ = [
    "SANDBOX_API_TOKEN",
    "SANDBOX_USER_ID",
    "SIZES",
    "FaultRule",
    "SandboxAccount",
    "SandboxServer",
    "SandboxSize",
    "parse_fault_spec",
]
