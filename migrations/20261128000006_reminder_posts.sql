-- Reminders ("#1QEdChat starts in 15 minutes") are posts of a run too.
-- SQLite cannot change a CHECK constraint in place: rebuild the table.
CREATE TABLE posts_new (
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    seq             INTEGER NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('intro', 'question', 'closing', 'reminder')),
    number          INTEGER,
    body            TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    planned_at      TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    state           TEXT    NOT NULL DEFAULT 'planned'
                    CHECK (state IN ('planned', 'sending', 'sent', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    status_id       TEXT,
    url             TEXT,
    posted_at       TEXT,
    last_error      TEXT,
    PRIMARY KEY (run_id, seq)
);
INSERT INTO posts_new SELECT run_id, seq, kind, number, body, text, planned_at, idempotency_key,
    state, attempts, status_id, url, posted_at, last_error FROM posts;
DROP TABLE posts;
ALTER TABLE posts_new RENAME TO posts;
