-- Every post the bot plans for a run, recorded before it is sent so that a
-- crash between sending and marking can be reconciled (never posted twice).
CREATE TABLE posts (
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    seq             INTEGER NOT NULL,      -- 0 intro, 1..n questions, n+1 closing
    kind            TEXT    NOT NULL CHECK (kind IN ('intro', 'question', 'closing')),
    number          INTEGER,               -- question number
    body            TEXT    NOT NULL,      -- the question as written in chats.yaml
    text            TEXT    NOT NULL,      -- exactly what is posted
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
