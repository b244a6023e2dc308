/* The orchestrator in memory, for its fuzz harnesses: a stand-in of the batch writer
 * (orchestrator/saga-writer.c) that gives saga-inputs.c the writer_* functions it decides with and
 * the engine hooks it emits through, and keeps what a batch would write and send in memory (the
 * commands go to the workers of workers-memory.c). No PostgreSQL, no NATS: the
 * orchestrator owns every shard, a saga not in memory is unknown, and a batch "commits" by
 * building its rows (saga_batch_saga) and the statements' parameters. Every hook and every batch
 * checks the invariants of what the real writer would write and send (FUZZ_CHECK). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "saga-writer.h"

/* Sets the process up (once) and forgets everything: a fresh orchestrator without sagas, its
 * clock at now. Returns the writer, valid until the next reset. */
Writer *writer_memory_reset(void);

/* Starts a batch `advance_ms` after the previous one (>= 0; timers and re-sends fall due by it). */
void writer_memory_begin(Writer *w, int64_t advance_ms);
/* Decides one RPC of the batch with inputs_handle: `data` under Food-Type `type` on `subject`
 * (any; the request is refused when they do not fit), with a fresh inbox and, when not NULL, a
 * traceparent header. 0, or negative errno: the batch is lost (end it with failed = true). */
int writer_memory_rpc(Writer *w, const char *type, const char *subject, const uint8_t *data, size_t len,
                      const char *traceparent);
/* The same for a message on the orchestrator's answer subject (Food-Type `type`). */
int writer_memory_answers(Writer *w, const char *type, const uint8_t *data, size_t len);
/* The due timers and re-sends of the sagas in memory (inputs_timers). 0 or negative errno. */
int writer_memory_timers(Writer *w);
/* Ends the batch as the writer does: rolled back when `failed` or when its rows cannot be built,
 * else written (every changed saga's row, the read model, its events, notifications and keys as
 * statement parameters), settled sagas dropped, answers and commands checked and the commands
 * handed to the workers (workers_memory_queue). Then checks every saga in memory. */
void writer_memory_end(Writer *w, bool failed);

/* The saga of `order_id` in memory, or NULL. */
SagaRow *writer_memory_saga(Writer *w, const char *order_id);
