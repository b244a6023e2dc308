-- Commands that no saga keeps to send again (a store owner's coupon for a customer): written with the batch
-- that decided them, sent after its commit, and deleted once JetStream confirmed them. A row still here
-- 10 s later (the owner died between its commit and the publish, or JetStream did not confirm) is
-- sent again by its shard's owner; the worker applies a command once, by its business key (the coupon id).
CREATE TABLE IF NOT EXISTS loose_commands (
    id text PRIMARY KEY,          -- the command's business key
    shard int NOT NULL,           -- the shard of the request that decided it (its owner sends it again)
    worker text NOT NULL,         -- the worker it goes to (its FOOD_CMD subject)
    command bytea NOT NULL,       -- a packed food.v1.Command
    created_at timestamptz NOT NULL DEFAULT now()
);
