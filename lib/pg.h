/* The one PostgreSQL helper: a connection with lazily prepared statements,
 * transactions, reconnect, and versioned migrations into one schema per
 * service. libpq results stay in here or are handed over as PGresult. */
#pragma once
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "embedded.h"

typedef struct Pg Pg;

/* A statement, declared once as a static const and prepared on first use on
 * each connection (and again after a reconnect). */
typedef struct {
        const char *name;
        const char *sql;
} PgStmt;

/* Migrations are EmbeddedFile arrays (embedded.h); a file's version is its leading number. */

/* Connects with `conninfo` and sets search_path to `schema` (then public).
 * Returns 0, or -ENOTCONN (message in the log). `schema` is copied. */
int pg_connect(Pg **ret, const char *conninfo, const char *schema);
void pg_free(Pg *pg);
/* Reconnects if the connection broke. 0 when usable, -ENOTCONN otherwise. */
int pg_ensure(Pg *pg);
bool pg_ok(Pg *pg);
/* Asks the server "SELECT 1", reconnecting first if the session broke, and
 * gives up after timeout_ms whatever the server or network does: 0 when it
 * answered, -ETIMEDOUT or -ENOTCONN otherwise (the session is then marked
 * broken). For readiness probes, on a connection nobody else uses meanwhile. */
int pg_ping(Pg *pg, int timeout_ms);
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

/* Applies, in one transaction under an advisory lock, every file in `files`
 * whose version is above the schema's recorded one. Idempotent. */
int pg_migrate(Pg *pg, const char *schema, const EmbeddedFile *files, size_t n);

/* Helpers for result cells (row r, column c). */
const char *pg_str(PGresult *res, int r, int c);
long long pg_ll(PGresult *res, int r, int c);
