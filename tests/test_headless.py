"""The headless commands of the README, `dg launch --assets '*'` and `dagster asset materialize
-m pipelines.definitions --select '*'`, each in a process of its own against the sandbox: a quiet
log (INFO and above, no Python warnings of ours), and without credentials one line and no run."""

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxServer
from tests.helpers import REPO_ROOT, TABLES, expected_orders, headless_command, headless_sync

DG_LAUNCH = "dg launch"
DAGSTER_MATERIALIZE = "dagster asset materialize"
COMMANDS = (DG_LAUNCH, DAGSTER_MATERIALIZE)
# What Dagster itself prints when `dagster asset materialize` starts, before it loads any code
# of the project (dagster/_cli/asset.py: @superseded(emit_runtime_warning=True)).
SUPERSEDED = "SupersessionWarning: Function `asset_materialize_command` is superseded"


def run_headless(
    name: str, sandbox: SandboxServer, warehouse: Path, home: Path, token: str | None
) -> subprocess.CompletedProcess:
    """The headless command `name` in a fresh process, waited for: the environment of
    `headless_command` with its own instance, `home / "dagster_home"`."""
    command, env = headless_command(sandbox, warehouse, home, token)
    if name == DG_LAUNCH:
        command = [str(Path(sys.executable).with_name("dg")), "launch", "--assets", "*"]
    instance = home / "dagster_home"
    instance.mkdir(exist_ok=True)
    # A fresh instance without this prints Dagster's first-run notices (no dagster.yaml, the
    # telemetry banner) to stderr.
    (instance / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env["DAGSTER_HOME"] = str(instance)
    return subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def python_warnings(name: str, output: str) -> list[str]:
    """The lines of `output` that are Python warnings, but for the one Dagster prints about
    `dagster asset materialize` itself."""
    lines = [line for line in output.splitlines() if "Warning" in line]
    if name == DAGSTER_MATERIALIZE:
        assert sum(SUPERSEDED in line for line in lines) == 1, lines
        lines = [line for line in lines if SUPERSEDED not in line]
    return lines


@pytest.mark.parametrize("name", COMMANDS)
def test_a_headless_command_syncs_everything_with_a_quiet_log(
    name: str, sandbox: SandboxServer, tmp_path: Path
):
    warehouse = tmp_path / "data" / "headless.duckdb"
    done = run_headless(name, sandbox, warehouse, tmp_path, SANDBOX_API_TOKEN)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "DEBUG" not in output
    assert python_warnings(name, output) == []
    assert f"credentials of user {SANDBOX_USER_ID} from the environment" in output
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert orders == sum(expected_orders(sandbox).values()) > 0


@pytest.mark.parametrize("name", COMMANDS)
def test_a_headless_command_without_credentials_starts_no_run_and_says_so_in_one_line(
    name: str, sandbox: SandboxServer, tmp_path: Path
):
    warehouse = tmp_path / "data" / "headless.duckdb"
    failed = run_headless(name, sandbox, warehouse, tmp_path, token=None)
    assert failed.returncode == 1
    assert failed.stdout == ""
    lines = failed.stderr.splitlines()
    error = lines[-1]
    assert error.startswith("Error: no QuantConnect credentials: set QC_USER_ID and QC_API_TOKEN")
    assert str(tmp_path / ".lean" / "credentials") in error
    assert "Traceback" not in failed.stderr
    assert python_warnings(name, failed.stderr) == []
    assert len(lines) <= 3, failed.stderr  # the line, and `dagster`'s own warning (2 lines)
    assert sandbox.stats()["total"] == 0
    assert not warehouse.exists()


def test_the_headless_command_syncs_with_lean_credentials_and_fails_loudly_on_a_wrong_token(
    sandbox: SandboxServer, tmp_path: Path
):
    warehouse, lean = tmp_path / "data" / "headless.duckdb", tmp_path / ".lean" / "credentials"
    lean.parent.mkdir()
    lean.write_text(json.dumps({"user-id": SANDBOX_USER_ID, "api-token": SANDBOX_API_TOKEN}))
    done = headless_sync(sandbox, warehouse, tmp_path, token=None)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"credentials of user {SANDBOX_USER_ID} from the lean CLI's file" in done.stderr
    assert SANDBOX_API_TOKEN not in done.stdout + done.stderr
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert all(counts.values()), counts

    sandbox.reset_stats()
    failed = headless_sync(sandbox, warehouse, tmp_path, "wrong-token")  # the environment wins
    assert failed.returncode != 0
    assert "QC_USER_ID and QC_API_TOKEN" in failed.stdout + failed.stderr
    assert "wrong-token" not in failed.stdout + failed.stderr
    assert sandbox.stats()["total"] <= 2
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        after = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert after == counts
