-- Favourites and boosts of each status as read once at the end of
-- collection (the final reconciliation's read): recaps mark the answers
-- with the most. NULL: not read then (a run finished before this, or a
-- status the last read did not return).
ALTER TABLE statuses ADD COLUMN favourites INTEGER;
ALTER TABLE statuses ADD COLUMN boosts INTEGER;
