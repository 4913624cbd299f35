-- Several replicas on one database (issue 16): a chat is run by the holder
-- of its lease, a row that expires unless renewed (src/store/postgres/
-- leases.rs says why rows and not advisory locks). Every grant of a lease
-- draws a new fencing token from one sequence, so tokens only grow, for a
-- chat and across chats, even after a released row is deleted.
CREATE SEQUENCE chat_lease_tokens AS BIGINT;

CREATE TABLE chat_leases (
    chat_id       TEXT        PRIMARY KEY,
    holder        TEXT        NOT NULL,   -- host:pid:random, unique per process
    fencing_token BIGINT      NOT NULL,
    acquired_at   TIMESTAMPTZ NOT NULL,
    -- Set from the database's clock (now()), never a replica's.
    expires_at    TIMESTAMPTZ NOT NULL
);

-- A planned post is claimed before it is sent, once: the primary key makes
-- a second claim (another replica, or a woken one) fail. The token is the
-- lease that claimed it, for the record and for the fault tests.
CREATE TABLE post_claims (
    run_id        BIGINT      NOT NULL,
    seq           INTEGER     NOT NULL,
    holder        TEXT        NOT NULL,
    fencing_token BIGINT      NOT NULL,
    claimed_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, seq),
    FOREIGN KEY (run_id, seq) REFERENCES posts (run_id, seq)
);
