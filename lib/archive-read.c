/* The analytics archive reader: an ordered ephemeral push consumer on FOOD_ORDER. */
#include "archive-read.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "codec.h"
#include "log.h"

/* A time-based start asks the stream for messages stored this much earlier, then keeps only the
 * events whose own time is at or after `since`: the stream's clock may differ from the
 * orchestrator's by a little. */
#define ARCHIVE_TIME_MARGIN_MS 5000

struct ArchiveReader {
        jsCtx *js;
        natsSubscription *sub;
        ExportStart start;
        uint64_t end_seq; /* last sequence to return */
        bool done;
        natsMsg *msg;                       /* the current event's message */
        natsMsg *ahead;                     /* a message read past the end, kept for archive_extend */
        ProtobufCMessage *decoded;          /* the current event */
};

static int archive_last_seq(jsCtx *js, uint64_t *last_seq, int64_t *last_ns) {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_GetStreamInfo(&si, js, ARCHIVE_STREAM, NULL, &jerr);
        if (s != NATS_OK)
                return bus_errno(s);
        *last_seq = si->State.Msgs > 0 ? si->State.LastSeq : 0;
        *last_ns = si->State.LastTime;
        jsStreamInfo_Destroy(si);
        return 0;
}

int archive_open(ArchiveReader **ret, Bus *bus, const ExportStart *start) {
        ArchiveReader *r = calloc(1, sizeof(*r));
        jsSubOptions so;
        jsErrCode jerr = 0;
        int64_t last_ns = 0;
        natsStatus s;
        int e;

        if (!r)
                return -ENOMEM;
        r->start = *start;
        s = natsConnection_JetStream(&r->js, bus_conn(bus), NULL);
        if (s != NATS_OK) {
                e = bus_errno(s);
                goto fail;
        }
        e = archive_last_seq(r->js, &r->end_seq, &last_ns);
        if (e < 0)
                goto fail;
        /* Nothing after the start: no consumer needed. */
        if (r->end_seq == 0 || (!start->by_time && start->after_seq >= r->end_seq) ||
            (start->by_time && last_ns / 1000000 < start->since_ms - ARCHIVE_TIME_MARGIN_MS)) {
                r->done = true;
                *ret = r;
                return 0;
        }
        jsSubOptions_Init(&so);
        so.Stream = ARCHIVE_STREAM;
        so.Ordered = true;
        if (start->by_time) {
                so.Config.DeliverPolicy = js_DeliverByStartTime;
                so.Config.OptStartTime = (start->since_ms - ARCHIVE_TIME_MARGIN_MS) * 1000000LL;
        } else if (start->after_seq > 0) {
                so.Config.DeliverPolicy = js_DeliverByStartSequence;
                so.Config.OptStartSeq = start->after_seq + 1;
        } else {
                so.Config.DeliverPolicy = js_DeliverAll;
        }
        s = js_SubscribeSync(&r->sub, r->js, ARCHIVE_SUBJECTS, NULL, &so, &jerr);
        if (s != NATS_OK) {
                e = bus_errno(s);
                log_warn("archive: cannot read %s: %s (js error %d)", ARCHIVE_STREAM, nats_GetLastError(NULL),
                         (int)jerr);
                goto fail;
        }
        *ret = r;
        return 0;
fail:
        archive_close(r);
        return e;
}

uint64_t archive_end_seq(const ArchiveReader *r) {
        return r->end_seq;
}

int archive_extend(ArchiveReader *r) {
        int64_t last_ns;
        uint64_t last = 0;
        int e = archive_last_seq(r->js, &last, &last_ns);
        if (e < 0)
                return e;
        if (last > r->end_seq) {
                r->end_seq = last;
                /* A reader that never subscribed (it was empty) stays empty: callers
                 * extend only readers that were reading. */
                if (r->sub)
                        r->done = false;
        }
        return 0;
}

/* After a silence: true when the consumer has nothing left to deliver (the last stored messages
 * are outside ARCHIVE_SUBJECTS), so the silence is the end rather than a failure. */
static bool archive_drained(ArchiveReader *r) {
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        bool drained = false;
        if (natsSubscription_GetConsumerInfo(&ci, r->sub, NULL, &jerr) == NATS_OK)
                drained = ci->NumPending == 0 && ci->NumAckPending == 0;
        jsConsumerInfo_Destroy(ci);
        return drained;
}

static void archive_release_current(ArchiveReader *r) {
        codec_free(r->decoded);
        r->decoded = NULL;
        natsMsg_Destroy(r->msg);
        r->msg = NULL;
}

int archive_next(ArchiveReader *r, ArchiveEvent *ev, int64_t timeout_ms) {
        archive_release_current(r);
        while (!r->done) {
                jsMsgMetaData *meta = NULL;
                natsMsg *msg = r->ahead;
                const char *type;
                const CodecType *ct;
                uint64_t seq, pending;
                natsStatus s = NATS_OK;

                r->ahead = NULL;
                if (!msg)
                        s = natsSubscription_NextMsg(&msg, r->sub, timeout_ms);
                if (s == NATS_TIMEOUT && archive_drained(r)) {
                        r->done = true;
                        break;
                }
                if (s != NATS_OK)
                        return bus_errno(s);
                s = natsMsg_GetMetaData(&meta, msg);
                if (s != NATS_OK) {
                        natsMsg_Destroy(msg);
                        return bus_errno(s);
                }
                seq = meta->Sequence.Stream;
                pending = meta->NumPending;
                jsMsgMetaData_Destroy(meta);
                if (seq > r->end_seq) {
                        r->ahead = msg; /* the next one after an extension */
                        r->done = true;
                        break;
                }
                /* Only the sequence tells the end: NumPending is the count when the server pushed the
                 * message, and later events may have been stored since. */
                (void)pending;
                if (seq >= r->end_seq)
                        r->done = true;
                type = bus_header(msg, BUS_HDR_TYPE);
                ct = type ? codec_type_by_name(type) : NULL;
                if (!ct || ct->desc != &food__v1__order_status_changed__descriptor) {
                        log_warn("archive: seq %llu is not an OrderStatusChanged (%s), skipped", (unsigned long long)seq,
                                 type ? type : "no Food-Type");
                        natsMsg_Destroy(msg);
                        continue;
                }
                if (codec_unpack(ct->desc, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &r->decoded) <
                            0 ||
                    !((Food__V1__OrderStatusChanged *)r->decoded)->order) {
                        log_warn("archive: seq %llu does not decode, skipped", (unsigned long long)seq);
                        codec_free(r->decoded);
                        r->decoded = NULL;
                        natsMsg_Destroy(msg);
                        continue;
                }
                const Food__V1__OrderStatusChanged *e = (const Food__V1__OrderStatusChanged *)r->decoded;
                if (r->start.by_time && (e->at_ms > 0 ? e->at_ms : e->order->updated_at_ms) < r->start.since_ms) {
                        codec_free(r->decoded);
                        r->decoded = NULL;
                        natsMsg_Destroy(msg);
                        continue;
                }
                r->msg = msg;
                ev->seq = seq;
                ev->type = type;
                ev->ev = e;
                return 1;
        }
        return 0;
}

void archive_close(ArchiveReader *r) {
        if (!r)
                return;
        archive_release_current(r);
        natsMsg_Destroy(r->ahead);
        if (r->sub) {
                natsSubscription_Unsubscribe(r->sub);
                natsSubscription_Destroy(r->sub);
        }
        jsCtx_Destroy(r->js);
        free(r);
}
