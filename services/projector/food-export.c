/* food-export: prints the analytics archive (FOOD_ORDER) as NDJSON, the lines of GET
 * /analytics/events, resumable from the last sequence it printed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "config.h"
#include "log.h"
#include "archive-read.h"
#include "archive-export.h"

#define EXPORT_WAIT_MS 10000 /* longest silence of the server while reading */

static void usage(FILE *f) {
        fprintf(f, "usage: food-export [--since SEQ|RFC3339] [--limit N] [--resume FILE] [--nats-url URL]\n"
                   "  Prints one archived order event a line (NDJSON) to stdout, oldest first.\n"
                   "  --since   a sequence printed earlier (events after it) or a time (events at or after it)\n"
                   "  --limit   at most N events (default: all)\n"
                   "  --resume  FILE holds the last sequence printed: read as --since when present,\n"
                   "            rewritten after every run, so that running again prints only what is new\n"
                   "  NATS_URL (default nats://127.0.0.1:4222) unless --nats-url is given; NATS_USER, NATS_PASSWORD\n");
}

static int read_resume(const char *path, char *buf, size_t cap) {
        FILE *f = fopen(path, "r");
        size_t n;
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        n = fread(buf, 1, cap - 1, f);
        fclose(f);
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        return n > 0 ? 1 : 0;
}

static int write_resume(const char *path, uint64_t seq) {
        char tmp[4096];
        FILE *f;
        if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        f = fopen(tmp, "w");
        if (!f)
                return -errno;
        fprintf(f, "%" PRIu64 "\n", seq);
        if (fclose(f) != 0 || rename(tmp, path) != 0)
                return -errno;
        return 0;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        const char *since = NULL, *resume = NULL, *url = NULL;
        char resume_text[64];
        int64_t limit = 0, count = 0;
        uint64_t last = 0;
        volatile bool give_up = true; /* one connection attempt: a CLI should not wait forever */
        NatsConfig nats;
        Bus *bus = NULL;
        ArchiveReader *rd = NULL;
        ExportStart start;
        ArchiveEvent ev;
        double t0;
        int r = 0;

        log_setup("food-export", LOG_WARN);
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        usage(stdout);
                        return 0;
                }
                if (!v || (strcmp(a, "--since") && strcmp(a, "--limit") && strcmp(a, "--resume") &&
                           strcmp(a, "--nats-url"))) {
                        usage(stderr);
                        return 2;
                }
                i++;
                if (strcmp(a, "--since") == 0)
                        since = v;
                else if (strcmp(a, "--resume") == 0)
                        resume = v;
                else if (strcmp(a, "--nats-url") == 0)
                        url = v;
                else {
                        char *end = NULL;
                        errno = 0;
                        limit = strtoll(v, &end, 10);
                        if (errno || !end || *end || limit < 1) {
                                fprintf(stderr, "food-export: --limit must be a positive integer\n");
                                return 2;
                        }
                }
        }
        if (config_nats(&nats) < 0)
                return 2;
        if (url)
                nats.url = url;
        if (resume && !since) {
                r = read_resume(resume, resume_text, sizeof(resume_text));
                if (r < 0) {
                        fprintf(stderr, "food-export: cannot read %s: %s\n", resume, strerror(-r));
                        return 1;
                }
                if (r > 0)
                        since = resume_text;
        }
        if (export_parse_since(since, &start) < 0) {
                fprintf(stderr, "food-export: --since must be a sequence number or an RFC 3339 time, got '%s'\n",
                        since);
                return 2;
        }
        last = start.by_time ? 0 : start.after_seq;
        r = bus_connect(&bus, &nats, "food-export", &give_up);
        if (r < 0) {
                fprintf(stderr, "food-export: cannot connect to %s: %s\n", nats.url, strerror(-r));
                return 1;
        }
        r = archive_open(&rd, bus, &start);
        if (r < 0) {
                fprintf(stderr, "food-export: cannot read the archive (%s): %s\n", ARCHIVE_STREAM, strerror(-r));
                goto out;
        }
        t0 = now_s();
        while ((limit == 0 || count < limit) && (r = archive_next(rd, &ev, EXPORT_WAIT_MS)) > 0) {
                char *line = export_line(ev.seq, ev.type, ev.ev);
                if (!line) {
                        r = -ENOMEM;
                        break;
                }
                if (fputs(line, stdout) == EOF) {
                        free(line);
                        r = -EIO;
                        break;
                }
                free(line);
                last = ev.seq;
                count++;
        }
        if (fflush(stdout) != 0)
                r = -EIO;
        if (r < 0)
                fprintf(stderr, "food-export: stopped after seq %" PRIu64 ": %s\n", last, strerror(-r));
        else {
                double dt = now_s() - t0;
                fprintf(stderr, "food-export: %lld events, last seq %" PRIu64 ", %.0f events/s\n", (long long)count,
                        last, dt > 0 ? (double)count / dt : 0.0);
        }
        /* Even after a failure the file names the last line printed: the next run resumes there. */
        if (resume && last > 0) {
                int w = write_resume(resume, last);
                if (w < 0) {
                        fprintf(stderr, "food-export: cannot write %s: %s\n", resume, strerror(-w));
                        r = w;
                }
        }
out:
        archive_close(rd);
        bus_free(bus);
        nats_Close();
        return r < 0 ? 1 : 0;
}
