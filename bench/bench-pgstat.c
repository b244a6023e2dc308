/* Reads PostgreSQL's commit, statement and WAL counters at both window edges over one libpq session. */
#include "bench-pgstat.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct PgStat {
        const char *conninfo; /* borrowed */
        PGconn *conn;
        PgStatSample samples[2]; /* begin, end */
        bool sampled[2];
        bool no_statements; /* pg_stat_statements was unreadable at the begin: the end does not ask */
};

/* Commits and the WAL position in one statement, so that both are read at the same instant. */
static const char sql_counters[] =
        "SELECT (SELECT sum(xact_commit) FROM pg_stat_database WHERE datname = current_database()),"
        " pg_current_wal_lsn()";
/* Apart: the view exists only where the extension was created, and answers only when its library is preloaded. */
static const char sql_statements[] = "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements";

int pgstat_new(PgStat **ret, const char *conninfo) {
        PgStat *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->conninfo = conninfo;
        *ret = p;
        return 0;
}

void pgstat_free(PgStat *p) {
        if (!p)
                return;
        PQfinish(p->conn);
        free(p);
}

int pgstat_parse_u64(const char *text, uint64_t *ret) {
        if (!text || *text < '0' || *text > '9')
                return -EINVAL;
        uint64_t v = 0;
        for (const char *c = text; *c; c++) {
                if (*c < '0' || *c > '9')
                        return -EINVAL;
                unsigned d = (unsigned)(*c - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -EINVAL;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* One half of an LSN: 1 to 8 hex digits, ending at `stop`. Returns the character after it, or NULL. */
static const char *parse_hex32(const char *s, char stop, uint32_t *ret) {
        uint32_t v = 0;
        size_t n = 0;
        for (; *s != stop; s++, n++) {
                unsigned d;
                if (*s >= '0' && *s <= '9')
                        d = (unsigned)(*s - '0');
                else if (*s >= 'A' && *s <= 'F')
                        d = (unsigned)(*s - 'A' + 10);
                else if (*s >= 'a' && *s <= 'f')
                        d = (unsigned)(*s - 'a' + 10);
                else
                        return NULL;
                if (n == 8)
                        return NULL;
                v = v << 4 | d;
        }
        if (n == 0)
                return NULL;
        *ret = v;
        return s;
}

int pgstat_parse_lsn(const char *text, uint64_t *ret) {
        uint32_t hi, lo;
        const char *s = text ? parse_hex32(text, '/', &hi) : NULL;
        if (!s || !parse_hex32(s + 1, '\0', &lo))
                return -EINVAL;
        *ret = (uint64_t)hi << 32 | lo;
        return 0;
}

static uint64_t delta(uint64_t begin, uint64_t end) {
        return end >= begin ? end - begin : end;
}

void pgstat_diff(const PgStatSample *begin, const PgStatSample *end, PgStatWork *ret) {
        *ret = (PgStatWork){
                .commits = delta(begin->commits, end->commits),
                .wal_bytes = delta(begin->wal_lsn, end->wal_lsn),
                .has_statements = begin->has_statements && end->has_statements &&
                                  end->statements >= begin->statements,
        };
        if (ret->has_statements)
                ret->statements = end->statements - begin->statements;
}

/* A connected session: connects, or resets a broken one once. 0 or -ECONNREFUSED with the reason in err. */
static int ensure_conn(PgStat *p, char *err, size_t err_cap) {
        if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
                return 0;
        if (p->conn) {
                PQreset(p->conn);
        } else {
                /* The URL first: the words after it override what it says. A statement timeout bounds the pause
                 * a window edge can cause. */
                const char *const keys[] = {"dbname", "connect_timeout", "application_name", "options", NULL};
                const char *const vals[] = {p->conninfo, "3", "food-bench", "-c statement_timeout=5000", NULL};
                p->conn = PQconnectdbParams(keys, vals, 1);
                if (!p->conn) {
                        snprintf(err, err_cap, "out of memory");
                        return -ENOMEM;
                }
        }
        if (PQstatus(p->conn) != CONNECTION_OK) {
                /* libpq's message ends with a newline; the caller prints one line. */
                snprintf(err, err_cap, "%.*s", (int)strcspn(PQerrorMessage(p->conn), "\n"), PQerrorMessage(p->conn));
                return -ECONNREFUSED;
        }
        return 0;
}

/* Runs `sql`, which must answer one row of `cols` columns. 0 with *ret (PQclear it), or -EPROTO with the
 * server's first line in err. */
static int query_row(PgStat *p, const char *sql, int cols, PGresult **ret, char *err, size_t err_cap) {
        PGresult *res = PQexec(p->conn, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != cols) {
                /* The server's primary message ("relation ... does not exist"), else libpq's (lost connection). */
                const char *msg = PQresultStatus(res) == PGRES_TUPLES_OK ? "unexpected answer"
                                  : res && PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                                          ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                                          : PQerrorMessage(p->conn);
                snprintf(err, err_cap, "%.*s", (int)strcspn(msg, "\n"), msg);
                PQclear(res);
                return -EPROTO;
        }
        *ret = res;
        return 0;
}

int pgstat_sample(PgStat *p, bool begin, char *err, size_t err_cap, bool *note) {
        PgStatSample s = {0};
        PGresult *res = NULL;
        int k = begin ? 0 : 1;
        *note = false;
        int r = ensure_conn(p, err, err_cap);
        if (r < 0)
                return r;
        if ((r = query_row(p, sql_counters, 2, &res, err, err_cap)) < 0)
                return r;
        if (pgstat_parse_u64(PQgetvalue(res, 0, 0), &s.commits) < 0 ||
            pgstat_parse_lsn(PQgetvalue(res, 0, 1), &s.wal_lsn) < 0) {
                snprintf(err, err_cap, "unexpected counters \"%.40s\", \"%.40s\"", PQgetvalue(res, 0, 0),
                         PQgetvalue(res, 0, 1));
                PQclear(res);
                return -EPROTO;
        }
        PQclear(res);

        if (!p->no_statements) {
                char why[256];
                res = NULL;
                if (query_row(p, sql_statements, 1, &res, why, sizeof(why)) == 0 &&
                    pgstat_parse_u64(PQgetvalue(res, 0, 0), &s.statements) == 0) {
                        s.has_statements = true;
                } else {
                        /* Not installed, not preloaded, or no right to read it: only the statement count is lost. */
                        if (!res)
                                snprintf(err, err_cap, "pg_stat_statements: %s", why);
                        else
                                snprintf(err, err_cap, "pg_stat_statements: unexpected sum \"%.40s\"",
                                         PQgetvalue(res, 0, 0));
                        *note = true;
                        p->no_statements = true;
                }
                PQclear(res);
        }
        p->samples[k] = s;
        p->sampled[k] = true;
        return 0;
}

bool pgstat_work(const PgStat *p, PgStatWork *ret) {
        if (!p->sampled[0] || !p->sampled[1])
                return false;
        pgstat_diff(&p->samples[0], &p->samples[1], ret);
        return true;
}
