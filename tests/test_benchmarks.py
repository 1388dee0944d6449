"""The benchmark suite's smoke run: every contender once on a tiny dataset. No timing asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.child import CONTENDERS
from benchmarks.harness import REPO_ROOT, run_dataset, run_order, validate_contenders
from benchmarks.report import COLUMNS, markdown, summarize, write_json


def test_runs_alternate_and_keep_the_resync_after_the_full_sync() -> None:
    names = ["pipeline", "resync", "naive", "dlt_default"]
    assert run_order(names, 0) == names
    assert run_order(names, 1) == ["dlt_default", "naive", "pipeline", "resync"]


def test_unknown_contenders_are_rejected() -> None:
    assert validate_contenders(["all"]) == list(CONTENDERS)
    with pytest.raises(ValueError, match="unknown contenders"):
        validate_contenders(["pipeline", "airbyte"])


@pytest.mark.timeout(90)
def test_every_contender_completes_and_loads_the_pipelines_rows(tmp_path: Path) -> None:
    result = run_dataset("tiny", list(CONTENDERS), 1, 4, tmp_path / "work", log=lambda _: None)
    rows = summarize(result)

    assert [row.contender for row in rows] == list(CONTENDERS)
    assert result.reference_counts["orders"] > 100
    failed = {m.contender: m.failure for m in result.measurements if not m.ok}
    assert failed == {}
    resync = next(row for row in rows if row.contender == "resync")
    assert resync.order_requests == 0

    table = markdown(result, rows).splitlines()
    header = next(line for line in table if line.startswith("| contender"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        title for title, _ in COLUMNS.values()
    ]
    assert len(table) == table.index(header) + 2 + len(CONTENDERS)
    saved = json.loads(write_json(result, rows, tmp_path / "results").read_text())
    assert all(set(COLUMNS) <= set(row) for row in saved["summary"])
    assert all(row["wall_seconds"] is not None for row in saved["summary"])


@pytest.mark.timeout(120)
def test_the_readers_benchmark_runs_readers_during_a_slow_sync(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.readers", "--dataset", "tiny"]
    command += ["--quiet-runs", "1", "--results", str(tmp_path)]
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=110)
    assert finished.returncode == 0, finished.stderr
    (run,) = json.loads((tmp_path / "readers-tiny.json").read_text())["runs"]
    assert run["sync_ok"] and run["readers"]
    assert all(reader["ok"] for reader in run["readers"])


@pytest.mark.timeout(120)
def test_the_checkouts_comparison_syncs_each_checkout_and_prints_medians() -> None:
    command = [sys.executable, "-m", "benchmarks.checkouts", ".", "."]
    command += ["--dataset", "tiny", "--runs", "1"]
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=110)
    assert finished.returncode == 0, finished.stderr
    medians = finished.stdout.splitlines()[-1]
    assert medians.startswith(str(REPO_ROOT)) and "re-sync" in medians


@pytest.mark.timeout(120)
def test_the_scale_out_benchmark_measures_workers_readers_and_writers(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.scale_out", "--dataset", "tiny"]
    command += ["--latency-ms", "5", "--workers", "1,2", "--runs", "1", "--quiet-runs", "1"]
    command += ["--writers", "2", "--replaces", "2", "--rows", "100", "--results", str(tmp_path)]
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=110)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "| workers | wall s | speedup |" in finished.stdout
    saved = json.loads((tmp_path / "scale-out-tiny.json").read_text())

    scale = saved["scale_out"]
    assert [row["workers"] for row in scale["summary"]] == [1, 2]
    for row in scale["summary"]:
        assert row["runs"] == 1 and row["wall_seconds"] > row["fanout_seconds"] > 0
        assert row["requests"] > 0 and row["requests_per_second"] > 0 and row["speedup"] > 0
        assert row["rate_limited"] >= 0 and row["conflicts"] >= 0
    (rows, *others) = {json.dumps(run["rows"], sort_keys=True) for run in scale["runs"]}
    assert others == [] and json.loads(rows)["orders"] > 100

    readers = {s["backend"]: s for s in saved["readers"]["summary"]}
    assert set(readers) == {"file", "lake"}
    for summary in readers.values():
        assert summary["sync_ok"] and summary["count"] > 0 and summary["failed"] == 0
        assert summary["latency_max"] >= summary["latency_p95"] >= summary["latency_p50"] > 0

    writers = {row["variant"]: row for row in saved["writers"]["summary"]}
    assert set(writers) == {"replace", "append"}
    assert all(row["runs"] == 1 and row["wall_seconds"] > 0 for row in writers.values())
    assert writers["replace"]["stored_rows"] == 2 * 100
    assert writers["append"]["stored_rows"] == 2 * 100 * 3  # the first load and two appends
