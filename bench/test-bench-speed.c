/* Unit test of the speed reference: its steps are the ones the header names (so the loop does the work it
 * claims and cannot be folded away), and a timing is a positive number. */
#include <inttypes.h>
#include <stdio.h>

#include "bench-speed.h"
#include "test-check.h"

int main(void) {
        /* Over a table of zeros a step is Marsaglia's xorshift64 (13, 7, 17): from 1, by hand, 8193, 8257, then
         * 8257 ^ 8257 << 17. */
        uint32_t zeros[4] = {0};
        CHECK(speed_work(zeros, 3, 1, 0) == 1, "no step: expected the seed back");
        CHECK(speed_work(zeros, 3, 1, 1) == 1082269761ULL, "one step from 1: expected 1082269761, got %" PRIu64,
              speed_work(zeros, 3, 1, 1));
        CHECK(speed_work(zeros, 3, 0, 5) == speed_work(zeros, 3, 1, 5),
              "a zero seed (a fixed point of xorshift) is not taken as 1");
        /* The load: 1082269761 & 3 = 1, so one step over {0, 40, 0, 0} ends at 1082269761 ^ 40. */
        uint32_t table[4] = {0, 40, 0, 0};
        CHECK(speed_work(table, 3, 1, 1) == (1082269761ULL ^ 40), "one step with the table: expected %" PRIu64
              ", got %" PRIu64, (uint64_t)(1082269761ULL ^ 40), speed_work(table, 3, 1, 1));
        uint64_t x = 1;
        for (int i = 0; i < 1000; i++)
                x = speed_work(table, 3, x, 1);
        CHECK(speed_work(table, 3, 1, 1000) == x, "1000 steps at once differ from 1000 single steps");

        SpeedFigures f = {0}, again = {0};
        CHECK(speed_measure(&f) == 0, "no table for the memory loop");
        CHECK(f.compute_ms > 0 && f.compute_ms < 60000 && f.memory_ms > 0 && f.memory_ms < 60000,
              "the timed loops took %.3f and %.3f ms", f.compute_ms, f.memory_ms);
        CHECK(speed_measure(&again) == 0 && f.checksum == again.checksum && f.checksum != 0,
              "the timed loops are not the same work each time: %" PRIu64 " / %" PRIu64, f.checksum, again.checksum);
        printf("speed: %.1f ms of arithmetic, %.1f ms of loads at best of %d\n", f.compute_ms, f.memory_ms,
               SPEED_TRIES);
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
