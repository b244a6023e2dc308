/* The orchestrator process: its configuration, and the batch writer that owns
 * shards of sagas and decides everything that arrives for them. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "saga-engine.h"
#include "service.h"

typedef struct Writer Writer;

typedef struct {
        Service svc;
        EngineConfig engine;
        int64_t resend_after_ms; /* base wait before re-sending an unanswered command (saga-steps.c) */
        int max_attempts;        /* base try budget of a step until an operator redrives it */
        int64_t stuck_after_ms;  /* not advancing this long (and no timer to come): stuck */
        int batch_max;           /* inputs decided per transaction at most */
        int64_t linger_ms;       /* a batch's commands for workers nobody waits on may wait this long for more */
        int64_t events_keep_s;   /* published status events kept in PostgreSQL this long */
        int64_t keys_keep_s;     /* idempotency keys kept this long */
        char instance[40];       /* this process's name on the bus: its answers come on food.ans.<instance> */
        /* Crash tests only (FOOD_CRASH_AT=<point>:<n>): SIGKILL itself at `crash_point` ("before-commit",
         * "after-commit") of its n-th batch that writes. Empty: never. */
        char crash_point[24];
        int64_t crash_after;
        Writer *writer;
} Orchestrator;

/* Starts the writer thread: it takes the shards it can, loads them, serves their RPCs and the
 * workers' answers, fires their timers, until service_stopping. 0 or negative errno. */
int writer_start(Orchestrator *o);
/* Waits for the writer to finish (after service_stopping): in-flight requests answered, events
 * published, shards released. */
void writer_stop(Writer *w);
