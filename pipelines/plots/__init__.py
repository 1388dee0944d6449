"""Pictures of the warehouse, for `qcw plot` and the assets' pages in the Dagster UI.

- `plot_equity`: cumulative P&L from closed trades, one line per backtest, drawdown from the
  running peak shaded;
- `plot_optimization`: a heatmap of an optimization's target statistic over two parameters;
- `plot_fills`: fills by hour of day (UTC), stacked by order type.

Each reads its named statements of `sql/plots/` (`reads.py`), shapes the rows (`series.py`,
pure) and draws them with matplotlib's Agg canvas (`figures.py`) into a file; each raises
`NothingToPlotError`, saying why, when there is nothing to draw. No Dagster here.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

from pipelines.plots.figures import (
    FORMATS,
    FULL_SIZE,
    UI_SIZE,
    PlotSize,
    draw_equity,
    draw_fills,
    draw_heatmap,
    file_format,
)
from pipelines.plots.reads import (
    TOP_BACKTESTS,
    Equity,
    Fills,
    OptimizationGrid,
    read_equity,
    read_fills,
    read_optimization,
)
from pipelines.plots.series import (
    EquityCurve,
    FillsByHour,
    Heatmap,
    NothingToPlotError,
    equity_curve,
    equity_curves,
    fills_by_hour,
    heatmap,
)
from pipelines.warehouse import Connection

__all__ = [
    "FORMATS",
    "FULL_SIZE",
    "TOP_BACKTESTS",
    "UI_SIZE",
    "Equity",
    "EquityCurve",
    "Fills",
    "FillsByHour",
    "Heatmap",
    "NothingToPlotError",
    "OptimizationGrid",
    "PlotSize",
    "equity_curve",
    "equity_curves",
    "file_format",
    "fills_by_hour",
    "heatmap",
    "markdown_image",
    "picture_path",
    "plot_equity",
    "plot_fills",
    "plot_optimization",
]


def plot_equity(
    conn: Connection,
    path: Path,
    backtest_ids: Sequence[str] | None = None,
    top: int = TOP_BACKTESTS,
    size: PlotSize = FULL_SIZE,
) -> Equity:
    """Draw the cumulative P&L of `backtest_ids` (else of the `top` backtests by Sharpe ratio)
    into `path`; what it drew."""
    equity = read_equity(conn, backtest_ids, top)
    draw_equity(equity.curves, path, equity.currency, size)
    return equity


def plot_optimization(
    conn: Connection,
    path: Path,
    optimization_id: str | None = None,
    x: str | None = None,
    y: str | None = None,
    size: PlotSize = FULL_SIZE,
) -> OptimizationGrid:
    """Draw the heatmap of an optimization's target statistic over two of its parameters
    (by default the latest completed one's, over its first two) into `path`; what it drew."""
    found = read_optimization(conn, optimization_id, x, y)
    draw_heatmap(found.grid, path, found.title, size)
    return found


def plot_fills(
    conn: Connection, path: Path, backtest_id: str | None = None, size: PlotSize = FULL_SIZE
) -> Fills:
    """Draw fills by hour of day and order type (of one backtest, else of all) into `path`."""
    found = read_fills(conn, backtest_id)
    draw_fills(found.fills, path, found.title, size)
    return found


def picture_path(warehouse_path: str | Path, name: str) -> Path:
    """Where the Dagster assets keep their picture `name`: `plots/<name>.png` beside the
    warehouse file (the folder is created)."""
    folder = Path(warehouse_path).parent / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


def markdown_image(path: Path, alt: str) -> str:
    """The PNG file at `path` as a markdown image with a data URI, which renders wherever
    markdown does without the file (the Dagster UI's metadata)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"![{alt}](data:image/png;base64,{data})"
