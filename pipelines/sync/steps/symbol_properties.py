"""The symbol properties step: LEAN's symbol properties, from the file the project ships."""

from pipelines.flatten.symbol_properties import symbol_properties_to_arrow
from pipelines.reference import SYMBOL_PROPERTIES_CSV
from pipelines.schema.symbol_properties import SYMBOL_PROPERTIES
from pipelines.sync.report import SyncReport
from pipelines.sync.step import Step, StepRun


def sync_symbol_properties(run: StepRun) -> SyncReport:
    """Replace `symbol_properties` with the shipped file's rows (no API request)."""
    table = symbol_properties_to_arrow(SYMBOL_PROPERTIES_CSV)
    run.store.write("delete_symbol_properties", "insert_symbol_properties", staged=table)
    report = SyncReport(counters={"symbol_properties_read": table.num_rows})
    report.row_counts.update(run.store.row_counts([SYMBOL_PROPERTIES.name]))
    return report


STEP = Step(name="symbol_properties", tables=(SYMBOL_PROPERTIES,), sync=sync_symbol_properties)
