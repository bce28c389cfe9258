-- One row per request, written by the usage writer. `day` (YYYY-MM-DD, UTC) is computed from
-- at_ms when the row is written, so grouping by day is the same plain column on every backend.
CREATE TABLE usage (
    request_id         TEXT    NOT NULL PRIMARY KEY,
    at_ms              BIGINT  NOT NULL,
    day                TEXT    NOT NULL,
    tenant             TEXT,
    key_id             TEXT,
    dialect            TEXT    NOT NULL,
    model              TEXT,
    logical_model      TEXT,
    served_model       TEXT,
    targets            TEXT    NOT NULL,
    status             BIGINT  NOT NULL,
    outcome            TEXT    NOT NULL,
    error_class        TEXT,
    error_source       TEXT,
    attempts           BIGINT  NOT NULL,
    input_tokens       BIGINT  NOT NULL,
    output_tokens      BIGINT  NOT NULL,
    cache_read_tokens  BIGINT  NOT NULL,
    cache_write_tokens BIGINT  NOT NULL,
    cost_nanos         BIGINT  NOT NULL,
    pricing_layer      TEXT,
    ttft_ms            REAL,
    ttlt_ms            REAL,
    duration_ms        REAL    NOT NULL,
    fallback           BOOLEAN NOT NULL,
    baseline           BOOLEAN NOT NULL,
    usage_estimated    BOOLEAN NOT NULL,
    disconnected       BOOLEAN NOT NULL,
    audit_body         TEXT
);
CREATE INDEX usage_tenant_at ON usage (tenant, at_ms);
CREATE INDEX usage_logical_model_at ON usage (logical_model, at_ms);
CREATE INDEX usage_key_at ON usage (key_id, at_ms);
CREATE INDEX usage_at ON usage (at_ms);

-- API keys: only the SHA-256 of the secret is kept, never the secret.
CREATE TABLE api_keys (
    id            TEXT   NOT NULL PRIMARY KEY,
    tenant        TEXT   NOT NULL,
    name          TEXT,
    hash          TEXT   NOT NULL UNIQUE,
    prefix        TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT,
    revoked_at_ms BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

-- Who changed what, in order of writing (the id breaks ties between equal timestamps).
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   BIGINT NOT NULL,
    actor   TEXT   NOT NULL,
    action  TEXT   NOT NULL,
    tenant  TEXT,
    subject TEXT,
    detail  TEXT
);
CREATE INDEX audit_at ON audit (at_ms);
