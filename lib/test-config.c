/* Unit test of environment parsing: defaults, bounds, and rejection of junk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "test-check.h"

int main(void) {
        int64_t v = 0;
        bool b = false;
        const char *s = NULL;

        log_setup("test", LOG_ERROR);
        unsetenv("T_INT");
        CHECK(config_int("T_INT", 7, 0, 10, &v) == 0 && v == 7, "default: expected 7, got %lld", (long long)v);
        setenv("T_INT", "9", 1);
        CHECK(config_int("T_INT", 7, 0, 10, &v) == 0 && v == 9, "value: expected 9, got %lld", (long long)v);
        setenv("T_INT", "11", 1);
        CHECK(config_int("T_INT", 7, 0, 10, &v) < 0, "11 accepted for [0,10]");
        setenv("T_INT", "3x", 1);
        CHECK(config_int("T_INT", 7, 0, 10, &v) < 0, "trailing junk accepted");
        setenv("T_INT", "99999999999999999999999", 1);
        CHECK(config_int("T_INT", 7, 0, 10, &v) < 0, "overflow accepted");
        setenv("T_BOOL", "maybe", 1);
        CHECK(config_bool("T_BOOL", false, &b) < 0, "'maybe' accepted as boolean");
        setenv("T_BOOL", "true", 1);
        CHECK(config_bool("T_BOOL", false, &b) == 0 && b, "'true' not parsed");
        unsetenv("T_REQ");
        CHECK(config_str("T_REQ", NULL, &s) < 0, "missing required variable accepted");
        ConfigMigrations m = CONFIG_MIGRATIONS_CHECK;
        unsetenv("MIGRATIONS");
        CHECK(config_migrations(&m) == 0 && m == CONFIG_MIGRATIONS_APPLY, "MIGRATIONS unset: expected apply (%d), got %d",
              CONFIG_MIGRATIONS_APPLY, (int)m);
        setenv("MIGRATIONS", "check", 1);
        CHECK(config_migrations(&m) == 0 && m == CONFIG_MIGRATIONS_CHECK, "MIGRATIONS=check: expected check (%d), got %d",
              CONFIG_MIGRATIONS_CHECK, (int)m);
        setenv("MIGRATIONS", "apply", 1);
        CHECK(config_migrations(&m) == 0 && m == CONFIG_MIGRATIONS_APPLY, "MIGRATIONS=apply: expected apply (%d), got %d",
              CONFIG_MIGRATIONS_APPLY, (int)m);
        setenv("MIGRATIONS", "Check", 1);
        CHECK(config_migrations(&m) < 0, "MIGRATIONS=Check (wrong case) accepted");
        setenv("MIGRATIONS", "skip", 1);
        CHECK(config_migrations(&m) < 0, "MIGRATIONS=skip accepted");
        CommonConfig c;
        CHECK(config_common(&c, "test", 0) < 0, "config_common accepted MIGRATIONS=skip");
        unsetenv("MIGRATIONS");
        CHECK(config_common(&c, "test", 0) == 0 && c.migrations == CONFIG_MIGRATIONS_APPLY,
              "config_common: expected 0 and apply, got migrations %d", (int)c.migrations);
        ConfigSched sc = CONFIG_SCHED_OTHER;
        unsetenv("SCHED_POLICY");
        CHECK(config_sched(&sc) == 0 && sc == CONFIG_SCHED_BATCH, "SCHED_POLICY unset: expected batch (%d), got %d",
              CONFIG_SCHED_BATCH, (int)sc);
        setenv("SCHED_POLICY", "other", 1);
        CHECK(config_sched(&sc) == 0 && sc == CONFIG_SCHED_OTHER, "SCHED_POLICY=other: expected other (%d), got %d",
              CONFIG_SCHED_OTHER, (int)sc);
        setenv("SCHED_POLICY", "fifo", 1);
        CHECK(config_sched(&sc) < 0, "SCHED_POLICY=fifo accepted");
        CHECK(config_common(&c, "test", 0) < 0, "config_common accepted SCHED_POLICY=fifo");
        setenv("SCHED_POLICY", "batch", 1);
        CHECK(config_common(&c, "test", 0) == 0 && c.sched == CONFIG_SCHED_BATCH,
              "config_common SCHED_POLICY=batch: expected 0 and batch, got sched %d", (int)c.sched);
        unsetenv("SCHED_POLICY");
        static const char *const words[] = {"red", "green"};
        int choice = -1;
        unsetenv("T_CHOICE");
        CHECK(config_choice("T_CHOICE", 1, words, 2, &choice) == 0 && choice == 1, "choice default: expected 1, got %d",
              choice);
        setenv("T_CHOICE", "red", 1);
        CHECK(config_choice("T_CHOICE", 1, words, 2, &choice) == 0 && choice == 0, "choice red: expected 0, got %d",
              choice);
        setenv("T_CHOICE", "blue", 1);
        CHECK(config_choice("T_CHOICE", 1, words, 2, &choice) < 0, "choice blue accepted");
        setenv("LOG_LEVEL", "loud", 1);
        CHECK(config_common(&c, "test", 0) < 0, "LOG_LEVEL=loud accepted");
        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
