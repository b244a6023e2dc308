/* Unit test of a saga in memory: unanswered commands, history, and their persisted record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "saga-row.h"
#include "test-check.h"

int main(void) {
        SagaRow row, back;
        uint8_t *data = NULL;
        size_t len = 0;
        const uint8_t stored[] = {1, 2, 3};

        memset(&row, 0, sizeof(row));
        memset(&back, 0, sizeof(back));
        SagaPending *a = saga_row_add_command(&row, saga_step("authorize"), 1, stored, sizeof(stored));
        SagaPending *t = saga_row_add_command(&row, saga_step("create_ticket"), 2, NULL, 0);
        CHECK(a && t && a->command_id == 1 && t->command_id == 2, "commands are numbered from 1");
        t->attempt = 3;
        t->budget = 2;
        t->next_try_ms = 12345;
        saga_row_log(&row, LOG_COMMAND, &food__v1__create_ticket__descriptor, saga_step("create_ticket"), 1, 2,
                     LOG_SENT, 1000);
        saga_row_log(&row, LOG_EVENT, &food__v1__order_status_changed__descriptor, NULL, 0, 0, LOG_PUBLISHED, 1001);
        saga_row_log_detail(&row, 2, LOG_ANSWERED);
        CHECK(row.log[0].detail == LOG_ANSWERED && row.log[1].detail == LOG_PUBLISHED, "the command's line is answered");

        row.state = SAGA_COMPLETED;
        CHECK(!saga_row_done(&row), "a saga with unanswered commands is not done");

        snprintf(row.last_request, sizeof(row.last_request), "%s", "_INBOX.gw.abc.7");
        /* The record round-trips: commands (with what is kept of them), the history, the last request. */
        CHECK(saga_row_pack_record(&row, &data, &len) == 0, "pack");
        CHECK(saga_row_unpack_record(&back, data, len) == 0, "unpack");
        CHECK(back.n_commands == 2 && back.commands_sent == 2, "commands back: %zu, last id %u", back.n_commands,
              back.commands_sent);
        SagaPending *bt = saga_row_command(&back, 2);
        CHECK(bt && bt->step == saga_step("create_ticket") && bt->attempt == 3 && bt->budget == 2 &&
                      bt->next_try_ms == 12345 && bt->version == 2 && !bt->stored,
              "the ticket command back");
        SagaPending *ba = saga_row_command(&back, 1);
        CHECK(ba && ba->stored_len == 3 && memcmp(ba->stored, stored, 3) == 0, "the kept authorize command back");
        CHECK(back.n_log == 2 && back.log[0].command_id == 2 && back.log[1].kind == LOG_EVENT, "history back");
        CHECK(strcmp(back.last_request, "_INBOX.gw.abc.7") == 0, "the last request back: %s", back.last_request);

        /* Answered commands leave; then the terminal saga is done. */
        saga_row_drop_command(&row, saga_row_command(&row, 1));
        saga_row_drop_command(&row, saga_row_command(&row, 2));
        CHECK(row.n_commands == 0 && saga_row_done(&row), "no command left: done");
        SagaPending *n = saga_row_add_command(&row, saga_step("refund"), 3, NULL, 0);
        CHECK(n && n->command_id == 3, "ids are never reused: got %u", n ? n->command_id : 0);

        /* History is bounded. */
        for (int i = 0; i < SAGA_LOG_MAX + 10; i++)
                saga_row_log(&row, LOG_EVENT, NULL, NULL, 0, 0, LOG_PUBLISHED, i);
        CHECK(row.n_log == SAGA_LOG_MAX && row.log[SAGA_LOG_MAX - 1].at_ms == SAGA_LOG_MAX + 9,
              "the newest %d lines are kept", SAGA_LOG_MAX);
        free(data);
        saga_row_clear(&row);
        saga_row_clear(&back);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
