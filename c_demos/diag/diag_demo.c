/*
 * Diag in the shape of upstream's diag_basic_demo.c: aiot_mqtt_init, aiot_diag_init, the MQTT
 * handle and an event handler printing "AIOT_DIAGEVT_ALERT, module name: .., level: .., desc:
 * ..", aiot_diag_start, then the connection (measured) with one thread looping
 * aiot_mqtt_process and one looping aiot_mqtt_recv, and a data-model handle posting a property.
 *
 * The local platform answers in well under a millisecond, so alerts are provoked through the
 * thresholds (warning 0 ms: every measurement is at least a warning) and, for a real loss, by
 * stopping the broker (SIGSTOP) while a heartbeat is out.
 *
 * Checks:
 *   1. one WARN alert per item, with the handle and userdata: "MQTT connection establish time
 *      <n> ms", "MQTT lost heartbeat 1 times in <n> ms", "Alink message <id> waiting for reply
 *      has already exceed <n> ms" where <id> is what aiot_dm_send returned;
 *   2. each alert reached the platform as a device log (module DiagMqttConnection with code 16
 *      over QoS1, DiagMqttHeartbeat 32, DiagAlinkUplink 48);
 *   3. after aiot_diag_stop and a fresh start with default thresholds on the heartbeat item,
 *      a PINGREQ the stopped broker never answers raises a FATAL "MQTT lost heartbeat 1 times
 *      in 1500 ms";
 *   4. aiot_diag_deinit returns 0 and clears the handle; MQTT stops cleanly.
 */
#include "demo_common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "aiot_dm_api.h"
#include "aiot_diag_api.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_diag;
static int g_userdata;
static int g_wrong_args;
static char g_seen[16][256];
static int g_seen_n;

static void demo_diag_event_handler(void *handle, const aiot_diag_event_t *event, void *userdata)
{
    if (event->type != AIOT_DIAGEVT_ALERT) {
        return;
    }
    printf("AIOT_DIAGEVT_ALERT, module name: %s, level: %s, desc: %s\r\n", event->data.alert.module_name,
           event->data.alert.level, event->data.alert.desc);
    fflush(stdout);
    pthread_mutex_lock(&g_lock);
    if (handle != g_diag || userdata != (void *)&g_userdata) {
        g_wrong_args++;
    }
    if (g_seen_n < 16) {
        snprintf(g_seen[g_seen_n++], sizeof(g_seen[0]), "%s|%s|%s", event->data.alert.module_name,
                 event->data.alert.level, event->data.alert.desc);
    }
    pthread_mutex_unlock(&g_lock);
}

/* Whether an alert "<module>|<level>|<desc...>" starting with `prefix` was seen. */
static int seen(const char *prefix)
{
    int i, r = 0;
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < g_seen_n; i++) {
        if (strncmp(g_seen[i], prefix, strlen(prefix)) == 0) {
            r = 1;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return r;
}

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

int main(void)
{
    demo_env_t env;
    void *mqtt, *dm;
    demo_mqtt_loop_t loop;
    aiot_diag_config_t conn = {1, 30000, 0, 500}, hb = {1, 30000, 0, 1500}, alink = {1, 30000, 0, 1000};
    aiot_diag_config_t hb_default = {1, 30000, 800, 1500};
    uint32_t hb_interval = 1000;
    uint8_t post_reply = 1;
    aiot_dm_msg_t msg;
    int32_t id;
    long pid;
    char want[256];

    demo_env_load(&env);
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HEARTBEAT_INTERVAL_MS, &hb_interval));

    g_diag = aiot_diag_init();
    CHECK(g_diag != NULL, "aiot_diag_init");
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_EVENT_HANDLER, (void *)demo_diag_event_handler));
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_USERDATA, &g_userdata));
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_MQTT_CONNECTION, &conn));
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_MQTT_HEARTBEAT, &hb));
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_ALINK_UPLINK, &alink));
    CHECK_OK(aiot_diag_start(g_diag));

    CHECK_OK(aiot_mqtt_connect(mqtt));
    demo_mqtt_loop_start(&loop, mqtt, 100);

    dm = aiot_dm_init();
    CHECK(dm != NULL, "aiot_dm_init");
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_POST_REPLY, &post_reply));
    memset(&msg, 0, sizeof(msg));
    msg.type = AIOT_DMMSG_PROPERTY_POST;
    msg.data.property_post.params = "{\"LightSwitch\":0}";
    id = CHECK_POS(aiot_dm_send(dm, &msg));

    /* 1 */
    WAIT_UNTIL(seen("DiagMqttConnection|WARN|MQTT connection establish time "), 20000);
    WAIT_UNTIL(seen("DiagMqttHeartbeat|WARN|MQTT lost heartbeat 1 times in "), 20000);
    snprintf(want, sizeof(want), "DiagAlinkUplink|WARN|Alink message %d waiting for reply has already exceed ", (int)id);
    WAIT_UNTIL(seen(want), 20000);

    /* 2 */
    CHECK(platform("wait --module DiagMqttConnection --contains 'MQTT connection establish time'") == 0,
          "connection alert not at the platform");
    CHECK(platform("wait --module DiagMqttHeartbeat --contains 'MQTT lost heartbeat 1 times in'") == 0,
          "heartbeat alert not at the platform");
    snprintf(want, sizeof(want), "wait --module DiagAlinkUplink --contains 'Alink message %d waiting'", (int)id);
    CHECK(platform(want) == 0, "alink alert not at the platform");

    /* 3 */
    CHECK_OK(aiot_diag_stop(g_diag));
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_MQTT_HEARTBEAT, &hb_default));
    CHECK_OK(aiot_diag_start(g_diag));
    pid = demo_broker_pid();
    CHECK(demo_broker_signal(pid, SIGSTOP) == 0, "SIGSTOP the broker");
    WAIT_UNTIL(seen("DiagMqttHeartbeat|FATAL|MQTT lost heartbeat 1 times in 1500 ms"), 20000);
    CHECK(demo_broker_signal(pid, SIGCONT) == 0, "SIGCONT the broker");
    CHECK(platform("wait --timeout-ms 30000 --module DiagMqttHeartbeat --contains 'in 1500 ms'") == 0,
          "FATAL heartbeat alert not at the platform");
    CHECK(g_wrong_args == 0, "event handler got the wrong handle or userdata");

    /* 4 */
    CHECK_OK(aiot_diag_deinit(&g_diag));
    CHECK(g_diag == NULL, "handle not cleared");
    demo_mqtt_loop_stop(&loop);
    CHECK_OK(aiot_dm_deinit(&dm));
    aiot_mqtt_disconnect(mqtt);
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("diag demo passed");
    return 0;
}
