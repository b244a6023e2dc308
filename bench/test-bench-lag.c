/* Unit test of the /jsz parser: consumers by stream, both samples, and refusal of other JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench-lag.h"
#include "test-check.h"

static const char begin_json[] =
        "{\"server_id\":\"x\",\"config\":{\"max_bytes\":18446744073709551615},\"account_details\":[{\"name\":\"$G\",\"stream_detail\":["
        "{\"name\":\"FOOD_CMD\",\"state\":{\"messages\":10},\"consumer_detail\":["
        "{\"name\":\"store\",\"num_pending\":5,\"num_ack_pending\":1,\"num_redelivered\":0,"
        "\"delivered\":{\"consumer_seq\":100,\"stream_seq\":100}},"
        "{\"name\":\"payment\",\"num_pending\":0,\"num_ack_pending\":0,\"num_redelivered\":2,"
        "\"delivered\":{\"consumer_seq\":50,\"stream_seq\":60}}]},"
        "{\"name\":\"FOOD_DLQ\",\"state\":{\"messages\":0}}]}]}";
static const char end_json[] =
        "{\"account_details\":[{\"stream_detail\":[{\"name\":\"FOOD_CMD\",\"consumer_detail\":["
        "{\"name\":\"store\",\"num_pending\":900,\"num_ack_pending\":70,\"num_redelivered\":3,"
        "\"delivered\":{\"consumer_seq\":400}},"
        "{\"name\":\"delivery\",\"num_pending\":1,\"delivered\":{\"consumer_seq\":7}}]}]}]}";

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
        CHECK(lag_parse(l, "[1,2]", 5, true) < 0, "an array was accepted as a /jsz answer");
        CHECK(lag_parse(l, "not json", 8, true) < 0, "non-JSON was accepted");
        lag_free(l);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
