/* Unit test of the live-stream cap: the total first, then per key; a release frees one of both; keys stay apart. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gateway-streamcap.h"
#include "test-check.h"

int main(void) {
        StreamCap *c = NULL;
        char key[STREAMCAP_KEY_MAX + 2];
        int r;

        CHECK(streamcap_new(&c, 0, 1) == -EINVAL, "total 0: expected -EINVAL");
        CHECK(streamcap_new(&c, 4, 0) == -EINVAL, "per key 0: expected -EINVAL");
        CHECK(streamcap_new(&c, 4, 5) == -EINVAL, "per key above total: expected -EINVAL");

        /* 6 streams in all, 2 per key. */
        r = streamcap_new(&c, 6, 2);
        CHECK(r == 0 && c, "streamcap_new(6, 2): expected 0, got %d", r);
        if (!c)
                return 1;
        CHECK(streamcap_acquire(c, "alice") == 0, "alice 1st: expected 0");
        CHECK(streamcap_acquire(c, "alice") == 0, "alice 2nd: expected 0");
        r = streamcap_acquire(c, "alice");
        CHECK(r == STREAMCAP_KEY_FULL, "alice 3rd: expected STREAMCAP_KEY_FULL (%d), got %d", STREAMCAP_KEY_FULL, r);
        CHECK(streamcap_held(c, "alice") == 2, "alice holds: expected 2, got %zu", streamcap_held(c, "alice"));
        /* Others still get theirs. */
        CHECK(streamcap_acquire(c, "bob") == 0, "bob 1st: expected 0");
        CHECK(streamcap_acquire(c, "bob") == 0, "bob 2nd: expected 0");
        CHECK(streamcap_acquire(c, "carol") == 0, "carol 1st: expected 0");
        CHECK(streamcap_acquire(c, "dave") == 0, "dave 1st: expected 0");
        CHECK(streamcap_open(c) == 6, "open: expected 6, got %zu", streamcap_open(c));
        /* Full: the total is answered first, even for a key over its own cap. */
        r = streamcap_acquire(c, "erin");
        CHECK(r == STREAMCAP_TOTAL_FULL, "erin with all taken: expected STREAMCAP_TOTAL_FULL (%d), got %d",
              STREAMCAP_TOTAL_FULL, r);
        r = streamcap_acquire(c, "alice");
        CHECK(r == STREAMCAP_TOTAL_FULL, "alice with all taken: expected STREAMCAP_TOTAL_FULL, got %d", r);
        /* A release frees a slot of the total and of the key. */
        streamcap_release(c, "alice");
        CHECK(streamcap_held(c, "alice") == 1, "alice after a release: expected 1, got %zu",
              streamcap_held(c, "alice"));
        CHECK(streamcap_acquire(c, "alice") == 0, "alice again after her release: expected 0");
        streamcap_release(c, "dave");
        CHECK(streamcap_held(c, "dave") == 0, "dave after his release: expected 0, got %zu", streamcap_held(c, "dave"));
        CHECK(streamcap_acquire(c, "erin") == 0, "erin in dave's freed entry: expected 0");
        /* Everyone leaves: the count returns to 0 and the entries are reusable by new keys. */
        static const char *const leaving[] = {"alice", "alice", "bob", "bob", "carol", "erin"};
        for (size_t i = 0; i < sizeof(leaving) / sizeof(leaving[0]); i++)
                streamcap_release(c, leaving[i]);
        CHECK(streamcap_open(c) == 0, "open after every release: expected 0, got %zu", streamcap_open(c));
        for (int i = 0; i < 6; i++) {
                snprintf(key, sizeof(key), "k%d", i);
                CHECK(streamcap_acquire(c, key) == 0, "new key %s after all left: expected 0", key);
        }
        /* Keys: empty and too long are refused. */
        CHECK(streamcap_acquire(c, "") == -EINVAL, "empty key: expected -EINVAL");
        memset(key, 'x', sizeof(key) - 1);
        key[sizeof(key) - 1] = 0;
        CHECK(streamcap_acquire(c, key) == -EINVAL, "a %zu-byte key: expected -EINVAL", strlen(key));
        streamcap_free(c);
        streamcap_free(NULL);

        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
