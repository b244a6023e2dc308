/* Unit test of the /proc parsers (on fixed texts) and of one live sample of this process. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-procs.h"
#include "test-check.h"

/* A process that is not watched burns CPU in the window: the report names it among the busiest others
 * (it once took an orphaned orchestrator 18 minutes of halved figures to be noticed). */
static void test_others(void) {
        int go[2], done[2];
        if (pipe(go) < 0 || pipe(done) < 0) {
                CHECK(0, "pipe failed");
                return;
        }
        pid_t child = fork();
        if (child == 0) {
                char c;
                (void)prctl(PR_SET_NAME, "busy-other");
                if (write(done[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
                        _exit(1);
                volatile uint64_t x = 0;
                uint64_t t0 = procs_self_cpu_us(), used;
                while ((used = procs_self_cpu_us() - t0) < 400000) /* 400 ms of CPU */
                        for (int i = 0; i < 100000; i++)
                                x += (uint64_t)i;
                (void)x;
                if (write(done[1], &used, sizeof(used)) != (ssize_t)sizeof(used))
                        _exit(1);
                pause();
                _exit(0);
        }
        CHECK(child > 0, "fork failed");
        if (child <= 0)
                return;
        const char *names[] = {"no-such-proc"};
        Procs *p = NULL;
        char c;
        uint64_t used = 0;
        int r = procs_new(&p, names, 1, NULL);
        CHECK(r == 0, "procs_new: expected 0, got %d", r);
        CHECK(read(done[0], &c, 1) == 1, "the child did not start");
        if (r == 0 && (r = procs_begin(p)) == 0 && write(go[1], "g", 1) == 1 &&
            read(done[0], &used, sizeof(used)) == (ssize_t)sizeof(used))
                r = procs_end(p);
        CHECK(r == 0 && used >= 400000, "the window: expected 0 and 400 ms of the child's CPU, got %d, %" PRIu64 " us",
              r, used);
        const OtherProc *o = NULL;
        size_t n = r == 0 ? procs_others(p, &o) : 0;
        bool listed = false;
        for (size_t i = 0; i < n; i++) {
                CHECK(i == 0 || o[i - 1].cpu_ms >= o[i].cpu_ms, "others not sorted by CPU: %.0f before %.0f ms",
                      o[i - 1].cpu_ms, o[i].cpu_ms);
                CHECK(o[i].pid != getpid(), "food-bench itself listed among the others");
                if (o[i].pid == child) {
                        listed = true;
                        CHECK(strcmp(o[i].comm, "busy-other") == 0 && o[i].cpu_ms >= 300,
                              "the busy child: expected busy-other with >= 300 ms, got %s with %.0f ms", o[i].comm,
                              o[i].cpu_ms);
                }
        }
        /* Listed, or pushed out by as many processes that were busier still (a parallel test run). */
        CHECK(listed || (n == PROCS_OTHERS_MAX && o[n - 1].cpu_ms >= (double)used / 1000.0 - 20),
              "the busy child (%.0f ms of CPU) is not among the %zu busiest others", (double)used / 1000.0, n);
        kill(child, SIGKILL);
        (void)waitpid(child, NULL, 0);
        procs_free(p);
        close(go[0]);
        close(go[1]);
        close(done[0]);
        close(done[1]);
}

int main(void) {
        MachineCpu m;
        int r = procs_parse_machine("cpu  100 20 30 1000 50 5 6 7 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n", &m);
        CHECK(r == 0, "machine: expected 0, got %d", r);
        CHECK(m.busy == 100 + 20 + 30 + 5 + 6 + 7, "machine busy: expected 168, got %" PRIu64, m.busy);
        CHECK(m.total == 168 + 1000 + 50, "machine total: expected 1218, got %" PRIu64, m.total);
        CHECK(m.steal == 7, "machine steal: expected 7, got %" PRIu64, m.steal);
        CHECK(procs_parse_machine("intr 1 2 3\n", &m) < 0, "a text without the cpu line was accepted");

        /* A comm with a space and a ')' (it ends at the last ')'); tty_nr/tpgid negative like a daemon's. */
        PidStat st;
        const char *stat = "4242 (notif wo) r) S 17 4242 4242 0 -1 4194560 500 0 0 0 "
                           "1234 567 89 10 20 0 9 0 987654 123456789 2000 18446744073709551615\n";
        r = procs_parse_pid_stat(stat, &st);
        CHECK(r == 0, "pid stat: expected 0, got %d", r);
        CHECK(strcmp(st.comm, "notif wo) r") == 0, "comm: expected 'notif wo) r', got '%s'", st.comm);
        CHECK(st.ppid == 17, "ppid: expected 17, got %d", st.ppid);
        CHECK(st.cpu == 1234 + 567, "cpu: expected 1801, got %" PRIu64, st.cpu);
        CHECK(st.reaped == 89 + 10, "reaped: expected 99, got %" PRIu64, st.reaped);
        CHECK(st.start == 987654, "start: expected 987654, got %" PRIu64, st.start);
        CHECK(procs_parse_pid_stat("4242 (x) S 1 2", &st) < 0, "a truncated stat line was accepted");
        CHECK(procs_parse_pid_stat("garbage", &st) < 0, "garbage accepted as a stat line");

        uint64_t kb = 0;
        r = procs_parse_vmhwm("Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    4321 kB\nVmRSS:\t 4000 kB\n", &kb);
        CHECK(r == 0 && kb == 4321, "VmHWM: expected 4321, got %d/%" PRIu64, r, kb);
        CHECK(procs_parse_vmhwm("Name:\tkthreadd\nState:\tS\n", &kb) < 0, "a status without VmHWM was accepted");

        uint64_t ctxt = 0;
        r = procs_parse_ctxt("Name:\tx\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t  7\n", &ctxt);
        CHECK(r == 0 && ctxt == 127, "context switches: expected 127, got %d/%" PRIu64, r, ctxt);
        CHECK(procs_parse_ctxt("Name:\tx\nvoluntary_ctxt_switches:\t120\n", &ctxt) < 0,
              "a status with only voluntary switches was accepted");
        CHECK(procs_parse_ctxt("voluntary_ctxt_switches:\tx\nnonvoluntary_ctxt_switches:\t1\n", &ctxt) < 0,
              "'x' accepted as a count");

        int pid = 0;
        CHECK(procs_parse_pid_file("1234\n", &pid) == 0 && pid == 1234, "pid file: expected 1234, got %d", pid);
        CHECK(procs_parse_pid_file("77\n/var/lib/pg\n1700000000\n", &pid) == 0 && pid == 77,
              "postmaster.pid: expected 77, got %d", pid);
        CHECK(procs_parse_pid_file("12a\n", &pid) < 0, "'12a' accepted as a pid");
        CHECK(procs_parse_pid_file("", &pid) < 0, "an empty pid file was accepted");
        CHECK(procs_parse_pid_file("0\n", &pid) < 0, "pid 0 accepted");

        /* Disks: only the named whole disks count; flushes only where the kernel gives them (Linux 5.5). */
        const char *stats = "   7       0 loop0 9 0 9 9 900 0 900 90 0 9 9 0 0 0 0 0 0\n"
                            " 254       0 vda 10 1 80 5 200 30 4000 700 0 600 800 3 0 24 1 50 40\n"
                            " 254       1 vda1 9 1 72 5 150 20 3000 500 0 500 600 3 0 24 1 0 0\n"
                            "   8       0 sdb 1 0 8 1 20 2 160 11 0 10 12\n";
        const char *disks[] = {"vda", "sdb"};
        DiskWrites dw;
        r = procs_parse_diskstats(stats, disks, 2, &dw);
        CHECK(r == 0, "diskstats: expected 0, got %d", r);
        CHECK(dw.requests == 220 && dw.sectors == 4160 && dw.ms == 711 && dw.flushes == 50,
              "diskstats: expected 220 requests, 4160 sectors, 711 ms, 50 flushes; got %" PRIu64 ", %" PRIu64
              ", %" PRIu64 ", %" PRIu64,
              dw.requests, dw.sectors, dw.ms, dw.flushes);
        CHECK(procs_parse_diskstats(" 254 0 vda 1 2 3\n", disks, 2, &dw) < 0, "a line of 3 fields was accepted");
        CHECK(procs_parse_diskstats(" 254 0 vda 1 2 3 4 x 6 7 8 9 10 11\n", disks, 2, &dw) < 0,
              "'x' accepted as a count");
        CHECK(procs_parse_diskstats("garbage\n", disks, 2, &dw) < 0, "garbage accepted as diskstats");
        CHECK(procs_disk_counted("vda") && procs_disk_counted("nvme0n1") && procs_disk_counted("sda"),
              "a whole disk was not counted");
        CHECK(!procs_disk_counted("loop3") && !procs_disk_counted("dm-0") && !procs_disk_counted("zram0") &&
                      !procs_disk_counted("md127") && !procs_disk_counted("ram1") && !procs_disk_counted("."),
              "a virtual device was counted");

        /* Live: this test's own comm is watched; burning some CPU shows up in its figure and in the machine's. */
        const char *names[] = {"test-bench-proc"}; /* comm is cut at 15 bytes */
        Procs *p = NULL;
        r = procs_new(&p, names, 1, NULL);
        CHECK(r == 0, "procs_new: expected 0, got %d", r);
        if (r == 0) {
                r = procs_begin(p);
                CHECK(r == 0, "procs_begin: expected 0, got %d", r);
                volatile uint64_t x = 0;
                uint64_t t0 = procs_self_cpu_us();
                while (procs_self_cpu_us() - t0 < 200000) /* 200 ms of CPU */
                        for (int i = 0; i < 100000; i++)
                                x += (uint64_t)i;
                (void)x; /* read once: clang warns about a volatile only ever written */
                /* Twenty sleeps: at least twenty voluntary context switches in the window. */
                for (int i = 0; i < 20; i++)
                        usleep(1000);
                r = procs_end(p);
                CHECK(r == 0, "procs_end: expected 0, got %d", r);
                double busy, total, steal, self;
                procs_machine_ms(p, &busy, &total, &steal, &self);
                /* Where the kernel shows its disks (a container may not mount /sys), the window has their writes. */
                if (access("/proc/diskstats", R_OK) == 0 && access("/sys/block", R_OK) == 0)
                        CHECK(procs_disk_writes(p, &dw), "disk writes: /proc/diskstats was readable, none given");
                CHECK(self >= 200 && self < 2000, "own CPU: expected 200..2000 ms, got %.1f", self);
                CHECK(busy >= self * 0.8, "machine busy: expected >= 80%% of own %.1f ms, got %.1f", self, busy);
                CHECK(steal >= 0 && steal <= busy, "steal: expected 0..%.1f ms (inside busy), got %.1f", busy, steal);
                const ProcFigure *f = NULL;
                size_t n = procs_figures(p, &f);
                /* Another copy of this test may run at the same time (parallel test runs): same name. */
                CHECK(n == 1 && f[0].n_procs >= 1, "figures: expected 1 name with >= 1 process, got %zu/%u", n,
                      n ? f[0].n_procs : 0);
                if (n == 1) {
                        CHECK(f[0].cpu_ms >= 150 && (f[0].n_procs > 1 || f[0].cpu_ms <= self + 50),
                              "process CPU: expected about %.0f ms, got %.1f", self, f[0].cpu_ms);
                        CHECK(f[0].rss_peak_kb > 0, "VmHWM of this process: expected > 0, got %" PRIu64,
                              f[0].rss_peak_kb);
                        CHECK(f[0].ctxt >= 20, "context switches of 20 sleeps: expected >= 20, got %" PRIu64,
                              f[0].ctxt);
                }
        }
        procs_free(p);
        test_others();

        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
