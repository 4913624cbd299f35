-- One row per run of a chat: a scheduled (or --now) start and its window.
-- Times are RFC 3339 UTC text.
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    chat_id       TEXT    NOT NULL,
    planned_start TEXT    NOT NULL,
    started_at    TEXT,
    collect_until TEXT    NOT NULL,
    ended_at      TEXT,
    state         TEXT    NOT NULL DEFAULT 'running'
                  CHECK (state IN ('running', 'done', 'missed')),
    note          TEXT,
    -- A restart finds the same run again instead of starting a second one.
    UNIQUE (chat_id, planned_start)
);
CREATE INDEX runs_by_chat ON runs (chat_id, planned_start);
