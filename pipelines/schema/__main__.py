"""`python -m pipelines.schema`: write the DDL of every table to `sql/tables.sql`."""

from pipelines.schema import TABLES
from pipelines.schema.ddl import TABLES_SQL, render_tables_sql

TABLES_SQL.write_text(render_tables_sql(TABLES))
print(f"wrote {TABLES_SQL}")
