/* Reading the analytics archive: the JetStream stream FOOD_ORDER (365 days of every
 * OrderStatusChanged, subjects food.order.<id>.status) from a position, in stream order, through
 * an ordered ephemeral consumer. Used by GET /analytics/events, food-export and projector-rebuild. */
#pragma once
#include <nats/nats.h>
#include <stdint.h>

#include "food.pb-c.h"
#include "archive-export.h"
#include "bus.h"
#include "topology.h"

#define ARCHIVE_STREAM TOPO_ARCHIVE_STREAM
#define ARCHIVE_SUBJECTS TOPO_ARCHIVE_SUBJECTS

typedef struct ArchiveReader ArchiveReader;

/* One archived event; every pointer is owned by the reader and valid until the next call. */
typedef struct {
        uint64_t seq;                               /* stream sequence: the resume position */
        const char *type;                           /* Food-Type header */
        const Food__V1__OrderStatusChanged *ev;
} ArchiveEvent;

/* Opens a reader at `start` over `nc` (borrowed; must outlive the reader). It returns what the
 * stream holds when opened, never waits for later events. 0, -ENOENT (no stream), or another
 * negative errno (NATS unreachable). */
int archive_open(ArchiveReader **ret, Bus *bus, const ExportStart *start);
/* 1 with *ev, 0 at the end, or a negative errno (-ETIMEDOUT when the server sent nothing for
 * `timeout_ms`). Messages of another type or that do not decode are skipped (logged). */
int archive_next(ArchiveReader *r, ArchiveEvent *ev, int64_t timeout_ms);
/* The last stream sequence when the reader was opened. */
uint64_t archive_end_seq(const ArchiveReader *r);
/* Extends the end to the stream's current last sequence (a catch-up pass). 0 or negative errno. */
int archive_extend(ArchiveReader *r);
void archive_close(ArchiveReader *r);
