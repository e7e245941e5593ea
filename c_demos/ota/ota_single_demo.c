/*
 * Single-threaded OTA demo: one thread drives aiot_mqtt_recv and the downloads.
 *
 *   ota_single_demo range   upgrade push, image fetched in two Range requests
 *   ota_single_demo multi   multi-file push, every file downloaded and verified
 *   ota_single_demo query   no push: asks with aiot_ota_query_firmware, the reply carries the job
 *   ota_single_demo cota    remote-config push on /sys/<pk>/<dn>/thing/config/push
 *   ota_single_demo cota-query  no push: publishes thing.config.get, the get_reply carries the job
 *   ota_single_demo module  1.0.0 reported with the _ext call, then module "mcu" set on the OTA
 *                           handle: versions reported for it
 *
 * Prints each task's fields (module and extra data included) as it arrives.
 * Reports 1.0.0 first; after every file is verified (percent 100) reports the new version.
 * Writes the (first) image to $AIOT_FIRMWARE_OUT when set. Exit 0 on success, 3 on digest
 * mismatch, 2 on fetch failure, 1 otherwise. Bounded by $AIOT_DEMO_SECONDS (default 60).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
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

#define MAX_TASKS 20

static char *g_ca;
static const char *g_mode;
static int g_tasks_seen;
static int g_file_num;
static void *g_downloads[MAX_TASKS];
static uint32_t g_sizes[MAX_TASKS];
static char g_version[64];
static int g_expected_type = AIOT_OTARECV_FOTA;
static int g_bad_type;
static FILE *g_out;
static int g_result = -1;

static int32_t logcb(int32_t code, char *message)
{
    if (code != STATE_HTTP_LOG_RECV_CONTENT) {
        printf("%s", message);
    }
    return 0;
}

static void on_chunk(void *handle, const aiot_download_recv_t *packet, void *userdata)
{
    int idx = (int)(size_t)userdata;
    if (packet->type != AIOT_DLRECV_HTTPBODY) {
        return;
    }
    if (packet->data.percent < 0) {
        printf("file %d: exception, percent %d\n", idx, packet->data.percent);
        g_result = packet->data.percent == AIOT_OTAERR_CHECKSUM_MISMATCH ? 3 : 1;
        return;
    }
    if (idx == 0 && g_out != NULL) {
        fwrite(packet->data.buffer, 1, packet->data.len, g_out);
    }
    if (packet->data.percent == 100) {
        printf("file %d: 100%% verified\n", idx);
        aiot_download_report_progress(handle, 100);
    }
}

static void on_ota(void *ota_handle, const aiot_ota_recv_t *const msg, void *userdata)
{
    (void)ota_handle;
    (void)userdata;
    if ((int)msg->type != g_expected_type) {
        g_bad_type = 1;
        return;
    }
    aiot_download_task_desc_t *t = msg->task_desc;
    if (g_tasks_seen >= MAX_TASKS || t->file_id >= MAX_TASKS) {
        return;
    }
    printf("task: type %u, version %s, file %u of %u (%s), size %u, url %s\n", msg->type, t->version, t->file_id,
           t->file_num, t->file_name ? t->file_name : "-", t->size_total, t->url);
    printf("task: module %s, extra data %s\n", t->module ? t->module : "-",
           t->extra_data ? t->extra_data : "-");
    snprintf(g_version, sizeof(g_version), "%s", t->version);
    void *dl = aiot_download_init();
    aiot_sysdep_network_cred_t cred = demo_ca_cred(g_ca);
    uint32_t buf = 16384;
    aiot_download_setopt(dl, AIOT_DLOPT_NETWORK_CRED, &cred);
    /* The task strings live only during this callback: the download handle copies them. */
    aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, t);
    aiot_download_setopt(dl, AIOT_DLOPT_RECV_HANDLER, (void *)on_chunk);
    aiot_download_setopt(dl, AIOT_DLOPT_USERDATA, (void *)(size_t)t->file_id);
    aiot_download_setopt(dl, AIOT_DLOPT_BODY_BUFFER_MAX_LEN, &buf);
    g_downloads[t->file_id] = dl;
    g_sizes[t->file_id] = t->size_total;
    g_file_num = (int)t->file_num;
    g_tasks_seen++;
}

/* Runs one request to its end: returns the final code (FINISHED, RANGE_FINISHED or an error). */
static int32_t fetch(void *dl)
{
    int32_t res = aiot_download_send_request(dl);
    if (res < 0) {
        return res;
    }
    for (int i = 0; i < 100000; i++) {
        res = aiot_download_recv(dl);
        if (res == STATE_DOWNLOAD_FINISHED || res == STATE_DOWNLOAD_RANGE_FINISHED ||
            res == STATE_DOWNLOAD_HTTPRSP_CODE_ERROR || g_result > 0) {
            return res;
        }
        if (res < 0 && res != STATE_DOWNLOAD_RENEWAL_REQUEST_SENT && res != STATE_DOWNLOAD_RECV_ERROR) {
            printf("recv: -0x%04X\n", (unsigned)-res);
        }
    }
    return res;
}

int main(int argc, char *argv[])
{
    g_mode = argc > 1 ? argv[1] : "range";
    int cota_query = strcmp(g_mode, "cota-query") == 0;
    if (strcmp(g_mode, "cota") == 0 || cota_query) {
        g_expected_type = AIOT_OTARECV_COTA;
    }
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    aiot_state_set_logcb(logcb);
    g_ca = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    const char *pk = demo_env("AIOT_PRODUCT_KEY"), *dn = demo_env("AIOT_DEVICE_NAME");
    const char *out = getenv("AIOT_FIRMWARE_OUT");
    g_out = out ? fopen(out, "wb") : NULL;

    void *mqtt = aiot_mqtt_init();
    uint16_t port = demo_env_port("AIOT_PORT");
    uint32_t recv_timeout = 200;
    demo_mqtt_set_device(mqtt, demo_env("AIOT_HOST"), port, pk, dn, demo_env("AIOT_DEVICE_SECRET"));
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout);
    void *ota = aiot_ota_init();
    aiot_ota_setopt(ota, AIOT_OTAOPT_MQTT_HANDLE, mqtt);
    aiot_ota_setopt(ota, AIOT_OTAOPT_RECV_HANDLER, (void *)on_ota);
    if (aiot_mqtt_connect(mqtt) < 0) {
        return 1;
    }
    /* "module": the handle's module goes into aiot_ota_report_version's reports. The _ext form
     * (any device's triple, here the device's own) reports the default module, never a named
     * one, as upstream's does. */
    int with_module = strcmp(g_mode, "module") == 0;
    if (with_module) {
        if (aiot_ota_report_version_ext(ota, (char *)pk, (char *)dn, "1.0.0") < 0) {
            return 1;
        }
        aiot_ota_setopt(ota, AIOT_OTAOPT_MODULE, (void *)"mcu");
    }
    /* No SUBSCRIBE, as upstream: the platform delivers pushes and replies by itself. */
    aiot_ota_report_version(ota, "1.0.0");
    if (strcmp(g_mode, "query") == 0) {
        if (aiot_ota_query_firmware(ota) < 0) {
            return 1;
        }
    }
    if (cota_query) {
        /* The SDK has no config query call: the device publishes thing.config.get itself and the
         * reply (config/get_reply, delivered without a SUBSCRIBE) reaches the OTA handler. */
        char topic[160];
        const char *get = "{\"id\":\"1\",\"version\":\"1.0\",\"params\":{\"configScope\":\"product\","
                          "\"getType\":\"file\"},\"method\":\"thing.config.get\"}";
        snprintf(topic, sizeof(topic), "/sys/%s/%s/thing/config/get", pk, dn);
        if (aiot_mqtt_pub(mqtt, topic, (uint8_t *)get, (uint32_t)strlen(get), 0) < 0) {
            return 1;
        }
    }
    int seconds = (int)demo_env_long("AIOT_DEMO_SECONDS", 60);
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end && (g_file_num == 0 || g_tasks_seen < g_file_num)) {
        aiot_mqtt_recv(mqtt);
    }
    if (g_bad_type || g_tasks_seen == 0 || g_tasks_seen < g_file_num) {
        printf("expected tasks did not arrive (seen %d of %d)\n", g_tasks_seen, g_file_num);
        return 1;
    }
    for (int i = 0; i < g_file_num && g_result < 0; i++) {
        void *dl = g_downloads[i];
        int32_t res;
        if (strcmp(g_mode, "range") == 0) {
            uint32_t half = g_sizes[i] / 2, start = 0, last = half - 1, zero = 0;
            aiot_download_setopt(dl, AIOT_DLOPT_RANGE_START, &start);
            aiot_download_setopt(dl, AIOT_DLOPT_RANGE_END, &last);
            res = fetch(dl);
            printf("first range: -0x%04X\n", (unsigned)-res);
            if (res != STATE_DOWNLOAD_RANGE_FINISHED) {
                g_result = 2;
                break;
            }
            aiot_download_setopt(dl, AIOT_DLOPT_RANGE_START, &half);
            aiot_download_setopt(dl, AIOT_DLOPT_RANGE_END, &zero);
        }
        res = fetch(dl);
        if (res == STATE_DOWNLOAD_RANGE_FINISHED) {
            res = aiot_download_recv(dl); /* the whole image is in: FINISHED */
        }
        printf("file %d: -0x%04X\n", i, (unsigned)-res);
        if (res != STATE_DOWNLOAD_FINISHED && g_result < 0) {
            aiot_download_report_progress(dl, AIOT_OTAERR_FETCH_FAILED);
            g_result = 2;
        }
    }
    if (g_out != NULL) {
        fclose(g_out);
    }
    if (g_result < 0) {
        aiot_ota_report_version(ota, g_version);
        g_result = 0;
    }
    for (int i = 0; i < 20; i++) {
        aiot_mqtt_recv(mqtt); /* let the last publishes leave and acks come back */
    }
    for (int i = 0; i < MAX_TASKS; i++) {
        if (g_downloads[i] != NULL) {
            aiot_download_deinit(&g_downloads[i]);
        }
    }
    aiot_mqtt_disconnect(mqtt);
    aiot_ota_deinit(&ota);
    aiot_mqtt_deinit(&mqtt);
    free(g_ca);
    return g_result;
}
