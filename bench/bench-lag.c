/* Reads JetStream stream and consumer state from nats-server's /jsz monitoring page, twice, and keeps both samples. */
#include "bench-lag.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-http.h"

struct Lag {
        Http *http;
        LagFigure figs[LAG_CONSUMERS_MAX];
        size_t n;
        LagStream streams[LAG_STREAMS_MAX];
        size_t n_streams;
};

int lag_new(Lag **ret, const char *monitor_url) {
        Lag *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        if (monitor_url) {
                int r = http_new(&l->http, monitor_url, 1, 3000);
                if (r < 0) {
                        free(l);
                        return r;
                }
        }
        *ret = l;
        return 0;
}

void lag_free(Lag *l) {
        if (!l)
                return;
        http_free(l->http);
        free(l);
}

/* Counters are decoded as reals (see lag_parse); exact up to 2^53, far beyond a bench's counts. */
static uint64_t u64_of(json_t *v) {
        double d = json_number_value(v);
        return d > 0 && d < 1.8e19 ? (uint64_t)d : 0;
}

static LagFigure *figure_for(Lag *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->figs[i].name, name) == 0)
                        return &l->figs[i];
        if (l->n == LAG_CONSUMERS_MAX)
                return NULL;
        LagFigure *f = &l->figs[l->n++];
        memset(f, 0, sizeof(*f));
        snprintf(f->name, sizeof(f->name), "%s", name);
        return f;
}

static LagStream *stream_for(Lag *l, const char *name) {
        for (size_t i = 0; i < l->n_streams; i++)
                if (strcmp(l->streams[i].name, name) == 0)
                        return &l->streams[i];
        if (l->n_streams == LAG_STREAMS_MAX)
                return NULL;
        LagStream *s = &l->streams[l->n_streams++];
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%s", name);
        return s;
}

int lag_parse(Lag *l, const char *text, size_t len, bool begin) {
        json_error_t jerr;
        /* INT_AS_REAL: /jsz holds unsigned 64-bit values (e.g. 18446744073709551615) that jansson's signed
         * integers refuse. */
        json_t *root = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &jerr);
        json_t *accounts = json_object_get(root, "account_details");
        int r = -EINVAL;
        if (!json_is_array(accounts))
                goto out;
        int k = begin ? 0 : 1;
        size_t ai, si, ci;
        json_t *acc, *stream, *cons;
        json_array_foreach(accounts, ai, acc) {
                json_array_foreach(json_object_get(acc, "stream_detail"), si, stream) {
                        const char *sname = json_string_value(json_object_get(stream, "name"));
                        LagStream *st = sname ? stream_for(l, sname) : NULL;
                        if (st) {
                                if (begin)
                                        st->begun = true;
                                else
                                        st->ended = true;
                                st->last_seq[k] =
                                        u64_of(json_object_get(json_object_get(stream, "state"), "last_seq"));
                        }
                        json_array_foreach(json_object_get(stream, "consumer_detail"), ci, cons) {
                                const char *cname = json_string_value(json_object_get(cons, "name"));
                                if (!sname || !cname)
                                        continue;
                                char name[128];
                                snprintf(name, sizeof(name), "%s/%s", sname, cname);
                                LagFigure *f = figure_for(l, name);
                                if (!f)
                                        continue;
                                if (begin)
                                        f->begun = true;
                                else
                                        f->ended = true;
                                f->pending[k] = u64_of(json_object_get(cons, "num_pending"));
                                f->ack_pending[k] = u64_of(json_object_get(cons, "num_ack_pending"));
                                f->redelivered[k] = u64_of(json_object_get(cons, "num_redelivered"));
                                f->delivered[k] =
                                        u64_of(json_object_get(json_object_get(cons, "delivered"), "consumer_seq"));
                        }
                }
        }
        r = 0;
out:
        json_decref(root);
        return r;
}

int lag_sample(Lag *l, bool begin, char *err, size_t err_cap) {
        if (!l->http) {
                snprintf(err, err_cap, "no monitoring URL");
                return -EINVAL;
        }
        char *body = NULL;
        int r = http_get_ok(l->http, "/jsz?consumers=true", &body, err, err_cap);
        if (r < 0)
                return r;
        r = lag_parse(l, body, strlen(body), begin);
        if (r < 0)
                snprintf(err, err_cap, "not a /jsz answer");
        free(body);
        return r;
}

size_t lag_figures(const Lag *l, const LagFigure **ret) {
        *ret = l->figs;
        return l->n;
}

size_t lag_streams(const Lag *l, const LagStream **ret) {
        *ret = l->streams;
        return l->n_streams;
}

uint64_t lag_delta(bool begun, bool ended, uint64_t begin, uint64_t end) {
        if (!ended)
                return 0;
        if (!begun || end < begin)
                return end;
        return end - begin;
}

void lag_work(const Lag *l, LagWork *ret) {
        *ret = (LagWork){0};
        for (size_t i = 0; i < l->n_streams; i++) {
                const LagStream *s = &l->streams[i];
                ret->published += lag_delta(s->begun, s->ended, s->last_seq[0], s->last_seq[1]);
        }
        for (size_t i = 0; i < l->n; i++) {
                const LagFigure *f = &l->figs[i];
                ret->delivered += lag_delta(f->begun, f->ended, f->delivered[0], f->delivered[1]);
        }
}
