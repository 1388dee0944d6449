"""The projects table group: every project the user can see (`projects/read`)."""

from pipelines.schema.columns import Table, column, extra_column, parent_column

PROJECTS = Table(
    name="projects",
    key=("project_id",),
    description="One row per QuantConnect project (`projects/read`).",
    columns=(
        column("project_id", "BIGINT", "projectId", description="The project's id (`projectId`)"),
        column(
            "organization_id",
            "VARCHAR",
            "organizationId",
            description="The organization that holds the project: 32 hex characters",
        ),
        column(
            "name",
            "VARCHAR",
            "name",
            description='The project\'s name as sent: it may hold folders, e.g. "Research/Carry"',
        ),
        column(
            "language",
            "VARCHAR",
            "language",
            description='"Py" or "C#" (older projects: "F#", "VB", "Ja")',
        ),
        column(
            "created_at",
            "TIMESTAMPTZ",
            "created",
            description="When the project was created (`created`), UTC",
        ),
        column(
            "modified_at",
            "TIMESTAMPTZ",
            "modified",
            description="When the project was last modified (`modified`), UTC",
        ),
        column(
            "owner_id",
            "BIGINT",
            "ownerId",
            description="The user id of the project's owner (`ownerId`)",
        ),
        column(
            "description",
            "VARCHAR",
            "description",
            description="The project's description, as written on QuantConnect",
        ),
        column(
            "lean_version_id",
            "BIGINT",
            "leanVersionId",
            description="The id of the LEAN version the project uses (`leanVersionId`)",
        ),
        column(
            "lean_pinned_to_master",
            "BOOLEAN",
            "leanPinnedToMaster",
            description="The project is pinned to LEAN's master version (`leanPinnedToMaster`)",
        ),
        column(
            "last_live_deployment",
            "TIMESTAMPTZ",
            "lastLiveDeployment",
            description="When the project was last deployed live, UTC; NULL if never",
        ),
        column(
            "paper_equity",
            "DOUBLE",
            "paperEquity",
            description="The project's paper-trading equity (`paperEquity`); NULL when none",
        ),
        column(
            "parameters",
            "JSON",
            "parameters",
            description="The project's parameters as sent: a list of {name, value} or a map",
        ),
        column(
            "libraries",
            "JSON",
            "libraries",
            description=(
                "The libraries it uses, as sent: [{projectId, libraryName, ownerName, access}]"
            ),
        ),
        column(
            "collaborator_count",
            "BIGINT",
            "collaborators",
            parse=lambda v: len(v) if v else 0,
            description="How many collaborators the project lists (`collaborators`); 0 for none",
        ),
        column("owner", "BOOLEAN", "owner", description="The user who synced owns the project"),
        column(
            "encrypted",
            "BOOLEAN",
            "encrypted",
            description="The project's files are encrypted (see `encryption_key`)",
        ),
        column(
            "code_running",
            "BOOLEAN",
            "codeRunning",
            description="The project had code running when synced (`codeRunning`)",
        ),
        column(
            "channel_id", "VARCHAR", "channelId", description="The project's `channelId`, as sent"
        ),
        column(
            "lean_environment",
            "BIGINT",
            "leanEnvironment",
            description="The id of the project's LEAN environment (`leanEnvironment`)",
        ),
        column(
            "is_pinned", "BOOLEAN", "isPinned", description="The project is pinned (`isPinned`)"
        ),
        column(
            "max_file_size",
            "BIGINT",
            "maxFileSize",
            description="The project's `maxFileSize`, as sent (the API gives no unit)",
        ),
        column(
            "encryption_key",
            "JSON",
            "encryptionKey",
            description="The key its files are encrypted with, {id, name}; NULL when none",
        ),
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
