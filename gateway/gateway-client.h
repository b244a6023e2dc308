/* Who the client of a request is: the peer address, or, when the peer is one of the operator's
 * trusted proxies (TRUSTED_PROXIES, e.g. the Ingress controller), the address it forwarded in
 * X-Forwarded-For. Pure. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_PROXIES_MAX 32
#define CLIENT_ADDR_MAX 46 /* an IPv6 address as text, NUL included */

typedef struct {
        uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
        int prefix;       /* bits of addr that must match (0..128) */
} ClientNet;

typedef struct {
        ClientNet nets[CLIENT_PROXIES_MAX];
        size_t n;
} ClientProxies;

/* Parses a comma-separated list of addresses and CIDR blocks ("10.0.0.0/8, ::1, 192.168.1.7"); ""
 * is none. 0, or -EINVAL (nothing kept) for an entry that is not one, or more than
 * CLIENT_PROXIES_MAX. */
int client_proxies_parse(const char *list, ClientProxies *ret);

/* Whether `addr` (text) is one of the trusted proxies. */
bool client_proxies_trust(const ClientProxies *p, const char *addr);

/* The client's address into out (cap >= CLIENT_ADDR_MAX): `peer` unless it is trusted and
 * `forwarded` (X-Forwarded-For, may be NULL) names addresses; then the right-most address of it
 * that is not a trusted proxy (the left-most when all are), so that a client cannot choose its key
 * by sending its own header. A malformed header counts as absent. */
void client_address(const ClientProxies *p, const char *peer, const char *forwarded, char *out, size_t cap);
