"""Every column of every table has a description, and the Dagster UI shows it: the column schema
in each asset's metadata (`assets/metadata.py`) carries the schema's descriptions."""

import dagster as dg
import pytest

from assets.metadata import table_metadata, table_schema
from pipelines.definitions import defs
from pipelines.schema import TABLES
from pipelines.schema.columns import Table

BY_NAME = {table.name: table for table in TABLES}


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
def test_every_column_has_a_description(table: Table) -> None:
    assert table.description.strip()
    undescribed = [c.name for c in table.columns if not c.description.strip()]
    assert undescribed == [], f"{table.name} columns without a description: {undescribed}"


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
def test_the_ui_column_schema_carries_every_description(table: Table) -> None:
    for schema in (table_schema(table), table_metadata(table)["dagster/column_schema"]):
        assert isinstance(schema, dg.TableSchema)
        shown = {column.name: column.description for column in schema.columns}
        assert shown == {c.name: c.description for c in table.columns}
        assert all(description for description in shown.values())


def test_the_assets_of_the_code_location_show_the_descriptions() -> None:
    graph = defs.resolve_asset_graph()
    described = set()
    for key in graph.get_all_asset_keys():
        table = BY_NAME.get(key.path[-1])
        if table is None:
            continue  # the views and the tag rules: not a table of the schema
        schema = graph.get(key).metadata["dagster/column_schema"]
        shown = {column.name: column.description for column in schema.columns}
        assert shown == {c.name: c.description for c in table.columns}, key
        described.add(table.name)
    # No asset of their own: the rolling windows load with `backtest_performance`, and the
    # write-back commands write `api_writes`; those assets show their columns too.
    assert set(BY_NAME) - described == {"backtest_rolling_statistics", "api_writes"}
    for key, name, table in (
        ("backtest_performance", "rolling_statistics_columns", "backtest_rolling_statistics"),
        ("backtest_tag_rules", "api_writes_columns", "api_writes"),
    ):
        schema = graph.get(dg.AssetKey(key)).metadata[name]
        shown = {column.name: column.description for column in schema.columns}
        assert shown == {c.name: c.description for c in BY_NAME[table].columns}, key
