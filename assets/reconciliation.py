"""Each backtest reconciled with its own statistics, as asset checks.

Against the real API a mismatch is a warning with its numbers, not a failure: LEAN's fee and
currency models may differ from what the warehouse can rebuild. The sandbox passes them all.
"""

import dagster as dg

from assets.checks import warehouse_check
from pipelines.schema.backtests import BACKTEST_STATISTICS
from pipelines.schema.orders import ORDER_EVENTS, ORDERS

# (asset, check, query of sql/checks.sql, description)
_RECONCILIATIONS = (
    (
        ORDERS.name,
        "orders_match_total_orders",
        "orders_differing_from_total_orders",
        'Each loaded backtest has as many orders as its "Total Orders" statistic says.',
    ),
    (
        ORDER_EVENTS.name,
        "fees_match_total_fees",
        "fees_differing_from_total_fees",
        "Each loaded backtest's order fees, in its account's currency, sum to its \"Total Fees\" "
        "statistic, within a cent.",
    ),
    (
        BACKTEST_STATISTICS.name,
        "net_profit_matches_equity",
        "net_profit_differing_from_equity",
        'Each backtest\'s "Net Profit" is the change from its "Start Equity" to its "End '
        'Equity", in sign and size.',
    ),
)

RECONCILIATION_CHECKS = [
    warehouse_check(*declared, severity=dg.AssetCheckSeverity.WARN) for declared in _RECONCILIATIONS
]
