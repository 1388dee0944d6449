"""`qcw plot` and the assets' pictures: valid image files from a sandbox-synced warehouse,
series that add up to the warehouse's own sums, one heatmap cell per parameter pair, and
errors as one message with exit code 1."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner, Result

from assets.backtests import equity_picture
from assets.optimizations import heatmap_picture
from pipelines import plots, warehouse
from pipelines.cli.plot import plot
from pipelines.definitions import defs
from pipelines.qc.client import QuantConnectClient
from pipelines.resources import WarehouseResource
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxAccount, SandboxServer
from pipelines.sync import sync_everything
from tests.helpers import FAST_RETRY, make_resources

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo's sandbox account (the one the README's pictures come from) synced into a
    warehouse: it holds a completed optimization that sweeps two parameters."""
    path = tmp_path_factory.mktemp("plots") / "warehouse" / "demo.duckdb"
    with (
        SandboxServer(SandboxAccount()) as sandbox,
        closing(
            QuantConnectClient(
                SANDBOX_USER_ID, SANDBOX_API_TOKEN, sandbox.url, timeout_seconds=5, retry=FAST_RETRY
            )
        ) as client,
        warehouse.open_writer(path) as store,
    ):
        sync_everything(client, store)
    yield path


def rows(path: Path, query: str, *parameters: Any) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(query, parameters).fetchall()


def png_size(path: Path) -> tuple[int, int]:
    """A PNG file's width and height, from its header; fails on anything but a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def qcw_plot(path: Path, *arguments: str) -> Result:
    return CliRunner().invoke(plot, [*arguments, "--warehouse", str(path)])


def top_backtests(path: Path, count: int) -> list[str]:
    query = """
        SELECT backtest_id FROM closed_trades GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT ?
    """
    return [row[0] for row in rows(path, query, count)]


def two_parameter_optimization(path: Path) -> str:
    query = """
        SELECT optimization_id FROM optimization_parameters
        JOIN optimizations USING (optimization_id)
        WHERE step IS NOT NULL AND status = 'Completed'
        GROUP BY 1 HAVING count(*) = 2 ORDER BY 1 LIMIT 1
    """
    return rows(path, query)[0][0]


def at(day: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day)


# The series


def test_an_equity_curve_is_the_running_sum_in_exit_order_with_its_drawdown():
    curve = plots.equity_curve("b", [(at(2), -5.0), (at(1), 10.0), (at(3), 3.0), (at(4), 4.0)])
    assert curve.times == [at(1), at(1), at(2), at(3), at(4)]
    assert curve.pnl == [0, 10, 5, 8, 12]
    assert curve.peak == [0, 10, 10, 10, 12]
    assert curve.drawdown == [0, 0, -5, -2, 0]
    assert (curve.final, curve.max_drawdown) == (12, -5)
    with pytest.raises(plots.NothingToPlotError, match="no closed trades"):
        plots.equity_curve("b", [])


def test_the_equity_series_add_up_to_each_backtests_closed_trades(demo: Path):
    expected = dict(
        rows(demo, "SELECT backtest_id, sum(profit_loss) FROM closed_trades GROUP BY 1")
    )
    trades = rows(
        demo,
        "SELECT backtest_id, exit_time, profit_loss FROM closed_trades ORDER BY random()",
    )
    curves = plots.equity_curves(trades)  # in any order: each sorted by exit time
    assert {c.backtest_id: c.final for c in curves} == pytest.approx(expected)
    for curve in curves:
        assert curve.times == sorted(curve.times)
        assert all(d <= 0 for d in curve.drawdown)
        assert curve.peak == [max(curve.pnl[: i + 1]) for i in range(len(curve.pnl))]

    currency = dict(
        rows(
            demo,
            "SELECT backtest_id, currency FROM backtest_statistics WHERE statistic = 'Total Fees'",
        )
    )
    usd = [b for b in top_backtests(demo, 10) if currency[b] == "USD"][:3]
    eur = [b for b in top_backtests(demo, 30) if currency[b] == "EUR"][:1]
    with warehouse.open_reader(demo) as store:
        same = plots.read_equity(store.conn, usd)
        mixed = plots.read_equity(store.conn, [*eur, *usd])
    assert [c.backtest_id for c in same.curves] == usd  # in the order asked for
    assert [c.final for c in same.curves] == pytest.approx([expected[b] for b in usd])
    assert same.currency == "USD"  # the axis says it
    assert mixed.currency is None  # each line says its own
    assert [c.label[-5:] for c in mixed.curves] == ["(EUR)", "(USD)", "(USD)", "(USD)"]


def test_a_heatmap_has_one_cell_per_parameter_pair_holding_the_best_value():
    results = [
        ({"a": "10", "b": "x", "c": "1"}, 1.0),
        ({"a": "10", "b": "x", "c": "2"}, 3.0),  # a third parameter: the best of the two
        ({"a": "5", "b": "x", "c": "1"}, 2.0),
        ({"a": "5", "b": "y", "c": "1"}, None),  # failed
        ({"a": "20", "b": "y", "c": "1"}, -1.0),
        ({"b": "y"}, 9.0),  # not a point of the grid
    ]
    grid = plots.heatmap(results, "a", "b", "Sharpe Ratio", "max")
    assert (grid.x_values, grid.y_values) == (["5", "10", "20"], ["x", "y"])  # 5 < 10 < 20
    assert grid.cells == [[2.0, 3.0, None], [None, None, -1.0]]
    assert grid.best() == ("10", "x", 3.0)
    assert grid.backtests_per_cell == 2
    lowest = plots.heatmap(results, "a", "b", "Drawdown", "min")
    assert lowest.cells[0][1] == 1.0 and lowest.best() == ("20", "y", -1.0)


def test_the_optimization_heatmap_has_one_cell_per_parameter_pair_it_ran(demo: Path):
    optimization_id = two_parameter_optimization(demo)
    with warehouse.open_reader(demo) as store:
        drawn = plots.read_optimization(store.conn, optimization_id)
    grid = drawn.grid
    swept = rows(
        demo,
        "SELECT name FROM optimization_parameters WHERE optimization_id = ? AND step IS NOT NULL",
        optimization_id,
    )
    x, y = sorted(row[0] for row in swept)
    assert (grid.x, grid.y) == (x, y)
    ran = rows(
        demo,
        "SELECT parameter_set[?], parameter_set[?], target_value FROM optimization_results "
        "WHERE optimization_id = ?",
        x,
        y,
        optimization_id,
    )
    pairs = {(a, b): value for a, b, value in ran}
    assert len(pairs) == len(ran) >= 4  # one backtest per pair
    assert len(grid.x_values) * len(grid.y_values) == len(pairs)
    cells = {
        (a, b): grid.cells[i][j]
        for i, b in enumerate(grid.y_values)
        for j, a in enumerate(grid.x_values)
    }
    assert cells == pytest.approx(pairs)


def test_fills_by_hour_count_every_fill_once(demo: Path):
    with warehouse.open_reader(demo) as store:
        found = plots.read_fills(store.conn)
    total, types = rows(demo, "SELECT count(*), count(DISTINCT order_type) FROM fills")[0]
    assert found.fills.total == total
    assert len(found.fills.order_types) == types
    assert all(len(hours) == 24 for hours in found.fills.counts.values())
    totals = [sum(found.fills.counts[t]) for t in found.fills.order_types]
    assert totals == sorted(totals, reverse=True)  # the most filled type first


# The command


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("equity", []),
        ("equity", ["--backtest", "{backtest}", "--backtest", "{other}"]),
        ("optimization", []),
        ("optimization", ["--optimization", "{optimization}", "--x", "threshold"]),
        ("fills", []),
        ("fills", ["--backtest", "{backtest}"]),
    ],
)
def test_each_command_writes_a_png_and_says_so(
    demo: Path, tmp_path: Path, command: str, options: list[str]
):
    backtest, other = top_backtests(demo, 2)
    ids = {"backtest": backtest, "other": other, "optimization": two_parameter_optimization(demo)}
    output = tmp_path / f"{command}.png"
    done = qcw_plot(demo, command, *(o.format(**ids) for o in options), "-o", str(output))
    assert done.exit_code == 0, done.output
    assert done.stderr == f"wrote {output}\n"
    assert png_size(output) == plots.FULL_SIZE.pixels == (1000, 500)


def test_without_o_the_picture_goes_to_the_current_folder(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    for command in ("equity", "optimization", "fills"):
        done = qcw_plot(demo, command)
        assert done.exit_code == 0, done.output
        assert done.stderr == f"wrote {command}.png\n"
        assert png_size(tmp_path / f"{command}.png") == (1000, 500)


def test_errors_are_one_message_and_exit_code_1(demo: Path, tmp_path: Path):
    (untraded,) = rows(
        demo,
        "SELECT backtest_id FROM backtests WHERE backtest_id NOT IN "
        "(SELECT backtest_id FROM closed_trades) ORDER BY 1 LIMIT 1",
    )[0]
    (one_parameter,) = rows(
        demo,
        "SELECT optimization_id FROM optimization_parameters WHERE step IS NOT NULL "
        "GROUP BY 1 HAVING count(*) = 1 ORDER BY 1 LIMIT 1",
    )[0]
    two = two_parameter_optimization(demo)
    output = tmp_path / "picture.png"
    cases = {
        ("equity", "--backtest", "nope"): "no backtest nope in the warehouse",
        ("equity", "--backtest", untraded): f"backtest {untraded} has no closed trades",
        ("optimization", "--optimization", "O-nope"): "no optimization O-nope in the warehouse",
        ("optimization", "--optimization", one_parameter): "a heatmap needs two",
        ("optimization", "--optimization", two, "--x", "nope"): "does not sweep nope: it sweeps",
        ("fills", "--backtest", "nope"): "no backtest nope in the warehouse",
        ("fills", "-o", str(tmp_path / "missing" / "f.png")): f"no folder {tmp_path / 'missing'}",
        ("fills", "-o", str(tmp_path / "f.txt")): "must end in .png, .svg or .pdf",
    }
    for arguments, message in cases.items():
        done = qcw_plot(demo, *arguments, *([] if "-o" in arguments else ["-o", str(output)]))
        assert done.exit_code == 1, (arguments, done.output)
        assert done.stderr.startswith("Error: ") and message in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.output
        assert not output.exists()
    missing = CliRunner().invoke(plot, ["fills", "--warehouse", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 1 and "no warehouse at" in missing.stderr


# The assets' pictures


def metadata_image(value: Any) -> bytes:
    text = value.value if hasattr(value, "value") else value
    prefix = text.split(",", 1)[0]
    assert prefix.startswith("![") and prefix.endswith("(data:image/png;base64"), prefix
    return base64.b64decode(text.split(",", 1)[1].rstrip(")"))


def test_the_asset_pictures_are_small_pngs_in_markdown_beside_the_warehouse(demo: Path):
    resource = WarehouseResource(database=str(demo))
    context = dg.build_asset_context()
    for picture, name in ((equity_picture, "equity"), (heatmap_picture, "optimization")):
        metadata = picture(context, resource)
        (markdown,) = [v for v in metadata.values() if isinstance(v, dg.MarkdownMetadataValue)]
        (path,) = [v for v in metadata.values() if isinstance(v, dg.PathMetadataValue)]
        image = metadata_image(markdown)
        assert Path(path.path) == demo.parent / "plots" / f"{name}.png"
        assert image == Path(path.path).read_bytes()
        assert png_size(Path(path.path)) == plots.UI_SIZE.pixels == (800, 400)
        assert len(markdown.value) < 100_000


def test_a_sync_run_shows_the_equity_picture_and_skips_a_heatmap_it_cannot_draw(
    sandbox: SandboxServer, warehouse_path: Path
):
    """The test account has no optimization that sweeps two parameters: the optimizations
    asset succeeds without a picture."""
    job = defs.resolve_job_def("sync_quantconnect")
    result = job.execute_in_process(resources=make_resources(sandbox, warehouse_path))
    assert result.success
    shown = {
        m.asset_key.to_user_string(): m.materialization.metadata
        for m in result.get_asset_materialization_events()
    }
    metadata_image(shown["closed_trades"]["equity_curves"])
    assert (warehouse_path.parent / "plots" / "equity.png").exists()
    assert "target_heatmap" not in shown["optimizations"]
