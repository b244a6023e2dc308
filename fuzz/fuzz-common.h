/* Shared by the libFuzzer harnesses: quiet logs, the decode steps of the worker loop and of the
 * consumers, the answer a worker sends, and an assertion that reports through abort() so that
 * libFuzzer keeps the input as a crash. */
#pragma once
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec.h"
#include "log.h"
#include "pg.h"
#include "topology.h"

/* Logs below this never print: the handlers warn about every impossible message. */
#define FUZZ_LOG_LEVEL ((LogLevel)(LOG_ERROR + 1))

/* An invariant of the code under test; a failure prints both sides' meaning and aborts. */
#define FUZZ_CHECK(cond, ...)                                                                   \
        do {                                                                                     \
                if (!(cond)) {                                                                   \
                        fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond); \
                        fprintf(stderr, __VA_ARGS__);                                            \
                        fputc('\n', stderr);                                                     \
                        abort();                                                                 \
                }                                                                                \
        } while (0)

static inline void fuzz_quiet(void) {
        static int done;
        if (!done)
                log_setup("fuzz", FUZZ_LOG_LEVEL);
        done = 1;
}

/* What a consumer does with a delivered message: find the type its Food-Type header names
 * (`types[selector % n]`, the header a publisher could set to any registered name) and unpack the
 * payload as that type. NULL when it does not decode; else the caller codec_frees it. Like the
 * worker loop, reads the order id and trace context every message is sorted and traced by. */
static inline ProtobufCMessage *fuzz_decode(const char *const *types, size_t n, uint8_t selector, const uint8_t *data,
                                            size_t len) {
        const CodecType *t = codec_type_by_name(types[selector % n]);
        ProtobufCMessage *m = NULL;
        if (!t || codec_unpack(t->desc, data, len, &m) < 0)
                return NULL;
        (void)codec_order_id(m);
        (void)codec_traceparent(m);
        return m;
}

/* What the worker loop (lib/worker.c, worker_decode) does with a message on food.cmd.<worker>:
 * unpacks it as the CommandBatch its Food-Type names and keeps it only when it fits the subject
 * (every command one of this worker's; notification rows only on the notification worker's).
 * NULL when the worker dead-letters the whole message; else the caller codec_frees it, and every
 * command of it holds a message (codec_command_message) of this worker. */
static inline Food__V1__CommandBatch *fuzz_command_batch(const char *worker, const uint8_t *data, size_t len) {
        char subject[TOPO_SUBJECT_MAX];
        ProtobufCMessage *m = NULL;

        FUZZ_CHECK(topo_command_subject(subject, sizeof(subject), worker) == 0, "no subject for worker %s", worker);
        if (codec_unpack(&food__v1__command_batch__descriptor, data, len, &m) < 0)
                return NULL;
        if (!codec_subject_fits(m, subject)) {
                codec_free(m);
                return NULL;
        }
        Food__V1__CommandBatch *b = (Food__V1__CommandBatch *)m;
        for (size_t i = 0; i < b->n_commands; i++) {
                const ProtobufCMessage *cmd = codec_command_message(b->commands[i]);
                FUZZ_CHECK(cmd && codec_command_worker(b->commands[i]), "command %zu of a batch that fits %s is none",
                           i, subject);
                (void)codec_order_id(cmd);
        }
        return b;
}

/* Packs `m` as the process would publish it and checks that it reads back. */
static inline void fuzz_repack(const ProtobufCMessage *m) {
        uint8_t *buf = NULL;
        size_t len = 0;
        ProtobufCMessage *back = NULL;
        FUZZ_CHECK(codec_pack(m, &buf, &len) == 0, "packing %s failed", m->descriptor->name);
        FUZZ_CHECK(codec_unpack(m->descriptor, buf, len, &back) == 0, "%s does not read back", m->descriptor->name);
        codec_free(back);
        free(buf);
}

/* A handler's answer `reply` to a command, as worker_answer wraps it into a food.v1.Reply (a type
 * that is not one makes the handler fail, and the batch come back for ever) and the worker loop
 * sends it inside a ReplyBatch; checks that the orchestrator reads it back as that reply, with
 * the command's correlation. */
static inline void fuzz_answer(const ProtobufCMessage *reply) {
        Food__V1__Reply r;
        Food__V1__Reply *rp = &r;
        Food__V1__ReplyBatch b = FOOD__V1__REPLY_BATCH__INIT;
        ProtobufCMessage *back = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;

        FUZZ_CHECK(codec_reply_wrap(&r, reply) == 0, "%s is not a reply", reply->descriptor->name);
        b.replies = &rp;
        b.n_replies = 1;
        FUZZ_CHECK(codec_pack(&b.base, &buf, &len) == 0, "packing the answer failed");
        FUZZ_CHECK(codec_unpack(&food__v1__reply_batch__descriptor, buf, len, &back) == 0,
                   "the answer %s does not read back", reply->descriptor->name);
        const Food__V1__ReplyBatch *rb = (const Food__V1__ReplyBatch *)back;
        const ProtobufCMessage *m = rb->n_replies == 1 ? codec_reply_message(rb->replies[0]) : NULL;
        FUZZ_CHECK(m && m->descriptor == reply->descriptor, "the answer %s reads back as another",
                   reply->descriptor->name);
        FUZZ_CHECK((codec_correlation(m) != NULL) == (codec_correlation(reply) != NULL),
                   "the answer lost or gained its correlation");
        codec_free(back);
        free(buf);
}

/* Reads a 4-byte big-endian integer of a PostgreSQL binary value. */
static inline uint32_t fuzz_be32(const uint8_t *p) {
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A statement parameter built by PgArray (lib/pg.c) as PostgreSQL reads it: a binary array of
 * `rows` elements (no dimension when empty) whose element lengths add up to exactly `len` bytes. */
static inline void fuzz_pg_array_check(const char *what, const char *data, int len, int32_t rows) {
        const uint8_t *p = (const uint8_t *)data;
        FUZZ_CHECK(p && len >= 12, "%s: %d bytes", what, len);
        uint32_t ndim = fuzz_be32(p);
        FUZZ_CHECK(ndim == (rows ? 1u : 0u), "%s: %u dimensions for %d rows", what, ndim, rows);
        size_t pos = 12;
        if (ndim == 1) {
                FUZZ_CHECK(len >= 20 && fuzz_be32(p + 12) == (uint32_t)rows && fuzz_be32(p + 16) == 1,
                           "%s: dimension of %u rows for %d", what, len >= 20 ? fuzz_be32(p + 12) : 0, rows);
                pos = 20;
        }
        for (int32_t i = 0; i < rows; i++) {
                FUZZ_CHECK(pos + 4 <= (size_t)len, "%s: element %d past the end", what, i);
                uint32_t n = fuzz_be32(p + pos);
                pos += 4;
                if (n == UINT32_MAX)
                        continue; /* NULL */
                FUZZ_CHECK(n <= (size_t)len - pos, "%s: element %d of %u bytes past the end", what, i, n);
                pos += n;
        }
        FUZZ_CHECK(pos == (size_t)len, "%s: %zu bytes of %d read", what, pos, len);
}

/* Every parameter of `call` (a statement over arrays of the same length) with `rows` rows. */
static inline void fuzz_pg_call_check(const PgCall *call, int32_t rows) {
        FUZZ_CHECK(call->st && call->n > 0, "a call without statement or parameters");
        for (int i = 0; i < call->n; i++) {
                FUZZ_CHECK(call->fmts && call->fmts[i] == 1 && call->lens, "%s: parameter %d not binary",
                           call->st->name, i);
                fuzz_pg_array_check(call->st->name, call->vals[i], call->lens[i], rows);
        }
}
