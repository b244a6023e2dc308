/* Message registry and the single protobuf pack/unpack path. */
#include "codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T(name, subj) {&food__v1__##name##__descriptor, subj}
static const CodecType codec_types[] = {
        T(authorize_payment, FOOD_PREFIX ".cmd.payment.authorize"),
        T(refund_payment, FOOD_PREFIX ".cmd.payment.refund"),
        T(payment_authorized, FOOD_PREFIX ".evt.payment.authorized"),
        T(payment_declined, FOOD_PREFIX ".evt.payment.declined"),
        T(payment_failed, FOOD_PREFIX ".evt.payment.failed"),
        T(payment_refunded, FOOD_PREFIX ".evt.payment.refunded"),
        T(create_ticket, FOOD_PREFIX ".cmd.store.create_ticket"),
        T(update_ticket, FOOD_PREFIX ".cmd.store.update_ticket"),
        T(withdraw_ticket, FOOD_PREFIX ".cmd.store.withdraw_ticket"),
        T(ticket_recorded, FOOD_PREFIX ".evt.store.ticket_recorded"),
        T(ticket_withdrawn, FOOD_PREFIX ".evt.store.ticket_withdrawn"),
        T(open_delivery, FOOD_PREFIX ".cmd.delivery.open"),
        T(assign_rider, FOOD_PREFIX ".cmd.delivery.assign"),
        T(complete_delivery, FOOD_PREFIX ".cmd.delivery.complete"),
        T(cancel_delivery, FOOD_PREFIX ".cmd.delivery.cancel"),
        T(delivery_recorded, FOOD_PREFIX ".evt.delivery.recorded"),
        T(redeem_coupon, FOOD_PREFIX ".cmd.coupon.redeem"),
        T(return_coupon, FOOD_PREFIX ".cmd.coupon.return"),
        T(issue_coupon, FOOD_PREFIX ".cmd.coupon.issue"),
        T(record_completion, FOOD_PREFIX ".cmd.coupon.record_completion"),
        T(coupon_redeemed, FOOD_PREFIX ".evt.coupon.redeemed"),
        T(coupon_rejected, FOOD_PREFIX ".evt.coupon.rejected"),
        T(coupon_returned, FOOD_PREFIX ".evt.coupon.returned"),
        T(coupon_issued, FOOD_PREFIX ".evt.coupon.issued"),
        T(loyalty_updated, FOOD_PREFIX ".evt.coupon.loyalty_updated"),
        T(notify_customer, FOOD_PREFIX ".cmd.notification.send"),
        T(notification_sent, FOOD_PREFIX ".evt.notification.sent"),
        T(order_status_changed, NULL),
        T(place_order, FOOD_PREFIX ".rpc.orders.place"),
        T(order_action, FOOD_PREFIX ".rpc.orders.action"),
        T(modify_order, FOOD_PREFIX ".rpc.orders.modify"),
        T(rpc_reply, NULL),
        T(saga_query, FOOD_PREFIX ".rpc.sagas.query"),
};
#undef T

const CodecType *codec_type_by_name(const char *name) {
        for (size_t i = 0; i < sizeof(codec_types) / sizeof(codec_types[0]); i++)
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

int codec_subject(const ProtobufCMessageDescriptor *desc, const char *order_id, char *buf, size_t cap) {
        const CodecType *t = codec_type_by_desc(desc);
        int n;

        if (!t)
                return -EINVAL;
        if (t->subject)
                n = snprintf(buf, cap, "%s", t->subject);
        else if (desc == &food__v1__order_status_changed__descriptor && order_id && *order_id &&
                 !strpbrk(order_id, ". *>"))
                n = snprintf(buf, cap, FOOD_PREFIX ".order.%s.status", order_id);
        else
                return -EINVAL;
        return (n < 0 || (size_t)n >= cap) ? -EINVAL : 0;
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
