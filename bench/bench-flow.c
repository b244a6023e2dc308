/* Virtual customers: each runs one order's seven calls in turn, chained from the HTTP callbacks. */
#include "bench-flow.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench-http.h"
#include "bench-json.h"
#include "bench-token.h"

#define STORES_MAX 256
#define STORE_ITEMS_MAX 64
#define ID_MAX 64                  /* the gateway's AUTH_ID_MAX: ids of stores, items, orders */
#define ITEMS_PER_ORDER_MAX 3
#define ERROR_BACKOFF_US 100000    /* closed loop: a customer whose order failed waits this long */
#define TOKEN_TTL_S (24 * 3600)
#define POLL_MAX_MS 50
#define TICKETS_MAX (1u << 20)     /* open loop backlog ceiling */

static const char *const call_names[CALL_COUNT] = {
        [CALL_PLACE] = "place",
        [CALL_ACCEPT] = "accept",
        [CALL_COOKING_STARTED] = "cooking_started",
        [CALL_COOKING_FINISHED] = "cooking_finished",
        [CALL_PICK] = "pick",
        [CALL_DELIVERED] = "delivered",
        [CALL_CONFIRM] = "confirm",
};

/* The order status each successful call answers with (SPEC §4). */
static const char *const call_status[CALL_COUNT] = {
        [CALL_PLACE] = "PAID",
        [CALL_ACCEPT] = "ACCEPTED",
        [CALL_COOKING_STARTED] = "COOKING",
        [CALL_COOKING_FINISHED] = "COOKED",
        [CALL_PICK] = "PICKED_UP",
        [CALL_DELIVERED] = "DELIVERED",
        [CALL_CONFIRM] = "COMPLETED",
};

const char *flow_call_name(CallType c) {
        return (unsigned)c < CALL_COUNT ? call_names[c] : "?";
}

typedef struct {
        char id[ID_MAX + 1];
        char region[ID_MAX + 1];
        double lat, lon;
        char items[STORE_ITEMS_MAX][ID_MAX + 1];
        size_t n_items;
        char *owner_token;
} Store;

typedef struct Flow Flow;

typedef struct {
        Flow *flow;
        unsigned idx;
        char *customer_token, *rider_token;
        bool busy;
        CallType step;
        const Store *store;
        int64_t order_start_us; /* place sent, or its scheduled time in open loop */
        int64_t wake_us;        /* in the backoff queue: when it may start again */
        uint64_t seq;
        char order_id[ID_MAX + 1];
} User;

/* A ring of user indexes; each user is in at most one queue, so `concurrency` slots suffice. */
typedef struct {
        unsigned *v;
        size_t head, n, cap;
} UserQueue;

typedef enum { PHASE_WARMUP, PHASE_MEASURE, PHASE_DRAIN } Phase;

struct Flow {
        const BenchOptions *o;
        FlowResult *res;
        Http *http;
        Store *stores;
        size_t n_stores;
        User *users;
        UserQueue ready, backoff;
        size_t busy_users;
        Phase phase;
        uint64_t rng;
        int64_t run_id;
        int fatal; /* negative errno when a request could not even be started */
        /* open loop */
        int64_t *tickets; /* scheduled start times waiting for a free customer (ring) */
        size_t t_head, t_n;
        int64_t t0_us;
        uint64_t tickets_made;
        /* When the window began, after its start hook ran: the window's length counts from it, and a call or
         * order started before it is not in the latency figures (the hook holds up this loop, and the replies
         * that came meanwhile with it). */
        int64_t measured_from_us;
};

int flow_result_init(FlowResult *r) {
        memset(r, 0, sizeof(*r));
        for (int c = 0; c < CALL_COUNT; c++)
                if (histogram_new(&r->calls[c]) < 0)
                        return -ENOMEM;
        return histogram_new(&r->order);
}

void flow_result_done(FlowResult *r) {
        for (int c = 0; c < CALL_COUNT; c++)
                histogram_free(r->calls[c]);
        histogram_free(r->order);
        memset(r, 0, sizeof(*r));
}

/* xorshift64*: the choice of stores and items only, not security. */
static uint64_t rng_next(Flow *f) {
        f->rng ^= f->rng >> 12;
        f->rng ^= f->rng << 25;
        f->rng ^= f->rng >> 27;
        return f->rng * UINT64_C(2685821657736338717);
}

static size_t rng_below(Flow *f, size_t n) {
        return (size_t)(rng_next(f) % n);
}

/* True for ids safe to put in a path unescaped: the gateway's [A-Za-z0-9_.:@-]{1,64}. */
static bool id_ok(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > ID_MAX)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      strchr("_.:@-", *s)))
                        return false;
        return true;
}

/* ---- queues ---------------------------------------------------------------------------------------------- */

static int queue_init(UserQueue *q, size_t cap) {
        q->v = calloc(cap, sizeof(*q->v));
        q->cap = cap;
        return q->v ? 0 : -ENOMEM;
}

static void queue_push(UserQueue *q, unsigned idx) {
        /* cannot overflow: a user is pushed only when it leaves the busy state */
        q->v[(q->head + q->n) % q->cap] = idx;
        q->n++;
}

static unsigned queue_pop(UserQueue *q) {
        unsigned idx = q->v[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
        return idx;
}

static unsigned queue_peek(const UserQueue *q) {
        return q->v[q->head];
}

/* ---- errors ---------------------------------------------------------------------------------------------- */

static void copy_sample(char *dst, size_t cap, const char *src) {
        size_t n = 0;
        for (; src[n] && n + 1 < cap; n++)
                dst[n] = (src[n] == '\n' || src[n] == '\r' || src[n] == '\t') ? ' ' : src[n];
        dst[n] = '\0';
}

static void error_record(Flow *f, CallType call, long status, const char *reason, const char *sample) {
        FlowResult *res = f->res;
        if (f->phase != PHASE_MEASURE) {
                res->errors_outside++;
                return;
        }
        res->errors_total++;
        for (size_t i = 0; i < res->n_errors; i++) {
                FlowError *e = &res->errors[i];
                if (e->call == call && e->status == status && strcmp(e->reason, reason) == 0) {
                        e->count++;
                        return;
                }
        }
        if (res->n_errors == FLOW_ERROR_KINDS_MAX)
                return; /* still in errors_total */
        FlowError *e = &res->errors[res->n_errors++];
        e->call = call;
        e->status = status;
        snprintf(e->reason, sizeof(e->reason), "%s", reason);
        e->count = 1;
        copy_sample(e->sample, sizeof(e->sample), sample);
}

/* ---- the lifecycle ----------------------------------------------------------------------------------------- */

static void on_reply(void *userdata, const HttpReply *r);

static void user_idle(User *u, bool after_error) {
        Flow *f = u->flow;
        u->busy = false;
        f->busy_users--;
        if (after_error && f->o->rate == 0) {
                u->wake_us = http_now_us() + ERROR_BACKOFF_US;
                queue_push(&f->backoff, u->idx);
        } else {
                queue_push(&f->ready, u->idx);
        }
}

/* Sends the request of u->step. On failure the user goes idle and f->fatal is set. */
static void user_send(User *u) {
        Flow *f = u->flow;
        char path[512];
        const char *token = NULL, *action = NULL;
        int n = 0;
        switch (u->step) {
        case CALL_ACCEPT:
                action = "accept";
                break;
        case CALL_COOKING_STARTED:
                action = "cooking-started";
                break;
        case CALL_COOKING_FINISHED:
                action = "cooking-finished";
                break;
        case CALL_PICK:
        case CALL_DELIVERED:
                /* The delivery id is the order id with dlv_ for ord_ (lib/order-json.h). */
                n = snprintf(path, sizeof(path), "/deliveries/dlv_%s/%s", u->order_id + 4,
                             u->step == CALL_PICK ? "pick" : "delivered");
                token = u->rider_token;
                break;
        case CALL_CONFIRM:
                n = snprintf(path, sizeof(path), "/orders/%s/confirm", u->order_id);
                token = u->customer_token;
                break;
        default:
                f->fatal = -EINVAL;
                return;
        }
        if (action) {
                n = snprintf(path, sizeof(path), "/stores/%s/orders/%s/%s", u->store->id, u->order_id, action);
                token = u->store->owner_token;
        }
        int r = (n < 0 || (size_t)n >= sizeof(path)) ? -EINVAL
                                                     : http_send(f->http, "POST", path, token, NULL, NULL, on_reply, u);
        if (r < 0) {
                f->fatal = r;
                user_idle(u, true);
        }
}

/* Places a new order: a random store, 1 to 3 distinct items of its menu, quantities 1 or 2. */
static void user_start(User *u, int64_t start_us) {
        Flow *f = u->flow;
        const Store *s = &f->stores[rng_below(f, f->n_stores)];
        size_t n_lines = 1 + rng_below(f, ITEMS_PER_ORDER_MAX);
        if (n_lines > s->n_items)
                n_lines = s->n_items;
        size_t first = rng_below(f, s->n_items);
        char body[2048], key[96], addr[64], num[192];
        size_t len = 0, cap = sizeof(body);
        int r = -EINVAL;
        /* The body written directly (a jansson tree built and dumped per order was a share of the driver's CPU). */
        int e = bjson_put_raw(body, &len, cap, "{\"store_id\":") | bjson_put_string(body, &len, cap, s->id) |
                bjson_put_raw(body, &len, cap, ",\"items\":[");
        for (size_t i = 0; i < n_lines; i++) {
                snprintf(num, sizeof(num), ",\"quantity\":%d}", 1 + (int)rng_below(f, 2));
                e |= bjson_put_raw(body, &len, cap, i ? ",{\"menu_item_id\":" : "{\"menu_item_id\":") |
                     bjson_put_string(body, &len, cap, s->items[(first + i) % s->n_items]) |
                     bjson_put_raw(body, &len, cap, num);
        }
        snprintf(addr, sizeof(addr), "food-bench customer %u", u->idx);
        /* The drop-off a few hundred metres from the store, in its region: a delivery nearby riders can see. */
        double dlat = ((double)rng_below(f, 1000) - 500.0) * 1e-5, dlon = ((double)rng_below(f, 1000) - 500.0) * 1e-5;
        snprintf(num, sizeof(num), ",\"lat\":%.17g,\"lon\":%.17g},\"note\":\"food-bench\",\"payment\":{\"card_token\":",
                 s->lat + dlat, s->lon + dlon);
        e |= bjson_put_raw(body, &len, cap, "],\"address\":{\"text\":") | bjson_put_string(body, &len, cap, addr) |
             bjson_put_raw(body, &len, cap, ",\"region\":") | bjson_put_string(body, &len, cap, s->region) |
             bjson_put_raw(body, &len, cap, num) | bjson_put_string(body, &len, cap, f->o->card_token) |
             bjson_put_raw(body, &len, cap, "}}");
        if (e)
                goto out;
        u->seq++;
        snprintf(key, sizeof(key), "bench-%lld-%u-%llu", (long long)f->run_id, u->idx, (unsigned long long)u->seq);
        u->store = s;
        u->step = CALL_PLACE;
        u->order_start_us = start_us;
        u->order_id[0] = '\0';
        u->busy = true;
        f->busy_users++;
        if (f->phase == PHASE_MEASURE)
                f->res->started++;
        r = http_send(f->http, "POST", "/orders", u->customer_token, key, body, on_reply, u);
        if (r < 0)
                user_idle(u, true);
out:
        if (r < 0)
                f->fatal = r;
}

/* Checks a reply against what `call` must answer. 0, or -1 with *reason and *sample set (borrowed from `r` or
 * static). Fills u->order_id from a placed order. */
static int reply_check(User *u, CallType call, const HttpReply *r, const char **reason, const char **sample) {
        long want = call == CALL_PLACE ? 201 : 200;
        *reason = "";
        *sample = r->body;
        if (r->error_code != 0) {
                *reason = r->error_kind;
                *sample = r->error;
                return -1;
        }
        if (r->status != want)
                return -1;
        static const char *const keys[] = {"status", "id"};
        BJsonStr v[2];
        *reason = "unexpected body";
        if (bjson_fields(r->body, r->body_len, keys, 2, v) < 0)
                return -1;
        /* The status is required where the client needs it (a placed order must be PAID, confirm must complete);
         * elsewhere a body without one (e.g. a delivery view) is accepted, a different one is not. */
        if (v[0].at ? !bjson_is(v[0], call_status[call]) : (call == CALL_PLACE || call == CALL_CONFIRM))
                return -1;
        if (call == CALL_PLACE) {
                if (!v[1].at || v[1].len >= sizeof(u->order_id) || v[1].len < 4 || memcmp(v[1].at, "ord_", 4) != 0)
                        return -1;
                memcpy(u->order_id, v[1].at, v[1].len);
                u->order_id[v[1].len] = '\0';
                if (!id_ok(u->order_id)) {
                        u->order_id[0] = '\0';
                        return -1;
                }
        }
        return 0;
}

static void on_reply(void *userdata, const HttpReply *r) {
        User *u = userdata;
        Flow *f = u->flow;
        FlowResult *res = f->res;
        CallType call = u->step;
        bool measured = f->phase == PHASE_MEASURE;
        const char *reason, *sample;

        if (reply_check(u, call, r, &reason, &sample) < 0) {
                error_record(f, call, r->status, reason, sample);
                if (measured)
                        res->failed++;
                user_idle(u, true);
                return;
        }
        if (measured && r->started_us >= f->measured_from_us)
                histogram_record(res->calls[call], (uint64_t)(r->finished_us - r->started_us));
        if (call == CALL_CONFIRM) {
                if (measured) {
                        res->completed++;
                        if (u->order_start_us >= f->measured_from_us)
                                histogram_record(res->order, (uint64_t)(r->finished_us - u->order_start_us));
                }
                user_idle(u, false);
                return;
        }
        u->step = call + 1;
        user_send(u);
}

/* ---- setup: tokens and catalog ----------------------------------------------------------------------------- */

/* GET/POST `path` expecting `want` and a JSON body into *ret. Logs why it failed to stderr. */
static int fetch_json(Flow *f, const char *method, const char *path, const char *token, const char *body, long want,
                      json_t **ret) {
        long status = 0;
        char *text = NULL, err[256];
        int r = http_fetch(f->http, method, path, token, body, &status, &text, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "food-bench: %s %s%s: %s\n", method, f->o->url, path,
                        r == -EIO ? err : strerror(-r));
                return r;
        }
        if (status != want) {
                fprintf(stderr, "food-bench: %s %s%s: expected HTTP %ld, got %ld: %.300s\n", method, f->o->url, path,
                        want, status, text ? text : "");
                free(text);
                return -EPROTO;
        }
        json_error_t jerr;
        json_t *v = json_loads(text ? text : "", 0, &jerr);
        if (!v)
                fprintf(stderr, "food-bench: %s %s%s: invalid JSON (%s): %.300s\n", method, f->o->url, path, jerr.text,
                        text ? text : "");
        free(text);
        if (!v)
                return -EPROTO;
        *ret = v;
        return 0;
}

typedef struct {
        char *data;
        size_t len;
} Secret;

/* A token for sub/role(/store_id) into *ret (malloc'd): signed locally with the secret, or from /auth/dev-token. */
static int token_get(Flow *f, const Secret *secret, const char *sub, const char *role, const char *store_id,
                     char **ret) {
        char buf[HTTP_TOKEN_MAX];
        if (secret->data) {
                int r = token_sign(secret->data, secret->len, sub, role, store_id, (int64_t)time(NULL), TOKEN_TTL_S,
                                   buf, sizeof(buf));
                if (r < 0) {
                        fprintf(stderr, "food-bench: signing a token for %s: %s\n", sub, strerror(-r));
                        return r;
                }
                *ret = strdup(buf);
                return *ret ? 0 : -ENOMEM;
        }
        json_t *req = store_id ? json_pack("{s:s, s:s, s:s}", "sub", sub, "role", role, "store_id", store_id)
                               : json_pack("{s:s, s:s}", "sub", sub, "role", role);
        char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        if (!body)
                return -ENOMEM;
        json_t *v = NULL;
        /* 200 or 201 are both reasonable for a token; try 200 first, accept 201 too. */
        long status = 0;
        char *text = NULL, err[256];
        int r = http_fetch(f->http, "POST", "/auth/dev-token", NULL, body, &status, &text, err, sizeof(err));
        free(body);
        if (r < 0) {
                fprintf(stderr, "food-bench: POST %s/auth/dev-token: %s\n", f->o->url, r == -EIO ? err : strerror(-r));
                return r;
        }
        if (status != 200 && status != 201) {
                fprintf(stderr,
                        "food-bench: POST %s/auth/dev-token for %s: HTTP %ld: %.300s\n"
                        "food-bench: (dev tokens need DEV_TOKENS=true on the gateway; else use --jwt-secret-file)\n",
                        f->o->url, sub, status, text ? text : "");
                free(text);
                return -EPROTO;
        }
        json_error_t jerr;
        v = json_loads(text ? text : "", 0, &jerr);
        free(text);
        const char *tok = json_string_value(json_object_get(v, "token"));
        if (!tok || strlen(tok) >= HTTP_TOKEN_MAX) {
                fprintf(stderr, "food-bench: POST %s/auth/dev-token: no \"token\" in the answer\n", f->o->url);
                json_decref(v);
                return -EPROTO;
        }
        *ret = strdup(tok);
        json_decref(v);
        return *ret ? 0 : -ENOMEM;
}

static int secret_load(const char *path, Secret *s) {
        FILE *fp = fopen(path, "re");
        if (!fp) {
                int r = -errno;
                fprintf(stderr, "food-bench: %s: %s\n", path, strerror(-r));
                return r;
        }
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
                n--;
        if (n == 0) {
                fprintf(stderr, "food-bench: %s is empty\n", path);
                return -EINVAL;
        }
        s->data = malloc(n);
        if (!s->data)
                return -ENOMEM;
        memcpy(s->data, buf, n);
        s->len = n;
        return 0;
}

/* Stores and their available menu items, through the customer token `token`. */
static int catalog_load(Flow *f, const char *token) {
        json_t *stores = NULL, *menu = NULL;
        int r = fetch_json(f, "GET", "/stores", token, NULL, 200, &stores);
        if (r < 0)
                return r;
        if (!json_is_array(stores)) {
                fprintf(stderr, "food-bench: GET /stores: expected an array\n");
                r = -EPROTO;
                goto out;
        }
        size_t n = json_array_size(stores);
        f->stores = calloc(n ? n : 1, sizeof(*f->stores));
        if (!f->stores) {
                r = -ENOMEM;
                goto out;
        }
        size_t items_total = 0;
        for (size_t i = 0; i < n && f->n_stores < STORES_MAX; i++) {
                json_t *js = json_array_get(stores, i);
                const char *id = json_string_value(json_object_get(js, "id"));
                const char *region = json_string_value(json_object_get(js, "region"));
                if (!id || !id_ok(id) || !region || !id_ok(region))
                        continue;
                Store *s = &f->stores[f->n_stores];
                memset(s, 0, sizeof(*s));
                snprintf(s->id, sizeof(s->id), "%s", id);
                snprintf(s->region, sizeof(s->region), "%s", region);
                s->lat = json_number_value(json_object_get(js, "lat"));
                s->lon = json_number_value(json_object_get(js, "lon"));
                char path[256];
                snprintf(path, sizeof(path), "/stores/%s/menu", id);
                json_decref(menu);
                menu = NULL;
                if ((r = fetch_json(f, "GET", path, token, NULL, 200, &menu)) < 0)
                        goto out;
                for (size_t k = 0; k < json_array_size(menu) && s->n_items < STORE_ITEMS_MAX; k++) {
                        json_t *item = json_array_get(menu, k);
                        const char *item_id = json_string_value(json_object_get(item, "id"));
                        json_t *avail = json_object_get(item, "available");
                        if (!item_id || !id_ok(item_id) || json_is_false(avail))
                                continue;
                        snprintf(s->items[s->n_items++], ID_MAX + 1, "%s", item_id);
                }
                if (s->n_items > 0) {
                        items_total += s->n_items;
                        f->n_stores++;
                }
        }
        if (f->n_stores == 0) {
                fprintf(stderr, "food-bench: GET /stores: no store with an available menu item\n");
                r = -ENOENT;
                goto out;
        }
        f->res->n_stores = f->n_stores;
        f->res->n_items = items_total;
        r = 0;
out:
        json_decref(menu);
        json_decref(stores);
        return r;
}

static int setup(Flow *f) {
        const BenchOptions *o = f->o;
        Secret secret = {0};
        char sub[ID_MAX + 1];
        int r = 0;
        if (o->jwt_secret_file && (r = secret_load(o->jwt_secret_file, &secret)) < 0)
                return r;
        for (unsigned i = 0; i < o->concurrency; i++) {
                User *u = &f->users[i];
                u->flow = f;
                u->idx = i;
                snprintf(sub, sizeof(sub), "cust_bench_%u", i);
                if ((r = token_get(f, &secret, sub, "customer", NULL, &u->customer_token)) < 0)
                        goto out;
                snprintf(sub, sizeof(sub), "rider_bench_%u", i);
                if ((r = token_get(f, &secret, sub, "rider", NULL, &u->rider_token)) < 0)
                        goto out;
        }
        if ((r = catalog_load(f, f->users[0].customer_token)) < 0)
                goto out;
        for (size_t i = 0; i < f->n_stores; i++) {
                Store *s = &f->stores[i];
                /* The sub must stay within the gateway's 64 bytes: a long store id gets a numbered owner. */
                if (strlen(s->id) + 6 <= ID_MAX)
                        snprintf(sub, sizeof(sub), "owner_%.58s", s->id);
                else
                        snprintf(sub, sizeof(sub), "owner_bench_%zu", i);
                if ((r = token_get(f, &secret, sub, "store", s->id, &s->owner_token)) < 0)
                        goto out;
        }
out:
        free(secret.data);
        return r;
}

/* ---- the run loop ------------------------------------------------------------------------------------------ */

static int64_t ticket_time(const Flow *f, uint64_t k) {
        return f->t0_us + (int64_t)((double)k * 1e6 / f->o->rate);
}

/* Starts orders for free customers: every free one (closed loop) or one per due ticket (open loop). */
static void start_orders(Flow *f, int64_t now) {
        while (f->backoff.n > 0 && f->users[queue_peek(&f->backoff)].wake_us <= now)
                queue_push(&f->ready, queue_pop(&f->backoff));
        if (f->o->rate == 0) {
                while (f->ready.n > 0 && !f->fatal)
                        user_start(&f->users[queue_pop(&f->ready)], now);
                return;
        }
        for (int64_t t; (t = ticket_time(f, f->tickets_made)) <= now; f->tickets_made++) {
                if (f->t_n == TICKETS_MAX) {
                        f->res->dropped++;
                        continue;
                }
                f->tickets[(f->t_head + f->t_n) % TICKETS_MAX] = t;
                f->t_n++;
        }
        if (f->phase == PHASE_MEASURE && f->t_n > f->res->backlog_max)
                f->res->backlog_max = f->t_n;
        while (f->ready.n > 0 && f->t_n > 0 && !f->fatal) {
                int64_t t = f->tickets[f->t_head];
                f->t_head = (f->t_head + 1) % TICKETS_MAX;
                f->t_n--;
                user_start(&f->users[queue_pop(&f->ready)], t);
        }
}

/* Milliseconds to wait in http_poll: until the next thing due, at most POLL_MAX_MS. */
static int poll_timeout(const Flow *f, int64_t now, int64_t next_boundary) {
        int64_t wait = (int64_t)POLL_MAX_MS * 1000;
        if (next_boundary - now < wait)
                wait = next_boundary - now;
        if (f->phase != PHASE_DRAIN) {
                if (f->backoff.n > 0 && f->users[queue_peek(&f->backoff)].wake_us - now < wait)
                        wait = f->users[queue_peek(&f->backoff)].wake_us - now;
                if (f->o->rate > 0 && f->ready.n > 0 && ticket_time(f, f->tickets_made) - now < wait)
                        wait = ticket_time(f, f->tickets_made) - now;
        }
        if (wait <= 0)
                return 0;
        return (int)((wait + 999) / 1000);
}

static int run_loop(Flow *f, const FlowHooks *hooks) {
        const BenchOptions *o = f->o;
        FlowResult *res = f->res;
        int64_t now = http_now_us();
        int64_t window_start = now + (int64_t)(o->warmup_s * 1e6), window_end = INT64_MAX, drain_end = INT64_MAX;
        uint64_t sent0 = 0, received0 = 0; /* the engine's byte counters when the window began */
        f->t0_us = now;
        f->phase = PHASE_WARMUP;
        if (o->warmup_s > 0)
                fprintf(stderr, "food-bench: warming up for %g s\n", o->warmup_s);
        for (;;) {
                now = http_now_us();
                if (f->phase == PHASE_WARMUP && now >= window_start) {
                        if (hooks && hooks->on_window) {
                                hooks->on_window(hooks->ctx, true);
                                now = http_now_us(); /* the hook takes a while (connections, queries) */
                        }
                        http_bytes(f->http, &sent0, &received0);
                        f->measured_from_us = now;
                        if (o->duration_s > 0)
                                window_end = now + (int64_t)(o->duration_s * 1e6);
                        f->phase = PHASE_MEASURE;
                        fprintf(stderr, "food-bench: measuring%s\n", o->duration_s > 0 ? "" : " until -n orders");
                }
                bool stop = hooks && hooks->stop && *hooks->stop;
                if (f->phase != PHASE_DRAIN && stop) {
                        res->interrupted = true;
                        if (f->phase == PHASE_WARMUP) /* nothing measured: skip straight to the drain */
                                f->measured_from_us = now;
                }
                if ((f->phase == PHASE_MEASURE &&
                     (now >= window_end || (o->orders > 0 && res->completed >= o->orders) || stop)) ||
                    (f->phase == PHASE_WARMUP && stop)) {
                        if (f->phase == PHASE_MEASURE && hooks && hooks->on_window)
                                hooks->on_window(hooks->ctx, false);
                        if (f->phase == PHASE_MEASURE) {
                                uint64_t sent, received;
                                http_bytes(f->http, &sent, &received);
                                res->http_sent = sent - sent0;
                                res->http_received = received - received0;
                        }
                        res->window_s = (double)(now - f->measured_from_us) / 1e6;
                        res->dropped += f->t_n;
                        f->t_n = 0;
                        f->phase = PHASE_DRAIN;
                        drain_end = now + (int64_t)(o->drain_s * 1e6);
                        if (f->busy_users > 0)
                                fprintf(stderr, "food-bench: window over; letting %zu orders finish (at most %g s)\n",
                                        f->busy_users, o->drain_s);
                }
                if (f->phase == PHASE_DRAIN) {
                        if (f->busy_users == 0)
                                break;
                        if (now >= drain_end || (stop && *hooks->stop > 1)) {
                                res->unfinished = f->busy_users;
                                break;
                        }
                } else {
                        start_orders(f, now);
                }
                if (f->fatal)
                        return f->fatal;
                int64_t boundary = f->phase == PHASE_WARMUP ? window_start
                                   : f->phase == PHASE_MEASURE ? window_end
                                                               : drain_end;
                int r = http_poll(f->http, poll_timeout(f, now, boundary));
                if (r < 0)
                        return r;
                if (f->fatal)
                        return f->fatal;
        }
        return 0;
}

int flow_run(const BenchOptions *o, const FlowHooks *hooks, FlowResult *res) {
        Flow f = {.o = o, .res = res};
        int r;
        f.rng = o->seed ? o->seed : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        if (f.rng == 0)
                f.rng = 1;
        res->seed = f.rng;
        f.run_id = (int64_t)time(NULL);
        if ((r = http_new(&f.http, o->url, o->concurrency, o->timeout_ms)) < 0) {
                fprintf(stderr, "food-bench: cannot set up its HTTP client: %s\n", strerror(-r));
                return r;
        }
        f.users = calloc(o->concurrency, sizeof(*f.users));
        if (!f.users || queue_init(&f.ready, o->concurrency) < 0 || queue_init(&f.backoff, o->concurrency) < 0 ||
            (o->rate > 0 && !(f.tickets = calloc(TICKETS_MAX, sizeof(*f.tickets))))) {
                r = -ENOMEM;
                goto out;
        }
        if ((r = setup(&f)) < 0)
                goto out;
        fprintf(stderr, "food-bench: %s: %zu stores, %zu menu items, %u customers and riders, %s\n", o->url,
                res->n_stores, res->n_items, o->concurrency,
                o->rate > 0 ? "open loop" : "closed loop");
        for (unsigned i = 0; i < o->concurrency; i++)
                queue_push(&f.ready, i);
        r = run_loop(&f, hooks);
        if (r < 0)
                fprintf(stderr, "food-bench: the HTTP engine failed: %s\n", strerror(-r));
out:
        http_free(f.http); /* first: it may still hold requests pointing at users */
        if (f.users)
                for (unsigned i = 0; i < o->concurrency; i++) {
                        free(f.users[i].customer_token);
                        free(f.users[i].rider_token);
                }
        if (f.stores)
                for (size_t i = 0; i < f.n_stores; i++)
                        free(f.stores[i].owner_token);
        free(f.stores);
        free(f.users);
        free(f.ready.v);
        free(f.backoff.v);
        free(f.tickets);
        return r;
}
