-- Connected browsers per bundle version, per node: each node's presence
-- task replaces its rows when its counts change and refreshes `updated_at`
-- every second; the status API adds up the rows of the other nodes that
-- are fresh, so a node that stopped refreshing no longer counts. Keep in
-- step with ../postgres/0014_bundle_presence.sql.
CREATE TABLE bundle_presence (
    node        TEXT NOT NULL,
    environment TEXT NOT NULL,
    app         TEXT NOT NULL,
    version     TEXT NOT NULL,
    connected   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (node, environment, app, version)
);
CREATE INDEX bundle_presence_app ON bundle_presence (environment, app);
