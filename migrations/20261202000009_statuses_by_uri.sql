-- A status is one answer however its server numbers it: its identity is
-- its `uri` (the ActivityPub id; its id when a server gives none). snac2
-- gives an edited status a new id, and local ids of different instances
-- collide. Rows stored before this have no uri (it was not kept, and the
-- `url` column may hold either): NULL, matched by id until seen again.
ALTER TABLE statuses ADD COLUMN uri TEXT;
CREATE UNIQUE INDEX statuses_by_uri ON statuses (run_id, uri);

-- A status whose id moved takes its answers along. SQLite cannot change a
-- foreign key in place: rebuild the table.
CREATE TABLE answers_new (
    run_id    INTEGER NOT NULL,
    status_id TEXT    NOT NULL,
    question  INTEGER NOT NULL,
    PRIMARY KEY (run_id, status_id, question),
    FOREIGN KEY (run_id, status_id) REFERENCES statuses (run_id, status_id)
        ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO answers_new SELECT run_id, status_id, question FROM answers;
DROP TABLE answers;
ALTER TABLE answers_new RENAME TO answers;
