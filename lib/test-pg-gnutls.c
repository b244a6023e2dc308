/* Unit test: the GnuTLS that libpq loads (through libldap) finds this program's _gnutls_global_init_skip, the
 * one lib/pg.c defines, and so skips its start-up in the library constructor (0.8 MB of every service). */
#include <dlfcn.h>
#include <string.h>

#include "pg.h"
#include "test-check.h"

int main(void) {
        void *sym = dlsym(RTLD_DEFAULT, "_gnutls_global_init_skip");
        int (*found)(void) = NULL;
        memcpy(&found, &sym, sizeof(found)); /* ISO C has no cast from an object pointer to a function pointer */
        CHECK(found == _gnutls_global_init_skip, "_gnutls_global_init_skip resolves elsewhere (%s): GnuTLS would "
              "start itself in every process", sym ? "GnuTLS's own, which says no" : "nowhere");
        CHECK(found && found() == 1, "the program does not ask GnuTLS to skip its start-up");
        return failures ? 1 : 0;
}
