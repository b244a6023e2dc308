-- notification worker: delivery of each row through the webhook sender. 'logged' rows are only the
-- customer's log (sender disabled, or written before it existed); 'pending' rows wait for the sender,
-- 'sending' ones are leased to a sender until next_attempt_at; then 'sent', 'failed' (attempts used up
-- or refused by the provider) or 'shed' (dropped under overload: still listed, never pushed).
ALTER TABLE notification.notifications
        ADD COLUMN IF NOT EXISTS delivery_status text NOT NULL DEFAULT 'logged'
                CHECK (delivery_status IN ('logged', 'pending', 'sending', 'sent', 'failed', 'shed')),
        ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz,
        ADD COLUMN IF NOT EXISTS sent_at timestamptz,
        ADD COLUMN IF NOT EXISTS last_error text;
-- The sender's claim (due rows, oldest first) and the shedder (oldest pending by id) read only these.
CREATE INDEX IF NOT EXISTS notifications_due ON notification.notifications (next_attempt_at, id)
        WHERE delivery_status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS notifications_pending ON notification.notifications (id)
        WHERE delivery_status = 'pending';
