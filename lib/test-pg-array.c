/* Unit test of binary array parameters: the exact bytes PostgreSQL's array_recv reads. */
#include <stdio.h>
#include <string.h>

#include "pg.h"
#include "test-check.h"

static unsigned u32(const uint8_t *p) {
        return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

int main(void) {
        PgArray a;
        pg_array_init(&a, PG_OID_TEXT);
        pg_array_text(&a, "ab");
        pg_array_text(&a, NULL);
        pg_array_text(&a, "");
        CHECK(pg_array_finish(&a) == 0, "finish");
        /* header: ndim 1, has nulls, oid 25, 3 elements, lower bound 1 */
        CHECK(a.len == 20 + 4 + 2 + 4 + 4, "length: got %zu", a.len);
        CHECK(u32(a.data) == 1 && u32(a.data + 4) == 1 && u32(a.data + 8) == PG_OID_TEXT, "header %u %u %u",
              u32(a.data), u32(a.data + 4), u32(a.data + 8));
        CHECK(u32(a.data + 12) == 3 && u32(a.data + 16) == 1, "dimension %u from %u", u32(a.data + 12), u32(a.data + 16));
        CHECK(u32(a.data + 20) == 2 && memcmp(a.data + 24, "ab", 2) == 0, "first element");
        CHECK(u32(a.data + 26) == 0xffffffffu, "NULL is length -1");
        CHECK(u32(a.data + 30) == 0, "empty string is length 0");
        pg_array_free(&a);

        pg_array_init(&a, PG_OID_INT8);
        pg_array_int8(&a, -2);
        CHECK(pg_array_finish(&a) == 0 && a.len == 20 + 4 + 8, "int8 array length %zu", a.len);
        CHECK(u32(a.data + 4) == 0, "no NULLs");
        CHECK(u32(a.data + 20) == 8 && u32(a.data + 24) == 0xffffffffu && u32(a.data + 28) == 0xfffffffeu,
              "-2 as 8 big-endian bytes");
        pg_array_free(&a);

        pg_array_init(&a, PG_OID_INT4);
        CHECK(pg_array_finish(&a) == 0 && a.len == 12 && u32(a.data) == 0 && u32(a.data + 8) == PG_OID_INT4,
              "an empty array has no dimension (len %zu)", a.len);
        pg_array_free(&a);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
