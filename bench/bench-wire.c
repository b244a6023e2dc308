/* Reads nats-server's /varz byte and message counters and PostgreSQL's TCP counters (via `ss`) at both window edges. */
#include "bench-wire.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-http.h"

struct Wire {
        Http *http; /* nats-server's monitoring endpoint; NULL without one */
        WireNatsSample nats[2];
        bool nats_sampled[2];

        uint16_t pg_port; /* 0: no PostgreSQL figure, pg_note says why */
        char pg_note[160];
        WirePgConn pg[2][WIRE_PG_CONNS_MAX];
        size_t n_pg[2]; /* connections seen, possibly more than held */
        bool pg_sampled[2];
};

int wire_new(Wire **ret, const char *monitor_url, const char *conninfo) {
        Wire *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        if (monitor_url) {
                int r = http_new(&w->http, monitor_url, 1, 3000);
                if (r < 0) {
                        free(w);
                        return r;
                }
        }
        if (conninfo && wire_pg_port(conninfo, &w->pg_port, w->pg_note, sizeof(w->pg_note)) < 0)
                w->pg_port = 0;
        *ret = w;
        return 0;
}

void wire_free(Wire *w) {
        if (!w)
                return;
        http_free(w->http);
        free(w);
}

const char *wire_pg_note(const Wire *w) {
        return w->pg_note;
}

/* ---- NATS ---------------------------------------------------------------------------------------------------- */

/* A counter of /varz: a number, never negative. Decoded as a real (see wire_parse_varz): exact up to 2^53. */
static int varz_u64(json_t *root, const char *key, uint64_t *ret) {
        json_t *v = json_object_get(root, key);
        double d = json_number_value(v);
        if (!json_is_number(v) || d < 0 || d >= 1.8e19)
                return -EINVAL;
        *ret = (uint64_t)d;
        return 0;
}

int wire_parse_varz(const char *text, size_t len, WireNatsSample *ret) {
        json_error_t jerr;
        /* INT_AS_REAL: a limit elsewhere in the page may be an unsigned 64-bit value that jansson's signed
         * integers refuse, which would cost the whole page. */
        json_t *root = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &jerr);
        WireNatsSample s;
        int r = -EINVAL;
        if (json_is_object(root) && varz_u64(root, "in_msgs", &s.in_msgs) == 0 &&
            varz_u64(root, "out_msgs", &s.out_msgs) == 0 && varz_u64(root, "in_bytes", &s.in_bytes) == 0 &&
            varz_u64(root, "out_bytes", &s.out_bytes) == 0) {
                *ret = s;
                r = 0;
        }
        json_decref(root);
        return r;
}

static uint64_t growth(uint64_t begin, uint64_t end) {
        return end >= begin ? end - begin : end;
}

void wire_nats_diff(const WireNatsSample *begin, const WireNatsSample *end, WireNatsSample *ret) {
        *ret = (WireNatsSample){
                .in_msgs = growth(begin->in_msgs, end->in_msgs),
                .out_msgs = growth(begin->out_msgs, end->out_msgs),
                .in_bytes = growth(begin->in_bytes, end->in_bytes),
                .out_bytes = growth(begin->out_bytes, end->out_bytes),
        };
}

int wire_sample_nats(Wire *w, bool begin, char *err, size_t err_cap) {
        if (!w->http) {
                snprintf(err, err_cap, "no monitoring URL");
                return -EINVAL;
        }
        char *body = NULL;
        int r = http_get_ok(w->http, "/varz", &body, err, err_cap);
        if (r < 0)
                return r;
        WireNatsSample s;
        r = wire_parse_varz(body, strlen(body), &s);
        free(body);
        if (r < 0) {
                snprintf(err, err_cap, "not a /varz answer (no in_msgs, out_msgs, in_bytes, out_bytes)");
                return -EPROTO;
        }
        w->nats[begin ? 0 : 1] = s;
        w->nats_sampled[begin ? 0 : 1] = true;
        return 0;
}

bool wire_nats_work(const Wire *w, WireNatsSample *ret) {
        if (!w->nats_sampled[0] || !w->nats_sampled[1])
                return false;
        wire_nats_diff(&w->nats[0], &w->nats[1], ret);
        return true;
}

/* ---- PostgreSQL -------------------------------------------------------------------------------------------- */

int wire_pg_port(const char *conninfo, uint16_t *port, char *why, size_t why_cap) {
        char *perr = NULL;
        PQconninfoOption *opts = PQconninfoParse(conninfo, &perr), *defaults = PQconndefaults();
        const char *host = NULL, *hostaddr = NULL, *portstr = NULL;
        int r = -EINVAL;
        if (!opts) {
                snprintf(why, why_cap, "--database not understood: %.*s", perr ? (int)strcspn(perr, "\n") : 0,
                         perr ? perr : "");
                goto out;
        }
        /* What the conninfo says, else what libpq would use (PGHOST, PGPORT, its compiled-in defaults). */
        for (const PQconninfoOption *list[] = {opts, defaults}, **l = list; l < list + 2; l++)
                for (const PQconninfoOption *o = *l; o && o->keyword; o++) {
                        const char *v = o->val && *o->val ? o->val : NULL;
                        if (!host && strcmp(o->keyword, "host") == 0)
                                host = v;
                        else if (!hostaddr && strcmp(o->keyword, "hostaddr") == 0)
                                hostaddr = v;
                        else if (!portstr && strcmp(o->keyword, "port") == 0)
                                portstr = v;
                }
        const char *addr = hostaddr ? hostaddr : host;
        if (!addr || addr[0] == '/' || addr[0] == '@') {
                snprintf(why, why_cap, "PostgreSQL is reached over a Unix socket: no TCP counters");
                goto out;
        }
        if (strcmp(addr, "127.0.0.1") != 0 && strcmp(addr, "::1") != 0 && strcmp(addr, "localhost") != 0) {
                snprintf(why, why_cap, "PostgreSQL at %.60s: only a server on this machine (127.0.0.1) is measured",
                         addr);
                goto out;
        }
        unsigned long p = 0;
        const char *c = portstr ? portstr : "5432";
        for (; *c >= '0' && *c <= '9' && p <= 65535; c++)
                p = p * 10 + (unsigned long)(*c - '0');
        if (*c || p == 0 || p > 65535) {
                snprintf(why, why_cap, "PostgreSQL port \"%.20s\" is not one port", portstr ? portstr : "");
                goto out;
        }
        *port = (uint16_t)p;
        r = 0;
out:
        PQconninfoFree(opts);
        PQconninfoFree(defaults);
        PQfreemem(perr);
        return r;
}

/* The decimal number at s, up to the first non-digit; 0 when there is none. Saturates instead of wrapping. */
static uint64_t ss_number(const char *s) {
        uint64_t v = 0;
        for (; *s >= '0' && *s <= '9'; s++)
                v = v > (UINT64_MAX - 9) / 10 ? UINT64_MAX : v * 10 + (uint64_t)(*s - '0');
        return v;
}

/* The next whitespace-separated word of the line at *s: its start, its length in *len; NULL at the line's end. */
static const char *ss_word(const char **s, size_t *len) {
        const char *p = *s + strspn(*s, " \t");
        if (*p == '\0' || *p == '\n')
                return NULL;
        *len = strcspn(p, " \t\n");
        *s = p + *len;
        return p;
}

static bool word_is_number(const char *w, size_t len) {
        return len > 0 && strspn(w, "0123456789") >= len;
}

int wire_parse_ss(const char *text, uint16_t port, WirePgConn *conns, size_t cap, size_t *n) {
        WirePgConn *cur = NULL; /* the socket the info words belong to; NULL for one of another port */
        bool in_socket = false;
        size_t count = 0;
        for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
                const char *s = line, *w;
                size_t len;
                if (*line != ' ' && *line != '\t' && *line != '\n') {
                        /* "[State] Recv-Q Send-Q Local:Port Peer:Port [Process]": the state only without a filter. */
                        const char *words[5];
                        size_t lens[5], k = 0;
                        while (k < 5 && (w = ss_word(&s, &len))) {
                                words[k] = w;
                                lens[k++] = len;
                        }
                        size_t first = k > 0 && !word_is_number(words[0], lens[0]) ? 1 : 0;
                        if (k < first + 4 || !word_is_number(words[first], lens[first]) ||
                            !word_is_number(words[first + 1], lens[first + 1]))
                                return -EINVAL;
                        const char *local = words[first + 2], *peer = words[first + 3];
                        size_t llen = lens[first + 2], plen = lens[first + 3];
                        const char *colon = memrchr(local, ':', llen);
                        if (!colon || !memchr(peer, ':', plen) || plen >= WIRE_PEER_MAX)
                                return -EINVAL;
                        in_socket = true;
                        cur = NULL;
                        size_t port_len = (size_t)(local + llen - colon - 1);
                        if (port_len == 0 || strspn(colon + 1, "0123456789") != port_len ||
                            ss_number(colon + 1) != port)
                                continue; /* another port (or "*"): its info lines are skipped too */
                        if (count < cap) {
                                cur = &conns[count];
                                *cur = (WirePgConn){0};
                                memcpy(cur->peer, peer, plen);
                        }
                        count++;
                        s = peer + plen; /* ss -O: the info follows on the same line */
                } else if (!in_socket) {
                        continue;
                }
                while (cur && (w = ss_word(&s, &len))) {
                        if (len > 11 && strncmp(w, "bytes_sent:", 11) == 0)
                                cur->sent = ss_number(w + 11);
                        else if (len > 15 && strncmp(w, "bytes_received:", 15) == 0)
                                cur->received = ss_number(w + 15);
                }
        }
        *n = count;
        return 0;
}

void wire_pg_diff(const WirePgConn *begin, size_t n_begin, const WirePgConn *end, size_t n_end, size_t cap,
                  WirePgWork *ret) {
        size_t held_begin = n_begin < cap ? n_begin : cap, held_end = n_end < cap ? n_end : cap;
        size_t matched = 0;
        *ret = (WirePgWork){0};
        for (size_t i = 0; i < held_end; i++) {
                const WirePgConn *e = &end[i];
                const WirePgConn *b = NULL;
                for (size_t j = 0; j < held_begin && !b; j++)
                        if (strcmp(begin[j].peer, e->peer) == 0)
                                b = &begin[j];
                if (!b)
                        continue;
                matched++;
                if (e->sent < b->sent || e->received < b->received)
                        continue; /* the peer's port was reused by a new connection */
                ret->from_server += e->sent - b->sent;
                ret->to_server += e->received - b->received;
                ret->conns++;
        }
        /* Everything not counted, on either side: connections opened or closed in the window, a reused peer
         * (its old and new connection), and those beyond the ceiling. */
        ret->uncounted = n_begin + n_end - 2 * ret->conns;
}

/* Runs ss for `port` and returns its output, NUL-terminated, in *ret (free it). 0 or negative errno, with err. */
static int ss_run(uint16_t port, char **ret, char *err, size_t err_cap) {
        char a0[] = "ss", a1[] = "-Htin", a2[] = "state", a3[] = "established", filter[32];
        snprintf(filter, sizeof(filter), "( sport = :%u )", (unsigned)port);
        char *argv[] = {a0, a1, a2, a3, filter, NULL};
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0) {
                snprintf(err, err_cap, "pipe: %s", strerror(errno));
                return -errno;
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        pid_t pid;
        int r = posix_spawnp(&pid, "ss", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(fds[1]);
        if (r != 0) {
                close(fds[0]);
                if (r == ENOENT)
                        snprintf(err, err_cap, "ss (iproute2) not found in PATH");
                else
                        snprintf(err, err_cap, "cannot run ss: %s", strerror(r));
                return r == ENOENT ? -ENOENT : -r;
        }

        size_t len = 0, cap = 65536;
        char *buf = malloc(cap);
        bool too_long = false;
        r = 0;
        while (buf) {
                if (len + 1 == cap) {
                        if (cap >= WIRE_SS_OUTPUT_MAX) {
                                too_long = true;
                                break;
                        }
                        char *b = realloc(buf, cap * 2);
                        if (!b) {
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        buf = b;
                        cap *= 2;
                }
                ssize_t got = read(fds[0], buf + len, cap - 1 - len);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0) {
                        if (got < 0)
                                r = -errno;
                        break;
                }
                len += (size_t)got;
        }
        close(fds[0]); /* an ss still writing (output too long) gets EPIPE and ends */
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!buf) {
                snprintf(err, err_cap, "out of memory");
                return -ENOMEM;
        }
        if (too_long || r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (too_long)
                        snprintf(err, err_cap, "ss printed more than %u bytes", WIRE_SS_OUTPUT_MAX);
                else if (r < 0)
                        snprintf(err, err_cap, "reading ss: %s", strerror(-r));
                else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                        snprintf(err, err_cap, "ss not found");
                else
                        snprintf(err, err_cap, "ss failed (status %d)", status);
                free(buf);
                return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOENT : -EPROTO;
        }
        buf[len] = '\0';
        *ret = buf;
        return 0;
}

int wire_sample_pg(Wire *w, bool begin, char *err, size_t err_cap) {
        if (w->pg_port == 0) {
                snprintf(err, err_cap, "%s", w->pg_note[0] ? w->pg_note : "no PostgreSQL port");
                return -EINVAL;
        }
        char *out = NULL;
        int k = begin ? 0 : 1;
        int r = ss_run(w->pg_port, &out, err, err_cap);
        if (r < 0) {
                snprintf(w->pg_note, sizeof(w->pg_note), "%s", err);
                return r;
        }
        r = wire_parse_ss(out, w->pg_port, w->pg[k], WIRE_PG_CONNS_MAX, &w->n_pg[k]);
        if (r < 0) {
                size_t first = strcspn(out, "\n");
                snprintf(err, err_cap, "ss printed something else: \"%.*s\"", (int)(first < 80 ? first : 80), out);
                snprintf(w->pg_note, sizeof(w->pg_note), "ss printed something else");
        } else {
                w->pg_sampled[k] = true;
        }
        free(out);
        return r;
}

bool wire_pg_work(const Wire *w, WirePgWork *ret) {
        if (!w->pg_sampled[0] || !w->pg_sampled[1])
                return false;
        wire_pg_diff(w->pg[0], w->n_pg[0], w->pg[1], w->n_pg[1], WIRE_PG_CONNS_MAX, ret);
        return true;
}
