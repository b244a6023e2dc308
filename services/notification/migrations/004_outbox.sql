-- notification worker: the sender's queue moves out of the customers' log. Pushing a row used to
-- write a new version of its log row (text and three indexes) to say 'sent'; now each row still
-- to push has a narrow outbox row (written with it by the orchestrator, msg_id its key) that the
-- sender deletes once the provider took it, or updates for a retry. The log row's delivery_status
-- holds the outcome the row has once out of the outbox ('sent', or 'failed', 'shed', 'logged'
-- written when it leaves otherwise), attempts and last_error only for those or for pushes that
-- needed retries. notification.pushes shows each row's state as before: 'pending' or 'sending'
-- while queued.
CREATE TABLE IF NOT EXISTS notification.outbox (
        msg_id text PRIMARY KEY,
        id bigint NOT NULL,          -- the log row's id: the shedder drops the oldest first
        attempts integer NOT NULL DEFAULT 0,
        leased boolean NOT NULL DEFAULT false, -- claimed by a sender until next_attempt_at
        next_attempt_at timestamptz NOT NULL,
        last_error text
);
CREATE INDEX IF NOT EXISTS outbox_due ON notification.outbox (next_attempt_at);
INSERT INTO notification.outbox (msg_id, id, attempts, leased, next_attempt_at, last_error)
        SELECT msg_id, id, attempts, delivery_status = 'sending', coalesce(next_attempt_at, now()), last_error
        FROM notification.notifications WHERE delivery_status IN ('pending', 'sending')
        ON CONFLICT (msg_id) DO NOTHING;
UPDATE notification.notifications SET delivery_status = 'sent', next_attempt_at = NULL
        WHERE delivery_status IN ('pending', 'sending');
DROP INDEX IF EXISTS notification.notifications_due;
DROP INDEX IF EXISTS notification.notifications_pending;
CREATE OR REPLACE VIEW notification.pushes AS
        SELECT n.id, n.msg_id, n.customer_id, n.order_id, n.status, n.message, n.at,
               CASE WHEN o.msg_id IS NULL THEN n.delivery_status WHEN o.leased THEN 'sending' ELSE 'pending' END
                       AS delivery_status,
               coalesce(o.attempts, n.attempts) AS attempts, o.next_attempt_at, n.sent_at,
               coalesce(o.last_error, n.last_error) AS last_error
        FROM notification.notifications n LEFT JOIN notification.outbox o ON o.msg_id = n.msg_id;
