"""`qcw`, the command line: sync with progress, read-only SQL in four formats (tables that never
cut a digit, files by extension), status, help, version and errors as one message."""

import json
import os
import re
import shlex
import subprocess
import sys
import time
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

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
    assert re.search(r"┃ +n ┃", done.output) and f"│ {fills:,} │" in done.output


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
    values = re.findall(r"^│ +([\d,]+) │$", done.output, re.MULTILINE)
    assert [int(v.replace(",", "")) for v in values] == list(range(shown))
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


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["sync"],
        ["sql"],
        ["status"],
        ["demo"],
        ["sandbox"],
        *(["tag", action] for action in ("add", "remove", "set")),
        ["project", "update"],
        *(["prune", kind] for kind in ("optimizations", "backtests")),
        *(["plot", kind] for kind in ("equity", "optimization", "fills")),
    ],
)
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


# --- output that never hides a digit ------------------------------------------------------------

# A number as the table shows it: digits, thousands separators, a fraction, an exponent.
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])")


def sql_of(arguments: list[str]) -> str:
    """The query of `qcw sql` arguments: the argument, or the file of `-f`."""
    if "-f" in arguments:
        return Path(arguments[arguments.index("-f") + 1]).read_text()
    return arguments[1]


def shown_as(name: str, value: object) -> str:
    """How the table must show a number: thousands separators and every digit (a float's
    shortest repr, a DECIMAL's scale); ids and years without separators."""
    if isinstance(value, Decimal):
        return f"{value:,f}"
    if isinstance(value, int) and re.search(r"(^|_)(id|year)$", name):
        return str(value)
    return f"{value:,}"


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize(
    "arguments", [a for a in readme_queries() if "-o" not in a], ids=lambda a: a[-1][:40]
)
def test_the_readme_queries_show_every_number_and_header_whole(
    synced, arguments: list[str], width: int
):
    path = synced[0]
    arguments = [str(REPO_ROOT / a) if a.startswith("sql/") else a for a in arguments]
    done = CliRunner().invoke(
        main,
        [*arguments, "--max-rows", "0", "--warehouse", str(path)],
        env={"COLUMNS": str(width)},
        terminal_width=width,
    )
    assert done.exit_code == 0, done.output
    assert "…" not in done.output
    with duckdb.connect(str(path), read_only=True) as conn:
        relation = conn.sql(sql_of(arguments))
        names, rows = relation.columns, relation.fetchall()
    lines = done.output.splitlines()
    for name in names:  # each header whole: in the table's header row, or at a block's lines
        assert re.search(rf"(?m)(^|┃ +){re.escape(name)} +[┃|]", done.output), name
    tokens = set(NUMBER.findall(done.output))
    numbers = [
        (name, value)
        for row in rows
        for name, value in zip(names, row, strict=True)
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    ]
    assert numbers
    missing = [(n, v) for n, v in numbers if shown_as(n, v) not in tokens]
    assert not missing, done.output
    rules = [line for line in lines if line.startswith(("┏", "-[ RECORD"))]
    assert rules and all(len(line) <= width for line in rules), rules
    assert lines[-1] == f"{len(rows):,} row{'s' if len(rows) != 1 else ''}"


def test_a_result_too_wide_for_the_terminal_shows_one_block_per_row(synced):
    path, query = synced[0], "SELECT * FROM orders ORDER BY backtest_id, order_id LIMIT 2"
    with duckdb.connect(str(path), read_only=True) as conn:
        names = conn.sql(query).columns
    narrow, wide = (
        CliRunner().invoke(
            main, ["sql", query, "--warehouse", str(path)], env={"COLUMNS": str(width)}
        )
        for width in (120, 2000)
    )
    assert narrow.exit_code == 0 and wide.exit_code == 0, narrow.output + wide.output
    lines = narrow.output.splitlines()
    assert [line for line in lines if line.startswith("-[")] == [
        line for line in lines if re.match(r"-\[ RECORD [12] \]-+\+-+$", line)
    ]
    assert sum(line.startswith("-[ RECORD ") for line in lines) == 2
    for name in names:  # `name | value` once per row, names padded to one width
        assert sum(bool(re.match(rf"{name} +\| ", line)) for line in lines) == 2, name
    assert len({line.index("|") for line in lines if "|" in line and "[" not in line}) == 1
    assert lines[-1] == "2 rows" and "┏" not in narrow.output
    assert wide.output.startswith("┏") and "RECORD" not in wide.output


def test_numbers_are_right_aligned_with_separators_and_null_is_shown(synced):
    query = (
        "SELECT * FROM (VALUES (1, 0.5::DOUBLE, 1234.5::DECIMAL(10, 2), 7, 'a'),"
        " (1234567, 12345.678, NULL, 1234567, NULL)) t(n, x, fee, order_id, s)"
    )
    table, blocks = (
        CliRunner().invoke(
            main, ["sql", query, "--warehouse", str(synced[0])], env={"COLUMNS": str(width)}
        )
        for width in (80, 30)
    )
    assert table.output == (
        "┏━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━┓\n"
        "┃         n ┃          x ┃      fee ┃ order_id ┃ s    ┃\n"
        "┡━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━┩\n"
        "│         1 │        0.5 │ 1,234.50 │        7 │ a    │\n"
        "│ 1,234,567 │ 12,345.678 │     NULL │  1234567 │ NULL │\n"
        "└───────────┴────────────┴──────────┴──────────┴──────┘\n"
        "2 rows\n"
    )
    assert blocks.output == (
        "-[ RECORD 1 ]--------\n"
        "n        |          1\n"
        "x        |        0.5\n"
        "fee      |   1,234.50\n"
        "order_id |          7\n"
        "s        | a\n"
        "-[ RECORD 2 ]--------\n"
        "n        |  1,234,567\n"
        "x        | 12,345.678\n"
        "fee      |       NULL\n"
        "order_id |    1234567\n"
        "s        | NULL\n"
        "2 rows\n"
    )


QUERY_1234 = "SELECT range AS n, 'x' || range AS s FROM range(1234)"


def sql_to(out: Path, path: Path, *options: str) -> Result:
    """`qcw sql QUERY_1234 -o OUT` with `options`."""
    arguments = ["sql", QUERY_1234, "-o", str(out), *options, "--warehouse", str(path)]
    return CliRunner().invoke(main, arguments)


@pytest.mark.parametrize("suffix", ["csv", "json", "parquet", "txt"])
def test_o_file_takes_its_format_from_the_extension_and_says_what_it_wrote(
    synced, tmp_path: Path, suffix: str
):
    out = tmp_path / f"fees.{suffix}"
    done = CliRunner().invoke(
        main, ["sql", QUERY_1234, "-o", str(out), "--warehouse", str(synced[0])]
    )
    assert done.exit_code == 0, done.output
    assert done.stdout == ""
    if suffix == "txt":  # a table, its first --max-rows rows
        assert done.stderr == f"wrote the first 1,000 rows to {out}; --max-rows 0 writes all\n"
        text = out.read_text()
        assert text.startswith("┏") and "│ 999 │ x999 │" in text and "x1000" not in text
        return
    assert done.stderr == f"wrote 1,234 rows to {out}\n"
    with duckdb.connect() as conn:
        if suffix == "json":
            rows = json.loads(out.read_text())
            assert len(rows) == 1234 and rows[1233] == {"n": 1233, "s": "x1233"}
        else:
            reader = "read_csv" if suffix == "csv" else "read_parquet"
            rows = conn.execute(f"SELECT n, s FROM {reader}(?)", [str(out)]).fetchall()
            assert rows == [(n, f"x{n}") for n in range(1234)]
    if suffix == "csv":  # one line per row, each ending in \n alone
        assert out.read_bytes().startswith(b"n,s\n0,x0\n1,x1\n") and b"\r" not in out.read_bytes()


def test_format_wins_over_the_extension(synced, tmp_path: Path):
    out = tmp_path / "fees.txt"
    arguments = [
        "sql",
        QUERY_1234,
        "--format",
        "csv",
        "-o",
        str(out),
        "--warehouse",
        str(synced[0]),
    ]
    done = CliRunner().invoke(main, arguments)
    assert done.exit_code == 0, done.output
    assert out.read_text().startswith("n,s\n0,x0\n") and "wrote 1,234 rows" in done.stderr


@pytest.mark.parametrize("suffix", ["csv", "parquet", "txt"])
def test_o_file_in_a_missing_folder_is_a_one_line_error(synced, tmp_path: Path, suffix: str):
    out = tmp_path / "no" / "such" / f"fees.{suffix}"
    done = CliRunner().invoke(
        main, ["sql", QUERY_1234, "-o", str(out), "--warehouse", str(synced[0])]
    )
    assert done.exit_code == 1
    assert done.stdout == ""
    assert done.stderr == f"Error: cannot write {out}: there is no folder {out.parent}\n"
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give a QUERY or -f FILE"),
        (["SELECT 1", "-f", "EMPTY"], "give a QUERY or -f FILE, not both"),
        ([""], "the query is empty"),
        ([" \n\t"], "the query is empty"),
        (["-f", "EMPTY"], "EMPTY is empty"),
    ],
)
def test_sql_usage_errors_say_what_to_give_and_exit_2(
    synced, tmp_path: Path, arguments: list[str], message: str
):
    empty = tmp_path / "empty.sql"
    empty.write_text("\n")
    arguments = [str(empty) if a == "EMPTY" else a for a in arguments]
    done = CliRunner().invoke(main, ["sql", *arguments, "--warehouse", str(synced[0])])
    assert done.exit_code == 2
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "Error: " + message.replace("EMPTY", str(empty))


def test_a_failed_sync_prints_only_its_error(tmp_path: Path):
    with SandboxServer() as sandbox:
        env = {"QC_USER_ID": SANDBOX_USER_ID, "QC_API_TOKEN": "not-the-token"}
        arguments = ["--warehouse", str(tmp_path / "w.duckdb"), "--api-url", sandbox.url]
        done = qcw("sync", *arguments, env=env)
    assert done.returncode == 1
    assert done.stdout == ""  # no summary tables, empty or not
    (credentials, error) = done.stderr.splitlines()
    assert credentials.startswith("Credentials of user")
    assert error.startswith("Error: projects/read: Hash doesn't match") and "QC_API_TOKEN" in error


def test_version_is_the_package_version():
    done = CliRunner().invoke(main, ["--version"])
    assert done.exit_code == 0
    assert done.output == f"qcw, version {version('quantconnect-warehouse')}\n"


def test_thirty_thousand_rows_render_within_a_generous_bound(synced):
    """A sanity bound, not the benchmark: rich took about 40 s for 30,000 rows; the target is
    3 s for the whole command."""
    query = "SELECT range AS n, range * 1.5 AS x, 'row ' || range AS s FROM range(30000)"
    started = time.perf_counter()
    done = CliRunner().invoke(
        main, ["sql", query, "--max-rows", "0", "--warehouse", str(synced[0])]
    )
    elapsed = time.perf_counter() - started
    assert done.exit_code == 0, done.output
    assert done.output.endswith(
        "│ 29,999 │ 44,998.5 │ row 29999 │\n└────────┴──────────┴───────────┘\n30,000 rows\n"
    )
    assert elapsed < 10, elapsed
