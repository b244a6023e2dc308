/* /proc sampling: two snapshots (window start and end) of machine CPU and of the watched processes. */
#include "bench-procs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* One watched process in a snapshot. */
typedef struct {
        int pid;
        unsigned name; /* index into Procs.names */
        PidStat st;
        uint64_t hwm_kb;
        uint64_t ctxt; /* context switches summed over its threads */
} Seen;

/* Any process of the machine, as /proc listed it. */
typedef struct {
        int pid;
        PidStat st;
} AnyProc;

typedef struct {
        Seen *v;
        size_t n, cap;
        AnyProc *all; /* every process of the machine, sorted by pid */
        size_t n_all;
        MachineCpu machine;
        DiskWrites disk;
        bool has_disk;
        uint64_t self_us;
        uint64_t uptime_ticks; /* when the snapshot was taken, ticks since boot */
} Snapshot;

struct Procs {
        const char *pids_from;
        char names[PROCS_NAMES_MAX][PROCS_NAME_MAX];
        size_t n_names;
        Snapshot begin, end;
        ProcFigure figures[PROCS_NAMES_MAX];
        OtherProc others[PROCS_OTHERS_MAX];
        size_t n_others;
        long tck;
};

long procs_ticks_per_s(void) {
        long t = sysconf(_SC_CLK_TCK);
        return t > 0 ? t : 100;
}

uint64_t procs_self_cpu_us(void) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return 0;
        return (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
               (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
}

/* Reads up to cap-1 bytes of `path` into buf, NUL-terminated. Returns the length or negative errno. */
static ssize_t read_text(const char *path, char *buf, size_t cap) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t len = 0;
        while (len + 1 < cap) {
                ssize_t n = read(fd, buf + len, cap - 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        buf[len] = '\0';
        return (ssize_t)len;
}

/* Reads whitespace-separated unsigned decimals from *p; advances it. */
static int next_u64(const char **p, uint64_t *ret) {
        const char *s = *p;
        while (*s == ' ' || *s == '\t')
                s++;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || end == s)
                return -EINVAL;
        *ret = v;
        *p = end;
        return 0;
}

int procs_parse_machine(const char *proc_stat, MachineCpu *ret) {
        /* The first line: "cpu  user nice system idle iowait irq softirq steal guest guest_nice". */
        if (strncmp(proc_stat, "cpu ", 4) != 0)
                return -EINVAL;
        const char *p = proc_stat + 4;
        uint64_t f[8] = {0};
        for (size_t i = 0; i < 8; i++)
                if (next_u64(&p, &f[i]) < 0) {
                        if (i < 4) /* very old kernels lack the later fields */
                                return -EINVAL;
                        break;
                }
        /* guest and guest_nice are already inside user and nice. */
        ret->busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
        ret->total = ret->busy + f[3] + f[4];
        ret->steal = f[7];
        return 0;
}

int procs_parse_pid_stat(const char *text, PidStat *ret) {
        /* "pid (comm) state ppid ...": comm may hold spaces and ')', so it ends at the last ')'. */
        const char *open_paren = strchr(text, '(');
        const char *close_paren = strrchr(text, ')');
        if (!open_paren || !close_paren || close_paren < open_paren)
                return -EINVAL;
        size_t n = (size_t)(close_paren - open_paren - 1);
        if (n >= sizeof(ret->comm))
                n = sizeof(ret->comm) - 1;
        PidStat st = {0};
        memcpy(st.comm, open_paren + 1, n);
        st.comm[n] = '\0';

        const char *p = close_paren + 1;
        while (*p == ' ')
                p++;
        if (!isalpha((unsigned char)*p)) /* field 3, state */
                return -EINVAL;
        p++;
        /* Fields 4 (ppid) to 22 (starttime); 5..13 are skipped but must be numbers (7, tty_nr, and 8, tpgid,
         * may be negative: read them as signed). */
        uint64_t v[23] = {0};
        for (int field = 4; field <= 22; field++) {
                while (*p == ' ')
                        p++;
                char *end = NULL;
                errno = 0;
                long long x = strtoll(p, &end, 10);
                if (errno != 0 || end == p)
                        return -EINVAL;
                v[field] = x < 0 ? 0 : (uint64_t)x;
                p = end;
        }
        st.ppid = (int)v[4];
        st.cpu = v[14] + v[15];
        st.reaped = v[16] + v[17];
        st.start = v[22];
        *ret = st;
        return 0;
}

/* The number after `key` on the line of a /proc status text that starts with it. 0 or -EINVAL. */
static int status_field(const char *status, const char *key, uint64_t *ret) {
        size_t len = strlen(key);
        for (const char *line = status; line && *line;) {
                if (strncmp(line, key, len) == 0) {
                        const char *p = line + len;
                        return next_u64(&p, ret);
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return -EINVAL;
}

int procs_parse_vmhwm(const char *status, uint64_t *ret_kb) {
        return status_field(status, "VmHWM:", ret_kb); /* kernel threads have none */
}

int procs_parse_ctxt(const char *status, uint64_t *ret) {
        uint64_t v, n;
        if (status_field(status, "voluntary_ctxt_switches:", &v) < 0 ||
            status_field(status, "nonvoluntary_ctxt_switches:", &n) < 0)
                return -EINVAL;
        *ret = v + n;
        return 0;
}

/* Context switches of every thread of `pid` now alive. */
static uint64_t pid_ctxt(int pid, char *buf, size_t cap) {
        char path[64];
        uint64_t sum = 0, v;
        struct dirent *d;
        DIR *dir;
        snprintf(path, sizeof(path), "/proc/%d/task", pid);
        if (!(dir = opendir(path)))
                return 0;
        while ((d = readdir(dir)))
                if (d->d_name[0] >= '0' && d->d_name[0] <= '9') {
                        snprintf(path, sizeof(path), "/proc/%d/task/%.16s/status", pid, d->d_name);
                        if (read_text(path, buf, cap) >= 0 && procs_parse_ctxt(buf, &v) == 0)
                                sum += v;
                }
        closedir(dir);
        return sum;
}

int procs_parse_pid_file(const char *text, int *ret) {
        const char *p = text;
        while (*p == ' ' || *p == '\t')
                p++;
        uint64_t v = 0;
        if (next_u64(&p, &v) < 0 || v == 0 || v > 4194304) /* PID_MAX_LIMIT */
                return -EINVAL;
        while (*p == ' ' || *p == '\t' || *p == '\r')
                p++;
        if (*p != '\0' && *p != '\n')
                return -EINVAL;
        *ret = (int)v;
        return 0;
}

int procs_machine_cpu(MachineCpu *ret) {
        char buf[4096];
        ssize_t n = read_text("/proc/stat", buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        return procs_parse_machine(buf, ret);
}

/* How much a counter grew over the window; 0, not a wrapped figure, when it is smaller at the end (a disk went
 * away). */
static uint64_t grew(uint64_t begin, uint64_t end) {
        return end > begin ? end - begin : 0;
}

bool procs_disk_counted(const char *name) {
        static const char *const skipped[] = {"loop", "ram", "zram", "dm-", "md"};
        if (name[0] == '.')
                return false;
        for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
                if (strncmp(name, skipped[i], strlen(skipped[i])) == 0)
                        return false;
        return true;
}

int procs_parse_diskstats(const char *diskstats, const char *const *devices, size_t n, DiskWrites *ret) {
        memset(ret, 0, sizeof(*ret));
        for (const char *line = diskstats; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
                char name[64];
                int used = 0;
                if (sscanf(line, "%*u %*u %63s%n", name, &used) != 1)
                        return -EINVAL;
                bool counted = false;
                for (size_t i = 0; i < n && !counted; i++)
                        counted = strcmp(name, devices[i]) == 0;
                if (!counted)
                        continue;
                /* After the name: reads (4 fields), writes (completed, merged, sectors, ms), in flight, io ms,
                 * weighted ms, discards (4, Linux 4.18), flushes (completed, ms; Linux 5.5). */
                uint64_t f[17] = {0};
                const char *q = line + used;
                size_t k = 0;
                while (k < 17) {
                        char *end = NULL;
                        while (*q == ' ' || *q == '\t')
                                q++;
                        if (*q == '\n' || !*q)
                                break;
                        f[k] = strtoull(q, &end, 10);
                        if (end == q)
                                return -EINVAL;
                        q = end;
                        k++;
                }
                if (k < 11)
                        return -EINVAL;
                ret->requests += f[4];
                ret->sectors += f[6];
                ret->ms += f[7];
                ret->flushes += k >= 16 ? f[15] : 0;
        }
        return 0;
}

/* The whole disks' write counters now: 0 or negative errno. */
static int disk_writes(DiskWrites *ret) {
        char names[16][sizeof(((struct dirent *)0)->d_name)];
        const char *devices[16];
        size_t n = 0;
        DIR *d = opendir("/sys/block");
        if (!d)
                return -errno;
        for (struct dirent *e; (e = readdir(d)) && n < 16;)
                if (procs_disk_counted(e->d_name)) {
                        snprintf(names[n], sizeof(names[n]), "%s", e->d_name);
                        devices[n] = names[n];
                        n++;
                }
        closedir(d);
        char buf[65536]; /* a line per block device and partition: loop devices make it long */
        ssize_t len = read_text("/proc/diskstats", buf, sizeof(buf));
        if (len < 0)
                return (int)len;
        return procs_parse_diskstats(buf, devices, n, ret);
}

int procs_new(Procs **ret, const char *const *names, size_t n, const char *pids_from) {
        if (!pids_from && n > PROCS_NAMES_MAX)
                return -EINVAL;
        if (pids_from) {
                DIR *d = opendir(pids_from);
                if (!d)
                        return -errno;
                closedir(d);
        }
        Procs *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->pids_from = pids_from;
        p->tck = procs_ticks_per_s();
        if (!pids_from)
                for (size_t i = 0; i < n; i++) {
                        snprintf(p->names[i], sizeof(p->names[i]), "%s", names[i]);
                        p->n_names++;
                }
        *ret = p;
        return 0;
}

void procs_free(Procs *p) {
        if (!p)
                return;
        free(p->begin.v);
        free(p->end.v);
        free(p->begin.all);
        free(p->end.all);
        free(p);
}

/* Index of `name`, adding it when new; -ENOSPC when the table is full. */
static int name_index(Procs *p, const char *name) {
        for (size_t i = 0; i < p->n_names; i++)
                if (strcmp(p->names[i], name) == 0)
                        return (int)i;
        if (p->n_names == PROCS_NAMES_MAX)
                return -ENOSPC;
        snprintf(p->names[p->n_names], PROCS_NAME_MAX, "%s", name);
        return (int)p->n_names++;
}

static int cmp_anyproc(const void *a, const void *b) {
        int x = ((const AnyProc *)a)->pid, y = ((const AnyProc *)b)->pid;
        return (x > y) - (x < y);
}

static const AnyProc *find_proc(const AnyProc *all, size_t n, int pid) {
        AnyProc key = {.pid = pid};
        return bsearch(&key, all, n, sizeof(*all), cmp_anyproc);
}

/* Every process of the machine, sorted by pid, into *ret (malloc'd). */
static int scan_all(AnyProc **ret, size_t *ret_n) {
        DIR *d = opendir("/proc");
        if (!d)
                return -errno;
        AnyProc *all = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                int pid = 0;
                if (procs_parse_pid_file(de->d_name, &pid) < 0)
                        continue;
                char path[64], buf[1024];
                snprintf(path, sizeof(path), "/proc/%d/stat", pid);
                if (read_text(path, buf, sizeof(buf)) < 0)
                        continue; /* exited meanwhile */
                PidStat st;
                if (procs_parse_pid_stat(buf, &st) < 0)
                        continue;
                if (n == cap) {
                        size_t c = cap ? cap * 2 : 512;
                        AnyProc *a = realloc(all, c * sizeof(*a));
                        if (!a) {
                                r = -ENOMEM;
                                goto out;
                        }
                        all = a;
                        cap = c;
                }
                all[n++] = (AnyProc){.pid = pid, .st = st};
        }
        qsort(all, n, sizeof(*all), cmp_anyproc);
        *ret = all;
        *ret_n = n;
        all = NULL;
out:
        closedir(d);
        free(all);
        return r;
}

/* Reads pids_from/<name>.pid into roots (pid -> name index). */
typedef struct {
        int pid;
        unsigned name;
} Root;

static int read_roots(Procs *p, Root *roots, size_t cap, size_t *ret_n) {
        DIR *d = opendir(p->pids_from);
        if (!d)
                return -errno;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < cap) {
                size_t len = strlen(de->d_name);
                if (len <= 4 || strcmp(de->d_name + len - 4, ".pid") != 0 || len - 4 >= PROCS_NAME_MAX)
                        continue;
                char path[4096], buf[256], name[PROCS_NAME_MAX];
                int k = snprintf(path, sizeof(path), "%s/%s", p->pids_from, de->d_name);
                if (k < 0 || (size_t)k >= sizeof(path) || read_text(path, buf, sizeof(buf)) < 0)
                        continue;
                int pid = 0;
                if (procs_parse_pid_file(buf, &pid) < 0)
                        continue; /* e.g. a file being rewritten */
                memcpy(name, de->d_name, len - 4);
                name[len - 4] = '\0';
                int idx = name_index(p, name);
                if (idx < 0)
                        continue;
                roots[n++] = (Root){.pid = pid, .name = (unsigned)idx};
        }
        closedir(d);
        *ret_n = n;
        return 0;
}

/* The name index of `pid` or of its nearest root ancestor; -1 when none. */
static int root_of(const AnyProc *all, size_t n, const Root *roots, size_t n_roots, int pid) {
        for (int depth = 0; depth < 64 && pid > 1; depth++) {
                for (size_t i = 0; i < n_roots; i++)
                        if (roots[i].pid == pid)
                                return (int)roots[i].name;
                const AnyProc *a = find_proc(all, n, pid);
                if (!a)
                        return -1;
                pid = a->st.ppid;
        }
        return -1;
}

static int snapshot_take(Procs *p, Snapshot *s) {
        AnyProc *all = NULL;
        size_t n = 0, n_roots = 0;
        Root roots[PROCS_NAMES_MAX];
        char buf[4096];
        int r;

        s->n = 0;
        free(s->all);
        s->all = NULL;
        s->n_all = 0;
        /* Time first, processes after: a process started between the two counts as started in the window. */
        if ((r = procs_machine_cpu(&s->machine)) < 0)
                return r;
        s->has_disk = disk_writes(&s->disk) == 0;
        s->self_us = procs_self_cpu_us();
        if (read_text("/proc/uptime", buf, sizeof(buf)) < 0)
                return -EIO;
        char *end = NULL;
        double up = strtod(buf, &end);
        if (end == buf || up < 0)
                return -EIO;
        s->uptime_ticks = (uint64_t)(up * (double)p->tck);

        if (p->pids_from && (r = read_roots(p, roots, PROCS_NAMES_MAX, &n_roots)) < 0)
                return r;
        if ((r = scan_all(&all, &n)) < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                int idx = -1;
                if (p->pids_from)
                        idx = root_of(all, n, roots, n_roots, all[i].pid);
                else
                        for (size_t k = 0; k < p->n_names; k++)
                                if (strcmp(all[i].st.comm, p->names[k]) == 0) {
                                        idx = (int)k;
                                        break;
                                }
                if (idx < 0)
                        continue;
                if (s->n == s->cap) {
                        size_t c = s->cap ? s->cap * 2 : 64;
                        Seen *v = realloc(s->v, c * sizeof(*v));
                        if (!v) {
                                r = -ENOMEM;
                                goto out;
                        }
                        s->v = v;
                        s->cap = c;
                }
                Seen *e = &s->v[s->n++];
                *e = (Seen){.pid = all[i].pid, .name = (unsigned)idx, .st = all[i].st};
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/status", all[i].pid);
                if (read_text(path, buf, sizeof(buf)) >= 0)
                        (void)procs_parse_vmhwm(buf, &e->hwm_kb);
                e->ctxt = pid_ctxt(all[i].pid, buf, sizeof(buf));
        }
out:
        if (r == 0) { /* kept for busiest_unwatched */
                s->all = all;
                s->n_all = n;
                all = NULL;
        }
        free(all);
        return r;
}

int procs_begin(Procs *p) {
        return snapshot_take(p, &p->begin);
}

static const Seen *find_seen(const Snapshot *s, int pid, uint64_t start) {
        for (size_t i = 0; i < s->n; i++)
                if (s->v[i].pid == pid && s->v[i].st.start == start)
                        return &s->v[i];
        return NULL;
}

static const Seen *find_pid(const Snapshot *s, int pid) {
        for (size_t i = 0; i < s->n; i++)
                if (s->v[i].pid == pid)
                        return &s->v[i];
        return NULL;
}

static int cmp_figure(const void *a, const void *b) {
        return strcmp(((const ProcFigure *)a)->name, ((const ProcFigure *)b)->name);
}

static int cmp_other(const void *a, const void *b) {
        double x = ((const OtherProc *)a)->cpu_ms, y = ((const OtherProc *)b)->cpu_ms;
        return (x < y) - (x > y); /* most CPU first */
}

/* The busiest of the processes that were unwatched at both ends of the window (a process of another platform
 * left running, a build, a browser), food-bench itself left out: what makes "other processes" large is named in
 * the report. */
static void busiest_unwatched(Procs *p) {
        int self = (int)getpid();
        OtherProc *v = malloc((p->end.n_all ? p->end.n_all : 1) * sizeof(*v));
        size_t n = 0;
        p->n_others = 0;
        if (!v)
                return;
        for (size_t i = 0; i < p->end.n_all; i++) {
                const AnyProc *e = &p->end.all[i];
                const AnyProc *b = find_proc(p->begin.all, p->begin.n_all, e->pid);
                if (e->pid == self || find_pid(&p->end, e->pid) || find_pid(&p->begin, e->pid) || !b ||
                    b->st.start != e->st.start || e->st.cpu <= b->st.cpu)
                        continue;
                v[n] = (OtherProc){.pid = e->pid, .cpu_ms = (double)(e->st.cpu - b->st.cpu) * 1000.0 / (double)p->tck};
                snprintf(v[n].comm, sizeof(v[n].comm), "%s", e->st.comm);
                n++;
        }
        qsort(v, n, sizeof(*v), cmp_other);
        p->n_others = n < PROCS_OTHERS_MAX ? n : PROCS_OTHERS_MAX;
        memcpy(p->others, v, p->n_others * sizeof(*v));
        free(v);
}

int procs_end(Procs *p) {
        int r = snapshot_take(p, &p->end);
        if (r < 0)
                return r;
        int64_t ticks[PROCS_NAMES_MAX] = {0};
        memset(p->figures, 0, sizeof(p->figures));
        for (size_t k = 0; k < p->n_names; k++)
                snprintf(p->figures[k].name, sizeof(p->figures[k].name), "%s", p->names[k]);

        for (size_t i = 0; i < p->end.n; i++) {
                const Seen *e = &p->end.v[i];
                ProcFigure *f = &p->figures[e->name];
                const Seen *b = find_seen(&p->begin, e->pid, e->st.start);
                f->n_procs++;
                f->rss_sum_kb += e->hwm_kb;
                if (e->hwm_kb > f->rss_peak_kb)
                        f->rss_peak_kb = e->hwm_kb;
                if (b) {
                        ticks[e->name] += (int64_t)(e->st.cpu - b->st.cpu) + (int64_t)(e->st.reaped - b->st.reaped);
                        f->ctxt += grew(b->ctxt, e->ctxt);
                } else if (e->st.start + 1 >= p->begin.uptime_ticks) {
                        ticks[e->name] += (int64_t)(e->st.cpu + e->st.reaped);
                        f->ctxt += e->ctxt;
                        f->n_started++;
                }
                /* else: alive before the window but not watched then (it joined a watched tree later): the
                 * share of its CPU inside the window is unknown, so it counts nothing. */
        }
        for (size_t i = 0; i < p->begin.n; i++) {
                const Seen *b = &p->begin.v[i];
                if (find_seen(&p->end, b->pid, b->st.start))
                        continue;
                ProcFigure *f = &p->figures[b->name];
                if (b->hwm_kb > f->rss_peak_kb)
                        f->rss_peak_kb = b->hwm_kb;
                /* It exited. If a watched parent alive at both ends reaped it, the parent's reaped delta holds its
                 * whole life: take away the part before the window. Otherwise its last CPU is lost. */
                const Seen *parent_begin = find_pid(&p->begin, b->st.ppid);
                if (parent_begin && find_seen(&p->end, parent_begin->pid, parent_begin->st.start))
                        ticks[parent_begin->name] -= (int64_t)(b->st.cpu + b->st.reaped);
                else
                        f->n_lost++;
        }
        for (size_t k = 0; k < p->n_names; k++)
                p->figures[k].cpu_ms = ticks[k] > 0 ? (double)ticks[k] * 1000.0 / (double)p->tck : 0.0;
        busiest_unwatched(p);
        /* Pid file names come in directory order: sort them for a stable report. */
        if (p->pids_from)
                qsort(p->figures, p->n_names, sizeof(p->figures[0]), cmp_figure);
        return 0;
}

void procs_machine_ms(const Procs *p, double *busy_ms, double *total_ms, double *steal_ms, double *self_ms) {
        double t = (double)p->tck;
        *busy_ms = (double)(p->end.machine.busy - p->begin.machine.busy) * 1000.0 / t;
        *total_ms = (double)(p->end.machine.total - p->begin.machine.total) * 1000.0 / t;
        *steal_ms = (double)(p->end.machine.steal - p->begin.machine.steal) * 1000.0 / t;
        *self_ms = (double)(p->end.self_us - p->begin.self_us) / 1000.0;
}

bool procs_disk_writes(const Procs *p, DiskWrites *ret) {
        const DiskWrites *b = &p->begin.disk, *e = &p->end.disk;
        if (!p->begin.has_disk || !p->end.has_disk)
                return false;
        ret->requests = grew(b->requests, e->requests);
        ret->sectors = grew(b->sectors, e->sectors);
        ret->ms = grew(b->ms, e->ms);
        ret->flushes = grew(b->flushes, e->flushes);
        return true;
}

size_t procs_figures(const Procs *p, const ProcFigure **ret) {
        *ret = p->figures;
        return p->n_names;
}

size_t procs_others(const Procs *p, const OtherProc **ret) {
        *ret = p->others;
        return p->n_others;
}
