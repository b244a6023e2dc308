/* GET /analytics/events: NDJSON export of the archive, streamed in chunks as it is read. */
#include "gateway-analytics.h"

#include <civetweb.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "archive-read.h"
#include "archive-export.h"

#define ANALYTICS_CHUNK 65536      /* bytes gathered before a chunk is written */
#define ANALYTICS_WAIT_MS 10000    /* longest silence of NATS while reading */
#define ANALYTICS_QUERY_MAX 64

static atomic_int analytics_running;

typedef struct {
        char *buf;
        size_t len;
        bool failed; /* the client is gone */
} Chunk;

static void chunk_flush(Request *rq, Chunk *c) {
        if (c->len > 0 && !c->failed && mg_send_chunk(rq->x->conn, c->buf, (unsigned)c->len) < 0)
                c->failed = true;
        c->len = 0;
}

static void chunk_add(Request *rq, Chunk *c, const char *line) {
        size_t n = strlen(line);
        if (c->len + n > ANALYTICS_CHUNK)
                chunk_flush(rq, c);
        if (n > ANALYTICS_CHUNK) { /* a line never is this long; send it alone */
                if (!c->failed && mg_send_chunk(rq->x->conn, line, (unsigned)n) < 0)
                        c->failed = true;
                return;
        }
        memcpy(c->buf + c->len, line, n);
        c->len += n;
}

void analytics_events(Request *rq) {
        char since[ANALYTICS_QUERY_MAX], limit_text[ANALYTICS_QUERY_MAX];
        ArchiveReader *rd = NULL;
        ExportStart start;
        ArchiveEvent ev;
        Chunk c = {0};
        int64_t limit, count = 0;
        int64_t t0 = ids_monotonic_ms();
        int rs, rl, r;

        rs = http_query(rq->x, "since", since, sizeof(since));
        rl = http_query(rq->x, "limit", limit_text, sizeof(limit_text));
        if (rs < 0 || export_parse_since(rs == 1 ? since : NULL, &start) < 0) {
                http_problem(rq->x, 400, NULL, NULL,
                             "since must be a seq returned earlier (events after it) or an RFC 3339 time such as "
                             "2024-05-01T12:00:00Z (events at or after it)");
                return;
        }
        if (rl < 0 || export_parse_limit(rl == 1 ? limit_text : NULL, &limit) < 0) {
                http_problem(rq->x, 400, NULL, NULL, "limit must be an integer from 1 to %d", EXPORT_LIMIT_MAX);
                return;
        }
        if (atomic_fetch_add(&analytics_running, 1) >= ANALYTICS_MAX_EXPORTS) {
                atomic_fetch_sub(&analytics_running, 1);
                http_problem(rq->x, 503, NULL, "Retry-After: 5\r\n", "too many exports running; retry shortly");
                return;
        }
        r = archive_open(&rd, rq->gw->svc.bus, &start);
        if (r < 0) {
                log_warn("analytics: cannot read the archive: %s", strerror(-r));
                http_problem(rq->x, 503, NULL, "Retry-After: 1\r\n", "the event archive is unavailable; retry shortly");
                goto out;
        }
        c.buf = malloc(ANALYTICS_CHUNK);
        if (!c.buf) {
                http_problem(rq->x, 500, NULL, NULL, "out of memory");
                goto out;
        }
        rq->x->status = 200;
        mg_response_header_start(rq->x->conn, 200);
        mg_response_header_add(rq->x->conn, "Content-Type", "application/x-ndjson", -1);
        mg_response_header_add(rq->x->conn, "Cache-Control", "no-store", -1);
        mg_response_header_add(rq->x->conn, "Transfer-Encoding", "chunked", -1);
        mg_response_header_send(rq->x->conn);
        while (count < limit && !c.failed && !service_stopping && (r = archive_next(rd, &ev, ANALYTICS_WAIT_MS)) > 0) {
                char *line = export_line(ev.seq, ev.type, ev.ev);
                if (!line) {
                        r = -ENOMEM;
                        break;
                }
                chunk_add(rq, &c, line);
                free(line);
                count++;
        }
        /* The status is already sent: a failure can only cut the body short (no last chunk), which
         * a client sees as an error; the lines it got stand and it resumes from the last seq. */
        if (r < 0) {
                log_warn("analytics: export stopped after %lld events: %s", (long long)count, strerror(-r));
                chunk_flush(rq, &c);
                goto out;
        }
        chunk_flush(rq, &c);
        if (!c.failed)
                mg_send_chunk(rq->x->conn, "", 0);
        log_info("analytics: %lld events in %lld ms", (long long)count, (long long)(ids_monotonic_ms() - t0));
out:
        free(c.buf);
        archive_close(rd);
        atomic_fetch_sub(&analytics_running, 1);
}
