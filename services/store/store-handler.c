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

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF): what jansson
 * and PostgreSQL accept as text. protobuf-c does not check string fields. */
static bool utf8_valid(const char *s) {
        const unsigned char *p = (const unsigned char *)s;
        while (*p) {
                unsigned c = *p++, n, min, cp;
                if (c < 0x80)
                        continue;
                if (c >= 0xc2 && c <= 0xdf)
                        n = 1, min = 0x80, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        n = 2, min = 0x800, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        n = 3, min = 0x10000, cp = c & 0x07;
                else
                        return false;
                for (; n > 0; n--, p++) {
                        if ((*p & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (*p & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
        }
        return true;
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
