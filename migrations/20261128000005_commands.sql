-- Moderator commands (and participants' consent requests) received by
-- mention or direct message: who, when, what, and what it changed. Unique
-- per (scope, status) so a command seen twice (stream and reconciliation,
-- or by two chats' listeners) acts once.
CREATE TABLE commands (
    id          INTEGER PRIMARY KEY,
    scope       TEXT    NOT NULL,     -- a chat id, or '*' for consent
    run_id      INTEGER REFERENCES runs (id),
    status_id   TEXT    NOT NULL,
    account     TEXT    NOT NULL,     -- user@domain as the server reports it
    command     TEXT    NOT NULL,
    received_at TEXT    NOT NULL,
    effect      TEXT    NOT NULL,
    UNIQUE (scope, status_id)
);

-- A paused run posts nothing until resumed; survives restarts.
ALTER TABLE runs ADD COLUMN paused_at TEXT;
-- A run called off before it started (`cancel`): who did it.
ALTER TABLE runs ADD COLUMN cancelled_by TEXT;

-- Where reading the bot's mentions resumes, per chat.
CREATE TABLE mention_cursors (
    scope           TEXT PRIMARY KEY,
    notification_id TEXT NOT NULL
);

-- Participants who asked (`optout`) to be left out of recaps.
CREATE TABLE opt_outs (
    account    TEXT PRIMARY KEY,      -- user@domain
    since      TEXT NOT NULL,
    status_id  TEXT NOT NULL
);
