/* Unit test of the redelivery back-off (how long a handed-back message waits), and that this nats.c's messages
 * are freed on the destroying thread, not by its collector thread. */
#include <stdint.h>

#include "bus.h"
#include "test-check.h"

int main(void) {
        const int64_t want[] = {1000, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
        int64_t total = 0;

        for (uint64_t d = 0; d < sizeof(want) / sizeof(want[0]); d++)
                CHECK(bus_nak_delay_ms(d) == want[d], "delivery %llu: expected %lld ms, got %lld",
                      (unsigned long long)d, (long long)want[d], (long long)bus_nak_delay_ms(d));
        CHECK(bus_nak_delay_ms(UINT64_MAX) == 30000, "huge delivery count: got %lld",
              (long long)bus_nak_delay_ms(UINT64_MAX));
        /* The waits before the 20th delivery (MaxDeliver) add up to minutes, not seconds. */
        for (uint64_t d = 1; d < 20; d++)
                total += bus_nak_delay_ms(d);
        CHECK(total >= 5 * 60 * 1000, "19 redeliveries span only %lld ms", (long long)total);
        CHECK(bus_frees_inline(), "nats.c's message layout is not the one lib/bus.c checks: every message would "
                                  "again wake the collector thread");
        return failures ? 1 : 0;
}
