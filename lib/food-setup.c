/* food-setup: the operators' set-up step. Creates the NATS topology (every stream and durable
 * consumer of lib/topology.c) or brings it to this version's settings, as a NATS user allowed to
 * (the operators' `admin`); the services may not, and wait at start until it exists. Run before
 * the services start and on every upgrade: local mode and the test harness run it after
 * nats-server is up, the chart as a Job. Idempotent. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "config.h"
#include "log.h"

int main(int argc, char **argv) {
        NatsConfig nats;
        Bus *bus = NULL;
        int r;

        if (argc > 1) {
                fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                        "usage: food-setup\n"
                        "  Creates or updates the NATS streams and durable consumers of food-saga.\n"
                        "  NATS_URL (default nats://127.0.0.1:4222), NATS_USER and NATS_PASSWORD: a user allowed to\n"
                        "  manage streams and consumers (the operators' admin); LOG_LEVEL.\n");
                return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
        }
        if (config_log("food-setup") < 0 || config_nats(&nats) < 0)
                return 2;
        volatile bool give_up = true; /* one connection attempt: whoever runs it retries */
        r = bus_connect(&bus, &nats, "food-setup", &give_up);
        if (r < 0) {
                fprintf(stderr, "food-setup: cannot connect to NATS at %s\n", nats.url);
                return 1;
        }
        r = bus_setup_topology(bus);
        bus_free(bus);
        if (r < 0) {
                fprintf(stderr, "food-setup: the NATS topology could not be set up (see the log above)\n");
                return 1;
        }
        log_info("food-setup: NATS streams and durable consumers are this version's");
        return 0;
}
