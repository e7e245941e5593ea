/*
 * API misuse of aiot_devinfo_*: upstream's codes for NULL handles and data, options out of
 * range, a missing MQTT handle, the message's product key / device name (no fallback to the
 * MQTT handle's), NULL params, an unknown type, MQTT_HANDLE while not connected (the SUBSCRIBE
 * fails: STATE_SYS_DEPEND_NWK_CLOSED) and while connected (its packet id), a freed MQTT handle.
 * Run under valgrind too (leak_*).
 */
#include "demo_common.h"

#include "aiot_devinfo_api.h"

int main(void)
{
    demo_env_t env;
    void *mqtt, *devinfo, *null_handle = NULL, *other;
    aiot_devinfo_msg_t m;
    uint32_t timeout_ms = 500;
    int dummy = 0;

    demo_env_load(&env);
    CHECK(aiot_devinfo_init() == NULL, "aiot_devinfo_init without a portfile returned a handle");
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    devinfo = aiot_devinfo_init();
    CHECK(devinfo != NULL, "aiot_devinfo_init failed");

    CHECK_RC(aiot_devinfo_setopt(NULL, AIOT_DEVINFOOPT_USERDATA, &dummy), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_USERDATA, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_MAX, &dummy), STATE_USER_INPUT_OUT_RANGE);
    CHECK_OK(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_DEINIT_TIMEOUT_MS, &timeout_ms));

    memset(&m, 0, sizeof(m));
    m.type = AIOT_DEVINFO_MSG_GET;
    m.data.get.params = "{\"attrKeys\":[]}";
    CHECK_RC(aiot_devinfo_send(NULL, &m), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_devinfo_send(devinfo, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_devinfo_send(devinfo, &m), STATE_DEVINFO_MISSING_MQTT_HANDLE);

    /* Not connected: the handlers are in place, the SUBSCRIBE fails. */
    CHECK_RC(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_MQTT_HANDLE, mqtt), STATE_SYS_DEPEND_NWK_CLOSED);
    CHECK_RC(aiot_devinfo_send(devinfo, &m), STATE_USER_INPUT_MISSING_PRODUCT_KEY);
    m.product_key = (char *)env.product_key;
    CHECK_RC(aiot_devinfo_send(devinfo, &m), STATE_USER_INPUT_MISSING_DEVICE_NAME);
    m.device_name = (char *)env.device_name;
    m.type = 3;
    CHECK_RC(aiot_devinfo_send(devinfo, &m), STATE_USER_INPUT_UNKNOWN_OPTION);
    m.type = AIOT_DEVINFO_MSG_UPDATE;
    m.data.update.params = NULL;
    CHECK_RC(aiot_devinfo_send(devinfo, &m), STATE_USER_INPUT_NULL_POINTER);
    m.type = AIOT_DEVINFO_MSG_DELETE;
    CHECK_RC(aiot_devinfo_send(devinfo, &m), STATE_USER_INPUT_NULL_POINTER);
    m.data.delete.params = "[{\"attrKey\":\"k\"}]";
    CHECK_NEG(aiot_devinfo_send(devinfo, &m)); /* not connected */

    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK_POS(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_MQTT_HANDLE, mqtt));
    CHECK_POS(aiot_devinfo_send(devinfo, &m));

    /* Another handle on a second MQTT handle that goes away: it forgets it. */
    other = aiot_devinfo_init();
    CHECK(other != NULL, "aiot_devinfo_init failed");
    {
        void *bare = aiot_mqtt_init();
        CHECK(bare != NULL, "aiot_mqtt_init failed");
        CHECK_RC(aiot_devinfo_setopt(other, AIOT_DEVINFOOPT_MQTT_HANDLE, bare), STATE_SYS_DEPEND_NWK_CLOSED);
        CHECK_OK(aiot_mqtt_deinit(&bare));
    }
    CHECK_RC(aiot_devinfo_send(other, &m), STATE_DEVINFO_MISSING_MQTT_HANDLE);
    CHECK_OK(aiot_devinfo_deinit(&other));

    CHECK_RC(aiot_devinfo_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_devinfo_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);
    CHECK_OK(aiot_devinfo_deinit(&devinfo));
    CHECK(devinfo == NULL, "aiot_devinfo_deinit left the handle");
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("devinfo API misuse: upstream's codes");
    return 0;
}
