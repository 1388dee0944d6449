"""`projects/read`'s project objects → the `projects` table."""

from collections.abc import Sequence

import pyarrow as pa

from pipelines.flatten.records import Notes, Record, records_to_arrow
from pipelines.schema.projects import PROJECTS


def projects_to_arrow(projects: Sequence[Record], notes: Notes | None = None) -> pa.Table:
    """The `projects` table from `projects/read`'s project objects: listed, so not deleted
    upstream (`deleted_upstream_at` NULL)."""
    return records_to_arrow(PROJECTS, projects, {"deleted_upstream_at": None}, notes)
