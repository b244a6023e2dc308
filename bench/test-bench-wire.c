/* Unit test of the wire figures' pure parts: /varz counters, `ss -Htin` output (a sample captured on this machine
 * from a local PostgreSQL on port 15433), the PostgreSQL traffic between two samples and the port of a conninfo. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench-wire.h"
#include "test-check.h"

/* `ss -Htin state established '( sport = :15433 )'` with the platform of deploy/local/run.sh idle (PG_PORT=15433):
 * the first three of its connections, verbatim (tab, trailing blanks and all). */
static const char ss_begin[] =
        "0      0      127.0.0.1:15433 127.0.0.1:56610\n"
        "\t bbr wscale:10,10 rto:204 rtt:0.29/0.561 ato:40 mss:32768 pmtu:65535 rcvmss:687 advmss:65483 "
        "cwnd:18 bytes_sent:5667 bytes_acked:5667 bytes_received:2388 segs_out:32 segs_in:57 "
        "data_segs_out:30 data_segs_in:30 "
        "bbr:(bw:43690656248bps,mrtt:0.006,pacing_gain:2.88672,cwnd_gain:2.88672) send 16271006897bps "
        "lastsnd:512 lastrcv:512 lastack:512 pacing_rate 1248614370224bps delivery_rate 43690666664bps "
        "delivered:31 app_limited busy:48ms rcv_space:58880 rcv_ssthresh:58880 minrtt:0.006 snd_wnd:65536    "
        "             \n"
        "0      0      127.0.0.1:15433 127.0.0.1:56532\n"
        "\t bbr wscale:10,10 rto:208 rtt:4.105/8.181 ato:44 mss:32768 pmtu:65535 rcvmss:536 advmss:65483 "
        "cwnd:15 bytes_sent:570 bytes_acked:570 bytes_received:145 segs_out:8 segs_in:13 data_segs_out:5 "
        "data_segs_in:5 bbr:(bw:26214390624bps,mrtt:0.01,pacing_gain:2.88672,cwnd_gain:2.88672) send "
        "957895250bps lastsnd:23144 lastrcv:23144 lastack:23144 pacing_rate 624307185112bps delivery_rate "
        "26214400000bps delivered:6 app_limited busy:44ms rcv_space:65483 rcv_ssthresh:65483 minrtt:0.01 "
        "snd_wnd:65536                      \n"
        "0      0      127.0.0.1:15433 127.0.0.1:58208\n"
        "\t bbr wscale:10,10 rto:208 rtt:5.896/11.691 ato:40 mss:32768 pmtu:65535 rcvmss:1060 advmss:65483 "
        "cwnd:18 bytes_sent:973 bytes_acked:973 bytes_received:2096 segs_out:19 segs_in:20 data_segs_out:14 "
        "data_segs_in:13 bbr:(bw:9362281248bps,mrtt:0.013,pacing_gain:2.88672,cwnd_gain:2.88672) send "
        "800303935bps lastsnd:23796 lastrcv:23796 lastack:23748 pacing_rate 576283534880bps delivery_rate "
        "9362285712bps delivered:15 app_limited busy:48ms rcv_space:65483 rcv_ssthresh:72561 minrtt:0.013 "
        "snd_wnd:65536               \n";

/* The same server later (crafted from the above): :56610 moved 1000 bytes each way, :56532 closed, :58208 gave
 * way to a new connection on the same client port (counters lower), :40000 opened; one IPv6 client; and a socket
 * of another port that the filter would have left out. */
static const char ss_end[] =
        "0      0      127.0.0.1:15433 127.0.0.1:56610\n"
        "\t bbr wscale:10,10 rto:204 cwnd:18 bytes_sent:6667 bytes_acked:6667 bytes_received:3388 segs_out:40\n"
        "0      0      127.0.0.1:15433 127.0.0.1:58208\n"
        "\t bbr wscale:10,10 rto:208 bytes_sent:100 bytes_acked:100 bytes_received:50\n"
        "0      0      127.0.0.1:15433 127.0.0.1:40000\n"
        "\t bbr wscale:10,10 rto:208 bytes_sent:300 bytes_received:200\n"
        "0      0      [::1]:15433 [::1]:41234\n"
        "\t cubic wscale:7,7 rto:204 bytes_received:9\n"
        "0      0      127.0.0.1:5432 127.0.0.1:50000\n"
        "\t cubic bytes_sent:777777 bytes_received:777777\n";

static const char varz[] =
        "{\"server_id\":\"NDW5SGZMG7ODX4Y23QWTCODN5VHHOTZ6SCPC55TFTCVC5RJMWHOLL2NV\",\"version\":\"2.9.10\","
        "\"jetstream\":{\"config\":{\"max_memory\":18957118464,\"max_storage\":18446744073709551615}},"
        "\"connections\":7,\"in_msgs\":486,\"out_msgs\":463,\"in_bytes\":18261,\"out_bytes\":69922,"
        "\"slow_consumers\":0}";

static const WirePgConn *find(const WirePgConn *c, size_t n, const char *peer) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(c[i].peer, peer) == 0)
                        return &c[i];
        return NULL;
}

static void conn_is(const WirePgConn *c, size_t n, const char *peer, uint64_t sent, uint64_t received) {
        const WirePgConn *f = find(c, n, peer);
        CHECK(f && f->sent == sent && f->received == received,
              "%s: expected sent %" PRIu64 " received %" PRIu64 ", got %s %" PRIu64 " %" PRIu64, peer, sent, received,
              f ? "" : "(missing)", f ? f->sent : 0, f ? f->received : 0);
}

static void test_varz(void) {
        WireNatsSample a = {0}, b, d;
        int r = wire_parse_varz(varz, strlen(varz), &a);
        CHECK(r == 0 && a.in_msgs == 486 && a.out_msgs == 463 && a.in_bytes == 18261 && a.out_bytes == 69922,
              "varz: expected 0, 486 463 18261 69922, got %d, %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, r,
              a.in_msgs, a.out_msgs, a.in_bytes, a.out_bytes);
        b = (WireNatsSample){.in_msgs = 1486, .out_msgs = 2463, .in_bytes = 118261, .out_bytes = 269922};
        wire_nats_diff(&a, &b, &d);
        CHECK(d.in_msgs == 1000 && d.out_msgs == 2000 && d.in_bytes == 100000 && d.out_bytes == 200000,
              "varz growth: expected 1000 2000 100000 200000, got %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
              d.in_msgs, d.out_msgs, d.in_bytes, d.out_bytes);
        /* nats-server restarted in the window: its counters start from 0 again. */
        b.in_bytes = 50;
        wire_nats_diff(&a, &b, &d);
        CHECK(d.in_bytes == 50, "varz after a restart: expected 50, got %" PRIu64, d.in_bytes);

        const char *refused[] = {"", "[]", "{\"in_msgs\":1,\"out_msgs\":1,\"in_bytes\":1}",
                                 "{\"in_msgs\":1,\"out_msgs\":1,\"in_bytes\":\"1\",\"out_bytes\":1}",
                                 "{\"in_msgs\":-1,\"out_msgs\":1,\"in_bytes\":1,\"out_bytes\":1}", "<html>"};
        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                WireNatsSample s = {.in_msgs = 7};
                r = wire_parse_varz(refused[i], strlen(refused[i]), &s);
                CHECK(r == -EINVAL && s.in_msgs == 7, "varz %s: expected -EINVAL and untouched, got %d", refused[i], r);
        }
}

static void test_ss(void) {
        WirePgConn a[8], b[8];
        size_t na = 0, nb = 0;
        int r = wire_parse_ss(ss_begin, 15433, a, 8, &na);
        CHECK(r == 0 && na == 3, "captured sample: expected 0 and 3 connections, got %d and %zu", r, na);
        conn_is(a, na, "127.0.0.1:56610", 5667, 2388);
        conn_is(a, na, "127.0.0.1:56532", 570, 145);
        conn_is(a, na, "127.0.0.1:58208", 973, 2096);

        r = wire_parse_ss(ss_end, 15433, b, 8, &nb);
        CHECK(r == 0 && nb == 4, "end sample: expected 0 and 4 connections of port 15433, got %d and %zu", r, nb);
        conn_is(b, nb, "[::1]:41234", 0, 9); /* no bytes_sent printed: 0 */
        CHECK(!find(b, nb, "127.0.0.1:50000"), "a socket of port 5432 was taken for 15433");

        WirePgWork w;
        wire_pg_diff(a, na, b, nb, 8, &w);
        /* Only :56610 was alive at both samples; :58208's counters went back (a new connection). */
        CHECK(w.conns == 1 && w.from_server == 1000 && w.to_server == 1000,
              "diff: expected 1 connection, 1000 from and 1000 to the server, got %zu, %" PRIu64 ", %" PRIu64, w.conns,
              w.from_server, w.to_server);
        /* Begin: :56532 (closed), :58208 (old); end: :58208 (new), :40000, [::1]:41234. */
        CHECK(w.uncounted == 5, "diff: expected 5 uncounted, got %zu", w.uncounted);

        /* A ceiling of 1 entry: the held connection still counts, the others are uncounted. */
        size_t n1 = 0;
        r = wire_parse_ss(ss_begin, 15433, a, 1, &n1);
        CHECK(r == 0 && n1 == 3 && strcmp(a[0].peer, "127.0.0.1:56610") == 0,
              "ceiling 1: expected 3 seen and :56610 held, got %d, %zu, %s", r, n1, a[0].peer);
        wire_pg_diff(a, n1, b, nb, 1, &w);
        CHECK(w.conns == 1 && w.uncounted == 5, "ceiling 1: expected 1 counted, 5 uncounted, got %zu, %zu", w.conns,
              w.uncounted);

        /* ss -O (one line per socket) and ss without a state filter (a State column first). */
        const char oneline[] = "ESTAB 0 0 127.0.0.1:15433 127.0.0.1:33333 bbr bytes_sent:10 bytes_acked:10 "
                               "bytes_received:20 segs_out:3\n";
        r = wire_parse_ss(oneline, 15433, a, 8, &na);
        CHECK(r == 0 && na == 1, "oneline: expected 0 and 1, got %d and %zu", r, na);
        conn_is(a, na, "127.0.0.1:33333", 10, 20);

        r = wire_parse_ss("", 15433, a, 8, &na);
        CHECK(r == 0 && na == 0, "no connections: expected 0 and 0, got %d and %zu", r, na);
        r = wire_parse_ss("Usage: ss [ OPTIONS ]\n", 15433, a, 8, &na);
        CHECK(r == -EINVAL, "usage text: expected -EINVAL, got %d", r);
        r = wire_parse_ss("0 0 127.0.0.1:15433\n", 15433, a, 8, &na);
        CHECK(r == -EINVAL, "no peer: expected -EINVAL, got %d", r);
}

static void port_ok(const char *conninfo, uint16_t expected) {
        uint16_t port = 0;
        char why[160] = "";
        int r = wire_pg_port(conninfo, &port, why, sizeof(why));
        CHECK(r == 0 && port == expected, "%s: expected 0 and port %u, got %d and %u (%s)", conninfo,
              (unsigned)expected, r, (unsigned)port, why);
}

static void port_refused(const char *conninfo) {
        uint16_t port = 7;
        char why[160] = "";
        int r = wire_pg_port(conninfo, &port, why, sizeof(why));
        CHECK(r == -EINVAL && port == 7 && why[0], "%s: expected -EINVAL with a reason, got %d and %u", conninfo, r,
              (unsigned)port);
}

static void test_port(void) {
        port_ok("postgresql://food@127.0.0.1:15433/food", 15433);
        port_ok("postgresql://food@localhost:5433/food?sslmode=disable", 5433);
        port_ok("postgresql://[::1]:6000/food", 6000);
        port_ok("host=127.0.0.1 port=5433 dbname=food", 5433);
        port_ok("hostaddr=127.0.0.1 port=5499", 5499);
        port_refused("postgresql://food@db.example.com:5432/food");
        port_refused("host=/var/run/postgresql dbname=food");
        port_refused("postgresql://127.0.0.1:99999/food");
        port_refused("host=127.0.0.1 port=5433,5434");
        port_refused("nonsense=1");
}

int main(void) {
        test_varz();
        test_ss();
        test_port();
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
