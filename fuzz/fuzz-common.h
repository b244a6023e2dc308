/* Shared by the libFuzzer harnesses: quiet logs, the worker loop's decode step, and an assertion
 * that reports through abort() so that libFuzzer keeps the input as a crash. */
#pragma once
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec.h"
#include "log.h"

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

/* The usual input: the first byte picks the Food-Type among `types`, the rest is the payload
 * (fuzz_decode). Quiets the logs; NULL for an empty input or one that does not decode. */
static inline ProtobufCMessage *fuzz_input(const char *const *types, size_t n, const uint8_t *data, size_t size) {
        fuzz_quiet();
        return size < 1 ? NULL : fuzz_decode(types, n, data[0], data + 1, size - 1);
}
#define FUZZ_INPUT(types, data, size) fuzz_input((types), sizeof(types) / sizeof((types)[0]), (data), (size))

/* Packs `m` as the process would publish it (a reply or a command) and checks that it reads back. */
static inline void fuzz_repack(const ProtobufCMessage *m) {
        uint8_t *buf = NULL;
        size_t len = 0;
        ProtobufCMessage *back = NULL;
        FUZZ_CHECK(codec_pack(m, &buf, &len) == 0, "packing %s failed", m->descriptor->name);
        FUZZ_CHECK(codec_unpack(m->descriptor, buf, len, &back) == 0, "%s does not read back", m->descriptor->name);
        codec_free(back);
        free(buf);
}
