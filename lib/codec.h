/* The one protobuf codec path: message registry (type name <-> descriptor <->
 * subject), packing, and checked unpacking of NATS payloads. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "food.pb-c.h"

#include "topology.h"

#define CODEC_SUBJECT_MAX TOPO_SUBJECT_MAX

/* Subject prefix of the whole system; see README "Subjects and streams". */
#define FOOD_PREFIX TOPO_PREFIX

typedef struct {
        const ProtobufCMessageDescriptor *desc;
        /* Subject patterns (lib/topology.h) a message of this type travels on alone; NULL
         * entries for none (a command or reply travels inside a batch, an RpcReply to an inbox). */
        const char *subjects[2];
        const char *verb; /* RPC requests: the last token of their subject */
} CodecType;

/* Looks up a registered type by its full protobuf name (e.g.
 * "food.v1.AuthorizePayment", the Food-Type header). NULL if unknown. */
const CodecType *codec_type_by_name(const char *name);
const CodecType *codec_type_by_desc(const ProtobufCMessageDescriptor *desc);
/* The i-th registered type (0-based), NULL past the last: to list them all. */
const CodecType *codec_type_at(size_t i);

/* Whether `subject` is one a message like `m` travels on: its type's pattern,
 * and what the subject names of it (the order of a status event, the worker of
 * every command of a batch). */
bool codec_subject_fits(const ProtobufCMessage *m, const char *subject);

/* The worker a batched command goes to ("payment", "store", ...), or NULL when
 * it holds no known command. */
const char *codec_command_worker(const Food__V1__Command *c);
/* The command inside `c` (its oneof member), or NULL. */
const ProtobufCMessage *codec_command_message(const Food__V1__Command *c);
/* Wraps `m` (borrowed; a command type) into `c`: 0, or -EINVAL for another type. */
int codec_command_wrap(Food__V1__Command *c, const ProtobufCMessage *m);
/* The reply inside `r`, or NULL; and the wrapping of a reply type. */
const ProtobufCMessage *codec_reply_message(const Food__V1__Reply *r);
int codec_reply_wrap(Food__V1__Reply *r, const ProtobufCMessage *m);

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
