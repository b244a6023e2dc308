-- Every statement finds a customer's log row by its msg_id (the producer's key: the insert, the sender's
-- outcome, the outbox) or by customer (their list); the index of the bigserial id was never read. msg_id
-- becomes the primary key and the id stays a column (the customers' list orders by it): one index less to
-- write for each of an order's notifications.
ALTER TABLE notification.notifications DROP CONSTRAINT IF EXISTS notifications_pkey;
ALTER TABLE notification.notifications DROP CONSTRAINT IF EXISTS notifications_msg_id_key;
ALTER TABLE notification.notifications ADD CONSTRAINT notifications_pkey PRIMARY KEY (msg_id);
