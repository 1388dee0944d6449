"""Serve the QuantConnect API sandbox until Ctrl-C or SIGTERM: `python -m pipelines.sandbox`."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import time
from typing import Any

from pipelines.sandbox.account import SIZES, SandboxAccount
from pipelines.sandbox.server import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    SandboxServer,
    parse_fault_spec,
)

EPILOG = """\
fault SPEC forms (repeat --fault for several rules; they are tried in order):
  KIND[@ENDPOINT][:N]   N with a '.' is a probability, without one a count of firings
      500:0.05                        5% of all API requests answer HTTP 500
      429@backtests/orders/read:3     the next 3 order pages answer 429 with Retry-After
      drop@backtests/orders/read      every order page closes the connection unanswered
  a JSON rule object, e.g. '{"kind": "latency", "seconds": 0.5, "probability": 0.1}'
  KIND: 500 502 503 429 try_again drop latency truncate html malformed

admin endpoints (no auth): POST/DELETE /sandbox/faults, GET /sandbox/stats,
POST /sandbox/stats/reset, POST /sandbox/complete_running, POST /sandbox/add_backtests
"""


def _fault(spec: str) -> dict[str, Any]:
    try:
        return parse_fault_spec(spec)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"bad fault spec {spec!r}: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.sandbox",
        description="Serve a local emulator of the QuantConnect REST API v2.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--size", choices=sorted(SIZES), default="demo", help="data preset")
    parser.add_argument("--projects", type=int, help="override the preset's project count")
    parser.add_argument("--backtests", type=int, help="override backtests per project")
    parser.add_argument("--orders", type=int, help="override the mean orders per backtest")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same data")
    parser.add_argument("--fault", type=_fault, action="append", default=[], metavar="SPEC")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay every API request")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="generate every backtest's orders before serving and keep them all in memory "
        "(about 1.7 kB per order), so no page waits for the generator (for benchmarks)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Start the sandbox, print where it listens, and serve until interrupted."""
    args = build_parser().parse_args(argv)
    overrides = {
        "projects": args.projects,
        "backtests_per_project": args.backtests,
        "orders_per_backtest": args.orders,
    }
    size = dataclasses.replace(
        SIZES[args.size], **{k: v for k, v in overrides.items() if v is not None}
    )
    account = SandboxAccount(size, seed=args.seed)
    if args.warm:
        started = time.perf_counter()
        kept = account.warm(processes=os.cpu_count() or 1)
        elapsed = time.perf_counter() - started
        print(f"Generated {kept:,} orders in {elapsed:.1f} s", file=sys.stderr, flush=True)
    server = SandboxServer(
        account,
        host=args.host,
        port=args.port,
        quiet=not args.verbose,
        latency_ms=args.latency_ms,
    )
    server.set_faults(args.fault)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(signum, lambda *_: stopping.set())
    with server:
        print(
            f"QuantConnect sandbox listening on {server.url} ({size.projects} projects x "
            f"{size.backtests_per_project} backtests, ~{size.approximate_orders:,} orders, "
            f"seed {args.seed}, {len(args.fault)} fault rules)"
        )
        print(
            f"  export QC_API_URL={server.url} QC_USER_ID={SANDBOX_USER_ID} "
            f"QC_API_TOKEN={SANDBOX_API_TOKEN}"
        )
        print("  Ctrl-C to stop", flush=True)
        while not stopping.wait(0.5):
            pass
    print("QuantConnect sandbox stopped", flush=True)


if __name__ == "__main__":
    main()
