/* Unit test of ids: the shard selector byte, shards of other strings, UUIDv7s. */
#include <stdio.h>
#include <string.h>

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
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
