/*
 * Threaded session as upstream's demos lay it out: a process thread (heartbeats, QoS1
 * resend), a receive thread, and publishers on the main thread and on one more thread,
 * for AIOT_DEMO_SECONDS seconds (default 30), each publisher at about 50 messages per
 * second, alternating QoS0 and QoS1, all to an echo topic this device subscribes.
 *
 * Asserts: every publish call succeeded; every QoS1 packet id got its PUBACK (and no PUBACK
 * came for an id never published); every QoS1 message and at least 95% of the QoS0 messages
 * came back with intact payloads; process and recv never failed; no DISCONNECT event during
 * the run; disconnect and deinit return 0.
 */
#include "demo_common.h"

#include <pthread.h>

#define PUBLISHERS 2
#define MAX_SEQ 8192          /* per publisher: 60 s at 50 msg/s fits comfortably */
#define PUB_INTERVAL_MS 20    /* 50 messages per second per publisher */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int g_running = 1;    /* recv + process threads */
static volatile int g_publishing = 1; /* publisher threads */

static void *g_mqtt;
static char g_topic[128];
static long g_seconds;
static uint64_t g_stop_at; /* publishers stop here */

static struct {
    /* per publisher and sequence number: sent qos (0/1, 0xFF unsent) and times received */
    uint8_t sent_qos[PUBLISHERS][MAX_SEQ];
    uint16_t received[PUBLISHERS][MAX_SEQ];
    int sent[PUBLISHERS];
    int pub_errors;
    int32_t first_pub_error;

    uint8_t id_published[65536]; /* QoS1 packet ids returned by aiot_mqtt_pub */
    uint8_t id_acked[65536];     /* PUBACKs per packet id */

    int bad_payloads;
    int connect_events;
    int reconnect_events;
    int disconnect_events;
    int process_errors;
    int32_t first_process_error;
    int recv_errors;
    int32_t first_recv_error;
    int suback_count;
} st;

static void event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    pthread_mutex_lock(&g_lock);
    if (event->type == AIOT_MQTTEVT_CONNECT) {
        st.connect_events++;
    } else if (event->type == AIOT_MQTTEVT_RECONNECT) {
        st.reconnect_events++;
    } else if (event->type == AIOT_MQTTEVT_DISCONNECT) {
        st.disconnect_events++;
    }
    pthread_mutex_unlock(&g_lock);
    demo_log("event %u", (unsigned)event->type);
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    pthread_mutex_lock(&g_lock);
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        uint16_t id = packet->data.pub_ack.packet_id;
        if (st.id_acked[id] < 255) {
            st.id_acked[id]++;
        }
    } else if (packet->type == AIOT_MQTTRECV_SUB_ACK) {
        st.suback_count++;
    }
    pthread_mutex_unlock(&g_lock);
}

/* Payload: "p<publisher>-q<qos>-<seq>-" followed by filler derived from seq. */
static uint32_t make_payload(char *buf, size_t cap, int publisher, int qos, int seq)
{
    int n = snprintf(buf, cap, "p%d-q%d-%d-", publisher, qos, seq);
    int fill = 16 + seq % 48;
    int i;
    for (i = 0; i < fill && (size_t)(n + 1) < cap; i++) {
        buf[n++] = (char)('a' + (seq + i) % 26);
    }
    buf[n] = '\0';
    return (uint32_t)n;
}

static void echo_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    char text[128], expect[128];
    int publisher = -1, qos = -1, seq = -1;
    uint32_t n;
    (void)handle;
    (void)userdata;
    if (packet->type != AIOT_MQTTRECV_PUB) {
        return;
    }
    n = packet->data.pub.payload_len < sizeof(text) - 1 ? packet->data.pub.payload_len : (uint32_t)sizeof(text) - 1;
    memcpy(text, packet->data.pub.payload, n);
    text[n] = '\0';
    pthread_mutex_lock(&g_lock);
    if (sscanf(text, "p%d-q%d-%d-", &publisher, &qos, &seq) != 3 || publisher < 0 || publisher >= PUBLISHERS ||
        seq < 0 || seq >= MAX_SEQ || (qos != 0 && qos != 1) ||
        !demo_payload_is(packet, expect, make_payload(expect, sizeof(expect), publisher, qos, seq)) ||
        st.sent_qos[publisher][seq] != qos || packet->data.pub.qos != qos) {
        st.bad_payloads++;
    } else if (st.received[publisher][seq] < 65535) {
        st.received[publisher][seq]++;
    }
    pthread_mutex_unlock(&g_lock);
}

static void *recv_thread(void *arg)
{
    (void)arg;
    while (g_running) {
        int32_t rc = aiot_mqtt_recv(g_mqtt);
        if (rc < 0) {
            pthread_mutex_lock(&g_lock);
            if (st.recv_errors++ == 0) {
                st.first_recv_error = rc;
            }
            pthread_mutex_unlock(&g_lock);
            demo_sleep_ms(100);
        }
    }
    return NULL;
}

static void *process_thread(void *arg)
{
    (void)arg;
    while (g_running) {
        int32_t rc = aiot_mqtt_process(g_mqtt);
        if (rc < 0) {
            pthread_mutex_lock(&g_lock);
            if (st.process_errors++ == 0) {
                st.first_process_error = rc;
            }
            pthread_mutex_unlock(&g_lock);
        }
        demo_sleep_ms(100);
    }
    return NULL;
}

/* Publishes alternately QoS0 and QoS1 every PUB_INTERVAL_MS until g_stop_at. */
static void publish_loop(int publisher)
{
    uint64_t next = demo_now_ms();
    int seq;
    for (seq = 0; g_publishing && !demo_expired(g_stop_at) && seq < MAX_SEQ; seq++) {
        char payload[128];
        int qos = seq % 2;
        uint32_t len = make_payload(payload, sizeof(payload), publisher, qos, seq);
        int32_t rc;
        uint64_t now;

        pthread_mutex_lock(&g_lock);
        st.sent_qos[publisher][seq] = (uint8_t)qos;
        pthread_mutex_unlock(&g_lock);
        rc = aiot_mqtt_pub(g_mqtt, g_topic, (uint8_t *)payload, len, (uint8_t)qos);
        pthread_mutex_lock(&g_lock);
        if (rc < 0 || (qos == 1 && rc == 0) || (qos == 0 && rc != 0)) {
            st.sent_qos[publisher][seq] = 0xFF;
            if (st.pub_errors++ == 0) {
                st.first_pub_error = rc;
            }
        } else {
            st.sent[publisher]++;
            if (qos == 1) {
                if (st.id_published[rc] < 255) {
                    st.id_published[rc]++;
                }
            }
        }
        pthread_mutex_unlock(&g_lock);

        next += PUB_INTERVAL_MS;
        now = demo_now_ms();
        if (next > now) {
            demo_sleep_ms((uint32_t)(next - now));
        } else {
            next = now;
        }
    }
}

static void *publisher_thread(void *arg)
{
    publish_loop((int)(intptr_t)arg);
    return NULL;
}

/* Counts QoS1 ids published but not acked (and acked but never published). */
static void ack_balance(int *missing, int *unexpected, int *published)
{
    int id;
    *missing = *unexpected = *published = 0;
    for (id = 1; id < 65536; id++) {
        if (st.id_published[id]) {
            (*published)++;
            if (!st.id_acked[id]) {
                (*missing)++;
            }
        } else if (st.id_acked[id]) {
            (*unexpected)++;
        }
    }
}

int main(void)
{
    demo_env_t env;
    uint32_t heartbeat_ms = 2000, recv_timeout_ms = 200;
    pthread_t recv_tid, process_tid, pub_tid;
    int32_t sub_id;
    int p, seq, missing, unexpected, published;
    int q0_sent = 0, q0_back = 0, q1_sent = 0, q1_back = 0, dup = 0;
    uint64_t dl;
    char b[16];

    demo_env_load(&env);
    g_seconds = demo_env_long("AIOT_DEMO_SECONDS", 30);
    CHECK(g_seconds >= 1 && g_seconds <= 120, "AIOT_DEMO_SECONDS=%ld out of range 1..120", g_seconds);
    snprintf(g_topic, sizeof(g_topic), "/%s/%s/user/threads", env.product_key, env.device_name);
    memset(st.sent_qos, 0xFF, sizeof(st.sent_qos));

    demo_log_set_quiet(1); /* thousands of messages: keep topic lines and hexdumps out */
    g_mqtt = demo_mqtt_new(env.host, env.port, &env, default_handler, event_handler);
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_HEARTBEAT_INTERVAL_MS, &heartbeat_ms));
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));

    CHECK_OK(aiot_mqtt_connect(g_mqtt));
    CHECK(st.connect_events == 1, "CONNECT events: %d, expected 1", st.connect_events);

    CHECK(pthread_create(&process_tid, NULL, process_thread, NULL) == 0, "pthread_create failed");
    CHECK(pthread_create(&recv_tid, NULL, recv_thread, NULL) == 0, "pthread_create failed");

    sub_id = CHECK_POS(aiot_mqtt_sub(g_mqtt, g_topic, echo_handler, 1, NULL));
    CHECK(sub_id == 1, "first SUBSCRIBE packet id %d, expected 1", (int)sub_id);
    pthread_mutex_lock(&g_lock);
    dl = demo_deadline(5000);
    while (st.suback_count == 0) {
        pthread_mutex_unlock(&g_lock);
        CHECK(!demo_expired(dl), "no SUBACK within 5 s");
        demo_sleep_ms(10);
        pthread_mutex_lock(&g_lock);
    }
    pthread_mutex_unlock(&g_lock);

    demo_log("publishing for %ld s from %d publishers", g_seconds, PUBLISHERS);
    g_stop_at = demo_deadline((uint32_t)g_seconds * 1000u);
    CHECK(pthread_create(&pub_tid, NULL, publisher_thread, (void *)(intptr_t)1) == 0, "pthread_create failed");
    publish_loop(0); /* the main thread is publisher 0 */
    g_publishing = 0;
    pthread_join(pub_tid, NULL);

    /* let the last acks and echoes arrive (bounded) */
    dl = demo_deadline(10000);
    for (;;) {
        int done = 1;
        pthread_mutex_lock(&g_lock);
        ack_balance(&missing, &unexpected, &published);
        if (missing > 0) {
            done = 0;
        }
        for (p = 0; p < PUBLISHERS && done; p++) {
            for (seq = 0; seq < MAX_SEQ; seq++) {
                if (st.sent_qos[p][seq] == 1 && st.received[p][seq] == 0) {
                    done = 0;
                    break;
                }
            }
        }
        pthread_mutex_unlock(&g_lock);
        if (done || demo_expired(dl)) {
            break;
        }
        demo_sleep_ms(50);
    }
    demo_sleep_ms(300); /* stragglers of QoS0 */

    g_running = 0;
    pthread_join(recv_tid, NULL);
    pthread_join(process_tid, NULL);

    pthread_mutex_lock(&g_lock);
    ack_balance(&missing, &unexpected, &published);
    for (p = 0; p < PUBLISHERS; p++) {
        for (seq = 0; seq < MAX_SEQ; seq++) {
            if (st.sent_qos[p][seq] == 0) {
                q0_sent++;
                q0_back += st.received[p][seq] > 0;
            } else if (st.sent_qos[p][seq] == 1) {
                q1_sent++;
                q1_back += st.received[p][seq] > 0;
            }
            if (st.received[p][seq] > 1) {
                dup++;
            }
        }
    }
    demo_log("sent: publisher0 %d, publisher1 %d; QoS0 %d back %d; QoS1 %d back %d (ids %d, unacked %d, "
             "unknown acks %d); duplicates %d; bad payloads %d",
             st.sent[0], st.sent[1], q0_sent, q0_back, q1_sent, q1_back, published, missing, unexpected, dup,
             st.bad_payloads);
    demo_log("events: connect %d reconnect %d disconnect %d; errors: pub %d (first %s) process %d recv %d",
             st.connect_events, st.reconnect_events, st.disconnect_events, st.pub_errors,
             demo_code_str(st.first_pub_error, b), st.process_errors, st.recv_errors);

    CHECK(st.pub_errors == 0, "%d publish calls failed, first with %s", st.pub_errors, demo_code_str(st.first_pub_error, b));
    CHECK(st.sent[0] >= (int)(g_seconds * 1000 / PUB_INTERVAL_MS) / 2, "publisher 0 sent only %d messages", st.sent[0]);
    CHECK(st.sent[1] >= (int)(g_seconds * 1000 / PUB_INTERVAL_MS) / 2, "publisher 1 sent only %d messages", st.sent[1]);
    CHECK(published == q1_sent, "%d distinct QoS1 packet ids for %d QoS1 publishes", published, q1_sent);
    CHECK(missing == 0, "%d QoS1 publishes never got a PUBACK", missing);
    CHECK(unexpected == 0, "%d PUBACKs for packet ids never published", unexpected);
    CHECK(q1_back == q1_sent, "only %d of %d QoS1 messages came back", q1_back, q1_sent);
    CHECK(q0_back * 100 >= q0_sent * 95, "only %d of %d QoS0 messages came back (< 95%%)", q0_back, q0_sent);
    CHECK(st.bad_payloads == 0, "%d messages came back corrupted or with the wrong QoS", st.bad_payloads);
    CHECK(st.process_errors == 0, "aiot_mqtt_process failed %d times, first with %s", st.process_errors,
          demo_code_str(st.first_process_error, b));
    CHECK(st.recv_errors == 0, "aiot_mqtt_recv failed %d times, first with %s", st.recv_errors,
          demo_code_str(st.first_recv_error, b));
    CHECK(st.disconnect_events == 0 && st.reconnect_events == 0, "connection dropped during the run (disconnect %d, reconnect %d)",
          st.disconnect_events, st.reconnect_events);
    pthread_mutex_unlock(&g_lock);

    CHECK_OK(aiot_mqtt_disconnect(g_mqtt));
    CHECK_OK(aiot_mqtt_deinit(&g_mqtt));
    CHECK(g_mqtt == NULL, "aiot_mqtt_deinit did not clear the handle");

    demo_log("mqtt_threads_demo: all checks passed");
    return 0;
}
