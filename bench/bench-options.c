/* food-bench option parsing with checked numbers and a usage text. */
#include "bench-options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const options_default_procs[] = {
        "gateway",     "orchestrator", "payment-worker", "store-worker", "delivery-worker", "notification-wo",
        "coupon-worker", "reader",      "sandbox-psp",   "sandbox-sink", "nats-server",     "postgres", NULL,
};

static void usage(FILE *f) {
        fputs("Usage: food-bench [OPTION]...\n"
              "Drives full order lifecycles (place, accept, cooking-started, cooking-finished, pick, delivered,\n"
              "confirm) through the gateway and reports throughput, latency per call and CPU per order.\n"
              "\n"
              "  --url URL             gateway base URL (default http://127.0.0.1:8080)\n"
              "  -c, --concurrency N   virtual customers, one order in flight each (default 32)\n"
              "  -d, --duration S      measured seconds (default 20 unless -n is given)\n"
              "  -n, --orders N        end the measurement after N completed orders\n"
              "      --rate R          open loop: start R orders/s whatever the latency (default closed loop);\n"
              "                        end-to-end latency then counts from the scheduled start\n"
              "      --warmup S        seconds before the measurement, excluded from figures (default 2)\n"
              "      --drain S         seconds allowed to orders still running at the end (default 10)\n"
              "      --timeout-ms MS   per-request timeout (default 10000)\n"
              "      --pids-from DIR   processes to measure: DIR/<name>.pid files and their descendants\n"
              "      --procs A,B,...   processes to measure: these comm names (default: gateway,orchestrator,\n"
              "                        payment-worker,store-worker,delivery-worker,notification-wo,\n"
              "                        coupon-worker,reader,sandbox-psp,sandbox-sink,nats-server,postgres)\n"
              "      --jwt-secret-file F  sign HS256 tokens with the secret in F instead of POST /auth/dev-token\n"
              "      --card TOKEN      card token for payment (default tok_ok)\n"
              "      --nats-monitor URL  nats-server monitoring URL for the JetStream figures\n"
              "                        (default http://127.0.0.1:8222; \"off\" to skip)\n"
              "      --database URL    PostgreSQL to read commits, statements and WAL per order from\n"
              "                        (default: $DATABASE_URL if set, else off; \"off\" to skip)\n"
              "      --seed N          random seed for store and item choice (default: from the clock)\n"
              "      --json            print the report as a JSON object\n"
              "  -h, --help            this text\n",
              f);
}

/* Parses a finite decimal number in [min, max]. */
static int parse_double(const char *s, double min, double max, double *ret) {
        char *end = NULL;
        errno = 0;
        double v = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Parses a decimal integer in [min, max]; no sign, no junk. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        char *end = NULL;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Splits "a,b,c" into o->procs. Empty names are refused. */
static int parse_procs(BenchOptions *o, const char *list) {
        free(o->procs_buf);
        o->n_procs = 0;
        o->procs_buf = strdup(list);
        if (!o->procs_buf)
                return -ENOMEM;
        char *p = o->procs_buf;
        for (;;) {
                char *comma = strchr(p, ',');
                if (comma)
                        *comma = '\0';
                if (*p == '\0' || strlen(p) > 15 || o->n_procs == OPTIONS_PROCS_MAX)
                        return -EINVAL;
                o->procs[o->n_procs++] = p;
                if (!comma)
                        return 0;
                p = comma + 1;
        }
}

int options_parse(BenchOptions *o, int argc, char **argv, FILE *out, FILE *err) {
        enum { OPT_RATE = 256, OPT_WARMUP, OPT_DRAIN, OPT_TIMEOUT, OPT_PIDS, OPT_PROCS, OPT_JWT, OPT_CARD, OPT_SEED,
               OPT_JSON, OPT_URL, OPT_MONITOR, OPT_DATABASE };
        static const struct option longopts[] = {
                {"url", required_argument, NULL, OPT_URL},
                {"concurrency", required_argument, NULL, 'c'},
                {"duration", required_argument, NULL, 'd'},
                {"orders", required_argument, NULL, 'n'},
                {"rate", required_argument, NULL, OPT_RATE},
                {"warmup", required_argument, NULL, OPT_WARMUP},
                {"drain", required_argument, NULL, OPT_DRAIN},
                {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
                {"pids-from", required_argument, NULL, OPT_PIDS},
                {"procs", required_argument, NULL, OPT_PROCS},
                {"jwt-secret-file", required_argument, NULL, OPT_JWT},
                {"card", required_argument, NULL, OPT_CARD},
                {"seed", required_argument, NULL, OPT_SEED},
                {"json", no_argument, NULL, OPT_JSON},
                {"nats-monitor", required_argument, NULL, OPT_MONITOR},
                {"database", required_argument, NULL, OPT_DATABASE},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        *o = (BenchOptions){
                .url = "http://127.0.0.1:8080",
                .concurrency = 32,
                .warmup_s = 2,
                .drain_s = 10,
                .timeout_ms = 10000,
                .card_token = "tok_ok",
                .nats_monitor = "http://127.0.0.1:8222",
                .database = getenv("DATABASE_URL"),
        };
        if (o->database && (*o->database == '\0' || strcmp(o->database, "off") == 0))
                o->database = NULL;
        bool duration_given = false;
        uint64_t u = 0;
        int c, r = 0;
        const char *what = NULL;

        optind = 0; /* 0 (not 1): also resets getopt's internal state, so that tests can parse twice */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":c:d:n:h", longopts, NULL)) != -1) {
                switch (c) {
                case OPT_URL:
                        o->url = optarg;
                        if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0) {
                                what = "--url must start with http:// or https://";
                                goto bad;
                        }
                        if (optarg[strlen(optarg) - 1] == '/') {
                                what = "--url must not end with '/'";
                                goto bad;
                        }
                        break;
                case 'c':
                        if (parse_u64(optarg, 1, OPTIONS_CONCURRENCY_MAX, &u) < 0) {
                                what = "-c needs an integer from 1 to 4096";
                                goto bad;
                        }
                        o->concurrency = (unsigned)u;
                        break;
                case 'd':
                        if (parse_double(optarg, 0.1, 86400, &o->duration_s) < 0) {
                                what = "-d needs a number of seconds from 0.1 to 86400";
                                goto bad;
                        }
                        duration_given = true;
                        break;
                case 'n':
                        if (parse_u64(optarg, 1, UINT64_C(1000000000), &o->orders) < 0) {
                                what = "-n needs an integer from 1 to 1000000000";
                                goto bad;
                        }
                        break;
                case OPT_RATE:
                        if (parse_double(optarg, 0.01, 1e6, &o->rate) < 0) {
                                what = "--rate needs orders per second from 0.01 to 1000000";
                                goto bad;
                        }
                        break;
                case OPT_WARMUP:
                        if (parse_double(optarg, 0, 3600, &o->warmup_s) < 0) {
                                what = "--warmup needs seconds from 0 to 3600";
                                goto bad;
                        }
                        break;
                case OPT_DRAIN:
                        if (parse_double(optarg, 0, 3600, &o->drain_s) < 0) {
                                what = "--drain needs seconds from 0 to 3600";
                                goto bad;
                        }
                        break;
                case OPT_TIMEOUT:
                        if (parse_u64(optarg, 1, 3600000, &u) < 0) {
                                what = "--timeout-ms needs milliseconds from 1 to 3600000";
                                goto bad;
                        }
                        o->timeout_ms = (long)u;
                        break;
                case OPT_PIDS:
                        o->pids_from = optarg;
                        break;
                case OPT_PROCS:
                        if ((r = parse_procs(o, optarg)) < 0) {
                                what = r == -ENOMEM ? "out of memory"
                                                    : "--procs needs 1 to 32 comma-separated names of 1 to 15 bytes";
                                goto bad;
                        }
                        break;
                case OPT_JWT:
                        o->jwt_secret_file = optarg;
                        break;
                case OPT_CARD:
                        if (*optarg == '\0') {
                                what = "--card needs a card token";
                                goto bad;
                        }
                        o->card_token = optarg;
                        break;
                case OPT_SEED:
                        if (parse_u64(optarg, 0, UINT64_MAX, &o->seed) < 0) {
                                what = "--seed needs a non-negative integer";
                                goto bad;
                        }
                        break;
                case OPT_MONITOR:
                        if (strcmp(optarg, "off") == 0) {
                                o->nats_monitor = NULL;
                                break;
                        }
                        if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0) {
                                what = "--nats-monitor needs an http:// URL or off";
                                goto bad;
                        }
                        if (optarg[strlen(optarg) - 1] == '/') {
                                what = "--nats-monitor must not end with '/'";
                                goto bad;
                        }
                        o->nats_monitor = optarg;
                        break;
                case OPT_DATABASE:
                        if (*optarg == '\0') {
                                what = "--database needs a PostgreSQL URL or off";
                                goto bad;
                        }
                        o->database = strcmp(optarg, "off") == 0 ? NULL : optarg;
                        break;
                case OPT_JSON:
                        o->json = true;
                        break;
                case 'h':
                        usage(out);
                        return OPTIONS_HELP;
                case ':':
                        fprintf(err, "food-bench: %s needs a value\n", argv[optind - 1]);
                        return -EINVAL;
                default:
                        fprintf(err, "food-bench: unknown option %s (see --help)\n", argv[optind - 1]);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(err, "food-bench: unexpected argument %s (see --help)\n", argv[optind]);
                return -EINVAL;
        }
        if (o->pids_from && o->n_procs > 0) {
                fputs("food-bench: give either --pids-from or --procs, not both\n", err);
                return -EINVAL;
        }
        if (!duration_given && o->orders == 0)
                o->duration_s = 20;
        return 0;
bad:
        fprintf(err, "food-bench: %s (got \"%s\")\n", what, optarg);
        return -EINVAL;
}

void options_done(BenchOptions *o) {
        free(o->procs_buf);
        o->procs_buf = NULL;
        o->n_procs = 0;
}
