/* The one protobuf codec path: message registry (type name <-> descriptor <->
 * subject), packing, and checked unpacking of NATS payloads. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "food.pb-c.h"

#define CODEC_SUBJECT_MAX 128

/* Subject prefix of the whole system; see README "Subjects and streams". */
#define FOOD_PREFIX "food"

typedef struct {
        const ProtobufCMessageDescriptor *desc;
        const char *subject; /* fixed subject, or NULL for per-order subjects */
} CodecType;

/* Looks up a registered type by its full protobuf name (e.g.
 * "food.v1.AuthorizePayment", the Food-Type header). NULL if unknown. */
const CodecType *codec_type_by_name(const char *name);
const CodecType *codec_type_by_desc(const ProtobufCMessageDescriptor *desc);
/* The i-th registered type (0-based), NULL past the last: to list them all. */
const CodecType *codec_type_at(size_t i);

/* Writes the subject a message of `desc` is published on; per-order messages
 * (OrderStatusChanged) use `order_id`. Returns 0 or -EINVAL. */
int codec_subject(const ProtobufCMessageDescriptor *desc, const char *order_id, char *buf, size_t cap);

/* Packs `m` into a new malloc'ed buffer (*ret owned by the caller). */
int codec_pack(const ProtobufCMessage *m, uint8_t **ret, size_t *ret_len);

/* Unpacks `len` bytes as `desc`. Returns 0 with *ret owned by the caller (free
 * with codec_free), or -EBADMSG when the bytes are not a valid message. */
int codec_unpack(const ProtobufCMessageDescriptor *desc, const void *data, size_t len, ProtobufCMessage **ret);
void codec_free(ProtobufCMessage *m);

/* The order a message is about: its correlation's order id, else the id of
 * its "order" field, else "" (never NULL; borrowed from m). m may be NULL. */
const char *codec_order_id(const ProtobufCMessage *m);

/* The W3C trace context a message carries: its correlation's, else its
 * order's, else "" (never NULL; borrowed from m). */
const char *codec_traceparent(const ProtobufCMessage *m);

/* The Correlation carried in field "corr" of a command or reply, or NULL. */
Food__V1__Correlation *codec_correlation(const ProtobufCMessage *m);
