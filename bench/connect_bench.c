/*
 * TLS connect figures of libaiot (loopback): the whole aiot_mqtt_connect of a fresh handle (a
 * full TLS 1.3 handshake with certificate verification), then reconnects of the same handle
 * (aiot_mqtt_disconnect + aiot_mqtt_connect, a resumed session where the library keeps one),
 * each with the client's CPU time. Run it under `aiot-platform exec` (AIOT_* environment);
 * AIOT_TLS_PORT may point at a second broker, e.g. one with mosquitto's default settings
 * (scripts/connect-bench.sh). Prints figures only; nothing here is a pass/fail test.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aiot_mqtt_api.h"
#include "aiot_state_api.h"
#include "aiot_sysdep_api.h"
#include "demo_common.h"

extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;

#define MAX_ROUNDS 64

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_stats(const char *name, double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    printf("%s_min_median_max %.3f %.3f %.3f\n", name, v[0], v[n / 2], v[n - 1]);
}

/* One timed aiot_mqtt_connect: wall and CPU milliseconds; exits on failure. */
static void timed_connect(void *h, double *wall, double *cpu)
{
    double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    double t0 = clock_ms(CLOCK_MONOTONIC);
    int32_t res = aiot_mqtt_connect(h);
    *wall = clock_ms(CLOCK_MONOTONIC) - t0;
    *cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (res < 0) {
        fprintf(stderr, "connect failed: -0x%04X\n", (unsigned)-res);
        exit(1);
    }
}

int main(void)
{
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    char *ca = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    aiot_sysdep_network_cred_t cred = demo_ca_cred(ca);
    int rounds = getenv("AIOT_BENCH_ROUNDS") ? atoi(getenv("AIOT_BENCH_ROUNDS")) : 7;
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        rounds = 7;
    }
    uint16_t port = (uint16_t)atoi(demo_env("AIOT_TLS_PORT"));
    double first_wall[MAX_ROUNDS], first_cpu[MAX_ROUNDS], re_wall[MAX_ROUNDS], re_cpu[MAX_ROUNDS];
    for (int i = 0; i < rounds; i++) {
        /* A fresh handle: in a fresh process (the first round) nothing can be resumed. */
        void *h = aiot_mqtt_init();
        demo_mqtt_set_device(h, demo_env("AIOT_TLS_HOST"), port, demo_env("AIOT_PRODUCT_KEY"), demo_env("AIOT_DEVICE_NAME"), demo_env("AIOT_DEVICE_SECRET"));
        aiot_mqtt_setopt(h, AIOT_MQTTOPT_NETWORK_CRED, &cred);
        timed_connect(h, &first_wall[i], &first_cpu[i]);
        aiot_mqtt_disconnect(h);
        timed_connect(h, &re_wall[i], &re_cpu[i]);
        aiot_mqtt_disconnect(h);
        aiot_mqtt_deinit(&h);
        if (i == 0) {
            printf("tls_connect_cold_ms %.3f\ntls_connect_cold_cpu_ms %.3f\n", first_wall[0], first_cpu[0]);
        }
    }
    print_stats("tls_connect_ms", first_wall, rounds);
    print_stats("tls_connect_cpu_ms", first_cpu, rounds);
    print_stats("tls_reconnect_ms", re_wall, rounds);
    print_stats("tls_reconnect_cpu_ms", re_cpu, rounds);
    free(ca);
    return 0;
}
