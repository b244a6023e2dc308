/* Unit test of the redelivery back-off (how long a handed-back message waits), that this nats.c's messages
 * are freed on the destroying thread, not by its collector thread, and that nats.c's RAND_bytes is the wrapper's
 * (getrandom), not the one that starts OpenSSL. */
#include <stdint.h>
#include <string.h>

#include "bus.h"
#include "test-check.h"
#include "test-symbol.h"

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
        /* The executable's RAND_bytes is the one every library finds (libnats.so's NUID seeding included). */
        void (*found)(void) = test_symbol("RAND_bytes");
        CHECK(found == (void (*)(void))RAND_bytes, "RAND_bytes resolves elsewhere (%s): nats.c would start OpenSSL",
              found ? "another library" : "nowhere");
        unsigned char x[64] = {0}, y[64] = {0}, zero[64] = {0};
        CHECK(RAND_bytes(x, sizeof(x)) == 1 && RAND_bytes(y, sizeof(y)) == 1, "RAND_bytes failed");
        CHECK(memcmp(x, zero, sizeof(x)) != 0 && memcmp(x, y, sizeof(x)) != 0, "RAND_bytes gave zeros or repeated");
        CHECK(RAND_bytes(x, 0) == 1 && RAND_bytes(x, -1) == 0, "RAND_bytes: 0 bytes is success, a negative count is not");
        return failures ? 1 : 0;
}
