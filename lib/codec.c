/* Message registry and the single protobuf pack/unpack path. */
#include "codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T(name, ...) {&food__v1__##name##__descriptor, __VA_ARGS__, NULL}
#define RPC(name, verb) {&food__v1__##name##__descriptor, {FOOD_PREFIX ".rpc.orders.*." verb, NULL}, verb}
/* Appended to, never reordered: a saga's history names a type by its place here (orchestrator/saga-row.c). */
static const CodecType codec_types[] = {
        T(command_batch, {FOOD_PREFIX ".cmd.*", TOPO_DIRECT_SUBJECTS}),
        T(reply_batch, {FOOD_PREFIX ".ans.*", NULL}),
        T(order_status_changed, {TOPO_ARCHIVE_SUBJECTS, NULL}),
        RPC(place_order, "place"),
        RPC(order_action, "action"),
        RPC(modify_order, "modify"),
        RPC(grant_coupon, "coupon"),
        {&food__v1__saga_query__descriptor, {FOOD_PREFIX ".rpc.orders.*.saga", TOPO_RPC_STUCK}, "saga"},
        T(rpc_reply, {NULL, NULL}),
        /* Travelling inside batches: named by the Food-Type of a single command's dead letter. */
        T(authorize_payment, {NULL, NULL}),
        T(refund_payment, {NULL, NULL}),
        T(create_ticket, {NULL, NULL}),
        T(update_ticket, {NULL, NULL}),
        T(withdraw_ticket, {NULL, NULL}),
        T(open_delivery, {NULL, NULL}),
        T(assign_rider, {NULL, NULL}),
        T(complete_delivery, {NULL, NULL}),
        T(redeem_coupon, {NULL, NULL}),
        T(return_coupon, {NULL, NULL}),
        T(issue_coupon, {NULL, NULL}),
        /* Answers, inside ReplyBatch: named in the sagas' histories. */
        T(payment_authorized, {NULL, NULL}),
        T(payment_declined, {NULL, NULL}),
        T(payment_failed, {NULL, NULL}),
        T(payment_refunded, {NULL, NULL}),
        T(ticket_recorded, {NULL, NULL}),
        T(ticket_withdrawn, {NULL, NULL}),
        T(delivery_recorded, {NULL, NULL}),
        T(coupon_redeemed, {NULL, NULL}),
        T(coupon_rejected, {NULL, NULL}),
        T(coupon_returned, {NULL, NULL}),
        T(coupon_issued, {NULL, NULL}),
        /* The read side: gateway -> reader (food.read.<query>) and its answer to the gateway's inbox. */
        T(read_query, {TOPO_READ_SUBJECTS, NULL}),
        T(read_rows, {NULL, NULL}),
};
#undef T
#undef RPC

const CodecType *codec_type_by_name(const char *name) {
        for (size_t i = 0; name && i < sizeof(codec_types) / sizeof(codec_types[0]); i++)
                if (strcmp(codec_types[i].desc->name, name) == 0)
                        return &codec_types[i];
        return NULL;
}

const CodecType *codec_type_by_desc(const ProtobufCMessageDescriptor *desc) {
        for (size_t i = 0; i < sizeof(codec_types) / sizeof(codec_types[0]); i++)
                if (codec_types[i].desc == desc)
                        return &codec_types[i];
        return NULL;
}

const CodecType *codec_type_at(size_t i) {
        return i < sizeof(codec_types) / sizeof(codec_types[0]) ? &codec_types[i] : NULL;
}

/* Which worker each command of a batch goes to, by its oneof case. */
static const struct {
        Food__V1__Command__CommandCase c;
        const char *worker;
} codec_commands[] = {
        {FOOD__V1__COMMAND__COMMAND_AUTHORIZE_PAYMENT, "payment"},
        {FOOD__V1__COMMAND__COMMAND_REFUND_PAYMENT, "payment"},
        {FOOD__V1__COMMAND__COMMAND_CREATE_TICKET, "store"},
        {FOOD__V1__COMMAND__COMMAND_UPDATE_TICKET, "store"},
        {FOOD__V1__COMMAND__COMMAND_WITHDRAW_TICKET, "store"},
        {FOOD__V1__COMMAND__COMMAND_OPEN_DELIVERY, "delivery"},
        {FOOD__V1__COMMAND__COMMAND_ASSIGN_RIDER, "delivery"},
        {FOOD__V1__COMMAND__COMMAND_COMPLETE_DELIVERY, "delivery"},
        {FOOD__V1__COMMAND__COMMAND_REDEEM_COUPON, "coupon"},
        {FOOD__V1__COMMAND__COMMAND_RETURN_COUPON, "coupon"},
        {FOOD__V1__COMMAND__COMMAND_ISSUE_COUPON, "coupon"},
};

/* The oneof member of a message (a Command or a Reply) whose field number is `case_value`, or NULL. */
static const ProtobufCMessage *codec_oneof_member(const ProtobufCMessage *m, uint32_t case_value) {
        const ProtobufCMessageDescriptor *d = m->descriptor;
        for (unsigned i = 0; i < d->n_fields; i++)
                if (d->fields[i].id == case_value && d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
                        return *(ProtobufCMessage *const *)((const char *)m + d->fields[i].offset);
        return NULL;
}

/* Sets the oneof member of `m` that holds a message of `sub`'s type: 0 or -EINVAL. */
static int codec_oneof_set(ProtobufCMessage *m, const ProtobufCMessage *sub) {
        const ProtobufCMessageDescriptor *d = m->descriptor;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->descriptor == sub->descriptor &&
                    (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
                        *(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
                        *(const ProtobufCMessage **)((char *)m + f->offset) = sub;
                        return 0;
                }
        }
        return -EINVAL;
}

const ProtobufCMessage *codec_command_message(const Food__V1__Command *c) {
        return c && c->command_case ? codec_oneof_member(&c->base, (uint32_t)c->command_case) : NULL;
}

const char *codec_command_worker(const Food__V1__Command *c) {
        for (size_t i = 0; c && i < sizeof(codec_commands) / sizeof(codec_commands[0]); i++)
                if (codec_commands[i].c == c->command_case)
                        return codec_command_message(c) ? codec_commands[i].worker : NULL;
        return NULL;
}

int codec_command_wrap(Food__V1__Command *c, const ProtobufCMessage *m) {
        food__v1__command__init(c);
        return codec_oneof_set(&c->base, m);
}

const ProtobufCMessage *codec_reply_message(const Food__V1__Reply *r) {
        return r && r->reply_case ? codec_oneof_member(&r->base, (uint32_t)r->reply_case) : NULL;
}

int codec_reply_wrap(Food__V1__Reply *r, const ProtobufCMessage *m) {
        food__v1__reply__init(r);
        return codec_oneof_set(&r->base, m);
}

bool codec_subject_fits(const ProtobufCMessage *m, const char *subject) {
        const CodecType *t = m ? codec_type_by_desc(m->descriptor) : NULL;
        char token[TOPO_SUBJECT_MAX];
        bool fits = false;

        if (!t || !subject)
                return false;
        for (int i = 0; i < 2 && !fits; i++)
                fits = t->subjects[i] && topo_subject_matches(t->subjects[i], subject);
        if (!fits)
                return false;
        if (m->descriptor == &food__v1__order_status_changed__descriptor)
                return topo_token(subject, 2, token, sizeof(token)) == 0 && strcmp(token, codec_order_id(m)) == 0;
        if (m->descriptor == &food__v1__command_batch__descriptor) {
                const Food__V1__CommandBatch *b = (const Food__V1__CommandBatch *)m;
                if (topo_token(subject, 2, token, sizeof(token)) < 0)
                        return false;
                for (size_t i = 0; i < b->n_commands; i++) {
                        const char *w = codec_command_worker(b->commands[i]);
                        if (!w || strcmp(w, token) != 0)
                                return false;
                }
                return b->n_notifications == 0 || strcmp(token, "notification") == 0;
        }
        return true;
}

int codec_pack(const ProtobufCMessage *m, uint8_t **ret, size_t *ret_len) {
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf)
                return -ENOMEM;
        protobuf_c_message_pack(m, buf);
        *ret = buf;
        *ret_len = n;
        return 0;
}

/* Drops the fields this version does not know, in `m` and every message in
 * it. Nothing reads them, and a message repacked with them may not decode
 * again: protobuf-c keeps a field numbered 0 when unpacking but refuses it
 * when it reads it back (the fuzzers found a reply built from such a
 * command's correlation that the orchestrator could not decode). */
static void codec_strip_unknown(ProtobufCMessage *m) {
        const ProtobufCMessageDescriptor *d = m->descriptor;

        for (unsigned i = 0; i < m->n_unknown_fields; i++)
                free(m->unknown_fields[i].data); /* NULL allocator: the system one */
        free(m->unknown_fields);
        m->unknown_fields = NULL;
        m->n_unknown_fields = 0;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                char *at = (char *)m + f->offset;
                if (f->type != PROTOBUF_C_TYPE_MESSAGE)
                        continue;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(size_t *)((char *)m + f->quantifier_offset);
                        ProtobufCMessage **sub = *(ProtobufCMessage ***)at;
                        for (size_t k = 0; k < n; k++)
                                if (sub[k])
                                        codec_strip_unknown(sub[k]);
                } else if (*(ProtobufCMessage **)at) {
                        codec_strip_unknown(*(ProtobufCMessage **)at);
                }
        }
}

int codec_unpack(const ProtobufCMessageDescriptor *desc, const void *data, size_t len, ProtobufCMessage **ret) {
        ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);
        if (!m)
                return -EBADMSG;
        codec_strip_unknown(m);
        *ret = m;
        return 0;
}

void codec_free(ProtobufCMessage *m) {
        if (m)
                protobuf_c_message_free_unpacked(m, NULL);
}

Food__V1__Correlation *codec_correlation(const ProtobufCMessage *m) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "corr");
        if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || f->descriptor != &food__v1__correlation__descriptor)
                return NULL;
        return *(Food__V1__Correlation *const *)((const char *)m + f->offset);
}

/* The "order" field of a message, or NULL. */
static const Food__V1__Order *codec_order_field(const ProtobufCMessage *m) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "order");
        if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || f->descriptor != &food__v1__order__descriptor)
                return NULL;
        return *(Food__V1__Order *const *)((const char *)m + f->offset);
}

const char *codec_traceparent(const ProtobufCMessage *m) {
        const Food__V1__Correlation *corr = m ? codec_correlation(m) : NULL;
        const Food__V1__Order *o = m ? codec_order_field(m) : NULL;
        if (corr && corr->traceparent && *corr->traceparent)
                return corr->traceparent;
        if (o && o->traceparent)
                return o->traceparent;
        return "";
}

const char *codec_order_id(const ProtobufCMessage *m) {
        const Food__V1__Correlation *corr;
        const Food__V1__Order *o;

        if (!m)
                return "";
        corr = codec_correlation(m);
        if (corr && corr->order_id)
                return corr->order_id;
        o = codec_order_field(m);
        return o && o->id ? o->id : "";
}
