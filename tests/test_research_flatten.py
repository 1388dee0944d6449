"""Closed trades, numeric performance, rolling windows and optimizations flatten as the API
sends them, in every shape it has sent them (reference-results §1, §2.1-2.2). The payloads
are the project's own, built in the real shapes."""

from datetime import date, timedelta
from typing import Any

import msgspec
import pytest

from pipelines.flatten.optimizations import optimization_to_arrow, statistics_by_name
from pipelines.flatten.performance import (
    closed_trades_to_arrow,
    expected_trades,
    performance_to_arrow,
    rolling_to_arrow,
)
from pipelines.flatten.records import (
    NO_BACKTEST_ID,
    NOT_UNDERSTOOD,
    RENAMED,
    UNKNOWN_ENUM,
    UNREADABLE_WINDOWS,
    WRONG_LENGTH,
    Notes,
)
from pipelines.schema.optimizations import OPTIMIZATION_STATISTICS
from pipelines.schema.values import parse_timespan


def span(value: Any) -> timedelta | None:
    """An INTERVAL as Arrow carries it (months, days, nanoseconds) as a duration."""
    if value is None:
        return None
    assert value.months == 0
    return timedelta(days=value.days, microseconds=value.nanoseconds / 1000)


TRADE = {
    "id": "9a3c6f1e-4c1b-4d0e-9f51-2b7d0c1a8e11",
    "symbols": [
        {"value": "SPY", "id": "SPY R735QTJ8XC9X", "permtick": "SPY"},
        {"value": "SPY   210716P00385000", "id": "SPY 31PB4NZP2BWX2|SPY R735QTJ8XC9X"},
    ],
    "entryTime": "2021-01-25T14:31:00Z",
    "exitTime": "2021-01-27T15:02:10.5Z",
    "entryPrice": 384.02,
    "exitPrice": 380.5,
    "direction": 1,
    "quantity": 10,
    "profitLoss": 35.2,
    "totalFees": 2.0,
    "mae": -12.5,
    "mfe": 40.1,
    "endTradeDrawdown": -4.9,
    "duration": "2.00:31:10.5000000",
    "isWin": True,
    "orderIds": [3, 7],
}
# The 2023 reply's shape (real_backtests_read_2023-09): PascalCase, decimals as strings, and
# the trade's old singular `Symbol`, without `Id` or `OrderIds`.
LEGACY_TRADE = {
    "Symbol": {"Value": "EURUSD", "ID": "EURUSD 8G", "Permtick": "EURUSD"},
    "EntryTime": "2023-03-10T00:00:00Z",
    "ExitTime": "2023-03-11T00:00:00Z",
    "EntryPrice": "1.0612",
    "ExitPrice": "1.0650",
    "Direction": "Long",
    "Quantity": "1000",
    "ProfitLoss": "3.8",
    "TotalFees": "0",
    "MAE": "-1.2",
    "MFE": "4.0",
    "EndTradeDrawdown": "-0.2",
    "Duration": "1.00:00:00",
    "IsWin": True,
}


def test_a_trade_reads_every_column_and_keeps_what_no_column_holds():
    notes = Notes()
    table = closed_trades_to_arrow(7, "bt", [TRADE | {"newField": 1}], notes)
    (row,) = table.to_pylist()
    assert row["trade_id"] == TRADE["id"] and row["ordinal"] == 1
    assert row["symbol"] == "SPY"
    assert row["symbols"] == ["SPY", "SPY   210716P00385000"]
    assert row["symbol_ids"][0] == "SPY R735QTJ8XC9X"
    assert row["direction"] == "Short" and row["is_win"] is True
    assert span(row["duration"]) == timedelta(days=2, minutes=31, seconds=10.5)
    assert row["order_ids"] == [3, 7]
    assert row["exit_time"].isoformat() == "2021-01-27T15:02:10.500000+00:00"
    assert row["extra"] == '{"newField":1}'


def test_a_legacy_trade_reads_under_todays_names_with_an_ordinal_id():
    notes = Notes()
    table = closed_trades_to_arrow(7, "bt", [LEGACY_TRADE, LEGACY_TRADE], notes)
    first, second = table.to_pylist()
    assert (first["trade_id"], second["trade_id"]) == ("1", "2")
    assert first["symbol"] == "EURUSD" and first["symbols"] == ["EURUSD"]
    assert first["symbol_ids"] == ["EURUSD 8G"]
    assert first["direction"] == "Long" and first["quantity"] == 1000.0
    assert first["profit_loss"] == 3.8 and first["mae"] == -1.2
    assert span(first["duration"]) == timedelta(days=1)
    assert first["order_ids"] is None and first["extra"] is None
    assert notes[RENAMED, "closed_trades"] > 0


def test_a_timespan_that_does_not_parse_is_null_and_kept_in_extra():
    notes = Notes()
    bad = TRADE | {"duration": "two days", "direction": 5}
    (row,) = closed_trades_to_arrow(7, "bt", [bad], notes).to_pylist()
    assert span(row["duration"]) is None and '"duration":"two days"' in row["extra"]
    assert row["direction"] == "5"
    assert notes[NOT_UNDERSTOOD, "closed_trades.duration"] == 1
    assert notes[UNKNOWN_ENUM, "closed_trades.direction"] == 1


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("00:00:00", timedelta(0)),
        ("1.02:03:04.5", timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
        ("23:59:59.9999999", timedelta(hours=23, minutes=59, seconds=59.999999) + timedelta(0)),
        ("-00:30:00", -timedelta(minutes=30)),
        ("125:30:00", timedelta(hours=125, minutes=30)),
        ("not a span", None),
        ("1.2.3", None),
    ],
)
def test_dotnet_timespans_parse(text: str, span: timedelta | None):
    parsed = parse_timespan(text)
    assert parsed == span or (span is not None and abs(parsed - span) <= timedelta(microseconds=1))


BACKTEST = {
    "totalPerformance": {
        "tradeStatistics": {
            "totalNumberOfTrades": 2,
            "winRate": 0.5,
            "averageTradeDuration": "1.00:00:00",
            "startDateTime": "2021-01-25T14:31:00Z",
            "largestMAE": None,
        },
        "portfolioStatistics": {"sharpeRatio": 1.25, "drawdown": 0.081},
        "closedTrades": [TRADE],
        "futureStatistics": {"something": 3},
    },
    "rollingWindow": {
        "M1_20210131": {
            "tradeStatistics": {"winRate": 1},
            "portfolioStatistics": {"sharpeRatio": 2.5},
            "closedTrades": [TRADE],
        },
        "M12_20211231": {"portfolioStatistics": {"sharpeRatio": -0.5}, "closedTrades": []},
        "weekly": {"portfolioStatistics": {"sharpeRatio": 0}},
    },
}


def test_performance_keeps_numbers_as_sent_and_text_where_they_are_not_numbers():
    rows = {
        (r["source"], r["statistic"]): r
        for r in performance_to_arrow(7, "bt", BACKTEST).to_pylist()
    }
    assert rows["portfolio", "drawdown"]["value"] == 0.081  # a fraction, not percent
    assert rows["trade", "totalNumberOfTrades"]["value"] == 2
    duration = rows["trade", "averageTradeDuration"]
    assert duration["value"] is None and duration["value_text"] == "1.00:00:00"
    assert span(duration["value_interval"]) == timedelta(days=1)
    assert rows["trade", "startDateTime"]["value_text"] == "2021-01-25T14:31:00Z"
    assert rows["trade", "largestMAE"]["value"] is None
    assert rows["future", "something"]["value"] == 3  # a new section is kept, not dropped
    assert not any(statistic == "closedTrades" for _, statistic in rows)
    assert expected_trades(BACKTEST) == 2


def test_pascal_case_performance_with_decimals_as_text_reads_the_same():
    legacy = {
        "totalPerformance": {
            "TradeStatistics": {"TotalNumberOfTrades": 0, "AverageMAE": "0", "WinRate": "0.25"},
            "PortfolioStatistics": {"InformationRatio": "-0.3094"},
            "ClosedTrades": [],
        }
    }
    rows = {
        (r["source"], r["statistic"]): r["value"]
        for r in performance_to_arrow(7, "bt", legacy).to_pylist()
    }
    assert rows == {
        ("trade", "totalNumberOfTrades"): 0,
        ("trade", "averageMAE"): 0,
        ("trade", "winRate"): 0.25,
        ("portfolio", "informationRatio"): -0.3094,
    }
    assert expected_trades(legacy) == 0


def test_rolling_windows_give_months_and_period_ends_without_their_trades():
    notes = Notes()
    rows = rolling_to_arrow(7, "bt", BACKTEST, notes).to_pylist()
    found = {(r["window_months"], r["period_end"], r["source"], r["statistic"]) for r in rows}
    assert found == {
        (1, date(2021, 1, 31), "trade", "winRate"),
        (1, date(2021, 1, 31), "portfolio", "sharpeRatio"),
        (12, date(2021, 12, 31), "portfolio", "sharpeRatio"),
    }
    assert notes[UNREADABLE_WINDOWS, "backtest_rolling_statistics"] == 1


# Statistics of one optimization backtest in both formats (reference-results §1.4).
NUMBERS = [float(n) + 0.5 for n in range(25)]
OBJECT_STATISTICS = {str(i): value for i, value in enumerate(NUMBERS)} | {"My Custom": 4.2}
ARRAY_STATISTICS = NUMBERS[:21]


def test_both_statistics_formats_map_to_leans_names():
    by_object, object_format = statistics_by_name(OBJECT_STATISTICS)
    by_array, array_format = statistics_by_name(ARRAY_STATISTICS)
    assert (object_format, array_format) == ("object", "array")
    assert by_object["Sharpe Ratio"] == by_array["Sharpe Ratio"] == NUMBERS[15]
    assert by_object["Drawdown Recovery"] == NUMBERS[24] and by_object["My Custom"] == 4.2
    assert by_array == {OPTIMIZATION_STATISTICS[i]: NUMBERS[i] for i in range(21)}


def test_an_array_of_the_wrong_length_loads_what_it_has_and_is_noted():
    notes = Notes()
    by_name, _ = statistics_by_name(NUMBERS[:20], notes)
    assert len(by_name) == 20 and notes[WRONG_LENGTH, "optimization_backtest_statistics"] == 1
    by_name, _ = statistics_by_name(NUMBERS[:23], notes)
    assert len(by_name) == 21 and notes[WRONG_LENGTH, "optimization_backtest_statistics"] == 2


SUMMARY = {
    "optimizationId": "O-" + "a" * 32,
    "projectId": 7,
    "name": "Lookback sweep",
    "status": "completed",
    "nodeType": "O2-8",
    "criterion": {
        "target": "TotalPerformance.PortfolioStatistics.SharpeRatio",
        "extremum": "max",
        "targetValue": None,
    },
    "created": "2025-01-02 03:04:05",
    "psr": 0.61,
    "sharpeRatio": 1.4,
    "trades": 88,
    "outOfSampleDays": 0,
    "parameters": [{"name": "lookback", "min": 10, "max": 30, "step": 10}],
}
READ = {
    "optimizationId": SUMMARY["optimizationId"],
    "projectId": 7,
    "name": "Lookback sweep",
    "status": "Completed",
    "nodeType": "O2-8",
    "parallelNodes": 4,
    "strategy": "QuantConnect.Optimizer.Strategies.GridSearchOptimizationStrategy",
    "optimizationTarget": "TotalPerformance.PortfolioStatistics.SharpeRatio",
    "requested": "2025-01-02T03:04:06Z",
    "runtimeStatistics": {
        "Completed": "2",
        "Failed": "1",
        "Running": "0",
        "In Queue": "0",
        "Total": "3",
        "Average Length": "00:02:30",
        "Total Runtime": "00:07:30",
        "Consumed": "0.42 QCC",
    },
    "constraints": [
        {
            "target": "TotalPerformance.PortfolioStatistics.Drawdown",
            "operator": "Less",
            "target-value": 0.25,
        },
    ],
    "parameters": [
        {"key": "lookback", "min": 10, "max": 30, "min-step": 5, "step": 10},
        {"name": "mode", "value": "fast"},
    ],
    "backtests": {
        "k1": {
            "id": "b" * 32,
            "name": "lookback 10",
            "progress": 1,
            "exitCode": 0,
            "parameterSet": {"lookback": "10"},
            "statistics": OBJECT_STATISTICS,
        },
        "k2": {
            "id": "c" * 32,
            "progress": 1,
            "exitCode": 1,
            "parameterSet": [],
            "statistics": ARRAY_STATISTICS,
        },
        "k3": {"progress": 0},
    },
    "gridLayout": [{"x": 1}],
    "analysis": {"backtestCountTotal": 3, "overallSharpe": 1.1},
}


def test_an_optimization_fills_its_five_tables():
    notes = Notes()
    tables = {
        name: t.to_pylist() for name, t in optimization_to_arrow(7, SUMMARY, READ, notes).items()
    }
    (optimization,) = tables["optimizations"]
    assert optimization["status"] == "Completed" and optimization["extremum"] == "max"
    assert optimization["target"] == "TotalPerformance.PortfolioStatistics.SharpeRatio"
    assert optimization["psr"] == 0.61 and optimization["created_at"].year == 2025
    assert (optimization["backtests_completed"], optimization["backtests_failed"]) == (2, 1)
    assert optimization["backtests_total"] == 3 and optimization["consumed_qcc"] == 0.42
    assert span(optimization["total_runtime"]) == timedelta(minutes=7, seconds=30)
    assert optimization["analysis"] == '{"backtestCountTotal":3,"overallSharpe":1.1}'
    assert optimization["extra"] is None and optimization["deleted_upstream_at"] is None
    parameters = {p["name"]: p for p in tables["optimization_parameters"]}
    assert parameters["lookback"]["min_step"] == 5 and parameters["mode"]["value"] == "fast"
    (constraint,) = tables["optimization_constraints"]
    assert constraint["ordinal"] == 1 and constraint["target_value"] == 0.25
    backtests = {b["backtest_id"]: b for b in tables["optimization_backtests"]}
    assert set(backtests) == {"b" * 32, "c" * 32}  # ids, not map keys; k3 has none
    assert backtests["b" * 32]["entry_key"] == "k1"
    assert backtests["b" * 32]["parameter_set"] == [("lookback", "10")]
    assert backtests["c" * 32]["parameter_set"] == []  # `[]` is an empty map
    assert backtests["c" * 32]["statistics_format"] == "array"
    statistics = tables["optimization_backtest_statistics"]
    assert len(statistics) == 26 + 21
    assert notes[NO_BACKTEST_ID, "optimization_backtests"] == 1


def test_an_unknown_status_and_empty_maps_sent_as_lists_still_load():
    notes = Notes()
    read = READ | {"status": "Paused", "runtimeStatistics": [], "backtests": []}
    tables = optimization_to_arrow(7, SUMMARY, read, notes)
    (optimization,) = tables["optimizations"].to_pylist()
    assert optimization["status"] == "Paused" and optimization["backtests_total"] is None
    assert optimization["runtime_statistics"] == "[]"
    assert tables["optimization_backtests"].num_rows == 0
    assert notes[UNKNOWN_ENUM, "optimizations.status"] == 1


def test_undecoded_trades_in_todays_shape_read_in_bulk_the_same_as_decoded_ones():
    trades = [TRADE, TRADE | {"id": "", "symbols": [], "duration": "bad"}, TRADE | {"mae": 1}]
    raw = [msgspec.Raw(msgspec.json.encode(t)) for t in trades]
    bulk_notes, notes = Notes(), Notes()
    bulk = closed_trades_to_arrow(7, "bt", raw, bulk_notes)
    one_by_one = closed_trades_to_arrow(7, "bt", trades, notes)
    assert bulk.equals(one_by_one)  # "bad" kept in `extra` either way
    assert bulk_notes == notes
    assert bulk.column("trade_id").to_pylist() == [TRADE["id"], "2", TRADE["id"]]
    assert bulk.column("symbol").to_pylist() == ["SPY", None, "SPY"]
    # A trade outside today's shape sends the backtest's trades down the decoded path.
    legacy = closed_trades_to_arrow(7, "bt", [*raw, msgspec.Raw(msgspec.json.encode(LEGACY_TRADE))])
    assert legacy.num_rows == 4 and legacy.column("symbol").to_pylist()[3] == "EURUSD"
