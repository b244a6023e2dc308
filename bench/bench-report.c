/* Text and JSON renderings of a food-bench run: throughput, latency per call, errors, JetStream and PostgreSQL
 * work, bytes on the wire, CPU and memory. */
#include "bench-report.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-speed.h"

static double ms(uint64_t us) {
        return (double)us / 1000.0;
}

static double per_s(const FlowResult *res) {
        return res->window_s > 0 ? (double)res->completed / res->window_s : 0.0;
}

static long cpus_online(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? n : 1;
}

/* Figures derived from /proc for both renderings. */
typedef struct {
        double busy_ms, total_ms, steal_ms, self_ms, platform_ms, procs_ms;
        double sandbox_ms; /* the stand-ins for third parties (sandbox-psp, sandbox-sink), outside the target */
        size_t n_sandbox;  /* how many of them were watched (0: that figure is not known) */
        const ProcFigure *figs;
        size_t n_figs;
} CpuFigures;

static void cpu_figures(const Procs *procs, CpuFigures *c) {
        *c = (CpuFigures){0};
        procs_machine_ms(procs, &c->busy_ms, &c->total_ms, &c->steal_ms, &c->self_ms);
        c->platform_ms = c->busy_ms - c->self_ms;
        if (c->platform_ms < 0)
                c->platform_ms = 0;
        c->n_figs = procs_figures(procs, &c->figs);
        for (size_t i = 0; i < c->n_figs; i++) {
                c->procs_ms += c->figs[i].cpu_ms;
                if (strncmp(c->figs[i].name, "sandbox-", 8) == 0) {
                        c->sandbox_ms += c->figs[i].cpu_ms;
                        c->n_sandbox++;
                }
        }
}

static double per_order(double v, uint64_t orders) {
        return orders ? v / (double)orders : 0.0;
}

/* Machine busy minus the driver and the sandbox stand-ins (never below 0: the two come from different clocks). */
static double without_sandbox_ms(const CpuFigures *c) {
        return c->platform_ms > c->sandbox_ms ? c->platform_ms - c->sandbox_ms : 0.0;
}

static void text_latency_row(FILE *out, const char *name, const Histogram *h) {
        uint64_t n = histogram_count(h);
        if (n == 0) {
                fprintf(out, "  %-18s %8d %8s %8s %8s %8s %8s\n", name, 0, "-", "-", "-", "-", "-");
                return;
        }
        fprintf(out, "  %-18s %8llu %8.2f %8.2f %8.2f %8.2f %8.2f\n", name, (unsigned long long)n,
                ms(histogram_percentile(h, 50)), ms(histogram_percentile(h, 90)), ms(histogram_percentile(h, 99)),
                ms(histogram_max(h)), histogram_mean(h) / 1000.0);
}

/* A consumer that ends the window with more waiting than it started with, beyond noise: it did not keep up. */
static bool lag_behind(const LagFigure *f) {
        return f->pending[1] > f->pending[0] + 100;
}

static double lag_rate(const LagFigure *f, const FlowResult *res) {
        return res->window_s > 0 && f->delivered[1] >= f->delivered[0]
                       ? (double)(f->delivered[1] - f->delivered[0]) / res->window_s
                       : 0.0;
}

/* Redeliveries during the window (the counter restarts if the consumer was re-created). */
static uint64_t lag_redelivered(const LagFigure *f) {
        return f->redelivered[1] >= f->redelivered[0] ? f->redelivered[1] - f->redelivered[0] : f->redelivered[1];
}

static void text_lag(FILE *out, const FlowResult *res, const Lag *lag) {
        const LagFigure *figs = NULL;
        size_t n = lag_figures(lag, &figs);
        fprintf(out, "\nJetStream consumers (window)   delivered/s  pending start -> end  ack pending  redelivered\n");
        for (size_t i = 0; i < n; i++) {
                const LagFigure *f = &figs[i];
                if (!f->begun || !f->ended)
                        continue;
                fprintf(out, "  %-28s %11.1f %9llu -> %-9llu %11llu %12llu%s\n", f->name, lag_rate(f, res),
                        (unsigned long long)f->pending[0], (unsigned long long)f->pending[1],
                        (unsigned long long)f->ack_pending[1],
                        (unsigned long long)lag_redelivered(f),
                        lag_behind(f) ? "  FALLING BEHIND" : "");
        }
}

/* Why a work figure is missing: its source is off, or it could not be read at a window edge. */
static const char *work_missing(const char *source, const char *option) {
        return source ? "unreadable at a window edge, see the message above" : option;
}

/* "512 B", "1.2 KiB", "3.4 MiB", "5.6 GiB" into buf. */
static const char *bytes_text(double b, char *buf, size_t cap) {
        static const char *const units[] = {"KiB", "MiB", "GiB"};
        if (b < 1024.0) {
                snprintf(buf, cap, "%.0f B", b);
                return buf;
        }
        size_t u = 0;
        for (b /= 1024.0; b >= 1024.0 && u < 2; u++)
                b /= 1024.0;
        snprintf(buf, cap, "%.1f %s", b, units[u]);
        return buf;
}

/* Why a wire figure is missing: its source is off, the kernel cannot see it, or a window edge could not read it. */
static const char *wire_missing(const char *source, const char *option, const char *note) {
        return !source ? option : note && note[0] ? note : "unreadable at a window edge, see the message above";
}

/* One line of bytes per order, then one per source with its parts.
 * HTTP: the driver's own connections (bench-http). NATS: nats-server's in_bytes/out_bytes, the messages it
 * received and sent as it counts them. PostgreSQL: the kernel's TCP counters of the server's connections that
 * were alive at both window edges; a connection opened or closed in the window is not counted. */
static void text_wire(FILE *out, const BenchOptions *o, const FlowResult *res, const Wire *wire) {
        uint64_t n = res->completed;
        WireNatsSample nw;
        WirePgWork pw;
        bool has_nats = wire && wire_nats_work(wire, &nw), has_pg = wire && wire_pg_work(wire, &pw);
        char a[32], b[32], c[32];
        uint64_t http = res->http_sent + res->http_received;
        fprintf(out, "  Wire        HTTP %s", bytes_text(per_order((double)http, n), a, sizeof(a)));
        if (has_nats)
                fprintf(out, ", NATS in %s / out %s (%.1f / %.1f msgs)",
                        bytes_text(per_order((double)nw.in_bytes, n), a, sizeof(a)),
                        bytes_text(per_order((double)nw.out_bytes, n), b, sizeof(b)), per_order((double)nw.in_msgs, n),
                        per_order((double)nw.out_msgs, n));
        else
                fprintf(out, ", NATS -"); /* the lines below say why */
        if (has_pg)
                fprintf(out, ", PostgreSQL %s",
                        bytes_text(per_order((double)(pw.to_server + pw.from_server), n), a, sizeof(a)));
        else
                fprintf(out, ", PostgreSQL -");
        fprintf(out, " per order\n");

        /* The parts per order, window totals in brackets. */
        fprintf(out, "              HTTP sent %s + received %s (%s), headers included\n",
                bytes_text(per_order((double)res->http_sent, n), a, sizeof(a)),
                bytes_text(per_order((double)res->http_received, n), b, sizeof(b)),
                bytes_text((double)http, c, sizeof(c)));
        if (has_nats) {
                char d[32];
                fprintf(out, "              NATS in %s + out %s (%s + %s, %llu + %llu msgs)\n",
                        bytes_text(per_order((double)nw.in_bytes, n), a, sizeof(a)),
                        bytes_text(per_order((double)nw.out_bytes, n), b, sizeof(b)),
                        bytes_text((double)nw.in_bytes, c, sizeof(c)), bytes_text((double)nw.out_bytes, d, sizeof(d)),
                        (unsigned long long)nw.in_msgs, (unsigned long long)nw.out_msgs);
        } else {
                fprintf(out, "              NATS not measured (%s)\n",
                        wire_missing(o->nats_monitor, "--nats-monitor off", NULL));
        }
        if (has_pg)
                fprintf(out,
                        "              PostgreSQL to the server %s + from it %s (%s); %zu connections alive at "
                        "both edges, %zu others not counted\n",
                        bytes_text(per_order((double)pw.to_server, n), a, sizeof(a)),
                        bytes_text(per_order((double)pw.from_server, n), b, sizeof(b)),
                        bytes_text((double)(pw.to_server + pw.from_server), c, sizeof(c)), pw.conns, pw.uncounted);
        else
                fprintf(out, "              PostgreSQL not measured (%s)\n",
                        wire_missing(o->database, "--database off", wire ? wire_pg_note(wire) : NULL));
}

/* The disks' writes (WAL flushes, data files, the JetStream store, everything on the machine). */
static void text_disk(FILE *out, const FlowResult *res, const Procs *procs) {
        uint64_t n = res->completed;
        DiskWrites d;
        if (!procs || !procs_disk_writes(procs, &d)) {
                fprintf(out, "  Disk        not measured (/proc/diskstats unreadable or the window never began)\n");
                return;
        }
        fprintf(out,
                "  Disk        written %.0f bytes (%.1f MiB) in %.2f requests and %.2f flushes, all processes; "
                "%.1f s spent writing\n",
                per_order((double)d.sectors * 512.0, n), (double)d.sectors * 512.0 / (1024.0 * 1024.0),
                per_order((double)d.requests, n), per_order((double)d.flushes, n), (double)d.ms / 1000.0);
}

static void text_work(FILE *out, const BenchOptions *o, const FlowResult *res, const Lag *lag, const PgStat *pg,
                      const Wire *wire, const Procs *procs) {
        uint64_t n = res->completed;
        PgStatWork w;
        fprintf(out, "\nWork per completed order (window totals in brackets)\n");
        if (pg && pgstat_work(pg, &w)) {
                fprintf(out, "  PostgreSQL  commits %.2f (%llu), statements ", per_order((double)w.commits, n),
                        (unsigned long long)w.commits);
                if (w.has_statements)
                        fprintf(out, "%.2f (%llu)", per_order((double)w.statements, n),
                                (unsigned long long)w.statements);
                else
                        fprintf(out, "unavailable (no pg_stat_statements)");
                fprintf(out, ", WAL %.0f bytes (%.1f MiB)\n", per_order((double)w.wal_bytes, n),
                        (double)w.wal_bytes / (1024.0 * 1024.0));
        } else {
                fprintf(out, "  PostgreSQL  not measured (%s)\n", work_missing(o->database, "--database off"));
        }
        text_disk(out, res, procs);
        if (!lag) {
                fprintf(out, "  JetStream   not measured (%s)\n", work_missing(o->nats_monitor, "--nats-monitor off"));
                text_wire(out, o, res, wire);
                return;
        }
        LagWork j;
        lag_work(lag, &j);
        fprintf(out, "  JetStream   publishes %.2f (%llu), deliveries %.2f (%llu)\n", per_order((double)j.published, n),
                (unsigned long long)j.published, per_order((double)j.delivered, n), (unsigned long long)j.delivered);
        const LagStream *streams = NULL;
        size_t n_streams = lag_streams(lag, &streams);
        bool first = true;
        for (size_t i = 0; i < n_streams; i++) {
                const LagStream *st = &streams[i];
                uint64_t d = lag_delta(st->begun, st->ended, st->last_seq[0], st->last_seq[1]);
                if (d == 0)
                        continue;
                fprintf(out, "%s%s %.2f", first ? "              publishes by stream: " : ", ", st->name,
                        per_order((double)d, n));
                first = false;
        }
        if (!first)
                fprintf(out, "\n");
        text_wire(out, o, res, wire);
}

/* Other processes that took more than OTHERS_WARN_PCT of the machine's busy time make the window's figures
 * another's too: said, with the busiest of them (a leftover platform process, a build). */
#define OTHERS_WARN_PCT 5.0
static void text_others(FILE *out, const Procs *procs, double others_ms, double busy_ms) {
        if (busy_ms <= 0 || 100.0 * others_ms / busy_ms <= OTHERS_WARN_PCT)
                return;
        const OtherProc *op = NULL;
        size_t n = procs_others(procs, &op);
        fprintf(out, "  warning: processes outside the platform took %.0f ms (%.0f%% of the machine's busy time): "
                "these figures are not the platform's alone", others_ms, 100.0 * others_ms / busy_ms);
        for (size_t i = 0; i < n; i++)
                fprintf(out, "%s%s (pid %d) %.0f ms", i ? ", " : "; busiest: ", op[i].comm, op[i].pid, op[i].cpu_ms);
        fprintf(out, "\n");
}

int report_text(FILE *out, const BenchOptions *o, const FlowResult *res, const Procs *procs, const Lag *lag,
                const PgStat *pg, const Wire *wire) {
        fprintf(out, "food-bench %s: %u customers, ", o->url, o->concurrency);
        if (o->rate > 0)
                fprintf(out, "open loop at %g orders/s", o->rate);
        else
                fprintf(out, "closed loop");
        fprintf(out, ", %.1f s measured after %g s warm-up%s; %zu stores, %zu items, seed %llu\n", res->window_s,
                o->warmup_s, res->interrupted ? " (interrupted)" : "", res->n_stores, res->n_items,
                (unsigned long long)res->seed);
        if (res->speed_compute_ms > 0)
                fprintf(out, "machine  speed before the load: %.1f ms of arithmetic, %.1f ms of loads from memory (fixed "
                        "work, fastest of %d; bench-speed.h)\n",
                        res->speed_compute_ms, res->speed_memory_ms, SPEED_TRIES);

        uint64_t ok = 0;
        for (int c = 0; c < CALL_COUNT; c++)
                ok += histogram_count(res->calls[c]);
        fprintf(out, "\norders   %llu completed = %.1f orders/s; %llu placed in the window, %llu failed\n",
                (unsigned long long)res->completed, per_s(res), (unsigned long long)res->started,
                (unsigned long long)res->failed);
        fprintf(out, "calls    %llu ok, %llu failed (%.3f%%), %.1f calls/s\n", (unsigned long long)ok,
                (unsigned long long)res->errors_total,
                ok + res->errors_total ? 100.0 * (double)res->errors_total / (double)(ok + res->errors_total) : 0.0,
                res->window_s > 0 ? (double)(ok + res->errors_total) / res->window_s : 0.0);
        if (o->rate > 0)
                fprintf(out, "backlog  at most %llu scheduled orders waiting for a free customer; %llu never started\n",
                        (unsigned long long)res->backlog_max, (unsigned long long)res->dropped);
        if (res->unfinished)
                fprintf(out, "drain    %llu orders still running when the drain time ran out\n",
                        (unsigned long long)res->unfinished);

        fprintf(out, "\nlatency (ms)          count      p50      p90      p99      max     mean\n");
        for (int c = 0; c < CALL_COUNT; c++)
                text_latency_row(out, flow_call_name((CallType)c), res->calls[c]);
        text_latency_row(out, o->rate > 0 ? "order (scheduled)" : "order (end to end)", res->order);

        if (res->errors_total || res->errors_outside) {
                fprintf(out, "\nerrors   %llu in the window", (unsigned long long)res->errors_total);
                if (res->errors_outside)
                        fprintf(out, " (and %llu during warm-up or drain, not counted)",
                                (unsigned long long)res->errors_outside);
                fprintf(out, "\n");
                for (size_t i = 0; i < res->n_errors; i++) {
                        const FlowError *e = &res->errors[i];
                        if (e->status)
                                fprintf(out, "  %-17s HTTP %3ld %-16s %8llu  %s\n", flow_call_name(e->call), e->status,
                                        e->reason, (unsigned long long)e->count, e->sample);
                        else
                                fprintf(out, "  %-17s no answer: %s  %llu  %s\n", flow_call_name(e->call), e->reason,
                                        (unsigned long long)e->count, e->sample);
                }
        }

        if (lag)
                text_lag(out, res, lag);
        text_work(out, o, res, lag, pg, wire, procs);
        if (!procs) {
                fprintf(out, "\nCPU      not measured (the window never began or /proc was unreadable)\n");
                return 0;
        }
        CpuFigures c;
        cpu_figures(procs, &c);
        double wall_ms = res->window_s * 1000.0;
        long n_cpus = cpus_online();
        fprintf(out, "\nCPU (window, %ld CPUs)\n", n_cpus);
        fprintf(out, "  machine busy %.0f ms (%.1f%% of all CPUs, %.0f ms of it stolen) - food-bench %.0f ms = %.0f ms => "
                "%.3f ms/order\n",
                c.busy_ms, c.total_ms > 0 ? 100.0 * c.busy_ms / c.total_ms : 0.0, c.steal_ms, c.self_ms, c.platform_ms,
                per_order(c.platform_ms, res->completed));
        double others_ms = c.platform_ms > c.procs_ms ? c.platform_ms - c.procs_ms : 0.0;
        fprintf(out, "  watched processes %.0f ms => %.3f ms/order; other processes %.0f ms\n", c.procs_ms,
                per_order(c.procs_ms, res->completed), others_ms);
        text_others(out, procs, others_ms, c.busy_ms);
        if (c.n_sandbox)
                fprintf(out, "  without the sandbox stand-ins (%.0f ms): %.0f ms => %.3f ms/order (the target's figure)\n",
                        c.sandbox_ms, without_sandbox_ms(&c), per_order(without_sandbox_ms(&c), res->completed));
        else
                fprintf(out, "  without the sandbox stand-ins: not known (no sandbox-psp or sandbox-sink watched)\n");
        /* Context switches: on a virtual machine each costs microseconds of kernel time, which is where much of
         * a process's CPU per order goes (a wake-up per message or request handed between threads). */
        fprintf(out, "\n  %-18s %5s %10s %9s %7s %12s %12s %10s\n", "process", "procs", "cpu ms", "ms/order", "cpu %",
                "rss peak MiB", "rss sum MiB", "ctx/order");
        for (size_t i = 0; i < c.n_figs; i++) {
                const ProcFigure *f = &c.figs[i];
                fprintf(out, "  %-18s %5u %10.0f %9.3f %6.1f%% %12.1f %12.1f %10.1f", f->name, f->n_procs, f->cpu_ms,
                        per_order(f->cpu_ms, res->completed), wall_ms > 0 ? 100.0 * f->cpu_ms / wall_ms : 0.0,
                        (double)f->rss_peak_kb / 1024.0, (double)f->rss_sum_kb / 1024.0,
                        per_order((double)f->ctxt, res->completed));
                if (f->n_started || f->n_lost)
                        fprintf(out, "  (%u started, %u exited uncounted)", f->n_started, f->n_lost);
                fprintf(out, "\n");
        }
        return 0;
}

static json_t *json_latency(const Histogram *h) {
        return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "count", (json_int_t)histogram_count(h), "p50_ms",
                         ms(histogram_percentile(h, 50)), "p90_ms", ms(histogram_percentile(h, 90)), "p99_ms",
                         ms(histogram_percentile(h, 99)), "max_ms", ms(histogram_max(h)), "mean_ms",
                         histogram_mean(h) / 1000.0);
}

/* Sets key to value (a new reference, NULL meaning out of memory); returns -ENOMEM on failure. */
static int set(json_t *obj, const char *key, json_t *value) {
        return value && json_object_set_new(obj, key, value) == 0 ? 0 : -ENOMEM;
}

static json_t *json_lag(const FlowResult *res, const Lag *lag) {
        const LagFigure *figs = NULL;
        size_t n = lag_figures(lag, &figs);
        json_t *list = json_array();
        for (size_t i = 0; list && i < n; i++) {
                const LagFigure *f = &figs[i];
                if (!f->begun || !f->ended)
                        continue;
                json_t *c = json_pack("{s:s, s:f, s:I, s:I, s:I, s:I, s:b}", "name", f->name, "delivered_per_s",
                                      lag_rate(f, res), "pending_start", (json_int_t)f->pending[0], "pending_end",
                                      (json_int_t)f->pending[1], "ack_pending_end", (json_int_t)f->ack_pending[1],
                                      "redelivered", (json_int_t)lag_redelivered(f), "falling_behind",
                                      lag_behind(f));
                if (!c || json_array_append_new(list, c) < 0) {
                        json_decref(list);
                        return NULL;
                }
        }
        return list;
}

/* {"commits": …, "commits_per_order": …, "statements": … or null, …}, or NULL when out of memory. */
static json_t *json_pg_work(const FlowResult *res, const PgStatWork *w) {
        uint64_t n = res->completed;
        json_t *pg = json_pack("{s:I, s:f, s:o, s:o, s:I, s:f}", "commits", (json_int_t)w->commits,
                               "commits_per_order", per_order((double)w->commits, n), "statements",
                               w->has_statements ? json_integer((json_int_t)w->statements) : json_null(),
                               "statements_per_order",
                               w->has_statements ? json_real(per_order((double)w->statements, n)) : json_null(),
                               "wal_bytes", (json_int_t)w->wal_bytes, "wal_bytes_per_order",
                               per_order((double)w->wal_bytes, n));
        return pg;
}

static json_t *json_js_work(const FlowResult *res, const Lag *lag) {
        uint64_t n = res->completed;
        LagWork j;
        lag_work(lag, &j);
        json_t *streams = json_array();
        const LagStream *st = NULL;
        size_t n_streams = lag_streams(lag, &st);
        for (size_t i = 0; streams && i < n_streams; i++) {
                uint64_t d = lag_delta(st[i].begun, st[i].ended, st[i].last_seq[0], st[i].last_seq[1]);
                json_t *e = json_pack("{s:s, s:I, s:f}", "name", st[i].name, "publishes", (json_int_t)d,
                                      "publishes_per_order", per_order((double)d, n));
                if (!e || json_array_append_new(streams, e) < 0) {
                        json_decref(streams);
                        return NULL;
                }
        }
        if (!streams)
                return NULL;
        return json_pack("{s:I, s:f, s:I, s:f, s:o}", "publishes", (json_int_t)j.published, "publishes_per_order",
                         per_order((double)j.published, n), "deliveries", (json_int_t)j.delivered,
                         "deliveries_per_order", per_order((double)j.delivered, n), "streams", streams);
}

/* {"http": {…}, "nats": {…} or null, "postgres": {…} or null, "nats_note"/"postgres_note": why null}. */
static json_t *json_wire(const BenchOptions *o, const FlowResult *res, const Wire *wire) {
        uint64_t n = res->completed;
        WireNatsSample nw;
        WirePgWork pw;
        bool has_nats = wire && wire_nats_work(wire, &nw), has_pg = wire && wire_pg_work(wire, &pw);
        json_t *j = json_pack(
                "{s:{s:I, s:I, s:f, s:f, s:f}}", "http", "sent_bytes", (json_int_t)res->http_sent, "received_bytes",
                (json_int_t)res->http_received, "bytes_per_order",
                per_order((double)(res->http_sent + res->http_received), n), "sent_per_order",
                per_order((double)res->http_sent, n), "received_per_order", per_order((double)res->http_received, n));
        if (!j)
                return NULL;
        json_t *nats = has_nats ? json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f}", "in_bytes",
                                            (json_int_t)nw.in_bytes, "out_bytes", (json_int_t)nw.out_bytes, "in_msgs",
                                            (json_int_t)nw.in_msgs, "out_msgs", (json_int_t)nw.out_msgs,
                                            "in_bytes_per_order", per_order((double)nw.in_bytes, n),
                                            "out_bytes_per_order", per_order((double)nw.out_bytes, n),
                                            "in_msgs_per_order", per_order((double)nw.in_msgs, n),
                                            "out_msgs_per_order", per_order((double)nw.out_msgs, n))
                                : json_null();
        json_t *pgw = has_pg ? json_pack("{s:I, s:I, s:f, s:f, s:f, s:I, s:I}", "to_server_bytes",
                                         (json_int_t)pw.to_server, "from_server_bytes", (json_int_t)pw.from_server,
                                         "bytes_per_order", per_order((double)(pw.to_server + pw.from_server), n),
                                         "to_server_per_order", per_order((double)pw.to_server, n),
                                         "from_server_per_order", per_order((double)pw.from_server, n),
                                         "connections_counted", (json_int_t)pw.conns, "connections_uncounted",
                                         (json_int_t)pw.uncounted)
                             : json_null();
        if (set(j, "nats", nats) < 0 || set(j, "postgres", pgw) < 0 ||
            (!has_nats &&
             set(j, "nats_note", json_string(wire_missing(o->nats_monitor, "--nats-monitor off", NULL))) < 0) ||
            (!has_pg && set(j, "postgres_note", json_string(wire_missing(o->database, "--database off",
                                                                         wire ? wire_pg_note(wire) : NULL))) < 0)) {
                json_decref(j);
                return NULL;
        }
        return j;
}

static json_t *json_disk(const FlowResult *res, const Procs *procs) {
        DiskWrites d;
        if (!procs || !procs_disk_writes(procs, &d))
                return json_null();
        uint64_t n = res->completed;
        return json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:f}", "bytes", (json_int_t)(d.sectors * 512), "requests",
                         (json_int_t)d.requests, "flushes", (json_int_t)d.flushes, "write_ms", (json_int_t)d.ms,
                         "bytes_per_order", per_order((double)d.sectors * 512.0, n), "requests_per_order",
                         per_order((double)d.requests, n), "flushes_per_order", per_order((double)d.flushes, n));
}

static json_t *json_work(const BenchOptions *o, const FlowResult *res, const Lag *lag, const PgStat *pg,
                         const Wire *wire, const Procs *procs) {
        PgStatWork w;
        return json_pack("{s:I, s:o, s:o, s:o, s:o}", "orders", (json_int_t)res->completed, "postgres",
                         pg && pgstat_work(pg, &w) ? json_pg_work(res, &w) : json_null(), "jetstream",
                         lag ? json_js_work(res, lag) : json_null(), "wire", json_wire(o, res, wire), "disk",
                         json_disk(res, procs));
}

int report_json(FILE *out, const BenchOptions *o, const FlowResult *res, const Procs *procs, const Lag *lag,
                const PgStat *pg, const Wire *wire) {
        json_t *root = json_object(), *lat = json_object(), *kinds = json_array(), *by_call = json_object();
        int r = -ENOMEM;
        if (!root || !lat || !kinds || !by_call)
                goto out;
        if (set(root, "url", json_string(o->url)) < 0 || set(root, "concurrency", json_integer(o->concurrency)) < 0 ||
            set(root, "mode", json_string(o->rate > 0 ? "open" : "closed")) < 0 ||
            set(root, "rate", json_real(o->rate)) < 0 || set(root, "warmup_s", json_real(o->warmup_s)) < 0 ||
            set(root, "window_s", json_real(res->window_s)) < 0 ||
            set(root, "interrupted", json_boolean(res->interrupted)) < 0 ||
            set(root, "seed", json_integer((json_int_t)res->seed)) < 0 ||
            set(root, "speed",
                res->speed_compute_ms > 0
                        ? json_pack("{s:f, s:f}", "compute_ms", res->speed_compute_ms, "memory_ms", res->speed_memory_ms)
                        : json_null()) < 0 ||
            set(root, "stores", json_integer((json_int_t)res->n_stores)) < 0 ||
            set(root, "menu_items", json_integer((json_int_t)res->n_items)) < 0)
                goto out;
        if (set(root, "orders",
                json_pack("{s:I, s:f, s:I, s:I, s:I, s:I, s:I}", "completed", (json_int_t)res->completed, "per_s",
                          per_s(res), "started", (json_int_t)res->started, "failed", (json_int_t)res->failed,
                          "unfinished_after_drain", (json_int_t)res->unfinished, "backlog_max",
                          (json_int_t)res->backlog_max, "dropped", (json_int_t)res->dropped)) < 0)
                goto out;
        for (int c = 0; c < CALL_COUNT; c++)
                if (set(lat, flow_call_name((CallType)c), json_latency(res->calls[c])) < 0)
                        goto out;
        if (set(lat, "order", json_latency(res->order)) < 0)
                goto out;
        json_object_set(root, "latency", lat);

        for (size_t i = 0; i < res->n_errors; i++) {
                const FlowError *e = &res->errors[i];
                json_t *k = json_pack("{s:s, s:i, s:s, s:I, s:s}", "call", flow_call_name(e->call), "status",
                                      (int)e->status, "reason", e->reason, "count", (json_int_t)e->count, "sample",
                                      e->sample);
                if (!k || json_array_append_new(kinds, k) < 0)
                        goto out;
                json_t *per = json_object_get(by_call, flow_call_name(e->call));
                if (!per) {
                        per = json_object();
                        if (set(by_call, flow_call_name(e->call), per) < 0)
                                goto out;
                }
                char status[16];
                snprintf(status, sizeof(status), "%ld", e->status);
                json_int_t prev = json_integer_value(json_object_get(per, status));
                if (set(per, status, json_integer(prev + (json_int_t)e->count)) < 0)
                        goto out;
        }
        if (set(root, "errors",
                json_pack("{s:I, s:I, s:O, s:O}", "total", (json_int_t)res->errors_total, "outside_window",
                          (json_int_t)res->errors_outside, "by_call", by_call, "kinds", kinds)) < 0)
                goto out;

        if (procs) {
                CpuFigures c;
                cpu_figures(procs, &c);
                json_t *list = json_array();
                if (!list)
                        goto out;
                double wall_ms = res->window_s * 1000.0;
                for (size_t i = 0; i < c.n_figs; i++) {
                        const ProcFigure *f = &c.figs[i];
                        json_t *p = json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:f, s:I, s:I, s:I, s:f}", "name",
                                              f->name, "procs", (int)f->n_procs, "started", (int)f->n_started, "lost",
                                              (int)f->n_lost, "cpu_ms", f->cpu_ms, "ms_per_order",
                                              per_order(f->cpu_ms, res->completed), "cpu_pct",
                                              wall_ms > 0 ? 100.0 * f->cpu_ms / wall_ms : 0.0, "rss_peak_kb",
                                              (json_int_t)f->rss_peak_kb, "rss_sum_kb", (json_int_t)f->rss_sum_kb,
                                              "ctx_switches", (json_int_t)f->ctxt, "ctx_per_order",
                                              per_order((double)f->ctxt, res->completed));
                        if (!p || json_array_append_new(list, p) < 0) {
                                json_decref(list);
                                goto out;
                        }
                }
                /* The busiest processes outside the platform (a leftover process makes "platform_ms" another's too). */
                json_t *others = json_array();
                const OtherProc *op = NULL;
                size_t n_op = procs_others(procs, &op);
                for (size_t i = 0; others && i < n_op; i++)
                        if (json_array_append_new(others, json_pack("{s:s, s:i, s:f}", "comm", op[i].comm, "pid", op[i].pid,
                                                                     "cpu_ms", op[i].cpu_ms)) < 0) {
                                json_decref(others);
                                others = NULL;
                        }
                if (!others) {
                        json_decref(list);
                        goto out;
                }
                if (set(root, "cpu",
                        json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o, s:o, s:o}", "cpus", (int)cpus_online(),
                                  "machine_busy_ms", c.busy_ms, "machine_total_ms", c.total_ms, "machine_steal_ms",
                                  c.steal_ms, "driver_ms", c.self_ms,
                                  "platform_ms", c.platform_ms, "ms_per_order",
                                  per_order(c.platform_ms, res->completed), "processes_ms", c.procs_ms,
                                  "processes_ms_per_order", per_order(c.procs_ms, res->completed), "sandbox_ms",
                                  c.sandbox_ms, "ms_per_order_without_sandbox",
                                  c.n_sandbox ? json_real(per_order(without_sandbox_ms(&c), res->completed)) : json_null(),
                                  "processes", list, "others", others)) < 0)
                        goto out;
        } else if (set(root, "cpu", json_null()) < 0) {
                goto out;
        }
        if (set(root, "consumers", lag ? json_lag(res, lag) : json_null()) < 0)
                goto out;
        if (set(root, "work", json_work(o, res, lag, pg, wire, procs)) < 0)
                goto out;
        r = json_dumpf(root, out, JSON_INDENT(2)) == 0 && fputc('\n', out) != EOF ? 0 : -EIO;
out:
        json_decref(by_call);
        json_decref(kinds);
        json_decref(lat);
        json_decref(root);
        return r;
}
