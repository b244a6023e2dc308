/* libFuzzer harness of the store worker: a message on food.cmd.store through the worker loop's
 * decode (fuzz_command_batch), then each command as store_handle takes it: the checks
 * (store_check_ticket / store_check_withdraw), the ticket lines as the JSON it stores, and the
 * answer. Stops where the tickets table would be written. */
#include <jansson.h>
#include <string.h>

#include "fuzz-common.h"
#include "store-handler.h"

static void ticket(const Food__V1__Correlation *corr, const Food__V1__Order *o) {
        const char *why = NULL;
        int r = store_check_ticket(corr, o, &why);
        FUZZ_CHECK(r == 0 || (r == WORKER_POISON && why), "store_check_ticket returned %d", r);
        if (r != 0)
                return;
        char *items = store_items_json(o);
        /* NULL here is taken as out of memory (-ENOMEM): the batch rolls back and the message comes back
         * for ever. A plausible order must always give its lines. */
        FUZZ_CHECK(items != NULL, "no ticket lines for a plausible order %s", o->id);
        json_t *back = json_loads(items, 0, NULL);
        FUZZ_CHECK(back && json_array_size(back) == o->n_items, "ticket lines %s do not read back", items);
        json_decref(back);
        free(items);
        Food__V1__TicketRecorded rep = FOOD__V1__TICKET_RECORDED__INIT;
        rep.corr = (Food__V1__Correlation *)corr;
        rep.store_id = o->store_id;
        rep.status = o->status;
        fuzz_answer(&rep.base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_quiet();
        Food__V1__CommandBatch *b = fuzz_command_batch("store", data, size);
        if (!b)
                return 0;
        for (size_t i = 0; i < b->n_commands; i++) {
                const ProtobufCMessage *m = codec_command_message(b->commands[i]);
                if (m->descriptor == &food__v1__create_ticket__descriptor) {
                        const Food__V1__CreateTicket *c = (const Food__V1__CreateTicket *)m;
                        ticket(c->corr, c->order);
                } else if (m->descriptor == &food__v1__update_ticket__descriptor) {
                        const Food__V1__UpdateTicket *u = (const Food__V1__UpdateTicket *)m;
                        ticket(u->corr, u->order);
                } else {
                        FUZZ_CHECK(m->descriptor == &food__v1__withdraw_ticket__descriptor, "%s in a store batch",
                                   m->descriptor->name);
                        const Food__V1__WithdrawTicket *w = (const Food__V1__WithdrawTicket *)m;
                        if (store_check_withdraw(w) == 0) {
                                Food__V1__TicketWithdrawn rep = FOOD__V1__TICKET_WITHDRAWN__INIT;
                                rep.corr = w->corr;
                                rep.store_id = w->store_id;
                                fuzz_answer(&rep.base);
                        }
                }
        }
        codec_free(&b->base);
        return 0;
}
