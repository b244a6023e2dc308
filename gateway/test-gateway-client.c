/* Unit test of the client address behind trusted proxies. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gateway-client.h"
#include "test-check.h"

static void expect(const ClientProxies *p, const char *peer, const char *xff, const char *want) {
        char out[CLIENT_ADDR_MAX];
        client_address(p, peer, xff, out, sizeof(out));
        CHECK(strcmp(out, want) == 0, "peer %s, X-Forwarded-For \"%s\": expected %s, got %s", peer, xff ? xff : "(none)",
              want, out);
}

int main(void) {
        ClientProxies none, p, bad;

        CHECK(client_proxies_parse("", &none) == 0 && none.n == 0, "an empty list");
        CHECK(client_proxies_parse("10.0.0.0/8, 127.0.0.1,::1 ,fd00::/8", &p) == 0 && p.n == 4, "four entries");
        const char *invalid[] = {"10.0.0.0/33", "10.0.0.1/", "nonsense", "300.1.1.1", "::1/129", "10.0.0.0/8x",
                                 "1.2.3.4/-1"};
        for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
                CHECK(client_proxies_parse(invalid[i], &bad) == -EINVAL, "\"%s\" refused", invalid[i]);

        CHECK(client_proxies_trust(&p, "10.200.3.4") && client_proxies_trust(&p, "127.0.0.1") &&
                      client_proxies_trust(&p, "::1") && client_proxies_trust(&p, "fd12::7"),
              "trusted ones");
        CHECK(!client_proxies_trust(&p, "11.0.0.1") && !client_proxies_trust(&p, "127.0.0.2") &&
                      !client_proxies_trust(&p, "fe80::1") && !client_proxies_trust(&p, "garbage"),
              "untrusted ones");

        /* No trusted proxy: the header is the client's own words, never believed. */
        expect(&none, "203.0.113.9", "1.2.3.4", "203.0.113.9");
        /* A trusted peer: the right-most address no trusted proxy wrote. */
        expect(&p, "127.0.0.1", "198.51.100.7", "198.51.100.7");
        expect(&p, "127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"); /* the client's own forged entry is ignored */
        expect(&p, "127.0.0.1", "198.51.100.7, 10.1.2.3", "198.51.100.7"); /* through a second trusted hop */
        expect(&p, "127.0.0.1", " 2001:db8::5 ,10.1.2.3", "2001:db8::5");
        expect(&p, "127.0.0.1", "10.9.9.9, 10.1.2.3", "10.9.9.9");         /* all trusted: the left-most */
        expect(&p, "127.0.0.1", NULL, "127.0.0.1");
        expect(&p, "127.0.0.1", "", "127.0.0.1");
        expect(&p, "127.0.0.1", "not-an-address", "127.0.0.1");
        expect(&p, "127.0.0.1", "198.51.100.7,,10.1.2.3", "127.0.0.1"); /* malformed: the peer */
        /* An untrusted peer's header is ignored. */
        expect(&p, "198.51.100.8", "10.0.0.1", "198.51.100.8");

        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("all client address checks passed\n");
        return 0;
}
