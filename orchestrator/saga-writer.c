/* The batch writer: takes the shards it can (a session advisory lock each, on
 * its one writing connection), keeps their unsettled sagas in memory, and in a
 * loop decides every input that arrived (RPCs, workers' answers, due timers)
 * with the engine, writes everything they changed in one transaction, and only
 * then answers and publishes. A session lost is every shard lost: memory is
 * dropped and rebuilt from PostgreSQL once the locks are taken again, so a
 * process that was cut off can never write past another owner. */
#include "saga-writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "log.h"
#include "metrics.h"

#define WRITER_LOCK_EVERY_MS 250   /* how often shards nobody holds are tried */
#define WRITER_STALL_S 20          /* a writing session that has not moved this long is ended by a replica */
#define WRITER_STALL_EVERY_MS 5000 /* how often a replica without every shard looks for one */
#define WRITER_SHARE_EVERY_MS 5000 /* how often a replica counts the others and hands over shards above its part */
#define WRITER_HANDOVER_MS 5000    /* a shard handed over waits at most this long for its requests' outcomes */
#define WRITER_IDLE_PING_MS 2000   /* an idle session is checked this often */
#define WRITER_SCAN_EVERY_MS 100   /* timers and re-sends are looked at this often */
#define WRITER_LOOSE_EVERY_MS 5000 /* loose commands still unconfirmed are looked for this often */
#define WRITER_LOOSE_RESEND_S 10   /* and sent again once this old (migrations/009_loose_commands.sql) */
#define WRITER_FLUSH_MS 2000       /* waiting for JetStream to confirm a batch's publishes */
#define WRITER_REPUBLISH_MS 1000   /* then the unconfirmed commands are sent again this much later */
#define WRITER_STOP_MS 1000        /* at SIGTERM: deciding what was already taken before letting go */
#define WRITER_MESSAGE_PARTS 256   /* commands and rows of one CommandBatch message at most */
#define WRITER_MESSAGE_BYTES (256 * 1024)
#define WRITER_INPUT_STALE_MS 30000 /* an input undecided this long is dropped: nobody waits, commands are re-sent */
#define WRITER_DIRECT_OFF_MS 1000   /* nobody listened on a direct subject: first tries go through JetStream this long */
#define WRITER_AWAIT_DIRECT_US 1500 /* the next batch waits this long at most for the answers to the direct tries */
#define WRITER_NATS_LOST_MS 5000    /* NATS out of reach this long: the shards are given up for a replica that has it */

static Metric *m_batches, *m_inputs, *m_events, *m_failed_batches, *m_shards, *m_sagas, *m_direct_unheard;
/* Where the writer's time goes, per phase of its loop (microseconds): waiting for direct answers, deciding
 * a batch, writing it (PostgreSQL's round trip, the commit included), handing its messages over. */
static Metric *m_await_us, *m_decide_us, *m_write_us, *m_send_us, *m_await_missed;

/* ---- the input queue (filled by the NATS delivery thread) ------------------- */

/* Queues `msg` (NULL: nothing, e.g. a "no responders" already noted) for the writer; `direct`: an answer to a
 * direct try, counted for writer_await_direct. */
static void writer_enqueue(Writer *w, InputKind kind, natsMsg *msg, bool direct) {
        Input *in = msg ? calloc(1, sizeof(*in)) : NULL;
        if (msg && !in)
                natsMsg_Destroy(msg);
        if (in) {
                in->kind = kind;
                in->msg = msg;
                in->at_ms = ids_now_ms();
        }
        pthread_mutex_lock(&w->lock);
        if (in) {
                if (w->tail)
                        w->tail->next = in;
                else
                        w->head = in;
                w->tail = in;
                w->queued++;
        }
        if (direct)
                atomic_fetch_add(&w->direct_answered, 1);
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

static void on_rpc(void *closure, natsMsg *msg) {
        const char *form = bus_header(msg, BUS_HDR_ANSWER_FORM);
        if (!form || strcmp(form, BUS_ANSWER_VIEW) != 0)
                engine_reply_legacy_seen(ids_now_ms());
        writer_enqueue(closure, IN_RPC, msg, false);
}

static void on_answers(void *closure, natsMsg *msg) {
        writer_enqueue(closure, IN_ANSWERS, msg, false);
}

/* An answer to a direct try, or nats-server's "no responders" to one that no worker listened for (its
 * reply subject): counted once queued, for writer_await_direct. */
static void on_direct_answers(void *closure, natsMsg *msg) {
        Writer *w = closure;
        if (bus_no_responders(msg)) {
                natsMsg_Destroy(msg);
                metric_add(m_direct_unheard, 1);
                atomic_store(&w->direct_unheard, true);
                msg = NULL;
        }
        writer_enqueue(w, IN_ANSWERS, msg, true);
}

static void on_stuck(void *closure, natsMsg *msg) {
        writer_enqueue(closure, IN_STUCK, msg, false);
}

static bool writer_queued(Writer *w) {
        pthread_mutex_lock(&w->lock);
        bool any = w->head != NULL;
        pthread_mutex_unlock(&w->lock);
        return any;
}

/* Takes up to `max` inputs, waiting until `until_ms` for the first. */
static Input *writer_take(Writer *w, int max, int64_t until_ms) {
        Input *first, *last;
        int n = 1;
        pthread_mutex_lock(&w->lock);
        while (!w->head && !service_stopping) {
                int64_t left = until_ms - ids_now_ms();
                if (left <= 0)
                        break;
                struct timespec ts = ids_deadline(CLOCK_REALTIME, left);
                if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0)
                        break;
        }
        first = last = w->head;
        if (!first) {
                pthread_mutex_unlock(&w->lock);
                return NULL;
        }
        while (last->next && n < max) {
                last = last->next;
                n++;
        }
        w->head = last->next;
        if (!w->head)
                w->tail = NULL;
        w->queued -= (size_t)n;
        last->next = NULL;
        pthread_mutex_unlock(&w->lock);
        return first;
}

static void inputs_free(Input *in) {
        while (in) {
                Input *next = in->next;
                natsMsg_Destroy(in->msg);
                free(in);
                in = next;
        }
}

/* ---- shards ----------------------------------------------------------------------------- */

static void adopt_saga(void *ud, SagaRow *row) {
        Writer *w = ud;
        SagaRow *old = writer_table_find(w, row->order_id);
        if (old) { /* cannot happen for a shard just taken; keep what memory has */
                writer_saga_free(row);
                return;
        }
        /* Whatever it still waits for is asked again at once. */
        for (size_t i = 0; i < row->n_commands; i++)
                if (row->commands[i].next_try_ms)
                        row->commands[i].next_try_ms = ids_now_ms();
        writer_table_add(w, row);
}

static void adopt_event(void *ud, SagaEvent *ev) {
        Writer *w = ud;
        if (w->n_unpublished == w->cap_unpublished) {
                size_t c = w->cap_unpublished ? w->cap_unpublished * 2 : 64;
                SagaEvent *p = realloc(w->unpublished, c * sizeof(*p));
                if (!p) {
                        free(ev->payload);
                        return;
                }
                w->unpublished = p;
                w->cap_unpublished = c;
        }
        w->unpublished[w->n_unpublished++] = *ev;
}

static int writer_settle(Writer *w);

/* Everything this process held is another's now, or will be: forget it all, and end the session
 * (the locks go with it; a new one takes shards again from scratch). */
static void writer_lose_shards(Writer *w, const char *why) {
        (void)writer_settle(w); /* the last batch's PubAcks: none is awaited by a later owner's batches */
        if (w->n_owned)
                log_warn("orchestrator: lost its %d shard(s) (%s); they are taken again from PostgreSQL", w->n_owned,
                         why);
        /* A session still alive (stopping) stops counting as a writer first: the others' part becomes all the
         * shards at once, not after its backend has left pg_stat_activity. */
        if (w->pg && pg_ok(w->pg))
                (void)pg_exec(w->pg, "SET application_name = 'orchestrator-leaving'");
        pg_free(w->pg); /* `why` may be its error message: freed only now */
        w->pg = NULL;
        for (int s = 0; s < IDS_SHARDS; s++) {
                bus_unsubscribe(w->rpc[s]);
                w->rpc[s] = NULL;
                w->releasing[s] = false;
        }
        atomic_store(&w->owned_mask, 0);
        w->n_owned = 0;
        w->n_releasing = 0;
        w->retaking = true;
        w->next_lock_ms = 0; /* taken again at once (a new session): what it had decided waits for that */
        for (size_t b = 0; b < WRITER_BUCKETS; b++) {
                for (SagaRow *r = w->table[b], *next; r; r = next) {
                        next = r->next;
                        writer_saga_free(r);
                }
                w->table[b] = NULL;
        }
        w->n_sagas = 0;
        for (size_t i = 0; i < w->n_unpublished; i++)
                free(w->unpublished[i].payload);
        w->n_unpublished = 0;
        writer_keys_forget(w, -1);
        metric_set(m_shards, 0);
        metric_set(m_sagas, 0);
}

static void writer_sweep_loose(Writer *w, const int *shards, size_t n, int age_s);

/* Takes the shards nobody holds: locks them, loads their unsettled sagas and unpublished events,
 * then serves their RPC subjects; the loose commands their last owner left unconfirmed go again. */
static void writer_take_shards(Writer *w) {
        int want[IDS_SHARDS], got[IDS_SHARDS];
        int64_t seqs[IDS_SHARDS];
        size_t n = 0;
        int k, r;

        for (int s = 0; s < IDS_SHARDS; s++)
                if (!writer_owns(w, s))
                        want[n++] = s;
        w->retaking = false;
        if (n == 0)
                return;
        k = saga_store_lock_shards(w->pg, want, n, w->n_owned, got);
        if (k <= 0) {
                if (k < 0)
                        writer_lose_shards(w, pg_error(w->pg));
                return;
        }
        memset(seqs, 0, sizeof(seqs));
        r = saga_store_load_events(w->pg, got, (size_t)k, seqs, adopt_event, w);
        if (r == 0)
                r = saga_store_load_shards(w->pg, got, (size_t)k, adopt_saga, w);
        if (r < 0) {
                /* The locks belong to this session whatever happens: drop the session with them. */
                log_error("orchestrator: loading shards failed: %s", pg_error(w->pg));
                writer_lose_shards(w, "loading failed");
                return;
        }
        for (int i = 0; i < k; i++) {
                int s = got[i];
                char subject[TOPO_SUBJECT_MAX];
                atomic_fetch_or(&w->owned_mask, 1u << s);
                w->n_owned++;
                w->seq[s] = seqs[i];
                w->published[s] = w->persisted[s] = 0;
                if (topo_rpc_shard_wildcard(subject, sizeof(subject), s) == 0 &&
                    bus_subscribe(w->o->svc.bus, subject, NULL, on_rpc, w, &w->rpc[s]) < 0)
                        log_error("orchestrator: cannot serve %s", subject);
        }
        /* The watermark of a shard just taken is what PostgreSQL says, i.e. its first unpublished - 1. */
        for (int i = 0; i < k; i++) {
                int s = got[i];
                int64_t first = 0;
                for (size_t e = 0; e < w->n_unpublished; e++)
                        if (w->unpublished[e].shard == s && (!first || w->unpublished[e].seq < first))
                                first = w->unpublished[e].seq;
                w->published[s] = w->persisted[s] = first ? first - 1 : w->seq[s];
        }
        metric_set(m_shards, w->n_owned);
        metric_set(m_sagas, (long long)w->n_sagas);
        log_info("orchestrator: took %d shard(s), %d owned, %zu unsettled saga(s) in memory, %zu event(s) to publish",
                 k, w->n_owned, w->n_sagas, w->n_unpublished);
        writer_sweep_loose(w, got, (size_t)k, 0);
}

/* ---- one batch --------------------------------------------------------------------------- */

static void batch_begin(Writer *w) {
        w->batch_no++;
        w->now_ms = ids_now_ms();
        saga_batch_init(&w->batch);
        w->n_visited = 0;
}

/* Drops what a batch prepared but will not send. */
static void batch_discard_sends(Writer *w) {
        for (size_t i = 0; i < w->n_outgoing; i++)
                free(w->outgoing[i].data);
        w->n_outgoing = 0;
        for (int i = 0; i < WRITER_WORKERS - 1; i++) {
                /* What earlier batches committed still goes. */
                w->workers[i].len = w->workers[i].held_len;
                w->workers[i].n = w->workers[i].held_n;
                w->workers[i].urgent = false; /* an urgent part left right after its commit */
        }
        for (size_t i = 0; i < w->n_payments; i++)
                w->payments[i].len = w->payments[i].n = 0;
        w->n_payments = 0;
        for (size_t i = 0; i < w->n_events; i++)
                free(w->events[i].payload);
        w->n_events = 0;
        w->n_loose = 0; /* their rows were not written either */
}

static void batch_end(Writer *w) {
        for (size_t i = 0; i < w->n_retired; i++)
                codec_free(&w->retired[i]->base);
        w->n_retired = 0;
        saga_batch_free(&w->batch);
}

/* A batch that did not commit: the sagas it read or changed are read again from PostgreSQL (their
 * memory may hold decisions that never happened), and its event numbers are given again. */
static void batch_rollback(Writer *w) {
        char(*ids)[sizeof(((SagaRow *)0)->order_id)] = w->n_visited ? calloc(w->n_visited, sizeof(*ids)) : NULL;
        size_t n_ids = writer_batch_forget(w, ids);
        batch_discard_sends(w);
        batch_end(w);
        /* Read again at once, not when next needed: their timers and re-sends run from memory. A
         * session that broke loses every shard instead, and they are all read again then. */
        for (size_t i = 0; i < n_ids && pg_ok(w->pg); i++) {
                int r = writer_reload(w, ids[i]);
                if (r < 0)
                        log_warn("orchestrator: saga %s could not be read again after a failed batch: %s", ids[i],
                                 pg_error(w->pg));
        }
        free(ids);
}

/* After the commit: memory takes what was written, settled sagas leave it. */
static void batch_committed(Writer *w) {
        writer_batch_kept(w);
        for (int i = 0; i < WRITER_WORKERS - 1; i++) {
                PartBuf *b = &w->workers[i];
                if (b->n > b->held_n && !b->held_n)
                        b->held_since_ms = w->now_ms;
                b->held_len = b->len;
                b->held_n = b->n;
        }
        for (int s = 0; s < IDS_SHARDS; s++)
                if (w->published[s] > w->persisted[s])
                        w->persisted[s] = w->published[s];
        /* This batch's events join those waiting for JetStream's confirmation. */
        for (size_t i = 0; i < w->n_events; i++)
                adopt_event(w, &w->events[i]);
        w->n_events = 0;
        metric_set(m_sagas, (long long)w->n_sagas);
}

/* Publishes `b` (commands, and the notification worker's rows) to `worker` as CommandBatch
 * messages of at most WRITER_MESSAGE_PARTS parts and about WRITER_MESSAGE_BYTES each, so that a
 * worker's fetch can always take one (after a takeover every pending command is re-sent at
 * once). A direct one goes over core NATS, its answers and (its reply subject) nats-server's "no
 * responders" to the direct answers' subject. Returns how many JetStream is to confirm. */
static size_t publish_batch(Writer *w, const char *worker, PartBuf *b) {
        char subject[TOPO_SUBJECT_MAX];
        BusHeaders h = {.type = food__v1__command_batch__descriptor.name,
                        .answer_to = b->direct ? w->direct_answer_subject : w->answer_subject};
        size_t sent = 0, start = 0, pos = 0, parts = 0;
        int r = b->direct ? topo_direct_subject(subject, sizeof(subject), worker)
                          : topo_command_subject(subject, sizeof(subject), worker);

        if (b->n && r == 0) {
                while (pos <= b->len) {
                        size_t next = b->len + 1; /* past the end: publish what is left */
                        if (pos < b->len) {
                                /* one part: a tag byte, a varint length, the bytes */
                                uint64_t len = 0;
                                size_t p = pos + 1;
                                for (int shift = 0; p < b->len && shift < 64; shift += 7) {
                                        uint8_t c = b->data[p++];
                                        len |= (uint64_t)(c & 0x7f) << shift;
                                        if (!(c & 0x80))
                                                break;
                                }
                                next = p + len;
                        }
                        if (pos > start && (next > b->len || parts == WRITER_MESSAGE_PARTS ||
                                            next - start > WRITER_MESSAGE_BYTES)) {
                                if (b->direct)
                                        (void)bus_send(w->o->svc.bus, subject, w->direct_answer_subject, &h,
                                                       b->data + start, pos - start); /* lost: tried again */
                                else if (bus_publish(w->pub, subject, &h, b->data + start, pos - start) == 0)
                                        sent++;
                                else
                                        w->publish_failed = true;
                                start = pos;
                                parts = 0;
                        }
                        if (next > b->len)
                                break;
                        parts++;
                        pos = next;
                }
        } else if (b->n) {
                w->publish_failed = true; /* no subject: nothing of it left */
        }
        b->len = b->n = b->held_len = b->held_n = 0;
        b->urgent = false;
        return sent;
}

/* Whether worker `i`'s commands go now: one of them is urgent (a request waits on it, or no saga would send
 * it again), or they waited COMMAND_LINGER_MS for those of later batches, or they fill a message, or the
 * process is stopping. Held longer, they would only be sent by their retry policy (the saga keeps them until
 * answered): crash-safe, but late. */
static bool worker_due(const Writer *w, int i, int64_t now) {
        const PartBuf *b = &w->workers[i];
        return b->n && (b->urgent || w->o->linger_ms == 0 || service_stopping ||
                        b->n >= WRITER_MESSAGE_PARTS || b->len >= WRITER_MESSAGE_BYTES ||
                        now - b->held_since_ms >= w->o->linger_ms);
}

/* When the first held commands fall due; 0: none are held. */
static int64_t writer_held_due(const Writer *w) {
        int64_t due = 0;
        for (int i = 0; i < WRITER_WORKERS - 1; i++) {
                int64_t at = w->workers[i].held_since_ms + w->o->linger_ms;
                if (w->workers[i].held_n && (!due || at < due))
                        due = at;
        }
        return due;
}

/* The commands of the workers that are due: published; *since_ms gets when the oldest of them was
 * decided. Returns how many messages went. */
static size_t publish_due(Writer *w, int64_t *since_ms) {
        size_t sent = 0;
        int64_t now = ids_now_ms();
        for (int i = 0; i < WRITER_WORKERS - 1; i++) {
                if (!worker_due(w, i, now))
                        continue;
                if (w->workers[i].held_n && w->workers[i].held_since_ms < *since_ms)
                        *since_ms = w->workers[i].held_since_ms;
                sent += publish_batch(w, writer_worker_name(i), &w->workers[i]);
        }
        return sent;
}

/* Waits for JetStream to confirm what was published; when it does not, the commands decided since
 * `since_ms` go again in WRITER_REPUBLISH_MS. 0, or -ETIMEDOUT. */
static int confirm_publishes(Writer *w, int64_t since_ms) {
        if (bus_publisher_flush(w->pub, WRITER_FLUSH_MS) == 0) {
                w->js_confirmed_ms = ids_now_ms();
                return 0;
        }
        w->js_confirmed_ms = 0; /* no direct try until JetStream takes what would follow it */
        log_warn("orchestrator: JetStream did not confirm every publish; %zu status event(s) wait, "
                 "commands go again in %d ms",
                 w->n_unpublished, WRITER_REPUBLISH_MS);
        if (!w->unconfirmed_since_ms || since_ms < w->unconfirmed_since_ms)
                w->unconfirmed_since_ms = since_ms;
        w->republish_at_ms = ids_now_ms() + WRITER_REPUBLISH_MS;
        return -ETIMEDOUT;
}

/* Reads JetStream's confirmations of the last batch's publishes (they came while the next batch was
 * decided and written): its status events become published, the watermark of their shard moves; or,
 * not confirmed, they wait for the next send and its commands go again (confirm_publishes). 0 when
 * everything was confirmed (or nothing awaited), else -ETIMEDOUT. */
static int writer_settle(Writer *w) {
        size_t events = w->in_flight;
        if (!w->unsettled)
                return 0;
        w->unsettled = false;
        w->in_flight = 0;
        if (confirm_publishes(w, w->unsettled_since_ms) < 0)
                return -ETIMEDOUT;
        for (size_t i = 0; i < events; i++) {
                SagaEvent *e = &w->unpublished[i];
                if (e->seq > w->published[e->shard])
                        w->published[e->shard] = e->seq;
                free(e->payload);
        }
        metric_add(m_events, (long long)events);
        if (events > 0) {
                memmove(w->unpublished, w->unpublished + events,
                        (w->n_unpublished - events) * sizeof(w->unpublished[0]));
                w->n_unpublished -= events;
        }
        return 0;
}

/* Held commands that fell due while no batch ran (and loose commands read again): sent as a batch's are,
 * confirmed at once. 0 when JetStream confirmed every message (or none was due), else negative. */
static int writer_send_held(Writer *w) {
        int64_t since = ids_now_ms();
        bool due = false;
        for (int i = 0; i < WRITER_WORKERS - 1; i++)
                due = due || worker_due(w, i, since);
        if (!due)
                return 0;
        (void)writer_settle(w); /* a wait for confirmations reads the last batch's too */
        w->publish_failed = false;
        if (publish_due(w, &since) == 0)
                return w->publish_failed ? -EIO : 0;
        return confirm_publishes(w, since);
}

/* The loose commands published since the last call: their rows go once JetStream `confirmed` every
 * message (a row left behind only sends its command again: the worker applies it once). */
static void loose_settle(Writer *w, bool confirmed) {
        const char *ids[SAGA_LOOSE_CHUNK];
        for (size_t i = 0; confirmed && !w->publish_failed && i < w->n_loose; i += SAGA_LOOSE_CHUNK) {
                size_t n = w->n_loose - i < SAGA_LOOSE_CHUNK ? w->n_loose - i : SAGA_LOOSE_CHUNK;
                for (size_t k = 0; k < n; k++)
                        ids[k] = w->loose[i + k];
                if (saga_store_loose_sent(w->pg, ids, n) < 0) {
                        log_warn("orchestrator: %zu loose command(s) in JetStream stay stored (sent again later): %s",
                                 n, pg_error(w->pg));
                        break;
                }
        }
        w->n_loose = 0;
}

static void loose_due(void *ud, const char *id, const char *worker, const uint8_t *command, size_t len) {
        Writer *w = ud;
        int r = writer_loose_send(w, worker, id, command, len);
        if (r < 0)
                log_warn("orchestrator: loose command %s for %s not sent (%s); its row stays", id, worker, strerror(-r));
}

/* The loose commands of `shards` stored at least `age_s` seconds ago, still unconfirmed (their batch's
 * owner died before it published them, or JetStream did not confirm them): sent again. */
static void writer_sweep_loose(Writer *w, const int *shards, size_t n, int age_s) {
        if (n == 0)
                return;
        if (saga_store_loose_due(w->pg, shards, n, age_s, loose_due, w) < 0)
                log_warn("orchestrator: reading unconfirmed loose commands failed: %s", pg_error(w->pg));
        if (w->n_loose == 0)
                return;
        log_info("orchestrator: %zu stored loose command(s) sent again", w->n_loose);
        loose_settle(w, writer_send_held(w) == 0); /* urgent: they are due */
}

/* Sends what the committed batch decided: answers first (they wait on this), then, once the last batch's
 * publishes are settled, commands and every status event not yet confirmed. Each message is written as
 * it is published (the connection sends at once); JetStream's confirmations are read after the next
 * batch committed (writer_settle), or at once for a batch with loose commands (their rows go only then).
 * A command lost here is re-sent by its retry policy; an event stays until confirmed. */
static void batch_send(Writer *w) {
        char subject[TOPO_SUBJECT_MAX];
        size_t sent = 0;
        /* Direct tries first: a request waits on each, and on the worker's answer after it. */
        w->direct_sent = 0;
        w->direct_mark = atomic_load(&w->direct_answered);
        for (size_t i = 0; i < w->n_payments; i++)
                if (w->payments[i].direct && w->payments[i].n) {
                        (void)publish_batch(w, "payment", &w->payments[i]);
                        w->direct_sent++;
                }
        if (w->direct_sent)
                w->direct_until = ids_deadline_us(CLOCK_REALTIME, WRITER_AWAIT_DIRECT_US);
        for (size_t i = 0; i < w->n_outgoing; i++) {
                (void)bus_publish_core(w->o->svc.bus, w->outgoing[i].inbox, food__v1__rpc_reply__descriptor.name,
                                       w->outgoing[i].data, w->outgoing[i].len);
                free(w->outgoing[i].data);
        }
        w->n_outgoing = 0;
        (void)writer_settle(w);
        w->publish_failed = false; /* of this batch's messages only: its loose commands are among them */
        int64_t since = w->now_ms;
        sent += publish_due(w, &since);
        for (size_t i = 0; i < w->n_payments; i++)
                if (!w->payments[i].direct)
                        sent += publish_batch(w, "payment", &w->payments[i]);
        w->n_payments = 0;
        /* After JetStream did not confirm a send, the events waiting go again once WRITER_REPUBLISH_MS after the
         * failure (with the commands), not with every batch: a stream without a leader answers "no responders" at
         * once, and hundreds of batches a second each sent every waiting event again (a nats-cluster test saw
         * 389 sends of up to 1,500 events in one second), a flood the next leader's log had to take in. */
        size_t events = w->unconfirmed_since_ms && w->now_ms < w->republish_at_ms ? 0 : w->n_unpublished;
        for (size_t i = 0; i < events; i++) {
                SagaEvent *e = &w->unpublished[i];
                BusHeaders h = {.msg_id = e->msg_id, .type = food__v1__order_status_changed__descriptor.name};
                if (topo_status_subject(subject, sizeof(subject), e->order_id) == 0 &&
                    bus_publish(w->pub, subject, &h, e->payload, e->len) == 0)
                        sent++;
        }
        if (sent == 0) {
                loose_settle(w, false);
                return;
        }
        w->unsettled = true;
        w->in_flight = events;
        w->unsettled_since_ms = since;
        if (w->n_loose)
                loose_settle(w, writer_settle(w) == 0);
}

/* The crash tests' fault: SIGKILL at `point` of the configured batch that writes. */
static void crash_point(Writer *w, const char *point) {
        static int64_t writes;
        if (!w->o->crash_point[0] || strcmp(w->o->crash_point, point) != 0 || saga_batch_empty(&w->batch))
                return;
        if (++writes == w->o->crash_after) {
                log_warn("FOOD_CRASH_AT: killed %s of batch %lld", point, (long long)writes);
                kill(getpid(), SIGKILL);
        }
}

/* FOOD_CRASH_AT=lose-session:<n>: the writing session ends right after the n-th batch that decided requests
 * (answered now, or later: a place waits for its payment) committed, before its answers left: it did commit, and
 * the writer cannot tell. */
static int crash_lose_session(Writer *w, int requests) {
        static int64_t writes;
        if (strcmp(w->o->crash_point, "lose-session") != 0 || saga_batch_empty(&w->batch) || requests == 0 ||
            ++writes != w->o->crash_after)
                return 0;
        log_warn("FOOD_CRASH_AT: the writing session ends after batch %lld committed", (long long)writes);
        (void)pg_exec(w->pg, "SELECT pg_terminate_backend(pg_backend_pid())");
        return -ENOTCONN;
}

/* Whether a failure means the session (and with it every shard) is gone. */
static bool session_lost(Writer *w, int r) {
        return r == -ENOTCONN || !pg_ok(w->pg);
}

/* A batch that writes nothing still proves the session (and its locks) alive before it answers. */
static const PgStmt st_fence = {"writer_fence", "SELECT 1"};

static int64_t writer_await_direct(Writer *w);
static Input *writer_drop_foreign(Writer *w, Input *inputs, Input **later);
static void writer_wait_session(Writer *w, Input *inputs, bool pause);

/* Decides `in` and those after it; `*n` counts them, `*requests` the requests among them. */
static int batch_handle(Writer *w, Input *in, int *n, int *requests) {
        int r = 0;
        for (; in && r == 0; in = in->next, (*n)++)
                if (!in->failed) {
                        r = inputs_handle(w, in);
                        *requests += in->kind == IN_RPC;
                }
        return r;
}

/* The answers to the last batch's direct tries join this batch when they come while it decides the inputs
 * it started with: the wait for them (added to `*awaited_us`) overlaps that deciding instead of coming before
 * it. What arrived meanwhile is appended to `inputs` (so that a retry or a requeue has it too) and decided
 * after them. */
static int batch_take_direct(Writer *w, Input *inputs, int *n, int *requests, int64_t *awaited_us) {
        if (!w->direct_sent || !inputs || service_stopping || *n >= w->o->batch_max)
                return 0;
        *awaited_us += writer_await_direct(w);
        Input *later = NULL, *more = writer_take(w, w->o->batch_max - *n, 0);
        more = writer_drop_foreign(w, more, &later);
        if (later)
                writer_wait_session(w, later, false);
        if (!more)
                return 0;
        Input *last = inputs;
        while (last->next)
                last = last->next;
        last->next = more;
        return batch_handle(w, more, n, requests);
}

/* Decides `inputs` and the due timers, writes them in one transaction, then sends; `grow`: the answers to
 * the last batch's direct tries that come meanwhile join it (batch_take_direct; a batch run again, or an
 * input run alone, takes nothing more). Returns 0, -EEXIST (an idempotency key was claimed before: the
 * inputs were marked, run them again), or another negative errno (nothing of the batch happened). */
static int writer_batch(Writer *w, Input *inputs, bool timers, bool grow) {
        int r = 0, n = 0, requests = 0;
        int64_t begun = ids_monotonic_us(), awaited = 0;
        batch_begin(w);
        r = batch_handle(w, inputs, &n, &requests);
        if (r == 0 && grow)
                r = batch_take_direct(w, inputs, &n, &requests, &awaited);
        if (r == 0 && timers)
                r = inputs_timers(w);
        if (r == 0)
                r = writer_batch_rows(w);
        if (r == 0)
                crash_point(w, "before-commit");
        int64_t decided = ids_monotonic_us();
        metric_add(m_decide_us, decided - begun - awaited);
        if (r == 0 && saga_batch_empty(&w->batch) && w->n_outgoing > 0)
                r = pg_run(w->pg, &st_fence, 0, NULL, NULL, NULL, NULL); /* answers from memory: still ours? */
        else if (r == 0)
                r = saga_batch_commit(&w->batch, w->pg);
        if (r == 0)
                crash_point(w, "after-commit");
        if (r == 0)
                r = crash_lose_session(w, requests);
        int64_t written = ids_monotonic_us();
        metric_add(m_write_us, written - decided);
        if (r < 0) {
                batch_rollback(w);
                return r;
        }
        if (!saga_batch_empty(&w->batch))
                w->last_write_ms = w->now_ms;
        batch_committed(w);
        batch_send(w);
        batch_end(w);
        metric_add(m_send_us, ids_monotonic_us() - written);
        metric_add(m_batches, 1);
        metric_add(m_inputs, n);
        return 0;
}

static void key_found(void *ud, const char *customer, const char *key, const char *order_id, const char *hash) {
        writer_key_note(ud, customer, key, order_id, hash);
}

/* The places of `inputs` whose keys PostgreSQL holds: remembered, so that their retry answers
 * from the existing order. 0 or negative errno. */
static int writer_claimed_keys(Writer *w, Input *inputs) {
        const char *customers[512] = {0}, *keys[512] = {0};
        ProtobufCMessage *msgs[512];
        size_t n = 0;
        int r;
        for (Input *in = inputs; in && n < 512; in = in->next) {
                ProtobufCMessage *m = NULL;
                const char *type = bus_header(in->msg, BUS_HDR_TYPE);
                if (in->kind != IN_RPC || !type || strcmp(type, food__v1__place_order__descriptor.name) != 0 ||
                    codec_unpack(&food__v1__place_order__descriptor, natsMsg_GetData(in->msg),
                                 (size_t)natsMsg_GetDataLength(in->msg), &m) < 0)
                        continue;
                Food__V1__PlaceOrder *p = (Food__V1__PlaceOrder *)m;
                if (!p->order || !p->order->customer_id || !*p->idempotency_key) {
                        codec_free(m);
                        continue;
                }
                customers[n] = p->order->customer_id;
                keys[n] = p->idempotency_key;
                msgs[n++] = m;
        }
        r = n ? saga_store_lookup_keys(w->pg, customers, keys, n, key_found, w) : 0;
        for (size_t i = 0; i < n; i++)
                codec_free(msgs[i]);
        return r;
}

/* Runs inputs until they are decided and written, whatever fails. */
/* Inputs a lost session did not decide go back to the front of the queue: once this process's
 * session owns their shards again they are decided (requests for shards another took are left to
 * it). Inputs older than anyone waits for are dropped (a command unanswered is re-sent anyway). */
static void writer_requeue(Writer *w, Input *inputs) {
        Input *first = NULL, *last = NULL;
        size_t n = 0;
        int64_t now = ids_now_ms();
        for (Input *in = inputs, *next; in; in = next) {
                next = in->next;
                in->next = NULL;
                if (now - in->at_ms > WRITER_INPUT_STALE_MS) {
                        natsMsg_Destroy(in->msg);
                        free(in);
                        continue;
                }
                in->failed = false;
                in->requeued = true;
                if (last)
                        last->next = in;
                else
                        first = in;
                last = in;
                n++;
        }
        if (!first)
                return;
        pthread_mutex_lock(&w->lock);
        last->next = w->head;
        if (!w->head)
                w->tail = last;
        w->head = first;
        w->queued += n;
        pthread_mutex_unlock(&w->lock);
}

/* The shard a request is for (IDS_SHARDS when its subject names none that exists), or -1 for inputs of
 * no shard (answers, the stuck query). */
static int input_shard(const Input *in) {
        char token[16];
        if (in->kind != IN_RPC || topo_token(natsMsg_GetSubject(in->msg), 2, token, sizeof(token)) < 0 ||
            strcmp(token, "orders") != 0 || topo_token(natsMsg_GetSubject(in->msg), 3, token, sizeof(token)) < 0)
                return -1;
        int shard = atoi(token);
        return shard >= 0 && shard < IDS_SHARDS ? shard : IDS_SHARDS;
}

/* Whether `in` is for a shard this writer owns (answers and the stuck query always are). */
static bool input_ours(Writer *w, const Input *in) {
        int shard = input_shard(in);
        return shard < 0 || (w->pg && shard < IDS_SHARDS && writer_owns(w, shard));
}

/* ---- sharing the shards with the other replicas ------------------------------------------ */

/* A replica holding more than its part (IDS_SHARDS over the orchestrators writing now, rounded up) hands
 * the rest over, so that an added replica takes load, not only over from a dead one: it stops serving
 * their requests (those NATS already sent are queued by the drain), decides what is queued, and only then
 * lets the locks go (writer_release); the others take them within their next try (their own part is the
 * limit of what they take, see saga_store_lock_shards). Meanwhile the gateway asks again while nobody
 * serves the shard. */
static void writer_share(Writer *w, int64_t now) {
        BusSubscription *subs[IDS_SHARDS];
        long long writers = 0;
        size_t n = 0;

        if (!w->pg || w->n_releasing || now < w->next_share_ms)
                return;
        w->next_share_ms = now + WRITER_SHARE_EVERY_MS;
        if (saga_store_count_writers(w->pg, &writers) < 0 || writers < 2)
                return;
        int part = (int)((IDS_SHARDS + writers - 1) / writers);
        for (int s = IDS_SHARDS - 1; s >= 0 && w->n_owned - (int)n > part; s--) {
                if (!writer_owns(w, s))
                        continue;
                w->releasing[s] = true;
                subs[n++] = w->rpc[s];
                w->rpc[s] = NULL;
        }
        if (n == 0)
                return;
        w->n_releasing = (int)n;
        w->release_by_ms = now + WRITER_HANDOVER_MS;
        log_info("orchestrator: %lld orchestrators write: handing %zu of its %d shards to the others", writers, n,
                 w->n_owned);
        if (!bus_drain(subs, n, WRITER_STOP_MS))
                log_warn("orchestrator: requests for the shards handed over may still be arriving");
}

/* The sagas, unpublished events and recent keys of `shard` leave memory (the next owner reads them from
 * PostgreSQL; events past the stored watermark are published again, with their ids). */
static void writer_forget_shard(Writer *w, int shard) {
        size_t kept = 0;
        (void)writer_settle(w); /* before `unpublished` loses entries */
        for (size_t b = 0; b < WRITER_BUCKETS; b++)
                for (SagaRow *r = w->table[b], *next; r; r = next) {
                        next = r->next;
                        if (r->shard == shard) {
                                writer_table_remove(w, r);
                                writer_saga_free(r);
                        }
                }
        for (size_t i = 0; i < w->n_unpublished; i++) {
                if (w->unpublished[i].shard == shard)
                        free(w->unpublished[i].payload);
                else
                        w->unpublished[kept++] = w->unpublished[i];
        }
        w->n_unpublished = kept;
        writer_keys_forget(w, shard);
}

static void mark_awaited(Writer *w, SagaRow *row, void *ud) {
        bool *awaited = ud;
        (void)w;
        if (row->reply_to[0] && row->shard >= 0 && row->shard < IDS_SHARDS)
                awaited[row->shard] = true;
}

/* The shards being handed over whose queued requests are decided, and whose sagas answer no request any
 * more (a POST /orders waits for its payment's outcome: answered here, it needs no re-sent payment by the
 * next owner), or that waited WRITER_HANDOVER_MS: forgotten, then unlocked. */
static void writer_release(Writer *w) {
        bool queued[IDS_SHARDS + 1] = {false}, awaited[IDS_SHARDS] = {false};

        if (!w->n_releasing || !w->pg)
                return;
        pthread_mutex_lock(&w->lock);
        for (Input *in = w->head; in; in = in->next) {
                int s = input_shard(in);
                if (s >= 0)
                        queued[s] = true;
        }
        pthread_mutex_unlock(&w->lock);
        if (ids_now_ms() < w->release_by_ms)
                writer_each_saga(w, mark_awaited, awaited);
        for (int s = 0; s < IDS_SHARDS; s++)
                queued[s] = queued[s] || awaited[s];
        for (int s = 0; s < IDS_SHARDS; s++) {
                if (!w->releasing[s] || queued[s])
                        continue;
                writer_forget_shard(w, s);
                w->releasing[s] = false;
                atomic_fetch_and(&w->owned_mask, ~(1u << s));
                w->n_owned--;
                w->n_releasing--;
                if (saga_store_unlock_shard(w->pg, s) < 0) {
                        writer_lose_shards(w, "letting a shard go failed");
                        return;
                }
                log_info("orchestrator: shard %d handed over, %d owned", s, w->n_owned);
        }
        metric_set(m_shards, w->n_owned);
        metric_set(m_sagas, (long long)w->n_sagas);
}

/* Requests for shards this writer does not own any more (taken before its session was lost) are
 * not answered: the new owner, subscribed meanwhile, got them too, or the gateway times out. An
 * answer from here ("not mine") could reach the gateway before the owner's and make it ask twice.
 * Those a lost session handed back wait in *later until this writer tried to take their shards
 * again (its batch may have committed: it answers them from what it finds). */
static Input *writer_drop_foreign(Writer *w, Input *inputs, Input **later) {
        Input *keep = NULL, **tail = &keep, **later_tail = later;
        for (Input *in = inputs, *next; in; in = next) {
                next = in->next;
                in->next = NULL;
                if (input_ours(w, in)) {
                        *tail = in;
                        tail = &in->next;
                        continue;
                }
                if (in->requeued && w->retaking) {
                        *later_tail = in;
                        later_tail = &in->next;
                        continue;
                }
                log_info("orchestrator: a request on %s for a shard no longer owned is left to its owner",
                         natsMsg_GetSubject(in->msg));
                natsMsg_Destroy(in->msg);
                free(in);
        }
        return keep;
}

/* Decides `*inputs` (and due timers) in a batch; on a lost session the undecided inputs are queued
 * again (*inputs becomes NULL), anything else is the caller's to free. */
static void writer_run_inputs(Writer *w, Input **inputs_p, bool timers) {
        Input *inputs = *inputs_p;
        int r = writer_batch(w, inputs, timers, true);
        for (int tries = 0; r == -EEXIST && tries < 3; tries++) {
                /* Another request claimed one of these keys before: those answer from its order. */
                if (writer_claimed_keys(w, inputs) < 0)
                        break;
                r = writer_batch(w, inputs, timers, false);
        }
        if (r == 0)
                return;
        metric_add(m_failed_batches, 1);
        if (session_lost(w, r)) {
                /* Not ours any more (or not for now): decided again once a session owns them. */
                log_warn("orchestrator: a batch failed with its session: %s", pg_error(w->pg));
                writer_lose_shards(w, pg_error(w->pg));
                writer_requeue(w, inputs);
                *inputs_p = NULL;
                return;
        }
        /* Something in the batch is refused: each input alone, so that only that one fails. */
        log_warn("orchestrator: a batch was refused (%s): %s; deciding its inputs one by one", strerror(-r),
                 pg_error(w->pg));
        for (Input *in = inputs; in; in = in->next) {
                Input *next = in->next;
                in->next = NULL;
                r = writer_batch(w, in, false, false); /* alone: it takes no other input */
                if (r < 0 && !session_lost(w, r)) {
                        in->failed = true;
                        log_warn("orchestrator: an input on %s refused: %s", natsMsg_GetSubject(in->msg),
                                 pg_error(w->pg));
                        inputs_unavailable(w, in);
                }
                in->next = next;
                if (r < 0 && session_lost(w, r)) {
                        /* Those decided before it stand; it and the rest wait for a session. */
                        writer_lose_shards(w, pg_error(w->pg));
                        for (Input **p = inputs_p; *p; p = &(*p)->next)
                                if (*p == in) {
                                        *p = NULL;
                                        break;
                                }
                        writer_requeue(w, in);
                        return;
                }
        }
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* The writing session's settings: named for operators (pg_stat_activity: "orchestrator-writer
 * <instance>"), and ended by the server when its process stalls (paused, hung) so that another
 * replica takes the shards. */
static const char writer_session_sql[] =
        "SET application_name = 'orchestrator-writer %s';"
        " SET idle_session_timeout = '15s'; SET idle_in_transaction_session_timeout = '15s'";

static void stalled_ended(void *ud, const char *name, long pid) {
        (void)ud;
        log_warn("orchestrator: ended the writing session of %s (backend %ld): it held shards and had not moved "
                 "for %d s",
                 name, pid, WRITER_STALL_S);
}

/* The shards this writer owns, into shards[]: how many. */
static size_t owned_shards(const Writer *w, int *shards) {
        size_t n = 0;
        for (int s = 0; s < IDS_SHARDS; s++)
                if (writer_owns(w, s))
                        shards[n++] = s;
        return n;
}

static void writer_housekeeping(Writer *w, bool stopping) {
        int64_t now = ids_now_ms();
        if (stopping) {
                /* Letting go: no new session, no shard taken again, no other writer's session ended. */
                if (w->pg && !pg_ok(w->pg))
                        writer_lose_shards(w, "the session broke");
                return;
        }
        if (w->pg && !pg_ok(w->pg)) {
                /* A new session, never the old one reset: the locks went with it. */
                writer_lose_shards(w, "the session broke");
        }
        /* Without NATS no request reaches the shards and nothing decided leaves, while a replica that has NATS
         * cannot take them: past a blip (a server restarting), the session goes with its locks, and none is
         * opened again until NATS is back (a session counts as a writer that is handed shards). */
        if (bus_connected(w->o->svc.bus))
                w->nats_lost_ms = 0;
        else if (!w->nats_lost_ms)
                w->nats_lost_ms = now;
        if (w->nats_lost_ms && now - w->nats_lost_ms >= WRITER_NATS_LOST_MS) {
                if (w->pg) {
                        log_warn("orchestrator: NATS out of reach for %d s: its writing session ends (and with it the "
                                 "locks of its %d shard(s)) until NATS is back",
                                 WRITER_NATS_LOST_MS / 1000, w->n_owned);
                        writer_lose_shards(w, "NATS out of reach");
                }
                return;
        }
        if (!w->pg) {
                char setup[sizeof(writer_session_sql) + sizeof(w->o->instance)];
                if (service_pg(&w->o->svc, &w->pg) < 0)
                        return;
                pg_pin_session(w->pg);
                snprintf(setup, sizeof(setup), writer_session_sql, w->o->instance); /* ids_new: [a-z0-9_] */
                if (pg_exec(w->pg, setup) < 0) {
                        log_warn("orchestrator: cannot set up the writing session: %s", pg_error(w->pg));
                        pg_free(w->pg);
                        w->pg = NULL;
                        return;
                }
        }
        if (w->pg && w->n_owned < IDS_SHARDS && now >= w->next_stall_ms) {
                /* Shards held by a paused or hung replica: its session is ended, the locks with it. */
                w->next_stall_ms = now + WRITER_STALL_EVERY_MS;
                if (saga_store_end_stalled(w->pg, WRITER_STALL_S, stalled_ended, w) < 0)
                        log_warn("orchestrator: looking for stalled writers failed: %s", pg_error(w->pg));
        }
        if (w->pg && w->n_owned < IDS_SHARDS && now >= w->next_lock_ms) {
                w->next_lock_ms = now + WRITER_LOCK_EVERY_MS;
                writer_take_shards(w);
        }
        if (!stopping) {
                writer_release(w);
                writer_share(w, now);
        }
        if (w->n_owned && now - w->last_write_ms >= WRITER_IDLE_PING_MS) {
                /* Idle: is the session (and so every lock) still there? */
                w->last_write_ms = now;
                if (pg_ping(w->pg, 1000) < 0)
                        writer_lose_shards(w, "no answer to a ping");
        }
        if (w->n_owned && now >= w->next_loose_ms) {
                int shards[IDS_SHARDS];
                w->next_loose_ms = now + WRITER_LOOSE_EVERY_MS;
                writer_sweep_loose(w, shards, owned_shards(w, shards), WRITER_LOOSE_RESEND_S);
        }
}

/* The last batch sent direct tries: their answers (a charge at the provider, a millisecond or so) are waited
 * for, up to WRITER_AWAIT_DIRECT_US after the send, so that they are decided in the next batch instead of
 * waiting out one that started without them (a POST /orders is then answered a batch sooner; the batch grows
 * by what arrives meanwhile, which is fewer commits per order). With inputs already queued the next batch
 * decides those first and waits then (batch_take_direct). Returns how long it waited (microseconds). */
static int64_t writer_await_direct(Writer *w) {
        unsigned sent = w->direct_sent;
        w->direct_sent = 0;
        if (!sent)
                return 0;
        int64_t begun = ids_monotonic_us();
        int r = 0;
        pthread_mutex_lock(&w->lock);
        while (atomic_load(&w->direct_answered) - w->direct_mark < sent && r != ETIMEDOUT && !service_stopping)
                r = pthread_cond_timedwait(&w->cond, &w->lock, &w->direct_until);
        pthread_mutex_unlock(&w->lock);
        int64_t waited = ids_monotonic_us() - begun;
        metric_add(m_await_us, waited);
        if (r == ETIMEDOUT)
                metric_add(m_await_missed, 1);
        return waited;
}

/* Inputs that wait for a session (and the shards it takes) go back to the queue; `pause`: nothing else
 * to do meanwhile, so not before 100 ms. */
static void writer_wait_session(Writer *w, Input *inputs, bool pause) {
        struct timespec t = {0, 100000000L};
        writer_requeue(w, inputs);
        if (pause)
                nanosleep(&t, NULL);
}

static void *writer_run(void *arg) {
        Writer *w = arg;
        int64_t stop_at = 0;

        for (;;) {
                int64_t now = ids_now_ms();
                bool last = service_stopping;
                if (last && !stop_at) {
                        /* Stop taking requests; what was already taken is decided in a last batch or two,
                         * then the session ends and another replica takes the shards at once, with the
                         * requests still waiting on a payment (sagas.reply_to). */
                        if (!bus_drain(w->rpc, IDS_SHARDS, WRITER_STOP_MS))
                                w->undrained = true;
                        stop_at = now;
                }
                writer_housekeeping(w, last);
                /* The next scan bounds the wait only while there are shards to scan: without one (NATS or
                 * PostgreSQL out of reach, or every shard another replica's) no scan runs to move it on, and a
                 * wait bounded by it would return at once, round after round (a replica without shards spun a
                 * core). */
                int64_t until = now + WRITER_SCAN_EVERY_MS;
                if (w->n_owned > 0 && w->next_scan_ms < until)
                        until = w->next_scan_ms;
                int64_t held = writer_held_due(w);
                if (held && held < until)
                        until = held;
                if (!last && !writer_queued(w))
                        (void)writer_await_direct(w); /* else the batch waits while it decides what is queued */
                /* With the last batch's publishes unconfirmed, a batch that can start at once does (and reads
                 * them after its commit); else they are read now. */
                Input *inputs = writer_take(w, w->o->batch_max, last || w->unsettled ? now : until);
                if (!inputs)
                        (void)writer_settle(w);
                Input *later = NULL;
                inputs = writer_drop_foreign(w, inputs, &later);
                if (later)
                        writer_wait_session(w, later, !inputs);
                if (atomic_exchange(&w->direct_unheard, false)) {
                        log_warn("orchestrator: nobody takes direct commands now; they go through JetStream for "
                                 "%d ms, and those not answered go again there",
                                 WRITER_DIRECT_OFF_MS);
                        w->direct_off_until_ms = ids_now_ms() + WRITER_DIRECT_OFF_MS;
                        w->direct_lost = true;
                        w->next_scan_ms = 0;
                }
                bool timers = !last && w->n_owned > 0 && ids_now_ms() >= w->next_scan_ms;
                if (timers)
                        w->next_scan_ms = ids_now_ms() + WRITER_SCAN_EVERY_MS;
                if (w->pg && (inputs || timers || w->n_unpublished))
                        writer_run_inputs(w, &inputs, timers);
                else if (inputs && !last) {
                        /* No session (setting one up failed): decided once there is one. */
                        writer_wait_session(w, inputs, true);
                        inputs = NULL;
                }
                inputs_free(inputs);
                (void)writer_send_held(w);
                if (last && (!w->pg || w->queued == 0 || now - stop_at >= WRITER_STOP_MS))
                        break;
        }
        /* The last watermarks, then the session ends and the locks with it. */
        if (w->pg && w->n_owned) {
                Input *none = NULL;
                writer_run_inputs(w, &none, false);
        }
        writer_lose_shards(w, "stopping");
        return NULL;
}

int writer_start(Orchestrator *o) {
        Writer *w = calloc(1, sizeof(*w));
        int r;
        if (!w)
                return -ENOMEM;
        w->o = o;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        m_batches = metrics_counter("food_saga_batches_total", "Transactions the orchestrator wrote (or checked)");
        m_inputs = metrics_counter("food_saga_batch_inputs_total", "Requests and answers decided in those batches");
        m_failed_batches = metrics_counter("food_saga_batches_failed_total", "Batches that did not commit");
        m_events = metrics_counter("food_status_events_published_total", "Status events confirmed in JetStream");
        m_direct_unheard = metrics_counter("food_direct_unheard_total",
                                           "Direct tries nobody listened for (sent again through JetStream)");
        /* Microseconds; the name carries no unit because promtool would ask for seconds, which integer
         * counters cannot hold (as the gateway's latency). */
        static const char help_us[] = "Time the writer spent (microseconds) waiting for direct answers, deciding "
                                      "batches, writing them to PostgreSQL (the commit included), handing their "
                                      "messages over";
        m_await_us = metrics_counter("food_saga_writer_time_total{phase=\"await\"}", help_us);
        m_decide_us = metrics_counter("food_saga_writer_time_total{phase=\"decide\"}", help_us);
        m_write_us = metrics_counter("food_saga_writer_time_total{phase=\"write\"}", help_us);
        m_send_us = metrics_counter("food_saga_writer_time_total{phase=\"send\"}", help_us);
        m_await_missed = metrics_counter("food_saga_direct_awaits_missed_total",
                                         "Waits for direct answers that ended before every answer came (those are "
                                         "decided a batch later)");
        writer_memory_metrics_init();
        m_shards = metrics_gauge("food_saga_shards_owned", "Shards this orchestrator owns");
        m_sagas = metrics_gauge("food_sagas_in_memory", "Unsettled sagas this orchestrator holds");
        inputs_metrics_init();
        r = topo_answer_subject(w->answer_subject, sizeof(w->answer_subject), o->instance);
        if (r == 0)
                r = bus_publisher_new(o->svc.bus, &w->pub);
        if (r == 0)
                r = bus_subscribe(o->svc.bus, w->answer_subject, NULL, on_answers, w, &w->answers);
        if (r == 0)
                r = topo_direct_answer_subject(w->direct_answer_subject, sizeof(w->direct_answer_subject), o->instance);
        if (r == 0)
                r = bus_subscribe(o->svc.bus, w->direct_answer_subject, NULL, on_direct_answers, w, &w->direct_answers);
        if (r == 0)
                r = bus_subscribe(o->svc.bus, TOPO_RPC_STUCK, TOPO_RPC_QUEUE, on_stuck, w, &w->stuck);
        if (r == 0)
                r = janitor_start(o, &w->owned_mask, &w->janitor);
        if (r == 0) {
                w->out = writer_engine_hooks(w);
                r = -pthread_create(&w->thread, NULL, writer_run, w);
        }
        if (r < 0) {
                bool stopped = janitor_stop(w->janitor);
                bus_unsubscribe(w->answers);
                bus_unsubscribe(w->direct_answers);
                bus_unsubscribe(w->stuck);
                bus_publisher_free(w->pub);
                if (stopped)
                        free(w); /* else the janitor still reads w->owned_mask: left to the failing process */
                return r;
        }
        o->writer = w;
        return 0;
}

void writer_stop(Writer *w) {
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        bool janitor_stopped = janitor_stop(w->janitor);
        BusSubscription *subs[] = {w->answers, w->direct_answers, w->stuck};
        if (!bus_drain(subs, 3, WRITER_STOP_MS) || w->undrained || !janitor_stopped) {
                /* A handler may still be queueing into it, or the janitor reading its shards: left
                 * allocated, the process is ending. */
                log_warn("orchestrator: stopped with subscription handlers or the janitor still running");
                return;
        }
        inputs_free(w->head);
        bus_publisher_free(w->pub);
        for (int i = 0; i < WRITER_WORKERS - 1; i++)
                free(w->workers[i].data);
        for (size_t i = 0; i < w->cap_payments; i++)
                free(w->payments[i].data);
        free(w->payments);
        free(w->visited);
        free(w->retired);
        free(w->outgoing);
        free(w->events);
        free(w->loose);
        free(w->unpublished);
        free(w);
}
