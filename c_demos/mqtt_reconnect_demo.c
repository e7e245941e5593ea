/*
 * Automatic reconnect across a broker outage, with a receive thread and a process thread as
 * in upstream's demos.
 *
 * The broker is frozen (SIGSTOP) and a QoS1 message is published into the frozen connection;
 * then the broker is killed (SIGKILL, then broker-ctl stop) so that message is never
 * acknowledged, and started again (broker-ctl start).
 *
 * Asserts: DISCONNECT (network) fires, then RECONNECT; the subscription made before the outage
 * works again (a fresh QoS0 publish comes back to the topic handler); the QoS1 message from
 * the outage is republished after the reconnect, comes back to the topic handler and its
 * PUBACK (same packet id) arrives; nothing of it is seen before the reconnect.
 */
#include "demo_common.h"

#include <pthread.h>
#include <signal.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int g_running = 1;
static long g_frozen_pid = 0;

static struct {
    int seq; /* orders the observations below */
    int connect_events;
    int reconnect_events;
    int disconnect_events;
    uint32_t disconnect_reason;
    int disconnect_seq;
    int reconnect_seq;

    int suback_count;
    uint16_t suback_id;
    int32_t suback_res;

    /* every PUBACK seen: packet id and sequence number */
    uint16_t puback_id[512];
    int puback_seq[512];
    int puback_count;

    int outage_msg_count;
    int outage_msg_seq;
    uint8_t outage_msg_qos;

    int before_msg_count;
    int after_msg_count;
    int other_msg_count;
    int recv_errors;
} st;

static const char g_before[] = "before the outage";
static const char g_outage[] = "published while the broker was frozen";
static const char g_after_prefix[] = "after the reconnect #";

static int snapshot(const int *field)
{
    int v;
    pthread_mutex_lock(&g_lock);
    v = *field;
    pthread_mutex_unlock(&g_lock);
    return v;
}

/* How many PUBACKs carried `id`, and the sequence number of the first (0 if none). */
static int pubacks_for(uint16_t id, int *first_seq)
{
    int i, n = 0;
    pthread_mutex_lock(&g_lock);
    if (first_seq != NULL) {
        *first_seq = 0;
    }
    for (i = 0; i < st.puback_count; i++) {
        if (st.puback_id[i] == id) {
            if (n == 0 && first_seq != NULL) {
                *first_seq = st.puback_seq[i];
            }
            n++;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

static void event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    pthread_mutex_lock(&g_lock);
    st.seq++;
    switch (event->type) {
    case AIOT_MQTTEVT_CONNECT:
        st.connect_events++;
        break;
    case AIOT_MQTTEVT_RECONNECT:
        st.reconnect_events++;
        if (st.reconnect_seq == 0) {
            st.reconnect_seq = st.seq;
        }
        break;
    case AIOT_MQTTEVT_DISCONNECT:
        st.disconnect_events++;
        st.disconnect_reason = event->data.disconnect;
        if (st.disconnect_seq == 0) {
            st.disconnect_seq = st.seq;
        }
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&g_lock);
    demo_log("event %u (%s)", (unsigned)event->type,
             event->type == AIOT_MQTTEVT_CONNECT     ? "CONNECT"
             : event->type == AIOT_MQTTEVT_RECONNECT ? "RECONNECT"
                                                     : "DISCONNECT");
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    pthread_mutex_lock(&g_lock);
    st.seq++;
    if (packet->type == AIOT_MQTTRECV_SUB_ACK) {
        st.suback_count++;
        st.suback_id = packet->data.sub_ack.packet_id;
        st.suback_res = packet->data.sub_ack.res;
    } else if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        if (st.puback_count < (int)(sizeof(st.puback_id) / sizeof(st.puback_id[0]))) {
            st.puback_id[st.puback_count] = packet->data.pub_ack.packet_id;
            st.puback_seq[st.puback_count] = st.seq;
            st.puback_count++;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

static void echo_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type != AIOT_MQTTRECV_PUB) {
        return;
    }
    pthread_mutex_lock(&g_lock);
    st.seq++;
    if (demo_payload_is(packet, g_outage, sizeof(g_outage) - 1)) {
        st.outage_msg_count++;
        st.outage_msg_qos = packet->data.pub.qos;
        if (st.outage_msg_seq == 0) {
            st.outage_msg_seq = st.seq;
        }
    } else if (demo_payload_is(packet, g_before, sizeof(g_before) - 1)) {
        st.before_msg_count++;
    } else if (packet->data.pub.payload_len > sizeof(g_after_prefix) - 1 &&
               memcmp(packet->data.pub.payload, g_after_prefix, sizeof(g_after_prefix) - 1) == 0) {
        st.after_msg_count++;
    } else {
        st.other_msg_count++;
    }
    pthread_mutex_unlock(&g_lock);
    demo_log("echo: '%.*s' qos %u", (int)packet->data.pub.payload_len, (const char *)packet->data.pub.payload,
             (unsigned)packet->data.pub.qos);
}

static void *recv_thread(void *arg)
{
    void *mqtt = arg;
    while (g_running) {
        int32_t rc = aiot_mqtt_recv(mqtt);
        if (rc < 0) {
            /* disconnected or waiting for the next reconnect attempt */
            demo_sleep_ms(50);
        }
    }
    return NULL;
}

static void *process_thread(void *arg)
{
    void *mqtt = arg;
    while (g_running) {
        (void)aiot_mqtt_process(mqtt);
        demo_sleep_ms(100);
    }
    return NULL;
}

/* Never leave a frozen broker behind, whatever path exits. */
static void thaw_broker(void)
{
    if (g_frozen_pid > 0) {
        demo_broker_signal(g_frozen_pid, SIGCONT);
    }
}

int main(void)
{
    demo_env_t env;
    void *mqtt;
    char topic[128];
    uint32_t reconn_interval_ms = 300, recv_timeout_ms = 200, repub_timeout_ms = 500;
    pthread_t recv_tid, process_tid;
    int32_t sub_id, outage_id;
    long pid;
    int rc, i, outage_pubacks, outage_puback_seq;
    uint64_t dl;

    demo_env_load(&env);
    snprintf(topic, sizeof(topic), "/%s/%s/user/reconnect", env.product_key, env.device_name);
    atexit(thaw_broker);

    mqtt = demo_mqtt_new(env.host, env.port, &env, default_handler, event_handler);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECONN_INTERVAL_MS, &reconn_interval_ms));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_REPUB_TIMEOUT_MS, &repub_timeout_ms));

    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(st.connect_events == 1, "CONNECT events: %d, expected 1", st.connect_events);

    CHECK(pthread_create(&recv_tid, NULL, recv_thread, mqtt) == 0, "pthread_create failed");
    CHECK(pthread_create(&process_tid, NULL, process_thread, mqtt) == 0, "pthread_create failed");

    sub_id = CHECK_POS(aiot_mqtt_sub(mqtt, topic, echo_handler, 1, NULL));
    WAIT_UNTIL(snapshot(&st.suback_count) >= 1, 5000);
    pthread_mutex_lock(&g_lock);
    CHECK(st.suback_id == sub_id && st.suback_res == 0, "SUBACK id %u res %d, expected id %d res 0",
          (unsigned)st.suback_id, (int)st.suback_res, (int)sub_id);
    pthread_mutex_unlock(&g_lock);

    CHECK_OK(aiot_mqtt_pub(mqtt, topic, (uint8_t *)g_before, sizeof(g_before) - 1, 0));
    WAIT_UNTIL(snapshot(&st.before_msg_count) >= 1, 5000);

    /* freeze the broker and publish into the frozen connection */
    pid = demo_broker_pid();
    demo_log("freezing broker pid %ld", pid);
    g_frozen_pid = pid;
    CHECK(demo_broker_signal(pid, SIGSTOP) == 0, "cannot SIGSTOP broker pid %ld", pid);
    demo_sleep_ms(200);
    outage_id = CHECK_POS(aiot_mqtt_pub(mqtt, topic, (uint8_t *)g_outage, sizeof(g_outage) - 1, 1));
    demo_log("QoS1 publish during the outage got packet id %d", (int)outage_id);
    demo_sleep_ms(200);

    /* kill the frozen broker: the message dies with it, unacknowledged. SIGKILL first, so
     * the broker never runs again and cannot process what sits in its socket buffer; then
     * broker-ctl stop lets the platform clean up (it may find the broker already gone). */
    CHECK(demo_broker_signal(pid, SIGKILL) == 0, "cannot SIGKILL broker pid %ld", pid);
    dl = demo_deadline(5000);
    while (demo_pid_alive(pid)) {
        CHECK(!demo_expired(dl), "broker pid %ld still alive 5 s after SIGKILL", pid);
        demo_sleep_ms(20);
    }
    g_frozen_pid = 0;
    rc = demo_broker_ctl("stop");
    if (rc != 0) {
        demo_log("broker-ctl stop exited with %d after the broker was killed (ignored)", rc);
    }

    WAIT_UNTIL(snapshot(&st.disconnect_events) >= 1, 8000);
    outage_pubacks = pubacks_for((uint16_t)outage_id, NULL);
    pthread_mutex_lock(&g_lock);
    CHECK(st.disconnect_reason == AIOT_MQTTDISCONNEVT_NETWORK_DISCONNECT, "DISCONNECT reason %u, expected network",
          (unsigned)st.disconnect_reason);
    CHECK(st.outage_msg_count == 0 && outage_pubacks == 0,
          "the outage message was delivered (%d) or acknowledged (%d) before the broker came back",
          st.outage_msg_count, outage_pubacks);
    CHECK(st.reconnect_events == 0, "RECONNECT while the broker is down");
    pthread_mutex_unlock(&g_lock);

    /* a few failed reconnect attempts, then the broker returns */
    demo_sleep_ms(1000);
    CHECK(snapshot(&st.reconnect_events) == 0, "RECONNECT while the broker is down");
    CHECK(demo_broker_ctl("start") == 0, "broker-ctl start failed");

    WAIT_UNTIL(snapshot(&st.reconnect_events) >= 1, 10000);
    demo_log("reconnected");

    /* the QoS1 message of the outage is republished, delivered and acknowledged */
    WAIT_UNTIL(snapshot(&st.outage_msg_count) >= 1 && pubacks_for((uint16_t)outage_id, NULL) >= 1, 10000);

    /* the subscription is back: a fresh QoS0 publish comes back */
    dl = demo_deadline(10000);
    for (i = 1; snapshot(&st.after_msg_count) == 0; i++) {
        char payload[64];
        int32_t prc;
        CHECK(!demo_expired(dl), "no QoS0 message came back within 10 s after the reconnect");
        snprintf(payload, sizeof(payload), "%s%d", g_after_prefix, i);
        prc = aiot_mqtt_pub(mqtt, topic, (uint8_t *)payload, (uint32_t)strlen(payload), 0);
        if (prc < 0) {
            char b[16];
            demo_log("publish after reconnect returned %s", demo_code_str(prc, b));
        }
        demo_sleep_ms(300);
    }

    g_running = 0;
    pthread_join(recv_tid, NULL);
    pthread_join(process_tid, NULL);

    outage_pubacks = pubacks_for((uint16_t)outage_id, &outage_puback_seq);
    pthread_mutex_lock(&g_lock);
    CHECK(st.disconnect_seq > 0 && st.reconnect_seq > st.disconnect_seq, "RECONNECT (seq %d) not after DISCONNECT (seq %d)",
          st.reconnect_seq, st.disconnect_seq);
    CHECK(st.outage_msg_seq > st.reconnect_seq, "outage message (seq %d) not after RECONNECT (seq %d)",
          st.outage_msg_seq, st.reconnect_seq);
    CHECK(outage_puback_seq > st.reconnect_seq, "outage PUBACK (seq %d) not after RECONNECT (seq %d)",
          outage_puback_seq, st.reconnect_seq);
    CHECK(st.outage_msg_qos == 1, "outage message delivered with qos %u, expected 1", (unsigned)st.outage_msg_qos);
    CHECK(st.connect_events == 1, "CONNECT events: %d, expected 1", st.connect_events);
    CHECK(st.disconnect_events == 1, "DISCONNECT events: %d, expected 1", st.disconnect_events);
    CHECK(st.other_msg_count == 0, "%d unexpected messages", st.other_msg_count);
    demo_log("outage message delivered %d time(s), PUBACK %d time(s), reconnects %d", st.outage_msg_count,
             outage_pubacks, st.reconnect_events);
    pthread_mutex_unlock(&g_lock);

    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK(mqtt == NULL, "aiot_mqtt_deinit did not clear the handle");

    demo_log("mqtt_reconnect_demo: all checks passed");
    return 0;
}
