/*
 * OTA download speed of libaiot against the local platform (run under `aiot-platform ota-exec
 * --image-size 67108864`): waits for the upgrade push, downloads the image over HTTPS with a
 * 128 KiB body buffer and no log callback, and prints MB/s and CPU seconds; then fetches the
 * same URL with curl in the same run and prints the ratio. Figures only, not a test.
 *
 * AIOT_BENCH_LOGCB=1 measures the shape of upstream's fota demo instead: a log callback (which
 * drops every line, as that demo drops the LK-040E body dumps) and an 8 KiB body buffer. The
 * library still formats and hands over every dump line; figures are named `..._logcb_...`.
 *
 * AIOT_BENCH_URL_OVERRIDE=URL downloads (and curls) URL instead of the pushed one, keeping the
 * pushed size and digest: URL must serve the same image (scripts/nginx-firmware.sh).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "aiot_mqtt_api.h"
#include "aiot_ota_api.h"
#include "aiot_state_api.h"
#include "aiot_sysdep_api.h"
#include "demo_common.h"

extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;

static aiot_download_task_desc_t g_task;
static char g_url[1024], g_sign[80], g_version[64];
static void *g_dl;
static int g_percent;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void on_ota(void *h, const aiot_ota_recv_t *const msg, void *u)
{
    (void)h;
    (void)u;
    if (g_dl == NULL && msg->task_desc->url != NULL) {
        const char *over = getenv("AIOT_BENCH_URL_OVERRIDE");
        snprintf(g_url, sizeof(g_url), "%s", over != NULL && over[0] != '\0' ? over : msg->task_desc->url);
        aiot_download_task_desc_t desc = *msg->task_desc;
        desc.url = g_url;
        g_dl = aiot_download_init();
        aiot_download_setopt(g_dl, AIOT_DLOPT_TASK_DESC, &desc);
        g_task.size_total = msg->task_desc->size_total;
        g_task.digest_method = msg->task_desc->digest_method;
        snprintf(g_sign, sizeof(g_sign), "%s", msg->task_desc->expect_digest);
        snprintf(g_version, sizeof(g_version), "%s", msg->task_desc->version);
    }
}

static long g_log_lines;

static int32_t count_log(int32_t code, char *message)
{
    (void)code;
    (void)message;
    g_log_lines++;
    return 0;
}

static void on_chunk(void *h, const aiot_download_recv_t *p, void *u)
{
    (void)h;
    (void)u;
    g_percent = p->data.percent;
}

int main(void)
{
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    char *ca = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    void *mqtt = aiot_mqtt_init();
    uint16_t port = (uint16_t)atoi(demo_env("AIOT_PORT"));
    uint32_t rt = 100;
    demo_mqtt_set_device(mqtt, demo_env("AIOT_HOST"), port, demo_env("AIOT_PRODUCT_KEY"), demo_env("AIOT_DEVICE_NAME"), demo_env("AIOT_DEVICE_SECRET"));
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &rt);
    void *ota = aiot_ota_init();
    aiot_ota_setopt(ota, AIOT_OTAOPT_MQTT_HANDLE, mqtt);
    aiot_ota_setopt(ota, AIOT_OTAOPT_RECV_HANDLER, (void *)on_ota);
    if (aiot_mqtt_connect(mqtt) < 0) {
        return 1;
    }
    aiot_ota_report_version(ota, "1.0.0");
    for (int i = 0; i < 100 && g_dl == NULL; i++) {
        aiot_mqtt_recv(mqtt);
    }
    if (g_dl == NULL) {
        return 1;
    }
    aiot_sysdep_network_cred_t cred = demo_ca_cred(ca);
    const char *logcb = getenv("AIOT_BENCH_LOGCB");
    int with_log = logcb != NULL && strcmp(logcb, "1") == 0;
    uint32_t buf = with_log ? 8 * 1024 : 128 * 1024;
    const char *shape = with_log ? "_logcb" : "";
    if (with_log) {
        aiot_state_set_logcb(count_log);
    }
    aiot_download_setopt(g_dl, AIOT_DLOPT_NETWORK_CRED, &cred);
    aiot_download_setopt(g_dl, AIOT_DLOPT_RECV_HANDLER, (void *)on_chunk);
    aiot_download_setopt(g_dl, AIOT_DLOPT_BODY_BUFFER_MAX_LEN, &buf);
    double t0 = now_s(), c0 = cpu_s();
    int32_t res = aiot_download_send_request(g_dl);
    if (res < 0) {
        printf("send_request: -0x%04X\n", (unsigned)-res);
        return 1;
    }
    for (long i = 0; i < 10000000L; i++) {
        res = aiot_download_recv(g_dl);
        if (res == STATE_DOWNLOAD_FINISHED || (res < 0 && res != STATE_DOWNLOAD_RENEWAL_REQUEST_SENT)) {
            break;
        }
    }
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    double mb = g_task.size_total / 1e6;
    aiot_state_set_logcb(NULL);
    const char *method = g_task.digest_method ? "sha256" : "md5";
    printf("ota_download_%s%s_MB_per_s %.1f\n", method, shape, mb / secs);
    printf("ota_download_%s%s_cpu_s %.3f\n", method, shape, cpu);
    if (with_log) {
        printf("ota_download_log_lines %ld\n", g_log_lines);
    }
    int verified = res == STATE_DOWNLOAD_FINISHED && g_percent == 100;
    printf("ota_download_result %s (-0x%04X, percent %d)\n", verified ? "verified" : "FAILED", (unsigned)-res, g_percent);
    if (verified) { /* the platform hears of success only after one */
        aiot_download_report_progress(g_dl, 100);
        aiot_ota_report_version(ota, g_version);
    }
    for (int i = 0; i < 5; i++) {
        aiot_mqtt_recv(mqtt);
    }
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "curl -s -o /dev/null --cacert '%s' '%s'", demo_env("AIOT_CA_FILE"), g_url);
    double t1 = now_s();
    int rc = system(cmd);
    double csecs = now_s() - t1;
    if (rc == 0) {
        printf("curl_MB_per_s %.1f\n", mb / csecs);
        printf("aiot_vs_curl %.2f\n", (mb / secs) / (mb / csecs));
    }
    FILE *st = fopen("/proc/self/status", "r");
    char line[256];
    while (st && fgets(line, sizeof(line), st)) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            printf("ota_bench_peak_rss_kb %ld\n", atol(line + 6));
        }
    }
    if (st) {
        fclose(st);
    }
    aiot_download_deinit(&g_dl);
    aiot_mqtt_disconnect(mqtt);
    aiot_ota_deinit(&ota);
    aiot_mqtt_deinit(&mqtt);
    free(ca);
    return verified ? 0 : 1;
}
