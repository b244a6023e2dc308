/* Well-behaved workers for the orchestrator in memory (writer-memory.h): they take the command
 * batches its batches send, as each worker loop reads them, and answer every command as the
 * worker's handler would, with the outcome a mood picks; the answers come back to the
 * orchestrator in a ReplyBatch per message, as the worker loop sends them. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "writer-memory.h"

/* Command batches kept until answered; beyond it the oldest is lost (as a message can be: the
 * saga re-sends). */
#define WORKERS_MEMORY_QUEUE 64

/* The mood of the workers (bits of workers_memory_answer's `mood`). */
enum {
        WORKERS_MEMORY_DECLINE = 1u << 0,      /* the card is declined */
        WORKERS_MEMORY_PSP_DOWN = 1u << 1,     /* the provider fails (retryable) */
        WORKERS_MEMORY_NO_COUPON = 1u << 2,    /* the coupon is refused */
        WORKERS_MEMORY_REFUND_LATER = 1u << 3, /* refunds are not done yet (no answer) */
        WORKERS_MEMORY_SILENT = 1u << 4,       /* the workers consume but never answer */
};

/* A message for `worker` (its payload copied), kept until answered. */
void workers_memory_queue(const char *worker, const uint8_t *data, size_t len);
/* Forgets every message kept. */
void workers_memory_clear(void);
/* The workers answer every message kept (the outcome picked by `mood`), each in one ReplyBatch,
 * all decided in one batch of `w` `advance_ms` after the last. */
void workers_memory_answer(Writer *w, unsigned mood, int64_t advance_ms);
