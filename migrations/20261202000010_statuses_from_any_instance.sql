-- A status read from a watched instance (`also_watch`) lives there, under
-- that server's own local id, which collides with the bot's server's ids:
-- "5" on mastodon.social is not "5" at home. Such a row is keyed
-- `instance/id` (the key stays (run_id, status_id), unique across
-- instances) and names its instance here, so it is re-read there and only
-- there. NULL: the bot's own server, as every row stored before this.
-- Copies of one post on several instances still share one row: its uri.
ALTER TABLE statuses ADD COLUMN instance TEXT;
