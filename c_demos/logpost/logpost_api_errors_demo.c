/*
 * Logpost API misuse and malformed config pushes, checked against upstream's codes:
 *   1. NULL handles, NULL data, options out of range (-0x0102) and unknown ones inside the range
 *      (ignored: 0); init without a portfile gives NULL; deinit of NULL / of a NULL handle;
 *   2. aiot_logpost_send's checks in upstream's order: NULL msg (-0x0101), level beyond DEBUG
 *      (-0x1503), module NULL (-0x1504), content NULL (-0x1505), content over 4096 bytes
 *      (-0x1506, 4096 itself passes that check), timestamp beyond 1e14 (-0x0102), no MQTT handle
 *      (-0x1501), an MQTT handle without product key (-0x0104) or device name (-0x0105), the
 *      cloud's switch off (-0x1502); a module named net_conn/net_rt passes the switch while
 *      SYS_LOG is on;
 *   3. malformed config pushes (not JSON, no mode, negative, fractional, over 255, a string that
 *      is not digits, an array, empty) are each refused with LK-1508 and raise no event; a good
 *      push afterwards still switches the user log on;
 *   4. the MQTT handle's deinit detaches logpost: a later send says -0x1501; deinit frees.
 */
#include "demo_common.h"

#include <pthread.h>

#include "aiot_logpost_api.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_events;
static int g_last_switch = -1;

static int events(void)
{
    int v;
    pthread_mutex_lock(&g_lock);
    v = g_events;
    pthread_mutex_unlock(&g_lock);
    return v;
}

static void event_handler(void *handle, const aiot_logpost_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    pthread_mutex_lock(&g_lock);
    g_events++;
    g_last_switch = event->data.config_data.on_off;
    pthread_mutex_unlock(&g_lock);
}

static int32_t send_msg(void *h, uint32_t level, char *module, char *content, uint64_t ts)
{
    aiot_logpost_msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.timestamp = ts;
    msg.loglevel = level;
    msg.module_name = module;
    msg.content = content;
    return aiot_logpost_send(h, &msg);
}

/* Publishes `payload` on /sys/<pk>/<dn>/thing/config/log/push as the platform. */
static void push(const demo_env_t *env, const char *payload)
{
    char cmd[1024];
    int status;
    snprintf(cmd, sizeof(cmd),
             "\"%s\" dm publish --state-dir \"%s\" --topic '/sys/%s/%s/thing/config/log/push' --payload '%s' >/dev/null",
             demo_env("AIOT_PLATFORM"), demo_env("AIOT_STATE_DIR"), env->product_key, env->device_name, payload);
    status = system(cmd);
    CHECK(status == 0, "aiot-platform dm publish failed (status %d)", status);
}

int main(void)
{
    demo_env_t env;
    void *mqtt, *bare, *h, *null_handle = NULL;
    uint8_t on = 1;
    char *big;
    int i;
    static const char *const malformed[] = {
        "not json",
        "{\"id\":\"1\",\"version\":\"1.0\",\"params\":{\"getType\":\"content\",\"content\":{}}}",
        "{\"id\":\"2\",\"params\":{\"content\":{\"mode\":-1}}}",
        "{\"id\":\"3\",\"params\":{\"content\":{\"mode\":0.5}}}",
        "{\"id\":\"4\",\"params\":{\"content\":{\"mode\":256}}}",
        "{\"id\":\"5\",\"params\":{\"content\":{\"mode\":\"1x\"}}}",
        "[{\"mode\":1}]",
        "{\"id\":\"6\",\"params\":{\"content\":{\"mode\":1}}",
        "",
    };

    /* 1 */
    CHECK(aiot_logpost_init() == NULL, "init without a portfile must fail");
    demo_env_load(&env);
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    h = aiot_logpost_init();
    CHECK(h != NULL, "aiot_logpost_init");
    CHECK_RC(aiot_logpost_setopt(NULL, AIOT_LOGPOSTOPT_SYS_LOG, &on), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_logpost_setopt(h, AIOT_LOGPOSTOPT_SYS_LOG, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_logpost_setopt(h, AIOT_LOGPOSTOPT_MAX, &on), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_logpost_setopt(h, (aiot_logpost_option_t)99, &on), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_logpost_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_logpost_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);

    /* 2 */
    CHECK_RC(aiot_logpost_send(NULL, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_logpost_send(h, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_DEBUG + 1, "m", "c", 0), STATE_LOGPOST_LOGLEVEL_ERROR);
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, NULL, "c", 0), STATE_LOGPOST_LOG_MODULE_NAME_IS_NULL);
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "m", NULL, 0), STATE_LOGPOST_LOG_CONTENT_IS_NULL);
    big = malloc(4098);
    CHECK(big != NULL, "malloc");
    memset(big, 'x', 4097);
    big[4097] = '\0';
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "m", big, 0), STATE_LOGPOST_LOG_CONTENT_TOO_LONG);
    big[4096] = '\0';
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "m", big, 0), STATE_LOGPOST_MQTT_HANDLE_IS_NULL);
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "m", "c", 100000000000001ULL), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "m", "c", 100000000000000ULL), STATE_LOGPOST_MQTT_HANDLE_IS_NULL);

    bare = aiot_mqtt_init();
    CHECK(bare != NULL, "aiot_mqtt_init");
    CHECK_OK(aiot_logpost_setopt(h, AIOT_LOGPOSTOPT_MQTT_HANDLE, bare));
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "m", "c", 0), STATE_USER_INPUT_MISSING_PRODUCT_KEY);
    CHECK_OK(aiot_mqtt_setopt(bare, AIOT_MQTTOPT_PRODUCT_KEY, (void *)env.product_key));
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "m", "c", 0), STATE_USER_INPUT_MISSING_DEVICE_NAME);

    CHECK_OK(aiot_logpost_setopt(h, AIOT_LOGPOSTOPT_EVENT_HANDLER, (void *)event_handler));
    CHECK_OK(aiot_logpost_setopt(h, AIOT_LOGPOSTOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_logpost_setopt(h, (aiot_logpost_option_t)(AIOT_LOGPOSTOPT_MAX - 1), &on));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    RECV_UNTIL(mqtt, events() >= 1, 10000);
    CHECK(g_last_switch == 0, "platform default switch");
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "m", big, 0), STATE_LOGPOST_POST_TURN_OFF);
    CHECK(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "net_rt", "time=1^rtt=1", 0) >= 0, "sys module with SYS_LOG on");
    on = 0;
    CHECK_OK(aiot_logpost_setopt(h, AIOT_LOGPOSTOPT_SYS_LOG, &on));
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "net_rt", "x", 0), STATE_LOGPOST_POST_TURN_OFF);

    /* 3 */
    for (i = 0; i < (int)(sizeof(malformed) / sizeof(malformed[0])); i++) {
        demo_log_forget();
        push(&env, malformed[i]);
        RECV_UNTIL(mqtt, demo_log_seen(SATAE_LOGPOST_LOG_PARSE_MSG_FAILED, "LOGPOST parse log config failed"), 10000);
        CHECK(events() == 1, "malformed push %d raised an event", i);
    }
    push(&env, "{\"id\":\"9\",\"version\":\"1.0\",\"params\":{\"getType\":\"content\",\"content\":{\"mode\":1}}}");
    RECV_UNTIL(mqtt, events() >= 2, 10000);
    CHECK(g_last_switch == 1, "good push after malformed ones");
    CHECK(send_msg(h, AIOT_LOGPOST_LEVEL_DEBUG, "m", big, 0) >= 0, "4096-byte content with the switch on");

    /* 4 */
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK_RC(send_msg(h, AIOT_LOGPOST_LEVEL_INFO, "m", "c", 0), STATE_LOGPOST_MQTT_HANDLE_IS_NULL);
    CHECK_OK(aiot_logpost_deinit(&h));
    CHECK(h == NULL, "handle not cleared");
    CHECK_OK(aiot_mqtt_deinit(&bare));
    free(big);
    demo_log("logpost api errors demo passed");
    return 0;
}
