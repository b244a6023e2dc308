/* Operators' view of sagas (GET /admin/sagas/{id}, sagactl): one saga's step
 * history from its record, the stuck ones from PostgreSQL, and redriving a
 * saga (its unanswered commands sent again with fresh tries). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "food.pb-c.h"
#include "pg.h"
#include "saga-engine.h"
#include "saga-row.h"

/* Sets the stuck threshold used when a query gives none; once, at start. */
void saga_admin_setup(int64_t stuck_after_ms);

/* A 200 reply with the saga's state and step history. 0 or negative errno. */
int saga_admin_show(const SagaRow *row, EngineReply *reply);
/* A 200 reply listing the stuck sagas (no steps): not terminal and not
 * advancing for older_than_ms (0: the configured threshold) with no timer to
 * come, or whose compensation failed. Read from PostgreSQL. */
int saga_admin_stuck(Pg *pg, const Food__V1__SagaQuery *q, EngineReply *reply);
/* Counts them (for the food_sagas_stuck gauge). */
int saga_admin_count_stuck(Pg *pg, int64_t older_than_ms, long long *ret);
/* Every unanswered command of `row` is due again now with a fresh budget, and
 * COMPENSATION_FAILED is cleared. Whether anything changed. */
bool saga_admin_redrive(SagaRow *row, int64_t now_ms);
