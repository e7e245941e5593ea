/*
 * Malformed shadow downlinks, published by the platform on /shadow/get/<pk>/<dn>
 * (`aiot-platform dm publish`), then a good one: not JSON, invalid UTF-8, a missing method,
 * timestamp or payload, an unknown method, a control or get reply without version, a reply
 * without status or with a long one, a negative timestamp. Each is refused with an LK-1305
 * line naming the reason and reaches no callback; the good control push after them arrives.
 * Run under valgrind too (leak_*).
 */
#include "demo_common.h"

#include "aiot_shadow_api.h"

static int callbacks;
static uint64_t last_version;

static void shadow_recv(void *handle, const aiot_shadow_recv_t *recv, void *userdata)
{
    (void)handle;
    (void)userdata;
    callbacks++;
    if (recv->type == AIOT_SHADOWRECV_CONTROL) {
        last_version = recv->data.control.version;
    }
    demo_log("callback type %u", (unsigned)recv->type);
}

static void publish(const demo_env_t *env, const char *payload, int hex)
{
    size_t cap = strlen(payload) + 1024;
    char *cmd = malloc(cap);
    int status;
    CHECK(cmd != NULL, "malloc");
    snprintf(cmd, cap, "\"%s\" dm publish --state-dir \"%s\" --topic '/shadow/get/%s/%s' %s '%s' >/dev/null",
             demo_env("AIOT_PLATFORM"), demo_env("AIOT_STATE_DIR"), env->product_key, env->device_name,
             hex ? "--hex" : "--payload", payload);
    status = system(cmd);
    free(cmd);
    CHECK(status == 0, "aiot-platform dm publish failed (status %d)", status);
}

static void refused(void *mqtt, const demo_env_t *env, const char *payload, int hex, const char *reason)
{
    int before = callbacks;
    demo_log_forget();
    publish(env, payload, hex);
    RECV_UNTIL(mqtt, demo_log_seen(SATAE_SHADOW_LOG_PARSE_RECV_MSG_FAILED, reason), 10000);
    CHECK(callbacks == before, "a malformed message reached the callback");
    demo_log("refused as expected: %s", reason);
}

int main(void)
{
    demo_env_t env;
    void *mqtt, *shadow;

    demo_env_load(&env);
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    shadow = aiot_shadow_init();
    CHECK(shadow != NULL, "aiot_shadow_init failed");
    CHECK_OK(aiot_shadow_setopt(shadow, AIOT_SHADOWOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_shadow_setopt(shadow, AIOT_SHADOWOPT_RECV_HANDLER, (void *)shadow_recv));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    demo_log_set_quiet(1);

    refused(mqtt, &env, "{\"method\":\"control\",", 0, "payload is not a JSON object");
    refused(mqtt, &env, "[1,2]", 0, "payload is not a JSON object");
    /* {"method":"reply","x":"<ff fe>"} */
    refused(mqtt, &env, "7b226d6574686f64223a227265706c79222c2278223a22fffe227d", 1, "not UTF-8");
    refused(mqtt, &env, "{\"timestamp\":1,\"payload\":{}}", 0, "no \"method\"");
    refused(mqtt, &env, "{\"method\":\"reply\",\"payload\":{\"status\":\"success\"}}", 0, "no \"timestamp\"");
    refused(mqtt, &env, "{\"method\":\"reply\",\"timestamp\":1}", 0, "no \"payload\"");
    refused(mqtt, &env, "{\"method\":\"reply\",\"timestamp\":-5,\"payload\":{\"status\":\"success\"}}", 0,
            "\"timestamp\" is not a decimal number");
    refused(mqtt, &env, "{\"method\":\"push\",\"timestamp\":1,\"payload\":{}}", 0, "unknown \"method\"");
    refused(mqtt, &env, "{\"method\":\"control\",\"timestamp\":1,\"payload\":{\"state\":{}}}", 0,
            "control without \"version\"");
    refused(mqtt, &env, "{\"method\":\"reply\",\"timestamp\":1,\"payload\":{\"state\":{}}}", 0,
            "get reply without \"version\"");
    refused(mqtt, &env, "{\"method\":\"reply\",\"timestamp\":1,\"payload\":{}}", 0, "reply without \"status\"");
    refused(mqtt, &env, "{\"method\":\"reply\",\"timestamp\":1,\"payload\":{\"status\":\"successfully\"}}", 0,
            "\"status\" is 12 bytes long");

    /* The good one after all of them. */
    publish(&env,
            "{\"method\":\"control\",\"timestamp\":1,\"version\":42,\"payload\":{\"status\":\"success\","
            "\"state\":{\"desired\":{\"a\":1}}}}",
            0);
    RECV_UNTIL(mqtt, last_version == 42, 10000);
    CHECK(callbacks == 1, "%d callbacks, want 1 (the good one)", callbacks);

    CHECK_OK(aiot_shadow_deinit(&shadow));
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("malformed shadow downlinks: all refused, the good one arrived");
    return 0;
}
