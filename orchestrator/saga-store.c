/* The orchestrator's statements: shard locks, loads, and one batch of writes per transaction. */
#include "saga-store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "ids.h"

/* Shard locks: the two-key advisory lock (1718579556 = "food" in ASCII, shard), held by the
 * writing session until it lets the shard go to another replica or ends. A session takes no more than
 * its fair part: $3 shards over the orchestrators writing now, less the $2 it holds (the scan stops at
 * the limit, so no lock beyond it is taken). */
static const PgStmt st_lock = {
        "saga_lock_shards",
        "SELECT s FROM unnest($1::int[]) AS s WHERE pg_try_advisory_lock(1718579556, s)"
        " LIMIT greatest(0, ceil($3::numeric / greatest(1, (SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name LIKE 'orchestrator-writer %')))::int - $2::int)"};

static const PgStmt st_unlock = {"saga_unlock_shard", "SELECT pg_advisory_unlock(1718579556, $1::int)"};
static const PgStmt st_writers = {"saga_count_writers",
                                  "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'orchestrator-writer %'"};

int saga_store_unlock_shard(Pg *pg, int shard) {
        char s[16];
        const char *vals[] = {s};
        snprintf(s, sizeof(s), "%d", shard);
        return pg_run(pg, &st_unlock, 1, vals, NULL, NULL, NULL);
}

int saga_store_count_writers(Pg *pg, long long *ret) {
        PGresult *res = NULL;
        int r = pg_run(pg, &st_writers, 0, NULL, NULL, NULL, &res);
        if (r == 0)
                *ret = pg_ll(res, 0, 0);
        PQclear(res);
        return r;
}

#define SAGA_COLUMNS                                                                                                   \
        "order_id, shard, state, step, attempt, version, order_pb, card_token, pending_pb, record_pb, reply_to,"     \
        " coalesce((extract(epoch FROM deadline_at) * 1000)::bigint, 0),"                                          \
        " coalesce((extract(epoch FROM step_deadline_at) * 1000)::bigint, 0), compensation_failed,"                 \
        " (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM updated_at) * 1000)::bigint, settled"

/* Binary results: bytea and integers without text conversions. */
static const PgStmt st_load_shards = {"saga_load_shards",
                                      "SELECT " SAGA_COLUMNS " FROM sagas WHERE shard = ANY($1::int[]) AND NOT settled"};
static const PgStmt st_load_one = {"saga_load_one", "SELECT " SAGA_COLUMNS " FROM sagas WHERE order_id = $1"};

static const PgStmt st_event_seqs = {
        "saga_event_seqs",
        "SELECT s, greatest(coalesce((SELECT max(seq) FROM events WHERE shard = s), 0),"
        " coalesce((SELECT published FROM shards WHERE shard = s), 0)) FROM unnest($1::int[]) AS s"};
static const PgStmt st_events_unpublished = {
        "saga_events_unpublished",
        "SELECT e.shard, e.seq, e.msg_id, e.order_id, e.payload FROM events e LEFT JOIN shards w ON w.shard = e.shard"
        " WHERE e.shard = ANY($1::int[]) AND e.seq > coalesce(w.published, 0) ORDER BY e.shard, e.seq"};

static const PgStmt st_keys = {
        "saga_lookup_keys",
        "SELECT i.customer_id, i.key, i.order_id, i.request_hash FROM idempotency i"
        " JOIN unnest($1::text[], $2::text[]) AS u(c, k) ON i.customer_id = u.c AND i.key = u.k"};

static const PgStmt st_sagas = {
        "saga_write_sagas",
        "WITH w AS (INSERT INTO sagas (order_id, shard, settled, definition_version, state, step, attempt, version, customer_id,"
        " store_id, order_pb, card_token, pending_pb, record_pb, deadline_at, step_deadline_at, compensation_failed,"
        " created_at, updated_at, reply_to)"
        " SELECT o, sh, se, 1, st, stp, a, v, c, s, opb, ct, ppb, rpb,"
        " CASE WHEN dl = 0 THEN NULL ELSE to_timestamp(dl / 1000.0) END,"
        " CASE WHEN sdl = 0 THEN NULL ELSE to_timestamp(sdl / 1000.0) END, cf, to_timestamp(cr / 1000.0),"
        " to_timestamp(up / 1000.0), rt"
        " FROM unnest($1::text[], $2::int[], $3::bool[], $4::text[], $5::text[], $6::int[], $7::int8[], $8::text[],"
        "  $9::text[], $10::bytea[], $11::text[], $12::bytea[], $13::bytea[], $14::int8[], $15::int8[], $16::bool[],"
        "  $17::int8[], $18::int8[], $19::text[]) AS u(o, sh, se, st, stp, a, v, c, s, opb, ct, ppb, rpb, dl, sdl, cf, cr, up, rt)"
        " ON CONFLICT (order_id) DO UPDATE SET settled = EXCLUDED.settled, state = EXCLUDED.state,"
        " step = EXCLUDED.step, attempt = EXCLUDED.attempt, version = EXCLUDED.version, order_pb = EXCLUDED.order_pb,"
        " card_token = EXCLUDED.card_token, pending_pb = EXCLUDED.pending_pb, record_pb = EXCLUDED.record_pb,"
        " reply_to = EXCLUDED.reply_to,"
        " deadline_at = EXCLUDED.deadline_at, step_deadline_at = EXCLUDED.step_deadline_at,"
        " compensation_failed = EXCLUDED.compensation_failed, updated_at = EXCLUDED.updated_at"
        " WHERE sagas.version <= EXCLUDED.version RETURNING 1)"
        " SELECT saga_rows_written(cardinality($1::text[]), count(*)) FROM w"};
static const PgStmt st_events = {
        "saga_write_events",
        "INSERT INTO events (shard, seq, order_id, msg_id, payload)"
        " SELECT * FROM unnest($1::int[], $2::int8[], $3::text[], $4::text[], $5::bytea[])"};
/* The customer's log row, and its row in the sender's outbox (notification/migrations/004): the
 * sender is fed each batch's rows at once; its sweep takes only rows still there 10 s later (a
 * feed lost with a worker that died, or never delivered). A row written before (a batch decided
 * again) is not queued again. */
static const PgStmt st_notifications = {
        "saga_write_notifications",
        "WITH n AS (INSERT INTO notification.notifications (msg_id, customer_id, order_id, status, message, at,"
        "           delivery_status, attempts)"
        "           SELECT m, c, nullif(o, ''), s, t, to_timestamp(at / 1000.0), 'sent', 1"
        "           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[])"
        "           AS u(m, c, o, s, t, at)"
        "           ON CONFLICT (msg_id) DO NOTHING RETURNING msg_id, id)"
        " INSERT INTO notification.outbox (msg_id, id, next_attempt_at)"
        " SELECT msg_id, id, now() + interval '10 seconds' FROM n"};
static const PgStmt st_keys_claim = {
        "saga_write_keys",
        "INSERT INTO idempotency (customer_id, key, order_id, request_hash)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"};
static const PgStmt st_published = {
        "saga_write_published",
        "INSERT INTO shards (shard, published) SELECT * FROM unnest($1::int[], $2::int8[])"
        " ON CONFLICT (shard) DO UPDATE SET published = greatest(shards.published, EXCLUDED.published)"};

/* What one prune deletes at most of each kind: a short transaction between two batches. The limit is part of
 * the text so that even the statement's generic plan walks the age index and stops there (and the rows go by
 * ctid: `ctid IN (subquery)` would be a hash join over a scan of the whole table). */
#define SAGA_PRUNE_CHUNK 2000
#define SQL_INT_(n) #n
#define SQL_INT(n) SQL_INT_(n)

/* Loose commands (migrations/009): kept from their batch's commit until JetStream confirmed them. */
static const PgStmt st_loose = {
        "saga_write_loose",
        "INSERT INTO loose_commands (id, shard, worker, command)"
        " SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bytea[]) ON CONFLICT (id) DO NOTHING"};
static const PgStmt st_loose_sent = {"saga_loose_sent", "DELETE FROM loose_commands WHERE id = ANY($1::text[])"};
static const PgStmt st_loose_due = {
        "saga_loose_due",
        "SELECT id, worker, command FROM loose_commands WHERE shard = ANY($1::int[])"
        " AND created_at <= now() - make_interval(secs => $2::int) ORDER BY created_at LIMIT " SQL_INT(SAGA_LOOSE_CHUNK)};

/* Published status events older than $2 seconds of the shards in $1: those of the oldest expired chunk (read in the
 * order of the age index, so a chunk costs its own rows, whatever the backlog or the planner's statistics). Answers
 * the chunk's size and how many went. With the owned shards inside the chunk's query, the planner (a fresh table
 * without statistics, or a replica owning half the shards) read every event of those shards by the primary key and
 * then filtered them by age: 10-60 ms a second between batches with 20,000 events, none expired. */
static const PgStmt st_prune_events = {
        "saga_prune_events",
        "WITH c AS MATERIALIZED (SELECT ctid, shard, seq FROM events WHERE at < now() - make_interval(secs => $2::int8)"
        " ORDER BY at LIMIT " SQL_INT(SAGA_PRUNE_CHUNK) "),"
        " d AS (DELETE FROM events WHERE ctid = ANY (ARRAY(SELECT c.ctid FROM c JOIN shards w ON w.shard = c.shard"
        " WHERE c.shard = ANY($1::int[]) AND c.seq <= w.published)) RETURNING 1)"
        " SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM d)"};
static const PgStmt st_prune_keys = {
        "saga_prune_keys",
        "DELETE FROM idempotency WHERE ctid = ANY (ARRAY(SELECT ctid FROM idempotency"
        " WHERE created_at < now() - make_interval(secs => $1::int8) ORDER BY created_at LIMIT " SQL_INT(SAGA_PRUNE_CHUNK)
        "))"};

/* An int[] parameter of `n` shards. */
static int shard_array(PgArray *a, const int *shards, size_t n) {
        pg_array_init(a, PG_OID_INT4);
        for (size_t i = 0; i < n; i++)
                pg_array_int4(a, shards[i]);
        return pg_array_finish(a);
}

int saga_store_lock_shards(Pg *pg, const int *shards, size_t n, int held, int *got) {
        PgArray a;
        PGresult *res = NULL;
        char held_s[16], all_s[16];
        int r = shard_array(&a, shards, n), k = 0;
        snprintf(held_s, sizeof(held_s), "%d", held);
        snprintf(all_s, sizeof(all_s), "%d", IDS_SHARDS);
        if (r == 0) {
                const char *vals[] = {(const char *)a.data, held_s, all_s};
                int lens[] = {(int)a.len, 0, 0}, fmts[] = {1, 0, 0};
                r = pg_run(pg, &st_lock, 3, vals, lens, fmts, &res);
        }
        pg_array_free(&a);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res); i++)
                got[k++] = (int)pg_ll(res, i, 0);
        PQclear(res);
        return k;
}

/* A writing session that holds shard locks, waits for its client and has not moved for `stall_s`
 * seconds: its process is paused or hung. A live owner runs a batch or pings at least every 2 s; a
 * session stopped in the middle of a pipeline is never "idle" for PostgreSQL's own timeouts. One
 * that is running a long statement (or waiting on a lock, on I/O) is left alone. */
static const PgStmt st_end_stalled = {
        "saga_end_stalled",
        "SELECT a.application_name, a.pid, pg_terminate_backend(a.pid) FROM pg_stat_activity a"
        " WHERE a.application_name LIKE 'orchestrator-writer %' AND a.pid <> pg_backend_pid()"
        " AND a.wait_event = 'ClientRead' AND a.state_change < now() - make_interval(secs => $1::int)"
        " AND a.pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 1718579556 AND granted)"};

int saga_store_end_stalled(Pg *pg, int stall_s, void (*ended)(void *ud, const char *name, long pid), void *ud) {
        char secs[16];
        const char *vals[] = {secs};
        PGresult *res = NULL;
        snprintf(secs, sizeof(secs), "%d", stall_s);
        int r = pg_run(pg, &st_end_stalled, 1, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res); i++)
                ended(ud, PQgetvalue(res, i, 0), (long)pg_ll(res, i, 1));
        r = PQntuples(res);
        PQclear(res);
        return r;
}

/* A bytea cell of a text-format result, unescaped (PQfreemem it), or NULL with *len 0 when NULL. */
static unsigned char *bytea_cell(PGresult *res, int i, int c, size_t *len) {
        *len = 0;
        if (PQgetisnull(res, i, c))
                return NULL;
        return PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, c), len);
}

/* Row `i` of a SAGA_COLUMNS result into `row` (zeroed first). */
static int row_from(PGresult *res, int i, SagaRow *row) {
        ProtobufCMessage *m = NULL;
        unsigned char *raw;
        size_t n = 0;
        int r;

        memset(row, 0, sizeof(*row));
        snprintf(row->order_id, sizeof(row->order_id), "%s", PQgetvalue(res, i, 0));
        row->shard = (int)pg_ll(res, i, 1);
        if (saga_state_parse(PQgetvalue(res, i, 2), &row->state) < 0)
                return -EBADMSG;
        snprintf(row->step, sizeof(row->step), "%s", PQgetvalue(res, i, 3));
        row->attempt = (int)pg_ll(res, i, 4);
        row->version = pg_ll(res, i, 5);
        raw = bytea_cell(res, i, 6, &n);
        r = raw ? codec_unpack(&food__v1__order__descriptor, raw, n, &m) : -EBADMSG;
        PQfreemem(raw);
        if (r < 0)
                return r;
        row->order = (Food__V1__Order *)m;
        snprintf(row->card_token, sizeof(row->card_token), "%s", PQgetvalue(res, i, 7));
        raw = bytea_cell(res, i, 8, &n);
        if (raw) {
                r = codec_unpack(&food__v1__modify_order__descriptor, raw, n, &m);
                PQfreemem(raw);
                if (r < 0)
                        return r;
                row->pending = (Food__V1__ModifyOrder *)m;
        }
        raw = bytea_cell(res, i, 9, &n);
        if (raw) {
                r = saga_row_unpack_record(row, raw, n);
                PQfreemem(raw);
                if (r < 0)
                        return r;
        }
        snprintf(row->reply_to, sizeof(row->reply_to), "%s", PQgetvalue(res, i, 10));
        row->deadline_ms = pg_ll(res, i, 11);
        row->step_deadline_ms = pg_ll(res, i, 12);
        row->compensation_failed = PQgetvalue(res, i, 13)[0] == 't';
        row->created_ms = pg_ll(res, i, 14);
        row->updated_ms = pg_ll(res, i, 15);
        row->settled = PQgetvalue(res, i, 16)[0] == 't';
        return 0;
}

int saga_store_load_shards(Pg *pg, const int *shards, size_t n, void (*fn)(void *ud, SagaRow *row), void *ud) {
        PgArray a;
        PGresult *res = NULL;
        int r = shard_array(&a, shards, n);
        if (r == 0) {
                const char *vals[] = {(const char *)a.data};
                int lens[] = {(int)a.len}, fmts[] = {1};
                r = pg_run(pg, &st_load_shards, 1, vals, lens, fmts, &res);
        }
        pg_array_free(&a);
        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                SagaRow *row = calloc(1, sizeof(*row));
                if (!row) {
                        r = -ENOMEM;
                        break;
                }
                r = row_from(res, i, row);
                if (r < 0) {
                        /* One saga that cannot be read must not keep the shard (every other saga of it)
                         * from being served: it is left out, loudly; sagactl stuck lists it. */
                        log_error("saga %s: its stored row cannot be read (%s); left out of memory",
                                  PQgetvalue(res, i, 0), strerror(-r));
                        saga_row_clear(row);
                        free(row);
                        r = r == -ENOMEM ? r : 0;
                        continue;
                }
                fn(ud, row);
        }
        PQclear(res);
        return r;
}

int saga_store_load(Pg *pg, const char *order_id, SagaRow *row) {
        const char *vals[] = {order_id};
        PGresult *res = NULL;
        int r = pg_run(pg, &st_load_one, 1, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        if (PQntuples(res) == 0)
                r = SAGA_STORE_NOT_FOUND;
        else if ((r = row_from(res, 0, row)) < 0)
                saga_row_clear(row);
        PQclear(res);
        return r;
}

int saga_store_load_events(Pg *pg, const int *shards, size_t n, int64_t *seqs,
                           void (*fn)(void *ud, SagaEvent *ev), void *ud) {
        PgArray a;
        PGresult *seq_res = NULL, *ev_res = NULL;
        int r = shard_array(&a, shards, n);
        if (r == 0) {
                const char *vals[] = {(const char *)a.data};
                int lens[] = {(int)a.len}, fmts[] = {1};
                PgCall calls[] = {{&st_event_seqs, 1, vals, lens, fmts, &seq_res},
                                  {&st_events_unpublished, 1, vals, lens, fmts, &ev_res}};
                r = pg_pipeline(pg, calls, 2);
        }
        pg_array_free(&a);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(seq_res); i++)
                for (size_t k = 0; k < n; k++)
                        if (shards[k] == (int)pg_ll(seq_res, i, 0))
                                seqs[k] = pg_ll(seq_res, i, 1);
        for (int i = 0; i < PQntuples(ev_res); i++) {
                SagaEvent ev = {.shard = (int)pg_ll(ev_res, i, 0), .seq = pg_ll(ev_res, i, 1)};
                unsigned char *raw;
                snprintf(ev.msg_id, sizeof(ev.msg_id), "%s", PQgetvalue(ev_res, i, 2));
                snprintf(ev.order_id, sizeof(ev.order_id), "%s", PQgetvalue(ev_res, i, 3));
                raw = bytea_cell(ev_res, i, 4, &ev.len);
                ev.payload = malloc(ev.len ? ev.len : 1);
                if (!raw || !ev.payload) {
                        PQfreemem(raw);
                        free(ev.payload);
                        r = -ENOMEM;
                        break;
                }
                memcpy(ev.payload, raw, ev.len);
                PQfreemem(raw);
                fn(ud, &ev);
        }
        PQclear(seq_res);
        PQclear(ev_res);
        return r;
}

int saga_store_lookup_keys(Pg *pg, const char *const *customers, const char *const *keys, size_t n,
                           void (*fn)(void *ud, const char *customer, const char *key, const char *order_id,
                                      const char *request_hash),
                           void *ud) {
        PgArray c, k;
        PGresult *res = NULL;
        int r;
        pg_array_init(&c, PG_OID_TEXT);
        pg_array_init(&k, PG_OID_TEXT);
        for (size_t i = 0; i < n; i++) {
                pg_array_text(&c, customers[i]);
                pg_array_text(&k, keys[i]);
        }
        r = pg_array_finish(&c);
        if (r == 0)
                r = pg_array_finish(&k);
        if (r == 0) {
                const char *vals[] = {(const char *)c.data, (const char *)k.data};
                int lens[] = {(int)c.len, (int)k.len}, fmts[] = {1, 1};
                r = pg_run(pg, &st_keys, 2, vals, lens, fmts, &res);
        }
        pg_array_free(&c);
        pg_array_free(&k);
        for (int i = 0; r == 0 && i < PQntuples(res); i++)
                fn(ud, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
        PQclear(res);
        return r;
}

/* ---- one batch of writes ------------------------------------------------------- */

#define SAGA_ARRAYS(b)                                                                                                 \
        {&(b)->s_id,       &(b)->s_shard,   &(b)->s_settled, &(b)->s_state,    &(b)->s_step,          &(b)->s_attempt,   \
         &(b)->s_version,  &(b)->s_customer, &(b)->s_store,  &(b)->s_order,    &(b)->s_card,          &(b)->s_pending,   \
         &(b)->s_record,   &(b)->s_deadline, &(b)->s_step_deadline, &(b)->s_comp_failed, &(b)->s_created, &(b)->s_updated, \
         &(b)->s_reply_to}
#define EVENT_ARRAYS(b) {&(b)->e_shard, &(b)->e_seq, &(b)->e_order, &(b)->e_msg, &(b)->e_payload}
#define NOTE_ARRAYS(b) {&(b)->n_msg, &(b)->n_customer, &(b)->n_order, &(b)->n_status, &(b)->n_message, &(b)->n_at}
#define KEY_ARRAYS(b) {&(b)->k_customer, &(b)->k_key, &(b)->k_order, &(b)->k_hash}
#define MARK_ARRAYS(b) {&(b)->w_shard, &(b)->w_published}
#define LOOSE_ARRAYS(b) {&(b)->l_id, &(b)->l_shard, &(b)->l_worker, &(b)->l_command}

void saga_batch_init(SagaBatch *b) {
        memset(b, 0, sizeof(*b));
        static const uint32_t saga_oids[19] = {PG_OID_TEXT,  PG_OID_INT4,  PG_OID_BOOL,  PG_OID_TEXT,  PG_OID_TEXT,
                                               PG_OID_INT4,  PG_OID_INT8,  PG_OID_TEXT,  PG_OID_TEXT,  PG_OID_BYTEA,
                                               PG_OID_TEXT,  PG_OID_BYTEA, PG_OID_BYTEA, PG_OID_INT8,  PG_OID_INT8,
                                               PG_OID_BOOL,  PG_OID_INT8,  PG_OID_INT8,  PG_OID_TEXT};
        static const uint32_t event_oids[5] = {PG_OID_INT4, PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT, PG_OID_BYTEA};
        static const uint32_t note_oids[6] = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
                                              PG_OID_INT8};
        static const uint32_t loose_oids[4] = {PG_OID_TEXT, PG_OID_INT4, PG_OID_TEXT, PG_OID_BYTEA};
        PgArray *s[] = SAGA_ARRAYS(b), *e[] = EVENT_ARRAYS(b), *no[] = NOTE_ARRAYS(b), *k[] = KEY_ARRAYS(b),
                *w[] = MARK_ARRAYS(b), *l[] = LOOSE_ARRAYS(b);
        for (int i = 0; i < 19; i++)
                pg_array_init(s[i], saga_oids[i]);
        for (int i = 0; i < 4; i++)
                pg_array_init(l[i], loose_oids[i]);
        for (int i = 0; i < 5; i++)
                pg_array_init(e[i], event_oids[i]);
        for (int i = 0; i < 6; i++)
                pg_array_init(no[i], note_oids[i]);
        for (int i = 0; i < 4; i++)
                pg_array_init(k[i], PG_OID_TEXT);
        pg_array_init(w[0], PG_OID_INT4);
        pg_array_init(w[1], PG_OID_INT8);
        readmodel_write_init(&b->rm);
}

void saga_batch_free(SagaBatch *b) {
        PgArray *s[] = SAGA_ARRAYS(b), *e[] = EVENT_ARRAYS(b), *no[] = NOTE_ARRAYS(b), *k[] = KEY_ARRAYS(b),
                *w[] = MARK_ARRAYS(b), *l[] = LOOSE_ARRAYS(b);
        for (int i = 0; i < 19; i++)
                pg_array_free(s[i]);
        for (int i = 0; i < 4; i++)
                pg_array_free(l[i]);
        for (int i = 0; i < 5; i++)
                pg_array_free(e[i]);
        for (int i = 0; i < 6; i++)
                pg_array_free(no[i]);
        for (int i = 0; i < 4; i++)
                pg_array_free(k[i]);
        for (int i = 0; i < 2; i++)
                pg_array_free(w[i]);
        readmodel_write_free(&b->rm);
}

bool saga_batch_empty(const SagaBatch *b) {
        return !b->n_sagas && !b->n_events && !b->n_notes && !b->n_keys && !b->n_marks && !b->n_loose;
}

int saga_batch_saga(SagaBatch *b, const SagaRow *row) {
        uint8_t *order = NULL, *pending = NULL, *record = NULL;
        size_t order_len = 0, pending_len = 0, record_len = 0;
        int r = codec_pack(&row->order->base, &order, &order_len);
        if (r == 0 && row->pending)
                r = codec_pack(&row->pending->base, &pending, &pending_len);
        if (r == 0)
                r = saga_row_pack_record(row, &record, &record_len);
        /* An order is established once paid (F3): the read side sees it from PAID or REJECTED on. */
        if (r == 0 && row->state != SAGA_PAYMENT_PENDING)
                r = readmodel_write_add(&b->rm, row->order, row->updated_ms);
        if (r == 0) {
                pg_array_text(&b->s_id, row->order_id);
                pg_array_int4(&b->s_shard, row->shard);
                pg_array_bool(&b->s_settled, row->settled);
                pg_array_text(&b->s_state, saga_state_name(row->state));
                pg_array_text(&b->s_step, row->step);
                pg_array_int4(&b->s_attempt, row->attempt);
                pg_array_int8(&b->s_version, row->version);
                pg_array_text(&b->s_customer, row->order->customer_id);
                pg_array_text(&b->s_store, row->order->store_id);
                pg_array_bytes(&b->s_order, order, order_len);
                pg_array_text(&b->s_card, row->card_token);
                if (pending)
                        pg_array_bytes(&b->s_pending, pending, pending_len);
                else
                        pg_array_null(&b->s_pending);
                pg_array_bytes(&b->s_record, record, record_len);
                pg_array_int8(&b->s_deadline, row->deadline_ms);
                pg_array_int8(&b->s_step_deadline, row->step_deadline_ms);
                pg_array_bool(&b->s_comp_failed, row->compensation_failed);
                pg_array_int8(&b->s_created, row->created_ms);
                pg_array_int8(&b->s_updated, row->updated_ms);
                pg_array_text(&b->s_reply_to, row->reply_to);
                b->n_sagas++;
        }
        free(order);
        free(pending);
        free(record);
        return r;
}

void saga_batch_event(SagaBatch *b, int shard, int64_t seq, const char *order_id, const char *msg_id,
                      const uint8_t *payload, size_t len) {
        pg_array_int4(&b->e_shard, shard);
        pg_array_int8(&b->e_seq, seq);
        pg_array_text(&b->e_order, order_id);
        pg_array_text(&b->e_msg, msg_id);
        pg_array_bytes(&b->e_payload, payload, len);
        b->n_events++;
}

void saga_batch_notification(SagaBatch *b, const char *msg_id, const char *customer_id, const char *order_id,
                             const char *status, const char *message, int64_t at_ms) {
        pg_array_text(&b->n_msg, msg_id);
        pg_array_text(&b->n_customer, customer_id);
        pg_array_text(&b->n_order, order_id ? order_id : "");
        pg_array_text(&b->n_status, status);
        pg_array_text(&b->n_message, message);
        pg_array_int8(&b->n_at, at_ms);
        b->n_notes++;
}

void saga_batch_key(SagaBatch *b, const char *customer_id, const char *key, const char *order_id,
                    const char *request_hash) {
        pg_array_text(&b->k_customer, customer_id);
        pg_array_text(&b->k_key, key);
        pg_array_text(&b->k_order, order_id);
        pg_array_text(&b->k_hash, request_hash);
        b->n_keys++;
}

void saga_batch_loose(SagaBatch *b, const char *id, int shard, const char *worker, const uint8_t *command,
                      size_t len) {
        pg_array_text(&b->l_id, id);
        pg_array_int4(&b->l_shard, shard);
        pg_array_text(&b->l_worker, worker);
        pg_array_bytes(&b->l_command, command, len);
        b->n_loose++;
}

void saga_batch_published(SagaBatch *b, int shard, int64_t seq) {
        pg_array_int4(&b->w_shard, shard);
        pg_array_int8(&b->w_published, seq);
        b->n_marks++;
}

/* Finishes `n` arrays into parameter slot `slot` and appends a call of `st`. */
static int batch_call(SagaBatch *b, size_t *n_calls, int slot, const PgStmt *st, PgArray **arrays, int n) {
        if (pg_array_params(arrays, n, b->vals[slot], b->lens[slot], b->fmts[slot]) < 0)
                return -ENOMEM;
        b->calls[(*n_calls)++] = (PgCall){st, n, b->vals[slot], b->lens[slot], b->fmts[slot], NULL};
        return 0;
}

int saga_batch_commit(SagaBatch *b, Pg *pg) {
        PgArray *s[] = SAGA_ARRAYS(b), *e[] = EVENT_ARRAYS(b), *no[] = NOTE_ARRAYS(b), *k[] = KEY_ARRAYS(b),
                *w[] = MARK_ARRAYS(b), *l[] = LOOSE_ARRAYS(b);
        size_t n = 0;
        int r = 0, rm;

        if (saga_batch_empty(b))
                return 0;
        /* Keys first: a key claimed before fails the batch at once. */
        if (b->n_keys)
                r = batch_call(b, &n, 0, &st_keys_claim, k, 4);
        if (r == 0 && b->n_sagas)
                r = batch_call(b, &n, 1, &st_sagas, s, 19);
        if (r == 0 && b->n_events)
                r = batch_call(b, &n, 2, &st_events, e, 5);
        if (r == 0 && b->n_notes)
                r = batch_call(b, &n, 3, &st_notifications, no, 6);
        if (r == 0 && b->n_marks)
                r = batch_call(b, &n, 4, &st_published, w, 2);
        if (r == 0 && b->n_loose)
                r = batch_call(b, &n, 5, &st_loose, l, 4);
        if (r == 0) {
                rm = readmodel_write_calls(&b->rm, b->calls + n);
                if (rm < 0)
                        r = rm;
                else
                        n += (size_t)rm;
        }
        return r < 0 ? r : pg_transaction(pg, b->calls, n);
}

int saga_store_prune(Pg *pg, const int *shards, size_t n, int64_t events_age_s, int64_t keys_age_s) {
        PgArray a;
        PGresult *ev = NULL, *keys = NULL;
        char ev_age[24], key_age[24];
        int r = shard_array(&a, shards, n);
        snprintf(ev_age, sizeof(ev_age), "%" PRId64, events_age_s);
        snprintf(key_age, sizeof(key_age), "%" PRId64, keys_age_s);
        if (r == 0) {
                const char *ev_vals[] = {(const char *)a.data, ev_age}, *key_vals[] = {key_age};
                int ev_lens[] = {(int)a.len, 0}, ev_fmts[] = {1, 0};
                PgCall calls[] = {{&st_prune_events, 2, ev_vals, ev_lens, ev_fmts, &ev},
                                  {&st_prune_keys, 1, key_vals, NULL, NULL, &keys}};
                r = pg_transaction(pg, calls, 2);
        }
        /* Behind: a full chunk of expired events of which some were ours to delete (another replica's, or events
         * not published yet, wait for their own turn), or a full chunk of keys. */
        if (r == 0)
                r = (pg_ll(ev, 0, 0) >= SAGA_PRUNE_CHUNK && pg_ll(ev, 0, 1) > 0) ||
                    atoi(PQcmdTuples(keys)) >= SAGA_PRUNE_CHUNK;
        PQclear(ev);
        PQclear(keys);
        pg_array_free(&a);
        return r;
}

int saga_store_loose_sent(Pg *pg, const char *const *ids, size_t n) {
        PgArray a;
        int r;
        pg_array_init(&a, PG_OID_TEXT);
        for (size_t i = 0; i < n; i++)
                pg_array_text(&a, ids[i]);
        r = pg_array_finish(&a);
        if (r == 0) {
                const char *vals[] = {(const char *)a.data};
                int lens[] = {(int)a.len}, fmts[] = {1};
                r = pg_run(pg, &st_loose_sent, 1, vals, lens, fmts, NULL);
        }
        pg_array_free(&a);
        return r;
}

int saga_store_loose_due(Pg *pg, const int *shards, size_t n, int age_s,
                         void (*fn)(void *ud, const char *id, const char *worker, const uint8_t *command,
                                    size_t len),
                         void *ud) {
        PgArray a;
        PGresult *res = NULL;
        char age[16];
        int r = shard_array(&a, shards, n);
        snprintf(age, sizeof(age), "%d", age_s);
        if (r == 0) {
                const char *vals[] = {(const char *)a.data, age};
                int lens[] = {(int)a.len, 0}, fmts[] = {1, 0};
                r = pg_run(pg, &st_loose_due, 2, vals, lens, fmts, &res);
        }
        pg_array_free(&a);
        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                size_t len = 0;
                unsigned char *raw = bytea_cell(res, i, 2, &len);
                if (!raw) {
                        r = -ENOMEM;
                        break;
                }
                fn(ud, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), raw, len);
                PQfreemem(raw);
        }
        PQclear(res);
        return r;
}
