-- Participants' posts seen during a run, one row per remote status id so
-- that seeing a status again (stream, timeline, context) cannot duplicate it.
CREATE TABLE statuses (
    run_id         INTEGER NOT NULL REFERENCES runs (id),
    status_id      TEXT    NOT NULL,
    account_id     TEXT    NOT NULL,
    account        TEXT    NOT NULL,       -- user@domain
    display_name   TEXT    NOT NULL,
    url            TEXT    NOT NULL,
    html           TEXT    NOT NULL,
    text           TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    edited_at      TEXT,
    in_reply_to_id TEXT,
    visibility     TEXT    NOT NULL,
    deleted_at     TEXT,
    PRIMARY KEY (run_id, status_id)
);

-- Which questions a status answers (none: it is an "other post").
CREATE TABLE answers (
    run_id    INTEGER NOT NULL,
    status_id TEXT    NOT NULL,
    question  INTEGER NOT NULL,
    PRIMARY KEY (run_id, status_id, question),
    FOREIGN KEY (run_id, status_id) REFERENCES statuses (run_id, status_id) ON DELETE CASCADE
);
