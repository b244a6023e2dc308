/* Operators' view of sagas (food.rpc.sagas.query, GET /admin/sagas/{id},
 * sagactl): one saga's step history, the stuck ones, and redriving them. */
#pragma once
#include "food.pb-c.h"
#include "pg.h"
#include "saga-engine.h"

/* Steps whose commands undo earlier work. */
bool saga_admin_is_compensation(const char *step);

/* Answers a SagaQuery inside the caller's transaction: show -> 200 with one
 * history (404 if unknown); stuck -> 200 with the stuck sagas (no steps);
 * redrive -> 200 with `affected`. */
int saga_admin_query(Pg *pg, const Food__V1__SagaQuery *q, EngineReply *reply);

/* Sets the stuck threshold used when a query gives none; once, at start. */
void saga_admin_setup(int64_t stuck_after_ms);
/* Flags sagas whose compensation ran out of tries (logged once each).
 * Returns how many were flagged, or negative errno. */
int saga_admin_flag_failed_compensations(Pg *pg);
/* A compensation of `order_id` was answered: clears COMPENSATION_FAILED when
 * no other compensation of the saga is still waiting. */
int saga_admin_compensation_answered(Pg *pg, const char *order_id);
/* Counts stuck sagas (for the food_sagas_stuck gauge). */
int saga_admin_count_stuck(Pg *pg, int64_t older_than_ms, long long *ret);
