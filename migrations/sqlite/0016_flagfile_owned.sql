-- Flags as code, field ownership enforced: per environment and flag, the
-- parts of its config a file manages (`manage:`, a JSON list such as
-- ["targeting"]) and that file's path, as the last `daylight apply` said.
-- Other writes to those parts are refused (409 owned_by_file). Keep in
-- step with ../postgres/0016_flagfile_owned.sql.
CREATE TABLE flagfile_owned (
    environment TEXT NOT NULL,
    flag        TEXT NOT NULL,
    file        TEXT NOT NULL,
    parts       TEXT NOT NULL,
    PRIMARY KEY (environment, flag)
);
