/* PostgreSQL helper: connection, prepared statements, transactions, migrations. */
#include "pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        char error[512];
};

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

static int pg_setup_session(Pg *pg) {
        char sql[256];
        char *quoted = PQescapeIdentifier(pg->conn, pg->schema, strlen(pg->schema));
        if (!quoted)
                return -ENOMEM;
        snprintf(sql, sizeof(sql), "SET search_path TO %s, public", quoted);
        PQfreemem(quoted);
        return pg_exec(pg, sql);
}

/* Connects with bounds on a server that stops answering (crashed host, paused
 * process, lost network): a connect gives up after connect_timeout, and TCP
 * keepalives/user timeout end a session whose server went silent, instead of
 * libpq waiting for the kernel's 15-minute retransmission limit. Settings in
 * `conninfo` (a URL or key=value string) take precedence: it is expanded after
 * these defaults. */
static PGconn *pg_connectdb(const char *conninfo) {
        const char *const keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle", "keepalives_interval",
                                    "keepalives_count",    "tcp_user_timeout", "dbname",          NULL};
        const char *const vals[] = {"5", "1", "10", "3", "3", "20000", conninfo, NULL};
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

const char *pg_error(Pg *pg) {
        return pg->error;
}

int pg_ensure(Pg *pg) {
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

static int64_t pg_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the connection's socket is ready for `events` (POLLIN/POLLOUT)
 * or `deadline_ms` (pg_now_ms clock) passes: 0, -ETIMEDOUT or -ENOTCONN. */
static int pg_wait(PGconn *conn, short events, int64_t deadline_ms) {
        struct pollfd pfd = {.fd = PQsocket(conn), .events = events};
        if (pfd.fd < 0)
                return -ENOTCONN;
        for (;;) {
                int64_t left = deadline_ms - pg_now_ms();
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
        int64_t deadline = pg_now_ms() + timeout_ms;
        int r = 0;

        if (!pg)
                return -EINVAL;
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

        if (!q || !lit) {
                r = -ENOMEM;
                goto out;
        }
        r = pg_begin(pg);
        if (r < 0)
                goto out;
        /* One migrator at a time per schema, even with many replicas starting. */
        snprintf(sql, sizeof(sql),
                 "SELECT pg_advisory_xact_lock(hashtext(%s));"
                 "CREATE SCHEMA IF NOT EXISTS %s;"
                 "CREATE TABLE IF NOT EXISTS %s.schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 lit, q, q);
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
