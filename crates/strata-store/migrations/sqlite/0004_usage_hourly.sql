-- The usage table's sums per hour, tenant, key and model, kept by the usage writer in the same
-- transaction as the rows it sums. Dashboards, budgets' spend and the keys' last use read these
-- (plus the rows of the one partial hour a query may start in) instead of every row, so the usage
-- table keeps only the indexes those partial hours and single lookups need: each index cost the
-- insert of every row a B-tree insert of its own (docs/performance.md, issue 16).
-- Key columns hold '' for none: a primary key column cannot be NULL in PostgreSQL, and SQLite's
-- NULLs never conflict. `model` is the logical model, else the model as the client named it.
CREATE TABLE usage_hourly (
    hour_ms                 BIGINT NOT NULL,
    day                     TEXT   NOT NULL,
    tenant                  TEXT   NOT NULL,
    key_id                  TEXT   NOT NULL,
    model                   TEXT   NOT NULL,
    requests                BIGINT NOT NULL,
    errors                  BIGINT NOT NULL,
    rate_limited            BIGINT NOT NULL,
    input_tokens            BIGINT NOT NULL,
    output_tokens           BIGINT NOT NULL,
    cache_read_tokens       BIGINT NOT NULL,
    cache_write_tokens      BIGINT NOT NULL,
    cost_nanos              BIGINT NOT NULL,
    guardrail_interventions BIGINT NOT NULL,
    cold_starts             BIGINT NOT NULL,
    keep_warm_calls         BIGINT NOT NULL,
    last_at_ms              BIGINT NOT NULL,
    PRIMARY KEY (hour_ms, tenant, key_id, model)
) WITHOUT ROWID;
CREATE INDEX usage_hourly_key ON usage_hourly (key_id, last_at_ms);

-- The sums of the rows written before this migration.
INSERT INTO usage_hourly
SELECT at_ms - ((at_ms % 3600000) + 3600000) % 3600000, MIN(day), COALESCE(tenant, ''), COALESCE(key_id, ''),
       COALESCE(logical_model, model, ''), COUNT(*),
       SUM(CASE WHEN error_class IS NOT NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN error_class IN ('rate_limited', 'budget_exceeded') THEN 1 ELSE 0 END),
       SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_nanos),
       SUM(CASE WHEN guardrail IS NOT NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN cold_start_ms IS NOT NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN purpose = 'keep_warm' THEN 1 ELSE 0 END),
       MAX(at_ms)
FROM usage
GROUP BY at_ms - ((at_ms % 3600000) + 3600000) % 3600000, COALESCE(tenant, ''), COALESCE(key_id, ''),
         COALESCE(logical_model, model, '');

-- Grouping and filtering by tenant, model or key now reads usage_hourly; time ranges of rows keep
-- usage_at, single requests the primary key.
DROP INDEX usage_tenant_at;
DROP INDEX usage_logical_model_at;
DROP INDEX usage_key_at;
