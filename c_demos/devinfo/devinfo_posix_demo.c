/*
 * Device tags, in the shape of upstream's devinfo_posix_demo.c (demo_mqtt_start with a process
 * thread and a receive thread, then the devinfo handle: MQTT handle, receive and event
 * handlers), with its three commented-out examples run against the platform's tag service and
 * every reply matched to its request by the alink id aiot_devinfo_send returned:
 *
 *   MQTT_HANDLE while connected     -> the get_reply SUBSCRIBE's packet id (> 0)
 *   update room/floor               -> GENERIC_REPLY 200 "success"
 *   get room, floor                 -> GET_REPLY 200 with both (through the real SUBSCRIBE)
 *   delete room                     -> GENERIC_REPLY 200
 *   get room, floor                 -> GET_REPLY 200 with floor only
 *   update with malformed params    -> GENERIC_REPLY 460
 *
 * and `aiot-platform devinfo show` lists what the platform stored.
 */
#include "demo_common.h"

#include <pthread.h>

#include "aiot_devinfo_api.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int running = 1;
static const demo_env_t *g_env;

static struct {
    int replies[2];
    int events;
    uint32_t msg_id, code;
    char data[1024], message[64];
    int wrong_device;
} st;

static void devinfo_recv(void *handle, const aiot_devinfo_recv_t *packet, void *userdata)
{
    const aiot_devinfo_recv_generic_reply_t *r = &packet->data.generic_reply;
    uint32_t dl, ml;
    (void)handle;
    pthread_mutex_lock(&mu);
    CHECK(userdata == (void *)&st, "userdata not handed back");
    if (packet->type == AIOT_DEVINFORECV_GET_REPLY) {
        /* Same layout: read it through its own member all the same. */
        CHECK(packet->data.get_reply.msg_id == r->msg_id, "layout");
    }
    if (strcmp(packet->product_key, g_env->product_key) != 0 || strcmp(packet->device_name, g_env->device_name) != 0) {
        st.wrong_device++;
    }
    dl = r->data_len < sizeof(st.data) ? r->data_len : (uint32_t)sizeof(st.data) - 1;
    ml = r->message_len < sizeof(st.message) ? r->message_len : (uint32_t)sizeof(st.message) - 1;
    memcpy(st.data, r->data, dl);
    st.data[dl] = '\0';
    memcpy(st.message, r->message, ml);
    st.message[ml] = '\0';
    st.msg_id = r->msg_id;
    st.code = r->code;
    st.replies[packet->type]++;
    printf("pk: %s, dn: %s, code: %u, msg id: %u, data: %s, message: %s\n", packet->product_key, packet->device_name,
           (unsigned)st.code, (unsigned)st.msg_id, st.data, st.message);
    pthread_mutex_unlock(&mu);
}

static void devinfo_event(void *handle, const aiot_devinfo_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    pthread_mutex_lock(&mu);
    st.events++;
    pthread_mutex_unlock(&mu);
    demo_log("unexpected event %u", (unsigned)event->type);
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

static int replied(uint32_t type, uint32_t id)
{
    int yes;
    pthread_mutex_lock(&mu);
    yes = st.replies[type] > 0 && st.msg_id == id;
    pthread_mutex_unlock(&mu);
    return yes;
}

/* Sends one request and waits for its reply (type, matched by id), checking code and data. */
static void request(void *devinfo, aiot_devinfo_msg_type_t type, char *params, uint32_t reply_type, uint32_t code,
                    const char *has, const char *lacks)
{
    aiot_devinfo_msg_t m;
    int32_t id;
    memset(&m, 0, sizeof(m));
    m.product_key = (char *)g_env->product_key;
    m.device_name = (char *)g_env->device_name;
    m.type = type;
    m.data.update.params = params;
    id = CHECK_POS(aiot_devinfo_send(devinfo, &m));
    printf("aiot_devinfo_send msg id: %d\n", (int)id);
    WAIT_UNTIL(replied(reply_type, (uint32_t)id), 10000);
    pthread_mutex_lock(&mu);
    CHECK(st.code == code, "code %u, want %u", (unsigned)st.code, (unsigned)code);
    CHECK(code != 200 || strcmp(st.message, "success") == 0, "message %s", st.message);
    CHECK(has == NULL || strstr(st.data, has) != NULL, "data %s lacks %s", st.data, has);
    CHECK(lacks == NULL || strstr(st.data, lacks) == NULL, "data %s has %s", st.data, lacks);
    pthread_mutex_unlock(&mu);
}

int main(void)
{
    demo_env_t env;
    void *mqtt, *devinfo;
    pthread_t process_tid, recv_tid;
    char cmd[1024];
    FILE *p;
    char line[1024] = "";

    demo_env_load(&env);
    g_env = &env;
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(pthread_create(&process_tid, NULL, process_thread, mqtt) == 0, "pthread_create");
    CHECK(pthread_create(&recv_tid, NULL, recv_thread, mqtt) == 0, "pthread_create");

    devinfo = aiot_devinfo_init();
    CHECK(devinfo != NULL, "aiot_devinfo_init failed");
    CHECK_POS(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_RECV_HANDLER, (void *)devinfo_recv));
    CHECK_OK(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_EVENT_HANDLER, (void *)devinfo_event));
    CHECK_OK(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_USERDATA, &st));
    /* Let the SUBACK arrive before the first get. */
    demo_sleep_ms(300);

    request(devinfo, AIOT_DEVINFO_MSG_UPDATE,
            "[{\"attrKey\":\"room\",\"attrValue\":\"kitchen\"},{\"attrKey\":\"floor\",\"attrValue\":\"2\"}]",
            AIOT_DEVINFORECV_GENERIC_REPLY, 200, NULL, NULL);
    request(devinfo, AIOT_DEVINFO_MSG_GET, "{\"attrKeys\": [ \"room\", \"floor\" ] }", AIOT_DEVINFORECV_GET_REPLY, 200,
            "{\"attrKey\":\"room\",\"attrValue\":\"kitchen\"}", NULL);
    request(devinfo, AIOT_DEVINFO_MSG_DELETE, "[{\"attrKey\":\"room\"}]", AIOT_DEVINFORECV_GENERIC_REPLY, 200, NULL,
            NULL);
    request(devinfo, AIOT_DEVINFO_MSG_GET, "{\"attrKeys\":[\"room\",\"floor\"]}", AIOT_DEVINFORECV_GET_REPLY, 200,
            "{\"attrKey\":\"floor\",\"attrValue\":\"2\"}", "room");
    request(devinfo, AIOT_DEVINFO_MSG_UPDATE, "{\"attrKey\":\"room\"}", AIOT_DEVINFORECV_GENERIC_REPLY, 460, NULL,
            NULL);

    snprintf(cmd, sizeof(cmd), "\"%s\" devinfo show --state-dir \"%s\"", demo_env("AIOT_PLATFORM"),
             demo_env("AIOT_STATE_DIR"));
    p = popen(cmd, "r");
    CHECK(p != NULL, "popen");
    CHECK(fgets(line, sizeof(line), p) != NULL, "no output from devinfo show");
    CHECK(pclose(p) == 0, "devinfo show failed");
    CHECK(strcmp(line, "{\"floor\":\"2\"}\n") == 0, "the platform keeps %s", line);

    pthread_mutex_lock(&mu);
    CHECK(st.events == 0 && st.wrong_device == 0, "%d events, %d replies for another device", st.events,
          st.wrong_device);
    pthread_mutex_unlock(&mu);

    CHECK_OK(aiot_devinfo_deinit(&devinfo));
    CHECK(devinfo == NULL, "aiot_devinfo_deinit left the handle");
    running = 0;
    pthread_join(process_tid, NULL);
    pthread_join(recv_tid, NULL);
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("devinfo: update, delete and get replied, ids matched");
    return 0;
}
