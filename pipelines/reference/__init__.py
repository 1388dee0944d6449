"""Reference data the project ships (see README.md here): where each file is."""

from pathlib import Path

# Quote currency, contract multiplier, tick and lot size per market, symbol and type.
SYMBOL_PROPERTIES_CSV = Path(__file__).resolve().parent / "symbol_properties.csv"
