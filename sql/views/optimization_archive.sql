-- Per optimization: whether the warehouse holds its whole record, so that deleting it
-- upstream (`qcw prune optimizations`) loses nothing, and what is missing when it does not.
-- The whole record is its row in a final state, its parameters, a row for every backtest its
-- runtime statistics say ran (Completed + Failed), and the whole record of each of those
-- backtests that `backtests` lists (`backtest_archive`).
CREATE OR REPLACE VIEW optimization_archive AS
WITH parameters_held AS (
    SELECT optimization_id, count(*) AS parameters
    FROM optimization_parameters
    GROUP BY optimization_id
), backtests_held AS (
    SELECT optimization_id, count(*) AS backtests
    FROM optimization_backtests
    GROUP BY optimization_id
), backtests_not_archived AS (
    SELECT ob.optimization_id, count(*) AS backtests
    FROM optimization_backtests AS ob
    JOIN backtest_archive AS a USING (backtest_id)
    WHERE NOT a.archived AND a.deleted_upstream_at IS NULL
    GROUP BY ob.optimization_id
), checked AS (
    SELECT
        o.project_id,
        o.optimization_id,
        o.name,
        o.status,
        o.deleted_upstream_at,
        coalesce(o.backtests_completed, 0) + coalesce(o.backtests_failed, 0) AS ran,
        coalesce(h.backtests, 0) AS held,
        coalesce(n.backtests, 0) AS not_archived,
        coalesce(p.parameters, 0) AS parameters
    FROM optimizations AS o
    LEFT JOIN parameters_held AS p USING (optimization_id)
    LEFT JOIN backtests_held AS h USING (optimization_id)
    LEFT JOIN backtests_not_archived AS n USING (optimization_id)
), problems AS (
    SELECT
        *,
        list_filter([
            CASE WHEN status NOT IN ('Completed', 'Aborted')
                THEN format('not finished: {}', status) END,
            CASE WHEN parameters = 0 THEN 'parameters not loaded' END,
            CASE WHEN held < ran THEN format('{} of {} backtests missing', ran - held, ran) END,
            CASE WHEN not_archived > 0
                THEN format('{} of its backtests not fully archived', not_archived) END
        ], lambda problem: problem IS NOT NULL) AS found
    FROM checked
)
SELECT
    project_id,
    optimization_id,
    name,
    status,
    ran AS backtests_ran,
    held AS backtests_held,
    len(found) = 0 AS archived,
    nullif(array_to_string(found, '; '), '') AS missing,
    deleted_upstream_at
FROM problems;
