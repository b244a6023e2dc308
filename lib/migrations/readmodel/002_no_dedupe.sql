-- The read model is written with each saga's decision (orchestrator) and replayed by version
-- (projector-rebuild): no message is consumed here any more, so no dedupe table.
DROP TABLE IF EXISTS readmodel.processed;
