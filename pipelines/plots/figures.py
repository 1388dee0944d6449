"""Drawing the series of `series.py` into image files with matplotlib's Agg canvas (no display,
no pyplot state: each picture is a `Figure` of its own, safe in any thread).

matplotlib loads on the first drawing, so `qcw`'s other commands and the Dagster code location
do not pay for its import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.plots.series import HOURS, EquityCurve, FillsByHour, Heatmap

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# The file formats a picture may be written in, by the file's extension.
FORMATS = ("png", "svg", "pdf")


@dataclass(frozen=True)
class PlotSize:
    """A picture's size in inches and its resolution: pixels are inches x dpi."""

    width: float = 10
    height: float = 5
    dpi: int = 100

    @property
    def pixels(self) -> tuple[int, int]:
        return round(self.width * self.dpi), round(self.height * self.dpi)


# `qcw plot`: 1000 x 500 pixels.
FULL_SIZE = PlotSize()
# The Dagster UI's run metadata, embedded as a data URI: 800 x 400 pixels, a few tens of KB.
UI_SIZE = PlotSize(dpi=80)


def file_format(path: Path) -> str:
    """The format `path`'s extension names; ValueError for one not in `FORMATS`."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        names = ", ".join(f".{f}" for f in FORMATS[:-1]) + f" or .{FORMATS[-1]}"
        raise ValueError(f"{path}: the file name must end in {names}")
    return suffix


def _figure(size: PlotSize) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size.width, size.height), dpi=size.dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format=file_format(path), dpi=figure.dpi)
    return path


def _thousands(decimals: int = 0) -> Callable[[float, Any], str]:
    return lambda value, _position: f"{value:,.{decimals}f}"


def draw_equity(
    curves: Sequence[EquityCurve],
    path: Path,
    currency: str | None = None,
    size: PlotSize = FULL_SIZE,
) -> Path:
    """One line per backtest of its cumulative P&L (a step at each closed trade), the
    drawdown from its running peak shaded in its colour; `currency` names the amounts (else
    "account currency")."""
    from matplotlib import colormaps
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import FuncFormatter

    figure = _figure(size)
    axes = figure.add_subplot()
    palette = colormaps["tab10"].colors
    for index, curve in enumerate(curves):
        color = palette[index % len(palette)]
        label = f"{curve.label}: {curve.final:+,.0f}"
        axes.step(curve.times, curve.pnl, where="post", color=color, linewidth=1.4, label=label)
        axes.fill_between(
            curve.times, curve.pnl, curve.peak, step="post", color=color, alpha=0.2, linewidth=0
        )
    axes.axhline(0, color="0.5", linewidth=0.8)
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.yaxis.set_major_formatter(FuncFormatter(_thousands()))
    axes.set_ylabel(f"cumulative P&L ({currency or 'account currency'})")
    axes.set_xlabel("trade exit time (UTC)")
    axes.set_title(
        "Cumulative P&L of closed trades (gross of fees); shaded: drawdown from the running peak",
        fontsize="medium",
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small", framealpha=0.85)
    return _save(figure, path)


def _decimals(values: Sequence[float]) -> int:
    """Decimals enough to tell a grid's values apart, the same for every cell."""
    largest = max((abs(v) for v in values), default=0)
    return 0 if largest >= 1000 else 1 if largest >= 10 else 2 if largest >= 1 else 3


def draw_heatmap(
    grid: Heatmap, path: Path, title: str | None = None, size: PlotSize = FULL_SIZE
) -> Path:
    """The statistic of each cell in colour (brighter is better, whichever the extremum),
    annotated with its value; the best cell in bold, an empty cell marked with a dash."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    figure = _figure(size)
    axes = figure.add_subplot()
    values = np.array(
        [[np.nan if v is None else v for v in row] for row in grid.cells], dtype=float
    )
    cmap = colormaps["viridis_r" if grid.extremum == "min" else "viridis"].with_extremes(bad="0.92")
    image = axes.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto", origin="lower")
    axes.set_xticks(range(len(grid.x_values)), grid.x_values)
    axes.set_yticks(range(len(grid.y_values)), grid.y_values)
    axes.set_xlabel(grid.x)
    axes.set_ylabel(grid.y)
    best = grid.best()
    decimals = _decimals([v for row in grid.cells for v in row if v is not None])
    font = max(6.0, min(12.0, 160 / max(len(grid.x_values), len(grid.y_values), 1)))
    for row, y_value in enumerate(grid.y_values):
        for column, x_value in enumerate(grid.x_values):
            value = grid.cells[row][column]
            if value is None:
                axes.text(
                    column, row, "\N{EN DASH}", ha="center", va="center", color="0.4", fontsize=font
                )
                continue
            red, green, blue, _ = cmap(image.norm(value))
            ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
            is_best = best is not None and (x_value, y_value) == best[:2]
            weight = "bold" if is_best else "normal"
            axes.text(
                column,
                row,
                f"{value:,.{decimals}f}",
                ha="center",
                va="center",
                color=ink,
                fontsize=font,
                fontweight=weight,
            )
            if is_best:
                axes.add_patch(
                    Rectangle(
                        (column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2
                    )
                )
    direction = "lower" if grid.extremum == "min" else "higher"
    colorbar = figure.colorbar(image, ax=axes)
    colorbar.set_label(f"{grid.statistic} ({direction} is better)")
    heading = title or grid.statistic
    heading += f"\n{grid.statistic} over {grid.x} \N{MULTIPLICATION SIGN} {grid.y}"
    if grid.backtests_per_cell > 1:
        heading += f" (each cell: the best of up to {grid.backtests_per_cell} backtests)"
    axes.set_title(heading, fontsize="medium")
    return _save(figure, path)


def draw_fills(
    fills: FillsByHour, path: Path, title: str | None = None, size: PlotSize = FULL_SIZE
) -> Path:
    """Fills per hour of day (UTC) as bars, stacked by order type, the most filled at the
    bottom."""
    from matplotlib import colormaps
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = _figure(size)
    axes: Axes = figure.add_subplot()
    palette = colormaps["tab20" if len(fills.order_types) > 10 else "tab10"].colors
    hours = list(range(HOURS))
    bottom = [0] * HOURS
    for index, order_type in enumerate(fills.order_types):
        counts = fills.counts[order_type]
        color = palette[index % len(palette)]
        axes.bar(hours, counts, bottom=bottom, color=color, width=0.8, label=order_type)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_xticks(hours, [f"{h:02d}" for h in hours])
    axes.set_xlim(-0.6, HOURS - 0.4)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(_thousands()))
    axes.set_xlabel("hour of day (UTC)")
    axes.set_ylabel("fills")
    axes.grid(axis="y", alpha=0.3)
    heading = f"Fills by hour of day and order type: {fills.total:,} fills"
    axes.set_title(f"{title}\n{heading}" if title else heading, fontsize="medium")
    axes.legend(title="order type", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)
