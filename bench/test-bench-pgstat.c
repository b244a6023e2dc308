/* Unit test of the PostgreSQL counters' pure parts: LSN and sum parsing, and the work between two samples. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "bench-pgstat.h"
#include "test-check.h"

static void lsn_ok(const char *text, uint64_t expected) {
        uint64_t v = 0;
        int r = pgstat_parse_lsn(text, &v);
        CHECK(r == 0 && v == expected, "LSN %s: expected 0 and %" PRIu64 ", got %d and %" PRIu64, text, expected, r,
              v);
}

static void lsn_refused(const char *text) {
        uint64_t v = 7;
        int r = pgstat_parse_lsn(text, &v);
        CHECK(r == -EINVAL && v == 7, "LSN \"%s\": expected -EINVAL and untouched 7, got %d and %" PRIu64, text, r, v);
}

static void u64_ok(const char *text, uint64_t expected) {
        uint64_t v = 0;
        int r = pgstat_parse_u64(text, &v);
        CHECK(r == 0 && v == expected, "sum %s: expected 0 and %" PRIu64 ", got %d and %" PRIu64, text, expected, r,
              v);
}

static void u64_refused(const char *text) {
        uint64_t v = 7;
        int r = pgstat_parse_u64(text, &v);
        CHECK(r == -EINVAL && v == 7, "sum \"%s\": expected -EINVAL and untouched 7, got %d and %" PRIu64,
              text ? text : "(null)", r, v);
}

int main(void) {
        lsn_ok("0/0", 0);
        lsn_ok("0/16B3748", 0x16B3748);
        lsn_ok("16/B374D848", (UINT64_C(0x16) << 32) | 0xB374D848);
        lsn_ok("ffffffff/ffffffff", UINT64_MAX);
        lsn_refused("");
        lsn_refused("16B3748");
        lsn_refused("/1");
        lsn_refused("1/");
        lsn_refused("1/2/3");
        lsn_refused("1/2x");
        lsn_refused("-1/2");
        lsn_refused("100000000/0");
        lsn_refused(NULL);

        u64_ok("0", 0);
        u64_ok("123456789", 123456789);
        u64_ok("18446744073709551615", UINT64_MAX);
        u64_refused("");
        u64_refused("-1");
        u64_refused("+1");
        u64_refused("12.5");
        u64_refused("1 ");
        u64_refused("18446744073709551616");
        u64_refused(NULL);

        PgStatSample a = {.commits = 1000, .statements = 5000, .has_statements = true, .wal_lsn = 0x100000000};
        PgStatSample b = {.commits = 1600, .statements = 9800, .has_statements = true, .wal_lsn = 0x100001000};
        PgStatWork w;
        pgstat_diff(&a, &b, &w);
        CHECK(w.commits == 600, "commits: expected 600, got %" PRIu64, w.commits);
        CHECK(w.has_statements && w.statements == 4800, "statements: expected 4800, got %d %" PRIu64,
              w.has_statements, w.statements);
        CHECK(w.wal_bytes == 4096, "WAL: expected 4096 bytes, got %" PRIu64, w.wal_bytes);

        /* Statistics reset in the window: commits count from 0 again; statements that went back are dropped. */
        b.commits = 40;
        b.statements = 100;
        pgstat_diff(&a, &b, &w);
        CHECK(w.commits == 40, "commits after a reset: expected 40, got %" PRIu64, w.commits);
        CHECK(!w.has_statements, "statements that went back: expected none, got %" PRIu64, w.statements);

        /* Statements in one sample only: none. */
        b.statements = 9800;
        b.has_statements = false;
        pgstat_diff(&a, &b, &w);
        CHECK(!w.has_statements, "statements missing at the end: expected none, got %" PRIu64, w.statements);

        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
