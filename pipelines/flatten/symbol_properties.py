"""The shipped symbol properties file → the `symbol_properties` table."""

import csv
from pathlib import Path

import pyarrow as pa

from pipelines.flatten.records import records_to_arrow
from pipelines.schema.symbol_properties import SYMBOL_PROPERTIES


def symbol_properties_to_arrow(path: Path) -> pa.Table:
    """The `symbol_properties` rows of a CSV file with the table's columns as its header."""
    with path.open(newline="", encoding="utf-8") as file:
        return records_to_arrow(SYMBOL_PROPERTIES, list(csv.DictReader(file)))
