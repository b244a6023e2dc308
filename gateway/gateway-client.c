/* The client address of a request behind trusted proxies (see gateway-client.h). */
#include "gateway-client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Text to 16 bytes (IPv4 mapped); false when it is not an address. */
static bool addr_parse(const char *text, size_t len, uint8_t out[16]) {
        char buf[CLIENT_ADDR_MAX];
        struct in_addr v4;
        if (len == 0 || len >= sizeof(buf))
                return false;
        memcpy(buf, text, len);
        buf[len] = 0;
        if (inet_pton(AF_INET, buf, &v4) == 1) {
                memset(out, 0, 10);
                out[10] = out[11] = 0xff;
                memcpy(out + 12, &v4, 4);
                return true;
        }
        return inet_pton(AF_INET6, buf, out) == 1;
}

static bool net_has(const ClientNet *n, const uint8_t a[16]) {
        int bits = n->prefix;
        for (int i = 0; i < 16 && bits > 0; i++, bits -= 8) {
                uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
                if ((a[i] & mask) != (n->addr[i] & mask))
                        return false;
        }
        return true;
}

int client_proxies_parse(const char *list, ClientProxies *ret) {
        ClientProxies p = {.n = 0};
        const char *s = list ? list : "";

        while (*s) {
                while (*s == ' ' || *s == ',')
                        s++;
                if (!*s)
                        break;
                const char *end = s + strcspn(s, ", "), *slash = memchr(s, '/', (size_t)(end - s));
                size_t alen = (size_t)((slash ? slash : end) - s);
                ClientNet *n = &p.nets[p.n];
                bool v4 = memchr(s, ':', alen) == NULL;
                if (p.n == CLIENT_PROXIES_MAX || !addr_parse(s, alen, n->addr))
                        return -EINVAL;
                n->prefix = 128;
                if (slash) {
                        char *stop = NULL;
                        long bits = strtol(slash + 1, &stop, 10);
                        if (stop != end || slash + 1 == end || bits < 0 || bits > (v4 ? 32 : 128))
                                return -EINVAL;
                        n->prefix = (int)(v4 ? bits + 96 : bits);
                }
                p.n++;
                s = end;
        }
        *ret = p;
        return 0;
}

bool client_proxies_trust(const ClientProxies *p, const char *addr) {
        uint8_t a[16];
        if (!p || !addr || !addr_parse(addr, strlen(addr), a))
                return false;
        for (size_t i = 0; i < p->n; i++)
                if (net_has(&p->nets[i], a))
                        return true;
        return false;
}

void client_address(const ClientProxies *p, const char *peer, const char *forwarded, char *out, size_t cap) {
        const char *pick = NULL;
        size_t pick_len = 0;
        uint8_t a[16];

        snprintf(out, cap, "%s", peer ? peer : "");
        if (!forwarded || !client_proxies_trust(p, peer))
                return;
        /* From the right: each hop a trusted proxy appended, until the first address none of ours wrote. */
        const char *end = forwarded + strlen(forwarded);
        while (end > forwarded) {
                const char *start = end;
                while (start > forwarded && start[-1] != ',')
                        start--;
                const char *b = start, *e = end;
                while (b < e && (*b == ' ' || *b == '\t'))
                        b++;
                while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                        e--;
                if (!addr_parse(b, (size_t)(e - b), a))
                        return; /* malformed: the peer it is */
                pick = b;
                pick_len = (size_t)(e - b);
                char text[CLIENT_ADDR_MAX];
                snprintf(text, sizeof(text), "%.*s", (int)pick_len, pick);
                if (!client_proxies_trust(p, text))
                        break;
                end = start > forwarded ? start - 1 : forwarded;
        }
        if (pick)
                snprintf(out, cap, "%.*s", (int)pick_len, pick);
}
