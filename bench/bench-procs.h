/* /proc sampling for food-bench: machine busy CPU, the driver's own CPU, CPU and peak RSS of named processes. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCS_NAME_MAX 64 /* a process name: comm (15 bytes) or a pid file's base name */
#define PROCS_NAMES_MAX 64

/* The aggregate "cpu" line of /proc/stat, in clock ticks. */
typedef struct {
        uint64_t busy; /* user + nice + system + irq + softirq + steal */
        uint64_t total; /* busy + idle + iowait */
        uint64_t steal; /* time the hypervisor ran something else while this machine's CPUs had work */
} MachineCpu;

/* The fields of /proc/<pid>/stat food-bench uses. */
typedef struct {
        char comm[16];
        int ppid;
        uint64_t cpu;      /* utime + stime, ticks */
        uint64_t reaped;   /* cutime + cstime: children waited for, ticks */
        uint64_t start;    /* starttime, ticks since boot */
} PidStat;

/* Pure parsers, for the unit test and the sampler. Each returns 0 or -EINVAL. */
int procs_parse_machine(const char *proc_stat, MachineCpu *ret);
int procs_parse_pid_stat(const char *text, PidStat *ret);
/* The VmHWM of a /proc/<pid>/status text, in kB. */
int procs_parse_vmhwm(const char *status, uint64_t *ret_kb);
/* voluntary + nonvoluntary context switches of a /proc/<pid>/task/<tid>/status text (one thread's). */
int procs_parse_ctxt(const char *status, uint64_t *ret);
/* The pid on the first line of a pid file's text (also PostgreSQL's postmaster.pid). */
int procs_parse_pid_file(const char *text, int *ret);

/* What the machine's disks wrote: the whole-disk devices (a name under /sys/block that is not a loop, ram,
 * zram, device-mapper or md device, whose writes its disks count already), summed over them. */
typedef struct {
        uint64_t requests; /* write requests completed */
        uint64_t sectors;  /* 512-byte sectors written */
        uint64_t ms;       /* time the write requests took, summed over them */
        uint64_t flushes;  /* cache flush requests completed (an fsync's; 0 before Linux 5.5) */
} DiskWrites;
/* Sums the write fields of the /proc/diskstats lines whose device is one of `devices` (n of them). 0 or
 * -EINVAL. */
int procs_parse_diskstats(const char *diskstats, const char *const *devices, size_t n, DiskWrites *ret);
/* Whether a /sys/block name is a whole disk food-bench counts. */
bool procs_disk_counted(const char *name);

/* Reads /proc/stat. 0 or negative errno. */
int procs_machine_cpu(MachineCpu *ret);
/* CPU time of this process (all threads), microseconds, from getrusage. */
uint64_t procs_self_cpu_us(void);
/* Clock ticks per second (sysconf(_SC_CLK_TCK)). */
long procs_ticks_per_s(void);

/* What one name's processes did between procs_begin and procs_end. */
typedef struct {
        char name[PROCS_NAME_MAX];
        unsigned n_procs;       /* processes seen alive at the end */
        unsigned n_started;     /* of which started during the window */
        unsigned n_lost;        /* exited during the window, their CPU not recovered from a watched parent */
        double cpu_ms;          /* CPU time used in the window (own + children reaped by watched processes) */
        uint64_t rss_peak_kb;   /* largest VmHWM of one process */
        uint64_t rss_sum_kb;    /* VmHWM summed over the processes alive at the end (shared pages count twice) */
        uint64_t ctxt;          /* context switches in the window, summed over the threads alive at the end (a
                                 * thread that exited takes its own with it) */
} ProcFigure;

typedef struct Procs Procs;

/* Watches processes by comm name (`names`, n of them, borrowed until
 * procs_free) or, when `pids_from` is set (and names ignored), the processes
 * whose pids are in pids_from/<name>.pid files and all their descendants.
 * 0 with *ret, -ENOMEM, or -ENOENT when pids_from cannot be opened. */
int procs_new(Procs **ret, const char *const *names, size_t n, const char *pids_from);
void procs_free(Procs *p);

/* Samples machine CPU, own CPU and every watched process at the window's
 * start / end. 0 or negative errno (/proc unreadable). */
int procs_begin(Procs *p);
int procs_end(Procs *p);

/* Results after procs_end. Machine busy and total CPU in ms over the window, the driver's CPU in ms. */
void procs_machine_ms(const Procs *p, double *busy_ms, double *total_ms, double *steal_ms, double *self_ms);
/* The disks' writes over the window: false when /proc/diskstats or /sys/block was not readable. */
bool procs_disk_writes(const Procs *p, DiskWrites *ret);
/* Per name, in the order given (or sorted pid file names); *ret borrowed. */
size_t procs_figures(const Procs *p, const ProcFigure **ret);

#define PROCS_OTHERS_MAX 3
/* A process neither watched nor food-bench, and the CPU it used in the window. */
typedef struct {
        int pid;
        char comm[16];
        double cpu_ms;
} OtherProc;
/* The busiest of those alive at both ends of the window, most CPU first (at most PROCS_OTHERS_MAX, those
 * that used any); *ret borrowed. */
size_t procs_others(const Procs *p, const OtherProc **ret);
