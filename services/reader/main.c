/* reader: the read side's PostgreSQL sessions, so that the gateway holds none (and loads no libpq). It owns the
 * catalog schema (migrations, the demo stores) and answers the gateway's read queries on food.read.<query>. */
#include "config.h"
#include "log.h"
#include "reader-serve.h"
#include "service.h"

extern const EmbeddedFile catalog_migrations[];
extern const size_t catalog_migrations_len;
extern const EmbeddedFile catalog_demo[]; /* services/reader/migrations/demo-catalog.sql */

int main(void) {
        Service svc;
        int64_t threads = 8;
        int r;
        bool demo = true;

        log_setup("reader", LOG_INFO);
        r = config_int("READER_THREADS", 8, 1, READER_THREADS_MAX, &threads);
        /* DEMO_CATALOG: the six demo stores, seeded into an empty catalog by whoever migrates it. */
        if (r == 0)
                r = config_bool("DEMO_CATALOG", true, &demo);
        if (r < 0)
                return 2;
        const ServiceSchema schema = {"catalog", catalog_migrations, catalog_migrations_len};
        r = service_start(&svc, "reader", &schema, 1, 9108);
        if (r == 0 && demo && svc.cfg.migrations == CONFIG_MIGRATIONS_APPLY) {
                r = pg_exec(svc.pg, catalog_demo[0].data);
                if (r < 0)
                        log_error("cannot seed the demo catalog: %s", pg_error(svc.pg));
        }
        if (r == 0)
                r = reader_serve(&svc, (int)threads);
        service_stop(&svc);
        return r < 0 ? 1 : 0;
}
