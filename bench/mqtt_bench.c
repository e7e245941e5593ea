/*
 * MQTT speed figures of libaiot against the local platform's mosquitto (loopback):
 * TCP and TLS connect time, QoS0 and QoS1 publish rates (QoS1: every PUBACK awaited).
 * Run through `aiot-platform exec`, which provides the AIOT_* environment. Prints figures only;
 * nothing here is a pass/fail test.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "aiot_mqtt_api.h"
#include "aiot_state_api.h"
#include "aiot_sysdep_api.h"
#include "demo_common.h"

extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static atomic_int g_acked;

static void on_recv(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        atomic_fetch_add(&g_acked, 1);
    }
}

static void *new_handle(int tls, aiot_sysdep_network_cred_t *cred)
{
    void *h = aiot_mqtt_init();
    uint16_t port = (uint16_t)atoi(demo_env(tls ? "AIOT_TLS_PORT" : "AIOT_PORT"));
    uint16_t repub = 65535;
    uint32_t recv_timeout = 200;
    demo_mqtt_set_device(h, demo_env(tls ? "AIOT_TLS_HOST" : "AIOT_HOST"), port, demo_env("AIOT_PRODUCT_KEY"), demo_env("AIOT_DEVICE_NAME"), demo_env("AIOT_DEVICE_SECRET"));
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_MAX_REPUB_NUM, &repub);
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout);
    aiot_mqtt_setopt(h, AIOT_MQTTOPT_RECV_HANDLER, (void *)on_recv);
    if (tls) {
        aiot_mqtt_setopt(h, AIOT_MQTTOPT_NETWORK_CRED, cred);
    }
    return h;
}

static double connect_ms(int tls, aiot_sysdep_network_cred_t *cred, int rounds)
{
    double total = 0;
    for (int i = 0; i < rounds; i++) {
        void *h = new_handle(tls, cred);
        double t0 = now_ms();
        int32_t res = aiot_mqtt_connect(h);
        total += now_ms() - t0;
        if (res < 0) {
            fprintf(stderr, "connect failed: -0x%04X\n", (unsigned)-res);
            exit(1);
        }
        aiot_mqtt_disconnect(h);
        aiot_mqtt_deinit(&h);
    }
    return total / rounds;
}

/* CPU seconds the broker (AIOT_BROKER_PID_FILE) has used so far; -1 when unknown. */
static double broker_cpu_s(void)
{
    const char *pid_file = getenv("AIOT_BROKER_PID_FILE");
    FILE *f = pid_file ? fopen(pid_file, "r") : NULL;
    int pid = 0;
    if (f == NULL || fscanf(f, "%d", &pid) != 1) {
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) return -1;
    unsigned long utime = 0, stime = 0;
    /* Fields 14 and 15 (utime, stime) follow the parenthesised command name. */
    int ok = fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2;
    fclose(f);
    return ok ? (double)(utime + stime) / sysconf(_SC_CLK_TCK) : -1;
}

/* CPU seconds this process (all its threads) has used so far. */
static double own_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* During the last publish_rate() run: the share of one core the broker used, and the client's
 * CPU microseconds per message (publisher, reader and waiting threads together). */
static double g_broker_share;
static double g_client_us_per_msg;

static volatile int g_stop;

static void *recv_loop(void *h)
{
    while (!g_stop) {
        aiot_mqtt_recv(h);
    }
    return NULL;
}

static double publish_rate(int tls, aiot_sysdep_network_cred_t *cred, uint8_t qos, int count)
{
    void *h = new_handle(tls, cred);
    if (aiot_mqtt_connect(h) < 0) {
        exit(1);
    }
    char topic[128];
    snprintf(topic, sizeof(topic), "/%s/%s/user/bench", demo_env("AIOT_PRODUCT_KEY"), demo_env("AIOT_DEVICE_NAME"));
    uint8_t payload[256];
    memset(payload, 'x', sizeof(payload));
    pthread_t reader;
    g_stop = 0;
    atomic_store(&g_acked, 0);
    pthread_create(&reader, NULL, recv_loop, h);
    double b0 = broker_cpu_s();
    double c0 = own_cpu_s();
    double t0 = now_ms();
    for (int i = 0; i < count; i++) {
        int32_t res = aiot_mqtt_pub(h, topic, payload, sizeof(payload), qos);
        if (res < 0) {
            fprintf(stderr, "pub failed: -0x%04X\n", (unsigned)-res);
            exit(1);
        }
    }
    if (qos == 1) {
        double limit = now_ms() + 30000;
        while (atomic_load(&g_acked) < count && now_ms() < limit) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
        if (atomic_load(&g_acked) < count) {
            fprintf(stderr, "only %d of %d PUBACKs\n", atomic_load(&g_acked), count);
            exit(1);
        }
    }
    double elapsed = now_ms() - t0;
    double b1 = broker_cpu_s();
    g_client_us_per_msg = (own_cpu_s() - c0) * 1e6 / count;
    g_broker_share = (b0 < 0 || b1 < 0) ? -1 : (b1 - b0) / (elapsed / 1000.0);
    g_stop = 1;
    pthread_join(reader, NULL);
    aiot_mqtt_disconnect(h);
    aiot_mqtt_deinit(&h);
    return count / (elapsed / 1000.0);
}

int main(void)
{
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    char *ca = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    aiot_sysdep_network_cred_t cred = demo_ca_cred(ca);

    int count = getenv("AIOT_BENCH_COUNT") ? atoi(getenv("AIOT_BENCH_COUNT")) : 10000;
    connect_ms(0, &cred, 3); /* warm up */
    printf("tcp_connect_ms %.3f\n", connect_ms(0, &cred, 50));
    printf("tls_connect_ms %.3f\n", connect_ms(1, &cred, 50));
    double q0 = 0, q1 = 0, q0t = 0, q1t = 0, q1_share = 0, q1_client_us = 0;
    for (int r = 0; r < 3; r++) { /* best of three */
        double v;
        if ((v = publish_rate(0, &cred, 0, count)) > q0) q0 = v;
        if ((v = publish_rate(0, &cred, 1, count)) > q1) {
            q1 = v;
            q1_share = g_broker_share;
            q1_client_us = g_client_us_per_msg;
        }
        if ((v = publish_rate(1, &cred, 0, count)) > q0t) q0t = v;
        if ((v = publish_rate(1, &cred, 1, count)) > q1t) q1t = v;
    }
    printf("qos0_tcp_msg_per_s %.0f\n", q0);
    printf("qos1_tcp_msg_per_s %.0f\n", q1);
    /* Near 1.0: the broker, not the client, sets the QoS1 rate (clock ticks: +-10 ms). */
    printf("qos1_tcp_broker_cpu_share %.2f\n", q1_share);
    /* The client's own cost: 1e6 / this is what it could sustain with a broker to match. */
    printf("qos1_tcp_client_cpu_us_per_msg %.1f\n", q1_client_us);
    printf("qos0_tls_msg_per_s %.0f\n", q0t);
    printf("qos1_tls_msg_per_s %.0f\n", q1t);
    free(ca);
    return 0;
}
