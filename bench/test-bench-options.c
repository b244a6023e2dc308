/* Unit test of food-bench's option parsing: defaults, every option, and refusal of bad values. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-options.h"
#include "test-check.h"

/* Parses a NULL-terminated argument list (argv[0] added) into *o; returns options_parse's result. */
static int parse(BenchOptions *o, const char *const *args) {
        char *argv[32] = {"food-bench"};
        int argc = 1;
        for (; args[argc - 1]; argc++)
                argv[argc] = (char *)args[argc - 1];
        FILE *sink = fopen("/dev/null", "w");
        int r = options_parse(o, argc, argv, sink, sink);
        if (sink)
                fclose(sink);
        return r;
}

/* Expects `args` to be refused. */
static void refused(const char *const *args, const char *what) {
        BenchOptions o;
        int r = parse(&o, args);
        CHECK(r == -EINVAL, "%s: expected -EINVAL (%d), got %d", what, -EINVAL, r);
        options_done(&o);
}

int main(void) {
        BenchOptions o;
        int r;

        unsetenv("DATABASE_URL");
        r = parse(&o, (const char *const[]){NULL});
        CHECK(r == 0, "no options: expected 0, got %d", r);
        CHECK(strcmp(o.url, "http://127.0.0.1:8080") == 0, "default url: got %s", o.url);
        CHECK(o.concurrency == 32, "default -c: expected 32, got %u", o.concurrency);
        CHECK(o.duration_s == 20, "default -d: expected 20, got %g", o.duration_s);
        CHECK(o.orders == 0, "default -n: expected 0, got %llu", (unsigned long long)o.orders);
        CHECK(o.rate == 0, "default rate: expected 0 (closed loop), got %g", o.rate);
        CHECK(o.warmup_s == 2, "default warm-up: expected 2, got %g", o.warmup_s);
        CHECK(o.n_procs == 0 && !o.pids_from, "default processes: expected none given, got %zu", o.n_procs);
        CHECK(strcmp(o.card_token, "tok_ok") == 0, "default card: expected tok_ok, got %s", o.card_token);
        CHECK(!o.json, "default: expected text report");
        CHECK(o.nats_monitor && strcmp(o.nats_monitor, "http://127.0.0.1:8222") == 0,
              "default monitor: expected http://127.0.0.1:8222, got %s", o.nats_monitor ? o.nats_monitor : "(null)");
        CHECK(!o.database, "default database without DATABASE_URL: expected off, got %s", o.database);
        options_done(&o);

        /* --database: DATABASE_URL is the default, the option overrides it, "off" turns it off. */
        setenv("DATABASE_URL", "postgresql://food@127.0.0.1:5433/food", 1);
        r = parse(&o, (const char *const[]){NULL});
        CHECK(r == 0 && o.database && strcmp(o.database, "postgresql://food@127.0.0.1:5433/food") == 0,
              "database from DATABASE_URL: got %d, %s", r, o.database ? o.database : "(null)");
        options_done(&o);
        r = parse(&o, (const char *const[]){"--database", "postgresql://x@db/y", NULL});
        CHECK(r == 0 && o.database && strcmp(o.database, "postgresql://x@db/y") == 0,
              "--database URL: got %d, %s", r, o.database ? o.database : "(null)");
        options_done(&o);
        r = parse(&o, (const char *const[]){"--database", "off", NULL});
        CHECK(r == 0 && !o.database, "--database off: expected 0 and off, got %d, %s", r,
              o.database ? o.database : "(null)");
        options_done(&o);
        setenv("DATABASE_URL", "off", 1);
        r = parse(&o, (const char *const[]){NULL});
        CHECK(r == 0 && !o.database, "DATABASE_URL=off: expected off, got %d, %s", r,
              o.database ? o.database : "(null)");
        options_done(&o);
        unsetenv("DATABASE_URL");

        r = parse(&o, (const char *const[]){"--url", "http://10.0.0.1:9000", "-c", "64", "-d", "7.5", "--rate",
                                            "150", "--warmup", "0", "--json", "--procs", "gateway,postgres",
                                            "--timeout-ms", "2500", "--seed", "42", NULL});
        CHECK(r == 0, "all options: expected 0, got %d", r);
        CHECK(strcmp(o.url, "http://10.0.0.1:9000") == 0, "url: got %s", o.url);
        CHECK(o.concurrency == 64, "-c: expected 64, got %u", o.concurrency);
        CHECK(o.duration_s == 7.5, "-d: expected 7.5, got %g", o.duration_s);
        CHECK(o.rate == 150, "--rate: expected 150, got %g", o.rate);
        CHECK(o.warmup_s == 0, "--warmup: expected 0, got %g", o.warmup_s);
        CHECK(o.json, "--json: expected true");
        CHECK(o.timeout_ms == 2500, "--timeout-ms: expected 2500, got %ld", o.timeout_ms);
        CHECK(o.seed == 42, "--seed: expected 42, got %llu", (unsigned long long)o.seed);
        CHECK(o.n_procs == 2 && strcmp(o.procs[0], "gateway") == 0 && strcmp(o.procs[1], "postgres") == 0,
              "--procs: expected [gateway, postgres], got %zu names, first %s", o.n_procs,
              o.n_procs ? o.procs[0] : "-");
        options_done(&o);

        /* -n alone: no default duration. With -d too: whichever comes first. */
        r = parse(&o, (const char *const[]){"-n", "1000", NULL});
        CHECK(r == 0 && o.orders == 1000 && o.duration_s == 0,
              "-n 1000: expected orders 1000 and duration 0, got %d, %llu, %g", r, (unsigned long long)o.orders,
              o.duration_s);
        options_done(&o);
        r = parse(&o, (const char *const[]){"-n", "10", "-d", "3", NULL});
        CHECK(r == 0 && o.orders == 10 && o.duration_s == 3, "-n 10 -d 3: got %d, %llu, %g", r,
              (unsigned long long)o.orders, o.duration_s);
        options_done(&o);

        r = parse(&o, (const char *const[]){"--pids-from", "/tmp/run", "--concurrency=8", NULL});
        CHECK(r == 0 && o.pids_from && strcmp(o.pids_from, "/tmp/run") == 0 && o.concurrency == 8,
              "--pids-from /tmp/run --concurrency=8: got %d, %s, %u", r, o.pids_from ? o.pids_from : "(null)",
              o.concurrency);
        options_done(&o);

        r = parse(&o, (const char *const[]){"--nats-monitor", "off", NULL});
        CHECK(r == 0 && !o.nats_monitor, "--nats-monitor off: expected 0 and no URL, got %d, %s", r,
              o.nats_monitor ? o.nats_monitor : "(null)");
        options_done(&o);

        r = parse(&o, (const char *const[]){"--help", NULL});
        CHECK(r == OPTIONS_HELP, "--help: expected %d, got %d", OPTIONS_HELP, r);
        options_done(&o);

        refused((const char *const[]){"-c", "0", NULL}, "-c 0");
        refused((const char *const[]){"-c", "-3", NULL}, "-c -3");
        refused((const char *const[]){"-c", "12x", NULL}, "-c 12x");
        refused((const char *const[]){"-c", "99999999999999999999999", NULL}, "-c overflow");
        refused((const char *const[]){"-c", "", NULL}, "-c empty");
        refused((const char *const[]){"-d", "0", NULL}, "-d 0");
        refused((const char *const[]){"-d", "nan", NULL}, "-d nan");
        refused((const char *const[]){"-d", "inf", NULL}, "-d inf");
        refused((const char *const[]){"-n", "0", NULL}, "-n 0");
        refused((const char *const[]){"--rate", "-1", NULL}, "--rate -1");
        refused((const char *const[]){"--warmup", "-1", NULL}, "--warmup -1");
        refused((const char *const[]){"--url", "ftp://x", NULL}, "--url ftp://x");
        refused((const char *const[]){"--url", "http://x/", NULL}, "--url with trailing slash");
        refused((const char *const[]){"--procs", "a,,b", NULL}, "--procs with an empty name");
        refused((const char *const[]){"--procs", "a-name-longer-than-15", NULL}, "--procs with a long name");
        refused((const char *const[]){"--procs", "a", "--pids-from", "/x", NULL}, "--procs with --pids-from");
        refused((const char *const[]){"--nats-monitor", "localhost:8222", NULL}, "--nats-monitor without http://");
        refused((const char *const[]){"--database", "", NULL}, "--database empty");
        refused((const char *const[]){"--bogus", NULL}, "unknown option");
        refused((const char *const[]){"-c", NULL}, "-c without value");
        refused((const char *const[]){"stray", NULL}, "stray argument");

        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
