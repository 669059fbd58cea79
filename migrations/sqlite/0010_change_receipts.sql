-- Propagation receipts: per change and node, the SDK connections the
-- change reached and their acknowledgements (`receipts::Figures` as JSON).
-- The admin API adds up the rows of every node. Keep in step with
-- ../postgres/0010_change_receipts.sql.
CREATE TABLE change_receipts (
    environment  TEXT NOT NULL,
    version      BIGINT NOT NULL,
    node         TEXT NOT NULL,
    committed_at BIGINT NOT NULL,
    figures      TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (environment, version, node)
);
CREATE INDEX change_receipts_updated_at ON change_receipts (updated_at);

-- The ruleset version a flag, segment or bundle write in one environment
-- produced: links the audit entry to its receipt.
ALTER TABLE audit_log ADD COLUMN change_version BIGINT;
