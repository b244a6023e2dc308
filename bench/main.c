/* food-bench: drives full order lifecycles through the gateway and reports throughput, latency and CPU per order. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bench-flow.h"
#include "bench-lag.h"
#include "bench-options.h"
#include "bench-pgstat.h"
#include "bench-procs.h"
#include "bench-report.h"
#include "bench-speed.h"
#include "bench-wire.h"

/* 1 after the first SIGINT/SIGTERM (end the window, drain), 2 after the second (stop draining). */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
        (void)sig;
        if (stop_requested < 2)
                stop_requested++;
}

typedef struct {
        const BenchOptions *o;
        Procs *procs;
        bool begun, ended;
        Lag *lag; /* NULL when off */
        bool lag_begun, lag_ended;
        PgStat *pg; /* NULL when off */
        bool pg_begun, pg_ended;
        Wire *wire; /* its NATS or PostgreSQL part is off when --nats-monitor or --database is */
        bool wire_nats_begun, wire_pg_begun;
} Sampling;

static void sample_lag(Sampling *s, bool begin) {
        if (!s->lag || (!begin && !s->lag_begun))
                return;
        char err[256];
        if (lag_sample(s->lag, begin, err, sizeof(err)) < 0) {
                fprintf(stderr,
                        "food-bench: NATS monitoring: %s (no JetStream figures; --nats-monitor off hides this)\n", err);
                return;
        }
        if (begin)
                s->lag_begun = true;
        else
                s->lag_ended = true;
}

static void sample_pg(Sampling *s, bool begin) {
        if (!s->pg || (!begin && !s->pg_begun))
                return;
        char err[256];
        bool note = false;
        if (pgstat_sample(s->pg, begin, err, sizeof(err), &note) < 0) {
                fprintf(stderr, "food-bench: PostgreSQL: %s (no database figures; --database off hides this)\n", err);
                return;
        }
        if (note)
                fprintf(stderr, "food-bench: PostgreSQL: %s (no statement count)\n", err);
        if (begin)
                s->pg_begun = true;
        else
                s->pg_ended = true;
}

/* The wire bytes of NATS and PostgreSQL; the end is read only when the begin was. A PostgreSQL the kernel's
 * counters cannot see (another host, a Unix socket) was said once at start (wire_pg_note) and is not tried. */
static void sample_wire(Sampling *s, bool begin) {
        const BenchOptions *o = s->o;
        char err[256];
        if (o->nats_monitor && (begin || s->wire_nats_begun)) {
                if (wire_sample_nats(s->wire, begin, err, sizeof(err)) < 0)
                        fprintf(stderr, "food-bench: NATS monitoring: %s (no NATS wire figures)\n", err);
                else if (begin)
                        s->wire_nats_begun = true;
        }
        if (o->database && (begin ? !wire_pg_note(s->wire)[0] : s->wire_pg_begun)) {
                if (wire_sample_pg(s->wire, begin, err, sizeof(err)) < 0)
                        fprintf(stderr, "food-bench: PostgreSQL wire bytes: %s (no PostgreSQL wire figure)\n", err);
                else if (begin)
                        s->wire_pg_begun = true;
        }
}

/* The window hook: /proc snapshots, JetStream state, PostgreSQL counters and wire bytes at its start and end. A
 * failure only loses those figures. */
static void on_window(void *ctx, bool begin) {
        Sampling *s = ctx;
        int r = begin ? procs_begin(s->procs) : procs_end(s->procs);
        if (r < 0)
                fprintf(stderr, "food-bench: sampling /proc: %s (no CPU figures)\n", strerror(-r));
        else if (begin)
                s->begun = true;
        else
                s->ended = s->begun;

        /* The PostgreSQL wire bytes are read inside the statistics session's edges (after it at the start, before
         * it at the end), so that session's own queries stay out of them. */
        if (!begin)
                sample_wire(s, false);
        sample_lag(s, begin);
        sample_pg(s, begin);
        if (begin)
                sample_wire(s, true);
}

int main(int argc, char **argv) {
        BenchOptions o;
        FlowResult res;
        Sampling sampling = {0};
        int r, rc = 1;

        r = options_parse(&o, argc, argv, stdout, stderr);
        if (r == OPTIONS_HELP) {
                options_done(&o);
                return 0;
        }
        if (r < 0) {
                options_done(&o);
                return 2;
        }
        if (flow_result_init(&res) < 0) {
                fprintf(stderr, "food-bench: out of memory\n");
                goto out;
        }
        size_t n_names = o.n_procs;
        const char *const *names = o.procs;
        if (!o.pids_from && n_names == 0) {
                names = options_default_procs;
                while (names[n_names])
                        n_names++;
        }
        if ((r = procs_new(&sampling.procs, names, n_names, o.pids_from)) < 0) {
                fprintf(stderr, "food-bench: --pids-from %s: %s\n", o.pids_from ? o.pids_from : "", strerror(-r));
                goto out;
        }

        if (o.nats_monitor && lag_new(&sampling.lag, o.nats_monitor) < 0) {
                fprintf(stderr, "food-bench: out of memory\n");
                goto out;
        }

        if (o.database && pgstat_new(&sampling.pg, o.database) < 0) {
                fprintf(stderr, "food-bench: out of memory\n");
                goto out;
        }

        sampling.o = &o;
        if (wire_new(&sampling.wire, o.nats_monitor, o.database) < 0) {
                fprintf(stderr, "food-bench: out of memory\n");
                goto out;
        }
        if (o.database && wire_pg_note(sampling.wire)[0])
                fprintf(stderr, "food-bench: %s (no PostgreSQL wire figure)\n", wire_pg_note(sampling.wire));

        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        /* The machine's speed, while the platform is idle: it drifts, and the figures with it. */
        SpeedFigures speed;
        if (speed_measure(&speed) == 0) {
                res.speed_compute_ms = speed.compute_ms;
                res.speed_memory_ms = speed.memory_ms;
        }
        FlowHooks hooks = {.on_window = on_window, .ctx = &sampling, .stop = &stop_requested};
        if (flow_run(&o, &hooks, &res) < 0)
                goto out;
        const Procs *procs = sampling.ended ? sampling.procs : NULL;
        const Lag *lag = sampling.lag_ended ? sampling.lag : NULL;
        const PgStat *pg = sampling.pg_ended ? sampling.pg : NULL;
        r = o.json ? report_json(stdout, &o, &res, procs, lag, pg, sampling.wire)
                   : report_text(stdout, &o, &res, procs, lag, pg, sampling.wire);
        if (r < 0 || fflush(stdout) != 0) {
                fprintf(stderr, "food-bench: writing the report failed\n");
                goto out;
        }
        /* A run in which no order completed is a failed run, whatever the figures say. */
        rc = res.completed > 0 ? 0 : 3;
out:
        procs_free(sampling.procs);
        lag_free(sampling.lag);
        pgstat_free(sampling.pg);
        wire_free(sampling.wire);
        flow_result_done(&res);
        options_done(&o);
        return rc;
}
