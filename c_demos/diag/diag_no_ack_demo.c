/*
 * Diag and Alink requests that ask for no reply, then a deinit during an alert.
 *
 * Only the Alink uplink item is on (warning 0 ms, fatal 1000 ms): every timed request is an
 * alert, and only the first of a 30 s period is reported on its own.
 *
 *   1. A property post with "ack":0 (AIOT_DMOPT_POST_REPLY 0), which the platform never answers,
 *      then, once its fatal threshold has passed, one with "ack":1, which is answered. The first
 *      (and only) Alink alert names the second request; none names the first, neither locally
 *      nor among the device logs the platform recorded. (Timing the "ack":0 request, as
 *      upstream does, would report it as FATAL first and fold the second into the summary.)
 *   2. After aiot_diag_stop/start, another answered request raises an alert whose handler
 *      blocks on the process thread; aiot_diag_deinit from the main thread returns 0 while the
 *      handler is still blocked (handlers are not calls it waits for, as upstream's exec
 *      counter), then the handler returns and nothing more is reported.
 * Run under valgrind too.
 */
#include "demo_common.h"

#include <pthread.h>
#include <sys/wait.h>

#include "aiot_dm_api.h"
#include "aiot_diag_api.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_diag;
static char g_seen[16][256];
static int g_seen_n;
/* Part 2: the handler blocks while g_block is set, until g_release. */
static volatile int g_block, g_release, g_in_handler, g_handler_done;

static void event_handler(void *handle, const aiot_diag_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (event->type != AIOT_DIAGEVT_ALERT) {
        return;
    }
    printf("AIOT_DIAGEVT_ALERT, module name: %s, level: %s, desc: %s\r\n", event->data.alert.module_name,
           event->data.alert.level, event->data.alert.desc);
    fflush(stdout);
    pthread_mutex_lock(&g_lock);
    if (g_seen_n < 16) {
        snprintf(g_seen[g_seen_n++], sizeof(g_seen[0]), "%s|%s|%s", event->data.alert.module_name,
                 event->data.alert.level, event->data.alert.desc);
    }
    pthread_mutex_unlock(&g_lock);
    if (g_block) {
        uint64_t dl = demo_deadline(10000);
        g_in_handler = 1;
        while (!g_release && !demo_expired(dl)) {
            demo_sleep_ms(10);
        }
        g_handler_done = 1;
    }
}

static int seen_n(void)
{
    int n;
    pthread_mutex_lock(&g_lock);
    n = g_seen_n;
    pthread_mutex_unlock(&g_lock);
    return n;
}

/* Whether alert number i (0-based) contains `text`. */
static int alert_has(int i, const char *text)
{
    int r;
    pthread_mutex_lock(&g_lock);
    r = i < g_seen_n && strstr(g_seen[i], text) != NULL;
    pthread_mutex_unlock(&g_lock);
    return r;
}

/* `aiot-platform logpost <args>`: its exit status; its output (if `out`) in out[cap]. */
static int logpost(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    FILE *p;
    size_t n = 0;
    int status;
    snprintf(cmd, sizeof(cmd), "\"%s\" logpost %s --state-dir \"%s\"", demo_env("AIOT_PLATFORM"), args,
             demo_env("AIOT_STATE_DIR"));
    demo_log("platform: logpost %s", args);
    p = popen(cmd, "r");
    CHECK(p != NULL, "popen");
    if (out != NULL) {
        n = fread(out, 1, cap - 1, p);
        out[n] = '\0';
    } else {
        char sink[4096];
        while (fread(sink, 1, sizeof(sink), p) > 0) {
        }
    }
    status = pclose(p);
    return (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
}

static int32_t post(void *dm, uint8_t ack)
{
    aiot_dm_msg_t msg;
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_POST_REPLY, &ack));
    memset(&msg, 0, sizeof(msg));
    msg.type = AIOT_DMMSG_PROPERTY_POST;
    msg.data.property_post.params = "{\"LightSwitch\":1}";
    return CHECK_POS(aiot_dm_send(dm, &msg));
}

int main(void)
{
    demo_env_t env;
    void *mqtt, *dm;
    demo_mqtt_loop_t loop;
    aiot_diag_config_t off = {0, 30000, 200, 500}, alink = {1, 30000, 0, 1000};
    int32_t no_ack_id, ack_id, third_id;
    char want[128], args[256], out[8192];
    uint64_t t0, took;
    int n;

    demo_env_load(&env);
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    g_diag = aiot_diag_init();
    CHECK(g_diag != NULL, "aiot_diag_init");
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_EVENT_HANDLER, (void *)event_handler));
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_MQTT_CONNECTION, &off));
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_MQTT_HEARTBEAT, &off));
    CHECK_OK(aiot_diag_setopt(g_diag, AIOT_DIAGOPT_ALINK_UPLINK, &alink));
    CHECK_OK(aiot_diag_start(g_diag));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    demo_mqtt_loop_start(&loop, mqtt, 50);
    dm = aiot_dm_init();
    CHECK(dm != NULL, "aiot_dm_init");
    CHECK_OK(aiot_dm_setopt(dm, AIOT_DMOPT_MQTT_HANDLE, mqtt));

    /* 1 */
    no_ack_id = post(dm, 0);
    demo_sleep_ms(1300); /* past the fatal threshold of the "ack":0 request */
    ack_id = post(dm, 1);
    demo_log("\"ack\":0 request %d, \"ack\":1 request %d", (int)no_ack_id, (int)ack_id);
    WAIT_UNTIL(seen_n() >= 1, 20000);
    snprintf(want, sizeof(want), "DiagAlinkUplink|WARN|Alink message %d waiting for reply", (int)ack_id);
    CHECK(alert_has(0, want), "first alert is not the answered request's WARN: %s", g_seen[0]);
    snprintf(args, sizeof(args), "wait --module DiagAlinkUplink --contains 'Alink message %d waiting'", (int)ack_id);
    CHECK(logpost(args, NULL, 0) == 0, "the answered request's alert is not at the platform");
    snprintf(want, sizeof(want), "Alink message %d ", (int)no_ack_id);
    for (n = 0; n < seen_n(); n++) {
        CHECK(!alert_has(n, want), "an alert for the \"ack\":0 request: %s", g_seen[n]);
    }
    CHECK(logpost("show --module DiagAlinkUplink", out, sizeof(out)) == 0, "logpost show failed");
    CHECK(strstr(out, want) == NULL, "the platform recorded an alert for the \"ack\":0 request: %s", out);
    CHECK(strstr(out, "FATAL") == NULL, "the platform recorded a FATAL alert: %s", out);

    /* 2 */
    CHECK_OK(aiot_diag_stop(g_diag));
    CHECK_OK(aiot_diag_start(g_diag));
    n = seen_n();
    g_block = 1;
    third_id = post(dm, 1);
    WAIT_UNTIL(g_in_handler, 20000);
    t0 = demo_now_ms();
    CHECK_OK(aiot_diag_deinit(&g_diag));
    took = demo_now_ms() - t0;
    CHECK(g_diag == NULL, "aiot_diag_deinit must clear the handle");
    CHECK(!g_handler_done, "aiot_diag_deinit waited for the event handler (%llu ms)", (unsigned long long)took);
    CHECK(took < 1500, "aiot_diag_deinit took %llu ms", (unsigned long long)took);
    g_release = 1;
    WAIT_UNTIL(g_handler_done, 20000);
    snprintf(want, sizeof(want), "Alink message %d waiting", (int)third_id);
    CHECK(alert_has(n, want), "the blocked alert was not the third request's: %s", g_seen[n]);
    (void)post(dm, 1);
    demo_sleep_ms(2500); /* more than one evaluation period: nothing may be reported now */
    CHECK(seen_n() == n + 1, "%d alerts after the deinit", seen_n() - n - 1);

    demo_mqtt_loop_stop(&loop);
    CHECK_OK(aiot_dm_deinit(&dm));
    aiot_mqtt_disconnect(mqtt);
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("diag: no alert for an \"ack\":0 request, the answered one alerted; deinit during an alert");
    return 0;
}
