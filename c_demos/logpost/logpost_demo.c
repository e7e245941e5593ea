/*
 * Logpost in the shape of upstream's logpost_basic_demo.c: an MQTT connection with one thread
 * looping aiot_mqtt_process and one looping aiot_mqtt_recv, a logpost handle with system logs
 * on and an event handler that prints "user log switch state is: <n>". The platform's side is
 * played with `aiot-platform logpost ...` ($AIOT_PLATFORM).
 *
 * Checks:
 *   1. on connect the SDK asks for the log config; the platform's answer (mode 0, its default)
 *      reaches the event handler, with the logpost handle and the userdata;
 *   2. with the switch off a user log is refused (STATE_LOGPOST_POST_TURN_OFF), while the system
 *      logs net_conn (conn_type=TCP) and net_rt reach the platform;
 *   3. `logpost mode on` pushes mode 1: the event says 1, a user log is posted (alink id >= 0)
 *      and reaches the platform with its level, module, code, msg id and content;
 *   4. the SDK's own lines are uploaded (module "sdk") while the switch is on: a pub topic line,
 *      and after new credentials the LK-0318 password line; no uploaded record contains the
 *      device secret or the MQTT password (a topic carrying the secret is masked too);
 *   5. `logpost mode off`: the event says 0, user logs are refused again, and an SDK line
 *      logged now is never uploaded (checked after the switch is on again and a later line
 *      arrived: the upload is in order);
 *   6. aiot_logpost_deinit returns 0 and clears the handle; MQTT stops cleanly.
 */
#include "demo_common.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aiot_logpost_api.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_events;
static int g_last_switch = -1;
static int g_wrong_args;
static void *g_logpost;
static int g_userdata;
static demo_env_t g_env;

static int get(int *v)
{
    int r;
    pthread_mutex_lock(&g_lock);
    r = *v;
    pthread_mutex_unlock(&g_lock);
    return r;
}

static void demo_logpost_event_handler(void *handle, const aiot_logpost_event_t *event, void *userdata)
{
    pthread_mutex_lock(&g_lock);
    if (handle != g_logpost || userdata != (void *)&g_userdata) {
        g_wrong_args++;
    }
    if (event->type == AIOT_LOGPOSTEVT_CONFIG_DATA) {
        printf("user log switch state is: %d\r\n", event->data.config_data.on_off);
        g_last_switch = event->data.config_data.on_off;
        g_events++;
    }
    fflush(stdout);
    pthread_mutex_unlock(&g_lock);
}

/* Runs `$AIOT_PLATFORM logpost <args> --state-dir $AIOT_STATE_DIR` and returns its exit status. */
static int platform(const char *args)
{
    char cmd[1024];
    int status;
    snprintf(cmd, sizeof(cmd), "\"%s\" logpost %s --state-dir \"%s\"", demo_env("AIOT_PLATFORM"), args,
             demo_env("AIOT_STATE_DIR"));
    demo_log("platform: logpost %s", args);
    status = system(cmd);
    return (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
}

static void wait_switch(int events, int want)
{
    WAIT_UNTIL(get(&g_events) >= events, 15000);
    CHECK(get(&g_last_switch) == want, "switch %d, want %d", get(&g_last_switch), want);
}

static int32_t send_log(const char *module, char *content)
{
    aiot_logpost_msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.timestamp = 0;
    msg.loglevel = AIOT_LOGPOST_LEVEL_WARN;
    msg.module_name = (char *)module;
    msg.code = 42;
    msg.msg_id = 7;
    msg.content = content;
    return aiot_logpost_send(g_logpost, &msg);
}

/* Publishes on the device's own topic /sys/<pk>/<dn>/user/<tail>: the SDK logs "pub: <topic>". */
static void pub_marker(void *mqtt, const char *tail)
{
    char topic[256];
    snprintf(topic, sizeof(topic), "/sys/%s/%s/user/%s", g_env.product_key, g_env.device_name, tail);
    CHECK_OK(aiot_mqtt_pub(mqtt, topic, (uint8_t *)"1", 1, 0));
}

int main(void)
{
    void *mqtt;
    demo_mqtt_loop_t loop;
    uint8_t sys_log = 1;
    char text[256], args[512];
    unsigned pid = (unsigned)getpid();

    demo_env_load(&g_env);
    mqtt = demo_mqtt_new(g_env.host, g_env.port, &g_env, NULL, NULL);

    g_logpost = aiot_logpost_init();
    CHECK(g_logpost != NULL, "aiot_logpost_init");
    CHECK_OK(aiot_logpost_setopt(g_logpost, AIOT_LOGPOSTOPT_SYS_LOG, &sys_log));
    CHECK_OK(aiot_logpost_setopt(g_logpost, AIOT_LOGPOSTOPT_EVENT_HANDLER, (void *)demo_logpost_event_handler));
    CHECK_OK(aiot_logpost_setopt(g_logpost, AIOT_LOGPOSTOPT_USERDATA, &g_userdata));
    CHECK_OK(aiot_logpost_setopt(g_logpost, AIOT_LOGPOSTOPT_MQTT_HANDLE, mqtt));

    CHECK_OK(aiot_mqtt_connect(mqtt));
    demo_mqtt_loop_start(&loop, mqtt, 100);

    /* 1, 2 */
    wait_switch(1, 0);
    snprintf(text, sizeof(text), "refused-%u", pid);
    CHECK_RC(send_log("demo", text), STATE_LOGPOST_POST_TURN_OFF);
    CHECK(platform("wait --module net_conn --contains conn_type=TCP") == 0, "net_conn not posted");
    CHECK(platform("wait --module net_rt --contains '^rtt='") == 0, "net_rt not posted");

    /* 3 */
    CHECK(platform("mode on") == 0, "logpost mode on");
    wait_switch(2, 1);
    snprintf(text, sizeof(text), "user-log-%u with \"quotes\"", pid);
    CHECK(send_log("demo", text) >= 0, "user log not posted");
    snprintf(args, sizeof(args), "wait --module demo --contains 'user-log-%u with \"quotes\"'", pid);
    CHECK(platform(args) == 0, "user log did not reach the platform");
    CHECK(platform("show --module demo") == 0, "show");

    /* 4 */
    snprintf(text, sizeof(text), "marker-on-%u", pid);
    pub_marker(mqtt, text);
    snprintf(args, sizeof(args), "wait --module sdk --contains 'marker-on-%u'", pid);
    CHECK(platform(args) == 0, "SDK line not uploaded");
    snprintf(text, sizeof(text), "leak?deviceSecret=%s&password=%s", g_env.device_secret, g_env.device_secret);
    pub_marker(mqtt, text);
    CHECK(platform("wait --module sdk --contains 'leak?deviceSecret=********&password=********'") == 0, "masked topic line");
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_SECRET, (void *)g_env.device_secret));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(platform("wait --module sdk --contains '[LK-0318]'") == 0, "password line not uploaded");
    snprintf(args, sizeof(args), "secrets-absent --device %s/%s/%s", g_env.product_key, g_env.device_name,
             g_env.device_secret);
    CHECK(platform(args) == 0, "a secret reached the platform");

    /* 5 */
    CHECK(platform("mode off") == 0, "logpost mode off");
    wait_switch(3, 0);
    CHECK_RC(send_log("demo", text), STATE_LOGPOST_POST_TURN_OFF);
    snprintf(text, sizeof(text), "marker-off-%u", pid);
    pub_marker(mqtt, text);
    CHECK(platform("mode on") == 0, "logpost mode on");
    wait_switch(4, 1);
    snprintf(text, sizeof(text), "marker-again-%u", pid);
    pub_marker(mqtt, text);
    snprintf(args, sizeof(args), "wait --module sdk --contains 'marker-again-%u'", pid);
    CHECK(platform(args) == 0, "SDK line not uploaded after the switch came back on");
    snprintf(args, sizeof(args), "wait --timeout-ms 0 --module sdk --contains 'marker-off-%u'", pid);
    CHECK(platform(args) == 3, "an SDK line logged while the switch was off was uploaded");
    CHECK(get(&g_wrong_args) == 0, "event handler got the wrong handle or userdata");

    /* 6 */
    CHECK_OK(aiot_logpost_deinit(&g_logpost));
    CHECK(g_logpost == NULL, "handle not cleared");
    demo_mqtt_loop_stop(&loop);
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("logpost demo passed");
    return 0;
}
