/*
 * MQTT figures of one run against the platform's mosquitto (loopback), as a user sees them:
 *   - TCP and TLS connect: the whole aiot_mqtt_connect on a new handle (DNS, TCP, TLS,
 *     CONNECT/CONNACK), and a TLS reconnect (disconnect, then connect again on the same handle),
 *     each the median of AIOT_BENCH_CONNECTS calls, with the process's CPU time per call;
 *   - QoS0: AIOT_BENCH_COUNT x 256 B, timed until the broker has taken every message: after the
 *     burst one QoS1 "fence" is published and the clock stops at its PUBACK (the broker handles a
 *     connection's packets in order);
 *   - QoS1: AIOT_BENCH_COUNT x 256 B, timed until every PUBACK is in.
 * Per publish run it also prints what each message costs: TCP data segments the client sent, the
 * client's CPU time, and the broker's read and write calls (read(2)/write(2) and their vector
 * forms, from /proc/<pid>/io) and its share of one core.
 *
 * Uses only the public aiot_* API and libc, so the same source builds against upstream's Link SDK
 * (scripts/upstream-bench.sh) and this library. Run through `aiot-platform exec`, which provides
 * the AIOT_* environment. Prints "<figure> <value>" lines; nothing here is a pass/fail test.
 * AIOT_BENCH_COUNT: messages per publish run (10000); AIOT_BENCH_CONNECTS: connects per figure
 * (11); AIOT_BENCH_ONLY=qos0|qos1: that publish run alone; AIOT_BENCH_NO_LOGCB=1: no log
 * callback.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <linux/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aiot_state_api.h"
#include "aiot_sysdep_api.h"
#include "aiot_mqtt_api.h"

extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;

#define BENCH_SOL_TCP 6
#define MAX_CONNECTS 101

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "mqtt_bench: %s is not set (run under aiot-platform exec)\n", name);
        exit(1);
    }
    return v;
}

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *v = getenv(name);
    long n = v ? atol(v) : def;
    return n < lo ? lo : n > hi ? hi : n;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU milliseconds this process (all its threads) has used so far. */
static double own_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------------ process counters */

typedef struct {
    double cpu_s;        /* utime + stime */
    long long syscr;     /* read(2)/readv(2) calls (/proc/<pid>/io; not recv/send) */
    long long syscw;     /* write(2)/writev(2) calls */
    long long data_segs; /* TCP segments with data sent, over the process's TCP sockets */
} counters_t;

static long long io_field(int pid, const char *field)
{
    char path[64], line[128];
    snprintf(path, sizeof(path), pid ? "/proc/%d/io" : "/proc/self/io", pid);
    FILE *f = fopen(path, "r");
    long long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = atoll(line + n + 1);
        }
    }
    if (f) fclose(f);
    return v;
}

/* CPU seconds of `pid`'s main thread (/proc/<pid>/schedstat, nanoseconds; mosquitto has one
 * thread). */
static double main_thread_cpu_s(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    unsigned long long ns = 0;
    int ok = fscanf(f, "%llu", &ns) == 1;
    fclose(f);
    return ok ? ns / 1e9 : -1;
}

/* Data segments sent so far over this process's TCP sockets (TCP_INFO, Linux >= 4.6). */
static long long own_data_segs(void)
{
    DIR *d = opendir("/proc/self/fd");
    long long total = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || fd == dirfd(d) || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
            continue;
        }
        struct tcp_info ti;
        socklen_t len = sizeof(ti);
        memset(&ti, 0, sizeof(ti));
        if (getsockopt(fd, BENCH_SOL_TCP, TCP_INFO, &ti, &len) == 0 && len >= offsetof(struct tcp_info, tcpi_data_segs_out) + sizeof(ti.tcpi_data_segs_out)) {
            total += ti.tcpi_data_segs_out;
        }
    }
    if (d) closedir(d);
    return total;
}

static int broker_pid(void)
{
    const char *pid_file = getenv("AIOT_BROKER_PID_FILE");
    FILE *f = pid_file ? fopen(pid_file, "r") : NULL;
    int pid = 0;
    if (f == NULL || fscanf(f, "%d", &pid) != 1) pid = 0;
    if (f) fclose(f);
    return pid;
}

static counters_t read_counters(int pid, int own)
{
    counters_t c = {0};
    if (own) {
        c.cpu_s = own_cpu_ms() / 1e3;
        c.syscr = io_field(0, "syscr");
        c.syscw = io_field(0, "syscw");
        c.data_segs = own_data_segs();
    } else if (pid > 0) {
        c.cpu_s = main_thread_cpu_s(pid);
        c.syscr = io_field(pid, "syscr");
        c.syscw = io_field(pid, "syscw");
    }
    return c;
}

/* ------------------------------------------------------------------ the client */

static aiot_sysdep_network_cred_t g_cred;
static atomic_int g_acked;
static atomic_int g_fence_id;
static atomic_int g_fence_acked;
static atomic_int g_stop;

static int32_t drop_log(int32_t code, char *message)
{
    (void)code;
    (void)message;
    return 0;
}

static void on_recv(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        atomic_fetch_add(&g_acked, 1);
        if (packet->data.pub_ack.packet_id == (uint16_t)atomic_load(&g_fence_id)) {
            atomic_store(&g_fence_acked, 1);
        }
    }
}

static void *new_handle(int tls)
{
    void *h = aiot_mqtt_init();
    if (h == NULL) {
        fprintf(stderr, "aiot_mqtt_init failed\n");
        exit(1);
    }
    uint16_t port = (uint16_t)atoi(env(tls ? "AIOT_TLS_PORT" : "AIOT_PORT"));
    uint16_t repub = 65535;
    uint32_t recv_timeout = 200;
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_HOST, (void *)env(tls ? "AIOT_TLS_HOST" : "AIOT_HOST"));
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_PORT, &port);
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_PRODUCT_KEY, (void *)env("AIOT_PRODUCT_KEY"));
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_DEVICE_NAME, (void *)env("AIOT_DEVICE_NAME"));
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_DEVICE_SECRET, (void *)env("AIOT_DEVICE_SECRET"));
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_MAX_REPUB_NUM, &repub);
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout);
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_RECV_HANDLER, (void *)on_recv);
    if (tls) {
        aiot_mqtt_setopt(h, AIOT_MQTTOPT_NETWORK_CRED, &g_cred);
    }
    return h;
}

static void connect_or_die(void *h)
{
    int32_t res = aiot_mqtt_connect(h);
    if (res < 0) {
        fprintf(stderr, "aiot_mqtt_connect failed: -0x%04X\n", (unsigned)-res);
        exit(1);
    }
}

/* Median wall and CPU milliseconds of `rounds` connects on new handles. */
static void connect_ms(int tls, int rounds, double *wall, double *cpu)
{
    double w[MAX_CONNECTS], c[MAX_CONNECTS];
    for (int i = 0; i < rounds; i++) {
        void *h = new_handle(tls);
        double c0 = own_cpu_ms(), t0 = now_ms();
        connect_or_die(h);
        w[i] = now_ms() - t0;
        c[i] = own_cpu_ms() - c0;
        aiot_mqtt_disconnect(h);
        aiot_mqtt_deinit(&h);
    }
    *wall = median(w, rounds);
    *cpu = median(c, rounds);
}

/* Median wall and CPU milliseconds of `rounds` TLS reconnects on one handle. */
static void reconnect_ms(int rounds, double *wall, double *cpu)
{
    double w[MAX_CONNECTS], c[MAX_CONNECTS];
    void *h = new_handle(1);
    connect_or_die(h);
    for (int i = 0; i < rounds; i++) {
        aiot_mqtt_disconnect(h);
        double c0 = own_cpu_ms(), t0 = now_ms();
        connect_or_die(h);
        w[i] = now_ms() - t0;
        c[i] = own_cpu_ms() - c0;
    }
    aiot_mqtt_disconnect(h);
    aiot_mqtt_deinit(&h);
    *wall = median(w, rounds);
    *cpu = median(c, rounds);
}

static void *recv_loop(void *h)
{
    while (!atomic_load(&g_stop)) {
        aiot_mqtt_recv(h);
    }
    return NULL;
}

static int32_t pub_or_die(void *h, const char *topic, const uint8_t *payload, uint32_t len, uint8_t qos)
{
    int32_t res = aiot_mqtt_pub(h, (char *)topic, (uint8_t *)payload, len, qos);
    if (res < 0) {
        fprintf(stderr, "aiot_mqtt_pub failed: -0x%04X\n", (unsigned)-res);
        exit(1);
    }
    return res;
}

/* Waits (bounded) until `*flag` reaches `want`; exits on time-out. */
static void wait_until(atomic_int *flag, int want, const char *what)
{
    double limit = now_ms() + 30000;
    while (atomic_load(flag) < want && now_ms() < limit) {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(flag) < want) {
        fprintf(stderr, "mqtt_bench: timed out waiting for %s (%d of %d)\n", what, atomic_load(flag), want);
        exit(1);
    }
}

/* One publish run over plain TCP; prints its rate and per-message costs under `name`. */
static void publish_run(const char *name, uint8_t qos, int count)
{
    void *h = new_handle(0);
    connect_or_die(h);
    char topic[128];
    snprintf(topic, sizeof(topic), "/%s/%s/user/bench", env("AIOT_PRODUCT_KEY"), env("AIOT_DEVICE_NAME"));
    uint8_t payload[256];
    memset(payload, 'x', sizeof(payload));
    pthread_t reader;
    atomic_store(&g_stop, 0);
    atomic_store(&g_acked, 0);
    atomic_store(&g_fence_id, -1);
    atomic_store(&g_fence_acked, 0);
    pthread_create(&reader, NULL, recv_loop, h);
    int bpid = broker_pid();
    counters_t b0 = read_counters(bpid, 0), c0 = read_counters(0, 1);
    double t0 = now_ms();
    for (int i = 0; i < count; i++) {
        pub_or_die(h, topic, payload, sizeof(payload), qos);
    }
    if (qos == 0) {
        /* The fence: its PUBACK means the broker has read everything sent before it. */
        atomic_store(&g_fence_id, pub_or_die(h, topic, payload, sizeof(payload), 1));
        wait_until(&g_fence_acked, 1, "the fence's PUBACK");
    } else {
        wait_until(&g_acked, count, "every PUBACK");
    }
    double elapsed_s = (now_ms() - t0) / 1e3;
    counters_t b1 = read_counters(bpid, 0), c1 = read_counters(0, 1);
    atomic_store(&g_stop, 1);
    pthread_join(reader, NULL);
    aiot_mqtt_disconnect(h);
    aiot_mqtt_deinit(&h);
    double n = count;
    printf("%s_msg_per_s %.0f\n", name, n / elapsed_s);
    printf("%s_client_data_segs_per_msg %.3f\n", name, (c1.data_segs - c0.data_segs) / n);
    printf("%s_client_cpu_us_per_msg %.2f\n", name, (c1.cpu_s - c0.cpu_s) * 1e6 / n);
    if (bpid > 0 && b0.syscr >= 0 && b1.syscr >= 0) {
        printf("%s_broker_reads_per_msg %.3f\n", name, (b1.syscr - b0.syscr) / n);
        printf("%s_broker_writes_per_msg %.3f\n", name, (b1.syscw - b0.syscw) / n);
        /* Near 1.0: the broker's core sets the rate. */
        printf("%s_broker_cpu_share %.2f\n", name, (b1.cpu_s - b0.cpu_s) / elapsed_s);
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "mqtt_bench: cannot read %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "mqtt_bench: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    return buf;
}

int main(void)
{
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    /* A log callback, as every upstream demo installs one (it drops the lines here); both
     * libraries then hex-dump each published payload to it. AIOT_BENCH_NO_LOGCB=1: none. */
    if (getenv("AIOT_BENCH_NO_LOGCB") == NULL) {
        aiot_state_set_logcb(drop_log);
    }
    char *ca = read_file(env("AIOT_CA_FILE"));
    memset(&g_cred, 0, sizeof(g_cred));
    g_cred.option = AIOT_SYSDEP_NETWORK_CRED_SVRCERT_CA;
    g_cred.max_tls_fragment = 16384;
    g_cred.sni_enabled = 1;
    g_cred.x509_server_cert = ca;
    g_cred.x509_server_cert_len = (uint32_t)strlen(ca);

    int count = (int)env_long("AIOT_BENCH_COUNT", 10000, 1, 1000000);
    /* AIOT_BENCH_ONLY=qos0 or qos1: that publish run alone (to profile the broker over it). */
    const char *only = getenv("AIOT_BENCH_ONLY");
    if (only != NULL && (strcmp(only, "qos0") == 0 || strcmp(only, "qos1") == 0)) {
        publish_run(only[3] == '0' ? "qos0_tcp" : "qos1_tcp", only[3] == '0' ? 0 : 1, count);
        free(ca);
        return 0;
    }
    int connects = (int)env_long("AIOT_BENCH_CONNECTS", 11, 1, MAX_CONNECTS);
    double wall, cpu;
    connect_ms(0, 2, &wall, &cpu); /* warm up */
    connect_ms(0, connects, &wall, &cpu);
    printf("tcp_connect_ms %.3f\n", wall);
    connect_ms(1, connects, &wall, &cpu);
    printf("tls_connect_ms %.3f\n", wall);
    printf("tls_connect_cpu_ms %.3f\n", cpu);
    reconnect_ms(connects, &wall, &cpu);
    printf("tls_reconnect_ms %.3f\n", wall);
    printf("tls_reconnect_cpu_ms %.3f\n", cpu);
    publish_run("qos0_tcp", 0, count);
    publish_run("qos1_tcp", 1, count);
    fflush(stdout);
    free(ca);
    return 0;
}
