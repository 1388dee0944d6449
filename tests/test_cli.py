"""`qcw`, the command line: sync with progress, read-only SQL in four formats, status, help."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxServer
from tests.helpers import REPO_ROOT, held_in_another_process

QCW = Path(sys.executable).with_name("qcw")
README = REPO_ROOT / "README.md"


def readme_queries() -> list[list[str]]:
    """The `qcw` arguments of every query the README shows: each ```sql block, and each
    `.venv/bin/qcw sql ...` line of its shell blocks (comments dropped)."""
    text = README.read_text()
    blocks = [["sql", block] for block in re.findall(r"```sql\n(.*?)```", text, re.DOTALL)]
    lines = re.findall(r"^\.venv/bin/qcw (sql .*)$", text, re.MULTILINE)
    return blocks + [shlex.split(line, comments=True) for line in lines]


def qcw(
    *arguments: str, env: dict[str, str] | None = None, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script, in a process of its own."""
    environment = {**os.environ, **(env or {})}
    for name in ("QC_USER_ID", "QC_API_TOKEN", "WAREHOUSE_PATH"):
        if env is None or name not in env:
            environment.pop(name, None)
    if home is not None:
        environment["HOME"] = str(home)
    return subprocess.run(
        [str(QCW), *arguments],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory):
    """A warehouse synced by `qcw sync` from a sandbox, and that command's output."""
    path = tmp_path_factory.mktemp("cli") / "w.duckdb"
    with SandboxServer() as sandbox:
        env = {"QC_USER_ID": SANDBOX_USER_ID, "QC_API_TOKEN": SANDBOX_API_TOKEN}
        options = [
            "--warehouse",
            str(path),
            "--api-url",
            sandbox.url,
            "--concurrency",
            "8",
            "--requests-per-second",
            "0",
        ]
        first = qcw("sync", *options, env=env)
        sandbox.reset_stats()
        second = qcw("sync", *options, env=env)
        order_requests = sandbox.stats()["requests"].get("backtests/orders/read", 0)
    return path, first, second, order_requests


def test_sync_shows_progress_and_a_summary_and_resyncs_for_free(synced):
    path, first, second, order_requests = synced
    assert first.returncode == 0, first.stderr
    for step, counts in [
        ("backtests", "projects listed"),
        ("statistics", "backtests read"),
        ("orders", "orders/s"),
    ]:  # a bar per step, each with its count, rate and ETA
        (bar,) = [line for line in first.stderr.splitlines() if line.startswith(f"{step} ")]
        assert counts in bar and "ETA" in bar and "/s" in bar, bar
    assert "from the environment" in first.stderr
    assert "API requests" in first.stdout and "backtests/orders/read" in first.stdout
    with duckdb.connect(str(path), read_only=True) as conn:
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert orders > 1000 and f"{orders:,}" in first.stdout
    assert second.returncode == 0 and order_requests == 0


def test_sync_without_credentials_says_where_it_looked(tmp_path: Path):
    done = qcw("sync", "--warehouse", str(tmp_path / "w.duckdb"), home=tmp_path)
    assert done.returncode == 1
    assert "QC_USER_ID and QC_API_TOKEN" in done.stderr and "lean login" in done.stderr
    assert "Traceback" not in done.stderr


def test_sql_prints_a_table_by_default(synced):
    path = synced[0]
    done = CliRunner().invoke(
        main, ["sql", "SELECT count(*) AS n FROM fills", "--warehouse", str(path)]
    )
    assert done.exit_code == 0, done.output
    with duckdb.connect(str(path), read_only=True) as conn:
        fills = conn.execute("SELECT count(*) FROM fills").fetchone()[0]
    assert "┃ n" in done.output and str(fills) in done.output


@pytest.mark.parametrize(
    ("options", "shown", "footer"),
    [
        ([], 1000, "the first 1,000 rows; --max-rows 0 shows all"),
        (["--max-rows", "3"], 3, "the first 3 rows"),
        (["--max-rows", "0"], 1500, "1,500 rows"),
    ],
)
def test_the_table_shows_at_most_max_rows_and_says_so(
    synced, options: list[str], shown: int, footer: str
):
    query = "SELECT range AS n FROM range(1500)"
    done = CliRunner().invoke(main, ["sql", query, *options, "--warehouse", str(synced[0])])
    assert done.exit_code == 0, done.output
    values = re.findall(r"^│ +(\d+) *│$", done.output, re.MULTILINE)
    assert [int(v) for v in values] == list(range(shown))
    assert done.output.splitlines()[-1].startswith(footer)


@pytest.mark.parametrize("output_format", ["csv", "json", "parquet"])
def test_sql_writes_csv_json_and_parquet_files(synced, tmp_path: Path, output_format: str):
    path, out = synced[0], tmp_path / f"top.{output_format}"
    example = REPO_ROOT / "sql" / "examples" / "top_backtests_by_sharpe.sql"
    done = CliRunner().invoke(
        main,
        [
            "sql",
            "-f",
            str(example),
            "--format",
            output_format,
            "-o",
            str(out),
            "--warehouse",
            str(path),
        ],
    )
    assert done.exit_code == 0, done.output
    with duckdb.connect() as conn:
        if output_format == "json":
            rows = json.loads(out.read_text())
            assert rows and {"backtest", "sharpe_ratio"} <= set(rows[0])
        else:
            reader = "read_csv" if output_format == "csv" else "read_parquet"
            count = conn.execute(f"SELECT count(*) FROM {reader}(?)", [str(out)]).fetchone()[0]
            assert 0 < count <= 10


@pytest.mark.parametrize("arguments", readme_queries(), ids=lambda a: a[-1][:40])
def test_qcw_sql_answers_every_query_in_the_readme(
    synced, arguments: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)  # where a README line's `-o FILE` writes
    arguments = [str(REPO_ROOT / a) if a.startswith("sql/") else a for a in arguments]
    done = CliRunner().invoke(main, [*arguments, "--warehouse", str(synced[0])])
    assert done.exit_code == 0, done.output
    if "-o" in arguments:
        written = (tmp_path / arguments[arguments.index("-o") + 1]).read_text().splitlines()
        assert len(written) > 1, "a header and no rows"
    else:
        (count,) = re.findall(r"^ *([\d,]+) rows?$", done.output, re.MULTILINE)
        assert int(count.replace(",", "")) > 0, done.output


def test_sql_errors_are_clear_messages_and_writes_are_refused(synced):
    path = synced[0]
    for query, expected in [
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("DELETE FROM orders", "read-only"),
    ]:
        done = CliRunner().invoke(main, ["sql", query, "--warehouse", str(path)])
        assert done.exit_code == 1, query
        assert expected in done.output and "Traceback" not in done.output
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] > 0


def test_sql_during_a_sync_waits_for_it_or_with_wait_0_says_why_not(synced):
    path, query = synced[0], "SELECT count(*) AS n FROM orders"
    with held_in_another_process(path, 1.5):
        refused = CliRunner().invoke(main, ["sql", query, "--wait", "0", "--warehouse", str(path)])
        waited = CliRunner().invoke(main, ["sql", query, "--warehouse", str(path)])
    assert refused.exit_code == 1 and "open in another process" in refused.output
    assert "Traceback" not in refused.output
    assert waited.exit_code == 0, waited.output
    assert "waiting up to 60 s" in waited.output and "1 row" in waited.output


def test_status_shows_rows_backtests_by_status_and_the_last_sync(synced):
    done = CliRunner().invoke(main, ["status", "--warehouse", str(synced[0])])
    assert done.exit_code == 0, done.output
    for expected in ("order_events", "Completed.", "Last sync", "orders", "succeeded"):
        assert expected in done.output


@pytest.mark.parametrize("command", [[], ["sync"], ["sql"], ["status"], ["demo"], ["sandbox"]])
def test_every_command_has_help(command: list[str]):
    done = CliRunner().invoke(main, [*command, "--help"])
    assert done.exit_code == 0 and "Usage" in done.output.replace("usage", "Usage")


def test_python_dash_m_pipelines_is_the_same_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "sync" in done.stdout and "python -m pipelines" in done.stdout
