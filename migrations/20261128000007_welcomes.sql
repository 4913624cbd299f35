-- welcome_newcomers: the one public welcome each person gets from a chat,
-- ever. Recorded before it is posted, so it is never sent twice.
CREATE TABLE welcomes (
    chat_id   TEXT NOT NULL,
    account   TEXT NOT NULL,      -- user@domain, lowercase
    status_id TEXT NOT NULL,      -- the answer it replies to
    at        TEXT NOT NULL,
    PRIMARY KEY (chat_id, account)
);
