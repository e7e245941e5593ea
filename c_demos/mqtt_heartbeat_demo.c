/*
 * Heartbeat loss detection: heartbeat every 300 ms, at most 2 lost, no automatic reconnect.
 *
 * Asserts: while the broker is alive, heartbeats are answered (HEARTBEAT_RESPONSE reaches the
 * default handler) and no DISCONNECT fires; after the broker is frozen with SIGSTOP,
 * DISCONNECT with reason AIOT_MQTTDISCONNEVT_HEARTBEAT_DISCONNECT fires within a few seconds
 * (not instantly), exactly once, and no RECONNECT follows. The broker is always resumed
 * (SIGCONT) at exit, also on failure.
 */
#include "demo_common.h"

#include <signal.h>
#include <unistd.h>

static volatile sig_atomic_t g_frozen_pid = 0;

static struct {
    int connect_events;
    int reconnect_events;
    int disconnect_events;
    uint32_t disconnect_reason;
    uint64_t disconnect_at_ms;
    int pingresp_count;
} st;

static void thaw_broker(void)
{
    if (g_frozen_pid > 0) {
        kill((pid_t)g_frozen_pid, SIGCONT);
    }
}

static void on_fatal_signal(int sig)
{
    thaw_broker();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (event->type == AIOT_MQTTEVT_CONNECT) {
        st.connect_events++;
    } else if (event->type == AIOT_MQTTEVT_RECONNECT) {
        st.reconnect_events++;
    } else if (event->type == AIOT_MQTTEVT_DISCONNECT) {
        st.disconnect_events++;
        st.disconnect_reason = event->data.disconnect;
        st.disconnect_at_ms = demo_now_ms();
    }
    demo_log("event %u (disconnect reason %u)", (unsigned)event->type, (unsigned)event->data.disconnect);
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_HEARTBEAT_RESPONSE) {
        st.pingresp_count++;
    }
}

/* One round of the loop an application runs: process (heartbeats) then recv. */
static void drive(void *mqtt)
{
    (void)aiot_mqtt_process(mqtt);
    (void)aiot_mqtt_recv(mqtt);
}

int main(void)
{
    demo_env_t env;
    void *mqtt;
    uint32_t heartbeat_ms = 300, recv_timeout_ms = 100;
    uint8_t max_lost = 2, reconnect = 0;
    uint64_t dl, frozen_at;
    long pid;

    demo_env_load(&env);
    atexit(thaw_broker);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    signal(SIGHUP, on_fatal_signal);
    signal(SIGABRT, on_fatal_signal);
    signal(SIGSEGV, on_fatal_signal);

    mqtt = demo_mqtt_new(env.host, env.port, &env, default_handler, event_handler);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HEARTBEAT_INTERVAL_MS, &heartbeat_ms));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HEARTBEAT_MAX_LOST, &max_lost));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECONN_ENABLED, &reconnect));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));

    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(st.connect_events == 1, "CONNECT events: %d, expected 1", st.connect_events);

    /* healthy phase: pings are answered, nothing is lost */
    dl = demo_deadline(1500);
    while (!demo_expired(dl)) {
        drive(mqtt);
    }
    CHECK(st.pingresp_count >= 2, "only %d heartbeat responses in 1.5 s with a 300 ms interval", st.pingresp_count);
    CHECK(st.disconnect_events == 0, "DISCONNECT while the broker answers heartbeats");

    /* freeze the broker: heartbeats go unanswered */
    pid = demo_broker_pid();
    demo_log("freezing broker pid %ld", pid);
    g_frozen_pid = (sig_atomic_t)pid;
    CHECK(kill((pid_t)pid, SIGSTOP) == 0, "cannot SIGSTOP broker pid %ld", pid);
    frozen_at = demo_now_ms();

    dl = demo_deadline(5000);
    while (st.disconnect_events == 0) {
        CHECK(!demo_expired(dl), "no DISCONNECT within 5 s of freezing the broker (pingresp %d)", st.pingresp_count);
        drive(mqtt);
    }
    CHECK(st.disconnect_reason == AIOT_MQTTDISCONNEVT_HEARTBEAT_DISCONNECT, "DISCONNECT reason %u, expected %u (heartbeat)",
          (unsigned)st.disconnect_reason, (unsigned)AIOT_MQTTDISCONNEVT_HEARTBEAT_DISCONNECT);
    demo_log("heartbeat DISCONNECT %u ms after freezing the broker", (unsigned)(st.disconnect_at_ms - frozen_at));
    CHECK(st.disconnect_at_ms - frozen_at >= 250, "heartbeat DISCONNECT only %u ms after freezing (interval 300 ms)",
          (unsigned)(st.disconnect_at_ms - frozen_at));

    /* reconnecting is disabled: no RECONNECT, and the event is not repeated */
    dl = demo_deadline(1000);
    while (!demo_expired(dl)) {
        drive(mqtt);
    }
    CHECK(st.disconnect_events == 1, "DISCONNECT events: %d, expected 1", st.disconnect_events);
    CHECK(st.reconnect_events == 0, "RECONNECT although reconnecting is disabled");

    kill((pid_t)pid, SIGCONT);
    g_frozen_pid = 0;

    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK(mqtt == NULL, "aiot_mqtt_deinit did not clear the handle");

    demo_log("mqtt_heartbeat_demo: all checks passed");
    return 0;
}
