/*
 * Malformed job downlinks, published by the platform (`aiot-platform dm publish`), then good
 * ones: notifies that are not JSON, lack an id, lack params.task, a taskId or a status, carry a
 * NUL in a string, a jobFile that is not an object, deep nesting or invalid UTF-8; get_replies
 * without code or data, with a negative or 33-bit code, a tasks value that is not a list, an
 * entry without status, a data with nothing known; update_replies without data.taskId. Each is
 * refused with a line naming the reason (LK-0B04 for notifies, LK-0B06 for replies) and
 * reaches no callback; a notify with an id but a broken task is still answered (the
 * notify_reply goes out first, as upstream). A list of 12 is cut to 10 (LK-0B08). The good
 * notify and replies after them arrive. Run under valgrind too (leak_*).
 */
#include "demo_common.h"

#include "aiot_task_api.h"

static int callbacks;
static aiot_task_recv_type_t last_type;
static char last_id[64];
static uint32_t last_number;

static void task_recv(void *handle, const aiot_task_recv_t *recv, void *userdata)
{
    (void)handle;
    (void)userdata;
    callbacks++;
    last_type = recv->type;
    switch (recv->type) {
    case AIOT_TASKRECV_NOTIFY:
        snprintf(last_id, sizeof(last_id), "%s", recv->data.notify.task_id);
        break;
    case AIOT_TASKRECV_GET_DETAIL_REPLY:
        snprintf(last_id, sizeof(last_id), "%s", recv->data.get_detail_reply.task.task_id);
        break;
    case AIOT_TASKRECV_GET_LIST_REPLY:
        last_number = recv->data.get_list_reply.number;
        snprintf(last_id, sizeof(last_id), "%s",
                 last_number ? recv->data.get_list_reply.tasks[last_number - 1].task_id : "");
        break;
    case AIOT_TASKRECV_UPDATE_REPLY:
        snprintf(last_id, sizeof(last_id), "%s", recv->data.update_reply.task_id);
        break;
    }
    demo_log("callback type %u id %s", (unsigned)recv->type, last_id);
}

/* Publishes `payload` (text, or hex when `hex` is set) on /sys/<pk>/<dn>/thing/job/<leaf>. */
static void publish(const demo_env_t *env, const char *leaf, const char *payload, int hex)
{
    size_t cap = strlen(payload) + 1024;
    char *cmd = malloc(cap);
    int status;
    CHECK(cmd != NULL, "malloc");
    snprintf(cmd, cap,
             "\"%s\" dm publish --state-dir \"%s\" --topic '/sys/%s/%s/thing/job/%s' %s '%s' >/dev/null",
             demo_env("AIOT_PLATFORM"), demo_env("AIOT_STATE_DIR"), env->product_key, env->device_name, leaf,
             hex ? "--hex" : "--payload", payload);
    status = system(cmd);
    free(cmd);
    CHECK(status == 0, "aiot-platform dm publish on %s failed (status %d)", leaf, status);
}

/* Publishes a malformed message and waits for the refusal line with `reason`. */
static void refused(void *mqtt, const demo_env_t *env, const char *leaf, const char *payload, int hex,
                    const char *reason)
{
    int before = callbacks;
    int32_t code = strcmp(leaf, "notify") == 0 ? STATE_TASK_PARSE_NOTIFY_FAILED : STATE_TASK_PARSE_JSON_ERROR;
    demo_log_forget();
    publish(env, leaf, payload, hex);
    RECV_UNTIL(mqtt, demo_log_seen(code, reason), 10000);
    CHECK(callbacks == before, "a malformed message on %s reached the callback", leaf);
    demo_log("refused as expected: %s", reason);
}

/* Publishes a good message and waits for its callback. */
static void arrives(void *mqtt, const demo_env_t *env, const char *leaf, const char *payload,
                    aiot_task_recv_type_t type, const char *id)
{
    int before = callbacks;
    publish(env, leaf, payload, 0);
    RECV_UNTIL(mqtt, callbacks == before + 1, 10000);
    CHECK(last_type == type && strcmp(last_id, id) == 0, "got type %u id %s, want %u %s", (unsigned)last_type,
          last_id, (unsigned)type, id);
}

/* Whether the platform recorded a notify_reply of this device with this payload (thing.log,
 * through `aiot-platform dm show`; the payload appears JSON-escaped there). */
static int platform_saw(const char *escaped)
{
    static char out[65536];
    char cmd[1024];
    size_t n = 0;
    FILE *p;
    snprintf(cmd, sizeof(cmd), "\"%s\" dm show --state-dir \"%s\"", demo_env("AIOT_PLATFORM"),
             demo_env("AIOT_STATE_DIR"));
    p = popen(cmd, "r");
    CHECK(p != NULL, "popen %s", cmd);
    while (n < sizeof(out) - 1) {
        size_t got = fread(out + n, 1, sizeof(out) - 1 - n, p);
        if (got == 0) {
            break;
        }
        n += got;
    }
    out[n] = '\0';
    CHECK(pclose(p) == 0, "aiot-platform dm show failed");
    return strstr(out, escaped) != NULL;
}

int main(void)
{
    demo_env_t env;
    void *mqtt;
    void *task;
    char *deep;
    char big[2048];
    const size_t depth = 10000;
    int i;

    demo_watchdog(200, "task_malformed_downlink_demo", 1);
    demo_env_load(&env);
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    task = aiot_task_init();
    CHECK(task != NULL, "aiot_task_init failed");
    CHECK_OK(aiot_task_setopt(task, AIOT_TASKOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_task_setopt(task, AIOT_TASKOPT_RECV_HANDLER, (void *)task_recv));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    demo_log_set_quiet(1);

    /* notify */
    refused(mqtt, &env, "notify", "{\"id\":\"1\",\"params\":{\"task\":", 0, "payload is not a JSON object");
    refused(mqtt, &env, "notify", "[1,2]", 0, "payload is not a JSON object");
    refused(mqtt, &env, "notify", "{\"params\":{\"task\":{\"taskId\":\"a\",\"status\":\"SENT\"}}}", 0, "no \"id\"");
    refused(mqtt, &env, "notify", "{\"id\":true,\"params\":{}}", 0, "\"id\" is neither");
    refused(mqtt, &env, "notify", "{\"id\":\"2\",\"params\":{}}", 0, "no \"params.task\"");
    refused(mqtt, &env, "notify", "{\"id\":\"3\",\"params\":{\"task\":{\"status\":\"SENT\"}}}", 0, "no \"taskId\"");
    refused(mqtt, &env, "notify", "{\"id\":\"4\",\"params\":{\"task\":{\"taskId\":\"a\"}}}", 0, "no \"status\"");
    refused(mqtt, &env, "notify", "{\"id\":\"5\",\"params\":{\"task\":{\"taskId\":\"a\\u0000b\",\"status\":\"SENT\"}}}",
            0, "NUL character");
    refused(mqtt, &env, "notify",
            "{\"id\":\"6\",\"params\":{\"task\":{\"taskId\":\"a\",\"status\":\"SENT\",\"jobFile\":\"x\"}}}", 0,
            "\"jobFile\" is not a JSON object");
    /* {"id":"7","params":{"task":{"taskId":"<ff fe>","status":"SENT"}}} */
    refused(mqtt, &env, "notify",
            "7b226964223a2237222c22706172616d73223a7b227461736b223a7b227461736b4964223a22fffe222c22737461747573223a2253454e54227d7d7d",
            1, "payload is not a JSON object");
    deep = malloc(depth * 2 + 64);
    CHECK(deep != NULL, "malloc");
    strcpy(deep, "{\"id\":\"8\",\"params\":");
    {
        size_t at = strlen(deep);
        memset(deep + at, '[', depth);
        memset(deep + at + depth, ']', depth);
        strcpy(deep + at + 2 * depth, "}");
    }
    refused(mqtt, &env, "notify", deep, 0, "not a JSON object");
    free(deep);

    /* A notify with an id is answered before its task is read (as upstream); one without a
     * readable id is not. */
    WAIT_UNTIL(platform_saw("thing/job/notify_reply\",\"payload\":\"{\\\"id\\\":\\\"3\\\",\\\"code\\\":200,\\\"data\\\":{}}\""), 5000);
    CHECK(!platform_saw("{\\\"id\\\":\\\"1\\\",\\\"code\\\":200"), "a notify that is not JSON was answered");

    /* get_reply */
    refused(mqtt, &env, "get_reply", "{\"id\":\"1\",\"data\":{\"taskId\":\"$next\"}}", 0, "no \"code\"");
    refused(mqtt, &env, "get_reply", "{\"id\":\"1\",\"code\":-1,\"data\":{}}", 0, "\"code\" is not");
    refused(mqtt, &env, "get_reply", "{\"id\":\"1\",\"code\":4294967296,\"data\":{}}", 0, "\"code\" is not");
    refused(mqtt, &env, "get_reply", "{\"id\":\"1\",\"code\":200}", 0, "no \"data\"");
    refused(mqtt, &env, "get_reply", "{\"id\":\"1\",\"code\":200,\"data\":{}}", 0, "none of");
    refused(mqtt, &env, "get_reply", "{\"id\":\"1\",\"code\":200,\"data\":{\"tasks\":{}}}", 0, "not a list");
    refused(mqtt, &env, "get_reply", "{\"id\":\"1\",\"code\":200,\"data\":{\"tasks\":[{\"taskId\":\"a\"}]}}", 0,
            "no \"status\"");
    refused(mqtt, &env, "get_reply", "{\"id\":\"1\",\"code\":200,\"data\":{\"task\":{\"taskId\":\"a\"}}}", 0,
            "no \"status\"");
    /* update_reply */
    refused(mqtt, &env, "update_reply", "{\"id\":\"1\",\"code\":200,\"data\":{}}", 0, "no \"taskId\"");
    refused(mqtt, &env, "update_reply", "not json", 0, "payload is not a JSON object");

    /* A list of 12: the first 10 arrive, the cut is logged. */
    demo_log_forget();
    strcpy(big, "{\"id\":\"1\",\"code\":200,\"data\":{\"taskId\":\"$list\",\"tasks\":[");
    for (i = 0; i < 12; i++) {
        snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s{\"taskId\":\"t%d\",\"status\":\"QUEUED\"}",
                 i ? "," : "", i);
    }
    strcat(big, "]}}");
    arrives(mqtt, &env, "get_reply", big, AIOT_TASKRECV_GET_LIST_REPLY, "t9");
    CHECK(last_number == 10, "list of %u", (unsigned)last_number);
    CHECK(demo_log_seen(STATE_TASK_RECV_GET_LIST_REPLY, "2 left out"), "the cut list was not logged");

    /* The good ones after all of them. */
    arrives(mqtt, &env, "notify",
            "{\"id\":\"42\",\"version\":\"1.0\",\"params\":{\"task\":{\"taskId\":\"good\",\"status\":\"QUEUED\"}}}",
            AIOT_TASKRECV_NOTIFY, "good");
    arrives(mqtt, &env, "get_reply", "{\"id\":\"1\",\"code\":200,\"data\":{\"taskId\":\"x1\"}}",
            AIOT_TASKRECV_GET_DETAIL_REPLY, "x1");
    arrives(mqtt, &env, "update_reply", "{\"id\":\"1\",\"code\":200,\"data\":{\"taskId\":\"x2\"}}",
            AIOT_TASKRECV_UPDATE_REPLY, "x2");
    CHECK(callbacks == 4, "%d callbacks, want 4", callbacks);

    CHECK_OK(aiot_task_deinit(&task));
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("malformed job downlinks: all refused, the good ones arrived");
    return 0;
}
