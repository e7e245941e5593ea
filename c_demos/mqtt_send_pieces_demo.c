/*
 * A user port whose network_send writes at most 16 bytes per call to the real port and yields
 * between pieces, as lwIP and AT-modem ports do. One thread publishes QoS1 to an echo topic
 * this device subscribes with QoS1 (so the receive thread answers every echo with a PUBACK),
 * one calls aiot_mqtt_process (PINGREQ every 100 ms, QoS1 resends) and one calls
 * aiot_mqtt_recv, for AIOT_DEMO_SECONDS seconds (default 20, 1..60).
 *
 * Asserts: the broker never dropped the client (no DISCONNECT or RECONNECT event, no failed
 * call), every QoS1 publish got its PUBACK and came back intact, and the port really wrote in
 * pieces from several threads at once.
 */
#include "demo_common.h"

#include <pthread.h>
#include <sched.h>

#define PIECE 16
#define MAX_SEQ 65000

static aiot_sysdep_portfile_t g_real;
static aiot_sysdep_portfile_t g_mine;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int g_running = 1;
static void *g_mqtt;
static char g_topic[128];

static struct {
    int senders_inside;   /* threads inside network_send right now */
    int max_senders;      /* most seen at once */
    unsigned long pieces;
    uint8_t id_published[65536];
    uint8_t id_acked[65536];
    uint8_t echoed[MAX_SEQ];
    int sent;
    int bad_payloads;
    int disconnect_events;
    int reconnect_events;
    int pub_errors, process_errors, recv_errors;
    int32_t first_pub_error, first_process_error, first_recv_error;
} st;

static int32_t piecewise_send(void *handle, uint8_t *buffer, uint32_t len, uint32_t timeout_ms,
                              core_sysdep_addr_t *addr)
{
    uint32_t done = 0;
    pthread_mutex_lock(&g_lock);
    if (++st.senders_inside > st.max_senders) {
        st.max_senders = st.senders_inside;
    }
    pthread_mutex_unlock(&g_lock);
    while (done < len) {
        uint32_t n = len - done < PIECE ? len - done : PIECE;
        int32_t rc = g_real.core_sysdep_network_send(handle, buffer + done, n, timeout_ms, addr);
        if (rc < 0) {
            done = 0;
            pthread_mutex_lock(&g_lock);
            st.senders_inside--;
            pthread_mutex_unlock(&g_lock);
            return rc;
        }
        done += (uint32_t)rc;
        if ((uint32_t)rc < n) {
            break; /* timeout: report what went out */
        }
        pthread_mutex_lock(&g_lock);
        st.pieces++;
        pthread_mutex_unlock(&g_lock);
        sched_yield();
    }
    pthread_mutex_lock(&g_lock);
    st.senders_inside--;
    pthread_mutex_unlock(&g_lock);
    return (int32_t)done;
}

static void event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    pthread_mutex_lock(&g_lock);
    if (event->type == AIOT_MQTTEVT_DISCONNECT) {
        st.disconnect_events++;
    } else if (event->type == AIOT_MQTTEVT_RECONNECT) {
        st.reconnect_events++;
    }
    pthread_mutex_unlock(&g_lock);
    demo_log("event %u", (unsigned)event->type);
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        pthread_mutex_lock(&g_lock);
        if (st.id_acked[packet->data.pub_ack.packet_id] < 255) {
            st.id_acked[packet->data.pub_ack.packet_id]++;
        }
        pthread_mutex_unlock(&g_lock);
    }
}

/* "seq-<n>-" then 60..120 filler bytes derived from n: every packet spans several pieces. */
static uint32_t make_payload(char *buf, size_t cap, int seq)
{
    int n = snprintf(buf, cap, "seq-%d-", seq);
    int fill = 60 + seq % 61;
    int i;
    for (i = 0; i < fill && (size_t)(n + 1) < cap; i++) {
        buf[n++] = (char)('a' + (seq * 7 + i) % 26);
    }
    buf[n] = '\0';
    return (uint32_t)n;
}

static void echo_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    char text[256], expect[256];
    int seq = -1;
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
    if (sscanf(text, "seq-%d-", &seq) != 1 || seq < 0 || seq >= MAX_SEQ ||
        !demo_payload_is(packet, expect, make_payload(expect, sizeof(expect), seq))) {
        st.bad_payloads++;
    } else {
        st.echoed[seq] = 1;
    }
    pthread_mutex_unlock(&g_lock);
}

static void note_error(int *count, int32_t *first, int32_t rc)
{
    pthread_mutex_lock(&g_lock);
    if ((*count)++ == 0) {
        *first = rc;
    }
    pthread_mutex_unlock(&g_lock);
}

static void *recv_thread(void *arg)
{
    (void)arg;
    while (g_running) {
        int32_t rc = aiot_mqtt_recv(g_mqtt);
        if (rc < 0) {
            note_error(&st.recv_errors, &st.first_recv_error, rc);
            demo_sleep_ms(50);
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
            note_error(&st.process_errors, &st.first_process_error, rc);
        }
        demo_sleep_ms(5);
    }
    return NULL;
}

static int missing_acks(void)
{
    int id, missing = 0;
    for (id = 1; id < 65536; id++) {
        if (st.id_published[id] && !st.id_acked[id]) {
            missing++;
        }
    }
    return missing;
}

static int missing_echoes(void)
{
    int seq, missing = 0;
    for (seq = 0; seq < st.sent && seq < MAX_SEQ; seq++) {
        missing += !st.echoed[seq];
    }
    return missing;
}

int main(void)
{
    demo_env_t env;
    uint32_t heartbeat_ms = 100, recv_timeout_ms = 100, repub_ms = 500;
    uint16_t max_repub = 1000;
    pthread_t recv_tid, process_tid;
    long seconds;
    uint64_t stop_at, dl;
    int seq, acks_missing, echoes_missing;
    char b1[16], b2[16], b3[16];

    demo_env_load(&env);
    seconds = demo_env_long("AIOT_DEMO_SECONDS", 20);
    CHECK(seconds >= 1 && seconds <= 60, "AIOT_DEMO_SECONDS=%ld out of range 1..60", seconds);
    snprintf(g_topic, sizeof(g_topic), "/%s/%s/user/pieces", env.product_key, env.device_name);

    g_real = g_aiot_sysdep_portfile;
    g_mine = g_real;
    g_mine.core_sysdep_network_send = piecewise_send;
    aiot_sysdep_set_portfile(&g_mine);
    CHECK_OK(aiot_state_set_logcb(demo_logcb));
    demo_log_set_quiet(1);
    g_mqtt = aiot_mqtt_init();
    CHECK(g_mqtt != NULL, "aiot_mqtt_init returned NULL");
    demo_mqtt_set_device(g_mqtt, env.host, env.port, env.product_key, env.device_name, env.device_secret);
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_RECV_HANDLER, (void *)default_handler));
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_EVENT_HANDLER, (void *)event_handler));
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_HEARTBEAT_INTERVAL_MS, &heartbeat_ms));
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_REPUB_TIMEOUT_MS, &repub_ms));
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_MAX_REPUB_NUM, &max_repub));
    CHECK_OK(aiot_mqtt_connect(g_mqtt));

    CHECK(pthread_create(&process_tid, NULL, process_thread, NULL) == 0, "pthread_create failed");
    CHECK(pthread_create(&recv_tid, NULL, recv_thread, NULL) == 0, "pthread_create failed");
    CHECK_POS(aiot_mqtt_sub(g_mqtt, g_topic, echo_handler, 1, NULL));
    demo_sleep_ms(300);

    demo_log("publishing QoS1 for %ld s through a port that writes %d bytes at a time", seconds, PIECE);
    stop_at = demo_deadline((uint32_t)seconds * 1000u);
    for (seq = 0; !demo_expired(stop_at) && seq < MAX_SEQ; seq++) {
        char payload[256];
        uint32_t len = make_payload(payload, sizeof(payload), seq);
        int32_t rc = aiot_mqtt_pub(g_mqtt, g_topic, (uint8_t *)payload, len, 1);
        pthread_mutex_lock(&g_lock);
        st.sent = seq + 1;
        if (rc <= 0) {
            pthread_mutex_unlock(&g_lock);
            note_error(&st.pub_errors, &st.first_pub_error, rc);
            demo_sleep_ms(50);
            continue;
        }
        st.id_published[rc] = 1;
        pthread_mutex_unlock(&g_lock);
        demo_sleep_ms(2);
    }

    /* let the last PUBACKs and echoes arrive (bounded) */
    dl = demo_deadline(10000);
    for (;;) {
        pthread_mutex_lock(&g_lock);
        acks_missing = missing_acks();
        echoes_missing = missing_echoes();
        pthread_mutex_unlock(&g_lock);
        if ((acks_missing == 0 && echoes_missing == 0) || demo_expired(dl)) {
            break;
        }
        demo_sleep_ms(50);
    }
    g_running = 0;
    pthread_join(recv_tid, NULL);
    pthread_join(process_tid, NULL);

    pthread_mutex_lock(&g_lock);
    demo_log("published %d, PUBACKs missing %d, echoes missing %d, bad payloads %d; pieces %lu, up to %d threads "
             "in network_send at once; events: disconnect %d reconnect %d; errors: pub %d (%s) process %d (%s) "
             "recv %d (%s)",
             st.sent, acks_missing, echoes_missing, st.bad_payloads, st.pieces, st.max_senders, st.disconnect_events,
             st.reconnect_events, st.pub_errors, demo_code_str(st.first_pub_error, b1), st.process_errors,
             demo_code_str(st.first_process_error, b2), st.recv_errors, demo_code_str(st.first_recv_error, b3));
    CHECK(st.disconnect_events == 0 && st.reconnect_events == 0,
          "the broker dropped the client (disconnect %d, reconnect %d)", st.disconnect_events, st.reconnect_events);
    CHECK(st.pub_errors == 0 && st.process_errors == 0 && st.recv_errors == 0, "calls failed: pub %d process %d recv %d",
          st.pub_errors, st.process_errors, st.recv_errors);
    CHECK(st.sent >= (int)seconds * 50, "only %d publishes in %ld s", st.sent, seconds);
    CHECK(acks_missing == 0, "%d QoS1 publishes never got a PUBACK", acks_missing);
    CHECK(echoes_missing == 0, "%d QoS1 publishes never came back", echoes_missing);
    CHECK(st.bad_payloads == 0, "%d messages came back corrupted", st.bad_payloads);
    CHECK(st.pieces > (unsigned long)st.sent, "the port wrote only %lu pieces", st.pieces);
    pthread_mutex_unlock(&g_lock);

    CHECK_OK(aiot_mqtt_disconnect(g_mqtt));
    CHECK_OK(aiot_mqtt_deinit(&g_mqtt));
    demo_log("mqtt_send_pieces_demo: all checks passed");
    return 0;
}
