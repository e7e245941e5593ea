/*
 * Data-model API misuse: NULL handles and data, options and message types out of range,
 * missing ids / params / data, no MQTT handle, no product key or device name, a topic too
 * long, and sends after the MQTT handle was freed. Each returns upstream's code, never
 * crashes, and a refused request takes no alink id.
 */
#include "demo_common.h"

#include "aiot_dm_api.h"

static aiot_dm_msg_t message(aiot_dm_msg_type_t type)
{
    aiot_dm_msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = type;
    return msg;
}

int main(void)
{
    demo_env_t env;
    void *dm;
    void *mqtt;
    void *null_handle = NULL;
    uint8_t one = 1;
    aiot_dm_msg_t msg;
    char long_id[200];

    demo_env_load(&env);
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    aiot_state_set_logcb(demo_logcb);

    dm = aiot_dm_init();
    CHECK(dm != NULL, "aiot_dm_init failed");

    /* setopt */
    CHECK_RC(aiot_dm_setopt(NULL, AIOT_DMOPT_POST_REPLY, &one), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dm_setopt(dm, AIOT_DMOPT_POST_REPLY, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dm_setopt(dm, AIOT_DMOPT_MQTT_HANDLE, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dm_setopt(dm, AIOT_DMOPT_MAX, &one), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_dm_setopt(dm, (aiot_dm_option_t)0x7fffffff, &one), STATE_USER_INPUT_OUT_RANGE);
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_POST_REPLY, &one));
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_USERDATA, &one));

    /* send before any MQTT handle */
    msg = message(AIOT_DMMSG_PROPERTY_POST);
    msg.data.property_post.params = "{}";
    CHECK_RC(aiot_dm_send(NULL, &msg), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dm_send(dm, NULL), STATE_USER_INPUT_NULL_POINTER);
    msg.type = AIOT_DMMSG_MAX;
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_USER_INPUT_OUT_RANGE);
    msg.type = AIOT_DMMSG_PROPERTY_POST;
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_MQTT_HANDLE_IS_NULL);

    /* an MQTT handle without product key / device name */
    mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "aiot_mqtt_init failed");
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_MQTT_HANDLE, mqtt));
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_USER_INPUT_MISSING_PRODUCT_KEY);
    msg.product_key = "pk";
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_USER_INPUT_MISSING_DEVICE_NAME);
    msg.device_name = "dn";
    /* Both given, not connected: the publish's own code, not a data-model one. */
    {
        int32_t rc = aiot_dm_send(dm, &msg);
        CHECK(rc < 0 && rc > STATE_DM_BASE, "send while not connected: %d", (int)rc);
    }

    /* the device's own product key and device name */
    demo_mqtt_set_device(mqtt, env.host, env.port, env.product_key, env.device_name, env.device_secret);

    msg = message(AIOT_DMMSG_EVENT_POST);
    msg.data.event_post.params = "{}";
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_EVENT_ID_IS_NULL);
    msg.data.event_post.event_id = "Error";
    msg.data.event_post.params = NULL;
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_MSG_PARAMS_IS_NULL);
    memset(long_id, 'e', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    msg.data.event_post.event_id = long_id;
    msg.data.event_post.params = "{}";
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_MQTT_TOPIC_TOO_LONG);

    {
        static const aiot_dm_msg_type_t requests[] = {AIOT_DMMSG_PROPERTY_POST, AIOT_DMMSG_GET_DESIRED,
                                                      AIOT_DMMSG_DELETE_DESIRED, AIOT_DMMSG_PROPERTY_BATCH_POST};
        size_t i;
        for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
            msg = message(requests[i]);
            CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_MSG_PARAMS_IS_NULL);
        }
    }

    msg = message(AIOT_DMMSG_PROPERTY_SET_REPLY);
    msg.data.property_set_reply.msg_id = 1;
    msg.data.property_set_reply.code = 200;
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_MSG_DATA_IS_NULL);

    msg = message(AIOT_DMMSG_ASYNC_SERVICE_REPLY);
    msg.data.async_service_reply.data = "{}";
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_SERVICE_ID_IS_NULL);
    msg.data.async_service_reply.service_id = "Svc";
    msg.data.async_service_reply.data = NULL;
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_MSG_DATA_IS_NULL);

    msg = message(AIOT_DMMSG_SYNC_SERVICE_REPLY);
    msg.data.sync_service_reply.data = "{}";
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_RRPC_ID_IS_NULL);
    msg.data.sync_service_reply.rrpc_id = "1";
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_SERVICE_ID_IS_NULL);
    msg.data.sync_service_reply.service_id = "Svc";
    msg.data.sync_service_reply.data = NULL;
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_MSG_DATA_IS_NULL);

    msg = message(AIOT_DMMSG_RAW_SERVICE_REPLY);
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_RRPC_ID_IS_NULL);
    msg = message(AIOT_DMMSG_RAW_DATA);
    msg.data.raw_data.data_len = 3;
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_USER_INPUT_NULL_POINTER);

    /* connected, then the MQTT handle freed under the data-model handle */
    CHECK_OK(aiot_mqtt_connect(mqtt));
    msg = message(AIOT_DMMSG_PROPERTY_POST);
    msg.data.property_post.params = "{\"LightSwitch\":0}";
    {
        int32_t a = CHECK_POS(aiot_dm_send(dm, &msg));
        int32_t b = CHECK_POS(aiot_dm_send(dm, &msg));
        CHECK(b == a + 1, "alink ids %d then %d", (int)a, (int)b);
    }
    msg = message(AIOT_DMMSG_RAW_DATA);
    msg.data.raw_data.data = (uint8_t *)"";
    CHECK_OK(aiot_dm_send(dm, &msg));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    msg = message(AIOT_DMMSG_PROPERTY_POST);
    msg.data.property_post.params = "{}";
    CHECK_RC(aiot_dm_send(dm, &msg), STATE_DM_MQTT_HANDLE_IS_NULL);

    /* deinit */
    CHECK_RC(aiot_dm_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dm_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);
    CHECK_OK(aiot_dm_deinit(&dm));
    CHECK(dm == NULL, "deinit did not clear the handle");
    demo_log("data-model API errors: all checks passed");
    return 0;
}
