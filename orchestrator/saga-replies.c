/* The reply consumer: workers' answers (durable "orchestrator" on FOOD_EVT),
 * a batch per transaction with a savepoint per message. Payment outcomes move
 * sagas; every answer stops the re-sends of the command it answers. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "metrics.h"
#include "orchestrator.h"
#include "saga-admin.h"
#include "worker.h"

typedef struct {
        natsMsg *msg;
        const char *poison; /* why it is dead-lettered (static text), or NULL */
        bool failed;
        char reply_to[SAGA_REPLY_TO_MAX];
        EngineReply reply; /* RPC answer to send after commit */
} Reply;

static Metric *m_replies, *m_stale;

/* Whether command `command_id` was sent for `order_id`: 1, 0 (no such
 * command: the reply answers nothing any saga asked), or negative errno. */
static int reply_command_known(Pg *pg, const char *order_id, int64_t command_id) {
        static const PgStmt st = {"reply_command_known", "SELECT 1 FROM outbox WHERE id = $1 AND order_id = $2"};
        char id[24];
        PGresult *res = NULL;
        snprintf(id, sizeof(id), "%" PRId64, command_id);
        const char *vals[] = {id, order_id};
        int r = pg_run(pg, &st, 2, vals, NULL, NULL, &res);
        if (r == 0)
                r = PQntuples(res) == 1;
        PQclear(res);
        return r;
}

/* Payment authorization outcome for a saga waiting on it. */
static int on_payment_outcome(Orchestrator *o, Pg *pg, const ProtobufCMessage *m, const Food__V1__Correlation *corr,
                              Reply *out) {
        SagaRow row;
        EngineArgs args = {0};
        SagaInput in;
        int r = saga_store_load(pg, corr->order_id, &row);
        if (r != 0)
                return r < 0 ? r : 0; /* unknown order: nothing to move */
        EnginePayment kind = engine_payment_reply(&row, m, corr, &in, &args);
        if (kind == ENGINE_PAY_LATE_CHARGE) {
                /* The saga no longer waits for this charge: refund it (once). */
                const Food__V1__PaymentAuthorized *a = (const Food__V1__PaymentAuthorized *)m;
                r = engine_late_charge(pg, &row, corr->step, a->payment_id, a->amount);
                saga_row_clear(&row);
                return r;
        }
        if (kind == ENGINE_PAY_STALE) {
                metric_add(m_stale, 1);
                log_info("saga %s: stale payment reply (step %s attempt %u, saga at %s/%s/%d) ignored",
                         corr->order_id, corr->step, corr->attempt, saga_state_name(row.state), row.step,
                         row.attempt);
                saga_row_clear(&row);
                return 0;
        }
        snprintf(out->reply_to, sizeof(out->reply_to), "%s", row.reply_to);
        row.reply_to[0] = 0;
        if (kind == ENGINE_PAY_MODIFY) {
                r = engine_modify_outcome(pg, &row, in, &args, &out->reply);
                saga_row_clear(&row);
                return r;
        }
        r = engine_apply(&o->engine, pg, &row, in, &args, &out->reply);
        if (r == 0 && in == SAGA_IN_PAYMENT_DECLINED)
                r = engine_reply_set(&out->reply, 402, "Payment declined",
                                     "the card was declined; no order was placed", NULL, 0);
        else if (r == 0 && in == SAGA_IN_PAYMENT_FAILED)
                r = engine_reply_set(&out->reply, 503, "Pay later",
                                     "the payment provider is unavailable; nothing was charged, try again later",
                                     NULL, 5);
        saga_row_clear(&row);
        return r == SAGA_CONFLICT ? 0 : r;
}

/* The coupon of a saga waiting to be paid. */
static int on_coupon_outcome(Orchestrator *o, Pg *pg, const ProtobufCMessage *m, const Food__V1__Correlation *corr,
                             Reply *out) {
        SagaRow row;
        int r = saga_store_load(pg, corr->order_id, &row);
        if (r != 0)
                return r < 0 ? r : 0;
        if (row.state != SAGA_PAYMENT_PENDING || strcmp(row.step, "redeem_coupon") != 0 ||
            (int)corr->attempt != row.attempt) {
                metric_add(m_stale, 1);
                saga_row_clear(&row);
                return 0;
        }
        snprintf(out->reply_to, sizeof(out->reply_to), "%s", row.reply_to);
        r = engine_coupon_outcome(&o->engine, pg, &row, m, &out->reply);
        if (!out->reply.data)
                out->reply_to[0] = 0; /* still paying: the waiters stay on the saga */
        saga_row_clear(&row);
        return r == SAGA_CONFLICT ? 0 : r;
}

/* An authorization that lost the race with the payment deadline. */
static int on_late_charge(Pg *pg, const Food__V1__PaymentAuthorized *m) {
        SagaRow row;
        int r = saga_store_load(pg, m->corr->order_id, &row);
        if (r != 0)
                return r < 0 ? r : 0;
        r = engine_late_charge(pg, &row, m->corr->step, m->payment_id, m->amount);
        saga_row_clear(&row);
        return r;
}

static int on_refunded(Pg *pg, const Food__V1__PaymentRefunded *m) {
        SagaRow row;
        int r = saga_store_load(pg, m->corr->order_id, &row);
        if (r != 0)
                return r < 0 ? r : 0;
        r = engine_refunded(pg, &row, m->payment_id, m->amount);
        saga_row_clear(&row);
        return r;
}

/* Handles one reply inside the batch transaction. */
static int reply_one(Orchestrator *o, Pg *pg, Reply *it) {
        const char *type_name = bus_header(it->msg, BUS_HDR_TYPE);
        const char *msg_id = bus_header(it->msg, "Nats-Msg-Id");
        const CodecType *type = type_name ? codec_type_by_name(type_name) : NULL;
        ProtobufCMessage *m = NULL;
        Food__V1__Correlation *corr;
        int r;

        if (!type || !msg_id ||
            codec_unpack(type->desc, natsMsg_GetData(it->msg), (size_t)natsMsg_GetDataLength(it->msg), &m) < 0) {
                it->poison = "no Nats-Msg-Id, unknown Food-Type, or a payload that is not a message of it";
                return 0;
        }
        if (!worker_subject_fits(m, natsMsg_GetSubject(it->msg))) {
                it->poison = "Food-Type does not match the subject";
                codec_free(m);
                return 0;
        }
        corr = codec_correlation(m);
        if (!corr) {
                it->poison = "not a reply: no correlation";
                codec_free(m);
                return 0;
        }
        if (!*corr->order_id && corr->command_id == 0) {
                /* An answer to a command no saga sent (a store owner's coupon): nothing to do. */
                codec_free(m);
                return 0;
        }
        if (!*corr->order_id || corr->command_id <= 0) {
                it->poison = "correlation without order id or command id";
                codec_free(m);
                return 0;
        }
        r = pg_exec(pg, "SAVEPOINT reply");
        if (r == 0)
                r = saga_store_inbox(pg, msg_id, corr->order_id, type->desc->name, corr->step);
        if (r == SAGA_STORE_DUPLICATE) {
                r = pg_exec(pg, "RELEASE SAVEPOINT reply");
                goto out;
        }
        /* A failed refund is not an answer: the sweeper re-sends it with back-off
         * until the provider takes it (its idempotency key prevents paying twice). */
        if (r == 0 && type->desc == &food__v1__payment_failed__descriptor && strcmp(corr->step, "refund") == 0) {
                log_warn("saga %s: step %s failed (%s); it will be retried", corr->order_id, corr->step,
                         ((const Food__V1__PaymentFailed *)m)->reason);
                r = pg_exec(pg, "RELEASE SAVEPOINT reply");
                goto out;
        }
        if (r == 0)
                r = saga_store_ack_command(pg, corr->command_id, (int)corr->attempt);
        if (r == 0) {
                /* Not acknowledged: stale, or answering a command never sent for this order (an
                 * unknown order, a forged id), which is poison rather than stale. */
                int known = reply_command_known(pg, corr->order_id, corr->command_id);
                if (known == 0) {
                        it->poison = "answers no command sent for this order (unknown order or command)";
                        r = pg_exec(pg, "ROLLBACK TO SAVEPOINT reply");
                        goto out;
                }
                if (known < 0)
                        r = known;
        }
        /* Effects only for the answer that acknowledged its command: a reply to
         * an older attempt, or a second reply to the same one, changes nothing. */
        if (r == 1 && saga_admin_is_compensation(corr->step)) {
                int c = saga_admin_compensation_answered(pg, corr->order_id);
                if (c < 0)
                        r = c;
        }
        if (r == 1) {
                if (type->desc == &food__v1__payment_authorized__descriptor ||
                    type->desc == &food__v1__payment_declined__descriptor ||
                    type->desc == &food__v1__payment_failed__descriptor)
                        r = on_payment_outcome(o, pg, m, corr, it);
                else if (type->desc == &food__v1__coupon_redeemed__descriptor ||
                         type->desc == &food__v1__coupon_rejected__descriptor)
                        r = on_coupon_outcome(o, pg, m, corr, it);
                else if (type->desc == &food__v1__payment_refunded__descriptor)
                        r = on_refunded(pg, (const Food__V1__PaymentRefunded *)m);
                else
                        r = 0;
        } else if (r == 0 && type->desc == &food__v1__payment_authorized__descriptor) {
                r = on_late_charge(pg, (const Food__V1__PaymentAuthorized *)m);
        } else if (r == 0)
                metric_add(m_stale, 1);
        if (r == 0) {
                metric_add(m_replies, 1);
                r = pg_exec(pg, "RELEASE SAVEPOINT reply");
        } else if (r == -EBADMSG) {
                /* PostgreSQL refused the reply's own data (e.g. a Nats-Msg-Id that is not UTF-8). */
                log_warn("saga %s: reply refused by the database: %s", corr->order_id, pg_error(pg));
                it->poison = "the database refused its content";
                engine_reply_clear(&it->reply);
                r = pg_exec(pg, "ROLLBACK TO SAVEPOINT reply");
        } else if (r != -ENOTCONN) {
                log_warn("saga %s: reply %s failed: %s", corr->order_id, msg_id, pg_error(pg));
                it->failed = true;
                engine_reply_clear(&it->reply);
                r = pg_exec(pg, "ROLLBACK TO SAVEPOINT reply");
        }
out:
        codec_free(m);
        return r;
}

static void reply_batch(Orchestrator *o, Pg *pg, BusPublisher *dlq, natsMsgList *list) {
        Reply items[BUS_FETCH_MAX];
        int n = list->Count, r;

        memset(items, 0, sizeof(items));
        r = pg_ensure(pg);
        if (r == 0)
                r = pg_begin(pg);
        for (int i = 0; i < n && r == 0; i++) {
                items[i].msg = list->Msgs[i];
                r = reply_one(o, pg, &items[i]);
        }
        if (r != 0 || pg_commit(pg) != 0) {
                pg_rollback(pg);
                log_warn("replies: batch of %d not committed: %s", n, pg_error(pg));
                for (int i = 0; i < n; i++) {
                        bus_nak(list->Msgs[i]);
                        engine_reply_clear(&items[i].reply);
                }
                return;
        }
        orchestrator_kick_relay(o);
        for (int i = 0; i < n; i++) {
                Reply *it = &items[i];
                if (it->poison) {
                        const char *type = bus_header(it->msg, BUS_HDR_TYPE);
                        worker_poison_count(natsMsg_GetSubject(it->msg));
                        log_warn("replies: dead-lettering message on %s (type %.128s, %d bytes): %s",
                                 natsMsg_GetSubject(it->msg), type ? type : "none",
                                 natsMsg_GetDataLength(it->msg), it->poison);
                        (void)bus_dead_letter(dlq, "orchestrator", it->msg, it->poison);
                }
                /* Every request waiting on this payment gets the outcome. */
                for (char *save = NULL, *inbox = strtok_r(it->reply_to, " ", &save); inbox && it->reply.data;
                     inbox = strtok_r(NULL, " ", &save))
                        (void)bus_publish_core(o->svc.bus, inbox, food__v1__rpc_reply__descriptor.name,
                                               it->reply.data, it->reply.len);
                engine_reply_clear(&it->reply);
        }
        /* A message is terminated only once its dead letter is stored; otherwise it comes back. */
        r = bus_publisher_flush(dlq, 5000);
        for (int i = 0; i < n; i++) {
                Reply *it = &items[i];
                if (it->poison && r == 0)
                        bus_term(it->msg);
                else if (it->poison || it->failed)
                        bus_nak(it->msg);
                else
                        bus_ack(it->msg);
        }
}

void *reply_consumer_run(void *arg) {
        Orchestrator *o = arg;
        BusConsumer *c = NULL;
        BusPublisher *dlq = NULL;
        Pg *pg = NULL;

        m_replies = metrics_counter("food_saga_replies_total", "Worker replies applied by the orchestrator");
        m_stale = metrics_counter("food_saga_replies_stale_total", "Replies to an older attempt or already answered");
        worker_poison_init();
        if (service_pg(&o->svc, &pg) < 0 || bus_consumer_open(o->svc.bus, "orchestrator", &c) < 0 ||
            bus_publisher_new(o->svc.bus, &dlq) < 0) {
                service_stopping = true;
                goto out;
        }
        while (!service_stopping) {
                natsMsgList list;
                int r = bus_fetch(c, &list, BUS_FETCH_MAX, 1000);
                if (r == -ETIMEDOUT)
                        continue;
                if (r < 0) {
                        struct timespec ts = {0, 200000000L};
                        nanosleep(&ts, NULL);
                        continue;
                }
                reply_batch(o, pg, dlq, &list);
                natsMsgList_Destroy(&list);
        }
out:
        bus_consumer_close(c);
        bus_publisher_free(dlq);
        pg_free(pg);
        return NULL;
}
