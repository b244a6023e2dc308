/* The orchestrator process: its configuration and the threads it runs
 * (RPC lanes, the reply consumer, the outbox relay with its sweeper). */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "saga-engine.h"
#include "service.h"

typedef struct {
        Service svc;
        EngineConfig engine;
        int rpc_lanes;          /* concurrent RPC handlers, each with its own connection */
        int64_t resend_after_ms; /* base wait before re-sending an unanswered command (saga-retry.c) */
        int max_attempts;       /* base try budget of a step until an operator redrives it */
        int64_t stuck_after_ms; /* not advancing this long (and no timer to come): stuck */
        /* The relay sleeps on this until a transaction wrote to the outbox. */
        pthread_mutex_t kick_lock;
        pthread_cond_t kick_cond;
        bool kicked;
} Orchestrator;

/* Wakes the outbox relay (after a commit that wrote to the outbox). */
void orchestrator_kick_relay(Orchestrator *o);

/* Thread bodies; each returns when service_stopping is set. */
void *rpc_lane_run(void *orchestrator);
void *reply_consumer_run(void *orchestrator);
void *outbox_relay_run(void *orchestrator);
