-- Rows are written by the orchestrator with the decision they tell of, and fed to the sender in
-- batches: no status event or command is consumed here any more, so no dedupe table. The sender
-- marks rows by msg_id (unique).
DROP TABLE IF EXISTS notification.processed;
