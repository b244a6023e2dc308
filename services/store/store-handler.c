/* Store tickets: versioned upserts, withdrawal tombstones, replies to the orchestrator. */
#include "store-handler.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "food.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "order-check.h"
#include "utf8.h"

#define STATUS_WITHDRAWN "WITHDRAWN"

static Metric *m_recorded, *m_stale, *m_withdrawn;

/* A newer snapshot replaces the ticket, unless a compensation already withdrew it. */
static const PgStmt st_upsert = {
        "store_ticket_upsert",
        "INSERT INTO tickets (order_id, store_id, customer_id, status, version, total, items, note)"
        " VALUES ($1, $2, $3, $4, $5::bigint, $6::bigint, $7::jsonb, $8)"
        " ON CONFLICT (order_id) DO UPDATE SET store_id = EXCLUDED.store_id, customer_id = EXCLUDED.customer_id,"
        " status = EXCLUDED.status, version = EXCLUDED.version, total = EXCLUDED.total, items = EXCLUDED.items,"
        " note = EXCLUDED.note, updated_at = now()"
        " WHERE tickets.version < EXCLUDED.version AND tickets.status <> 'WITHDRAWN'"
        " RETURNING store_id, status"};

static const PgStmt st_current = {"store_ticket_current",
                                  "SELECT coalesce(store_id, ''), status FROM tickets WHERE order_id = $1"};

/* A withdrawal that arrives before the ticket leaves a tombstone the ticket cannot overwrite. */
static const PgStmt st_withdraw = {
        "store_ticket_withdraw",
        "INSERT INTO tickets (order_id, store_id, status, version, reason) VALUES ($1, nullif($2, ''), 'WITHDRAWN', 0,"
        " nullif($3, ''))"
        " ON CONFLICT (order_id) DO UPDATE SET status = 'WITHDRAWN', reason = EXCLUDED.reason,"
        " store_id = coalesce(tickets.store_id, EXCLUDED.store_id), updated_at = now()"
        " WHERE tickets.status <> 'WITHDRAWN'"
        " RETURNING coalesce(store_id, '')"};

void store_metrics_init(void) {
        m_recorded = metrics_counter("food_store_tickets_total{outcome=\"recorded\"}", "Ticket commands by outcome");
        m_stale = metrics_counter("food_store_tickets_total{outcome=\"stale\"}", "");
        m_withdrawn = metrics_counter("food_store_tickets_total{outcome=\"withdrawn\"}", "");
}

static void count(Metric *m) {
        if (m)
                metric_add(m, 1);
}

char *store_items_json(const Food__V1__Order *o) {
        json_t *arr = json_array();
        char *text = NULL;
        if (!arr)
                return NULL;
        for (size_t i = 0; i < o->n_items; i++) {
                const Food__V1__OrderItem *it = o->items[i];
                if (json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:I}", "menu_item_id", it->menu_item_id,
                                                         "name", it->name ? it->name : "", "quantity",
                                                         (int)it->quantity, "unit_price",
                                                         (json_int_t)it->unit_price)) < 0)
                        goto out;
        }
        text = json_dumps(arr, JSON_COMPACT);
out:
        json_decref(arr);
        return text;
}

/* The ticket's text fields (lines, note) are stored as JSON and text: all must be UTF-8. */
static bool ticket_text_valid(const Food__V1__Order *o) {
        for (size_t i = 0; i < o->n_items; i++)
                if (!utf8_valid(o->items[i]->menu_item_id) || (o->items[i]->name && !utf8_valid(o->items[i]->name)))
                        return false;
        return utf8_valid(o->status) && (!o->note || utf8_valid(o->note));
}

int store_check_ticket(const Food__V1__Correlation *corr, const Food__V1__Order *o, const char **why) {
        const char *dummy;
        if (!why)
                why = &dummy;
        *why = NULL;
        if (!corr)
                *why = "no correlation";
        else if (order_check(o, why) < 0)
                ; /* *why says which rule broke */
        else if (corr->order_id && *corr->order_id && strcmp(corr->order_id, o->id) != 0)
                *why = "the correlation names another order";
        else if (!ticket_text_valid(o))
                *why = "an item, status or note that is not UTF-8";
        return *why ? WORKER_POISON : 0;
}

int store_check_withdraw(const Food__V1__WithdrawTicket *m) {
        const char *store_id = m->store_id && *m->store_id ? m->store_id : NULL;
        if (!m->corr || !order_check_id(m->corr->order_id) || (store_id && !order_check_id(store_id)))
                return WORKER_POISON;
        return 0;
}

static int reply_recorded(WorkerOut *out, Food__V1__Correlation *corr, const char *store_id, const char *status) {
        Food__V1__TicketRecorded t = FOOD__V1__TICKET_RECORDED__INIT;
        t.corr = corr;
        t.store_id = (char *)store_id;
        t.status = (char *)status;
        return worker_answer(out, &t.base);
}

static int handle_ticket(Pg *pg, Food__V1__Correlation *corr, const Food__V1__Order *o, WorkerOut *out) {
        char version[24], total[24];
        char *items = NULL;
        PGresult *res = NULL;
        const char *why = NULL;
        int r;

        if (store_check_ticket(corr, o, &why) != 0) {
                log_warn("ticket: impossible command for order %s: %s", o && o->id ? o->id : "none", why);
                return WORKER_POISON;
        }
        items = store_items_json(o);
        if (!items)
                return -ENOMEM;
        snprintf(version, sizeof(version), "%" PRId64, o->version);
        snprintf(total, sizeof(total), "%" PRId64, o->total);
        const char *vals[8] = {o->id, o->store_id, o->customer_id, o->status, version, total, items,
                               o->note ? o->note : ""};
        r = pg_run(pg, &st_upsert, 8, vals, NULL, NULL, &res);
        if (r < 0)
                goto out;
        if (PQntuples(res) == 1) {
                count(m_recorded);
                log_info("order %s: ticket for store %s is %s (v%" PRId64 ")", o->id, o->store_id, o->status,
                         o->version);
                r = reply_recorded(out, corr, pg_str(res, 0, 0), pg_str(res, 0, 1));
                goto out;
        }
        /* Older snapshot or withdrawn ticket: nothing changes; answer with what the inbox shows. */
        PQclear(res);
        res = NULL;
        count(m_stale);
        r = pg_run(pg, &st_current, 1, vals, NULL, NULL, &res);
        if (r < 0)
                goto out;
        if (PQntuples(res) != 1) {
                r = -EPROTO; /* the conflicting row vanished: retry the batch */
                goto out;
        }
        log_info("order %s: ticket v%" PRId64 " not newer than the stored one; stays %s", o->id, o->version,
                 pg_str(res, 0, 1));
        r = reply_recorded(out, corr, pg_str(res, 0, 0), pg_str(res, 0, 1));
out:
        PQclear(res);
        free(items);
        return r;
}

static int handle_withdraw(Pg *pg, const Food__V1__WithdrawTicket *m, WorkerOut *out) {
        Food__V1__TicketWithdrawn w = FOOD__V1__TICKET_WITHDRAWN__INIT;
        Food__V1__Correlation *corr = m->corr;
        PGresult *res = NULL;
        const char *store_id = m->store_id && *m->store_id ? m->store_id : NULL;
        int r;

        if (store_check_withdraw(m) != 0) {
                log_warn("withdraw: impossible command (order %s)", corr && corr->order_id ? corr->order_id : "none");
                return WORKER_POISON;
        }
        const char *vals[3] = {corr->order_id, store_id ? store_id : "", m->reason ? m->reason : ""};
        r = pg_run(pg, &st_withdraw, 3, vals, NULL, NULL, &res);
        if (r < 0)
                return r;
        if (PQntuples(res) == 1) {
                count(m_withdrawn);
                log_info("order %s: ticket withdrawn (%s)", corr->order_id, vals[2]);
                if (!store_id)
                        store_id = pg_str(res, 0, 0);
        }
        w.corr = corr;
        w.store_id = (char *)(store_id ? store_id : "");
        r = worker_answer(out, &w.base);
        PQclear(res);
        return r;
}

int store_handle(void *ctx, Pg *pg, const ProtobufCMessage *msg, WorkerOut *out) {
        (void)ctx;
        if (msg->descriptor == &food__v1__create_ticket__descriptor) {
                const Food__V1__CreateTicket *m = (const Food__V1__CreateTicket *)msg;
                return handle_ticket(pg, m->corr, m->order, out);
        }
        if (msg->descriptor == &food__v1__update_ticket__descriptor) {
                const Food__V1__UpdateTicket *m = (const Food__V1__UpdateTicket *)msg;
                return handle_ticket(pg, m->corr, m->order, out);
        }
        if (msg->descriptor == &food__v1__withdraw_ticket__descriptor)
                return handle_withdraw(pg, (const Food__V1__WithdrawTicket *)msg, out);
        log_warn("store: unexpected message type %s", msg->descriptor->name);
        return WORKER_POISON;
}

/* ---- a fetch at once --------------------------------------------------------------------- */

/* Each order's newest ticket of the batch (one row per order), with how every one it wrote stands
 * (NULL for the others, read one by one with st_current: a join with the table would be planned
 * once per session, when the table may have been small enough for a scan of it). */
static const PgStmt st_upsert_many = {
        "store_ticket_upsert_many",
        "WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[],"
        "           $7::text[], $8::text[]) WITH ORDINALITY AS u(order_id, store_id, customer_id, status, version,"
        "           total, items, note, i)),"
        " w AS (INSERT INTO tickets (order_id, store_id, customer_id, status, version, total, items, note)"
        "       SELECT order_id, store_id, customer_id, status, version, total, items::jsonb, note FROM u ORDER BY i"
        "       ON CONFLICT (order_id) DO UPDATE SET store_id = EXCLUDED.store_id,"
        "       customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, version = EXCLUDED.version,"
        "       total = EXCLUDED.total, items = EXCLUDED.items, note = EXCLUDED.note, updated_at = now()"
        "       WHERE tickets.version < EXCLUDED.version AND tickets.status <> 'WITHDRAWN'"
        "       RETURNING order_id, store_id, status)"
        " SELECT w.store_id, w.status, w.order_id IS NOT NULL FROM u LEFT JOIN w ON w.order_id = u.order_id"
        " ORDER BY u.i"};

/* Each order's first withdrawal of the batch (as st_withdraw, one row per order). */
static const PgStmt st_withdraw_many = {
        "store_ticket_withdraw_many",
        "WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(order_id, store_id,"
        "           reason, i)),"
        " w AS (INSERT INTO tickets (order_id, store_id, status, version, reason)"
        "       SELECT order_id, nullif(store_id, ''), 'WITHDRAWN', 0, nullif(reason, '') FROM u ORDER BY i"
        "       ON CONFLICT (order_id) DO UPDATE SET status = 'WITHDRAWN', reason = EXCLUDED.reason,"
        "       store_id = coalesce(tickets.store_id, EXCLUDED.store_id), updated_at = now()"
        "       WHERE tickets.status <> 'WITHDRAWN' RETURNING order_id, coalesce(store_id, '') AS store_id)"
        " SELECT coalesce(w.store_id, ''), w.order_id IS NOT NULL FROM u LEFT JOIN w ON w.order_id = u.order_id"
        " ORDER BY u.i"};

/* One order's row in a multi-row statement: the command that writes it. */
typedef struct {
        const char *order_id;
        int best;            /* index of the command written for the order */
        const char *store_id, *status; /* how its ticket stands (borrowed from a result) */
        PGresult *own;       /* the slot's own reading, when the statement could not see the row */
} Slot;

/* The slot of `order_id` among the first *n (added when new). */
static int slot_of(Slot *slots, int *n, const char *order_id, int cmd) {
        for (int s = 0; s < *n; s++)
                if (strcmp(slots[s].order_id, order_id) == 0)
                        return s;
        slots[*n] = (Slot){order_id, cmd, NULL, NULL, NULL};
        return (*n)++;
}

static const Food__V1__Order *ticket_order(const ProtobufCMessage *m, Food__V1__Correlation **corr) {
        if (m->descriptor == &food__v1__create_ticket__descriptor) {
                *corr = ((const Food__V1__CreateTicket *)m)->corr;
                return ((const Food__V1__CreateTicket *)m)->order;
        }
        if (m->descriptor == &food__v1__update_ticket__descriptor) {
                *corr = ((const Food__V1__UpdateTicket *)m)->corr;
                return ((const Food__V1__UpdateTicket *)m)->order;
        }
        return NULL;
}

/* The ticket commands (kind[i] 1) of the batch, newest per order, in one statement. */
static int batch_tickets(Pg *pg, const ProtobufCMessage *const *cmds, const int *kind, int *slot,
                         WorkerOut *const *outs, int n, Slot *slots) {
        PgArray a[8];
        static const uint32_t oids[8] = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
                                         PG_OID_INT8, PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT};
        PgArray *pa[8];
        PGresult *pr = NULL;
        Food__V1__Correlation *corr = NULL;
        int n_slots = 0, r = 0;

        for (int i = 0; i < n; i++)
                if (kind[i] == 1) {
                        const Food__V1__Order *o = ticket_order(cmds[i], &corr);
                        int s = slot_of(slots, &n_slots, o->id, i);
                        if (ticket_order(cmds[slots[s].best], &corr)->version < o->version)
                                slots[s].best = i;
                        slot[i] = s;
                }
        if (n_slots == 0)
                return 0;
        for (int k = 0; k < 8; k++) {
                pg_array_init(&a[k], oids[k]);
                pa[k] = &a[k];
        }
        for (int s = 0; s < n_slots && r == 0; s++) {
                const Food__V1__Order *o = ticket_order(cmds[slots[s].best], &corr);
                char *items = store_items_json(o);
                if (!items) {
                        r = -ENOMEM;
                        break;
                }
                pg_array_text(&a[0], o->id);
                pg_array_text(&a[1], o->store_id);
                pg_array_text(&a[2], o->customer_id);
                pg_array_text(&a[3], o->status);
                pg_array_int8(&a[4], o->version);
                pg_array_int8(&a[5], o->total);
                pg_array_text(&a[6], items);
                pg_array_text(&a[7], o->note ? o->note : "");
                free(items);
        }
        if (r == 0)
                r = pg_run_arrays(pg, &st_upsert_many, pa, 8, &pr);
        if (r == 0 && PQntuples(pr) != n_slots)
                r = -EPROTO;
        for (int s = 0; s < n_slots && r == 0; s++) {
                slots[s].store_id = pg_str(pr, s, 0);
                slots[s].status = pg_str(pr, s, 1);
                if (!PQgetisnull(pr, s, 1))
                        continue;
                /* Not written: the stored ticket is as new or withdrawn. */
                const char *vals[1] = {slots[s].order_id};
                r = pg_run(pg, &st_current, 1, vals, NULL, NULL, &slots[s].own);
                if (r == 0 && PQntuples(slots[s].own) != 1)
                        r = -EPROTO; /* the conflicting row vanished: retry the batch */
                if (r == 0) {
                        slots[s].store_id = pg_str(slots[s].own, 0, 0);
                        slots[s].status = pg_str(slots[s].own, 0, 1);
                }
        }
        for (int i = 0; i < n && r == 0; i++)
                if (kind[i] == 1) {
                        int s = slot[i];
                        bool written = pg_str(pr, s, 2)[0] == 't' && slots[s].best == i;
                        count(written ? m_recorded : m_stale);
                        if (written)
                                log_debug("order %s: ticket for store %s is %s", slots[s].order_id, slots[s].store_id,
                                          slots[s].status);
                        (void)ticket_order(cmds[i], &corr);
                        r = reply_recorded(outs[i], corr, slots[s].store_id, slots[s].status);
                }
        for (int s = 0; s < n_slots; s++)
                PQclear(slots[s].own);
        PQclear(pr);
        for (int k = 0; k < 8; k++)
                pg_array_free(&a[k]);
        return r;
}

/* The withdrawals (kind[i] 2) of the batch, the first per order, in one statement. */
static int batch_withdrawals(Pg *pg, const ProtobufCMessage *const *cmds, const int *kind, int *slot,
                             WorkerOut *const *outs, int n, Slot *slots) {
        PgArray a[3];
        PgArray *pa[3] = {&a[0], &a[1], &a[2]};
        PGresult *pr = NULL;
        int n_slots = 0, r;

        for (int i = 0; i < n; i++)
                if (kind[i] == 2)
                        slot[i] = slot_of(slots, &n_slots, ((const Food__V1__WithdrawTicket *)cmds[i])->corr->order_id,
                                          i);
        if (n_slots == 0)
                return 0;
        for (int k = 0; k < 3; k++)
                pg_array_init(&a[k], PG_OID_TEXT);
        for (int s = 0; s < n_slots; s++) {
                const Food__V1__WithdrawTicket *m = (const Food__V1__WithdrawTicket *)cmds[slots[s].best];
                pg_array_text(&a[0], m->corr->order_id);
                pg_array_text(&a[1], m->store_id ? m->store_id : "");
                pg_array_text(&a[2], m->reason ? m->reason : "");
        }
        r = pg_run_arrays(pg, &st_withdraw_many, pa, 3, &pr);
        if (r == 0 && PQntuples(pr) != n_slots)
                r = -EPROTO;
        for (int i = 0; i < n && r == 0; i++)
                if (kind[i] == 2) {
                        const Food__V1__WithdrawTicket *m = (const Food__V1__WithdrawTicket *)cmds[i];
                        Food__V1__TicketWithdrawn w = FOOD__V1__TICKET_WITHDRAWN__INIT;
                        int s = slot[i];
                        bool now = pg_str(pr, s, 1)[0] == 't' && slots[s].best == i;
                        if (now) {
                                count(m_withdrawn);
                                log_info("order %s: ticket withdrawn (%s)", slots[s].order_id,
                                         m->reason ? m->reason : "");
                        }
                        w.corr = m->corr;
                        w.store_id = m->store_id && *m->store_id ? m->store_id
                                     : now                     ? (char *)pg_str(pr, s, 0)
                                                               : "";
                        r = worker_answer(outs[i], &w.base);
                }
        PQclear(pr);
        for (int k = 0; k < 3; k++)
                pg_array_free(&a[k]);
        return r;
}

int store_handle_batch(void *ctx, Pg *pg, const ProtobufCMessage *const *cmds, int *res, WorkerOut *const *outs,
                       int n) {
        int *kind = calloc((size_t)n * 2, sizeof(int));
        Slot *slots = calloc((size_t)n, sizeof(Slot));
        int r = 0;
        (void)ctx;

        if (!kind || !slots) {
                free(kind);
                free(slots);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                Food__V1__Correlation *corr = NULL;
                const Food__V1__Order *o = ticket_order(cmds[i], &corr);
                const char *why = NULL;
                res[i] = 0;
                if (o && store_check_ticket(corr, o, &why) == 0)
                        kind[i] = 1;
                else if (!o && cmds[i]->descriptor == &food__v1__withdraw_ticket__descriptor &&
                         store_check_withdraw((const Food__V1__WithdrawTicket *)cmds[i]) == 0)
                        kind[i] = 2;
                else {
                        log_warn("store: impossible %s (order %s): %s", cmds[i]->descriptor->name,
                                 codec_order_id(cmds[i]), why ? why : "malformed");
                        res[i] = WORKER_POISON;
                }
        }
        /* Tickets before withdrawals: a compensation always comes after its ticket. */
        r = batch_tickets(pg, cmds, kind, kind + n, outs, n, slots);
        if (r == 0)
                r = batch_withdrawals(pg, cmds, kind, kind + n, outs, n, slots);
        free(kind);
        free(slots);
        return r;
}
