/*
 * TLS failures, all on one handle, followed by a good TLS connect on that same handle.
 *
 * Asserts: (a) an unrelated CA -> STATE_PORT_TLS_INVALID_HANDSHAKE; (b) the right CA but the
 * host 127.0.0.1 (not in the certificate) -> STATE_PORT_TLS_INVALID_HANDSHAKE, both with
 * upstream's line `mbedtls_ssl_handshake error, res: -0x2700` (verify failed); (c) a CA that
 * is not a parsable certificate -> STATE_PORT_TLS_INVALID_SERVER_CERT; (d) a PSK credential ->
 * some negative code (printed); none of them fires an event. Then the right CA and host name
 * connect (CONNECT fires once) and a QoS1 publish is acknowledged.
 */
#include "demo_common.h"

static int g_connect_events;
static int g_reconnect_events;
static int g_disconnect_events;
static int g_puback_count;
static uint16_t g_puback_id;

static void event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (event->type == AIOT_MQTTEVT_CONNECT) {
        g_connect_events++;
    } else if (event->type == AIOT_MQTTEVT_RECONNECT) {
        g_reconnect_events++;
    } else if (event->type == AIOT_MQTTEVT_DISCONNECT) {
        g_disconnect_events++;
    }
    demo_log("event %u", (unsigned)event->type);
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

static void no_events(const char *step)
{
    CHECK(g_connect_events == 0 && g_reconnect_events == 0 && g_disconnect_events == 0,
          "%s: events fired (connect %d, reconnect %d, disconnect %d)", step, g_connect_events,
          g_reconnect_events, g_disconnect_events);
}

static const char garbage_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "VGhpcyBpcyBub3QgYSBjZXJ0aWZpY2F0ZSwganVzdCBzb21lIGJhc2U2NCB0ZXh0\n"
    "IHRoYXQgZGVjb2RlcyB0byBwbGFpbiBFbmdsaXNoLCBub3QgdG8gREVSLg==\n"
    "-----END CERTIFICATE-----\n";

int main(void)
{
    demo_env_t env;
    void *mqtt;
    char *ca_pem, *wrong_ca_pem;
    aiot_sysdep_network_cred_t cred;
    char topic[128];
    uint32_t connect_timeout_ms = 5000;
    uint8_t payload[] = "tls works after the failures";
    int32_t rc, pub_id;
    char b[16];

    demo_env_load(&env);
    ca_pem = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    wrong_ca_pem = demo_read_file(demo_env("AIOT_WRONG_CA_FILE"), NULL);
    snprintf(topic, sizeof(topic), "/%s/%s/user/tls_fail", env.product_key, env.device_name);

    mqtt = demo_mqtt_new(env.tls_host, env.tls_port, &env, default_handler, event_handler);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_CONNECT_TIMEOUT_MS, &connect_timeout_ms));

    /* (a) a CA that did not sign the server certificate */
    demo_log("(a) wrong CA");
    cred = demo_ca_cred(wrong_ca_pem);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred));
    demo_log_forget();
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_PORT_TLS_INVALID_HANDSHAKE);
    CHECK(demo_log_seen(STATE_ADAPTER_COMMON, "mbedtls_ssl_handshake error, res: -0x2700\r\n"),
          "wrong CA: no upstream handshake line");
    no_events("wrong CA");

    /* (b) the right CA, but an IP literal the certificate does not name */
    demo_log("(b) right CA, host %s", env.host);
    cred = demo_ca_cred(ca_pem);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HOST, (void *)env.host));
    demo_log_forget();
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_PORT_TLS_INVALID_HANDSHAKE);
    CHECK(demo_log_seen(STATE_ADAPTER_COMMON, "mbedtls_ssl_handshake error, res: -0x2700\r\n"),
          "host name mismatch: no upstream handshake line");
    no_events("host name mismatch");
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, payload, sizeof(payload) - 1, 0), STATE_SYS_DEPEND_NWK_CLOSED);

    /* (c) PEM armour around bytes that are no certificate */
    demo_log("(c) unparsable CA");
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HOST, (void *)env.tls_host));
    cred = demo_ca_cred(garbage_pem);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred));
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_PORT_TLS_INVALID_SERVER_CERT);
    no_events("garbage CA");

    /* (d) PSK: refused one way or another */
    demo_log("(d) PSK credential");
    memset(&cred, 0, sizeof(cred));
    cred.option = AIOT_SYSDEP_NETWORK_CRED_SVRCERT_PSK;
    cred.max_tls_fragment = 16384;
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred));
    rc = CHECK_NEG(aiot_mqtt_connect(mqtt));
    demo_log("PSK connect returned %s (%d)", demo_code_str(rc, b), (int)rc);
    no_events("PSK");

    /* the same handle still connects with the right CA and host name */
    demo_log("right CA and host name");
    cred = demo_ca_cred(ca_pem);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(g_connect_events == 1 && g_reconnect_events == 0, "after the good connect: CONNECT %d, RECONNECT %d",
          g_connect_events, g_reconnect_events);
    pub_id = CHECK_POS(aiot_mqtt_pub(mqtt, topic, payload, sizeof(payload) - 1, 1));
    RECV_UNTIL(mqtt, g_puback_count >= 1, 5000);
    CHECK(g_puback_id == pub_id, "PUBACK id %u, expected %d", (unsigned)g_puback_id, (int)pub_id);

    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK(g_disconnect_events == 1, "DISCONNECT events: %d, expected 1", g_disconnect_events);
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK(mqtt == NULL, "aiot_mqtt_deinit did not clear the handle");
    free(ca_pem);
    free(wrong_ca_pem);

    demo_log("mqtt_tls_fail_demo: all checks passed");
    return 0;
}
