/*
 * Diag API misuse against upstream's codes: init without a portfile gives NULL; NULL handle or
 * data -0x0101; options at or beyond AIOT_DIAGOPT_MAX -0x0102; start/stop of NULL -0x0101;
 * deinit of NULL or of a NULL handle -0x0101; every option accepted once; start, stop and
 * deinit succeed without an MQTT handle; two handles (the newer one owns the timing tap) are
 * freed in either order.
 */
#include "demo_common.h"

#include "aiot_diag_api.h"

static void handler(void *handle, const aiot_diag_event_t *event, void *userdata)
{
    (void)handle;
    (void)event;
    (void)userdata;
}

static void recv_handler(void *handle, const aiot_diag_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)packet;
    (void)userdata;
}

int main(void)
{
    demo_env_t env;
    void *mqtt, *d, *d2, *null_handle = NULL;
    uint8_t on = 1;
    aiot_diag_config_t cfg = {1, 1000, 10, 20};

    CHECK(aiot_diag_init() == NULL, "init without a portfile must fail");
    demo_env_load(&env);
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    d = aiot_diag_init();
    CHECK(d != NULL, "aiot_diag_init");
    CHECK_RC(aiot_diag_setopt(NULL, AIOT_DIAGOPT_LOCAL_REPORT_ENABLED, &on), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_diag_setopt(d, AIOT_DIAGOPT_LOCAL_REPORT_ENABLED, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_diag_setopt(d, AIOT_DIAGOPT_MAX, &on), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_diag_setopt(d, (aiot_diag_option_t)77, &on), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_diag_start(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_diag_stop(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_diag_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_diag_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);

    CHECK_OK(aiot_diag_start(d));
    CHECK_OK(aiot_diag_stop(d));
    CHECK_OK(aiot_diag_setopt(d, AIOT_DIAGOPT_LOCAL_REPORT_ENABLED, &on));
    CHECK_OK(aiot_diag_setopt(d, AIOT_DIAGOPT_CLOUD_REPORT_ENABLED, &on));
    CHECK_OK(aiot_diag_setopt(d, AIOT_DIAGOPT_MQTT_CONNECTION, &cfg));
    CHECK_OK(aiot_diag_setopt(d, AIOT_DIAGOPT_MQTT_HEARTBEAT, &cfg));
    CHECK_OK(aiot_diag_setopt(d, AIOT_DIAGOPT_ALINK_UPLINK, &cfg));
    CHECK_OK(aiot_diag_setopt(d, AIOT_DIAGOPT_RECV_HANDLER, (void *)recv_handler));
    CHECK_OK(aiot_diag_setopt(d, AIOT_DIAGOPT_EVENT_HANDLER, (void *)handler));
    CHECK_OK(aiot_diag_setopt(d, AIOT_DIAGOPT_USERDATA, &on));
    CHECK_OK(aiot_diag_setopt(d, AIOT_DIAGOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_diag_start(d));

    d2 = aiot_diag_init();
    CHECK(d2 != NULL, "second aiot_diag_init");
    CHECK_OK(aiot_mqtt_connect(mqtt));
    RECV_FOR(mqtt, 300);
    CHECK_OK(aiot_diag_deinit(&d));
    CHECK(d == NULL, "handle not cleared");
    CHECK_OK(aiot_mqtt_process(mqtt));
    CHECK_OK(aiot_diag_deinit(&d2));
    CHECK(d2 == NULL, "second handle not cleared");
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("diag api errors demo passed");
    return 0;
}
