/* PostgreSQL work around the measured window, from the server's statistics (libpq): transactions committed
 * (pg_stat_database), statements executed (pg_stat_statements, when installed) and WAL written. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One reading of the counters at a window edge. */
typedef struct {
        uint64_t commits;    /* pg_stat_database.xact_commit of the connected database */
        uint64_t statements; /* sum(calls) of pg_stat_statements, all users' statements */
        bool has_statements; /* false: pg_stat_statements missing or unreadable */
        uint64_t wal_lsn;    /* pg_current_wal_lsn() as a byte position */
} PgStatSample;

/* The window's work: the differences of two samples. */
typedef struct {
        uint64_t commits;
        uint64_t statements; /* meaningful only when has_statements */
        bool has_statements; /* both samples had it */
        uint64_t wal_bytes;
} PgStatWork;

typedef struct PgStat PgStat;

/* `conninfo` (borrowed; a postgresql:// URL or key=value words). Does not connect yet (pgstat_sample does).
 * 0 with *ret, or -ENOMEM. */
int pgstat_new(PgStat **ret, const char *conninfo);
void pgstat_free(PgStat *p);

/* Connects if needed (3 s timeout; again once if the session broke) and records the counters as the window's
 * begin (or end). 0, or negative errno with a message in err (err_cap bytes): -ECONNREFUSED (could not connect),
 * -EPROTO (a query failed or answered something else). pg_stat_statements being unreadable is no failure: the
 * sample then has no statements (and the end sample does not ask), and *note (err, err_cap) says why. */
int pgstat_sample(PgStat *p, bool begin, char *err, size_t err_cap, bool *note);

/* The window's work, from both samples; false when either is missing. */
bool pgstat_work(const PgStat *p, PgStatWork *ret);

/* Pure: the work between two samples. A counter that went back (statistics reset) counts from 0 again; a
 * statement count that went back is dropped (has_statements false), since pg_stat_statements forgets whole
 * entries when it is full. */
void pgstat_diff(const PgStatSample *begin, const PgStatSample *end, PgStatWork *ret);

/* Pure: parses an LSN as PostgreSQL prints it ("16/B374D848": two hex halves) into a byte position. 0 or -EINVAL. */
int pgstat_parse_lsn(const char *text, uint64_t *ret);

/* Pure: parses a non-negative decimal integer as PostgreSQL prints a bigint or numeric sum ("12345"). 0 or
 * -EINVAL (empty, sign, fraction, junk, above 2^64 - 1). */
int pgstat_parse_u64(const char *text, uint64_t *ret);
