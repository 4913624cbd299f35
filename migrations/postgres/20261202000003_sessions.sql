CREATE TABLE platform_sessions (account TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at timestamptz NOT NULL);
