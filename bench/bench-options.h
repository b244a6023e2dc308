/* Command-line options of food-bench: parsed once into BenchOptions, checked, with defaults. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OPTIONS_PROCS_MAX 32     /* names in --procs */
#define OPTIONS_CONCURRENCY_MAX 4096
#define OPTIONS_HELP 1           /* options_parse: --help was printed, exit 0 */

typedef struct {
        const char *url;             /* gateway base URL without a trailing slash (borrowed from argv or static) */
        unsigned concurrency;        /* virtual customers, each with at most one order in flight */
        double duration_s;           /* measured window; 0 when only -n bounds the run */
        uint64_t orders;             /* -n: completed orders that end the window; 0 = none */
        double rate;                 /* open-loop target orders/s; 0 = closed loop */
        double warmup_s;             /* excluded from every figure */
        double drain_s;              /* after the window, how long in-flight orders may finish (not counted) */
        long timeout_ms;             /* per HTTP request */
        const char *pids_from;       /* directory of <name>.pid files, or NULL */
        const char *procs[OPTIONS_PROCS_MAX]; /* comm names to scan /proc for (point into procs_buf) */
        size_t n_procs;
        char *procs_buf;             /* owned copy of --procs */
        const char *jwt_secret_file; /* sign tokens locally with this HS256 secret instead of /auth/dev-token */
        const char *card_token;
        const char *nats_monitor;    /* nats-server monitoring base URL for consumer lag, NULL = off */
        const char *database;        /* PostgreSQL URL or conninfo for the database work per order (borrowed from
                                      * argv or the environment), NULL = off */
        uint64_t seed;               /* for store and item choice; 0 = from the clock */
        bool json;                   /* print the report as one JSON object */
} BenchOptions;

/* Parses argv into *o (which the caller zeroed or not: every field is set). The --database default is the
 * DATABASE_URL environment variable, read here once.
 * Returns 0, OPTIONS_HELP after printing the usage to `out`, or -EINVAL after
 * printing why to `err`. Free with options_done even on failure. */
int options_parse(BenchOptions *o, int argc, char **argv, FILE *out, FILE *err);
void options_done(BenchOptions *o);

/* The default process comm names (NULL-terminated), as /proc/<pid>/comm shows them (15 bytes at most). */
extern const char *const options_default_procs[];
