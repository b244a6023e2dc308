/* food-setup: the operators' set-up step. Creates the NATS topology (every stream and durable
 * consumer of lib/topology.c) or brings it to this version's settings, as a NATS user allowed to
 * (the operators' `admin`); the services may not, and wait at start until it exists. Run before
 * the services start and on every upgrade: local mode and the test harness run it after
 * nats-server is up, the chart as a Job. Idempotent. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "config.h"
#include "log.h"
#include "topology.h"

#define SETUP_STREAMS_MAX 8

/* STREAM_<NAME>_MAX_AGE_S (the topology's), STREAM_<NAME>_MAX_BYTES (-1: unlimited) and STREAM_<NAME>_REPLICAS
 * (1) of every stream: an operator's limits are part of the declared configuration, applied on every run, so
 * that an upgrade never reverts them. 0 or -EINVAL naming the variable. */
static int stream_limits(TopoStreamLimits *limits) {
        const TopoStream *st;
        for (size_t i = 0; (st = topo_stream_at(i)); i++) {
                char name[96];
                int64_t v = 0;
                int r;
                if (i >= SETUP_STREAMS_MAX)
                        return log_error_errno(-E2BIG, "food-setup: the topology has more than %d streams",
                                               SETUP_STREAMS_MAX);
                snprintf(name, sizeof(name), "STREAM_%s_MAX_AGE_S", st->name);
                r = config_int(name, st->max_age_s, 1, INT64_MAX / 1000000000LL, &limits[i].max_age_s);
                snprintf(name, sizeof(name), "STREAM_%s_MAX_BYTES", st->name);
                if (r == 0)
                        r = config_int(name, -1, -1, INT64_MAX, &limits[i].max_bytes);
                if (r == 0 && limits[i].max_bytes == 0) {
                        log_error("config: %s must be -1 (unlimited) or a positive number of bytes", name);
                        r = -EINVAL;
                }
                snprintf(name, sizeof(name), "STREAM_%s_REPLICAS", st->name);
                if (r == 0)
                        r = config_int(name, 1, 1, 5, &v);
                if (r < 0)
                        return r;
                limits[i].replicas = (int)v;
        }
        return 0;
}

int main(int argc, char **argv) {
        TopoStreamLimits limits[SETUP_STREAMS_MAX];
        NatsConfig nats;
        Bus *bus = NULL;
        int r;

        if (argc > 1) {
                fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                        "usage: food-setup\n"
                        "  Creates or updates the NATS streams and durable consumers of food-saga.\n"
                        "  NATS_URL (default nats://127.0.0.1:4222), NATS_USER and NATS_PASSWORD: a user allowed\n"
                        "  to manage streams and consumers (the operators' admin); NATS_TLS_*; LOG_LEVEL.\n"
                        "  Per stream (FOOD_CMD, FOOD_ORDER, FOOD_DLQ, FOOD_ADVISORY): STREAM_<NAME>_MAX_AGE_S,\n"
                        "  STREAM_<NAME>_MAX_BYTES (-1: unlimited), STREAM_<NAME>_REPLICAS (1).\n");
                return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
        }
        if (config_log("food-setup") < 0 || config_nats(&nats) < 0 || stream_limits(limits) < 0)
                return 2;
        volatile bool give_up = true; /* one connection attempt: whoever runs it retries */
        r = bus_connect(&bus, &nats, "food-setup", &give_up);
        if (r < 0) {
                fprintf(stderr, "food-setup: cannot connect to NATS at %s\n", nats.url);
                return 1;
        }
        r = bus_setup_topology(bus, limits);
        bus_free(bus);
        if (r < 0) {
                fprintf(stderr, "food-setup: the NATS topology could not be set up (see the log above)\n");
                return 1;
        }
        log_info("food-setup: NATS streams and durable consumers are this version's");
        return 0;
}
