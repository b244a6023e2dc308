/* PostgreSQL persistence of sagas, outbox, inbox and idempotency keys. */
#include "saga-store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "saga-retry.h"

static const PgStmt st_load = {
        "saga_load",
        "SELECT state, step, attempt, version, order_pb, card_token, reply_to, pending_pb,"
        " coalesce((extract(epoch from step_deadline_at) * 1000)::bigint, 0)"
        " FROM sagas WHERE order_id = $1 FOR UPDATE"};
static const PgStmt st_insert = {
        "saga_insert",
        "INSERT INTO sagas (order_id, definition_version, state, step, attempt, version, customer_id, store_id,"
        " order_pb, card_token, reply_to, deadline_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        " CASE WHEN $12::bigint = 0 THEN NULL ELSE to_timestamp($12::bigint / 1000.0) END)"};
static const PgStmt st_update = {
        "saga_update",
        "UPDATE sagas SET state = $2, step = $3, attempt = $4, version = $5, order_pb = $6, reply_to = $7,"
        " pending_pb = $10, step_deadline_at = CASE WHEN $11::bigint = 0 THEN NULL"
        " ELSE to_timestamp($11::bigint / 1000.0) END,"
        " deadline_at = CASE WHEN $8::bigint = -1 THEN deadline_at WHEN $8::bigint = 0 THEN NULL"
        " ELSE to_timestamp($8::bigint / 1000.0) END,"
        " updated_at = now() WHERE order_id = $1 AND version = $9"};
static const PgStmt st_outbox = {"saga_outbox",
                                 "INSERT INTO outbox (order_id, step, subject, type, payload, needs_ack, max_budget)"
                                 " VALUES ($1, $2, $3, $4, $5, $6, $7)"};
static const PgStmt st_inbox = {"saga_inbox",
                                "INSERT INTO inbox (msg_id, order_id, type, outcome) VALUES ($1, $2, $3, $4)"
                                " ON CONFLICT DO NOTHING RETURNING 1"};
static const PgStmt st_ack = {"saga_ack",
                              "UPDATE outbox SET acked_at = now() WHERE id = $1 AND attempt = $2 AND acked_at IS NULL"};
static const PgStmt st_close_step = {"saga_close_step",
                                     "UPDATE outbox SET acked_at = now(), next_try_at = NULL WHERE order_id = $1"
                                     " AND step = $2 AND needs_ack AND acked_at IS NULL"};
static const PgStmt st_claim_key = {"saga_claim_key",
                                    "INSERT INTO idempotency (customer_id, key, order_id, request_hash)"
                                    " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1"};
static const PgStmt st_get_key = {"saga_get_key",
                                  "SELECT order_id, request_hash FROM idempotency WHERE customer_id = $1 AND key = $2"};

void saga_row_clear(SagaRow *row) {
        codec_free(row->order ? &row->order->base : NULL);
        codec_free(row->pending ? &row->pending->base : NULL);
        memset(row, 0, sizeof(*row));
}

int saga_store_load(Pg *pg, const char *order_id, SagaRow *row) {
        const char *vals[] = {order_id};
        PGresult *res = NULL;
        ProtobufCMessage *m = NULL;
        unsigned char *raw = NULL;
        size_t n = 0;
        int r;

        memset(row, 0, sizeof(*row));
        r = pg_run(pg, &st_load, 1, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        if (PQntuples(res) == 0) {
                r = SAGA_STORE_NOT_FOUND;
                goto out;
        }
        if (saga_state_parse(PQgetvalue(res, 0, 0), &row->state) < 0) {
                r = -EBADMSG;
                goto out;
        }
        snprintf(row->order_id, sizeof(row->order_id), "%s", order_id);
        snprintf(row->step, sizeof(row->step), "%s", PQgetvalue(res, 0, 1));
        row->attempt = (int)pg_ll(res, 0, 2);
        row->version = pg_ll(res, 0, 3);
        snprintf(row->card_token, sizeof(row->card_token), "%s", PQgetvalue(res, 0, 5));
        snprintf(row->reply_to, sizeof(row->reply_to), "%s", PQgetvalue(res, 0, 6));
        raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 4), &n);
        if (!raw) {
                r = -ENOMEM;
                goto out;
        }
        r = codec_unpack(&food__v1__order__descriptor, raw, n, &m);
        if (r == 0)
                row->order = (Food__V1__Order *)m;
        row->step_deadline_ms = pg_ll(res, 0, 8);
        if (r == 0 && !PQgetisnull(res, 0, 7)) {
                PQfreemem(raw);
                raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 7), &n);
                r = raw ? codec_unpack(&food__v1__modify_order__descriptor, raw, n, &m) : -ENOMEM;
                if (r == 0)
                        row->pending = (Food__V1__ModifyOrder *)m;
        }
out:
        PQfreemem(raw);
        PQclear(res);
        return r;
}

/* Packs `order` for a bytea parameter; *buf is the caller's to free. */
static int pack_order(const Food__V1__Order *order, uint8_t **buf, size_t *len) {
        return codec_pack(&order->base, buf, len);
}

int saga_store_insert(Pg *pg, const SagaRow *row, const Food__V1__Order *order, int64_t deadline_ms) {
        char defv[16], attempt[16], version[24], deadline[24];
        uint8_t *buf = NULL;
        size_t len = 0;
        int r = pack_order(order, &buf, &len);
        if (r < 0)
                return r;
        snprintf(defv, sizeof(defv), "%d", SAGA_DEFINITION_VERSION);
        snprintf(attempt, sizeof(attempt), "%d", row->attempt);
        snprintf(version, sizeof(version), "%" PRId64, row->version);
        snprintf(deadline, sizeof(deadline), "%" PRId64, deadline_ms);
        const char *vals[] = {row->order_id, defv, saga_state_name(row->state), row->step, attempt, version,
                              order->customer_id, order->store_id, (const char *)buf, row->card_token, row->reply_to,
                              deadline};
        int lens[12] = {0}, fmts[12] = {0};
        lens[8] = (int)len;
        fmts[8] = 1;
        r = pg_run(pg, &st_insert, 12, vals, lens, fmts, NULL);
        free(buf);
        return r;
}

int saga_store_update(Pg *pg, const SagaRow *row, const Food__V1__Order *order, int64_t expected_version,
                      int64_t deadline_ms) {
        char attempt[16], version[24], expected[24], deadline[24], step_deadline[24];
        PGresult *res = NULL;
        uint8_t *buf = NULL, *pending = NULL;
        size_t len = 0, pending_len = 0;
        int r = pack_order(order, &buf, &len);
        if (r == 0 && row->pending)
                r = codec_pack(&row->pending->base, &pending, &pending_len);
        if (r < 0) {
                free(buf);
                return r;
        }
        snprintf(attempt, sizeof(attempt), "%d", row->attempt);
        snprintf(version, sizeof(version), "%" PRId64, row->version);
        snprintf(expected, sizeof(expected), "%" PRId64, expected_version);
        snprintf(deadline, sizeof(deadline), "%" PRId64, deadline_ms);
        snprintf(step_deadline, sizeof(step_deadline), "%" PRId64, row->step_deadline_ms);
        const char *vals[] = {row->order_id, saga_state_name(row->state), row->step, attempt, version,
                              (const char *)buf, row->reply_to, deadline, expected, (const char *)pending,
                              step_deadline};
        int lens[11] = {0}, fmts[11] = {0};
        lens[5] = (int)len;
        fmts[5] = 1;
        lens[9] = (int)pending_len;
        fmts[9] = 1;
        r = pg_run(pg, &st_update, 11, vals, lens, fmts, &res);
        free(buf);
        free(pending);
        if (r == 0 && strcmp(PQcmdTuples(res), "1") != 0)
                r = -ESTALE; /* someone else moved the saga since we read it */
        PQclear(res);
        return r;
}

int saga_store_outbox(Pg *pg, const char *order_id, const char *step, const ProtobufCMessage *msg, bool needs_ack) {
        char subject[CODEC_SUBJECT_MAX];
        uint8_t *buf = NULL;
        size_t len = 0;
        int r = codec_subject(msg->descriptor, order_id, subject, sizeof(subject));
        if (r < 0)
                return r;
        r = codec_pack(msg, &buf, &len);
        if (r < 0)
                return r;
        char budget[16];
        snprintf(budget, sizeof(budget), "%d", retry_policy(step)->max_attempts);
        const char *vals[] = {order_id, step, subject, msg->descriptor->name, (const char *)buf,
                              needs_ack ? "t" : "f", budget};
        int lens[7] = {0, 0, 0, 0, (int)len, 0, 0}, fmts[7] = {0, 0, 0, 0, 1, 0, 0};
        r = pg_run(pg, &st_outbox, 7, vals, lens, fmts, NULL);
        free(buf);
        return r;
}

int saga_store_inbox(Pg *pg, const char *msg_id, const char *order_id, const char *type, const char *outcome) {
        const char *vals[] = {msg_id, order_id, type, outcome};
        PGresult *res = NULL;
        int r = pg_run(pg, &st_inbox, 4, vals, NULL, NULL, &res);
        if (r == 0 && PQntuples(res) == 0)
                r = SAGA_STORE_DUPLICATE;
        PQclear(res);
        return r;
}

int saga_store_ack_command(Pg *pg, int64_t command_id, int attempt) {
        char id[24], att[16];
        PGresult *res = NULL;
        snprintf(id, sizeof(id), "%" PRId64, command_id);
        snprintf(att, sizeof(att), "%d", attempt);
        const char *vals[] = {id, att};
        int r = pg_run(pg, &st_ack, 2, vals, NULL, NULL, &res);
        if (r == 0)
                r = strcmp(PQcmdTuples(res), "1") == 0 ? 1 : 0;
        PQclear(res);
        return r;
}

int saga_store_close_step(Pg *pg, const char *order_id, const char *step) {
        const char *vals[] = {order_id, step};
        return pg_run(pg, &st_close_step, 2, vals, NULL, NULL, NULL);
}

int saga_store_claim_key(Pg *pg, const char *customer_id, const char *key, const char *order_id,
                         const char *request_hash, char *existing_order, size_t order_cap, char *existing_hash,
                         size_t hash_cap) {
        const char *vals[] = {customer_id, key, order_id, request_hash};
        PGresult *res = NULL;
        int r = pg_run(pg, &st_claim_key, 4, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        bool claimed = PQntuples(res) == 1;
        PQclear(res);
        if (claimed)
                return 0;
        r = pg_run(pg, &st_get_key, 2, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return -EAGAIN;
        }
        snprintf(existing_order, order_cap, "%s", PQgetvalue(res, 0, 0));
        snprintf(existing_hash, hash_cap, "%s", PQgetvalue(res, 0, 1));
        PQclear(res);
        return SAGA_STORE_DUPLICATE;
}
