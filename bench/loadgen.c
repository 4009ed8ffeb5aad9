/* loadgen.c owns the benchmark's remote_write 1.0 load generator: a deterministic
 * node_exporter-like workload pushed over plain-socket HTTP/1.1 keep-alive connections.
 *
 * Why it is built this way:
 *  - The workload is a pure function of (--seed, --series, --samples-per-series, --start-ms,
 *    --interval-ms), so Metricstor, Prometheus and VictoriaMetrics receive byte-identical
 *    requests and a run can be repeated.
 *  - Requests are pre-encoded (protobuf + snappy, through ingest/rw_encode.h) before the clock
 *    starts unless --stream is given, so on a small machine the generator's own CPU use does not
 *    compete with the server being measured.
 *  - Requests are issued timestamp-major: request (group g, window w) is sent only after
 *    (g, w-1) was acknowledged, so every series arrives in time order (Prometheus rejects
 *    out-of-order samples) while all connections stay busy.
 *  - Any non-2xx answer is fatal (the status and body are printed and the process exits 1),
 *    except 429 Too Many Requests: the server asks the sender to slow down (Metricstor's
 *    backpressure while a backfill is ahead of its block cut, or its write concurrency limit),
 *    so the worker sleeps for Retry-After (1 s if absent) and resends the same request, as a
 *    remote_write sender does; retries are counted in the final line (retries_429=). One
 *    request still refused after --timeout-s of retrying is fatal.
 *  - --pace X turns the burst into a steady load for soak tests: a window is not sent before its
 *    last timestamp is due on a clock that runs X times faster than the wall clock from the first
 *    request; --report-s N prints the request latencies of every N-second interval. */
#include "ingest/rw_encode.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/status.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                    */

typedef struct opts {
    char url[512];
    int concurrency;
    long series;
    long samples;             /* per series */
    int64_t interval_ms;
    int64_t start_ms;         /* INT64_MIN: now - samples * interval */
    long batch_samples;       /* target samples per request */
    long ts_per_request;      /* consecutive timestamps of one series in one request */
    bool one_sample_per_ts;   /* every sample in its own TimeSeries entry, as Prometheus sends */
    uint64_t seed;
    bool stream;              /* encode while sending instead of before */
    bool describe;            /* print the workload and exit */
    long print_series;        /* print the first N series label sets and exit */
    int timeout_s;
    double pace;              /* > 0: data time runs this many times faster than wall time */
    long report_s;            /* > 0: print a progress line every this many seconds */
} opts_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: loadgen --url http://HOST:PORT/PATH [options]\n"
            "  --concurrency N          connections, one thread each (default 4)\n"
            "  --series N               series (default 20000)\n"
            "  --samples-per-series N   samples per series (default 480)\n"
            "  --interval-ms N          spacing of samples (default 15000)\n"
            "  --start-ms N             first timestamp (default now - samples*interval)\n"
            "  --batch-samples N        samples per request (default 2000)\n"
            "  --ts-per-request N       consecutive samples of one series per request (default 10)\n"
            "  --one-sample-per-ts      put every sample in its own TimeSeries, as Prometheus does\n"
            "  --seed N                 workload seed (default 1)\n"
            "  --stream                 encode while sending (default: encode everything first)\n"
            "  --timeout-s N            per-request socket timeout (default 300)\n"
            "  --pace X                 steady load: send a window when its last timestamp is due,\n"
            "                           data time running X times wall time from the first request\n"
            "  --report-s N             print samples and request latency p50/p99/max every N s\n"
            "  --describe               print the workload model and exit\n"
            "  --bearer TOKEN           send Authorization: Bearer TOKEN (servers with --auth-file)\n"
            "  --print-series N         print the first N label sets and exit\n");
}

static long parse_long(const char *flag, const char *s, long min)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min) {
        fprintf(stderr, "loadgen: bad value for %s: %s\n", flag, s);
        exit(2);
    }
    return (long)v;
}

/* "Authorization: Bearer ...\r\n" from --bearer, or "" (one per process, set before threads). */
static char auth_line[600];

static void opts_parse(opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    o->concurrency = 4;
    o->series = 20000;
    o->samples = 480;
    o->interval_ms = 15000;
    o->start_ms = INT64_MIN;
    o->batch_samples = 2000;
    o->ts_per_request = 10;
    o->seed = 1;
    o->timeout_s = 300;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
#define TAKE()                                                         \
    do {                                                               \
        if (!v) {                                                      \
            fprintf(stderr, "loadgen: %s needs a value\n", a);         \
            exit(2);                                                   \
        }                                                              \
        i++;                                                           \
    } while (0)
        if (!strcmp(a, "--url")) {
            TAKE();
            if (strlen(v) >= sizeof(o->url)) {
                fprintf(stderr, "loadgen: --url too long\n");
                exit(2);
            }
            strcpy(o->url, v);
        } else if (!strcmp(a, "--concurrency")) {
            TAKE();
            o->concurrency = (int)parse_long(a, v, 1);
        } else if (!strcmp(a, "--series")) {
            TAKE();
            o->series = parse_long(a, v, 1);
        } else if (!strcmp(a, "--samples-per-series")) {
            TAKE();
            o->samples = parse_long(a, v, 1);
        } else if (!strcmp(a, "--interval-ms")) {
            TAKE();
            o->interval_ms = parse_long(a, v, 1);
        } else if (!strcmp(a, "--start-ms")) {
            TAKE();
            o->start_ms = parse_long(a, v, 0);
        } else if (!strcmp(a, "--batch-samples")) {
            TAKE();
            o->batch_samples = parse_long(a, v, 1);
        } else if (!strcmp(a, "--ts-per-request")) {
            TAKE();
            o->ts_per_request = parse_long(a, v, 1);
        } else if (!strcmp(a, "--one-sample-per-ts")) {
            o->one_sample_per_ts = true;
        } else if (!strcmp(a, "--seed")) {
            TAKE();
            o->seed = (uint64_t)parse_long(a, v, 0);
        } else if (!strcmp(a, "--stream")) {
            o->stream = true;
        } else if (!strcmp(a, "--timeout-s")) {
            TAKE();
            o->timeout_s = (int)parse_long(a, v, 1);
        } else if (!strcmp(a, "--pace")) {
            TAKE();
            char *end = NULL;
            o->pace = strtod(v, &end);
            if (end == v || *end || !(o->pace > 0) || o->pace > 1e9) {
                fprintf(stderr, "loadgen: bad value for --pace: %s\n", v);
                exit(2);
            }
        } else if (!strcmp(a, "--report-s")) {
            TAKE();
            o->report_s = parse_long(a, v, 1);
        } else if (!strcmp(a, "--describe")) {
            o->describe = true;
        } else if (!strcmp(a, "--bearer")) {
            TAKE();
            if (strlen(v) > 500 || strpbrk(v, "\r\n")) {
                fprintf(stderr, "loadgen: bad --bearer token\n");
                exit(2);
            }
            snprintf(auth_line, sizeof auth_line, "Authorization: Bearer %s\r\n", v);
        } else if (!strcmp(a, "--print-series")) {
            TAKE();
            o->print_series = parse_long(a, v, 1);
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "loadgen: unknown argument %s\n", a);
            usage(stderr);
            exit(2);
        }
#undef TAKE
    }
    if (o->ts_per_request > o->samples)
        o->ts_per_request = o->samples;
    if (o->start_ms == INT64_MIN)
        o->start_ms = clock_now_ms() - (int64_t)o->samples * o->interval_ms;
}

/* ------------------------------------------------------------------------------------------ */
/* Deterministic randomness: splitmix64 per series, so any series' stream is independent of   */
/* which thread encodes it.                                                                   */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rnd_unit(uint64_t *s)
{
    return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double round2(double v)
{
    return round(v * 100.0) / 100.0;
}

/* ------------------------------------------------------------------------------------------ */
/* Workload model: metric families of a node_exporter-like host.                              */

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_CONST } kind_t;

/* Label dimensions a family fans out over, per host. */
typedef enum {
    DIM_NONE,
    DIM_CPU,        /* cpu="0".."7" */
    DIM_CPU_MODE,   /* cpu x mode (8 modes) */
    DIM_CPU_GUEST,  /* cpu x mode (nice, user) */
    DIM_DISK,       /* device: sda, sdb, nvme0n1 */
    DIM_NET,        /* device: eth0, eth1, lo */
    DIM_FS,         /* device, fstype, mountpoint: 3 filesystems */
    DIM_COLLECTOR,  /* collector: 10 node_exporter collectors */
    DIM_QUANTILE,   /* quantile: 0, 0.25, 0.5, 0.75, 1 */
    DIM_UNAME,      /* nodename, release, version (one series) */
} dim_t;

typedef struct family {
    const char *name;
    kind_t kind;
    dim_t dim;
    double scale; /* counters: mean increase per second; gauges: typical level; const: value */
} family_t;

static const family_t FAMILIES[] = {
    {"node_cpu_seconds_total", KIND_COUNTER, DIM_CPU_MODE, 0.12},
    {"node_cpu_guest_seconds_total", KIND_COUNTER, DIM_CPU_GUEST, 0.01},
    {"node_cpu_scaling_frequency_hertz", KIND_GAUGE, DIM_CPU, 2.4e9},
    {"node_disk_reads_completed_total", KIND_COUNTER, DIM_DISK, 40},
    {"node_disk_writes_completed_total", KIND_COUNTER, DIM_DISK, 90},
    {"node_disk_read_bytes_total", KIND_COUNTER, DIM_DISK, 1.5e6},
    {"node_disk_written_bytes_total", KIND_COUNTER, DIM_DISK, 3.5e6},
    {"node_disk_io_time_seconds_total", KIND_COUNTER, DIM_DISK, 0.05},
    {"node_disk_read_time_seconds_total", KIND_COUNTER, DIM_DISK, 0.02},
    {"node_disk_write_time_seconds_total", KIND_COUNTER, DIM_DISK, 0.04},
    {"node_disk_io_time_weighted_seconds_total", KIND_COUNTER, DIM_DISK, 0.08},
    {"node_disk_reads_merged_total", KIND_COUNTER, DIM_DISK, 3},
    {"node_disk_writes_merged_total", KIND_COUNTER, DIM_DISK, 20},
    {"node_disk_discards_completed_total", KIND_COUNTER, DIM_DISK, 0.5},
    {"node_disk_io_now", KIND_GAUGE, DIM_DISK, 2},
    {"node_network_receive_bytes_total", KIND_COUNTER, DIM_NET, 2.0e6},
    {"node_network_transmit_bytes_total", KIND_COUNTER, DIM_NET, 1.2e6},
    {"node_network_receive_packets_total", KIND_COUNTER, DIM_NET, 2000},
    {"node_network_transmit_packets_total", KIND_COUNTER, DIM_NET, 1500},
    {"node_network_receive_errs_total", KIND_COUNTER, DIM_NET, 0.001},
    {"node_network_transmit_errs_total", KIND_COUNTER, DIM_NET, 0.001},
    {"node_network_receive_drop_total", KIND_COUNTER, DIM_NET, 0.01},
    {"node_network_transmit_drop_total", KIND_COUNTER, DIM_NET, 0.01},
    {"node_network_receive_multicast_total", KIND_COUNTER, DIM_NET, 0.2},
    {"node_network_up", KIND_CONST, DIM_NET, 1},
    {"node_network_mtu_bytes", KIND_CONST, DIM_NET, 1500},
    {"node_network_speed_bytes", KIND_CONST, DIM_NET, 1.25e9},
    {"node_network_carrier", KIND_CONST, DIM_NET, 1},
    {"node_filesystem_avail_bytes", KIND_GAUGE, DIM_FS, 5.0e10},
    {"node_filesystem_free_bytes", KIND_GAUGE, DIM_FS, 6.0e10},
    {"node_filesystem_size_bytes", KIND_CONST, DIM_FS, 2.0e11},
    {"node_filesystem_files", KIND_CONST, DIM_FS, 1.3e7},
    {"node_filesystem_files_free", KIND_GAUGE, DIM_FS, 1.1e7},
    {"node_filesystem_readonly", KIND_CONST, DIM_FS, 0},
    {"node_filesystem_device_error", KIND_CONST, DIM_FS, 0},
    {"node_memory_MemTotal_bytes", KIND_CONST, DIM_NONE, 3.3e10},
    {"node_memory_MemFree_bytes", KIND_GAUGE, DIM_NONE, 4.0e9},
    {"node_memory_MemAvailable_bytes", KIND_GAUGE, DIM_NONE, 2.0e10},
    {"node_memory_Buffers_bytes", KIND_GAUGE, DIM_NONE, 5.0e8},
    {"node_memory_Cached_bytes", KIND_GAUGE, DIM_NONE, 1.2e10},
    {"node_memory_SwapCached_bytes", KIND_GAUGE, DIM_NONE, 1.0e6},
    {"node_memory_Active_bytes", KIND_GAUGE, DIM_NONE, 1.0e10},
    {"node_memory_Inactive_bytes", KIND_GAUGE, DIM_NONE, 8.0e9},
    {"node_memory_Active_anon_bytes", KIND_GAUGE, DIM_NONE, 6.0e9},
    {"node_memory_Inactive_anon_bytes", KIND_GAUGE, DIM_NONE, 1.0e9},
    {"node_memory_Active_file_bytes", KIND_GAUGE, DIM_NONE, 4.0e9},
    {"node_memory_Inactive_file_bytes", KIND_GAUGE, DIM_NONE, 7.0e9},
    {"node_memory_Unevictable_bytes", KIND_GAUGE, DIM_NONE, 2.0e7},
    {"node_memory_Mlocked_bytes", KIND_GAUGE, DIM_NONE, 2.0e7},
    {"node_memory_SwapTotal_bytes", KIND_CONST, DIM_NONE, 4.0e9},
    {"node_memory_SwapFree_bytes", KIND_GAUGE, DIM_NONE, 3.9e9},
    {"node_memory_Dirty_bytes", KIND_GAUGE, DIM_NONE, 1.0e7},
    {"node_memory_Writeback_bytes", KIND_GAUGE, DIM_NONE, 1.0e5},
    {"node_memory_AnonPages_bytes", KIND_GAUGE, DIM_NONE, 6.5e9},
    {"node_memory_Mapped_bytes", KIND_GAUGE, DIM_NONE, 1.0e9},
    {"node_memory_Shmem_bytes", KIND_GAUGE, DIM_NONE, 3.0e8},
    {"node_memory_KReclaimable_bytes", KIND_GAUGE, DIM_NONE, 6.0e8},
    {"node_memory_Slab_bytes", KIND_GAUGE, DIM_NONE, 9.0e8},
    {"node_memory_SReclaimable_bytes", KIND_GAUGE, DIM_NONE, 6.0e8},
    {"node_memory_SUnreclaim_bytes", KIND_GAUGE, DIM_NONE, 3.0e8},
    {"node_memory_KernelStack_bytes", KIND_GAUGE, DIM_NONE, 2.0e7},
    {"node_memory_PageTables_bytes", KIND_GAUGE, DIM_NONE, 6.0e7},
    {"node_memory_CommitLimit_bytes", KIND_CONST, DIM_NONE, 2.0e10},
    {"node_memory_Committed_AS_bytes", KIND_GAUGE, DIM_NONE, 1.5e10},
    {"node_memory_VmallocTotal_bytes", KIND_CONST, DIM_NONE, 3.5e13},
    {"node_memory_VmallocUsed_bytes", KIND_GAUGE, DIM_NONE, 8.0e7},
    {"node_memory_Percpu_bytes", KIND_CONST, DIM_NONE, 1.2e7},
    {"node_memory_HugePages_Total", KIND_CONST, DIM_NONE, 0},
    {"node_memory_Hugepagesize_bytes", KIND_CONST, DIM_NONE, 2097152},
    {"node_memory_DirectMap4k_bytes", KIND_CONST, DIM_NONE, 5.0e8},
    {"node_memory_DirectMap2M_bytes", KIND_CONST, DIM_NONE, 1.6e10},
    {"node_load1", KIND_GAUGE, DIM_NONE, 1.5},
    {"node_load5", KIND_GAUGE, DIM_NONE, 1.3},
    {"node_load15", KIND_GAUGE, DIM_NONE, 1.1},
    {"node_boot_time_seconds", KIND_CONST, DIM_NONE, 1.7e9},
    {"node_time_seconds", KIND_COUNTER, DIM_NONE, 1.0},
    {"node_context_switches_total", KIND_COUNTER, DIM_NONE, 9000},
    {"node_intr_total", KIND_COUNTER, DIM_NONE, 7000},
    {"node_forks_total", KIND_COUNTER, DIM_NONE, 15},
    {"node_procs_running", KIND_GAUGE, DIM_NONE, 3},
    {"node_procs_blocked", KIND_GAUGE, DIM_NONE, 0.5},
    {"node_entropy_available_bits", KIND_GAUGE, DIM_NONE, 3500},
    {"node_filefd_allocated", KIND_GAUGE, DIM_NONE, 9000},
    {"node_filefd_maximum", KIND_CONST, DIM_NONE, 9.2e18},
    {"node_sockstat_TCP_inuse", KIND_GAUGE, DIM_NONE, 40},
    {"node_sockstat_TCP_tw", KIND_GAUGE, DIM_NONE, 30},
    {"node_sockstat_UDP_inuse", KIND_GAUGE, DIM_NONE, 6},
    {"node_sockstat_sockets_used", KIND_GAUGE, DIM_NONE, 500},
    {"node_netstat_Tcp_ActiveOpens", KIND_COUNTER, DIM_NONE, 3},
    {"node_netstat_Tcp_PassiveOpens", KIND_COUNTER, DIM_NONE, 2},
    {"node_netstat_Tcp_RetransSegs", KIND_COUNTER, DIM_NONE, 0.3},
    {"node_netstat_Udp_InDatagrams", KIND_COUNTER, DIM_NONE, 40},
    {"node_netstat_Udp_OutDatagrams", KIND_COUNTER, DIM_NONE, 40},
    {"node_vmstat_pgfault", KIND_COUNTER, DIM_NONE, 20000},
    {"node_vmstat_pgmajfault", KIND_COUNTER, DIM_NONE, 2},
    {"node_vmstat_pswpin", KIND_COUNTER, DIM_NONE, 0.01},
    {"node_vmstat_pswpout", KIND_COUNTER, DIM_NONE, 0.01},
    {"node_vmstat_oom_kill", KIND_COUNTER, DIM_NONE, 0.0001},
    {"node_uname_info", KIND_CONST, DIM_UNAME, 1},
    {"node_textfile_scrape_error", KIND_CONST, DIM_NONE, 0},
    {"node_scrape_collector_success", KIND_CONST, DIM_COLLECTOR, 1},
    {"node_scrape_collector_duration_seconds", KIND_GAUGE, DIM_COLLECTOR, 0.004},
    {"process_cpu_seconds_total", KIND_COUNTER, DIM_NONE, 0.01},
    {"process_resident_memory_bytes", KIND_GAUGE, DIM_NONE, 2.5e7},
    {"process_open_fds", KIND_GAUGE, DIM_NONE, 10},
    {"process_max_fds", KIND_CONST, DIM_NONE, 1048576},
    {"process_start_time_seconds", KIND_CONST, DIM_NONE, 1.7e9},
    {"go_goroutines", KIND_GAUGE, DIM_NONE, 8},
    {"go_memstats_alloc_bytes", KIND_GAUGE, DIM_NONE, 3.0e6},
    {"go_gc_duration_seconds", KIND_GAUGE, DIM_QUANTILE, 0.0001},
    {"up", KIND_CONST, DIM_NONE, 1},
};
#define NFAMILIES (sizeof(FAMILIES) / sizeof(FAMILIES[0]))

static const char *CPU_MODES[] = {"idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"};
static const char *GUEST_MODES[] = {"nice", "user"};
static const char *DISKS[] = {"sda", "sdb", "nvme0n1"};
static const char *NICS[] = {"eth0", "eth1", "lo"};
static const char *FS[][3] = {/* device, fstype, mountpoint */
                              {"/dev/sda1", "ext4", "/"},
                              {"/dev/sda2", "ext4", "/var"},
                              {"tmpfs", "tmpfs", "/run"}};
static const char *COLLECTORS[] = {"cpu",     "diskstats", "filesystem", "loadavg", "meminfo",
                                   "netdev",  "netstat",   "sockstat",   "stat",    "vmstat"};
static const char *QUANTILES[] = {"0", "0.25", "0.5", "0.75", "1"};
static const char *CPU_IDS[] = {"0", "1", "2", "3", "4", "5", "6", "7"};

#define MAX_LABELS 10
enum { VAL_LITERAL = 0, VAL_INSTANCE, VAL_DATACENTER };
#define N_DATACENTERS 4

/* One per-host series shape: its family and its sorted labels; instance/datacenter values are
 * filled in per host. */
typedef struct tmpl {
    int family;
    int nlabels;
    const char *names[MAX_LABELS];
    const char *values[MAX_LABELS];
    int valkind[MAX_LABELS];
} tmpl_t;

static size_t dim_count(dim_t d)
{
    switch (d) {
    case DIM_NONE: return 1;
    case DIM_CPU: return 8;
    case DIM_CPU_MODE: return 64;
    case DIM_CPU_GUEST: return 16;
    case DIM_DISK: return 3;
    case DIM_NET: return 3;
    case DIM_FS: return 3;
    case DIM_COLLECTOR: return 10;
    case DIM_QUANTILE: return 5;
    case DIM_UNAME: return 1;
    }
    return 1;
}

static void tmpl_add(tmpl_t *t, const char *name, const char *value, int kind)
{
    t->names[t->nlabels] = name;
    t->values[t->nlabels] = value;
    t->valkind[t->nlabels] = kind;
    t->nlabels++;
}

static void tmpl_sort(tmpl_t *t)
{
    for (int i = 1; i < t->nlabels; i++) /* insertion sort: at most 10 labels */
        for (int j = i; j > 0 && strcmp(t->names[j - 1], t->names[j]) > 0; j--) {
            const char *n = t->names[j], *v = t->values[j];
            int k = t->valkind[j];
            t->names[j] = t->names[j - 1];
            t->values[j] = t->values[j - 1];
            t->valkind[j] = t->valkind[j - 1];
            t->names[j - 1] = n;
            t->values[j - 1] = v;
            t->valkind[j - 1] = k;
        }
}

static void tmpl_make(tmpl_t *t, int fam, size_t k)
{
    const family_t *f = &FAMILIES[fam];
    memset(t, 0, sizeof(*t));
    t->family = fam;
    tmpl_add(t, "__name__", f->name, VAL_LITERAL);
    tmpl_add(t, "datacenter", NULL, VAL_DATACENTER);
    tmpl_add(t, "instance", NULL, VAL_INSTANCE);
    tmpl_add(t, "job", "node", VAL_LITERAL);
    switch (f->dim) {
    case DIM_NONE: break;
    case DIM_CPU: tmpl_add(t, "cpu", CPU_IDS[k], VAL_LITERAL); break;
    case DIM_CPU_MODE:
        tmpl_add(t, "cpu", CPU_IDS[k / 8], VAL_LITERAL);
        tmpl_add(t, "mode", CPU_MODES[k % 8], VAL_LITERAL);
        break;
    case DIM_CPU_GUEST:
        tmpl_add(t, "cpu", CPU_IDS[k / 2], VAL_LITERAL);
        tmpl_add(t, "mode", GUEST_MODES[k % 2], VAL_LITERAL);
        break;
    case DIM_DISK: tmpl_add(t, "device", DISKS[k], VAL_LITERAL); break;
    case DIM_NET: tmpl_add(t, "device", NICS[k], VAL_LITERAL); break;
    case DIM_FS:
        tmpl_add(t, "device", FS[k][0], VAL_LITERAL);
        tmpl_add(t, "fstype", FS[k][1], VAL_LITERAL);
        tmpl_add(t, "mountpoint", FS[k][2], VAL_LITERAL);
        break;
    case DIM_COLLECTOR: tmpl_add(t, "collector", COLLECTORS[k], VAL_LITERAL); break;
    case DIM_QUANTILE: tmpl_add(t, "quantile", QUANTILES[k], VAL_LITERAL); break;
    case DIM_UNAME:
        tmpl_add(t, "machine", "x86_64", VAL_LITERAL);
        tmpl_add(t, "release", "6.1.0-18-amd64", VAL_LITERAL);
        tmpl_add(t, "sysname", "Linux", VAL_LITERAL);
        break;
    }
    tmpl_sort(t);
}

/* The per-host series list, ordered round-robin over families (first combination of every
 * family, then the second of every family that has one, ...), so that even a run with fewer
 * series than one host has contains every metric name. */
typedef struct model {
    tmpl_t *tmpls;
    size_t ntmpl;   /* series per host */
    long hosts;     /* ceil(series / ntmpl) */
    long series;
} model_t;

static void model_init(model_t *m, long series)
{
    size_t total = 0, maxdim = 0;
    for (size_t f = 0; f < NFAMILIES; f++) {
        total += dim_count(FAMILIES[f].dim);
        if (dim_count(FAMILIES[f].dim) > maxdim)
            maxdim = dim_count(FAMILIES[f].dim);
    }
    m->tmpls = xcalloc(total, sizeof(tmpl_t));
    m->ntmpl = 0;
    for (size_t k = 0; k < maxdim; k++)
        for (size_t f = 0; f < NFAMILIES; f++)
            if (k < dim_count(FAMILIES[f].dim))
                tmpl_make(&m->tmpls[m->ntmpl++], (int)f, k);
    m->series = series;
    m->hosts = (long)((series + (long)m->ntmpl - 1) / (long)m->ntmpl);
}

/* Series i lives on host i / ntmpl with shape i % ntmpl. */
static const tmpl_t *model_series(const model_t *m, long i, long *host)
{
    *host = i / (long)m->ntmpl;
    return &m->tmpls[i % (long)m->ntmpl];
}

/* Per-series value state, advanced one sample at a time in time order. */
typedef struct sstate {
    uint64_t rng;
    double v;
    double rate; /* counters: increase per second; gauges: random-walk step size */
} sstate_t;

#define COUNTER_RESET_ONE_IN 5000

static void sstate_init(sstate_t *s, const model_t *m, uint64_t seed, long i)
{
    long host;
    const tmpl_t *t = model_series(m, i, &host);
    const family_t *f = &FAMILIES[t->family];
    s->rng = seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)i + 1) * 0xD1B54A32D192ED03ull;
    (void)splitmix64(&s->rng);
    switch (f->kind) {
    case KIND_COUNTER:
        s->rate = f->scale * (0.2 + 1.6 * rnd_unit(&s->rng));
        s->v = round2(s->rate * (1e4 + 1e6 * rnd_unit(&s->rng))); /* uptime 3h..12d */
        break;
    case KIND_GAUGE:
        s->v = round2(f->scale * (0.5 + rnd_unit(&s->rng)));
        s->rate = f->scale * 0.02;
        break;
    case KIND_CONST: s->v = f->scale; s->rate = 0; break;
    }
}

/* Value of the next sample of series i. */
static double sstate_next(sstate_t *s, const model_t *m, long i, int64_t interval_ms)
{
    long host;
    const tmpl_t *t = model_series(m, i, &host);
    const family_t *f = &FAMILIES[t->family];
    double r;
    switch (f->kind) {
    case KIND_COUNTER:
        r = rnd_unit(&s->rng);
        if (splitmix64(&s->rng) % COUNTER_RESET_ONE_IN == 0)
            s->v = 0; /* process restart */
        s->v = round2(s->v + s->rate * ((double)interval_ms / 1000.0) * (0.5 + r));
        break;
    case KIND_GAUGE:
        r = rnd_unit(&s->rng);
        s->v = round2(s->v + s->rate * (2.0 * r - 1.0));
        if (s->v < 0)
            s->v = -s->v;
        break;
    case KIND_CONST: break;
    }
    return s->v;
}

/* ------------------------------------------------------------------------------------------ */
/* Request layout: series are cut into groups, time into windows; request (g, w) carries every */
/* series of group g for the timestamps of window w.                                          */

typedef struct plan {
    const opts_t *o;
    model_t model;
    long group_series; /* series per group */
    long ngroups;
    long nwindows;
    long nitems;       /* ngroups * nwindows, ordered window-major */
    sstate_t *state;   /* one per series */
    char (*host_names)[32];
    char (*dc_names)[16];
} plan_t;

static void plan_init(plan_t *p, const opts_t *o)
{
    memset(p, 0, sizeof(*p));
    p->o = o;
    model_init(&p->model, o->series);
    p->group_series = o->batch_samples / o->ts_per_request;
    if (p->group_series < 1)
        p->group_series = 1;
    if (p->group_series > o->series)
        p->group_series = o->series;
    p->ngroups = (o->series + p->group_series - 1) / p->group_series;
    p->nwindows = (o->samples + o->ts_per_request - 1) / o->ts_per_request;
    p->nitems = p->ngroups * p->nwindows;
    p->state = xcalloc((size_t)o->series, sizeof(sstate_t));
    for (long i = 0; i < o->series; i++)
        sstate_init(&p->state[i], &p->model, o->seed, i);
    p->host_names = xcalloc((size_t)p->model.hosts, sizeof(*p->host_names));
    p->dc_names = xcalloc((size_t)p->model.hosts, sizeof(*p->dc_names));
    for (long h = 0; h < p->model.hosts; h++) {
        snprintf(p->host_names[h], sizeof(p->host_names[h]), "host-%ld:9100", h);
        snprintf(p->dc_names[h], sizeof(p->dc_names[h]), "dc-%ld", h % N_DATACENTERS);
    }
}

static void plan_free(plan_t *p)
{
    free(p->model.tmpls);
    free(p->state);
    free(p->host_names);
    free(p->dc_names);
}

/* Fills the label array of series i (sorted by name; strings borrowed from the plan). */
static size_t plan_labels(const plan_t *p, long i, label_t *out)
{
    long host;
    const tmpl_t *t = model_series(&p->model, i, &host);
    for (int k = 0; k < t->nlabels; k++) {
        const char *v = t->values[k];
        if (t->valkind[k] == VAL_INSTANCE)
            v = p->host_names[host];
        else if (t->valkind[k] == VAL_DATACENTER)
            v = p->dc_names[host];
        out[k].name = t->names[k];
        out[k].name_len = (uint32_t)strlen(t->names[k]);
        out[k].value = v;
        out[k].value_len = (uint32_t)strlen(v);
    }
    return (size_t)t->nlabels;
}

/* Encodes request (g, w) into out (snappy-compressed protobuf), advancing the value state of
 * the group's series. Must be called for w = 0, 1, 2, ... in order for each group. */
static long plan_encode(plan_t *p, long g, long w, buf_t *raw, buf_t *out)
{
    const opts_t *o = p->o;
    long s0 = g * p->group_series, s1 = s0 + p->group_series;
    if (s1 > o->series)
        s1 = o->series;
    long j0 = w * o->ts_per_request, j1 = j0 + o->ts_per_request;
    if (j1 > o->samples)
        j1 = o->samples;
    label_t labels[MAX_LABELS];
    sample_t samples[1024];
    long n = 0;
    buf_reset(raw);
    for (long i = s0; i < s1; i++) {
        size_t nl = plan_labels(p, i, labels);
        long j = j0;
        while (j < j1) {
            long cnt = 0;
            long lim = o->one_sample_per_ts ? 1 : (long)(sizeof(samples) / sizeof(samples[0]));
            for (; j < j1 && cnt < lim; j++, cnt++) {
                samples[cnt].t = o->start_ms + (int64_t)j * o->interval_ms;
                samples[cnt].v = sstate_next(&p->state[i], &p->model, i, o->interval_ms);
            }
            rw_encode_series(raw, labels, nl, samples, (size_t)cnt);
            n += cnt;
        }
    }
    int rc = rw_snappy_compress(raw->data, raw->len, out);
    if (rc != 0) {
        fprintf(stderr, "loadgen: snappy compression failed: %s\n", ms_strerror(rc));
        exit(1);
    }
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP/1.1 client over plain sockets, one keep-alive connection per thread.                  */

typedef struct url {
    char host[256];
    char port[16];
    char path[256];
    char hostport[300];
} url_t;

static int url_parse(const char *s, url_t *u)
{
    memset(u, 0, sizeof(*u));
    if (strncmp(s, "http://", 7) != 0)
        return -1;
    s += 7;
    const char *slash = strchr(s, '/');
    size_t hp_len = slash ? (size_t)(slash - s) : strlen(s);
    if (hp_len == 0 || hp_len >= sizeof(u->hostport))
        return -1;
    memcpy(u->hostport, s, hp_len);
    snprintf(u->path, sizeof(u->path), "%s", slash ? slash : "/");
    const char *colon = memrchr(u->hostport, ':', hp_len);
    if (colon) {
        size_t hl = (size_t)(colon - u->hostport);
        if (hl >= sizeof(u->host) || strlen(colon + 1) >= sizeof(u->port))
            return -1;
        memcpy(u->host, u->hostport, hl);
        strcpy(u->port, colon + 1);
    } else {
        if (hp_len >= sizeof(u->host))
            return -1;
        memcpy(u->host, u->hostport, hp_len);
        strcpy(u->port, "80");
    }
    return 0;
}

typedef struct conn {
    const url_t *url;
    int fd;
    int timeout_s;
    char rbuf[65536];
    size_t rlen, rpos;
} conn_t;

static int conn_open(conn_t *c)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(c->url->host, c->url->port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "loadgen: resolve %s: %s\n", c->url->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "loadgen: connect %s: %s\n", c->url->hostport, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {.tv_sec = c->timeout_s, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    c->fd = fd;
    c->rlen = c->rpos = 0;
    return 0;
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->rlen = c->rpos = 0;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Returns the next byte of the response, or -1 on EOF/error. */
static int conn_getc(conn_t *c)
{
    if (c->rpos == c->rlen) {
        ssize_t r;
        do
            r = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
            return -1;
        c->rlen = (size_t)r;
        c->rpos = 0;
    }
    return (unsigned char)c->rbuf[c->rpos++];
}

/* Reads one CRLF- (or LF-) terminated line without the terminator. Returns its length or -1. */
static long conn_line(conn_t *c, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int ch = conn_getc(c);
        if (ch < 0)
            return -1;
        if (ch == '\n')
            break;
        if (n + 1 < cap)
            line[n++] = (char)ch;
    }
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = 0;
    return (long)n;
}

static int conn_read_n(conn_t *c, buf_t *body, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int ch = conn_getc(c);
        if (ch < 0)
            return -1;
        buf_putc(body, (char)ch);
    }
    return 0;
}

typedef enum { HTTP_OK = 0, HTTP_NO_RESPONSE = -1, HTTP_BROKEN = -2 } http_rc_t;

/* Sends one POST and reads the answer. HTTP_NO_RESPONSE means nothing at all came back (a
 * kept-alive connection the server had closed): the caller may reconnect and resend.
 * *retry_after_s gets the Retry-After header in seconds (-1 when absent or not a number). */
static int http_post(conn_t *c, const void *body, size_t len, int *status, buf_t *resp, long *retry_after_s)
{
    *retry_after_s = -1;
    char head[2048]; /* room for the URL path and an --bearer line */
    int hn = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: metricstor-loadgen\r\n"
                      "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
                      "X-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: %zu\r\n"
                      "Connection: keep-alive\r\n%s\r\n",
                      c->url->path, c->url->hostport, len, auth_line);
    if (send_all(c->fd, head, (size_t)hn) < 0 || send_all(c->fd, body, len) < 0)
        return HTTP_NO_RESPONSE;
    char line[8192];
    long ln = conn_line(c, line, sizeof(line));
    if (ln < 0)
        return HTTP_NO_RESPONSE;
    if (sscanf(line, "HTTP/%*d.%*d %d", status) != 1)
        return HTTP_BROKEN;
    long content_length = -1;
    bool chunked = false, close_after = false;
    for (;;) {
        ln = conn_line(c, line, sizeof(line));
        if (ln < 0)
            return HTTP_BROKEN;
        if (ln == 0)
            break;
        if (!strncasecmp(line, "Content-Length:", 15))
            content_length = strtol(line + 15, NULL, 10);
        else if (!strncasecmp(line, "Transfer-Encoding:", 18) && strcasestr(line + 18, "chunked"))
            chunked = true;
        else if (!strncasecmp(line, "Connection:", 11) && strcasestr(line + 11, "close"))
            close_after = true;
        else if (!strncasecmp(line, "Retry-After:", 12)) {
            char *end;
            long v = strtol(line + 12, &end, 10);
            if (end != line + 12 && v >= 0)
                *retry_after_s = v;
        }
    }
    buf_reset(resp);
    if (chunked) {
        for (;;) {
            if (conn_line(c, line, sizeof(line)) < 0)
                return HTTP_BROKEN;
            long sz = strtol(line, NULL, 16);
            if (sz < 0)
                return HTTP_BROKEN;
            if (sz == 0) {
                do /* trailers up to the empty line */
                    ln = conn_line(c, line, sizeof(line));
                while (ln > 0);
                if (ln < 0)
                    return HTTP_BROKEN;
                break;
            }
            if (conn_read_n(c, resp, (size_t)sz) < 0 || conn_line(c, line, sizeof(line)) < 0)
                return HTTP_BROKEN;
        }
    } else if (content_length > 0) {
        if (conn_read_n(c, resp, (size_t)content_length) < 0)
            return HTTP_BROKEN;
    } else if (content_length < 0 && *status != 204 && *status != 304 && !(*status >= 100 && *status < 200)) {
        for (int ch; (ch = conn_getc(c)) >= 0;) /* body delimited by close */
            buf_putc(resp, (char)ch);
        close_after = true;
    }
    if (close_after)
        conn_close(c);
    return HTTP_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Sender threads                                                                             */

typedef struct shared {
    plan_t *plan;
    const url_t *url;
    buf_t *bodies;           /* nitems pre-encoded requests, or NULL when streaming */
    long *samples_in;        /* samples per pre-encoded request */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long next_item;
    long *done_windows;      /* per group: windows acknowledged so far */
    uint64_t samples_sent, requests, bytes_sent, reconnects, retries_429;
    int64_t *lat_ns;         /* per item */
    int64_t t0_ns;           /* clock_mono_ns() when sending began (--pace) */
    int64_t *ivl_lat_ns;     /* --report-s: latencies acknowledged since the last report (under mu) */
    long nivl;
    uint64_t ivl_samples, done_samples; /* under mu, only with --report-s */
    bool finished;           /* under mu: every worker returned */
} shared_t;

typedef struct worker {
    shared_t *sh;
    int id;
    pthread_t th;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *wk = arg;
    shared_t *sh = wk->sh;
    plan_t *p = sh->plan;
    conn_t *c = xcalloc(1, sizeof(conn_t));
    c->url = sh->url;
    c->fd = -1;
    c->timeout_s = p->o->timeout_s;
    buf_t raw = BUF_INIT, enc = BUF_INIT, resp = BUF_INIT;
    uint64_t my_samples = 0, my_bytes = 0, my_reqs = 0, my_reconnects = 0, my_retries = 0;
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        long item = sh->next_item;
        if (item >= p->nitems) {
            pthread_mutex_unlock(&sh->mu);
            break;
        }
        sh->next_item++;
        long g = item % p->ngroups, w = item / p->ngroups;
        while (sh->done_windows[g] < w)
            pthread_cond_wait(&sh->cv, &sh->mu);
        pthread_mutex_unlock(&sh->mu);
        if (p->o->pace > 0) { /* the window's last timestamp, on the paced clock */
            long jl = (w + 1) * p->o->ts_per_request;
            if (jl > p->o->samples)
                jl = p->o->samples;
            int64_t due_ns = sh->t0_ns + (int64_t)((double)((jl - 1) * p->o->interval_ms) * 1e6 / p->o->pace);
            for (int64_t now; (now = clock_mono_ns()) < due_ns;) {
                int64_t d = due_ns - now;
                struct timespec ts = {.tv_sec = d / 1000000000, .tv_nsec = d % 1000000000};
                nanosleep(&ts, NULL);
            }
        }

        const buf_t *body;
        long nsamples;
        if (sh->bodies) {
            body = &sh->bodies[item];
            nsamples = sh->samples_in[item];
        } else {
            nsamples = plan_encode(p, g, w, &raw, &enc);
            body = &enc;
        }
        int64_t t0 = clock_mono_ns();
        int status = 0, rc;
        for (;;) { /* until an answer other than 429 */
            rc = HTTP_NO_RESPONSE;
            long retry_after = -1;
            for (int attempt = 0; attempt < 3 && rc == HTTP_NO_RESPONSE; attempt++) {
                if (c->fd < 0) {
                    if (conn_open(c) < 0)
                        exit(1);
                    if (attempt > 0 || my_reqs > 0 || my_retries > 0)
                        my_reconnects++;
                }
                rc = http_post(c, body->data, body->len, &status, &resp, &retry_after);
                if (rc != HTTP_OK)
                    conn_close(c);
            }
            if (rc != HTTP_OK) {
                fprintf(stderr, "loadgen: request %ld (group %ld, window %ld): %s\n", item, g, w,
                        rc == HTTP_NO_RESPONSE ? "no response after 3 attempts" : "malformed or truncated response");
                exit(1);
            }
            if (status != 429)
                break;
            if (clock_mono_ns() - t0 > (int64_t)p->o->timeout_s * 1000000000) {
                fprintf(stderr, "loadgen: request %ld (group %ld, window %ld) still refused with 429 after %d s: %.*s\n",
                        item, g, w, p->o->timeout_s, (int)(resp.len > 4000 ? 4000 : resp.len),
                        resp.data ? (const char *)resp.data : "");
                exit(1);
            }
            my_retries++;
            if (retry_after < 0)
                retry_after = 1;
            if (retry_after > 30)
                retry_after = 30;
            struct timespec ts = {.tv_sec = retry_after, .tv_nsec = 0};
            nanosleep(&ts, NULL);
        }
        if (status < 200 || status > 299) {
            fprintf(stderr, "loadgen: request %ld (group %ld, window %ld, %ld samples) got HTTP %d: %.*s\n", item,
                    g, w, nsamples, status, (int)(resp.len > 4000 ? 4000 : resp.len),
                    resp.data ? (const char *)resp.data : "");
            exit(1);
        }
        sh->lat_ns[item] = clock_mono_ns() - t0;
        my_samples += (uint64_t)nsamples;
        my_bytes += body->len;
        my_reqs++;

        pthread_mutex_lock(&sh->mu);
        if (sh->ivl_lat_ns) {
            sh->ivl_lat_ns[sh->nivl++] = sh->lat_ns[item];
            sh->ivl_samples += (uint64_t)nsamples;
            sh->done_samples += (uint64_t)nsamples;
        }
        sh->done_windows[g] = w + 1;
        pthread_cond_broadcast(&sh->cv);
        pthread_mutex_unlock(&sh->mu);
    }
    pthread_mutex_lock(&sh->mu);
    sh->samples_sent += my_samples;
    sh->bytes_sent += my_bytes;
    sh->requests += my_reqs;
    sh->reconnects += my_reconnects;
    sh->retries_429 += my_retries;
    pthread_mutex_unlock(&sh->mu);
    conn_close(c);
    free(c);
    buf_free(&raw);
    buf_free(&enc);
    buf_free(&resp);
    return NULL;
}

static int cmp_i64(const void *a, const void *b);

/* --report-s: every interval, prints the samples acknowledged and the latency of the requests
 * acknowledged in it (0 when none), then one last line when the workers are done. */
static void *report_main(void *arg)
{
    shared_t *sh = arg;
    long every_s = sh->plan->o->report_s;
    int64_t *lat = xcalloc((size_t)sh->plan->nitems, sizeof(int64_t));
    int64_t next = sh->t0_ns;
    for (bool last = false; !last;) {
        next += (int64_t)every_s * 1000000000;
        pthread_mutex_lock(&sh->mu);
        while (!sh->finished && clock_mono_ns() < next) {
            int64_t d = next - clock_mono_ns();
            if (d > 100000000)
                d = 100000000;
            pthread_mutex_unlock(&sh->mu);
            struct timespec ts = {.tv_sec = 0, .tv_nsec = d > 0 ? d : 0};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&sh->mu);
        }
        last = sh->finished;
        long n = sh->nivl;
        memcpy(lat, sh->ivl_lat_ns, (size_t)n * sizeof(int64_t));
        uint64_t ns = sh->ivl_samples, total = sh->done_samples;
        sh->nivl = 0;
        sh->ivl_samples = 0;
        pthread_mutex_unlock(&sh->mu);
        qsort(lat, (size_t)n, sizeof(int64_t), cmp_i64);
        printf("progress elapsed_s=%.1f samples=%llu total_samples=%llu requests=%ld req_p50_ms=%.2f "
               "req_p99_ms=%.2f req_max_ms=%.2f\n",
               (double)(clock_mono_ns() - sh->t0_ns) / 1e9, (unsigned long long)ns, (unsigned long long)total, n,
               n ? (double)lat[n / 2] / 1e6 : 0.0, n ? (double)lat[(n * 99) / 100] / 1e6 : 0.0,
               n ? (double)lat[n - 1] / 1e6 : 0.0);
        fflush(stdout);
    }
    free(lat);
    return NULL;
}

/* Pre-encoding: thread t encodes the groups g with g % nthreads == t, every window in order. */
typedef struct encoder {
    shared_t *sh;
    int id, n;
    pthread_t th;
} encoder_t;

static void *encoder_main(void *arg)
{
    encoder_t *e = arg;
    plan_t *p = e->sh->plan;
    buf_t raw = BUF_INIT;
    for (long g = e->id; g < p->ngroups; g += e->n)
        for (long w = 0; w < p->nwindows; w++) {
            long item = w * p->ngroups + g;
            buf_t *b = &e->sh->bodies[item];
            e->sh->samples_in[item] = plan_encode(p, g, w, &raw, b);
            b->data = xrealloc(b->data, b->len ? b->len : 1); /* drop the compressor's slack */
            b->cap = b->len ? b->len : 1;
        }
    buf_free(&raw);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void describe(const plan_t *p)
{
    const opts_t *o = p->o;
    size_t kinds[3] = {0, 0, 0};
    for (size_t t = 0; t < p->model.ntmpl; t++)
        kinds[FAMILIES[p->model.tmpls[t].family].kind]++;
    printf("metric_names=%zu series_per_host=%zu (counters %zu, gauges %zu, constants %zu)\n", NFAMILIES,
           p->model.ntmpl, kinds[KIND_COUNTER], kinds[KIND_GAUGE], kinds[KIND_CONST]);
    printf("series=%ld hosts=%ld samples_per_series=%ld total_samples=%ld\n", o->series, p->model.hosts,
           o->samples, o->series * o->samples);
    printf("start_ms=%lld end_ms=%lld interval_ms=%lld seed=%llu\n", (long long)o->start_ms,
           (long long)(o->start_ms + (int64_t)(o->samples - 1) * o->interval_ms), (long long)o->interval_ms,
           (unsigned long long)o->seed);
    printf("requests=%ld (groups %ld of %ld series x windows %ld of %ld timestamps)%s\n", p->nitems, p->ngroups,
           p->group_series, p->nwindows, o->ts_per_request, o->one_sample_per_ts ? " one sample per TimeSeries" : "");
}

int main(int argc, char **argv)
{
    opts_t o;
    opts_parse(&o, argc, argv);
    plan_t plan;
    plan_init(&plan, &o);

    if (o.describe) {
        describe(&plan);
        plan_free(&plan);
        return 0;
    }
    if (o.print_series > 0) {
        label_t labels[MAX_LABELS];
        for (long i = 0; i < o.print_series && i < o.series; i++) {
            size_t n = plan_labels(&plan, i, labels);
            printf("{");
            for (size_t k = 0; k < n; k++)
                printf("%s%s=\"%s\"", k ? "," : "", labels[k].name, labels[k].value);
            printf("}\n");
        }
        plan_free(&plan);
        return 0;
    }
    url_t url;
    if (!o.url[0] || url_parse(o.url, &url) < 0) {
        fprintf(stderr, "loadgen: need --url http://HOST:PORT/PATH (plain http)\n");
        return 2;
    }
    shared_t sh;
    memset(&sh, 0, sizeof(sh));
    sh.plan = &plan;
    sh.url = &url;
    pthread_mutex_init(&sh.mu, NULL);
    pthread_cond_init(&sh.cv, NULL);
    sh.done_windows = xcalloc((size_t)plan.ngroups, sizeof(long));
    sh.lat_ns = xcalloc((size_t)plan.nitems, sizeof(int64_t));

    double encode_s = 0;
    uint64_t encoded_bytes = 0;
    if (!o.stream) {
        int64_t t0 = clock_mono_ns();
        sh.bodies = xcalloc((size_t)plan.nitems, sizeof(buf_t));
        sh.samples_in = xcalloc((size_t)plan.nitems, sizeof(long));
        int ne = o.concurrency;
        encoder_t *encs = xcalloc((size_t)ne, sizeof(encoder_t));
        for (int i = 0; i < ne; i++) {
            encs[i] = (encoder_t){.sh = &sh, .id = i, .n = ne};
            pthread_create(&encs[i].th, NULL, encoder_main, &encs[i]);
        }
        for (int i = 0; i < ne; i++)
            pthread_join(encs[i].th, NULL);
        free(encs);
        for (long i = 0; i < plan.nitems; i++)
            encoded_bytes += sh.bodies[i].len;
        encode_s = (double)(clock_mono_ns() - t0) / 1e9;
        fprintf(stderr, "loadgen: pre-encoded %ld requests, %.1f MiB compressed, in %.2fs\n", plan.nitems,
                (double)encoded_bytes / 1048576.0, encode_s);
    }

    printf("sending\n"); /* the runner snapshots server CPU time here */
    fflush(stdout);
    if (o.report_s > 0)
        sh.ivl_lat_ns = xcalloc((size_t)plan.nitems, sizeof(int64_t));
    int64_t t0 = clock_mono_ns();
    sh.t0_ns = t0;
    worker_t *wks = xcalloc((size_t)o.concurrency, sizeof(worker_t));
    for (int i = 0; i < o.concurrency; i++) {
        wks[i] = (worker_t){.sh = &sh, .id = i};
        pthread_create(&wks[i].th, NULL, worker_main, &wks[i]);
    }
    pthread_t reporter;
    if (o.report_s > 0)
        pthread_create(&reporter, NULL, report_main, &sh);
    for (int i = 0; i < o.concurrency; i++)
        pthread_join(wks[i].th, NULL);
    if (o.report_s > 0) {
        pthread_mutex_lock(&sh.mu);
        sh.finished = true;
        pthread_mutex_unlock(&sh.mu);
        pthread_join(reporter, NULL);
        free(sh.ivl_lat_ns);
    }
    double elapsed = (double)(clock_mono_ns() - t0) / 1e9;
    free(wks);

    uint64_t expected = (uint64_t)o.series * (uint64_t)o.samples;
    if (sh.samples_sent != expected) {
        fprintf(stderr, "loadgen: internal error: sent %llu samples, expected %llu\n",
                (unsigned long long)sh.samples_sent, (unsigned long long)expected);
        return 1;
    }
    qsort(sh.lat_ns, (size_t)plan.nitems, sizeof(int64_t), cmp_i64);
    double p50 = (double)sh.lat_ns[plan.nitems / 2] / 1e6;
    double p99 = (double)sh.lat_ns[(plan.nitems * 99) / 100] / 1e6;
    printf("samples=%llu series=%ld requests=%llu bytes=%llu elapsed_s=%.3f samples_per_s=%.0f "
           "req_p50_ms=%.2f req_p99_ms=%.2f reconnects=%llu retries_429=%llu encode_s=%.3f start_ms=%lld end_ms=%lld\n",
           (unsigned long long)sh.samples_sent, o.series, (unsigned long long)sh.requests,
           (unsigned long long)sh.bytes_sent, elapsed, (double)sh.samples_sent / elapsed, p50, p99,
           (unsigned long long)sh.reconnects, (unsigned long long)sh.retries_429, encode_s, (long long)o.start_ms,
           (long long)(o.start_ms + (int64_t)(o.samples - 1) * o.interval_ms));

    if (sh.bodies) {
        for (long i = 0; i < plan.nitems; i++)
            buf_free(&sh.bodies[i]);
        free(sh.bodies);
        free(sh.samples_in);
    }
    free(sh.done_windows);
    free(sh.lat_ns);
    pthread_mutex_destroy(&sh.mu);
    pthread_cond_destroy(&sh.cv);
    plan_free(&plan);
    return 0;
}
