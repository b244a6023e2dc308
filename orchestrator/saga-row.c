/* A saga in memory: its unanswered commands, its history and their persisted form. */
#include "saga-row.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

void saga_row_clear(SagaRow *row) {
        codec_free(row->order ? &row->order->base : NULL);
        codec_free(row->pending ? &row->pending->base : NULL);
        for (size_t i = 0; i < row->n_commands; i++)
                free(row->commands[i].stored);
        free(row->commands);
        free(row->log);
        memset(row, 0, sizeof(*row));
}

/* Grows an array of `size`-byte elements to hold one more. */
static bool grow(void **items, size_t *cap, size_t n, size_t size) {
        if (n < *cap)
                return true;
        size_t c = *cap ? *cap * 2 : 4;
        void *p = realloc(*items, c * size);
        if (!p)
                return false;
        *items = p;
        *cap = c;
        return true;
}

static uint16_t type_index(const ProtobufCMessageDescriptor *type) {
        const CodecType *t;
        for (size_t i = 0; type && (t = codec_type_at(i)); i++)
                if (t->desc == type)
                        return (uint16_t)(i + 1);
        return 0;
}

void saga_row_log(SagaRow *row, SagaLogKind kind, const ProtobufCMessageDescriptor *type, const SagaStep *step,
                  uint32_t attempt, uint32_t command_id, SagaLogDetail detail, int64_t at_ms) {
        if (row->n_log == SAGA_LOG_MAX) {
                memmove(row->log, row->log + 1, (SAGA_LOG_MAX - 1) * sizeof(*row->log));
                row->n_log--;
        }
        if (!grow((void **)&row->log, &row->cap_log, row->n_log, sizeof(*row->log)))
                return; /* history is best effort; the saga itself is not */
        row->log[row->n_log++] = (SagaLogEntry){
                .kind = (uint8_t)kind,
                .detail = (uint8_t)detail,
                .type = type_index(type),
                .step = step ? (uint16_t)(saga_step_index(step) + 1) : 0,
                .attempt = attempt,
                .command_id = command_id,
                .at_ms = at_ms,
        };
}

void saga_row_log_detail(SagaRow *row, uint32_t command_id, SagaLogDetail detail) {
        for (size_t i = row->n_log; i-- > 0;)
                if (row->log[i].kind == LOG_COMMAND && row->log[i].command_id == command_id) {
                        row->log[i].detail = (uint8_t)detail;
                        return;
                }
}

SagaPending *saga_row_command(SagaRow *row, uint32_t command_id) {
        for (size_t i = 0; i < row->n_commands; i++)
                if (row->commands[i].command_id == command_id)
                        return &row->commands[i];
        return NULL;
}

SagaPending *saga_row_add_command(SagaRow *row, const SagaStep *step, int64_t version, const uint8_t *stored,
                                  size_t stored_len) {
        SagaPending *p;
        if (!grow((void **)&row->commands, &row->cap_commands, row->n_commands, sizeof(*row->commands)))
                return NULL;
        p = &row->commands[row->n_commands];
        memset(p, 0, sizeof(*p));
        if (stored) {
                p->stored = malloc(stored_len ? stored_len : 1);
                if (!p->stored)
                        return NULL;
                memcpy(p->stored, stored, stored_len);
                p->stored_len = stored_len;
        }
        p->command_id = ++row->commands_sent;
        p->step = step;
        p->version = version;
        row->n_commands++;
        return p;
}

void saga_row_drop_command(SagaRow *row, SagaPending *p) {
        size_t i = (size_t)(p - row->commands);
        free(p->stored);
        memmove(row->commands + i, row->commands + i + 1, (row->n_commands - i - 1) * sizeof(*p));
        row->n_commands--;
}

bool saga_row_done(const SagaRow *row) {
        return saga_state_terminal(row->state) && row->n_commands == 0 && !row->step[0] && !row->pending;
}

int saga_row_pack_record(const SagaRow *row, uint8_t **ret, size_t *len) {
        Food__V1__SagaRecord rec = FOOD__V1__SAGA_RECORD__INIT;
        Food__V1__PendingCommand *pc = calloc(row->n_commands + 1, sizeof(*pc));
        Food__V1__PendingCommand **pcp = calloc(row->n_commands + 1, sizeof(*pcp));
        Food__V1__SagaLogEntry *le = calloc(row->n_log + 1, sizeof(*le));
        Food__V1__SagaLogEntry **lep = calloc(row->n_log + 1, sizeof(*lep));
        int r = -ENOMEM;

        if (!pc || !pcp || !le || !lep)
                goto out;
        for (size_t i = 0; i < row->n_commands; i++) {
                const SagaPending *p = &row->commands[i];
                food__v1__pending_command__init(&pc[i]);
                pc[i].command_id = p->command_id;
                pc[i].step = (char *)p->step->name;
                pc[i].attempt = p->attempt;
                pc[i].budget = p->budget;
                pc[i].next_try_ms = p->next_try_ms;
                pc[i].version = p->version;
                pc[i].command.data = p->stored;
                pc[i].command.len = p->stored_len;
                pcp[i] = &pc[i];
        }
        for (size_t i = 0; i < row->n_log; i++) {
                const SagaLogEntry *l = &row->log[i];
                food__v1__saga_log_entry__init(&le[i]);
                le[i].kind = l->kind;
                le[i].type = l->type;
                le[i].step = l->step;
                le[i].attempt = l->attempt;
                le[i].at_ms = l->at_ms;
                le[i].detail = l->detail;
                le[i].command_id = l->command_id;
                lep[i] = &le[i];
        }
        rec.pending = pcp;
        rec.n_pending = row->n_commands;
        rec.log = lep;
        rec.n_log = row->n_log;
        rec.commands_sent = row->commands_sent;
        rec.last_request = (char *)row->last_request;
        r = codec_pack(&rec.base, ret, len);
out:
        free(pc);
        free(pcp);
        free(le);
        free(lep);
        return r;
}

int saga_row_unpack_record(SagaRow *row, const uint8_t *data, size_t len) {
        ProtobufCMessage *m = NULL;
        Food__V1__SagaRecord *rec;
        int r = codec_unpack(&food__v1__saga_record__descriptor, data, len, &m);
        if (r < 0)
                return r;
        rec = (Food__V1__SagaRecord *)m;
        snprintf(row->last_request, sizeof(row->last_request), "%s", rec->last_request ? rec->last_request : "");
        for (size_t i = 0; i < rec->n_pending && r == 0; i++) {
                const Food__V1__PendingCommand *pc = rec->pending[i];
                const SagaStep *step = saga_step(pc->step);
                if (!step)
                        continue; /* a step this version no longer has */
                uint32_t sent = row->commands_sent;
                SagaPending *p = saga_row_add_command(row, step, pc->version, pc->command.len ? pc->command.data : NULL,
                                                      pc->command.len);
                if (!p) {
                        r = -ENOMEM;
                        break;
                }
                row->commands_sent = sent;
                p->command_id = pc->command_id;
                p->attempt = pc->attempt;
                p->budget = pc->budget;
                p->next_try_ms = pc->next_try_ms;
        }
        for (size_t i = 0; i < rec->n_log && r == 0; i++) {
                const Food__V1__SagaLogEntry *e = rec->log[i];
                if (!grow((void **)&row->log, &row->cap_log, row->n_log, sizeof(*row->log)) ||
                    row->n_log == SAGA_LOG_MAX)
                        break;
                row->log[row->n_log++] = (SagaLogEntry){.kind = (uint8_t)e->kind, .detail = (uint8_t)e->detail,
                                                        .type = (uint16_t)e->type, .step = (uint16_t)e->step,
                                                        .attempt = e->attempt, .command_id = e->command_id,
                                                        .at_ms = e->at_ms};
        }
        if (rec->commands_sent > row->commands_sent)
                row->commands_sent = rec->commands_sent;
        codec_free(m);
        return r;
}
