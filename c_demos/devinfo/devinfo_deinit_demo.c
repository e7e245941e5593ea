/*
 * aiot_devinfo_deinit while the component is busy, against upstream's rules (its exec counter
 * counts aiot_devinfo_setopt only; the receive and event handlers are not waited for).
 *
 *   1. A reply's receive handler blocks on the receive thread; aiot_devinfo_deinit from the
 *      main thread returns 0 while it is still blocked and clears the handle; the handler then
 *      returns. A reply published after that reaches the MQTT handle's default receive handler,
 *      not the freed component.
 *   2. AIOT_DEVINFOOPT_MQTT_HANDLE is in progress on another thread (its SUBSCRIBE held up 1.5 s
 *      in the network send); aiot_devinfo_deinit with a 300 ms timeout returns
 *      STATE_MQTT_DEINIT_TIMEOUT after at least 300 ms and leaves the handle, whose calls then
 *      answer STATE_USER_INPUT_EXEC_DISABLED; the setopt itself ends with its packet id, and a
 *      get_reply on that subscription reaches the MQTT handle's default handler, not the
 *      disabled component's.
 * Each wait is bounded; a watchdog ends a hang. Run under valgrind too.
 */
#include "demo_common.h"

#include <pthread.h>

#include "aiot_devinfo_api.h"

static volatile int g_slow, g_in_slow_send;
static int32_t (*g_real_send)(void *, uint8_t *, uint32_t, uint32_t, core_sysdep_addr_t *);

/* While g_slow is set, each send first sleeps 1.5 s. */
static int32_t slow_send(void *handle, uint8_t *buffer, uint32_t len, uint32_t timeout_ms, core_sysdep_addr_t *addr)
{
    if (g_slow) {
        g_in_slow_send = 1;
        demo_sleep_ms(1500);
    }
    return g_real_send(handle, buffer, len, timeout_ms, addr);
}

static volatile int g_callbacks, g_in_handler, g_release, g_handler_done, g_default_replies;
static volatile uint32_t g_reply_id;

static void devinfo_recv(void *handle, const aiot_devinfo_recv_t *packet, void *userdata)
{
    uint64_t dl = demo_deadline(10000);
    (void)handle;
    (void)userdata;
    g_reply_id = packet->data.generic_reply.msg_id;
    g_callbacks++;
    g_in_handler = 1;
    while (!g_release && !demo_expired(dl)) {
        demo_sleep_ms(10);
    }
    g_handler_done = 1;
}

/* The MQTT handle's default handler: PUBLISHes no topic handler took. */
static void mqtt_recv(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB) {
        g_default_replies++;
    }
}

static void *g_leaked; /* the handle a timed-out deinit leaves, as upstream's */
static void *g_mqtt;
static int32_t g_setopt_result;

static void *setopt_thread(void *devinfo)
{
    g_setopt_result = aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_MQTT_HANDLE, g_mqtt);
    return NULL;
}

static void publish_reply(const demo_env_t *env, const char *leaf, const char *payload)
{
    char cmd[2048];
    int status;
    snprintf(cmd, sizeof(cmd),
             "\"%s\" dm publish --state-dir \"%s\" --topic '/sys/%s/%s/thing/deviceinfo/%s' --payload '%s' "
             ">/dev/null",
             demo_env("AIOT_PLATFORM"), demo_env("AIOT_STATE_DIR"), env->product_key, env->device_name, leaf,
             payload);
    status = system(cmd);
    CHECK(status == 0, "aiot-platform dm publish failed (status %d)", status);
}

int main(void)
{
    static aiot_sysdep_portfile_t port;
    demo_env_t env;
    void *devinfo;
    aiot_devinfo_msg_t m;
    demo_mqtt_loop_t loop;
    pthread_t setter;
    uint32_t timeout_ms = 300;
    uint8_t dummy = 0;
    int32_t id;
    uint64_t t0, took;

    demo_watchdog(90, "devinfo_deinit_demo", 1);
    demo_env_load(&env);
    /* Our POSIX port with the send that can be held up (an MQTT handle keeps the port it was
     * made with). */
    port = g_aiot_sysdep_portfile;
    g_real_send = port.core_sysdep_network_send;
    port.core_sysdep_network_send = slow_send;
    aiot_sysdep_set_portfile(&port);
    CHECK_OK(aiot_state_set_logcb(demo_logcb));
    g_mqtt = aiot_mqtt_init();
    CHECK(g_mqtt != NULL, "aiot_mqtt_init returned NULL");
    demo_mqtt_set_device(g_mqtt, env.host, env.port, env.product_key, env.device_name, env.device_secret);
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_RECV_HANDLER, (void *)mqtt_recv));
    CHECK_OK(aiot_mqtt_connect(g_mqtt));
    demo_mqtt_loop_start(&loop, g_mqtt, 0);

    /* 1 */
    devinfo = aiot_devinfo_init();
    CHECK(devinfo != NULL, "aiot_devinfo_init failed");
    CHECK_OK(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_RECV_HANDLER, (void *)devinfo_recv));
    CHECK_POS(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_MQTT_HANDLE, g_mqtt));
    memset(&m, 0, sizeof(m));
    m.product_key = (char *)env.product_key;
    m.device_name = (char *)env.device_name;
    m.type = AIOT_DEVINFO_MSG_UPDATE;
    m.data.update.params = "[{\"attrKey\":\"deinitTest\",\"attrValue\":\"1\"}]";
    id = CHECK_POS(aiot_devinfo_send(devinfo, &m));
    WAIT_UNTIL(g_in_handler, 20000);
    CHECK(g_reply_id == (uint32_t)id, "reply id %u, want %d", (unsigned)g_reply_id, (int)id);
    t0 = demo_now_ms();
    CHECK_OK(aiot_devinfo_deinit(&devinfo));
    took = demo_now_ms() - t0;
    CHECK(devinfo == NULL, "aiot_devinfo_deinit must clear the handle");
    CHECK(!g_handler_done, "aiot_devinfo_deinit waited for the receive handler (%llu ms)", (unsigned long long)took);
    CHECK(took < 1500, "aiot_devinfo_deinit took %llu ms", (unsigned long long)took);
    g_release = 1;
    WAIT_UNTIL(g_handler_done, 20000);
    publish_reply(&env, "update_reply", "{\"id\":\"424242\",\"code\":200,\"data\":{},\"message\":\"success\"}");
    WAIT_UNTIL(g_default_replies == 1, 20000);
    CHECK(g_callbacks == 1, "%d receive-handler calls, want 1", g_callbacks);
    demo_log("deinit during the receive handler: 0 after %llu ms, nothing after it", (unsigned long long)took);

    /* 2 */
    devinfo = aiot_devinfo_init();
    CHECK(devinfo != NULL, "aiot_devinfo_init failed");
    CHECK_OK(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_DEINIT_TIMEOUT_MS, &timeout_ms));
    CHECK_OK(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_RECV_HANDLER, (void *)devinfo_recv));
    g_slow = 1;
    CHECK(pthread_create(&setter, NULL, setopt_thread, devinfo) == 0, "pthread_create");
    WAIT_UNTIL(g_in_slow_send, 20000);
    g_leaked = devinfo;
    t0 = demo_now_ms();
    CHECK_RC(aiot_devinfo_deinit(&devinfo), STATE_MQTT_DEINIT_TIMEOUT);
    took = demo_now_ms() - t0;
    CHECK(devinfo == g_leaked, "a timed-out deinit must leave the handle");
    CHECK(took >= 300 && took < 1500, "the timed-out deinit took %llu ms", (unsigned long long)took);
    CHECK_RC(aiot_devinfo_setopt(devinfo, AIOT_DEVINFOOPT_USERDATA, &dummy), STATE_USER_INPUT_EXEC_DISABLED);
    CHECK_RC(aiot_devinfo_deinit(&devinfo), STATE_USER_INPUT_EXEC_DISABLED);
    pthread_join(setter, NULL);
    g_slow = 0;
    CHECK_POS(g_setopt_result);
    /* Its get_reply SUBSCRIBE went out, but the disabled handle's handler is gone: the reply
     * reaches the MQTT handle's default handler only. */
    publish_reply(&env, "get_reply", "{\"id\":\"434343\",\"code\":200,\"data\":[],\"message\":\"success\"}");
    WAIT_UNTIL(g_default_replies == 2, 20000);
    CHECK(g_callbacks == 1, "%d receive-handler calls, want 1", g_callbacks);
    demo_log("deinit during setopt: STATE_MQTT_DEINIT_TIMEOUT after %llu ms", (unsigned long long)took);

    demo_mqtt_loop_signal(&loop);
    CHECK_OK(aiot_mqtt_disconnect(g_mqtt));
    demo_mqtt_loop_stop(&loop);
    CHECK_OK(aiot_mqtt_deinit(&g_mqtt));
    demo_watchdog(0, "devinfo_deinit_demo", 1);
    demo_log("devinfo deinit: upstream's codes, bounded");
    return 0;
}
