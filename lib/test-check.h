/* The unit tests' one assertion: counts and reports a failure (file, line,
 * expected vs actual in the message) and goes on; it never hides a return.
 * main() ends with `return failures ? 1 : 0;`. */
#pragma once
#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                                                              \
        do {                                                                                                          \
                if (!(cond)) {                                                                                        \
                        failures++;                                                                                   \
                        printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                   \
                        printf(__VA_ARGS__);                                                                          \
                        printf("\n");                                                                                 \
                }                                                                                                     \
        } while (0)
