/*
 * aiot_mqtt_download_* misuse: upstream's codes for NULL handles, options out of range, the
 * unimplemented MQTT_HANDLE option, a task without MQTT handle, an empty file, and a task whose
 * MQTT handle is deinitialised first. No download takes place.
 */
#include "demo_common.h"

#include "aiot_ota_api.h"
#include "aiot_mqtt_download_api.h"

static void handler(void *handle, const aiot_mqtt_download_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)packet;
    (void)userdata;
    CHECK(0, "no block is expected");
}

int main(void)
{
    demo_env_t env;
    demo_env_load(&env);
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    aiot_state_set_logcb(demo_logcb);
    uint32_t v = 100;
    void *none = NULL;

    CHECK_RC(aiot_mqtt_download_process(NULL), STATE_MQTT_DOWNLOAD_MQTT_HANDLE_NULL);
    CHECK_RC(aiot_mqtt_download_setopt(NULL, AIOT_MDOPT_RANGE_START, &v), STATE_DOWNLOAD_DEINIT_HANDLE_IS_NULL);
    CHECK_RC(aiot_mqtt_download_deinit(NULL), STATE_DOWNLOAD_DEINIT_HANDLE_IS_NULL);
    CHECK_RC(aiot_mqtt_download_deinit(&none), STATE_DOWNLOAD_DEINIT_HANDLE_IS_NULL);

    void *md = aiot_mqtt_download_init();
    CHECK(md != NULL, "aiot_mqtt_download_init");
    CHECK_RC(aiot_mqtt_download_process(md), STATE_MQTT_DOWNLOAD_TASK_DEINIT);
    CHECK_RC(aiot_mqtt_download_setopt(md, AIOT_MDOPT_MQTT_HANDLE, &v), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_download_setopt(md, AIOT_MDOPT_MAX, &v), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_download_setopt(md, (aiot_mqtt_download_option_t)99, &v), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_download_setopt(md, AIOT_MDOPT_RANGE_START, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_download_setopt(md, AIOT_MDOPT_RANGE_END, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_download_setopt(md, AIOT_MDOPT_DATA_REQUEST_SIZE, NULL), STATE_USER_INPUT_NULL_POINTER);
    uint32_t zero = 0;
    CHECK_RC(aiot_mqtt_download_setopt(md, AIOT_MDOPT_DATA_REQUEST_SIZE, &zero), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_download_setopt(md, AIOT_MDOPT_TASK_DESC, NULL), STATE_DOWNLOAD_SETOPT_COPIED_DATA_IS_NULL);
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_RECV_HANDLE, (void *)handler));
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_RECV_HANDLE, NULL));
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_USERDATA, NULL));
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_DATA_REQUEST_SIZE, &v));

    /* A task without MQTT handle: accepted, but nothing to download on. */
    aiot_download_task_desc_t task;
    memset(&task, 0, sizeof(task));
    task.product_key = (char *)env.product_key;
    task.device_name = (char *)env.device_name;
    task.version = "2.0.0";
    task.expect_digest = "00000000000000000000000000000000";
    task.size_total = 0;
    task.stream_id = 1;
    task.stream_file_id = 1;
    task.protocol_type = AIOT_OTA_PROTOCOL_MQTT;
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_TASK_DESC, &task));
    CHECK_RC(aiot_mqtt_download_process(md), STATE_MQTT_DOWNLOAD_TASK_DEINIT);

    /* With an MQTT handle (never connected): an empty file is a FILESIZE_ERROR, every time. */
    void *mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "aiot_mqtt_init");
    demo_mqtt_set_device(mqtt, env.host, env.port, env.product_key, env.device_name, env.device_secret);
    task.mqtt_handle = mqtt;
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_TASK_DESC, &task));
    CHECK_RC(aiot_mqtt_download_process(md), STATE_MQTT_DOWNLOAD_FILESIZE_ERROR);
    CHECK_RC(aiot_mqtt_download_process(md), STATE_MQTT_DOWNLOAD_FILESIZE_ERROR);
    /* A range starting past the end of a 100-byte file: FILESIZE_ERROR too. */
    task.size_total = 100;
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_TASK_DESC, &task));
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_RANGE_START, &v));
    CHECK_RC(aiot_mqtt_download_process(md), STATE_MQTT_DOWNLOAD_FILESIZE_ERROR);
    uint32_t start = 0;
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_RANGE_START, &start));
    /* Not connected: the first request cannot go out, the download still starts (ING) and
     * would retry on its 10 s timeout. */
    CHECK_RC(aiot_mqtt_download_process(md), STATE_MQTT_DOWNLOAD_ING);
    CHECK_RC(aiot_mqtt_download_process(md), STATE_MQTT_DOWNLOAD_ING);

    /* The MQTT handle goes first: the download forgets it. */
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK_RC(aiot_mqtt_download_process(md), STATE_MQTT_DOWNLOAD_TASK_DEINIT);
    CHECK_OK(aiot_mqtt_download_deinit(&md));
    CHECK(md == NULL, "deinit left the handle");

    /* A handle with a task on a live MQTT handle, freed before it. */
    mqtt = aiot_mqtt_init();
    demo_mqtt_set_device(mqtt, env.host, env.port, env.product_key, env.device_name, env.device_secret);
    uint32_t recv_timeout_ms = 200;
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    task.mqtt_handle = mqtt;
    md = aiot_mqtt_download_init();
    CHECK_OK(aiot_mqtt_download_setopt(md, AIOT_MDOPT_TASK_DESC, &task));
    CHECK_OK(aiot_mqtt_download_deinit(&md));
    RECV_FOR(mqtt, 200);
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("mota api errors: all codes as expected");
    return 0;
}
