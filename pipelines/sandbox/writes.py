"""The checks and changes of the account's write endpoints: `backtests/tags/update`,
`projects/update` and `backtests/delete` (reference-results §2.6-2.8). A request the sandbox
refuses raises `WriteError` before anything changes.

What the API's sources say, the sandbox does: new tags replace the whole list (`[]` clears
it); `projects/update` changes only the fields sent; a project name used by another project is
refused. Where they are silent, the sandbox assumes:

- `tags` is a JSON array of strings (Lean posts JSON; a form body cannot send one), missing
  or `null` refused as missing;
- tags are kept exactly as sent (commas, quotes, unicode), in the order sent, exact duplicates
  dropped (the first kept); a tag that is empty or only whitespace is refused ("Tags cannot be
  empty"), as is one longer than `MAX_TAG_LENGTH` characters (Unicode code points);
- project names are compared for uniqueness case-insensitively (`str.casefold`: a project
  synced by lean-cli is a folder, and folders differing only in case collide on macOS and
  Windows), exactly otherwise (no trimming); a project may be renamed to its own name; names
  may hold `/` (QuantConnect's `Folder/Project` paths); an empty or blank name is refused; an
  empty description clears it; a field sent as JSON `null` counts as omitted;
- every successful `projects/update` (one that changes nothing too) moves the project's
  `modified` forward: to a minute past the fixed `records.NOW` per update the account has
  taken, never the wall clock;
- a deleted backtest is gone for good: no read, list or second delete finds it, and no admin
  action lists it again; an optimization that ran it still serves it among its backtests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipelines.sandbox.instruments import JsonDict
from pipelines.sandbox.records import format_created

MAX_TAG_LENGTH = 100
"""The longest tag the sandbox keeps, in characters."""


class WriteError(ValueError):
    """A write the API answers with `success: false` and this message."""


def clean_tags(raw: Any) -> tuple[str, ...]:
    """The tags to store from a request's `tags`: as sent, exact duplicates dropped."""
    if raw is None:
        raise WriteError("Missing required parameter: tags")
    if not isinstance(raw, list) or not all(isinstance(tag, str) for tag in raw):
        raise WriteError(f"Invalid value for tags: {raw!r}; expected a list of strings")
    for tag in raw:
        if not tag.strip():
            raise WriteError("Tags cannot be empty")
        if len(tag) > MAX_TAG_LENGTH:
            raise WriteError(f'Tag "{tag[:20]}…" is longer than {MAX_TAG_LENGTH} characters')
    return tuple(dict.fromkeys(raw))


@dataclass(frozen=True)
class ProjectChanges:
    """A checked `projects/update`: the fields to change (None: unchanged)."""

    project_id: int
    name: str | None
    description: str | None


def project_changes(project_id: int, params: Mapping[str, Any]) -> ProjectChanges:
    """The changes a `projects/update` request asks for; WriteError for a bad field."""
    name, description = _text(params, "name"), _text(params, "description")
    if name is not None and not name.strip():
        raise WriteError("Project name cannot be empty")
    return ProjectChanges(project_id, name, description)


def _text(params: Mapping[str, Any], field: str) -> str | None:
    value = params.get(field)
    if value is not None and not isinstance(value, str):
        raise WriteError(f"Invalid value for {field}: {value!r}; expected a string")
    return value


def updated_project(
    project: JsonDict, changes: ProjectChanges, others: list[str], modified: datetime
) -> JsonDict:
    """A new project object with the changes made, modified at `modified`; WriteError when
    the new name is one of `others` (the account's other projects' names)."""
    if changes.name is not None:
        taken = {name.casefold() for name in others}
        if changes.name.casefold() in taken:
            raise WriteError(f"A project named '{changes.name}' already exists")
    fields = {"name": changes.name, "description": changes.description}
    updates = {key: value for key, value in fields.items() if value is not None}
    return project | updates | {"modified": format_created(modified, False)}
