/* Bytes on the wire around the measured window, beside the driver's own HTTP bytes (bench-http): messages and
 * bytes into and out of nats-server (its /varz counters) and the bytes between PostgreSQL and its clients (the
 * kernel's TCP counters of the server's connections, read with `ss`, since PostgreSQL keeps no byte counts). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_PG_CONNS_MAX 1024        /* PostgreSQL connections followed per sample; more are left uncounted */
#define WIRE_SS_OUTPUT_MAX (1u << 22) /* bytes of `ss` output read (about 8000 connections) */
#define WIRE_PEER_MAX 64              /* "[ffff:…]:port" fits */

/* nats-server's totals since it started (/varz). */
typedef struct {
        uint64_t in_msgs, out_msgs;   /* messages received from and sent to connections */
        uint64_t in_bytes, out_bytes; /* their sizes as nats-server counts them */
} WireNatsSample;

/* One PostgreSQL connection as the server's side of it sees it. */
typedef struct {
        char peer[WIRE_PEER_MAX]; /* the client's address:port, as ss prints it */
        uint64_t sent;            /* bytes_sent: server → client, retransmissions included */
        uint64_t received;        /* bytes_received: client → server */
} WirePgConn;

/* The window's PostgreSQL traffic, over the connections alive at both samples. */
typedef struct {
        uint64_t to_server, from_server;
        size_t conns;     /* connections counted: the same peer at both samples, counters not gone back */
        size_t uncounted; /* seen at one sample only (opened or closed in the window), or beyond the ceiling */
} WirePgWork;

typedef struct Wire Wire;

/* `monitor_url` (borrowed, NULL for no NATS figures) is nats-server's monitoring URL; `conninfo` (borrowed, NULL for
 * no PostgreSQL figures) the --database URL or key=value words, whose host must be this machine and whose port is
 * the one followed. A conninfo this cannot use (another host, a Unix socket, not parseable) is no failure: the
 * PostgreSQL figure is then absent and wire_pg_note says why. 0 with *ret, or -ENOMEM / -EIO. */
int wire_new(Wire **ret, const char *monitor_url, const char *conninfo);
void wire_free(Wire *w);

/* Fetch /varz and record it as the window's begin (or end). 0, or negative errno with a message in err (err_cap
 * bytes); -EINVAL when there is no monitoring URL. */
int wire_sample_nats(Wire *w, bool begin, char *err, size_t err_cap);

/* Runs `ss -Htin state established '( sport = :PORT )'` and records the connections as the window's begin (or
 * end). 0, or negative errno with a message in err: -ENOENT (ss is not installed), -EPROTO (it failed or printed
 * something else), -EINVAL (no usable port, see wire_pg_note). */
int wire_sample_pg(Wire *w, bool begin, char *err, size_t err_cap);

/* Why there is no PostgreSQL figure although a conninfo was given ("" when there is one so far). Borrowed. */
const char *wire_pg_note(const Wire *w);

/* The window's figures; false when a sample is missing. */
bool wire_nats_work(const Wire *w, WireNatsSample *ret);
bool wire_pg_work(const Wire *w, WirePgWork *ret);

/* Pure: the /varz counters of `text` (len bytes). 0, or -EINVAL (not JSON, or a counter missing). */
int wire_parse_varz(const char *text, size_t len, WireNatsSample *ret);

/* Pure: the growth of each counter; one that went back (nats-server restarted) counts from 0 again. */
void wire_nats_diff(const WireNatsSample *begin, const WireNatsSample *end, WireNatsSample *ret);

/* Pure: the connections in `ss -Htin` output (a line "Recv-Q Send-Q local peer" per socket, its tcp_info on the
 * following indented line, or on the same line with ss -O) whose local port is `port`. Missing bytes_sent or
 * bytes_received mean 0 (ss prints only counters above 0). Fills at most `cap` entries of `conns`; *n is how many
 * matched, even beyond cap. 0, or -EINVAL (a socket line without local and peer address). */
int wire_parse_ss(const char *text, uint16_t port, WirePgConn *conns, size_t cap, size_t *n);

/* Pure: the traffic between two samples (n_begin and n_end entries; n_* may exceed the entries held, the rest
 * counting as uncounted), over the connections with the same peer at both whose counters did not go back (one
 * that did is a new connection on a reused client port). */
void wire_pg_diff(const WirePgConn *begin, size_t n_begin, const WirePgConn *end, size_t n_end, size_t cap,
                  WirePgWork *ret);

/* The port and host of `conninfo` (a postgresql:// URL or key=value words; what it leaves out is what libpq would
 * use: PGHOST, PGPORT, its defaults). 0 with *port when the server is reached over TCP on this machine (host
 * 127.0.0.1, ::1 or localhost); -EINVAL otherwise, with the reason in why (why_cap bytes). */
int wire_pg_port(const char *conninfo, uint16_t *port, char *why, size_t why_cap);
