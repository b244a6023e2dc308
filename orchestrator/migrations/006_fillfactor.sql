-- A saga's row is rewritten at each of its steps: room on its page keeps the rewrite in place (HOT:
-- no index changes, only settled is indexed).
ALTER TABLE sagas SET (fillfactor = 70);
