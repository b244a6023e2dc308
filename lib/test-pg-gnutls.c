/* Unit test: the GnuTLS that libpq loads (through libldap) finds this program's _gnutls_global_init_skip, the
 * one lib/pg.c defines, and so skips its start-up in the library constructor (0.8 MB of every service). */
#include "pg.h"
#include "test-check.h"
#include "test-symbol.h"

int main(void) {
        void (*found)(void) = test_symbol("_gnutls_global_init_skip");
        CHECK(found == (void (*)(void))_gnutls_global_init_skip, "_gnutls_global_init_skip resolves elsewhere (%s): "
              "GnuTLS would start itself in every process", found ? "GnuTLS's own, which says no" : "nowhere");
        CHECK(_gnutls_global_init_skip() == 1, "the program does not ask GnuTLS to skip its start-up");
        return failures ? 1 : 0;
}
