"""`qcw plot equity|optimization|fills`: pictures of the warehouse in image files, drawn by
`pipelines.plots` from the warehouse opened read-only, as `qcw sql` opens it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from pipelines import plots, warehouse
from pipelines.cli.options import WAIT_OPTION, clear_errors, err, warehouse_options


def _output_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help=f"The file to write ({', '.join(f'.{f}' for f in plots.FORMATS)}).",
    )


@contextmanager
def drawing(output: Path, target: warehouse.Target, wait_seconds: float) -> Iterator[Any]:
    """The warehouse's connection, read-only, to draw into `output`; then says so on stderr.
    Errors, a missing folder among them, are one message and exit code 1."""
    if not output.parent.is_dir():
        raise click.ClickException(f"no folder {output.parent} to write {output.name} in")
    with clear_errors():
        plots.file_format(output)
        try:
            with warehouse.open_reader(target, wait_seconds, on_wait=err.print) as store:
                yield store.conn
        except warehouse.NoWarehouseError:
            raise click.ClickException(f"no warehouse at {target}: run `qcw sync` first") from None
    click.echo(f"wrote {output}", err=True)


@click.group()
def plot() -> None:
    """Pictures of the warehouse as PNG files: equity curves, an optimization's heatmap, fills
    by hour of day."""


@plot.command()
@click.option(
    "--backtest",
    "backtest_ids",
    metavar="ID",
    multiple=True,
    help=(
        "A backtest to draw; repeat for more. Without it: the top "
        f"{plots.TOP_BACKTESTS} backtests by Sharpe ratio that have closed trades."
    ),
)
@_output_option("equity.png")
@warehouse_options
@WAIT_OPTION
def equity(
    backtest_ids: tuple[str, ...], output: Path, target: warehouse.Target, wait_seconds: float
) -> None:
    """Cumulative P&L from closed trades (by exit time, gross, in the account's currency),
    one line per backtest, with the drawdown from its running peak shaded."""
    with drawing(output, target, wait_seconds) as conn:
        plots.plot_equity(conn, output, backtest_ids or None)


@plot.command()
@click.option(
    "--optimization",
    "optimization_id",
    metavar="ID",
    help=(
        "The optimization to draw. Without it: the latest completed one that sweeps two parameters."
    ),
)
@click.option("--x", metavar="PARAMETER", help="The parameter across (default: the first swept).")
@click.option("--y", metavar="PARAMETER", help="The parameter up (default: the next swept).")
@_output_option("optimization.png")
@warehouse_options
@WAIT_OPTION
def optimization(
    optimization_id: str | None,
    x: str | None,
    y: str | None,
    output: Path,
    target: warehouse.Target,
    wait_seconds: float,
) -> None:
    """A heatmap of an optimization's target statistic over two of the parameters it sweeps
    (by name, the first two unless --x and --y say), each cell annotated with its value."""
    with drawing(output, target, wait_seconds) as conn:
        plots.plot_optimization(conn, output, optimization_id, x, y)


@plot.command()
@click.option("--backtest", "backtest_id", metavar="ID", help="One backtest (default: every one).")
@_output_option("fills.png")
@warehouse_options
@WAIT_OPTION
def fills(
    backtest_id: str | None, output: Path, target: warehouse.Target, wait_seconds: float
) -> None:
    """Fills by hour of day (UTC), stacked by order type."""
    with drawing(output, target, wait_seconds) as conn:
        plots.plot_fills(conn, output, backtest_id)
