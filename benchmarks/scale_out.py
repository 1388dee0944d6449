"""Scale-out on a DuckLake: `python -m benchmarks.scale_out`.

    .venv/bin/python -m benchmarks.scale_out --dataset scale --workers 1,2,4,8 --runs 3 \\
        --latency-ms 100 --budget 40

Three measurements in one run, against one `--warm` sandbox process (`benchmarks.harness`)
whose every API request takes `--latency-ms` and which admits `--budget` requests/s (429 with
`Retry-After` above it: the account's budget), and one throwaway PostgreSQL cluster and moto
S3 server (`tests/services.py`), started and stopped here:

1. **Scale-out.** A full sync into a new DuckLake (a fresh PostgreSQL database as its catalog, a
   fresh S3 prefix as its data path) by N workers, for each N of `--workers`: one process runs
   the steps that are not per project (projects, symbol properties), which creates the lake
   before the fan-out; then the projects are split into N equal shares and N processes each
   run every per-project step, in `STEPS` order, for their share (what a Dagster partition run
   does, without Dagster). Each worker's client sends at most 2 requests in flight (the real
   API's shape) under a ceiling of budget/N requests/s: the pool-sized share, so that together
   they stay within the budget. `--runs` runs of each N, the Ns interleaved (reversed every
   other run). Measured: the wall time of the whole sync and of the fan-out, the API requests
   and 429s (the sandbox's counts), the rate the workers reach together (requests the sandbox
   admitted / the fan-out's wall time; the busiest second is sampled too), the commit conflicts
   each worker's warehouse retried (`store.conflicts`), and the rows the lake holds (every run
   of every N must hold the same).
2. **Readers during a sync.** One `qcw sync` process (2 in flight, ceiling `--budget`) into a
   DuckDB file, then into a new lake; meanwhile `qcw sql "SELECT count(*) FROM orders"` runs
   every `--reader-every` seconds, one at a time, each in its own process (the machinery of
   `benchmarks.readers`); then `--quiet-runs` times with nobody writing. Reported: each
   backend's reader latency (count, median, 95th percentile, max) and its wait (latency minus
   the quiet median).
3. **Append-only against retries.** `--writers` processes each write the rows of their own key
   `--replaces` times, `--rows` rows each time, into one table of a new lake (started
   together, after each has attached): `replace` runs `BEGIN; DELETE … WHERE key = ?; INSERT;
   COMMIT` again after each commit conflict (`retrying_conflicts`), `append` only inserts the
   rows with a new `load_id` (the read path picks the latest per key). Reported: the wall time
   from the start signal until every writer is done, the conflicts retried (and any that
   survived the retries), and what the current rows cost to read afterwards.

The runner prints markdown tables and writes `benchmarks/results/scale-out-<dataset>.json`;
it exits 1 if any run failed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import DATASETS as SUITE_DATASETS
from benchmarks.harness import REPO_ROOT, Sandbox
from benchmarks.rate import Admin
from benchmarks.readers import Reader, _percentile, qcw, read_once
from benchmarks.readers import Run as ReaderRun
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxSize

RESULTS_DIR = Path(__file__).parent / "results"
DATASETS: dict[str, SandboxSize] = {
    **SUITE_DATASETS,
    # About 600 API requests: 45-60 s for one worker at 100 ms a request and 2 in flight.
    "scale": SandboxSize(projects=24, backtests_per_project=8, orders_per_backtest=200),
}
"""The suite's datasets and `scale`; `--dataset` also takes `PROJECTSxBACKTESTSxORDERS`."""
DEFAULT_DATASET = "scale"
IN_FLIGHT = 2  # each worker's requests in flight: the real API's shape
BUCKET = "scale-out"
CHILD = "--child"  # argv[1] of a worker process: `--child KIND SPEC`
_lake_names = itertools.count()


def dataset_size(name: str) -> SandboxSize:
    """The sandbox size `name` gives: a dataset's name, or `PROJECTSxBACKTESTSxORDERS`."""
    if name in DATASETS:
        return DATASETS[name]
    match = re.fullmatch(r"(\d+)x(\d+)x(\d+)", name)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {name!r}: one of {', '.join(DATASETS)}, or PROJECTSxBACKTESTSxORDERS"
        )
    return SandboxSize(*(int(part) for part in match.groups()))


def worker_ceiling(budget: float, workers: int, headroom: float = 1.0) -> float | None:
    """A worker's rate ceiling: its share of the budget times `headroom` (None: no budget, no
    ceiling)."""
    return budget * headroom / workers if budget > 0 else None


def shares(projects: list[int], workers: int) -> list[list[int]]:
    """The projects in `workers` shares of equal size (one more in the first ones when they do
    not divide), the empty ones left out."""
    size, extra = divmod(len(projects), workers)
    out, start = [], 0
    for index in range(workers):
        end = start + size + (index < extra)
        out.append(projects[start:end])
        start = end
    return [share for share in out if share]


# --- The worker processes -----------------------------------------------------------------------


def child_sync(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the steps `spec` names, for its projects (None: all), into its lake: one worker. Its
    timings, requests and the conflicts its warehouse retried; after the projects step, the
    project ids the lake holds."""
    from pipelines import warehouse
    from pipelines.qc.client import QuantConnectClient, RetrySettings
    from pipelines.sync import step_named

    started = time.perf_counter()
    lake = warehouse.Lake.with_env(spec["catalog"], spec["data_path"])
    projects = frozenset(spec["projects"]) if spec["projects"] is not None else None
    client = QuantConnectClient(
        SANDBOX_USER_ID,
        SANDBOX_API_TOKEN,
        spec["url"],
        retry=RetrySettings(max_attempts=10),
        max_concurrency=spec["concurrency"],
        max_requests_per_second=spec["rate"],
    )
    out: dict[str, Any] = {}
    with warehouse.open_writer(lake, author=spec["author"]) as store:
        ready = time.perf_counter()
        steps: dict[str, float] = {}
        for name in spec["steps"]:
            step_started = time.perf_counter()
            step_named(name).run(client, store, projects=projects)
            steps[name] = round(time.perf_counter() - step_started, 2)
        if "projects" in spec["steps"]:
            with store.holding() as conn:
                rows = conn.execute("SELECT project_id FROM projects ORDER BY 1").fetchall()
            out["projects"] = [row[0] for row in rows]
        out["conflicts"] = store.conflicts
    client.close()
    state = client.rate_state()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return out | {
        "seconds": time.perf_counter() - started,
        "sync_seconds": time.perf_counter() - ready,
        "step_seconds": steps,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "requests": sum(client.requests_made.values()),
        "retries": sum(client.retries.values()),
        "throttles": state.throttles,
        "backoffs": state.backoffs,
    }


def child_writer(spec: dict[str, Any]) -> dict[str, Any]:
    """One writer of the append-only/retries comparison: attach, say `ready`, wait for `go` on
    stdin, then write the rows of its key `times` times, the `replace` or the `append` way."""
    from pipelines.warehouse.connection import transaction
    from pipelines.warehouse.lake import Lake, connect_lake, is_conflict, retrying_conflicts

    lake = Lake.with_env(spec["catalog"], spec["data_path"])
    conn = connect_lake(lake)
    key, rows, table = spec["key"], int(spec["rows"]), spec["table"]
    retried = survived = 0

    def count(_error: BaseException) -> None:
        nonlocal retried
        retried += 1

    def insert(load_id: int) -> None:
        conn.execute(
            f"INSERT INTO {table} SELECT ?, ?, i, random() FROM range({rows}) r(i)", [key, load_id]
        )

    def replace(load_id: int) -> None:
        with transaction(conn):
            conn.execute(f"DELETE FROM {table} WHERE key = ?", [key])
            insert(load_id)

    write = replace if spec["variant"] == "replace" else insert
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for _ in range(spec["times"]):
        load_id = time.time_ns()  # increasing: the latest load of a key is its largest id
        try:
            retrying_conflicts(lambda load_id=load_id: write(load_id), on_retry=count)
        except Exception as error:
            if not is_conflict(error):
                raise
            survived += 1
    seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "retried": retried, "survived": survived}


def child_main(kind: str, spec_json: str) -> None:
    """A worker process: run it and print its outcome as the last line of stdout."""
    spec = json.loads(spec_json)
    outcome = child_sync(spec) if kind == "sync" else child_writer(spec)
    print(json.dumps(outcome), flush=True)


# --- The services -------------------------------------------------------------------------------


@dataclass
class Services:
    """The sandbox, PostgreSQL and moto's S3, with the environment that reaches them."""

    sandbox: Sandbox
    admin: Admin
    postgres: Any  # tests.services.Postgres
    s3: Any  # tests.services.S3
    work: Path

    @property
    def url(self) -> str:
        return self.sandbox.url

    def env(self, **extra: str) -> dict[str, str]:
        """A child's environment: the sandbox's credentials, S3's settings, no warehouse of the
        caller's."""
        env = os.environ | self.s3.environment() | {"PYTHONWARNINGS": "ignore"}
        for variable in ("WAREHOUSE_CATALOG", "WAREHOUSE_DATA_PATH", "WAREHOUSE_PATH"):
            env.pop(variable, None)
        env |= {"QC_API_URL": self.url, "QC_USER_ID": SANDBOX_USER_ID}
        env |= {"QC_API_TOKEN": SANDBOX_API_TOKEN}
        return env | extra

    def new_lake(self, label: str) -> Any:
        """A new, empty lake: a fresh database, a fresh S3 prefix."""
        from pipelines.warehouse import Lake

        name = f"{label}_{next(_lake_names)}"
        self.postgres.create_database(name)
        catalog = f"postgres:{self.postgres.dsn(name)}"
        return Lake.with_env(catalog, f"s3://{BUCKET}/{name}/", self.s3.environment())


@contextmanager
def services(size: SandboxSize, work: Path) -> Iterator[Services]:
    """The sandbox (every page generated up front), PostgreSQL and S3, stopped afterwards."""
    from tests.services import moto_s3, postgres_cluster

    with ExitStack() as stack:
        sandbox = stack.enter_context(Sandbox(size))
        postgres = stack.enter_context(postgres_cluster())
        s3 = stack.enter_context(moto_s3())
        s3.create_bucket(BUCKET)
        admin = Admin(sandbox.url)
        try:
            yield Services(sandbox, admin, postgres, s3, work)
        finally:
            admin.configure()


def spawn(kind: str, spec: dict[str, Any], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A worker process; its stderr goes to `log`."""
    command = [sys.executable, "-m", "benchmarks.scale_out", CHILD, kind, json.dumps(spec)]
    with log.open("ab") as err:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )


def outcome_of(process: subprocess.Popen, log: Path, timeout: float) -> dict[str, Any]:
    """What a worker printed last; RuntimeError with its log's tail if it failed."""
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise RuntimeError(f"a worker ran over {timeout:g} s") from None
    lines = [line for line in out.splitlines() if line.strip()]
    if process.returncode != 0 or not lines:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        raise RuntimeError(f"a worker exited {process.returncode}: {tail}")
    return json.loads(lines[-1])


class RateSampler:
    """The requests the sandbox admits each second, sampled from its counts while it runs."""

    def __init__(self, url: str) -> None:
        self.admin = Admin(url)
        self.per_second: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        last = self.admin.counts()
        while not self._stop.wait(1.0):
            now = self.admin.counts()
            self.per_second.append((now[0] - last[0]) - (now[1] - last[1]))
            last = now

    def __enter__(self) -> RateSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- 1. Scale-out --------------------------------------------------------------------------------


@dataclass
class FanOut:
    """One full sync by `workers` workers into a new lake."""

    workers: int
    run: int
    ok: bool = False
    failure: str | None = None
    wall_seconds: float = 0.0  # the setup step and the fan-out, from the runner
    setup_seconds: float = 0.0
    fanout_seconds: float = 0.0
    setup_requests: int = 0
    requests: int = 0  # API requests of the fan-out, as the sandbox counts them (429s too)
    rate_limited: int = 0  # of those, refused with 429
    ceiling_per_worker: float | None = None
    busiest_second: int = 0  # the most requests the sandbox admitted in one sampled second
    conflicts: int = 0  # commit conflicts the workers' warehouses retried
    worker_conflicts: list[int] = field(default_factory=list)
    worker_seconds: list[float] = field(default_factory=list)
    worker_throttles: list[int] = field(default_factory=list)
    worker_cpu_seconds: list[float] = field(default_factory=list)
    worker_step_seconds: list[dict[str, float]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def requests_per_second(self) -> float:
        """The requests the sandbox admitted per second of the fan-out."""
        admitted = self.requests - self.rate_limited
        return admitted / self.fanout_seconds if self.fanout_seconds else 0.0


COUNTED_TABLES = ("projects", "backtests", "orders", "order_events")


def lake_rows(lake: Any) -> dict[str, int]:
    """Rows of the counted tables of a lake."""
    from pipelines import warehouse

    with warehouse.connect_reader(lake) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED_TABLES}


def measure_fanout(workers: int, run: int, svc: Services, args: argparse.Namespace) -> FanOut:
    """One full sync by `workers` workers into a new lake."""
    from pipelines.sync import STEPS

    result = FanOut(
        workers, run, ceiling_per_worker=worker_ceiling(args.budget, workers, args.headroom)
    )
    lake = svc.new_lake("fanout")
    folder = Path(tempfile.mkdtemp(prefix=f"fanout-{workers}-", dir=svc.work))
    env = svc.env()
    base = {"url": svc.url, "catalog": lake.catalog, "data_path": lake.data_path}
    base |= {"concurrency": IN_FLIGHT}
    try:
        counts = svc.admin.counts()
        started = time.perf_counter()
        setup = {**base, "steps": [s.name for s in STEPS if not s.per_project], "projects": None}
        setup |= {"rate": worker_ceiling(args.budget, 1), "author": "setup"}
        log = folder / "setup.log"
        projects = outcome_of(spawn("sync", setup, env, log), log, args.timeout)["projects"]
        result.setup_seconds = time.perf_counter() - started
        after_setup = svc.admin.counts()
        result.setup_requests = after_setup[0] - counts[0]
        per_project = [s.name for s in STEPS if s.per_project]
        fanned_at = time.perf_counter()
        with RateSampler(svc.url) as sampler:
            processes = []
            for index, share in enumerate(shares(projects, workers)):
                spec = {**base, "steps": per_project, "projects": share}
                spec |= {"rate": result.ceiling_per_worker, "author": f"worker {index}"}
                log = folder / f"worker-{index}.log"
                processes.append((spawn("sync", spec, env, log), log))
            outcomes = [outcome_of(p, log, args.timeout) for p, log in processes]
        done = time.perf_counter()
        result.fanout_seconds, result.wall_seconds = done - fanned_at, done - started
        after = svc.admin.counts()
        result.requests = after[0] - after_setup[0]
        result.rate_limited = after[1] - after_setup[1]
        result.busiest_second = max(sampler.per_second, default=0)
        result.worker_conflicts = [o["conflicts"] for o in outcomes]
        result.worker_seconds = [round(o["seconds"], 2) for o in outcomes]
        result.worker_throttles = [o["throttles"] for o in outcomes]
        result.worker_cpu_seconds = [round(o["cpu_seconds"], 2) for o in outcomes]
        result.worker_step_seconds = [o["step_seconds"] for o in outcomes]
        result.conflicts = sum(result.worker_conflicts)
        result.rows = lake_rows(lake)
        result.ok = True
    except Exception as error:  # recorded, not raised: the other runs go on
        result.failure = str(error)
    return result


def run_scale_out(svc: Services, args: argparse.Namespace, log: Callable[[str], None]):
    """Every N of `args.workers`, `args.runs` times, interleaved."""
    svc.admin.configure(rate_limit=args.budget or None, latency_ms=args.latency_ms)
    results: list[FanOut] = []
    for run in range(args.runs):
        order = args.workers if run % 2 == 0 else list(reversed(args.workers))
        for workers in order:
            result = measure_fanout(workers, run, svc, args)
            results.append(result)
            if result.ok:
                log(
                    f"scale-out run {run} with {workers} workers: {result.wall_seconds:.1f} s "
                    f"(fan-out {result.fanout_seconds:.1f} s), {result.requests} requests, "
                    f"{result.rate_limited} 429s, {result.conflicts} conflicts retried"
                )
            else:
                log(f"scale-out run {run} with {workers} workers FAILED: {result.failure}")
    reference = next((r.rows for r in results if r.ok), None)
    for result in results:
        if result.ok and result.rows != reference:
            result.ok, result.failure = False, f"rows {result.rows} != {reference}"
    return results


def summarize_scale_out(results: list[FanOut], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per N: the medians over its successful runs, and the speedup over 1 worker's."""
    rows = []
    for workers in args.workers:
        ok = [r for r in results if r.workers == workers and r.ok]
        if not ok:
            rows.append({"workers": workers, "runs": 0})
            continue

        def median(value: Callable[[FanOut], float], ok: list[FanOut] = ok) -> float:
            return statistics.median(value(r) for r in ok)

        rows.append(
            {
                "workers": workers,
                "runs": len(ok),
                "wall_seconds": median(lambda r: r.wall_seconds),
                "setup_seconds": median(lambda r: r.setup_seconds),
                "fanout_seconds": median(lambda r: r.fanout_seconds),
                "requests": median(lambda r: r.requests),
                "rate_limited": median(lambda r: r.rate_limited),
                "requests_per_second": median(lambda r: r.requests_per_second),
                "busiest_second": median(lambda r: r.busiest_second),
                "ceiling_per_worker": ok[0].ceiling_per_worker,
                "budget": args.budget,
                "conflicts": median(lambda r: r.conflicts),
                "worker_cpu_seconds": median(lambda r: sum(r.worker_cpu_seconds)),
            }
        )
    base = next((r for r in rows if r["workers"] == 1 and r["runs"]), None)
    for row in rows:
        if base and row["runs"]:
            row["speedup"] = base["wall_seconds"] / row["wall_seconds"]
            row["fanout_speedup"] = base["fanout_seconds"] / row["fanout_seconds"]
    return rows


# --- 2. Readers during a sync ---------------------------------------------------------------------


def measure_readers(backend: str, svc: Services, args: argparse.Namespace) -> ReaderRun:
    """One `qcw sync` into a new file or lake, `qcw sql` every `args.reader_every` seconds
    meanwhile (once the warehouse exists), then `args.quiet_runs` times alone."""
    run = ReaderRun(backend)
    folder = Path(tempfile.mkdtemp(prefix=f"readers-{backend}-", dir=svc.work))
    path = folder / "warehouse.duckdb"
    speed = {"QC_MAX_CONCURRENCY": str(IN_FLIGHT)}
    speed["QC_MAX_REQUESTS_PER_SECOND"] = f"{worker_ceiling(args.budget, 1) or 0:g}"
    env = svc.env(**speed)
    if backend == "lake":
        from pipelines.warehouse.lake_warehouse import create_lake

        lake = svc.new_lake("readers")
        create_lake(lake)  # the readers read from the start; the file's, once it exists
        env |= {"WAREHOUSE_CATALOG": lake.catalog, "WAREHOUSE_DATA_PATH": lake.data_path or ""}
    started = time.perf_counter()
    sync = qcw(REPO_ROOT, env, "sync", "--warehouse", str(path))
    while backend == "file" and not path.exists() and sync.poll() is None:
        time.sleep(0.05)
    next_at = time.perf_counter()
    while sync.poll() is None:
        at = time.perf_counter() - started
        seconds, ok, error = read_once(REPO_ROOT, env, path, args.reader_wait)
        run.readers.append(Reader(round(at, 2), seconds, ok, "" if ok else error))
        while next_at <= time.perf_counter():  # a reader that overran its tick skips it
            next_at += args.reader_every
        time.sleep(max(0.0, next_at - time.perf_counter()))
    run.sync_seconds = time.perf_counter() - started
    _, sync_error = sync.communicate()
    run.sync_ok = sync.returncode == 0
    if not run.sync_ok:
        print(f"readers, {backend}: the sync failed: {sync_error.strip()[-500:]}", file=sys.stderr)
    quiet = [read_once(REPO_ROOT, env, path, args.reader_wait)[0] for _ in range(args.quiet_runs)]
    run.quiet_seconds = statistics.median(quiet) if quiet else 0.0
    return run


def reader_summary(run: ReaderRun) -> dict[str, Any]:
    """A backend's readers: their latency (count, median, 95th percentile, max) and waits."""
    latencies = sorted(r.seconds for r in run.readers)
    return {
        "backend": run.label,
        "sync_ok": run.sync_ok,
        "sync_seconds": run.sync_seconds,
        "quiet_seconds": run.quiet_seconds,
        "count": len(latencies),
        "latency_p50": statistics.median(latencies) if latencies else 0.0,
        "latency_p95": _percentile(latencies, 0.95),
        "latency_max": latencies[-1] if latencies else 0.0,
        **run.summary(),
    }


def run_readers(svc: Services, args: argparse.Namespace, log: Callable[[str], None]):
    """The readers on the file, then on the lake."""
    svc.admin.configure(rate_limit=args.budget or None, latency_ms=args.latency_ms)
    runs = []
    for backend in ("file", "lake"):
        run = measure_readers(backend, svc, args)
        runs.append(run)
        s = reader_summary(run)
        log(
            f"readers on the {backend}: sync {run.sync_seconds:.1f} s, {s['count']} readers, "
            f"p95 {s['latency_p95']:.2f} s, {s['failed']} failed"
        )
    return runs


# --- 3. Append-only against retries ---------------------------------------------------------------


@dataclass
class Writers:
    """One round of the append-only/retries comparison."""

    variant: str  # replace | append
    run: int
    ok: bool = False
    failure: str | None = None
    wall_seconds: float = 0.0  # from the start signal until every writer is done
    retried: int = 0  # commit conflicts retried, all writers
    survived: int = 0  # conflicts still there after the retries
    worker_retried: list[int] = field(default_factory=list)
    read_seconds: float = 0.0  # reading the current rows afterwards
    current_rows: int = 0
    stored_rows: int = 0


def prepare_writers_lake(lake: Any, table: str, keys: int, rows: int) -> None:
    """The lake, its table and a first load of every key, before the writers attach."""
    from pipelines.warehouse.lake import connect_lake

    with connect_lake(lake) as conn:
        conn.execute(f"CREATE TABLE {table} (key INTEGER, load_id BIGINT, i INTEGER, v DOUBLE)")
        conn.execute(
            f"INSERT INTO {table} SELECT k, 0, i, random() FROM range({keys}) a(k), "
            f"range({rows}) b(i)"
        )


CURRENT_ROWS = {
    "replace": "SELECT count(*) FROM {t}",
    "append": (
        "SELECT count(*) FROM {t} WHERE (key, load_id) IN "
        "(SELECT key, max(load_id) FROM {t} GROUP BY key)"
    ),
}


def measure_writers(variant: str, run: int, svc: Services, args: argparse.Namespace) -> Writers:
    """`args.writers` processes, each writing its key `args.replaces` times, started together."""
    from pipelines.warehouse.lake import connect_lake

    result, table = Writers(variant, run), f"rows_{variant}"
    lake = svc.new_lake(variant)
    folder = Path(tempfile.mkdtemp(prefix=f"writers-{variant}-", dir=svc.work))
    processes = []
    try:
        prepare_writers_lake(lake, table, args.writers, args.rows)
        base = {"catalog": lake.catalog, "data_path": lake.data_path, "table": table}
        base |= {"variant": variant, "rows": args.rows, "times": args.replaces}
        for key in range(args.writers):
            log = folder / f"writer-{key}.log"
            processes.append((spawn("writer", {**base, "key": key}, svc.env(), log), log))
        for process, log in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a writer did not attach: {log.read_text()[-300:]}")
        started = time.perf_counter()
        for process, _ in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outcomes = [outcome_of(p, log, args.timeout) for p, log in processes]
        result.wall_seconds = time.perf_counter() - started
        result.worker_retried = [o["retried"] for o in outcomes]
        result.retried = sum(result.worker_retried)
        result.survived = sum(o["survived"] for o in outcomes)
        with connect_lake(lake, read_only=True) as conn:
            read_at = time.perf_counter()
            result.current_rows = conn.execute(CURRENT_ROWS[variant].format(t=table)).fetchone()[0]
            result.read_seconds = time.perf_counter() - read_at
            result.stored_rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        expected = args.writers * args.rows
        if result.current_rows != expected:
            raise RuntimeError(f"{result.current_rows} current rows, not {expected}")
        result.ok = result.survived == 0
        if not result.ok:
            result.failure = f"{result.survived} conflicts survived the retries"
    except Exception as error:
        result.failure = str(error)
        for process, _ in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return result


def run_writers(svc: Services, args: argparse.Namespace, log: Callable[[str], None]):
    """Both variants, `args.runs` times, their order alternating."""
    results = []
    for run in range(args.runs):
        for variant in ("replace", "append") if run % 2 == 0 else ("append", "replace"):
            result = measure_writers(variant, run, svc, args)
            results.append(result)
            log(
                f"writers run {run} {variant}: {result.wall_seconds:.1f} s, "
                f"{result.retried} retried" + ("" if result.ok else f" FAILED: {result.failure}")
            )
    return results


def summarize_writers(results: list[Writers]) -> list[dict[str, Any]]:
    """Per variant: the medians over its successful runs."""
    rows = []
    for variant in ("replace", "append"):
        ok = [r for r in results if r.variant == variant and r.ok]
        row: dict[str, Any] = {"variant": variant, "runs": len(ok)}
        if ok:
            for name in ("wall_seconds", "retried", "read_seconds", "stored_rows"):
                row[name] = statistics.median(getattr(r, name) for r in ok)
            row["most_retried_by_one_writer"] = max(max(r.worker_retried) for r in ok)
        rows.append(row)
    return rows


# --- The report -----------------------------------------------------------------------------------


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def report(saved: dict[str, Any], args: argparse.Namespace) -> str:
    """The results as markdown tables."""
    size = dataset_size(args.dataset)
    lines = [
        f"dataset {args.dataset} ({size.key}); {args.latency_ms:g} ms a request; budget "
        f"{args.budget:g} requests/s; {IN_FLIGHT} in flight a worker; {args.runs} run(s), medians",
    ]
    if "scale_out" in saved:
        lines += [
            "",
            "| workers | wall s | speedup | setup s | fan-out s | requests | requests/s "
            "together | busiest s | budget | ceiling/worker | 429s | conflicts retried "
            "| workers' CPU s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in saved["scale_out"]["summary"]:
            if not row["runs"]:
                lines.append(f"| {row['workers']} | failed |" + " |" * 11)
                continue
            lines.append(
                f"| {row['workers']} | {row['wall_seconds']:.1f} | "
                f"{_number(row.get('speedup'), 2)} | {row['setup_seconds']:.1f} | "
                f"{row['fanout_seconds']:.1f} | "
                f"{row['requests']:.0f} | {row['requests_per_second']:.1f} | "
                f"{row['busiest_second']:.0f} | {args.budget:g} | "
                f"{_number(row['ceiling_per_worker'])} | {row['rate_limited']:.0f} | "
                f"{row['conflicts']:.0f} | {row['worker_cpu_seconds']:.1f} |"
            )
    if "readers" in saved:
        lines += [
            "",
            f"`qcw sql` (count of orders) every {args.reader_every:g} s during one `qcw sync`:",
            "",
            "| backend | sync s | readers | failed | quiet s | latency p50 s | latency p95 s "
            "| latency max s | wait p95 s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in saved["readers"]["summary"]:
            lines.append(
                f"| {s['backend']} | {s['sync_seconds']:.1f} | {s['count']} | {s['failed']} | "
                f"{s['quiet_seconds']:.2f} | {s['latency_p50']:.2f} | {s['latency_p95']:.2f} | "
                f"{s['latency_max']:.2f} | {s['wait_p95']:.2f} |"
            )
    if "writers" in saved:
        lines += [
            "",
            f"{args.writers} writers x {args.replaces} writes of {args.rows} rows, one table:",
            "",
            "| variant | wall s | conflicts retried | most by one writer | read current rows s "
            "| rows stored |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in saved["writers"]["summary"]:
            if not row["runs"]:
                lines.append(f"| {row['variant']} | failed | | | | |")
                continue
            lines.append(
                f"| {row['variant']} | {row['wall_seconds']:.1f} | {row['retried']:.0f} | "
                f"{row['most_retried_by_one_writer']} | {row['read_seconds']:.3f} | "
                f"{row['stored_rows']:.0f} |"
            )
    return "\n".join(lines)


# --- The runner -----------------------------------------------------------------------------------

SECTIONS = ("scale", "readers", "writers")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale_out", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--dataset",
        default=DEFAULT_DATASET,
        help=f"one of {', '.join(DATASETS)}, or PROJECTSxBACKTESTSxORDERS",
    )
    parser.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts")
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="a request's latency")
    parser.add_argument(
        "--budget", type=float, default=40.0, help="the account's requests/s (0: none)"
    )
    parser.add_argument(
        "--headroom",
        type=float,
        default=1.0,
        help="each worker's ceiling is budget x headroom / workers",
    )
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}"
    )
    parser.add_argument("--reader-every", type=float, default=0.5, help="seconds between readers")
    parser.add_argument("--reader-wait", type=float, default=600.0, help="each reader's --wait")
    parser.add_argument("--quiet-runs", type=int, default=5, help="readers with no sync")
    parser.add_argument("--writers", type=int, default=8, help="processes writing one table")
    parser.add_argument("--replaces", type=int, default=5, help="writes of each writer")
    parser.add_argument("--rows", type=int, default=2000, help="rows of each write")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a process may run")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="JSON goes here")
    parser.add_argument(
        "--work-dir", type=Path, help="keep the workers' logs here (default: a temp dir, removed)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run the chosen sections, print their tables and save the JSON."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD]:
        child_main(argv[1], argv[2])
        return
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        size = dataset_size(args.dataset)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    args.workers = [int(n) for n in args.workers.split(",")]
    sections = args.sections.split(",")
    if unknown := set(sections) - set(SECTIONS):
        parser.error(f"unknown sections {sorted(unknown)}")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    began = time.perf_counter()
    saved: dict[str, Any] = {
        "args": {
            k: v if isinstance(v, int | float | list) else str(v) for k, v in vars(args).items()
        },
        "dataset": {"name": args.dataset, **asdict(size)},
    }
    failed = False
    with ExitStack() as stack:
        if args.work_dir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qcw-scale-out-")))
        else:
            work = args.work_dir.resolve()
            work.mkdir(parents=True, exist_ok=True)
        svc = stack.enter_context(services(size, work))
        log(
            f"sandbox {svc.url} ({size.key}), PostgreSQL port {svc.postgres.port}, "
            f"S3 {svc.s3.endpoint}"
        )
        if "scale" in sections:
            fanouts = run_scale_out(svc, args, log)
            saved["scale_out"] = {
                "runs": [
                    asdict(r) | {"requests_per_second": r.requests_per_second} for r in fanouts
                ],
                "summary": summarize_scale_out(fanouts, args),
            }
            failed |= not all(r.ok for r in fanouts)
        if "readers" in sections:
            reader_runs = run_readers(svc, args, log)
            saved["readers"] = {
                "runs": [asdict(r) for r in reader_runs],
                "summary": [reader_summary(r) for r in reader_runs],
            }
            failed |= not all(r.sync_ok and not r.summary()["failed"] for r in reader_runs)
        if "writers" in sections:
            writers = run_writers(svc, args, log)
            saved["writers"] = {
                "runs": [asdict(r) for r in writers],
                "summary": summarize_writers(writers),
            }
            failed |= not all(r.ok for r in writers)
    saved["bench_seconds"] = time.perf_counter() - began
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"scale-out-{args.dataset}.json"
    out.write_text(json.dumps(saved, indent=1))
    print(report(saved, args))
    print(f"\ntook {saved['bench_seconds']:.0f} s; wrote {out}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
