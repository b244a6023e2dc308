/* Stream counts in total and per key: a fixed array of holders scanned under a mutex (stream opens are rare). */
#include "gateway-streamcap.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
        char key[STREAMCAP_KEY_MAX + 1];
        size_t n; /* 0: a free entry */
} Holder;

struct StreamCap {
        pthread_mutex_t lock;
        size_t total, per_key, open;
        Holder *holders; /* `total` entries: every holder holds one stream at least */
};

int streamcap_new(StreamCap **ret, size_t total, size_t per_key) {
        StreamCap *c;

        if (total < 1 || total > 1000000 || per_key < 1 || per_key > total)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->holders = calloc(total, sizeof(Holder));
        if (!c->holders) {
                free(c);
                return -ENOMEM;
        }
        pthread_mutex_init(&c->lock, NULL);
        c->total = total;
        c->per_key = per_key;
        *ret = c;
        return 0;
}

void streamcap_free(StreamCap *c) {
        if (!c)
                return;
        pthread_mutex_destroy(&c->lock);
        free(c->holders);
        free(c);
}

/* The entry of `key`, else NULL with *free_one (may be NULL) set to a free entry if any. Called locked. */
static Holder *streamcap_find(StreamCap *c, const char *key, Holder **free_one) {
        if (free_one)
                *free_one = NULL;
        for (size_t i = 0; i < c->total; i++) {
                Holder *h = &c->holders[i];
                if (h->n > 0 && strcmp(h->key, key) == 0)
                        return h;
                if (h->n == 0 && free_one && !*free_one)
                        *free_one = h;
        }
        return NULL;
}

int streamcap_acquire(StreamCap *c, const char *key) {
        size_t len = strlen(key);
        Holder *h, *spare;
        int r = 0;

        if (len == 0 || len > STREAMCAP_KEY_MAX)
                return -EINVAL;
        pthread_mutex_lock(&c->lock);
        if (c->open >= c->total) {
                r = STREAMCAP_TOTAL_FULL;
                goto out;
        }
        h = streamcap_find(c, key, &spare);
        if (h && h->n >= c->per_key) {
                r = STREAMCAP_KEY_FULL;
                goto out;
        }
        if (!h) {
                /* Fewer than `total` streams are open, so fewer than `total` entries are in use. */
                assert(spare);
                h = spare;
                memcpy(h->key, key, len + 1);
        }
        h->n++;
        c->open++;
out:
        pthread_mutex_unlock(&c->lock);
        return r;
}

void streamcap_release(StreamCap *c, const char *key) {
        pthread_mutex_lock(&c->lock);
        Holder *h = streamcap_find(c, key, NULL);
        assert(h && c->open > 0);
        if (h) {
                h->n--;
                c->open--;
        }
        pthread_mutex_unlock(&c->lock);
}

size_t streamcap_open(StreamCap *c) {
        pthread_mutex_lock(&c->lock);
        size_t n = c->open;
        pthread_mutex_unlock(&c->lock);
        return n;
}

size_t streamcap_held(StreamCap *c, const char *key) {
        pthread_mutex_lock(&c->lock);
        Holder *h = streamcap_find(c, key, NULL);
        size_t n = h ? h->n : 0;
        pthread_mutex_unlock(&c->lock);
        return n;
}
