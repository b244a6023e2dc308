/* Unit test of ids: the shard selector byte, shards of other strings, UUIDv7s, deadlines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ids.h"
#include "test-check.h"

int main(void) {
        char id[64], a[40], b[40];
        int seen[IDS_SHARDS] = {0};

        /* A chosen selector decides the shard, whatever the time and random parts. */
        for (unsigned sel = 0; sel < 256; sel++) {
                CHECK(ids_new_selected(id, sizeof(id), "ord", sel) == 0, "ids_new_selected %u", sel);
                CHECK(ids_shard(id) == (int)(sel % IDS_SHARDS), "selector %u: expected shard %u, got %d (%s)", sel,
                      sel % IDS_SHARDS, ids_shard(id), id);
        }
        /* Random ids spread over every shard. */
        for (int i = 0; i < 4000; i++) {
                CHECK(ids_new(id, sizeof(id), "ord") == 0, "ids_new");
                seen[ids_shard(id)]++;
        }
        for (int s = 0; s < IDS_SHARDS; s++)
                CHECK(seen[s] > 100, "shard %d got %d of 4000 random ids", s, seen[s]);
        /* Other strings have a stable shard in range. */
        int s1 = ids_shard("cust_1"), s2 = ids_shard("cust_1");
        CHECK(s1 == s2 && s1 >= 0 && s1 < IDS_SHARDS, "customer shard: %d then %d", s1, s2);
        CHECK(ids_shard("ord_poison") >= 0 && ids_shard("") >= 0, "odd ids still get a shard");
        /* A selector from (a, b) is not the one from (a + b, ""). */
        CHECK(ids_selector("ab", "c") == ids_selector("ab", "c"), "selector is stable");
        /* UUIDv7: 36 characters, version 7, variant 10, time-ordered, distinct. */
        CHECK(ids_uuid7(a, sizeof(a)) == 0 && ids_uuid7(b, sizeof(b)) == 0, "uuid7");
        CHECK(strlen(a) == 36 && a[8] == '-' && a[13] == '-' && a[14] == '7' && a[18] == '-' && a[23] == '-',
              "uuid7 shape: %s", a);
        CHECK(strchr("89ab", a[19]) != NULL, "uuid7 variant: %s", a);
        CHECK(strcmp(a, b) != 0, "two uuid7s differ: %s %s", a, b);
        CHECK(strncmp(a, b, 8) <= 0, "uuid7s are time-ordered: %s then %s", a, b);
        CHECK(ids_uuid7(a, 36) < 0, "uuid7 needs 37 bytes");
        CHECK(strspn(a, "0123456789abcdef-") == 36, "uuid7 is lower-case hex: %s", a);
        /* Trace context: the W3C shape, and fresh ids each time. */
        char t1[IDS_TRACEPARENT_LEN + 1], t2[IDS_TRACEPARENT_LEN + 1];
        CHECK(ids_traceparent(t1, sizeof(t1)) == 0 && ids_traceparent(t2, sizeof(t2)) == 0, "traceparent");
        CHECK(ids_traceparent_valid(t1) && strncmp(t1, "00-", 3) == 0 && strcmp(t1 + 52, "-01") == 0,
              "traceparent shape: %s", t1);
        CHECK(strcmp(t1, t2) != 0 && strncmp(t1 + 3, t2 + 3, 32) != 0, "two traceparents differ: %s %s", t1, t2);
        CHECK(ids_traceparent(t1, IDS_TRACEPARENT_LEN) < 0, "traceparent needs %d bytes", IDS_TRACEPARENT_LEN + 1);
        /* Random bytes are handed out once, across refills of the pool (40 bytes a round, 2000 rounds). */
        static char many[2000][IDS_TRACEPARENT_LEN + 1];
        for (int i = 0; i < 2000; i++)
                CHECK(ids_traceparent(many[i], sizeof(many[i])) == 0, "traceparent %d", i);
        qsort(many, 2000, sizeof(many[0]), (int (*)(const void *, const void *))strcmp);
        for (int i = 1; i < 2000; i++)
                CHECK(strcmp(many[i - 1], many[i]) != 0, "the same traceparent twice: %s", many[i]);
        /* A forked child does not hand out what its parent will. */
        int fds[2];
        if (pipe(fds) == 0) {
                pid_t pid = fork();
                if (pid == 0) {
                        char c[40];
                        ids_uuid7(c, sizeof(c));
                        ssize_t w = write(fds[1], c, 37);
                        _exit(w == 37 ? 0 : 1);
                }
                char mine[40], theirs[40] = "";
                ids_uuid7(mine, sizeof(mine));
                ssize_t r = read(fds[0], theirs, 37);
                waitpid(pid, NULL, 0);
                CHECK(r == 37 && strcmp(mine + 15, theirs + 15) != 0, "parent and child drew the same bytes: %s %s",
                      mine, theirs);
                close(fds[0]);
                close(fds[1]);
        }
        /* A deadline is now + in_ms on its clock, its nanoseconds kept below a second (a carry past 999 ms). */
        for (int64_t in_ms = 0; in_ms <= 2500; in_ms += 1) {
                struct timespec before, at, after;
                clock_gettime(CLOCK_MONOTONIC, &before);
                at = ids_deadline(CLOCK_MONOTONIC, in_ms);
                clock_gettime(CLOCK_MONOTONIC, &after);
                int64_t lo = (int64_t)before.tv_sec * 1000000000LL + before.tv_nsec + in_ms * 1000000LL;
                int64_t hi = (int64_t)after.tv_sec * 1000000000LL + after.tv_nsec + in_ms * 1000000LL;
                int64_t got = (int64_t)at.tv_sec * 1000000000LL + at.tv_nsec;
                CHECK(at.tv_nsec >= 0 && at.tv_nsec < 1000000000L, "ids_deadline(%lld): tv_nsec %ld", (long long)in_ms,
                      at.tv_nsec);
                CHECK(got >= lo && got <= hi, "ids_deadline(%lld) is %lld ns from now", (long long)in_ms,
                      (long long)(got - lo));
        }
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
