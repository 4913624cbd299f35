-- Which process runs which chat: two hashchat processes on one database
-- must not both post the same chat. A lease is renewed while held and
-- can be taken over once expired (its holder died without releasing it).
CREATE TABLE chat_leases (
    chat_id    TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,   -- host:pid:random, unique per process
    acquired_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
