-- Client-bundle version negotiation (stale single-page apps reload).
-- Keep in step with ../sqlite/0002_bundles.sql.

-- An app whose browser bundles Daylight tracks, e.g. `web`.
CREATE TABLE apps (
    key        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Released bundle versions; `seq` is the publish order, used to compare
-- versions that are not SemVer.
CREATE TABLE bundle_versions (
    app          TEXT NOT NULL REFERENCES apps (key),
    version      TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (app, version)
);

-- Per app and environment: live version, canary, minimum supported version
-- and reload policy, as JSON (`doc`); `version` guards optimistic concurrency.
CREATE TABLE bundle_configs (
    app         TEXT NOT NULL REFERENCES apps (key),
    environment TEXT NOT NULL REFERENCES environments (key),
    doc         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (app, environment)
);
