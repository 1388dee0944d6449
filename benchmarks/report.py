"""Medians per contender, ratios against this pipeline, a markdown table and a JSON file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from benchmarks.harness import ORDER_PAGES, REPO_ROOT, DatasetRun, Measurement


@dataclass
class Summary:
    """The medians of one contender's passing runs on one dataset."""

    contender: str
    status: str
    runs_ok: int
    runs: int
    wall_seconds: float | None
    orders_per_second: float | None
    events_per_second: float | None
    peak_rss_mib: float | None
    cpu_seconds: float | None
    requests: float | None
    order_requests: float | None
    throughput_vs_pipeline: float | None
    wall_vs_pipeline: float | None


COLUMNS: dict[str, tuple[str, str]] = {
    "contender": ("contender", "{}"),
    "status": ("status", "{}"),
    "runs_ok": ("runs ok", "{}"),
    "wall_seconds": ("wall s", "{:.2f}"),
    "orders_per_second": ("orders/s", "{:,.0f}"),
    "events_per_second": ("events/s", "{:,.0f}"),
    "peak_rss_mib": ("peak RSS MiB", "{:,.0f}"),
    "cpu_seconds": ("CPU s", "{:.1f}"),
    "requests": ("requests", "{:,.0f}"),
    "order_requests": ("order requests", "{:,.0f}"),
    "throughput_vs_pipeline": ("throughput vs pipeline", "{:.2f}x"),
    "wall_vs_pipeline": ("wall vs pipeline", "{:.2f}x"),
}
"""Every column of the report: field name -> (header, format)."""


def _median(results: list[Measurement], value: Callable[[Measurement], float]) -> float | None:
    return statistics.median(map(value, results)) if results else None


def _summary(name: str, results: list[Measurement], reference: dict[str, int]) -> Summary:
    passed = [r for r in results if r.ok]
    failures = sorted({r.failure for r in results if r.failure})
    loads_rows = name != "resync"

    def rate(rows: str) -> float | None:
        if not loads_rows:
            return None
        return _median(passed, lambda r: reference[rows] / max(r.wall_seconds or 0, 1e-9))

    return Summary(
        contender=name,
        status="ok" if not failures else "FAILED: " + "; ".join(failures),
        runs_ok=len(passed),
        runs=len(results),
        wall_seconds=_median(passed, lambda r: r.wall_seconds or 0.0),
        orders_per_second=rate("orders"),
        events_per_second=rate("events"),
        peak_rss_mib=_median(passed, lambda r: r.peak_rss_bytes / 2**20),
        cpu_seconds=_median(passed, lambda r: r.cpu_seconds),
        requests=_median(passed, lambda r: sum(r.requests.values())),
        order_requests=_median(passed, lambda r: r.requests.get(ORDER_PAGES, 0)),
        throughput_vs_pipeline=None,
        wall_vs_pipeline=None,
    )


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def summarize(result: DatasetRun) -> list[Summary]:
    """One summary per contender, in the order they were first run, with ratios to the
    pipeline's full sync (throughput: higher is faster; wall: lower is faster)."""
    names = list(dict.fromkeys(m.contender for m in result.measurements))
    rows = [
        _summary(
            name, [m for m in result.measurements if m.contender == name], result.reference_counts
        )
        for name in names
    ]
    base = next((row for row in rows if row.contender == "pipeline"), None)
    for row in rows:
        if base is not None:
            row.throughput_vs_pipeline = _ratio(row.orders_per_second, base.orders_per_second)
            row.wall_vs_pipeline = _ratio(row.wall_seconds, base.wall_seconds)
    return rows


def markdown(result: DatasetRun, rows: list[Summary]) -> str:
    """The dataset's table, headed by its size and reference row counts."""
    counts = ", ".join(f"{count:,} {name}" for name, count in result.reference_counts.items())
    lines = [
        f"### {result.dataset}: {counts}",
        f"median of {result.runs} runs, concurrency {result.concurrency}",
        "",
        "| " + " | ".join(header for header, _ in COLUMNS.values()) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        values = asdict(row)
        cells = [
            "—" if values[key] is None else fmt.format(values[key])
            for key, (_, fmt) in COLUMNS.items()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment() -> dict[str, object]:
    """The machine and the versions the numbers were measured with."""
    versions = {}
    for package in ("dlt", "duckdb", "pyarrow", "pandas", "requests", "orjson"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "commit": commit or None,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "versions": versions,
    }


def write_json(result: DatasetRun, rows: list[Summary], directory: Path) -> Path:
    """Write `<directory>/<dataset>.json`: the summaries, every measurement, the environment."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.dataset}.json"
    payload = {
        **asdict(result),
        "summary": [asdict(row) for row in rows],
        "environment": environment(),
    }
    path.write_text(json.dumps(payload, indent=2))
    return path
