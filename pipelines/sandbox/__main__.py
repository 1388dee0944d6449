"""Serve the QuantConnect API sandbox until Ctrl-C or SIGTERM: `python -m pipelines.sandbox`
(the same command as `qcw sandbox`)."""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import threading
import time
from typing import Any

import click

from pipelines.sandbox.account import SIZES, SandboxAccount
from pipelines.sandbox.server import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    SandboxServer,
    parse_fault_spec,
)

# `\b` keeps click from rewrapping the paragraph that follows it.
EPILOG = """\
\b
fault SPEC forms (repeat --fault for several rules; they are tried in order):
  KIND[@ENDPOINT][:N]   N with a '.' is a probability, without one a count of firings
      500:0.05                        5% of all API requests answer HTTP 500
      429@backtests/orders/read:3     the next 3 order pages answer 429 with Retry-After
      drop@backtests/orders/read      every order page closes the connection unanswered
  a JSON rule object, e.g. '{"kind": "latency", "seconds": 0.5, "probability": 0.1}'
  KIND: 500 502 503 429 try_again drop latency truncate html malformed

\b
admin endpoints (no auth): POST/DELETE /sandbox/faults, GET /sandbox/stats,
POST /sandbox/stats/reset, POST /sandbox/complete_running, POST /sandbox/add_backtests
"""


def _faults(
    _context: click.Context, _parameter: click.Parameter, specs: tuple[str, ...]
) -> list[dict[str, Any]]:
    rules = []
    for spec in specs:
        try:
            rules.append(parse_fault_spec(spec))
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(f"bad fault spec {spec!r}: {exc}") from None
    return rules


@click.command(
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.option("--host", default="127.0.0.1", help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, help="0 picks a free port.")
@click.option("--size", type=click.Choice(sorted(SIZES)), default="demo", help="Data preset.")
@click.option("--projects", type=int, help="Override the preset's project count.")
@click.option("--backtests", type=int, help="Override the backtests per project.")
@click.option("--orders", type=int, help="Override the mean orders per backtest.")
@click.option("--seed", type=int, default=7, help="Same seed, same data.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    callback=_faults,
    show_default=False,
    help="A fault rule (repeatable; forms below).",
)
@click.option("--latency-ms", type=float, default=0.0, help="Delay every API request by this much.")
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0),
    metavar="N",
    show_default="none",
    help="Requests per second the sandbox accepts before it answers 429 with Retry-After "
    "(0: no limit).",
)
@click.option("--verbose", is_flag=True, help="Log every request to stderr.")
@click.option(
    "--warm",
    is_flag=True,
    help="Generate every backtest's orders before serving and keep them all in memory "
    "(about 1.7 kB per order), so no page waits for the generator (for benchmarks).",
)
def main(
    host: str,
    port: int,
    size: str,
    projects: int | None,
    backtests: int | None,
    orders: int | None,
    seed: int,
    faults: list[dict[str, Any]],
    latency_ms: float,
    rate_limit: float | None,
    verbose: bool,
    warm: bool,
) -> None:
    """Serve the sandbox, a local emulator of the QuantConnect API v2.

    It listens until Ctrl-C or SIGTERM, prints the `export` line that points `qcw` and Dagster
    at it, and takes a data size, a seed, faults, latency and a rate limit.
    """
    overrides = {
        "projects": projects,
        "backtests_per_project": backtests,
        "orders_per_backtest": orders,
    }
    preset = dataclasses.replace(
        SIZES[size], **{k: v for k, v in overrides.items() if v is not None}
    )
    account = SandboxAccount(preset, seed=seed)
    if warm:
        started = time.perf_counter()
        kept = account.warm(processes=os.cpu_count() or 1)
        elapsed = time.perf_counter() - started
        click.echo(f"Generated {kept:,} orders in {elapsed:.1f} s", err=True)
    server = SandboxServer(
        account,
        host=host,
        port=port,
        quiet=not verbose,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
    )
    server.set_faults(faults)
    try:
        server.start()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"port {port} on {host} is in use: stop what listens there, or pick another "
                "with --port (0: any free port)"
            ) from None
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(signum, lambda *_: stopping.set())
    try:
        limit = f", at most {rate_limit:g} requests/s" if rate_limit else ""
        click.echo(
            f"QuantConnect sandbox listening on {server.url} ({preset.projects} projects x "
            f"{preset.backtests_per_project} backtests, ~{preset.approximate_orders:,} orders, "
            f"seed {seed}, {len(faults)} fault rules{limit})"
        )
        click.echo(
            f"  export QC_API_URL={server.url} QC_USER_ID={SANDBOX_USER_ID} "
            f"QC_API_TOKEN={SANDBOX_API_TOKEN}"
        )
        click.echo("  Ctrl-C to stop")
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
    click.echo("QuantConnect sandbox stopped")


if __name__ == "__main__":
    main(prog_name="python -m pipelines.sandbox")
