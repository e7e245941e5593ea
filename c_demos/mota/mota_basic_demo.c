/*
 * OTA over MQTT, in the shape of upstream's mota_basic_demo.c: one thread; MQTT (TLS) + OTA
 * handle, version report, then a loop of aiot_mqtt_process / aiot_mqtt_recv /
 * aiot_mqtt_download_process. The OTA handler takes the first push whose protocol is MQTT,
 * creates the download handle (TASK_DESC, DATA_REQUEST_SIZE 10240 or $AIOT_MOTA_BLOCK,
 * RECV_HANDLE, and RANGE_START/END from $AIOT_MOTA_RANGE=S:E), and the data handler writes each
 * block to $AIOT_FIRMWARE_OUT.
 *
 * Run by `aiot-platform mota-exec`, which judges the progress the platform saw and the file.
 * argv[1] is the outcome the demo must see from aiot_mqtt_download_process:
 *   success (default) | mismatch | timeout
 * Any other terminal status (a SUCCESS where a failure is expected above all) fails the demo.
 * The demo also checks what the API promises: ING after the first request, FINISHED once
 * before SUCCESS, blocks in order with no gap, no block larger than asked for, percent 100 on
 * the last one, the handle back at NULL after deinit.
 */
#include "demo_common.h"

#include "aiot_ota_api.h"
#include "aiot_mqtt_download_api.h"

static void *g_dl_handle = NULL;
static FILE *g_out = NULL;
static uint32_t g_request_size = 10 * 1024;
static uint32_t g_range_start = 0, g_range_end = 0;
static uint32_t g_next_offset = 0;
static uint32_t g_bytes = 0;
static int32_t g_last_percent = -1;
static int g_blocks = 0;
static int g_tasks = 0;

static void user_download_recv_handler(void *handle, const aiot_mqtt_download_recv_t *packet, void *userdata)
{
    (void)userdata;
    CHECK(handle == g_dl_handle, "handler got another handle");
    if (!packet || AIOT_MDRECV_DATA_RESP != packet->type) {
        return;
    }
    uint32_t size = packet->data.data_resp.data_size;
    CHECK(packet->data.data_resp.offset == g_next_offset, "block at %u, expected %u",
          (unsigned)packet->data.data_resp.offset, (unsigned)g_next_offset);
    CHECK(size > 0 && size <= g_request_size, "block of %u bytes, asked for at most %u", (unsigned)size,
          (unsigned)g_request_size);
    CHECK(packet->data.data_resp.percent >= g_last_percent && packet->data.data_resp.percent <= 100,
          "percent %d after %d", (int)packet->data.data_resp.percent, (int)g_last_percent);
    CHECK(strcmp(packet->data.data_resp.filename, "default") == 0, "fileToken %s",
          packet->data.data_resp.filename);
    CHECK(fwrite(packet->data.data_resp.data, 1, size, g_out) == size, "write failed");
    g_next_offset += size;
    g_bytes += size;
    g_last_percent = packet->data.data_resp.percent;
    g_blocks++;
    if (g_blocks % 10 == 1 || packet->data.data_resp.percent == 100) {
        printf("download %03d%% done, +%u bytes\r\n", (int)packet->data.data_resp.percent, (unsigned)size);
    }
}

static void user_ota_recv_handler(void *ota_handle, aiot_ota_recv_t *ota_msg, void *userdata)
{
    (void)ota_handle;
    (void)userdata;
    if (ota_msg->type != AIOT_OTARECV_FOTA || ota_msg->task_desc == NULL ||
        ota_msg->task_desc->protocol_type != AIOT_OTA_PROTOCOL_MQTT) {
        return;
    }
    g_tasks++;
    if (g_dl_handle != NULL) {
        CHECK_OK(aiot_mqtt_download_deinit(&g_dl_handle));
    }
    printf("OTA target firmware version: %s, size: %u Bytes, stream %u/%u\r\n", ota_msg->task_desc->version,
           (unsigned)ota_msg->task_desc->size_total, (unsigned)ota_msg->task_desc->stream_id,
           (unsigned)ota_msg->task_desc->stream_file_id);
    void *md = aiot_mqtt_download_init();
    CHECK(md != NULL, "aiot_mqtt_download_init");
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_TASK_DESC, ota_msg->task_desc));
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_DATA_REQUEST_SIZE, &g_request_size));
    if (g_range_end != 0) {
        CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_RANGE_START, &g_range_start));
        CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_RANGE_END, &g_range_end));
    }
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_RECV_HANDLE, (void *)user_download_recv_handler));
    g_dl_handle = md;
}

int main(int argc, char *argv[])
{
    const char *mode = argc > 1 ? argv[1] : "success";
    int32_t want;
    if (strcmp(mode, "success") == 0) {
        want = STATE_MQTT_DOWNLOAD_SUCCESS;
    } else if (strcmp(mode, "mismatch") == 0) {
        want = STATE_MQTT_DOWNLOAD_FAILED_MISMATCH;
    } else if (strcmp(mode, "timeout") == 0) {
        want = STATE_MQTT_DOWNLOAD_FAILED_TIMEOUT;
    } else {
        fprintf(stderr, "usage: %s [success|mismatch|timeout]\n", argv[0]);
        return 2;
    }
    demo_env_t env;
    demo_env_load(&env);
    g_request_size = (uint32_t)demo_env_long("AIOT_MOTA_BLOCK", 10 * 1024);
    const char *range = getenv("AIOT_MOTA_RANGE");
    if (range != NULL && *range) {
        unsigned long s = 0, e = 0;
        CHECK(sscanf(range, "%lu:%lu", &s, &e) == 2 && e > 0, "AIOT_MOTA_RANGE=%s", range);
        g_range_start = (uint32_t)s;
        g_range_end = (uint32_t)e;
        g_next_offset = g_range_start;
    }
    g_out = fopen(demo_env("AIOT_FIRMWARE_OUT"), "wb");
    CHECK(g_out != NULL, "cannot open AIOT_FIRMWARE_OUT");

    char *ca = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    aiot_sysdep_network_cred_t cred = demo_ca_cred(ca);
    void *mqtt_handle = demo_mqtt_new(env.tls_host, env.tls_port, &env, NULL, NULL);
    CHECK_OK(aiot_mqtt_setopt(mqtt_handle, AIOT_MQTTOPT_NETWORK_CRED, &cred));
    /* Upstream's loop calls aiot_mqtt_recv between two download steps: a short receive timeout
     * keeps the step after the last block (FINISHED -> SUCCESS) from waiting 5 s for nothing. */
    uint32_t recv_timeout_ms = 500;
    CHECK_OK(aiot_mqtt_setopt(mqtt_handle, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));
    void *ota_handle = aiot_ota_init();
    CHECK(ota_handle != NULL, "aiot_ota_init");
    CHECK_OK(aiot_ota_setopt(ota_handle, AIOT_OTAOPT_MQTT_HANDLE, mqtt_handle));
    CHECK_OK(aiot_ota_setopt(ota_handle, AIOT_OTAOPT_RECV_HANDLER, (void *)user_ota_recv_handler));
    CHECK_OK(aiot_mqtt_connect(mqtt_handle));
    CHECK_OK(aiot_ota_report_version(ota_handle, "1.0.0"));

    int32_t last = 0, finished = 0, ing = 0, result = 0;
    uint64_t deadline = demo_deadline((uint32_t)demo_env_long("AIOT_DEMO_SECONDS", 100) * 1000);
    while (result == 0) {
        CHECK(!demo_expired(deadline), "no terminal status in time (last -0x%04X, %u bytes)", (unsigned)-last,
              (unsigned)g_bytes);
        aiot_mqtt_process(mqtt_handle);
        int32_t r = aiot_mqtt_recv(mqtt_handle);
        CHECK(r >= 0 || r == STATE_SYS_DEPEND_NWK_CLOSED, "aiot_mqtt_recv -0x%04X", (unsigned)-r);
        if (g_dl_handle == NULL) {
            continue;
        }
        int32_t res = aiot_mqtt_download_process(g_dl_handle);
        if (res != last) {
            printf("aiot_mqtt_download_process: -0x%04X\r\n", (unsigned)-res);
        }
        if (last == 0) {
            CHECK_RC(res, STATE_MQTT_DOWNLOAD_ING);
        }
        last = res;
        switch (res) {
        case STATE_MQTT_DOWNLOAD_ING: ing++; break;
        case STATE_MQTT_DOWNLOAD_FINISHED: finished++; break;
        case STATE_MQTT_DOWNLOAD_SUCCESS:
        case STATE_MQTT_DOWNLOAD_FAILED_RECVERROR:
        case STATE_MQTT_DOWNLOAD_FAILED_TIMEOUT:
        case STATE_MQTT_DOWNLOAD_FAILED_MISMATCH:
            result = res;
            break;
        default:
            CHECK(0, "unexpected status -0x%04X", (unsigned)-res);
        }
    }
    fclose(g_out);
    CHECK(g_tasks == 1, "%d MQTT tasks", g_tasks);
    if (result == STATE_MQTT_DOWNLOAD_SUCCESS) {
        printf("mqtt download ota success\r\n");
        CHECK(finished == 1, "FINISHED seen %d times before SUCCESS", (int)finished);
        CHECK(g_last_percent == 100, "last block at %d%%", (int)g_last_percent);
    } else {
        printf("mqtt download ota failed\r\n");
    }
    CHECK(result == want, "download ended with -0x%04X, expected -0x%04X", (unsigned)-result, (unsigned)-want);
    CHECK_OK(aiot_mqtt_download_deinit(&g_dl_handle));
    CHECK(g_dl_handle == NULL, "deinit left the handle");
    if (result == STATE_MQTT_DOWNLOAD_SUCCESS && g_range_end == 0) {
        CHECK_OK(aiot_ota_report_version(ota_handle, (char *)demo_env("AIOT_FIRMWARE_VERSION")));
    }
    /* Let the last progress report and the UNSUBSCRIBE go out. */
    RECV_FOR(mqtt_handle, 300);
    CHECK_OK(aiot_ota_deinit(&ota_handle));
    CHECK_OK(aiot_mqtt_disconnect(mqtt_handle));
    CHECK_OK(aiot_mqtt_deinit(&mqtt_handle));
    free(ca);
    printf("[demo] %d blocks, %u bytes, %d ING\n", g_blocks, (unsigned)g_bytes, (int)ing);
    return 0;
}
