"""The symbol properties asset and its check."""

import dagster as dg

from assets.checks import unique_key_check
from assets.metadata import run_step, table_metadata
from assets.names import GROUP, writer_pool
from pipelines.resources import WarehouseResource
from pipelines.schema.symbol_properties import SYMBOL_PROPERTIES


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb"},
    pool=writer_pool(),
    metadata=table_metadata(SYMBOL_PROPERTIES),
)
def symbol_properties(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """LEAN's quote currency, contract multiplier, tick and lot size per market, symbol and
    security type, from the file the project ships (derived from LEAN's symbol properties
    database; pipelines/reference/README.md). The views use them for notional and currency."""
    metadata = run_step("symbol_properties", context, warehouse)
    return dg.MaterializeResult(metadata=metadata["symbol_properties"])


unique_symbol_properties_key = unique_key_check(SYMBOL_PROPERTIES, "unique_symbol_properties_key")
