"""The projects table group: every project the user can see (`projects/read`)."""

from pipelines.schema.columns import Table, column, extra_column, parent_column

PROJECTS = Table(
    name="projects",
    key=("project_id",),
    description="One row per QuantConnect project (`projects/read`).",
    columns=(
        column("project_id", "BIGINT", "projectId"),
        column("organization_id", "VARCHAR", "organizationId"),
        column("name", "VARCHAR", "name"),
        column("language", "VARCHAR", "language"),
        column("created_at", "TIMESTAMPTZ", "created"),
        column("modified_at", "TIMESTAMPTZ", "modified"),
        column("owner_id", "BIGINT", "ownerId"),
        column("description", "VARCHAR", "description"),
        column("lean_version_id", "BIGINT", "leanVersionId"),
        column("lean_pinned_to_master", "BOOLEAN", "leanPinnedToMaster"),
        column("last_live_deployment", "TIMESTAMPTZ", "lastLiveDeployment"),
        column("paper_equity", "DOUBLE", "paperEquity"),
        column(
            "parameters", "JSON", "parameters", description="A list or a map, as the API sent it"
        ),
        column("libraries", "JSON", "libraries"),
        column("collaborator_count", "BIGINT", "collaborators", parse=lambda v: len(v) if v else 0),
        column("owner", "BOOLEAN", "owner", description="The user owns the project"),
        column("encrypted", "BOOLEAN", "encrypted"),
        column("code_running", "BOOLEAN", "codeRunning"),
        column("channel_id", "VARCHAR", "channelId"),
        column("lean_environment", "BIGINT", "leanEnvironment"),
        column("is_pinned", "BOOLEAN", "isPinned"),
        column("max_file_size", "BIGINT", "maxFileSize"),
        column("encryption_key", "JSON", "encryptionKey", description="{id, name}, or NULL"),
        parent_column(
            "deleted_upstream_at",
            "TIMESTAMPTZ",
            "When a sync found it gone from `projects/read` (kept, with its backtests and"
            " optimizations, never fetched again); NULL while listed",
        ),
        extra_column(),
    ),
    # Dropped on purpose (reference §3): `liveForm` holds brokerage form data ("do not
    # store"), `sharingTokenBacktest` is a secret, `grid`/`liveGrid` are the IDE's layout.
    read_keys=("liveForm", "sharingTokenBacktest", "grid", "liveGrid"),
)

TABLES = (PROJECTS,)
