/*
 * Upstream-shaped FOTA demo: a process thread, a recv thread and, once the platform pushes an
 * upgrade, a download thread. Reports version 1.0.0 (or $AIOT_DEVICE_VERSION), downloads the
 * pushed image over HTTPS with the test CA, reports progress every 5 %, writes the image to
 * $AIOT_FIRMWARE_OUT when set, then reports the new version.
 * Exit 0 when the image was downloaded and verified, 3 on digest mismatch, 2 on fetch failure,
 * 1 on any other failure. Bounded by $AIOT_DEMO_SECONDS (default 60).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <pthread.h>
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
static void *g_ota_handle;
static volatile int g_running = 1;
static volatile int g_result = -1; /* -1 pending, else exit code */
static char g_new_version[64];
static FILE *g_out;

static int32_t state_logcb(int32_t code, char *message)
{
    /* Body chunks are dumped under LK-040E; leave them out, as upstream's demo does. */
    if (code != STATE_HTTP_LOG_RECV_CONTENT) {
        printf("%s", message);
    }
    return 0;
}

static void download_recv_handler(void *handle, const aiot_download_recv_t *packet, void *userdata)
{
    uint32_t *last_percent = userdata;
    if (packet == NULL || packet->type != AIOT_DLRECV_HTTPBODY) {
        return;
    }
    int32_t percent = packet->data.percent;
    if (percent < 0) {
        printf("exception: percent = %d\r\n", percent);
        g_result = (percent == AIOT_OTAERR_CHECKSUM_MISMATCH) ? 3 : 1;
        return;
    }
    if (g_out != NULL && fwrite(packet->data.buffer, 1, packet->data.len, g_out) != packet->data.len) {
        g_result = 1;
    }
    if (percent - (int32_t)*last_percent >= 5 || percent == 100) {
        printf("download %03d%% done, +%u bytes\r\n", percent, packet->data.len);
        aiot_download_report_progress(handle, percent);
        *last_percent = (uint32_t)percent;
    }
}

static void *download_thread(void *dl_handle)
{
    uint32_t last_percent = 0;
    int32_t res;
    int failures = 0;
    aiot_download_setopt(dl_handle, AIOT_DLOPT_USERDATA, &last_percent);
    printf("starting download thread in 2 seconds ......\r\n");
    sleep(2);
    aiot_download_send_request(dl_handle);
    while (g_running) {
        res = aiot_download_recv(dl_handle);
        if (res == STATE_DOWNLOAD_FINISHED) {
            printf("download completed\r\n");
            break;
        }
        if (res == STATE_DOWNLOAD_RENEWAL_REQUEST_SENT) {
            printf("download renewal request has been sent successfully\r\n");
            continue;
        }
        if (res <= STATE_SUCCESS) {
            printf("download failed, error code is %d, try to send renewal request\r\n", res);
            if (res == STATE_DOWNLOAD_HTTPRSP_CODE_ERROR || res == STATE_DOWNLOAD_HTTPRSP_HEADER_ERROR ||
                res == STATE_DOWNLOAD_FETCH_TOO_MANY || ++failures > 20) {
                aiot_download_report_progress(dl_handle, AIOT_OTAERR_FETCH_FAILED);
                g_result = 2;
                break;
            }
            continue;
        }
        failures = 0;
    }
    if (g_out != NULL) {
        fclose(g_out);
        g_out = NULL;
    }
    if (g_result == -1) {
        /* Downloaded and verified: the new firmware reports its version. */
        aiot_ota_report_version(g_ota_handle, g_new_version);
        g_result = 0;
    }
    aiot_download_deinit(&dl_handle);
    printf("download thread exit\r\n");
    return NULL;
}

static void ota_recv_handler(void *ota_handle, const aiot_ota_recv_t *const ota_msg, void *userdata)
{
    (void)ota_handle;
    (void)userdata;
    if (ota_msg->type != AIOT_OTARECV_FOTA || ota_msg->task_desc == NULL ||
        ota_msg->task_desc->protocol_type != AIOT_OTA_PROTOCOL_HTTPS) {
        return;
    }
    void *dl_handle = aiot_download_init();
    if (dl_handle == NULL) {
        return;
    }
    printf("OTA target firmware version: %s, size: %u Bytes\r\n", ota_msg->task_desc->version,
           ota_msg->task_desc->size_total);
    snprintf(g_new_version, sizeof(g_new_version), "%s", ota_msg->task_desc->version);
    aiot_sysdep_network_cred_t cred = demo_ca_cred(g_ca);
    uint32_t buffer_len = (uint32_t)(int)demo_env_long("AIOT_DOWNLOAD_BUFFER", 8192);
    aiot_download_setopt(dl_handle, AIOT_DLOPT_NETWORK_CRED, &cred);
    aiot_download_setopt(dl_handle, AIOT_DLOPT_TASK_DESC, ota_msg->task_desc);
    aiot_download_setopt(dl_handle, AIOT_DLOPT_RECV_HANDLER, (void *)download_recv_handler);
    aiot_download_setopt(dl_handle, AIOT_DLOPT_BODY_BUFFER_MAX_LEN, &buffer_len);
    const char *out = getenv("AIOT_FIRMWARE_OUT");
    if (out != NULL) {
        g_out = fopen(out, "wb");
    }
    pthread_t t;
    if (pthread_create(&t, NULL, download_thread, dl_handle) != 0) {
        aiot_download_deinit(&dl_handle);
        g_result = 1;
    } else {
        pthread_detach(t);
    }
}

static void mqtt_event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (event->type == AIOT_MQTTEVT_CONNECT) {
        printf("AIOT_MQTTEVT_CONNECT\r\n");
    } else if (event->type == AIOT_MQTTEVT_RECONNECT) {
        printf("AIOT_MQTTEVT_RECONNECT\r\n");
    } else if (event->type == AIOT_MQTTEVT_DISCONNECT) {
        printf("AIOT_MQTTEVT_DISCONNECT: %s\r\n",
               event->data.disconnect == AIOT_MQTTDISCONNEVT_NETWORK_DISCONNECT ? "network disconnect"
                                                                               : "heartbeat disconnect");
    }
}

static void *process_thread(void *h)
{
    while (g_running) {
        aiot_mqtt_process(h);
        usleep(200 * 1000);
    }
    return NULL;
}

static void *recv_thread(void *h)
{
    while (g_running) {
        if (aiot_mqtt_recv(h) < STATE_SUCCESS) {
            usleep(200 * 1000);
        }
    }
    return NULL;
}

int main(void)
{
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    aiot_state_set_logcb(state_logcb);
    g_ca = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);

    aiot_sysdep_network_cred_t cred = demo_ca_cred(g_ca);
    uint16_t port = demo_env_port("AIOT_TLS_PORT");
    uint32_t recv_timeout = 500;

    void *mqtt = aiot_mqtt_init();
    if (mqtt == NULL) {
        return 1;
    }
    demo_mqtt_set_device(mqtt, demo_env("AIOT_TLS_HOST"), port, demo_env("AIOT_PRODUCT_KEY"), demo_env("AIOT_DEVICE_NAME"), demo_env("AIOT_DEVICE_SECRET"));
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred);
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout);
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_EVENT_HANDLER, (void *)mqtt_event_handler);

    g_ota_handle = aiot_ota_init();
    aiot_ota_setopt(g_ota_handle, AIOT_OTAOPT_MQTT_HANDLE, mqtt);
    aiot_ota_setopt(g_ota_handle, AIOT_OTAOPT_RECV_HANDLER, (void *)ota_recv_handler);

    int32_t res = aiot_mqtt_connect(mqtt);
    if (res < STATE_SUCCESS) {
        printf("aiot_mqtt_connect failed: -0x%04X\r\n", (unsigned)-res);
        aiot_ota_deinit(&g_ota_handle);
        aiot_mqtt_deinit(&mqtt);
        return 1;
    }
    /* No SUBSCRIBE, as upstream: the platform delivers the device's OTA topics by itself. */
    res = aiot_ota_report_version(g_ota_handle, (char *)(getenv("AIOT_DEVICE_VERSION") ? getenv("AIOT_DEVICE_VERSION") : "1.0.0"));
    if (res < STATE_SUCCESS) {
        printf("report version failed: -0x%04X\r\n", (unsigned)-res);
    }
    pthread_t pt, rt;
    pthread_create(&pt, NULL, process_thread, mqtt);
    pthread_create(&rt, NULL, recv_thread, mqtt);

    int seconds = (int)demo_env_long("AIOT_DEMO_SECONDS", 60);
    for (int i = 0; i < seconds * 10 && g_result == -1; i++) {
        usleep(100 * 1000);
    }
    usleep(500 * 1000); /* let the last publish leave */
    g_running = 0;
    pthread_join(pt, NULL);
    pthread_join(rt, NULL);
    aiot_mqtt_disconnect(mqtt);
    aiot_ota_deinit(&g_ota_handle);
    aiot_mqtt_deinit(&mqtt);
    free(g_ca);
    if (g_result == -1) {
        printf("no upgrade finished within %d s\r\n", seconds);
        return 1;
    }
    /* Memory must stay bounded whatever the image size: $AIOT_MAX_RSS_KB checks the peak.
     * VmHWM belongs to this program's image (getrusage's ru_maxrss would also count the
     * launcher's memory from before exec). */
    long peak_kb = -1;
    FILE *st = fopen("/proc/self/status", "r");
    if (st != NULL) {
        char line[256];
        while (fgets(line, sizeof(line), st) != NULL) {
            if (strncmp(line, "VmHWM:", 6) == 0) {
                peak_kb = atol(line + 6);
            }
        }
        fclose(st);
    }
    printf("peak RSS: %ld KB\r\n", peak_kb);
    /* $AIOT_DEMO_SMAPS: a copy of /proc/self/smaps at this point, for the RSS breakdown of
     * scripts/rss-breakdown.sh (file-backed pages stay mapped, so their Rss is their peak). */
    const char *smaps_out = getenv("AIOT_DEMO_SMAPS");
    if (smaps_out != NULL) {
        FILE *in = fopen("/proc/self/smaps", "r");
        FILE *out = fopen(smaps_out, "w");
        char buf[4096];
        size_t n;
        while (in != NULL && out != NULL && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
            fwrite(buf, 1, n, out);
        }
        if (in != NULL) {
            fclose(in);
        }
        if (out != NULL) {
            fclose(out);
        }
    }
    const char *max_rss = getenv("AIOT_MAX_RSS_KB");
    if (max_rss != NULL && (peak_kb < 0 || peak_kb > atol(max_rss))) {
        printf("peak RSS %ld KB exceeds %s KB\r\n", peak_kb, max_rss);
        return 1;
    }
    return g_result;
}
