-- Time a request waited for a custom model Bedrock was loading (a cold start), in ms; NULL when
-- it met none. `purpose` marks the gateway's own calls (`keep_warm`); NULL for client requests.
ALTER TABLE usage ADD COLUMN cold_start_ms DOUBLE PRECISION;
ALTER TABLE usage ADD COLUMN purpose TEXT;
