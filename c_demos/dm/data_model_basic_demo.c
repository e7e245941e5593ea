/*
 * Data model against the local platform, in the shape of upstream's data_model_basic_demo.c:
 * MQTT handle, aiot_dm_init + MQTT_HANDLE / RECV_HANDLER / POST_REPLY, connect, subscribe to
 * batch/post_reply (the demo's one SUBSCRIBE), one thread looping aiot_mqtt_process and one
 * looping aiot_mqtt_recv, the main thread sending.
 *
 * Asserts, every message type out and every receive type in:
 *   - property post, event post, batch post, desired get and desired delete each return an
 *     alink id > 0 and get a GENERIC_REPLY with that id, code 200 and "success";
 *   - with POST_REPLY 0 a property post gets no reply;
 *   - raw data up gets a RAW_DATA_REPLY with the same bytes;
 *   - `aiot-platform dm set` / `call` / `rrpc` / `raw` / `rrpc-raw` (run with system()/popen)
 *     arrive as PROPERTY_SET, ASYNC_SERVICE_INVOKE, SYNC_SERVICE_INVOKE (with its rrpc id),
 *     RAW_DATA and RAW_SYNC_SERVICE_INVOKE with this device's product key and device name;
 *     the handler answers each from inside the callback (PROPERTY_SET_REPLY,
 *     ASYNC_SERVICE_REPLY, SYNC_SERVICE_REPLY, RAW_SERVICE_REPLY, each returning 0), and the
 *     platform prints the reply it saw: the request's id and code 200 (RRPC within 7 s);
 *   - `aiot-platform dm show` lists the device's posts.
 *
 * With the argument `thing-model` (run under `exec --thing-model a1TestPK001=
 * c_demos/dm/thing_model_light.json`) it checks instead that the platform's thing-model
 * codes reach the handler: a valid post gets 200, an unknown property 6304, a wrong type 6306.
 */
#include "demo_common.h"

#include <pthread.h>

#include "aiot_dm_api.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int running = 1;

static struct {
    int generic_count;
    uint32_t generic_id;
    uint32_t generic_code;
    char generic_message[32];
    int raw_reply_count;
    char raw_reply[32];
    int set_count;
    uint64_t set_id;
    char set_params[128];
    int async_count;
    char async_service[64];
    int sync_count;
    char sync_rrpc[64];
    char sync_service[64];
    int raw_count;
    char raw[32];
    int raw_sync_count;
    char raw_sync_rrpc[64];
    int wrong_device;
    int reply_failures;
} st;

static const demo_env_t *env;

static void copy_slice(char *dst, size_t cap, const void *src, uint32_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void reply_checked(void *dm, aiot_dm_msg_t *msg)
{
    int32_t rc = aiot_dm_send(dm, msg);
    if (rc != 0) {
        demo_log("reply type %u failed: -0x%04X", (unsigned)msg->type, (unsigned)-rc);
        st.reply_failures++;
    }
}

static void dm_recv(void *dm, const aiot_dm_recv_t *recv, void *userdata)
{
    aiot_dm_msg_t reply;
    CHECK(userdata == (void *)&st, "userdata not handed back");
    memset(&reply, 0, sizeof(reply));
    pthread_mutex_lock(&mu);
    if (strcmp(recv->product_key, env->product_key) != 0 || strcmp(recv->device_name, env->device_name) != 0) {
        st.wrong_device++;
    }
    switch (recv->type) {
    case AIOT_DMRECV_GENERIC_REPLY:
        demo_log("generic reply id %u code %u data %.*s message %.*s", (unsigned)recv->data.generic_reply.msg_id,
                 (unsigned)recv->data.generic_reply.code, (int)recv->data.generic_reply.data_len,
                 recv->data.generic_reply.data, (int)recv->data.generic_reply.message_len,
                 recv->data.generic_reply.message);
        st.generic_count++;
        st.generic_id = recv->data.generic_reply.msg_id;
        st.generic_code = recv->data.generic_reply.code;
        copy_slice(st.generic_message, sizeof(st.generic_message), recv->data.generic_reply.message,
                   recv->data.generic_reply.message_len);
        break;
    case AIOT_DMRECV_PROPERTY_SET:
        demo_log("property set id %llu params %.*s", (unsigned long long)recv->data.property_set.msg_id,
                 (int)recv->data.property_set.params_len, recv->data.property_set.params);
        st.set_count++;
        st.set_id = recv->data.property_set.msg_id;
        copy_slice(st.set_params, sizeof(st.set_params), recv->data.property_set.params,
                   recv->data.property_set.params_len);
        reply.type = AIOT_DMMSG_PROPERTY_SET_REPLY;
        reply.data.property_set_reply.msg_id = recv->data.property_set.msg_id;
        reply.data.property_set_reply.code = 200;
        reply.data.property_set_reply.data = "{}";
        reply_checked(dm, &reply);
        break;
    case AIOT_DMRECV_ASYNC_SERVICE_INVOKE:
        demo_log("async service %s id %llu params %.*s", recv->data.async_service_invoke.service_id,
                 (unsigned long long)recv->data.async_service_invoke.msg_id,
                 (int)recv->data.async_service_invoke.params_len, recv->data.async_service_invoke.params);
        st.async_count++;
        copy_slice(st.async_service, sizeof(st.async_service), recv->data.async_service_invoke.service_id,
                   (uint32_t)strlen(recv->data.async_service_invoke.service_id));
        reply.type = AIOT_DMMSG_ASYNC_SERVICE_REPLY;
        reply.data.async_service_reply.msg_id = recv->data.async_service_invoke.msg_id;
        reply.data.async_service_reply.service_id = recv->data.async_service_invoke.service_id;
        reply.data.async_service_reply.code = 200;
        reply.data.async_service_reply.data = "{\"done\":1}";
        reply_checked(dm, &reply);
        break;
    case AIOT_DMRECV_SYNC_SERVICE_INVOKE:
        demo_log("sync service %s rrpc %s id %llu params %.*s", recv->data.sync_service_invoke.service_id,
                 recv->data.sync_service_invoke.rrpc_id, (unsigned long long)recv->data.sync_service_invoke.msg_id,
                 (int)recv->data.sync_service_invoke.params_len, recv->data.sync_service_invoke.params);
        st.sync_count++;
        copy_slice(st.sync_rrpc, sizeof(st.sync_rrpc), recv->data.sync_service_invoke.rrpc_id,
                   (uint32_t)strlen(recv->data.sync_service_invoke.rrpc_id));
        copy_slice(st.sync_service, sizeof(st.sync_service), recv->data.sync_service_invoke.service_id,
                   (uint32_t)strlen(recv->data.sync_service_invoke.service_id));
        reply.type = AIOT_DMMSG_SYNC_SERVICE_REPLY;
        reply.data.sync_service_reply.msg_id = recv->data.sync_service_invoke.msg_id;
        reply.data.sync_service_reply.rrpc_id = recv->data.sync_service_invoke.rrpc_id;
        reply.data.sync_service_reply.service_id = recv->data.sync_service_invoke.service_id;
        reply.data.sync_service_reply.code = 200;
        reply.data.sync_service_reply.data = "{\"status\":\"ok\"}";
        reply_checked(dm, &reply);
        break;
    case AIOT_DMRECV_RAW_DATA_REPLY:
        st.raw_reply_count++;
        copy_slice(st.raw_reply, sizeof(st.raw_reply), recv->data.raw_data.data, recv->data.raw_data.data_len);
        break;
    case AIOT_DMRECV_RAW_DATA:
        st.raw_count++;
        copy_slice(st.raw, sizeof(st.raw), recv->data.raw_data.data, recv->data.raw_data.data_len);
        break;
    case AIOT_DMRECV_RAW_SYNC_SERVICE_INVOKE:
        st.raw_sync_count++;
        copy_slice(st.raw_sync_rrpc, sizeof(st.raw_sync_rrpc), recv->data.raw_service_invoke.rrpc_id,
                   (uint32_t)strlen(recv->data.raw_service_invoke.rrpc_id));
        reply.type = AIOT_DMMSG_RAW_SERVICE_REPLY;
        reply.data.raw_service_reply.rrpc_id = recv->data.raw_service_invoke.rrpc_id;
        reply.data.raw_service_reply.data = (uint8_t *)"pong";
        reply.data.raw_service_reply.data_len = 4;
        reply_checked(dm, &reply);
        break;
    default:
        demo_log("unknown receive type %u", (unsigned)recv->type);
        break;
    }
    pthread_mutex_unlock(&mu);
}

static void *process_thread(void *mqtt)
{
    while (running) {
        aiot_mqtt_process(mqtt);
        demo_sleep_ms(200);
    }
    return NULL;
}

static void *recv_thread(void *mqtt)
{
    while (running) {
        if (aiot_mqtt_recv(mqtt) < 0) {
            demo_sleep_ms(100);
        }
    }
    return NULL;
}

static int generic_seen(uint32_t id)
{
    int seen;
    pthread_mutex_lock(&mu);
    seen = st.generic_count > 0 && st.generic_id == id;
    pthread_mutex_unlock(&mu);
    return seen;
}

static int count_of(const int *counter)
{
    int n;
    pthread_mutex_lock(&mu);
    n = *counter;
    pthread_mutex_unlock(&mu);
    return n;
}

/* Sends a request, checks its id and waits for its reply with `code` (200: "success"). */
static void request_code(void *dm, aiot_dm_msg_t *msg, const char *what, uint32_t code)
{
    int32_t id = CHECK_POS(aiot_dm_send(dm, msg));
    demo_log("%s sent, id %d", what, (int)id);
    WAIT_UNTIL(generic_seen((uint32_t)id), 5000);
    pthread_mutex_lock(&mu);
    CHECK(st.generic_code == code, "%s: reply code %u, want %u", what, (unsigned)st.generic_code, (unsigned)code);
    CHECK(code != 200 || strcmp(st.generic_message, "success") == 0, "%s: reply message %s", what,
          st.generic_message);
    pthread_mutex_unlock(&mu);
}

static void request(void *dm, aiot_dm_msg_t *msg, const char *what)
{
    request_code(dm, msg, what, 200);
}

/* Property posts checked against the product's thing model by the platform. */
static void thing_model_checks(void *dm)
{
    static const struct {
        const char *params;
        uint32_t code;
    } posts[] = {
        {"{\"LightSwitch\":1}", 200},
        {"{\"NoSuchProperty\":1}", 6304},
        {"{\"LightSwitch\":\"on\"}", 6306},
    };
    size_t i;
    for (i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
        aiot_dm_msg_t msg;
        memset(&msg, 0, sizeof(msg));
        msg.type = AIOT_DMMSG_PROPERTY_POST;
        msg.data.property_post.params = (char *)posts[i].params;
        request_code(dm, &msg, posts[i].params, posts[i].code);
    }
}

/* Runs an `aiot-platform dm ...` command, returns its stdout (static buffer) and checks its
 * exit status. */
static const char *platform(const char *args)
{
    static char out[4096];
    char cmd[1024];
    size_t n = 0;
    FILE *p;
    int status;
    snprintf(cmd, sizeof(cmd), "\"%s\" dm %s --state-dir \"%s\"", demo_env("AIOT_PLATFORM"), args,
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
    status = pclose(p);
    demo_log("platform dm %s -> status %d: %s", args, status, out);
    CHECK(status == 0, "aiot-platform dm %s failed (status %d)", args, status);
    return out;
}

int main(int argc, char **argv)
{
    demo_env_t e;
    void *mqtt;
    void *dm;
    uint8_t post_reply = 1;
    pthread_t process_tid, recv_tid;
    aiot_dm_msg_t msg;
    const char *out;
    char want[128];
    int before;

    demo_env_load(&e);
    env = &e;
    mqtt = demo_mqtt_new(e.host, e.port, &e, NULL, NULL);

    dm = aiot_dm_init();
    CHECK(dm != NULL, "aiot_dm_init failed");
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_RECV_HANDLER, (void *)dm_recv));
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_USERDATA, (void *)&st));
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_POST_REPLY, &post_reply));

    CHECK_OK(aiot_mqtt_connect(mqtt));
    {
        char topic[160];
        snprintf(topic, sizeof(topic), "/sys/%s/%s/thing/event/property/batch/post_reply", e.product_key,
                 e.device_name);
        CHECK_POS(aiot_mqtt_sub(mqtt, topic, NULL, 1, NULL));
    }
    CHECK(pthread_create(&process_tid, NULL, process_thread, mqtt) == 0, "pthread_create");
    CHECK(pthread_create(&recv_tid, NULL, recv_thread, mqtt) == 0, "pthread_create");

    if (argc > 1 && strcmp(argv[1], "thing-model") == 0) {
        thing_model_checks(dm);
        goto done;
    }

    /* ---- every request type, each answered with its id */
    memset(&msg, 0, sizeof(msg));
    msg.type = AIOT_DMMSG_PROPERTY_POST;
    msg.data.property_post.params = "{\"LightSwitch\": 0}";
    request(dm, &msg, "property post");

    memset(&msg, 0, sizeof(msg));
    msg.type = AIOT_DMMSG_EVENT_POST;
    msg.data.event_post.event_id = "Error";
    msg.data.event_post.params = "{\"ErrorCode\": 0}";
    request(dm, &msg, "event post");

    memset(&msg, 0, sizeof(msg));
    msg.type = AIOT_DMMSG_PROPERTY_BATCH_POST;
    msg.data.property_post.params =
        "{\"properties\":{\"Power\":[{\"value\":\"on\",\"time\":1612684518}]},\"events\":{}}";
    request(dm, &msg, "batch post");

    memset(&msg, 0, sizeof(msg));
    msg.type = AIOT_DMMSG_GET_DESIRED;
    msg.data.get_desired.params = "[\"LightSwitch\"]";
    request(dm, &msg, "desired get");

    memset(&msg, 0, sizeof(msg));
    msg.type = AIOT_DMMSG_DELETE_DESIRED;
    msg.data.delete_desired.params = "{\"LightSwitch\":{}}";
    request(dm, &msg, "desired delete");

    /* ---- "ack":0: no reply */
    post_reply = 0;
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_POST_REPLY, &post_reply));
    before = count_of(&st.generic_count);
    memset(&msg, 0, sizeof(msg));
    msg.type = AIOT_DMMSG_PROPERTY_POST;
    msg.data.property_post.params = "{\"LightSwitch\": 1}";
    CHECK_POS(aiot_dm_send(dm, &msg));
    demo_sleep_ms(1500);
    CHECK(count_of(&st.generic_count) == before, "a reply came for \"ack\":0");
    post_reply = 1;
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_POST_REPLY, &post_reply));

    /* ---- raw data up and its reply */
    memset(&msg, 0, sizeof(msg));
    msg.type = AIOT_DMMSG_RAW_DATA;
    msg.data.raw_data.data = (uint8_t *)"\x01\x02raw";
    msg.data.raw_data.data_len = 5;
    CHECK_OK(aiot_dm_send(dm, &msg));
    WAIT_UNTIL(count_of(&st.raw_reply_count) == 1, 5000);
    CHECK(memcmp(st.raw_reply, "\x01\x02raw", 5) == 0, "raw reply bytes differ");

    /* ---- the platform's side: set, async call, sync call, raw, raw sync */
    out = platform("set '{\"LightSwitch\":1}'");
    CHECK(count_of(&st.set_count) == 1, "property set not received");
    CHECK(strcmp(st.set_params, "{\"LightSwitch\":1}") == 0, "set params %s", st.set_params);
    snprintf(want, sizeof(want), "\"id\":\"%llu\",\"code\":200", (unsigned long long)st.set_id);
    CHECK(strstr(out, want) != NULL, "set_reply seen by the platform lacks %s", want);

    out = platform("call --service ToggleLight '{\"on\":1}'");
    CHECK(count_of(&st.async_count) == 1, "async service call not received");
    CHECK(strcmp(st.async_service, "ToggleLight") == 0, "service id %s", st.async_service);
    CHECK(strstr(out, "\"code\":200") != NULL && strstr(out, "\"done\":1") != NULL, "async reply %s", out);

    {
        uint64_t t0 = demo_now_ms();
        out = platform("rrpc --service GetStatus '{}'");
        CHECK(demo_now_ms() - t0 < 7000, "RRPC took %llu ms", (unsigned long long)(demo_now_ms() - t0));
    }
    CHECK(count_of(&st.sync_count) == 1, "sync service call not received");
    CHECK(strcmp(st.sync_service, "GetStatus") == 0, "service id %s", st.sync_service);
    CHECK(st.sync_rrpc[0] != '\0', "no rrpc id");
    CHECK(strstr(out, "\"code\":200") != NULL && strstr(out, "\"status\":\"ok\"") != NULL, "rrpc reply %s", out);

    platform("raw 0102ff41");
    WAIT_UNTIL(count_of(&st.raw_count) == 1, 5000);
    CHECK(memcmp(st.raw, "\x01\x02\xff\x41", 4) == 0, "raw bytes differ");

    out = platform("rrpc-raw 0a0b");
    CHECK(count_of(&st.raw_sync_count) == 1, "raw sync call not received");
    CHECK(strstr(out, "706f6e67") != NULL, "raw sync reply %s (want 706f6e67, \"pong\")", out);

    out = platform("show");
    CHECK(strstr(out, "thing/event/property/post") != NULL && strstr(out, "thing/event/Error/post") != NULL,
          "the platform's log of posts lacks them");

    CHECK(count_of(&st.wrong_device) == 0, "a message carried another product key / device name");
    CHECK(count_of(&st.reply_failures) == 0, "a reply from the callback failed");

done:
    running = 0;
    pthread_join(process_tid, NULL);
    pthread_join(recv_tid, NULL);
    CHECK_OK(aiot_dm_deinit(&dm));
    CHECK(dm == NULL, "deinit did not clear the handle");
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("data model demo: all checks passed");
    return 0;
}
