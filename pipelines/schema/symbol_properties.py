"""The symbol properties table group: LEAN's quote currency, contract multiplier, tick and lot
size per market, symbol (or futures root, or `[*]` for every symbol) and security type, from the
file the project ships (`pipelines/reference/`), not from the API."""

from pipelines.schema.columns import Table, column

SYMBOL_PROPERTIES = Table(
    name="symbol_properties",
    key=("market", "symbol", "security_type"),
    description="LEAN's symbol properties per market, symbol or root, and security type.",
    columns=(
        column("market", "VARCHAR", "market", description='LEAN\'s market, e.g. "usa", "cme"'),
        column("symbol", "VARCHAR", "symbol", description='A ticker or root; "[*]": any other'),
        column("security_type", "VARCHAR", "security_type", description="As orders name it"),
        column(
            "quote_currency",
            "VARCHAR",
            "quote_currency",
            description="The currency prices are quoted in",
        ),
        column(
            "contract_multiplier",
            "DOUBLE",
            "contract_multiplier",
            description="Value of one contract per point of price (100 for equity options)",
        ),
        column("tick_size", "DOUBLE", "tick_size", description="The minimum price variation"),
        column("lot_size", "DOUBLE", "lot_size", description="The smallest tradable quantity"),
    ),
)

TABLES = (SYMBOL_PROPERTIES,)
