/* Unit tests of metrics.c: registration from several threads while rendering, one HELP/TYPE per
 * family whatever the order of registration, truncation at whole lines. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "test-check.h"

static int count_of(const char *text, const char *needle) {
        int n = 0;
        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static char names[4][16][64];
static atomic_int stop_render;

static void *registrar(void *arg) {
        int t = (int)(long)arg;
        for (int i = 0; i < 16; i++) {
                snprintf(names[t][i], sizeof(names[t][i]), "test_threads_total{thread=\"%d\",i=\"%d\"}", t, i);
                metric_add(metrics_counter(names[t][i], "Series registered by several threads"), 1);
        }
        return NULL;
}

static void *renderer(void *arg) {
        static char buf[65536];
        (void)arg;
        while (!atomic_load(&stop_render))
                (void)metrics_render(buf, sizeof(buf));
        return NULL;
}

int main(void) {
        static char buf[65536];
        pthread_t regs[4], ren;

        /* A family whose series were registered apart (another family between them). */
        metric_add(metrics_counter("test_split_total{k=\"a\"}", "A family registered in two goes"), 1);
        metrics_gauge("test_between", "Registered in between");
        metric_add(metrics_counter("test_split_total{k=\"b\"}", "A family registered in two goes"), 2);
        size_t len = metrics_render(buf, sizeof(buf));
        CHECK(len == strlen(buf), "render returns the length written");
        CHECK(count_of(buf, "# TYPE test_split_total counter\n") == 1, "one TYPE line for a split family:\n%s", buf);
        const char *a = strstr(buf, "test_split_total{k=\"a\"} 1\n"), *b = strstr(buf, "test_split_total{k=\"b\"} 2\n"),
                   *between = strstr(buf, "# TYPE test_between gauge");
        CHECK(a && b && between && a < b && b < between, "a family's series together, in order:\n%s", buf);

        /* Four threads register while a fifth renders. */
        CHECK(pthread_create(&ren, NULL, renderer, NULL) == 0, "renderer thread");
        for (long t = 0; t < 4; t++)
                CHECK(pthread_create(&regs[t], NULL, registrar, (void *)t) == 0, "registrar thread %ld", t);
        for (int t = 0; t < 4; t++)
                pthread_join(regs[t], NULL);
        atomic_store(&stop_render, 1);
        pthread_join(ren, NULL);
        metrics_render(buf, sizeof(buf));
        CHECK(count_of(buf, "# TYPE test_threads_total counter\n") == 1, "one TYPE line for the threads' family");
        for (int t = 0; t < 4; t++)
                for (int i = 0; i < 16; i++) {
                        char line[96];
                        snprintf(line, sizeof(line), "%s 1\n", names[t][i]);
                        CHECK(strstr(buf, line) != NULL, "series %s rendered", names[t][i]);
                }

        /* A small buffer: whole lines only. */
        char small[100];
        len = metrics_render(small, sizeof(small));
        CHECK(len < sizeof(small) && small[len] == 0 && (len == 0 || small[len - 1] == '\n'),
              "truncated at a whole line: \"%s\"", small);

        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("all metrics checks passed\n");
        return 0;
}
