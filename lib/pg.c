/* PostgreSQL helper: connection, prepared statements, transactions, migrations. */
#include "pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ids.h"
#include "log.h"

#define PG_MAX_PREPARED 96

struct Pg {
        PGconn *conn;
        char *conninfo;
        char *schema;
        const PgStmt *prepared[PG_MAX_PREPARED];
        size_t n_prepared;
        bool broken; /* the server said the session is over, even if libpq has not noticed yet */
        bool needs_session; /* reconnected by pg_ping: search_path not set yet */
        bool pinned;        /* never reconnected: what the session holds (locks) dies with it */
        bool async_commit;  /* synchronous_commit off, again after each reconnect */
        bool index_only;    /* enable_seqscan off, again after each reconnect */
        char error[512];
};

/* Debian's libpq loads GnuTLS (through libldap, for LDAP service look-ups we do not use), and GnuTLS
 * initialises itself from a library constructor: random pools, the system trust and PKCS#11 settings, about
 * 0.8 MB of every process's memory, before main. GnuTLS asks the program whether to skip that (the ABI behind
 * its GNUTLS_SKIP_GLOBAL_INIT macro); libldap calls gnutls_global_init itself if it ever needs TLS. The link
 * exports this definition (GnuTLS, a library in the link, asks for the symbol), so that its look-up finds it. */
int _gnutls_global_init_skip(void) {
        return 1;
}

static void pg_set_error(Pg *pg, const char *msg) {
        snprintf(pg->error, sizeof(pg->error), "%s", msg ? msg : "");
        size_t n = strlen(pg->error);
        while (n > 0 && (pg->error[n - 1] == '\n' || pg->error[n - 1] == ' '))
                pg->error[--n] = 0;
}

static int pg_result_errno(Pg *pg, PGresult *res) {
        const char *state;

        if (!res) {
                pg_set_error(pg, PQerrorMessage(pg->conn));
                pg->broken = true;
                return -ENOTCONN;
        }
        switch (PQresultStatus(res)) {
        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
                return 0;
        default:
                break;
        }
        pg_set_error(pg, PQresultErrorMessage(res));
        if (PQstatus(pg->conn) != CONNECTION_OK) {
                pg->broken = true;
                return -ENOTCONN;
        }
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (!state)
                return -EPROTO;
        if (strcmp(state, "23505") == 0)
                return -EEXIST;
        if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
                return -EAGAIN;
        if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0) {
                pg->broken = true; /* connection failure or server shutting down */
                return -ENOTCONN;
        }
        if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
                return -EBADMSG; /* data exception, integrity constraint: the data is refused */
        return -EPROTO;
}

/* Server notices ("already exists, skipping") are not errors: keep them out of stderr. */
static void pg_ignore_notice(void *arg, const char *message) {
        (void)arg;
        (void)message;
}

/* search_path: the schemas of pg->schema (a comma-separated list), then public. */
static int pg_setup_session(Pg *pg) {
        char sql[512];
        size_t used = (size_t)snprintf(sql, sizeof(sql), "SET search_path TO ");
        for (const char *p = pg->schema; *p;) {
                size_t n = strcspn(p, ",");
                char *quoted = PQescapeIdentifier(pg->conn, p, n);
                if (!quoted)
                        return -ENOMEM;
                used += (size_t)snprintf(sql + used, sizeof(sql) - used, "%s, ", quoted);
                PQfreemem(quoted);
                p += n + (p[n] == ',');
                if (used >= sizeof(sql))
                        return -ENAMETOOLONG;
        }
        used += (size_t)snprintf(sql + used, sizeof(sql) - used, "public%s%s",
                                 pg->async_commit ? "; SET synchronous_commit = off" : "",
                                 pg->index_only ? "; SET enable_seqscan = off" : "");
        if (used >= sizeof(sql))
                return -ENAMETOOLONG;
        return pg_exec(pg, sql);
}

/* Connects with bounds on a server that stops answering (crashed host, paused
 * process, lost network): a connect gives up after connect_timeout, and TCP
 * keepalives/user timeout end a session whose server went silent, instead of
 * libpq waiting for the kernel's 15-minute retransmission limit. Settings in
 * `conninfo` (a URL or key=value string) take precedence: it is expanded after
 * these defaults. GSS encryption (Kerberos) is off unless conninfo or
 * PGGSSENCMODE asks for it: libpq's "prefer" started Kerberos in every process
 * at its first connect (0.7-0.8 MB of each service's RSS) to find no ticket. */
static PGconn *pg_connectdb(const char *conninfo) {
        /* Sessions are named after the program (pg_stat_activity.application_name) unless conninfo names them. */
        const char *const keys[] = {"connect_timeout",  "keepalives",       "keepalives_idle",
                                    "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                    "gssencmode", "fallback_application_name", "dbname", NULL};
        const char *const vals[] = {"5", "1", "10", "3", "3", "20000", getenv("PGGSSENCMODE") ? NULL : "disable",
                                    program_invocation_short_name, conninfo, NULL};
        return PQconnectdbParams(keys, vals, 1);
}

int pg_connect(Pg **ret, const char *conninfo, const char *schema) {
        Pg *pg = calloc(1, sizeof(*pg));
        int r;

        if (!pg)
                return -ENOMEM;
        pg->conninfo = strdup(conninfo);
        pg->schema = strdup(schema);
        if (!pg->conninfo || !pg->schema) {
                pg_free(pg);
                return -ENOMEM;
        }
        pg->conn = pg_connectdb(conninfo);
        if (PQstatus(pg->conn) != CONNECTION_OK) {
                pg_set_error(pg, PQerrorMessage(pg->conn));
                log_error("pg: cannot connect: %s", pg->error);
                pg_free(pg);
                return -ENOTCONN;
        }
        PQsetNoticeProcessor(pg->conn, pg_ignore_notice, NULL);
        r = pg_setup_session(pg);
        if (r < 0) {
                log_error("pg: session setup failed: %s", pg->error);
                pg_free(pg);
                return r;
        }
        *ret = pg;
        return 0;
}

void pg_free(Pg *pg) {
        if (!pg)
                return;
        if (pg->conn)
                PQfinish(pg->conn);
        free(pg->conninfo);
        free(pg->schema);
        free(pg);
}

bool pg_ok(Pg *pg) {
        return pg && pg->conn && !pg->broken && PQstatus(pg->conn) == CONNECTION_OK;
}

int pg_conninfo_value(const Pg *pg, const char *keyword, char *buf, size_t cap) {
        PQconninfoOption *opts = pg && pg->conn ? PQconninfo(pg->conn) : NULL;
        int r = -ENOENT;
        for (PQconninfoOption *o = opts; o && o->keyword; o++)
                if (strcmp(o->keyword, keyword) == 0 && o->val) {
                        r = snprintf(buf, cap, "%s", o->val) < (int)cap ? 0 : -ENAMETOOLONG;
                        break;
                }
        PQconninfoFree(opts);
        return r;
}

const char *pg_error(Pg *pg) {
        return pg ? pg->error : "no session";
}

void pg_pin_session(Pg *pg) {
        pg->pinned = true;
}

int pg_prefer_indexes(Pg *pg) {
        pg->index_only = true;
        return pg_exec(pg, "SET enable_seqscan = off");
}

int pg_async_commit(Pg *pg) {
        pg->async_commit = true;
        return pg_exec(pg, "SET synchronous_commit = off");
}

int pg_ensure(Pg *pg) {
        if (!pg_ok(pg) && pg->pinned) {
                pg_set_error(pg, "the session is gone (and with it what it held)");
                return -ENOTCONN;
        }
        if (pg_ok(pg) && pg->needs_session) {
                pg->needs_session = false;
                return pg_setup_session(pg);
        }
        if (pg_ok(pg))
                return 0;
        PQreset(pg->conn);
        pg->n_prepared = 0; /* prepared statements died with the old session */
        pg->broken = false;
        pg->needs_session = false;
        if (PQstatus(pg->conn) != CONNECTION_OK) {
                pg_set_error(pg, PQerrorMessage(pg->conn));
                return -ENOTCONN;
        }
        log_info("pg: reconnected");
        return pg_setup_session(pg);
}

/* Waits until the connection's socket is ready for `events` (POLLIN/POLLOUT)
 * or `deadline_ms` (ids_monotonic_ms clock) passes: 0, -ETIMEDOUT or -ENOTCONN. */
static int pg_wait(PGconn *conn, short events, int64_t deadline_ms) {
        struct pollfd pfd = {.fd = PQsocket(conn), .events = events};
        if (pfd.fd < 0)
                return -ENOTCONN;
        for (;;) {
                int64_t left = deadline_ms - ids_monotonic_ms();
                int n;
                if (left <= 0)
                        return -ETIMEDOUT;
                n = poll(&pfd, 1, (int)left);
                if (n > 0)
                        return 0;
                if (n == 0)
                        return -ETIMEDOUT;
                if (errno != EINTR)
                        return -ENOTCONN;
        }
}

/* Reconnects without blocking past `deadline_ms`. 0 or negative errno. */
static int pg_reset_bounded(Pg *pg, int64_t deadline_ms) {
        PostgresPollingStatusType st = PGRES_POLLING_WRITING;
        if (!PQresetStart(pg->conn)) {
                pg_set_error(pg, PQerrorMessage(pg->conn));
                return -ENOTCONN;
        }
        while (st != PGRES_POLLING_OK) {
                int r;
                if (st == PGRES_POLLING_FAILED) {
                        pg_set_error(pg, PQerrorMessage(pg->conn));
                        return -ENOTCONN;
                }
                r = pg_wait(pg->conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline_ms);
                if (r < 0) {
                        pg_set_error(pg, "no answer from the server while connecting");
                        return r;
                }
                st = PQresetPoll(pg->conn);
        }
        PQsetNoticeProcessor(pg->conn, pg_ignore_notice, NULL);
        pg->n_prepared = 0; /* prepared statements died with the old session */
        pg->needs_session = true;
        pg->broken = false;
        return 0;
}

int pg_ping(Pg *pg, int timeout_ms) {
        int64_t deadline = ids_monotonic_ms() + timeout_ms;
        int r = 0;

        if (!pg)
                return -EINVAL;
        if (!pg_ok(pg) && pg->pinned)
                return pg_ensure(pg);
        if (!pg_ok(pg) && (r = pg_reset_bounded(pg, deadline)) < 0) {
                pg->broken = true;
                return r;
        }
        if (!PQsendQuery(pg->conn, "SELECT 1")) {
                pg_set_error(pg, PQerrorMessage(pg->conn));
                pg->broken = true;
                return -ENOTCONN;
        }
        for (;;) {
                PGresult *res;
                while (PQisBusy(pg->conn)) {
                        int w = pg_wait(pg->conn, POLLIN, deadline);
                        if (w == 0 && !PQconsumeInput(pg->conn))
                                w = -ENOTCONN;
                        if (w < 0) {
                                /* The session's state is unknown now: the next ping starts a new one. */
                                pg_set_error(pg, w == -ETIMEDOUT ? "no answer to a ping in time" : PQerrorMessage(pg->conn));
                                pg->broken = true;
                                return w;
                        }
                }
                res = PQgetResult(pg->conn);
                if (!res)
                        return r;
                if (r == 0)
                        r = pg_result_errno(pg, res);
                PQclear(res);
        }
}

static int pg_prepare(Pg *pg, const PgStmt *st) {
        for (size_t i = 0; i < pg->n_prepared; i++)
                if (pg->prepared[i] == st)
                        return 0;
        if (pg->n_prepared == PG_MAX_PREPARED)
                return -ENOSPC;
        PGresult *res = PQprepare(pg->conn, st->name, st->sql, 0, NULL);
        int r = pg_result_errno(pg, res);
        PQclear(res);
        if (r < 0)
                return r;
        pg->prepared[pg->n_prepared++] = st;
        return 0;
}

/* A session marked broken (a lost server, a ping that timed out with its
 * query still pending) is never used again: only pg_ensure revives it. */
static int pg_usable(Pg *pg) {
        if (!pg->broken)
                return 0;
        pg_set_error(pg, "the connection was lost; reconnect first");
        return -ENOTCONN;
}

int pg_run(Pg *pg, const PgStmt *st, int n, const char *const *vals, const int *lens, const int *fmts,
           PGresult **ret) {
        PGresult *res;
        int r = pg_usable(pg);
        if (r < 0)
                return r;
        r = pg_prepare(pg, st);
        if (r < 0)
                return r;
        res = PQexecPrepared(pg->conn, st->name, n, vals, lens, fmts, 0);
        r = pg_result_errno(pg, res);
        if (r < 0 || !ret)
                PQclear(res);
        else
                *ret = res;
        return r;
}

int pg_exec(Pg *pg, const char *sql) {
        PGresult *res;
        int r = pg_usable(pg);
        if (r < 0)
                return r;
        res = PQexec(pg->conn, sql);
        r = pg_result_errno(pg, res);
        PQclear(res);
        return r;
}

int pg_begin(Pg *pg) {
        int r = pg_exec(pg, "BEGIN");
        /* A session that looked alive but whose server restarted since its last
         * use fails at its first statement. Nothing was done in it yet: reconnect
         * once and begin again, instead of failing the caller's work (a batch
         * sent back for redelivery, an RPC answered 504) after every restart. */
        if (r == -ENOTCONN && (r = pg_ensure(pg)) == 0)
                r = pg_exec(pg, "BEGIN");
        return r;
}

int pg_commit(Pg *pg) {
        PGresult *res;
        int r = pg_usable(pg);
        if (r < 0)
                return r;
        res = PQexec(pg->conn, "COMMIT");
        r = pg_result_errno(pg, res);
        /* COMMIT of a transaction an earlier statement aborted succeeds with the
         * tag ROLLBACK: nothing was written, and the caller must not ack as if it was. */
        if (r == 0 && strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
                pg_set_error(pg, "the transaction had failed: COMMIT rolled it back");
                r = -ECANCELED;
        }
        PQclear(res);
        return r;
}

void pg_rollback(Pg *pg) {
        /* A lost session has nothing to roll back, and trying would replace the
         * error that explains the failure with "the connection was lost". */
        if (!pg->broken && PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
                (void)pg_exec(pg, "ROLLBACK");
}

/* ---- pipelines ---------------------------------------------------------- */

/* What one queued command of a pipeline was, to read its result in order. */
typedef enum { PIPE_CMD, PIPE_PREPARE, PIPE_CALL, PIPE_COMMIT } PipeKind;

/* Runs the calls as one pipeline; *failed_at is the queued command that failed first (or -1). */
static int pg_pipeline_once(Pg *pg, const PgCall *calls, size_t n, bool transaction, int *failed_at) {
        PipeKind kinds[2 * 64 + 2];
        size_t idx[2 * 64 + 2];
        const PgStmt *fresh[64];
        size_t q = 0, n_fresh = 0;
        int r = pg_usable(pg);

        *failed_at = -1;
        if (r < 0)
                return r;
        if (n > 64)
                return -E2BIG;
        /* Room for the statements to prepare, checked before anything is sent. */
        for (size_t i = 0; i < n; i++) {
                bool known = false;
                for (size_t k = 0; k < pg->n_prepared && !known; k++)
                        known = pg->prepared[k] == calls[i].st;
                for (size_t k = 0; k < i && !known; k++)
                        known = calls[k].st == calls[i].st;
                if (!known && pg->n_prepared + ++n_fresh > PG_MAX_PREPARED)
                        return -ENOSPC;
        }
        n_fresh = 0;
        if (!PQenterPipelineMode(pg->conn)) {
                pg_set_error(pg, PQerrorMessage(pg->conn));
                return -EPROTO;
        }
        if (transaction) {
                if (!PQsendQueryParams(pg->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
                        goto send_failed;
                kinds[q++] = PIPE_CMD;
        }
        for (size_t i = 0; i < n; i++) {
                const PgStmt *st = calls[i].st;
                bool known = false;
                for (size_t k = 0; k < pg->n_prepared && !known; k++)
                        known = pg->prepared[k] == st;
                for (size_t k = 0; k < n_fresh && !known; k++)
                        known = fresh[k] == st;
                if (!known) {
                        if (!PQsendPrepare(pg->conn, st->name, st->sql, 0, NULL))
                                goto send_failed;
                        idx[q] = n_fresh;
                        kinds[q++] = PIPE_PREPARE;
                        fresh[n_fresh++] = st;
                }
                if (!PQsendQueryPrepared(pg->conn, st->name, calls[i].n, calls[i].vals, calls[i].lens, calls[i].fmts, 0))
                        goto send_failed;
                idx[q] = i;
                kinds[q++] = PIPE_CALL;
        }
        if (transaction) {
                if (!PQsendQueryParams(pg->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0))
                        goto send_failed;
                kinds[q++] = PIPE_COMMIT;
        }
        if (!PQpipelineSync(pg->conn))
                goto send_failed;
        goto drain;
send_failed:
        pg_set_error(pg, PQerrorMessage(pg->conn));
        pg->broken = true;
        r = -ENOTCONN;
        if (PQstatus(pg->conn) != CONNECTION_OK)
                return r; /* nothing more comes back; the session is replaced before its next use */
        (void)PQpipelineSync(pg->conn);
drain:
        /* One result (then NULL) per queued command, in order; then the sync point. */
        for (size_t k = 0; k < q; k++) {
                PGresult *res = PQgetResult(pg->conn);
                int rr;
                if (!res) {
                        if (r == 0)
                                r = pg_result_errno(pg, NULL);
                        goto synced; /* the session is gone: leave pipeline mode and hand nothing over */
                }
                if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED)
                        rr = -ECANCELED; /* skipped after an earlier failure */
                else
                        rr = pg_result_errno(pg, res);
                if (rr == 0 && kinds[k] == PIPE_COMMIT && strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
                        pg_set_error(pg, "the transaction had failed: COMMIT rolled it back");
                        rr = -ECANCELED;
                }
                if (rr == 0 && kinds[k] == PIPE_PREPARE)
                        pg->prepared[pg->n_prepared++] = fresh[idx[k]];
                if (rr < 0 && r == 0) {
                        r = rr;
                        *failed_at = (int)k;
                }
                if (kinds[k] == PIPE_CALL && rr == 0 && calls[idx[k]].ret)
                        *calls[idx[k]].ret = res;
                else
                        PQclear(res);
                while ((res = PQgetResult(pg->conn)) != NULL) {
                        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) { /* aborted commands end early */
                                PQclear(res);
                                goto synced;
                        }
                        PQclear(res);
                }
        }
        {
                PGresult *res = PQgetResult(pg->conn); /* the sync point */
                if (!res || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
                        if (r == 0)
                                r = pg_result_errno(pg, res);
                        pg->broken = true;
                }
                PQclear(res);
        }
synced:
        if (!PQexitPipelineMode(pg->conn)) {
                pg_set_error(pg, PQerrorMessage(pg->conn));
                pg->broken = true;
                if (r == 0)
                        r = -EPROTO;
        }
        if (r < 0) {
                /* Results handed over before the failure are the caller's no longer. */
                for (size_t i = 0; i < n; i++)
                        if (calls[i].ret && *calls[i].ret) {
                                PQclear(*calls[i].ret);
                                *calls[i].ret = NULL;
                        }
                /* The sync point does not end a transaction block BEGIN opened: it stays aborted
                 * until rolled back. */
                PGTransactionStatusType ts = PQtransactionStatus(pg->conn);
                if (ts == PQTRANS_INERROR || ts == PQTRANS_INTRANS) {
                        PGresult *res = PQexec(pg->conn, "ROLLBACK");
                        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                                pg->broken = true;
                        PQclear(res);
                }
        }
        return r;
}

static int pg_pipeline_run(Pg *pg, const PgCall *calls, size_t n, bool transaction) {
        int failed_at;
        int r = pg_pipeline_once(pg, calls, n, transaction, &failed_at);
        /* A session that looked alive but whose server restarted since its last use
         * fails at its first command, before anything ran: reconnect once and run
         * again (as pg_begin does). */
        if (r == -ENOTCONN && failed_at <= 0 && (r = pg_ensure(pg)) == 0)
                r = pg_pipeline_once(pg, calls, n, transaction, &failed_at);
        return r;
}

int pg_transaction(Pg *pg, const PgCall *calls, size_t n) {
        return pg_pipeline_run(pg, calls, n, true);
}

int pg_pipeline(Pg *pg, const PgCall *calls, size_t n) {
        return pg_pipeline_run(pg, calls, n, false);
}

/* ---- binary arrays ------------------------------------------------------- */

#define PG_ARRAY_HEADER 20 /* ndim, flags, element oid, dimension, lower bound */

static void pg_array_put(PgArray *a, const void *p, size_t n) {
        if (a->failed)
                return;
        if (a->len + n > a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 256;
                while (cap < a->len + n)
                        cap *= 2;
                uint8_t *d = realloc(a->data, cap);
                if (!d) {
                        a->failed = true;
                        return;
                }
                a->data = d;
                a->cap = cap;
        }
        memcpy(a->data + a->len, p, n);
        a->len += n;
}

static void pg_array_u32(PgArray *a, uint32_t v) {
        uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        pg_array_put(a, b, 4);
}

void pg_array_init(PgArray *a, uint32_t oid) {
        memset(a, 0, sizeof(*a));
        a->oid = oid;
        uint8_t zero[PG_ARRAY_HEADER] = {0};
        pg_array_put(a, zero, sizeof(zero));
}

void pg_array_bytes(PgArray *a, const void *p, size_t n) {
        pg_array_u32(a, (uint32_t)n);
        pg_array_put(a, p, n);
        a->n++;
}

void pg_array_text(PgArray *a, const char *s) {
        if (!s)
                pg_array_null(a);
        else
                pg_array_bytes(a, s, strlen(s));
}

void pg_array_null(PgArray *a) {
        pg_array_u32(a, UINT32_MAX); /* length -1 */
        a->has_null = true;
        a->n++;
}

void pg_array_int8(PgArray *a, int64_t v) {
        uint64_t u = (uint64_t)v;
        pg_array_u32(a, 8);
        pg_array_u32(a, (uint32_t)(u >> 32));
        pg_array_u32(a, (uint32_t)u);
        a->n++;
}

void pg_array_int4(PgArray *a, int32_t v) {
        pg_array_u32(a, 4);
        pg_array_u32(a, (uint32_t)v);
        a->n++;
}

void pg_array_bool(PgArray *a, bool v) {
        uint8_t b = v ? 1 : 0;
        pg_array_u32(a, 1);
        pg_array_put(a, &b, 1);
        a->n++;
}

void pg_array_float8(PgArray *a, double v) {
        uint64_t u;
        memcpy(&u, &v, sizeof(u));
        pg_array_u32(a, 8);
        pg_array_u32(a, (uint32_t)(u >> 32));
        pg_array_u32(a, (uint32_t)u);
        a->n++;
}

#define PG_ARRAYS_MAX 32

int pg_array_finish(PgArray *a) {
        if (a->failed || a->len < PG_ARRAY_HEADER)
                return -ENOMEM;
        uint32_t h[5] = {a->n ? 1u : 0u, a->has_null ? 1u : 0u, a->oid, (uint32_t)a->n, 1};
        for (int i = 0; i < 5; i++) {
                a->data[4 * i] = (uint8_t)(h[i] >> 24);
                a->data[4 * i + 1] = (uint8_t)(h[i] >> 16);
                a->data[4 * i + 2] = (uint8_t)(h[i] >> 8);
                a->data[4 * i + 3] = (uint8_t)h[i];
        }
        if (a->n == 0)
                a->len = 12; /* an empty array has no dimension */
        return 0;
}

void pg_array_free(PgArray *a) {
        free(a->data);
        memset(a, 0, sizeof(*a));
}

int pg_array_params(PgArray *const *arrays, int n, const char **vals, int *lens, int *fmts) {
        for (int i = 0; i < n; i++) {
                if (pg_array_finish(arrays[i]) < 0)
                        return -ENOMEM;
                vals[i] = (const char *)arrays[i]->data;
                lens[i] = (int)arrays[i]->len;
                fmts[i] = 1;
        }
        return 0;
}

int pg_run_arrays(Pg *pg, const PgStmt *st, PgArray *const *arrays, int n, PGresult **ret) {
        const char *vals[PG_ARRAYS_MAX];
        int lens[PG_ARRAYS_MAX], fmts[PG_ARRAYS_MAX];
        if (n > PG_ARRAYS_MAX)
                return -EINVAL;
        int r = pg_array_params(arrays, n, vals, lens, fmts);
        return r < 0 ? r : pg_run(pg, st, n, vals, lens, fmts, ret);
}

static int migration_version(const char *name) {
        char *end;
        long v = strtol(name, &end, 10);
        return (end == name || v <= 0 || v > 1000000) ? -1 : (int)v;
}

int pg_migrate(Pg *pg, const char *schema, const EmbeddedFile *files, size_t n) {
        char sql[512];
        char *q = PQescapeIdentifier(pg->conn, schema, strlen(schema));
        char *lit = PQescapeLiteral(pg->conn, schema, strlen(schema));
        PGresult *res = NULL;
        int current = 0, r;
        bool locked = false;

        if (!q || !lit) {
                r = -ENOMEM;
                goto out;
        }
        /* One migrator at a time per schema, even with many replicas (or processes sharing a schema)
         * starting: a session lock taken before the transaction, so that the transaction sees what
         * the previous holder committed (an advisory lock inside it would not refresh the catalog
         * it already read: CREATE SCHEMA IF NOT EXISTS would then collide). */
        snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(hashtext(%s))", lit);
        r = pg_exec(pg, sql);
        if (r < 0)
                goto out;
        locked = true;
        r = pg_begin(pg);
        if (r < 0)
                goto out;
        snprintf(sql, sizeof(sql),
                 "CREATE SCHEMA IF NOT EXISTS %s;"
                 "CREATE TABLE IF NOT EXISTS %s.schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 q, q);
        r = pg_exec(pg, sql);
        if (r < 0)
                goto fail;
        snprintf(sql, sizeof(sql), "SELECT coalesce(max(version), 0) FROM %s.schema_migrations", q);
        res = PQexec(pg->conn, sql);
        r = pg_result_errno(pg, res);
        if (r < 0)
                goto fail;
        current = (int)pg_ll(res, 0, 0);
        for (size_t i = 0; i < n; i++) {
                int v = migration_version(files[i].name);
                char *body;
                if (v < 0) {
                        pg_set_error(pg, "migration file name has no leading version number");
                        r = -EINVAL;
                        goto fail;
                }
                if (v <= current)
                        continue;
                body = strndup(files[i].data, files[i].len);
                if (!body) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = pg_exec(pg, body);
                free(body);
                if (r < 0) {
                        log_error("pg: migration %s/%s failed: %s", schema, files[i].name, pg->error);
                        goto fail;
                }
                snprintf(sql, sizeof(sql), "INSERT INTO %s.schema_migrations(version, name) VALUES (%d, '%s')", q, v,
                         files[i].name);
                r = pg_exec(pg, sql);
                if (r < 0)
                        goto fail;
                log_info("pg: applied migration %s/%s", schema, files[i].name);
        }
        r = pg_commit(pg);
        goto out;
fail:
        pg_rollback(pg);
out:
        if (locked) {
                snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(hashtext(%s))", lit);
                (void)pg_exec(pg, sql);
        }
        PQclear(res);
        PQfreemem(q);
        PQfreemem(lit);
        return r;
}

const char *pg_str(PGresult *res, int r, int c) {
        return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

long long pg_ll(PGresult *res, int r, int c) {
        return PQgetisnull(res, r, c) ? 0 : strtoll(PQgetvalue(res, r, c), NULL, 10);
}
