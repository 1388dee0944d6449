"""Tag rules as code: each file `sql/tag_rules/<tag>.sql` is a query of the backtest ids that
should carry `<tag>`. The plan adds the tag to those and removes it from every other listed
backtest, and never touches a tag that no rule file names."""

from __future__ import annotations

import duckdb

from pipelines.queries import SQL_DIR
from pipelines.warehouse import DuckDBWarehouse
from pipelines.writeback.model import WriteBackError
from pipelines.writeback.select import rows
from pipelines.writeback.tags import TagChange, TagPlan, plan_tags

RULES_DIR = SQL_DIR / "tag_rules"


def tag_rules() -> dict[str, str]:
    """Each rule's tag (its file's name) and query."""
    return {path.stem: path.read_text() for path in sorted(RULES_DIR.glob("*.sql"))}


def tagged_by_rule(store: DuckDBWarehouse, tag: str, rule: str) -> set[str]:
    """The backtest ids the rule of `tag` returns; `WriteBackError` unless the rule is one
    SELECT of one column that runs."""
    statements = duckdb.extract_statements(rule)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise WriteBackError(f"the tag rule {tag!r} must be one SELECT of backtest ids")
    try:
        with store.holding() as conn:
            cursor = conn.execute(rule)
            if len(cursor.description or ()) != 1:
                raise WriteBackError(f"the tag rule {tag!r} must return one column: backtest ids")
            return {str(row[0]) for row in cursor.fetchall() if row[0] is not None}
    except duckdb.Error as error:
        raise WriteBackError(f"the tag rule {tag!r} fails: {error}") from None


def plan_tag_rules(store: DuckDBWarehouse, rules: dict[str, str] | None = None) -> TagPlan:
    """The tag writes that bring every listed backtest in line with the rules, from the tags
    the warehouse holds (fresh after a sync; read again from the API before each write)."""
    rules = tag_rules() if rules is None else rules
    wanted = {tag: tagged_by_rule(store, tag, rule) for tag, rule in rules.items()}
    listed = rows(store, "listed_backtests")
    changes = {}
    for _, backtest_id, _, tags in listed:
        carries = set(tags or [])
        add = tuple(t for t in wanted if backtest_id in wanted[t] and t not in carries)
        remove = tuple(t for t in wanted if backtest_id not in wanted[t] and t in carries)
        changes[backtest_id] = TagChange(add=add, remove=remove)
    current = {row[1]: list(row[3] or []) for row in listed}
    selected = [(p, b, n, t, None) for p, b, n, t in listed]
    return plan_tags(selected, changes, current, "tag rules")
