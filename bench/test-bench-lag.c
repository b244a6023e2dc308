/* Unit test of the /jsz parser: consumers by stream, streams' last sequence, both samples, the window's
 * publishes and deliveries, and refusal of other JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench-lag.h"
#include "test-check.h"

static const char begin_json[] =
        "{\"server_id\":\"x\",\"config\":{\"max_bytes\":18446744073709551615},\"account_details\":[{\"name\":\"$G\",\"stream_detail\":["
        "{\"name\":\"FOOD_CMD\",\"state\":{\"messages\":10,\"first_seq\":991,\"last_seq\":1000},\"consumer_detail\":["
        "{\"name\":\"store\",\"num_pending\":5,\"num_ack_pending\":1,\"num_redelivered\":0,"
        "\"delivered\":{\"consumer_seq\":100,\"stream_seq\":100}},"
        "{\"name\":\"payment\",\"num_pending\":0,\"num_ack_pending\":0,\"num_redelivered\":2,"
        "\"delivered\":{\"consumer_seq\":50,\"stream_seq\":60}}]},"
        "{\"name\":\"FOOD_DLQ\",\"state\":{\"messages\":0,\"last_seq\":3}}]}]}";
static const char end_json[] =
        "{\"account_details\":[{\"stream_detail\":[{\"name\":\"FOOD_CMD\",\"state\":{\"last_seq\":1500},"
        "\"consumer_detail\":["
        "{\"name\":\"store\",\"num_pending\":900,\"num_ack_pending\":70,\"num_redelivered\":3,"
        "\"delivered\":{\"consumer_seq\":400}},"
        "{\"name\":\"delivery\",\"num_pending\":1,\"delivered\":{\"consumer_seq\":7}}]},"
        "{\"name\":\"FOOD_EVT\",\"state\":{\"last_seq\":40}}]}]}";

int main(void) {
        Lag *l = NULL;
        if (lag_new(&l, NULL) < 0) {
                printf("FAIL: lag_new\n");
                return 1;
        }
        int r = lag_parse(l, begin_json, strlen(begin_json), true);
        CHECK(r == 0, "begin sample: expected 0, got %d", r);
        r = lag_parse(l, end_json, strlen(end_json), false);
        CHECK(r == 0, "end sample: expected 0, got %d", r);

        const LagFigure *f = NULL;
        size_t n = lag_figures(l, &f);
        CHECK(n == 3, "consumers: expected 3 (store, payment, delivery), got %zu", n);
        if (n == 3) {
                CHECK(strcmp(f[0].name, "FOOD_CMD/store") == 0, "first: expected FOOD_CMD/store, got %s", f[0].name);
                CHECK(f[0].begun && f[0].ended, "store: expected in both samples, got %d/%d", f[0].begun, f[0].ended);
                CHECK(f[0].pending[0] == 5 && f[0].pending[1] == 900,
                      "store pending: expected 5 -> 900, got %" PRIu64 " -> %" PRIu64, f[0].pending[0], f[0].pending[1]);
                CHECK(f[0].delivered[0] == 100 && f[0].delivered[1] == 400,
                      "store delivered: expected 100 -> 400, got %" PRIu64 " -> %" PRIu64, f[0].delivered[0],
                      f[0].delivered[1]);
                CHECK(f[0].ack_pending[1] == 70, "store ack pending: expected 70, got %" PRIu64, f[0].ack_pending[1]);
                CHECK(f[1].begun && !f[1].ended, "payment: expected only in the first sample, got %d/%d", f[1].begun,
                      f[1].ended);
                CHECK(strcmp(f[2].name, "FOOD_CMD/delivery") == 0 && !f[2].begun && f[2].ended,
                      "third: expected FOOD_CMD/delivery only at the end, got %s %d/%d", f[2].name, f[2].begun,
                      f[2].ended);
        }

        const LagStream *s = NULL;
        n = lag_streams(l, &s);
        CHECK(n == 3, "streams: expected 3 (FOOD_CMD, FOOD_DLQ, FOOD_EVT), got %zu", n);
        if (n == 3) {
                CHECK(strcmp(s[0].name, "FOOD_CMD") == 0 && s[0].begun && s[0].ended,
                      "first stream: expected FOOD_CMD in both samples, got %s %d/%d", s[0].name, s[0].begun,
                      s[0].ended);
                CHECK(s[0].last_seq[0] == 1000 && s[0].last_seq[1] == 1500,
                      "FOOD_CMD last_seq: expected 1000 -> 1500, got %" PRIu64 " -> %" PRIu64, s[0].last_seq[0],
                      s[0].last_seq[1]);
                CHECK(s[1].begun && !s[1].ended && s[1].last_seq[0] == 3,
                      "FOOD_DLQ: expected last_seq 3 in the first sample only, got %" PRIu64 " %d/%d",
                      s[1].last_seq[0], s[1].begun, s[1].ended);
                CHECK(strcmp(s[2].name, "FOOD_EVT") == 0 && !s[2].begun && s[2].ended && s[2].last_seq[1] == 40,
                      "third stream: expected FOOD_EVT at the end with last_seq 40, got %s %d/%d %" PRIu64, s[2].name,
                      s[2].begun, s[2].ended, s[2].last_seq[1]);
        }

        /* Publishes: FOOD_CMD 500 + FOOD_EVT 40 (created in the window) + FOOD_DLQ 0 (gone); deliveries: store 300
         * + delivery 7 (created in the window) + payment 0 (gone). */
        LagWork w;
        lag_work(l, &w);
        CHECK(w.published == 540, "published: expected 540, got %" PRIu64, w.published);
        CHECK(w.delivered == 307, "delivered: expected 307, got %" PRIu64, w.delivered);

        uint64_t d = lag_delta(true, true, 10, 25);
        CHECK(d == 15, "delta 10 -> 25: expected 15, got %" PRIu64, d);
        d = lag_delta(true, true, 10, 4);
        CHECK(d == 4, "delta 10 -> 4 (re-created): expected 4, got %" PRIu64, d);
        d = lag_delta(false, true, 0, 9);
        CHECK(d == 9, "delta of one seen only at the end: expected 9, got %" PRIu64, d);
        d = lag_delta(true, false, 10, 0);
        CHECK(d == 0, "delta of one seen only at the begin: expected 0, got %" PRIu64, d);

        CHECK(lag_parse(l, "[1,2]", 5, true) < 0, "an array was accepted as a /jsz answer");
        CHECK(lag_parse(l, "not json", 8, true) < 0, "non-JSON was accepted");
        lag_free(l);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
