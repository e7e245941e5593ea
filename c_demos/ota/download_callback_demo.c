/*
 * Every download call made from inside the download callback, as upstream allows: on the first
 * chunk aiot_download_setopt (receive timeout, userdata) and aiot_download_report_progress, on
 * the second a new body buffer length and a nested aiot_download_recv, on the first chunk past
 * 50 % aiot_download_send_request (the download goes on from the byte reached).
 *
 * Run under `aiot-platform ota-exec`: a FOTA push arrives, the image is fetched over HTTPS and
 * written to $AIOT_FIRMWARE_OUT in order, 100 and then the new version are reported. A call
 * that hangs is caught by a watchdog (SIGALRM, exit 4). Exit 0 on success, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aiot_mqtt_api.h"
#include "aiot_ota_api.h"
#include "aiot_state_api.h"
#include "aiot_sysdep_api.h"
#include "demo_common.h"

extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;

static char *g_ca;
static void *g_dl;
static char g_version[64];
static FILE *g_out;
static int g_chunks;
static int g_nested;
static int g_resent;
static int g_done;
static int g_failed;
static int g_marker;

static int32_t logcb(int32_t code, char *message)
{
    if (code != STATE_HTTP_LOG_RECV_CONTENT) {
        printf("%s", message);
    }
    return 0;
}

static void expect(int32_t got, int ok, const char *what)
{
    if (got < 0) {
        printf("in callback: %s -> -0x%04X\n", what, (unsigned)-got);
    } else {
        printf("in callback: %s -> %d\n", what, (int)got);
    }
    if (!ok) {
        printf("in callback: %s failed\n", what);
        g_failed = 1;
    }
}

/* Calls the download API on its own handle; runs again (nested) for the chunk of the inner
 * aiot_download_recv. */
static void reenter(void *handle, int chunk, int32_t percent)
{
    if (chunk == 1) {
        uint32_t timeout = 3000;
        expect(aiot_download_setopt(handle, AIOT_DLOPT_RECV_TIMEOUT_MS, &timeout), 1, "setopt RECV_TIMEOUT_MS");
        int32_t r = aiot_download_setopt(handle, AIOT_DLOPT_USERDATA, &g_marker);
        expect(r, r == STATE_SUCCESS, "setopt USERDATA");
        r = aiot_download_report_progress(handle, percent);
        expect(r, r >= STATE_SUCCESS, "report_progress");
    } else if (chunk == 2 && !g_nested) {
        uint32_t len = 4096;
        int32_t r = aiot_download_setopt(handle, AIOT_DLOPT_BODY_BUFFER_MAX_LEN, &len);
        expect(r, r == STATE_SUCCESS, "setopt BODY_BUFFER_MAX_LEN");
        g_nested = 1;
        r = aiot_download_recv(handle);
        expect(r, r > 0, "nested recv");
    } else if (percent >= 50 && !g_resent) {
        g_resent = 1;
        int32_t r = aiot_download_send_request(handle);
        expect(r, r == STATE_SUCCESS, "send_request");
    }
}

static void on_chunk(void *handle, const aiot_download_recv_t *packet, void *userdata)
{
    if (packet->type != AIOT_DLRECV_HTTPBODY) {
        return;
    }
    if (g_chunks > 0 && userdata != &g_marker) {
        printf("in callback: userdata set from the callback was not passed\n");
        g_failed = 1;
    }
    if (packet->data.percent < 0) {
        printf("exception, percent %d\n", packet->data.percent);
        g_failed = 1;
        return;
    }
    if (g_out != NULL) {
        fwrite(packet->data.buffer, 1, packet->data.len, g_out);
    }
    int chunk = ++g_chunks;
    if (packet->data.percent == 100) {
        printf("100%% verified\n");
        aiot_download_report_progress(handle, 100);
        g_done = 1;
        return;
    }
    reenter(handle, chunk, packet->data.percent);
}

static void on_ota(void *ota_handle, const aiot_ota_recv_t *const msg, void *userdata)
{
    (void)ota_handle;
    (void)userdata;
    aiot_download_task_desc_t *t = msg->task_desc;
    if (msg->type != AIOT_OTARECV_FOTA || g_dl != NULL || t == NULL) {
        return;
    }
    printf("task: version %s, size %u, url %s\n", t->version, t->size_total, t->url);
    snprintf(g_version, sizeof(g_version), "%s", t->version);
    g_dl = aiot_download_init();
    aiot_sysdep_network_cred_t cred = demo_ca_cred(g_ca);
    uint32_t buf = 2048;
    aiot_download_setopt(g_dl, AIOT_DLOPT_NETWORK_CRED, &cred);
    aiot_download_setopt(g_dl, AIOT_DLOPT_TASK_DESC, t);
    aiot_download_setopt(g_dl, AIOT_DLOPT_RECV_HANDLER, (void *)on_chunk);
    aiot_download_setopt(g_dl, AIOT_DLOPT_BODY_BUFFER_MAX_LEN, &buf);
}

static int download(void)
{
    if (aiot_download_send_request(g_dl) < 0) {
        return 1;
    }
    for (int i = 0; i < 100000 && !g_failed; i++) {
        int32_t res = aiot_download_recv(g_dl);
        if (res == STATE_DOWNLOAD_FINISHED) {
            printf("download completed\n");
            break;
        }
        if (res < 0 && res != STATE_DOWNLOAD_RENEWAL_REQUEST_SENT) {
            printf("recv: -0x%04X\n", (unsigned)-res);
        }
    }
    if (!g_done || !g_nested || !g_resent || g_failed) {
        printf("download: done %d, nested recv %d, resent %d, failed %d\n", g_done, g_nested, g_resent, g_failed);
        return 1;
    }
    return 0;
}

int main(void)
{
    int seconds = (int)demo_env_long("AIOT_DEMO_SECONDS", 60);
    demo_watchdog((unsigned)seconds + 10, "download_callback_demo: a download call", 4);

    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    aiot_state_set_logcb(logcb);
    g_ca = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    const char *out = getenv("AIOT_FIRMWARE_OUT");
    g_out = out ? fopen(out, "wb") : NULL;

    void *mqtt = aiot_mqtt_init();
    uint32_t recv_timeout = 200;
    demo_mqtt_set_device(mqtt, demo_env("AIOT_HOST"), demo_env_port("AIOT_PORT"), demo_env("AIOT_PRODUCT_KEY"),
                         demo_env("AIOT_DEVICE_NAME"), demo_env("AIOT_DEVICE_SECRET"));
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout);
    void *ota = aiot_ota_init();
    aiot_ota_setopt(ota, AIOT_OTAOPT_MQTT_HANDLE, mqtt);
    aiot_ota_setopt(ota, AIOT_OTAOPT_RECV_HANDLER, (void *)on_ota);
    if (aiot_mqtt_connect(mqtt) < 0) {
        return 1;
    }
    aiot_ota_report_version(ota, "1.0.0");
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end && g_dl == NULL) {
        aiot_mqtt_recv(mqtt);
    }
    int result = g_dl == NULL ? 1 : download();
    if (g_out != NULL) {
        fclose(g_out);
    }
    if (result == 0) {
        aiot_ota_report_version(ota, g_version);
    }
    for (int i = 0; i < 20; i++) {
        aiot_mqtt_recv(mqtt); /* let the last publishes leave */
    }
    if (g_dl != NULL) {
        aiot_download_deinit(&g_dl);
    }
    aiot_mqtt_disconnect(mqtt);
    aiot_ota_deinit(&ota);
    aiot_mqtt_deinit(&mqtt);
    free(g_ca);
    return result;
}
