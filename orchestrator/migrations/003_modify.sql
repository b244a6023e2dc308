-- Order modification: a modification waiting for its extra charge, and the
-- deadline of that wait (separate from the state's own timer).
ALTER TABLE sagas ADD COLUMN pending_pb bytea;             -- food.v1.ModifyOrder being paid
ALTER TABLE sagas ADD COLUMN step_deadline_at timestamptz;
CREATE INDEX sagas_step_deadline ON sagas (step_deadline_at) WHERE step_deadline_at IS NOT NULL;
