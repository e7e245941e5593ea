/*
 * API misuse of aiot_shadow_*: upstream's codes for NULL handles and data, options and types
 * out of range, a missing MQTT handle, a missing product key / device name, a NULL `reported`,
 * an MQTT handle freed under the shadow handle. Run under valgrind too (leak_*).
 */
#include "demo_common.h"

#include "aiot_shadow_api.h"

static void recv_ignored(void *handle, const aiot_shadow_recv_t *recv, void *userdata)
{
    (void)handle;
    (void)recv;
    (void)userdata;
}

int main(void)
{
    demo_env_t env;
    void *mqtt, *bare, *shadow, *null_handle = NULL;
    aiot_shadow_msg_t m;
    int dummy = 0;

    demo_env_load(&env);
    /* No portfile yet: no handle. */
    CHECK(aiot_shadow_init() == NULL, "aiot_shadow_init without a portfile returned a handle");
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    shadow = aiot_shadow_init();
    CHECK(shadow != NULL, "aiot_shadow_init failed");

    CHECK_RC(aiot_shadow_setopt(NULL, AIOT_SHADOWOPT_USERDATA, &dummy), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_shadow_setopt(shadow, AIOT_SHADOWOPT_USERDATA, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_shadow_setopt(shadow, AIOT_SHADOWOPT_MAX, &dummy), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_shadow_setopt(shadow, (aiot_shadow_option_t)99, &dummy), STATE_USER_INPUT_OUT_RANGE);
    CHECK_OK(aiot_shadow_setopt(shadow, AIOT_SHADOWOPT_RECV_HANDLER, (void *)recv_ignored));

    memset(&m, 0, sizeof(m));
    m.type = AIOT_SHADOWMSG_GET;
    CHECK_RC(aiot_shadow_send(NULL, &m), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_shadow_send(shadow, NULL), STATE_USER_INPUT_NULL_POINTER);
    m.type = AIOT_SHADOWMSG_MAX;
    CHECK_RC(aiot_shadow_send(shadow, &m), STATE_USER_INPUT_OUT_RANGE);
    m.type = AIOT_SHADOWMSG_GET;
    CHECK_RC(aiot_shadow_send(shadow, &m), STATE_SHADOW_MQTT_HANDLE_IS_NULL);

    /* An MQTT handle without product key, then without device name. */
    bare = aiot_mqtt_init();
    CHECK(bare != NULL, "aiot_mqtt_init failed");
    CHECK_OK(aiot_shadow_setopt(shadow, AIOT_SHADOWOPT_MQTT_HANDLE, bare));
    CHECK_RC(aiot_shadow_send(shadow, &m), STATE_USER_INPUT_MISSING_PRODUCT_KEY);
    CHECK_OK(aiot_mqtt_setopt(bare, AIOT_MQTTOPT_PRODUCT_KEY, (void *)env.product_key));
    CHECK_RC(aiot_shadow_send(shadow, &m), STATE_USER_INPUT_MISSING_DEVICE_NAME);
    /* The message's own device is enough; not connected: the MQTT core's code. */
    m.device_name = (char *)env.device_name;
    CHECK_NEG(aiot_shadow_send(shadow, &m));
    m.device_name = NULL;
    /* The MQTT handle goes away: the shadow handle forgets it. */
    CHECK_OK(aiot_mqtt_deinit(&bare));
    CHECK_RC(aiot_shadow_send(shadow, &m), STATE_SHADOW_MQTT_HANDLE_IS_NULL);

    CHECK_OK(aiot_shadow_setopt(shadow, AIOT_SHADOWOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    m.type = AIOT_SHADOWMSG_UPDATE;
    m.data.update.reported = NULL;
    CHECK_RC(aiot_shadow_send(shadow, &m), STATE_SHADOW_REPORTED_DATA_IS_NULL);
    m.type = AIOT_SHADOWMSG_DELETE_REPORTED;
    m.data.delete_reporte.reported = NULL;
    CHECK_RC(aiot_shadow_send(shadow, &m), STATE_SHADOW_REPORTED_DATA_IS_NULL);
    m.type = AIOT_SHADOWMSG_GET;
    CHECK_OK(aiot_shadow_send(shadow, &m));

    CHECK_RC(aiot_shadow_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_shadow_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);
    CHECK_OK(aiot_shadow_deinit(&shadow));
    CHECK(shadow == NULL, "aiot_shadow_deinit left the handle");
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("shadow API misuse: upstream's codes");
    return 0;
}
