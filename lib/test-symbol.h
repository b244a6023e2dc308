/* For unit tests of a symbol this project supplies in place of a library's (lib/bus.c's RAND_bytes,
 * lib/pg.c's _gnutls_global_init_skip): what the libraries' look-up finds. */
#pragma once
#include <dlfcn.h>
#include <string.h>

/* The definition of `name` first in the global scope, where every library's look-up goes: NULL when none. */
static inline void (*test_symbol(const char *name))(void) {
        void *sym = dlsym(RTLD_DEFAULT, name);
        void (*found)(void) = NULL;
        memcpy(&found, &sym, sizeof(found)); /* ISO C has no cast from an object pointer to a function pointer */
        return found;
}
