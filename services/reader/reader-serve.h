/* The reader's answering threads: each holds one PostgreSQL session and one subscription of the queue group
 * "reader" on food.read.* (so NATS spreads the queries over them and over every reader replica), runs the
 * query a request names (reader-queries.h) and answers ReadRows to its reply subject. */
#pragma once
#include "service.h"

#define READER_THREADS_MAX 256

/* Serves with `threads` threads until SIGTERM, then lets each answer what it holds and returns: 0, or negative
 * errno (logged) when a thread could not start (the others stopped). */
int reader_serve(Service *svc, int threads);
