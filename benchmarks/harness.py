"""Run the contenders against a sandbox process and measure each run from outside.

For each dataset: start the sandbox in its own process with every page generated up front,
run this pipeline once off the clock (it warms the server and gives the reference row counts),
then run every contender `runs` times in fresh folders, alternating their order. Each contender
run is a child process (`benchmarks.child`) whose process-tree RSS is sampled every 50 ms and
whose API requests are the sandbox's `/sandbox/stats` deltas.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
import requests

from benchmarks.child import CONTENDERS
from benchmarks.common import Task
from pipelines.sandbox import SIZES, SandboxSize

DATASETS: dict[str, SandboxSize] = {
    "tiny": SandboxSize(projects=2, backtests_per_project=3, orders_per_backtest=60),
    **{name: SIZES[name] for name in ("small", "medium", "large")},
}
"""Sandbox sizes by name: tiny (a few hundred orders, for the smoke test), small ~10k orders,
medium ~200k, large ~1M; about 3 events per order."""

LOADERS = ("pipeline", "naive", "dlt_default", "dlt_tuned")
"""The contenders that load rows, so must load exactly this pipeline's rows to be timed."""

REPO_ROOT = Path(__file__).resolve().parent.parent
ORDER_PAGES = "backtests/orders/read"
SAMPLE_SECONDS = 0.05


@dataclass
class Measurement:
    """One run of one contender, measured from outside, and whether it passed its check."""

    contender: str
    run: int
    ok: bool = False
    failure: str | None = None
    wall_seconds: float | None = None  # timed inside the child, imports excluded
    process_seconds: float = 0.0  # the child process from start to exit
    cpu_seconds: float = 0.0  # user + system of the child's process tree
    peak_rss_bytes: int = 0  # of the child's process tree
    requests: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Sandbox:
    """`python -m pipelines.sandbox --warm` in its own process, for one dataset."""

    def __init__(self, size: SandboxSize, port: int = 0) -> None:
        command = [sys.executable, "-m", "pipelines.sandbox", "--warm", "--port", str(port)]
        command += ["--projects", str(size.projects), "--backtests"]
        command += [str(size.backtests_per_project), "--orders", str(size.orders_per_backtest)]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        if match is None:
            self.close()
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        self.url = match.group(1)
        self._session = requests.Session()

    def requests_made(self) -> Counter[str]:
        """API requests served so far, per endpoint."""
        reply = self._session.get(self.url.replace("/api/v2/", "/sandbox/") + "stats")
        return Counter(reply.json()["requests"])

    def close(self) -> None:
        """Stop the sandbox process."""
        self._process.terminate()
        self._process.wait(timeout=30)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in (process, *process.children(recursive=True)):
        with suppress(psutil.Error):  # a worker that just ended
            total += member.memory_info().rss
    return total


def _wait_sampling_rss(child: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait for the child, sampling its process tree's RSS; the peak. Kills it on timeout."""
    process, peak = psutil.Process(child.pid), 0
    deadline = time.monotonic() + timeout
    while child.poll() is None:
        with suppress(psutil.Error):
            peak = max(peak, _tree_rss(process))
        if time.monotonic() > deadline:
            for member in (*process.children(recursive=True), process):
                with suppress(psutil.Error):
                    member.kill()
            child.wait()
            raise TimeoutError(f"still running after {timeout:.0f} s")
        time.sleep(SAMPLE_SECONDS)
    return peak


def measure(name: str, run: int, task: Task, sandbox: Sandbox, timeout: float) -> Measurement:
    """Run one contender in a child process and measure it; failures are recorded, not raised."""
    result = Measurement(name, run)
    result_path = task.run_dir / f"{name}.result.json"
    log_path = task.run_dir / f"{name}.log"
    command = [sys.executable, "-m", "benchmarks.child", name, task.to_json(), str(result_path)]
    before, cpu_before = sandbox.requests_made(), _children_cpu_seconds()
    started = time.perf_counter()
    with log_path.open("wb") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        try:
            result.peak_rss_bytes = _wait_sampling_rss(child, timeout)
        except TimeoutError as error:
            result.failure = str(error)
    result.process_seconds = time.perf_counter() - started
    result.cpu_seconds = _children_cpu_seconds() - cpu_before
    result.requests = dict(sandbox.requests_made() - before)
    if result.failure is None and child.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        result.failure = f"exit {child.returncode}: " + " | ".join(tail)
    if result.failure is None:
        outcome = json.loads(result_path.read_text())
        result.wall_seconds, result.counts = outcome["wall_seconds"], outcome["counts"]
        result.details = outcome["details"]
    return result


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check(result: Measurement, reference: dict[str, int]) -> None:
    """Mark a run ok, or failed: loaders must load this pipeline's rows, the re-sync must also
    fetch no order page."""
    if result.failure is None and (result.contender in LOADERS or result.contender == "resync"):
        if result.counts != reference:
            result.failure = f"row counts {result.counts} != the pipeline's {reference}"
        elif result.contender == "resync" and result.requests.get(ORDER_PAGES, 0):
            result.failure = f"the re-sync made {result.requests[ORDER_PAGES]} order requests"
    result.ok = result.failure is None


def run_order(contenders: list[str], run: int) -> list[str]:
    """The contenders in the order of one run: reversed every other run, the re-sync always
    right after the full sync whose warehouse it syncs again."""
    groups = [[name] for name in contenders if name != "resync"]
    if "resync" in contenders:
        next(g for g in groups if g == ["pipeline"]).append("resync")
    if run % 2:
        groups.reverse()
    return [name for group in groups for name in group]


@dataclass
class DatasetRun:
    """Everything measured on one dataset."""

    dataset: str
    size: dict[str, int]
    concurrency: int
    runs: int
    reference_counts: dict[str, int]
    measurements: list[Measurement]
    bench_seconds: float  # the whole dataset: sandbox start, warm-up and every run


def run_dataset(
    dataset: str,
    contenders: list[str],
    runs: int,
    concurrency: int,
    work_dir: Path,
    port: int = 0,
    timeout: float = 3600.0,
    log: Callable[[str], None] = print,
) -> DatasetRun:
    """Warm up, then measure every contender `runs` times on one dataset."""
    if "resync" in contenders and "pipeline" not in contenders:
        raise ValueError("the re-sync needs the full sync: add the pipeline contender")
    size = DATASETS[dataset]
    measurements: list[Measurement] = []
    started = time.perf_counter()
    with Sandbox(size, port) as sandbox:
        warm_up = _fresh(work_dir / dataset / "warm-up")
        reference = measure(
            "pipeline", -1, Task(sandbox.url, warm_up, concurrency), sandbox, timeout
        )
        if reference.failure is not None or reference.counts is None:
            raise RuntimeError(f"{dataset}: the warm-up sync failed: {reference.failure}")
        log(f"{dataset}: warm-up sync done, reference rows {reference.counts}")
        for run in range(runs):
            run_dir = _fresh(work_dir / dataset / f"run-{run}")
            for name in run_order(contenders, run):
                result = measure(
                    name, run, Task(sandbox.url, run_dir, concurrency), sandbox, timeout
                )
                check(result, reference.counts)
                measurements.append(result)
                log(_progress_line(dataset, result))
            shutil.rmtree(run_dir)
        shutil.rmtree(warm_up)
    elapsed = time.perf_counter() - started
    return DatasetRun(
        dataset, asdict(size), concurrency, runs, reference.counts, measurements, elapsed
    )


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _progress_line(dataset: str, result: Measurement) -> str:
    head = f"{dataset} run {result.run} {result.contender}:"
    if not result.ok:
        return f"{head} FAILED {result.failure}"
    rss, requests_made = result.peak_rss_bytes / 2**20, sum(result.requests.values())
    return f"{head} {result.wall_seconds:.2f} s, {rss:.0f} MiB, {requests_made} requests"


def validate_contenders(names: list[str]) -> list[str]:
    """The contenders in canonical order; `all` means every one."""
    if names == ["all"]:
        return list(CONTENDERS)
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown:
        raise ValueError(f"unknown contenders {unknown}; known: {', '.join(CONTENDERS)}")
    return [name for name in CONTENDERS if name in names]
