/* Order id -> last returned version: a direct-mapped table with striped locks. */
#include "gateway-versions.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define VERSIONS_ID_MAX 64
#define VERSIONS_LOCKS 64

typedef struct {
        char id[VERSIONS_ID_MAX + 1];
        int64_t version;
} Slot;

struct Versions {
        pthread_mutex_t locks[VERSIONS_LOCKS];
        Slot slots[VERSIONS_SLOTS];
};

/* FNV-1a: order ids end in random hex, so any mixing hash spreads them. */
static size_t versions_slot(const char *id) {
        uint64_t h = 1469598103934665603ULL;
        for (; *id; id++)
                h = (h ^ (unsigned char)*id) * 1099511628211ULL;
        return (size_t)(h % VERSIONS_SLOTS);
}

int versions_new(Versions **ret) {
        Versions *v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < VERSIONS_LOCKS; i++)
                pthread_mutex_init(&v->locks[i], NULL);
        *ret = v;
        return 0;
}

void versions_free(Versions *v) {
        if (!v)
                return;
        for (size_t i = 0; i < VERSIONS_LOCKS; i++)
                pthread_mutex_destroy(&v->locks[i]);
        free(v);
}

void versions_note(Versions *v, const char *order_id, int64_t version) {
        size_t i = versions_slot(order_id);
        pthread_mutex_t *lock = &v->locks[i % VERSIONS_LOCKS];
        Slot *s = &v->slots[i];

        if (strlen(order_id) > VERSIONS_ID_MAX)
                return;
        pthread_mutex_lock(lock);
        if (strcmp(s->id, order_id) != 0) {
                memcpy(s->id, order_id, strlen(order_id) + 1);
                s->version = version;
        } else if (version > s->version) {
                s->version = version;
        }
        pthread_mutex_unlock(lock);
}

int64_t versions_get(Versions *v, const char *order_id) {
        size_t i = versions_slot(order_id);
        pthread_mutex_t *lock = &v->locks[i % VERSIONS_LOCKS];
        int64_t version = 0;

        pthread_mutex_lock(lock);
        if (strcmp(v->slots[i].id, order_id) == 0)
                version = v->slots[i].version;
        pthread_mutex_unlock(lock);
        return version;
}
