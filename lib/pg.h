/* The one PostgreSQL helper: a connection with lazily prepared statements,
 * transactions, reconnect, and versioned migrations into one schema per
 * service. libpq results stay in here or are handed over as PGresult. */
#pragma once
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "embedded.h"

typedef struct Pg Pg;

/* A statement, declared once as a static const and prepared on first use on
 * each connection (and again after a reconnect). */
typedef struct {
        const char *name;
        const char *sql;
} PgStmt;

/* Migrations are EmbeddedFile arrays (embedded.h); a file's version is its leading number. */

/* 1: GnuTLS (which libpq loads) skips its implicit start-up in this process (see lib/pg.c). */
int _gnutls_global_init_skip(void);

/* Connects with `conninfo` and sets search_path to `schema` (a schema, or a
 * comma-separated list of them; then public). Returns 0, or -ENOTCONN (message
 * in the log). `schema` is copied. */
int pg_connect(Pg **ret, const char *conninfo, const char *schema);
void pg_free(Pg *pg);
/* Pins the session: from now on it is never reconnected (pg_ensure, pg_begin,
 * pg_ping, pg_transaction fail with -ENOTCONN once it broke), for a session
 * whose state (advisory locks) must not silently become another session's. */
void pg_pin_session(Pg *pg);
/* Commits of this session no longer wait for their WAL to reach disk (synchronous_commit off,
 * kept across reconnects): for writes that a crash of PostgreSQL may lose because they are
 * redone anyway (a notification marked sent is sent again with its idempotency key). 0 or
 * negative errno. */
int pg_async_commit(Pg *pg);
/* This session's statements find rows through an index whenever one fits (enable_seqscan off,
 * kept across reconnects): for a queue table (rows inserted and deleted within moments), whose
 * statistics say "a few rows" while its heap holds the dead versions of thousands between two
 * autovacuums, so that the planner's "scan it all, it is tiny" reads every dead row on every
 * call. 0 or negative errno. */
int pg_prefer_indexes(Pg *pg);
/* Reconnects if the connection broke. 0 when usable, -ENOTCONN otherwise. */
int pg_ensure(Pg *pg);
bool pg_ok(Pg *pg);
/* Asks the server "SELECT 1", reconnecting first if the session broke, and
 * gives up after timeout_ms whatever the server or network does: 0 when it
 * answered, -ETIMEDOUT or -ENOTCONN otherwise (the session is then marked
 * broken). For readiness probes, on a connection nobody else uses meanwhile. */
int pg_ping(Pg *pg, int timeout_ms);
/* The value libpq uses for connection option `keyword` (e.g. "gssencmode") into buf: 0, -ENOENT (no
 * connection, or no such option set) or -ENAMETOOLONG. */
int pg_conninfo_value(const Pg *pg, const char *keyword, char *buf, size_t cap);
/* The last server error message of this connection (borrowed). */
const char *pg_error(Pg *pg);

/* Runs a prepared statement with n text/binary params (vals may hold NULL;
 * lens/fmts may be NULL for all-text). On success returns 0 and, when ret is
 * not NULL, hands over the result (PQclear it). Errors: -ENOTCONN, -EEXIST
 * (unique violation), -EAGAIN (serialization failure / deadlock), -EBADMSG
 * (the data itself is refused: a data exception such as bytes that are not
 * UTF-8 or a number out of range, or a constraint other than uniqueness;
 * the same data fails again), -EPROTO (any other SQL error; see pg_error). */
int pg_run(Pg *pg, const PgStmt *st, int n, const char *const *vals, const int *lens, const int *fmts,
           PGresult **ret);
/* Simple-protocol command(s) without parameters. Same errors. */
int pg_exec(Pg *pg, const char *sql);

/* BEGIN; on a session found dead at it (the server restarted), reconnects
 * once and begins again. 0, or the errors of pg_run. */
int pg_begin(Pg *pg);
/* COMMIT; -ECANCELED when an earlier statement had aborted the transaction
 * (PostgreSQL then answers ROLLBACK, not an error), or the errors of pg_run. */
int pg_commit(Pg *pg);
void pg_rollback(Pg *pg);

/* One statement of a pipeline (pg_transaction): its parameters as for pg_run;
 * `ret`, when not NULL, receives the result (PQclear it) once all went well. */
typedef struct {
        const PgStmt *st;
        int n;
        const char *const *vals;
        const int *lens;
        const int *fmts;
        PGresult **ret;
} PgCall;

/* BEGIN, every call in order, COMMIT: one round trip (libpq pipeline mode).
 * 0 when committed; otherwise the errors of pg_run for the first statement
 * that failed, or -ECANCELED as pg_commit (nothing was written). */
int pg_transaction(Pg *pg, const PgCall *calls, size_t n);
/* The same calls without a transaction around them (reads). */
int pg_pipeline(Pg *pg, const PgCall *calls, size_t n);

/* A multi-row parameter: a one-dimensional PostgreSQL array in binary format
 * (pass it with length pg_array_len and format 1), built element by element;
 * `oid` is the element type (PG_OID_*). Appends never fail visibly: a failed
 * allocation makes pg_array_finish return -ENOMEM. */
#define PG_OID_BOOL 16
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20
#define PG_OID_INT4 23
#define PG_OID_TEXT 25
#define PG_OID_FLOAT8 701
typedef struct {
        uint8_t *data;
        size_t len, cap;
        uint32_t oid;
        int32_t n;
        bool has_null;
        bool failed;
} PgArray;
void pg_array_init(PgArray *a, uint32_t oid);
void pg_array_text(PgArray *a, const char *s); /* NULL appends an SQL NULL */
void pg_array_bytes(PgArray *a, const void *p, size_t n);
void pg_array_int8(PgArray *a, int64_t v);
void pg_array_int4(PgArray *a, int32_t v);
void pg_array_bool(PgArray *a, bool v);
void pg_array_float8(PgArray *a, double v);
void pg_array_null(PgArray *a);
/* Writes the array's header; 0 or -ENOMEM. The bytes are a->data, a->len. */
int pg_array_finish(PgArray *a);
void pg_array_free(PgArray *a);
/* Finishes the n arrays into binary parameters vals/lens/fmts[0..n) (pointing into the arrays).
 * 0 or -ENOMEM. */
int pg_array_params(PgArray *const *arrays, int n, const char **vals, int *lens, int *fmts);
/* Finishes the n arrays and runs `st` with them as its parameters $1..$n (as pg_run). */
int pg_run_arrays(Pg *pg, const PgStmt *st, PgArray *const *arrays, int n, PGresult **ret);

/* Applies, in one transaction under an advisory lock, every file in `files`
 * whose version is above the schema's recorded one. Idempotent. */
int pg_migrate(Pg *pg, const char *schema, const EmbeddedFile *files, size_t n);

/* Helpers for result cells (row r, column c). */
const char *pg_str(PGresult *res, int r, int c);
long long pg_ll(PGresult *res, int r, int c);
