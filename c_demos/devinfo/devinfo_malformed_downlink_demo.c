/*
 * Malformed device-tag replies, published by the platform (`aiot-platform dm publish`) on
 * update_reply and delete_reply (no SUBSCRIBE) and on the subscribed get_reply, then good ones:
 * not JSON, not an object, invalid UTF-8, each of code/id/data/message missing
 * (AIOT_DEVINFOEVT_INVALID_RESPONSE), a non-numeric or too large id or code
 * (AIOT_DEVINFOEVT_INVALID_RESPONSE_FORMAT); a good reply on a topic with an empty product key
 * or device name (/sys//<dn>/... and /sys/<pk>//..., matched by the /sys/+/+/... handlers, handed
 * to the device by `dm publish --to`: AIOT_DEVINFOEVT_INVALID_DEVINFO, as upstream). Each is
 * logged with its reason and raises its event, never the receive handler; the good replies
 * after them arrive. Run under valgrind too.
 */
#include "demo_common.h"

#include "aiot_devinfo_api.h"

static int callbacks, events;
static uint32_t last_event = 99, last_type = 99, last_id;

static void devinfo_recv(void *handle, const aiot_devinfo_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    callbacks++;
    last_type = packet->type;
    last_id = packet->data.generic_reply.msg_id;
}

static void devinfo_event(void *handle, const aiot_devinfo_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    events++;
    last_event = event->type;
}

static void publish(const demo_env_t *env, const char *leaf, const char *payload, int hex)
{
    char cmd[2048];
    int status;
    snprintf(cmd, sizeof(cmd),
             "\"%s\" dm publish --state-dir \"%s\" --topic '/sys/%s/%s/thing/deviceinfo/%s' %s '%s' >/dev/null",
             demo_env("AIOT_PLATFORM"), demo_env("AIOT_STATE_DIR"), env->product_key, env->device_name, leaf,
             hex ? "--hex" : "--payload", payload);
    status = system(cmd);
    CHECK(status == 0, "aiot-platform dm publish failed (status %d)", status);
}

static void refused(void *mqtt, const demo_env_t *env, const char *leaf, const char *payload, int hex,
                    uint32_t event, const char *reason)
{
    int before_cb = callbacks, before_ev = events;
    demo_log_forget();
    publish(env, leaf, payload, hex);
    RECV_UNTIL(mqtt, events > before_ev, 10000);
    CHECK(last_event == event, "event %u, want %u", (unsigned)last_event, (unsigned)event);
    CHECK(demo_log_seen(STATE_DEVINFO_BASE, reason), "no log line with %s", reason);
    CHECK(callbacks == before_cb, "a malformed reply reached the receive handler");
    demo_log("refused as expected (event %u): %s", (unsigned)event, reason);
}

/* A good reply on `topic`, delivered to this device whatever the topic names. */
static void refused_topic(void *mqtt, const demo_env_t *env, const char *topic)
{
    char cmd[2048];
    int status, before_cb = callbacks, before_ev = events;
    demo_log_forget();
    last_event = 99;
    snprintf(cmd, sizeof(cmd),
             "\"%s\" dm publish --state-dir \"%s\" --to '%s/%s' --topic '%s' "
             "--payload '{\"id\":\"5\",\"code\":200,\"data\":{},\"message\":\"success\"}' >/dev/null",
             demo_env("AIOT_PLATFORM"), demo_env("AIOT_STATE_DIR"), env->product_key, env->device_name, topic);
    status = system(cmd);
    CHECK(status == 0, "aiot-platform dm publish --to failed (status %d)", status);
    RECV_UNTIL(mqtt, events > before_ev, 10000);
    CHECK(last_event == AIOT_DEVINFOEVT_INVALID_DEVINFO, "event %u, want AIOT_DEVINFOEVT_INVALID_DEVINFO (%u)",
          (unsigned)last_event, (unsigned)AIOT_DEVINFOEVT_INVALID_DEVINFO);
    CHECK(events == before_ev + 1, "%d events for one reply", events - before_ev);
    CHECK(demo_log_seen(STATE_DEVINFO_BASE, "topic names no product key and device name"),
          "no log line with the reason");
    CHECK(callbacks == before_cb, "a reply without product key or device name reached the receive handler");
    demo_log("refused as expected (AIOT_DEVINFOEVT_INVALID_DEVINFO): %s", topic);
}

int main(void)
{
    demo_env_t env;
    void *mqtt, *devinfo;

    demo_env_load(&env);
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    CHECK_OK(aiot_mqtt_connect(mqtt));
    devinfo = aiot_devinfo_init();
    CHECK(devinfo != NULL, "aiot_devinfo_init failed");
    CHECK_POS(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_RECV_HANDLER, (void *)devinfo_recv));
    CHECK_OK(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_EVENT_HANDLER, (void *)devinfo_event));
    RECV_FOR(mqtt, 300); /* the SUBACK */
    demo_log_set_quiet(1);

    refused(mqtt, &env, "update_reply", "{\"id\":\"1\",", 0, AIOT_DEVINFOEVT_INVALID_RESPONSE,
            "payload is not a JSON object");
    refused(mqtt, &env, "delete_reply", "[1]", 0, AIOT_DEVINFOEVT_INVALID_RESPONSE, "payload is not a JSON object");
    /* {"id":"1","x":"<ff fe>"} */
    refused(mqtt, &env, "update_reply", "7b226964223a2231222c2278223a22fffe227d", 1, AIOT_DEVINFOEVT_INVALID_RESPONSE,
            "not UTF-8");
    refused(mqtt, &env, "update_reply", "{\"id\":\"1\",\"data\":{},\"message\":\"success\"}", 0,
            AIOT_DEVINFOEVT_INVALID_RESPONSE, "no \"code\"");
    refused(mqtt, &env, "update_reply", "{\"code\":200,\"data\":{},\"message\":\"success\"}", 0,
            AIOT_DEVINFOEVT_INVALID_RESPONSE, "no \"id\"");
    refused(mqtt, &env, "delete_reply", "{\"id\":\"1\",\"code\":200,\"message\":\"success\"}", 0,
            AIOT_DEVINFOEVT_INVALID_RESPONSE, "no \"data\"");
    /* upstream needs `message`, so do we */
    refused(mqtt, &env, "get_reply", "{\"id\":\"1\",\"code\":200,\"data\":[]}", 0, AIOT_DEVINFOEVT_INVALID_RESPONSE,
            "no \"message\"");
    refused(mqtt, &env, "update_reply", "{\"id\":\"one\",\"code\":200,\"data\":{},\"message\":\"\"}", 0,
            AIOT_DEVINFOEVT_INVALID_RESPONSE_FORMAT, "\"id\" is not a decimal number");
    refused(mqtt, &env, "get_reply", "{\"id\":\"4294967296\",\"code\":200,\"data\":{},\"message\":\"\"}", 0,
            AIOT_DEVINFOEVT_INVALID_RESPONSE_FORMAT, "\"id\" is not a decimal number");
    refused(mqtt, &env, "delete_reply", "{\"id\":\"1\",\"code\":-200,\"data\":{},\"message\":\"\"}", 0,
            AIOT_DEVINFOEVT_INVALID_RESPONSE_FORMAT, "\"code\" is not a decimal number");

    {
        char topic[256];
        snprintf(topic, sizeof(topic), "/sys//%s/thing/deviceinfo/update_reply", env.device_name);
        refused_topic(mqtt, &env, topic);
        snprintf(topic, sizeof(topic), "/sys/%s//thing/deviceinfo/delete_reply", env.product_key);
        refused_topic(mqtt, &env, topic);
    }

    /* The good ones after all of them: a generic reply (no SUBSCRIBE) and a get reply. */
    publish(&env, "delete_reply", "{\"id\":\"77\",\"code\":200,\"data\":{},\"message\":\"success\"}", 0);
    RECV_UNTIL(mqtt, last_id == 77, 10000);
    CHECK(last_type == AIOT_DEVINFORECV_GENERIC_REPLY, "type %u", (unsigned)last_type);
    publish(&env, "get_reply", "{\"id\":78,\"code\":\"200\",\"data\":[],\"message\":\"success\"}", 0);
    RECV_UNTIL(mqtt, last_id == 78, 10000);
    CHECK(last_type == AIOT_DEVINFORECV_GET_REPLY, "type %u", (unsigned)last_type);
    CHECK(callbacks == 2, "%d callbacks, want 2", callbacks);

    CHECK_OK(aiot_devinfo_deinit(&devinfo));
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("malformed devinfo replies: all refused with their events, the good ones arrived");
    return 0;
}
