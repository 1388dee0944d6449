"""`make demo`'s program, as a new user sees it: one line per step, one table, the requests,
and what to try next; no Dagster log lines, no Python dicts, nothing cut."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pipelines.sync import STEPS
from tests.helpers import REPO_ROOT


def test_the_demo_reads_like_a_product(tmp_path: Path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "WAREHOUSE_PATH": str(tmp_path / "w.duckdb"), "DAGSTER_HOME": str(home)}
    env.pop("COLUMNS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.demo"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = output.splitlines()
    steps = [line for line in lines if line.split()[:1] in ([s.name] for s in STEPS)]
    assert len(steps) == len(STEPS) and all(" s " in line for line in steps)
    assert any(line.strip().startswith("orders") and "order events" not in line for line in steps)
    assert "The best backtests by Sharpe ratio" in output and "filled orders" in output
    assert "API requests: " in output and "backtests/orders/read" in output
    assert "Next:" in output and output.count(".venv/bin/qcw") >= 2
    assert "DEBUG" not in output and " - dagster - " not in output
    assert "credentials of user" not in output and "{'" not in output
    assert "…" not in output  # nothing cut
    assert all(len(line) <= 80 for line in steps)
