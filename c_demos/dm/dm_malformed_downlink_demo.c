/*
 * Malformed data-model downlinks, published by the platform (`aiot-platform dm publish`), then
 * a good one: bad JSON, a missing or non-numeric id, a reply without code, invalid UTF-8, deep
 * nesting, an async service call that is not JSON. Each is refused with an LK-0A09 line
 * naming the reason and reaches no callback; huge params (100 KB) arrive whole; the good
 * property set after them arrives with its id. Run under valgrind too (leak_*).
 */
#include "demo_common.h"

#include "aiot_dm_api.h"

static int callbacks;
static uint64_t last_id;
static uint32_t last_params_len;

static void dm_recv(void *dm, const aiot_dm_recv_t *recv, void *userdata)
{
    (void)dm;
    (void)userdata;
    callbacks++;
    if (recv->type == AIOT_DMRECV_PROPERTY_SET) {
        last_id = recv->data.property_set.msg_id;
        last_params_len = recv->data.property_set.params_len;
    }
    demo_log("callback type %u", (unsigned)recv->type);
}

/* Publishes `payload` (text, or hex when `hex` is set) on the device's topic
 * /sys/<pk>/<dn>/<tail> as the platform. */
static void publish(const demo_env_t *env, const char *tail, const char *payload, int hex)
{
    size_t cap = strlen(payload) + 1024;
    char *cmd = malloc(cap);
    int status;
    CHECK(cmd != NULL, "malloc");
    snprintf(cmd, cap, "\"%s\" dm publish --state-dir \"%s\" --topic '/sys/%s/%s/%s' %s '%s' >/dev/null",
             demo_env("AIOT_PLATFORM"), demo_env("AIOT_STATE_DIR"), env->product_key, env->device_name, tail,
             hex ? "--hex" : "--payload", payload);
    status = system(cmd);
    free(cmd);
    CHECK(status == 0, "aiot-platform dm publish on %s failed (status %d)", tail, status);
}

/* Publishes a malformed message and waits for the refusal line with `reason`. */
static void refused(void *mqtt, const demo_env_t *env, const char *tail, const char *payload, int hex,
                    const char *reason)
{
    int before = callbacks;
    demo_log_forget();
    publish(env, tail, payload, hex);
    RECV_UNTIL(mqtt, demo_log_seen(SATAE_DM_LOG_PARSE_RECV_MSG_FAILED, reason), 10000);
    CHECK(callbacks == before, "a malformed message on %s reached the callback", tail);
    demo_log("refused as expected: %s", reason);
}

int main(void)
{
    demo_env_t env;
    void *mqtt;
    void *dm;
    char *big;
    char *deep;
    const size_t big_len = 100000, depth = 10000;

    demo_env_load(&env);
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    dm = aiot_dm_init();
    CHECK(dm != NULL, "aiot_dm_init failed");
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_RECV_HANDLER, (void *)dm_recv));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    demo_log_set_quiet(1);

    refused(mqtt, &env, "thing/service/property/set", "{\"id\":\"1\",\"params\":{\"a\":", 0, "payload is not JSON");
    refused(mqtt, &env, "thing/service/property/set", "{\"params\":{\"id\":\"7\"}}", 0, "no \"id\"");
    refused(mqtt, &env, "thing/service/property/set", "{\"id\":\"abc\",\"params\":{}}", 0,
            "\"id\" is not a decimal number");
    refused(mqtt, &env, "thing/service/property/set", "{\"id\":\"2\"}", 0, "no \"params\"");
    refused(mqtt, &env, "thing/event/property/post_reply", "{\"id\":\"3\",\"data\":{}}", 0, "no \"code\"");
    refused(mqtt, &env, "thing/service/SomeService", "not json at all", 0, "payload is not JSON");
    /* {"id":"4","params":{"a":"<ff fe>"}} */
    refused(mqtt, &env, "thing/service/property/set",
            "7b226964223a2234222c22706172616d73223a7b2261223a22fffe227d7d", 1, "not UTF-8");

    deep = malloc(depth * 2 + 64);
    CHECK(deep != NULL, "malloc");
    strcpy(deep, "{\"id\":\"5\",\"params\":");
    {
        size_t at = strlen(deep);
        memset(deep + at, '[', depth);
        memset(deep + at + depth, ']', depth);
        strcpy(deep + at + 2 * depth, "}");
    }
    refused(mqtt, &env, "thing/service/property/set", deep, 0, "nested deeper than 127");
    free(deep);

    /* Huge but well-formed params arrive whole. */
    big = malloc(big_len + 64);
    CHECK(big != NULL, "malloc");
    strcpy(big, "{\"id\":\"6\",\"params\":{\"blob\":\"");
    {
        size_t at = strlen(big);
        memset(big + at, 'x', big_len);
        strcpy(big + at + big_len, "\"}}");
    }
    publish(&env, "thing/service/property/set", big, 0);
    free(big);
    RECV_UNTIL(mqtt, last_id == 6, 10000);
    CHECK(last_params_len == big_len + 11, "huge params arrived with %u bytes", (unsigned)last_params_len);

    /* The good one after all of them. */
    publish(&env, "thing/service/property/set", "{\"id\":\"42\",\"version\":\"1.0\",\"params\":{\"LightSwitch\":1}}", 0);
    RECV_UNTIL(mqtt, last_id == 42, 10000);
    CHECK(callbacks == 2, "%d callbacks, want 2 (huge params and the good one)", callbacks);

    CHECK_OK(aiot_dm_deinit(&dm));
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("malformed downlinks: all refused, the good one arrived");
    return 0;
}
