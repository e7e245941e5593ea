/*
 * A user portfile: a copy of g_aiot_sysdep_portfile whose network, time and random members
 * are wrapped with counters, installed with aiot_sysdep_set_portfile.
 *
 * Asserts, for a plain TCP session (connect, QoS1 publish + PUBACK, disconnect, deinit):
 * network_init/establish/deinit were called through our port (as many deinits as inits), the
 * bytes sent cover at least the CONNECT and PUBLISH, the bytes received cover CONNACK and
 * PUBACK, and time and rand were called. For a TLS session through the same port: the bytes
 * received include the server's handshake (> 1000 bytes) and the publish is acknowledged.
 */
#include "demo_common.h"

static aiot_sysdep_portfile_t g_real;
static aiot_sysdep_portfile_t g_mine;

static struct {
    unsigned long net_init;
    unsigned long net_establish;
    unsigned long net_deinit;
    unsigned long send_calls;
    unsigned long recv_calls;
    unsigned long long bytes_sent;
    unsigned long long bytes_recv;
    unsigned long time_calls;
    unsigned long rand_calls;
    unsigned long setopt_host;
} cnt;

static int g_puback_count;
static uint16_t g_puback_id;
static int g_connect_events;

static void *my_network_init(void)
{
    cnt.net_init++;
    return g_real.core_sysdep_network_init();
}

static int32_t my_network_setopt(void *handle, core_sysdep_network_option_t option, void *data)
{
    if (option == CORE_SYSDEP_NETWORK_HOST) {
        cnt.setopt_host++;
    }
    return g_real.core_sysdep_network_setopt(handle, option, data);
}

static int32_t my_network_establish(void *handle)
{
    cnt.net_establish++;
    return g_real.core_sysdep_network_establish(handle);
}

static int32_t my_network_recv(void *handle, uint8_t *buffer, uint32_t len, uint32_t timeout_ms,
                               core_sysdep_addr_t *addr)
{
    int32_t rc = g_real.core_sysdep_network_recv(handle, buffer, len, timeout_ms, addr);
    cnt.recv_calls++;
    if (rc > 0) {
        cnt.bytes_recv += (unsigned long long)rc;
    }
    return rc;
}

static int32_t my_network_send(void *handle, uint8_t *buffer, uint32_t len, uint32_t timeout_ms,
                               core_sysdep_addr_t *addr)
{
    int32_t rc = g_real.core_sysdep_network_send(handle, buffer, len, timeout_ms, addr);
    cnt.send_calls++;
    if (rc > 0) {
        cnt.bytes_sent += (unsigned long long)rc;
    }
    return rc;
}

static int32_t my_network_deinit(void **handle)
{
    cnt.net_deinit++;
    return g_real.core_sysdep_network_deinit(handle);
}

static uint64_t my_time(void)
{
    cnt.time_calls++;
    return g_real.core_sysdep_time();
}

static void my_rand(uint8_t *output, uint32_t output_len)
{
    cnt.rand_calls++;
    g_real.core_sysdep_rand(output, output_len);
}

static void event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (event->type == AIOT_MQTTEVT_CONNECT) {
        g_connect_events++;
    }
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        g_puback_count++;
        g_puback_id = packet->data.pub_ack.packet_id;
    }
}

static void print_counters(const char *label)
{
    demo_log("%s: init %lu establish %lu deinit %lu | send %lu calls %llu bytes | recv %lu calls %llu bytes | "
             "time %lu rand %lu",
             label, cnt.net_init, cnt.net_establish, cnt.net_deinit, cnt.send_calls, cnt.bytes_sent, cnt.recv_calls,
             cnt.bytes_recv, cnt.time_calls, cnt.rand_calls);
}

/* connect, one QoS1 publish acknowledged, disconnect, deinit */
static void run_session(const char *host, uint16_t port, const demo_env_t *env, aiot_sysdep_network_cred_t *cred,
                        const char *topic, const uint8_t *payload, uint32_t payload_len)
{
    void *mqtt = aiot_mqtt_init();
    int32_t id;
    CHECK(mqtt != NULL, "aiot_mqtt_init returned NULL with our portfile");
    demo_mqtt_set_device(mqtt, host, port, env->product_key, env->device_name, env->device_secret);
    if (cred != NULL) {
        CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, cred));
    }
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_HANDLER, (void *)default_handler));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_EVENT_HANDLER, (void *)event_handler));

    g_connect_events = 0;
    g_puback_count = 0;
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(g_connect_events == 1, "CONNECT events: %d, expected 1", g_connect_events);
    id = CHECK_POS(aiot_mqtt_pub(mqtt, (char *)topic, (uint8_t *)payload, payload_len, 1));
    RECV_UNTIL(mqtt, g_puback_count >= 1, 5000);
    CHECK(g_puback_id == id, "PUBACK id %u, expected %d", (unsigned)g_puback_id, (int)id);
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK(mqtt == NULL, "aiot_mqtt_deinit did not clear the handle");
}

int main(void)
{
    demo_env_t env;
    char topic[128];
    uint8_t payload[300];
    uint32_t i, topic_len;
    char *ca_pem;
    aiot_sysdep_network_cred_t cred;

    demo_env_load(&env);
    ca_pem = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    snprintf(topic, sizeof(topic), "/%s/%s/user/portfile", env.product_key, env.device_name);
    topic_len = (uint32_t)strlen(topic);
    for (i = 0; i < sizeof(payload); i++) {
        payload[i] = (uint8_t)('A' + i % 26);
    }

    CHECK_OK(aiot_state_set_logcb(demo_logcb));

    /* our port: the library's POSIX port with counting wrappers */
    g_real = g_aiot_sysdep_portfile;
    g_mine = g_real;
    g_mine.core_sysdep_network_init = my_network_init;
    g_mine.core_sysdep_network_setopt = my_network_setopt;
    g_mine.core_sysdep_network_establish = my_network_establish;
    g_mine.core_sysdep_network_recv = my_network_recv;
    g_mine.core_sysdep_network_send = my_network_send;
    g_mine.core_sysdep_network_deinit = my_network_deinit;
    g_mine.core_sysdep_time = my_time;
    g_mine.core_sysdep_rand = my_rand;
    aiot_sysdep_set_portfile(&g_mine);
    CHECK(aiot_sysdep_get_portfile() != NULL, "aiot_sysdep_get_portfile() is NULL after setting our port");

    /* a portfile with a missing member is refused */
    {
        aiot_sysdep_portfile_t broken = g_mine;
        broken.core_sysdep_network_send = NULL;
        aiot_sysdep_set_portfile(&broken);
        CHECK(aiot_sysdep_get_portfile() == NULL, "a portfile without network_send was accepted");
        CHECK(aiot_mqtt_init() == NULL, "aiot_mqtt_init succeeded with an incomplete portfile");
        aiot_sysdep_set_portfile(&g_mine);
        CHECK(aiot_sysdep_get_portfile() != NULL, "our port could not be set again");
    }

    /* plain TCP */
    memset(&cnt, 0, sizeof(cnt));
    run_session(env.host, env.port, &env, NULL, topic, payload, sizeof(payload));
    print_counters("tcp");
    CHECK(cnt.net_init >= 1, "network_init was not called through our port");
    CHECK(cnt.net_establish >= 1, "network_establish was not called through our port");
    CHECK(cnt.setopt_host >= 1, "network_setopt(HOST) was not called through our port");
    CHECK(cnt.net_deinit == cnt.net_init, "network_deinit called %lu times for %lu inits", cnt.net_deinit, cnt.net_init);
    CHECK(cnt.bytes_sent >= (unsigned long long)sizeof(payload) + topic_len + 4,
          "only %llu bytes sent for a %u-byte payload on a %u-byte topic", cnt.bytes_sent, (unsigned)sizeof(payload),
          (unsigned)topic_len);
    CHECK(cnt.bytes_sent >= 80 + sizeof(payload), "only %llu bytes sent (CONNECT + PUBLISH)", cnt.bytes_sent);
    CHECK(cnt.bytes_recv >= 8, "only %llu bytes received (CONNACK + PUBACK need 8)", cnt.bytes_recv);
    CHECK(cnt.time_calls > 0, "time was not called through our port");
    CHECK(cnt.rand_calls > 0, "rand was not called through our port");

    /* TLS through the same wrapped TCP functions */
    memset(&cnt, 0, sizeof(cnt));
    cred = demo_ca_cred(ca_pem);
    run_session(env.tls_host, env.tls_port, &env, &cred, topic, payload, sizeof(payload));
    print_counters("tls");
    CHECK(cnt.net_init >= 1 && cnt.net_establish >= 1, "TLS session did not use our network_init/establish");
    CHECK(cnt.net_deinit == cnt.net_init, "network_deinit called %lu times for %lu inits", cnt.net_deinit, cnt.net_init);
    CHECK(cnt.bytes_recv > 1000, "only %llu bytes received over TLS; the server handshake alone is larger",
          cnt.bytes_recv);
    CHECK(cnt.bytes_sent >= 80 + sizeof(payload) + 100, "only %llu bytes sent over TLS", cnt.bytes_sent);
    CHECK(cnt.time_calls > 0, "time was not called through our port (TLS)");

    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    free(ca_pem);
    demo_log("mqtt_portfile_demo: all checks passed");
    return 0;
}
