/*
 * Authentication failures against the broker (plain TCP).
 *
 * Asserts: a wrong device secret, the second device's secret with the first device's name,
 * and the first device's secret with the second device's name are each refused with
 * STATE_MQTT_CONNACK_RCODE_NOT_AUTHORIZED and fire no event; then the right secret connects
 * on the same handle (one CONNECT event, a QoS1 publish is acknowledged), and the second
 * device connects with its own credentials on a second handle at the same time.
 */
#include "demo_common.h"

typedef struct {
    const char *name;
    int connect_events;
    int reconnect_events;
    int disconnect_events;
    int puback_count;
    uint16_t puback_id;
} session_t;

static void event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    session_t *s = (session_t *)userdata;
    (void)handle;
    if (event->type == AIOT_MQTTEVT_CONNECT) {
        s->connect_events++;
    } else if (event->type == AIOT_MQTTEVT_RECONNECT) {
        s->reconnect_events++;
    } else if (event->type == AIOT_MQTTEVT_DISCONNECT) {
        s->disconnect_events++;
    }
    demo_log("%s: event %u", s->name, (unsigned)event->type);
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    session_t *s = (session_t *)userdata;
    (void)handle;
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        s->puback_count++;
        s->puback_id = packet->data.pub_ack.packet_id;
    }
}

static void *new_session(session_t *s, const demo_env_t *env)
{
    void *mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "aiot_mqtt_init returned NULL");
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HOST, (void *)env->host));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PORT, (void *)&env->port));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PRODUCT_KEY, (void *)env->product_key));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_HANDLER, (void *)default_handler));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_EVENT_HANDLER, (void *)event_handler));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_USERDATA, s));
    return mqtt;
}

/* Sets name and secret (the secret last, which forces fresh credentials). */
static void set_identity(void *mqtt, const char *dn, const char *ds)
{
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_NAME, (void *)dn));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_SECRET, (void *)ds));
}

static void no_events(const session_t *s, const char *step)
{
    CHECK(s->connect_events == 0 && s->reconnect_events == 0 && s->disconnect_events == 0,
          "%s: events fired (connect %d, reconnect %d, disconnect %d)", step, s->connect_events,
          s->reconnect_events, s->disconnect_events);
}

static void qos1_roundtrip(void *mqtt, session_t *s, const char *pk, const char *dn)
{
    char topic[128];
    uint8_t payload[] = "authenticated";
    int32_t id;
    int before = s->puback_count;
    snprintf(topic, sizeof(topic), "/%s/%s/user/auth", pk, dn);
    id = CHECK_POS(aiot_mqtt_pub(mqtt, topic, payload, sizeof(payload) - 1, 1));
    RECV_UNTIL(mqtt, s->puback_count > before, 5000);
    CHECK(s->puback_id == id, "%s: PUBACK id %u, expected %d", s->name, (unsigned)s->puback_id, (int)id);
}

int main(void)
{
    demo_env_t env;
    const char *dn2, *ds2;
    char wrong_secret[256];
    session_t s1, s2;
    void *m1, *m2;
    size_t n;

    demo_env_load(&env);
    dn2 = demo_env("AIOT_DEVICE_NAME2");
    ds2 = demo_env("AIOT_DEVICE_SECRET2");
    CHECK(strcmp(env.device_secret, ds2) != 0, "the two devices share a secret; the test needs distinct ones");

    /* the right secret with its last character changed */
    n = strlen(env.device_secret);
    CHECK(n > 0 && n < sizeof(wrong_secret), "device secret of unexpected length %u", (unsigned)n);
    memcpy(wrong_secret, env.device_secret, n + 1);
    wrong_secret[n - 1] = (char)(wrong_secret[n - 1] == 'x' ? 'y' : 'x');

    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    CHECK_OK(aiot_state_set_logcb(demo_logcb));

    memset(&s1, 0, sizeof(s1));
    memset(&s2, 0, sizeof(s2));
    s1.name = "device1";
    s2.name = "device2";
    m1 = new_session(&s1, &env);

    demo_log("wrong device secret");
    set_identity(m1, env.device_name, wrong_secret);
    CHECK_RC(aiot_mqtt_connect(m1), STATE_MQTT_CONNACK_RCODE_NOT_AUTHORIZED);
    no_events(&s1, "wrong secret");

    demo_log("device 2's secret with device 1's name");
    set_identity(m1, env.device_name, ds2);
    CHECK_RC(aiot_mqtt_connect(m1), STATE_MQTT_CONNACK_RCODE_NOT_AUTHORIZED);
    no_events(&s1, "device 2's secret");

    demo_log("device 1's secret with device 2's name");
    set_identity(m1, dn2, env.device_secret);
    CHECK_RC(aiot_mqtt_connect(m1), STATE_MQTT_CONNACK_RCODE_NOT_AUTHORIZED);
    no_events(&s1, "device 2's name");

    demo_log("the right credentials");
    set_identity(m1, env.device_name, env.device_secret);
    CHECK_OK(aiot_mqtt_connect(m1));
    CHECK(s1.connect_events == 1 && s1.reconnect_events == 0 && s1.disconnect_events == 0,
          "after the good connect: CONNECT %d, RECONNECT %d, DISCONNECT %d", s1.connect_events,
          s1.reconnect_events, s1.disconnect_events);
    qos1_roundtrip(m1, &s1, env.product_key, env.device_name);

    demo_log("device 2 with its own credentials");
    m2 = new_session(&s2, &env);
    set_identity(m2, dn2, ds2);
    CHECK_OK(aiot_mqtt_connect(m2));
    CHECK(s2.connect_events == 1, "device 2: CONNECT events %d, expected 1", s2.connect_events);
    qos1_roundtrip(m2, &s2, env.product_key, dn2);
    /* device 1 is still connected */
    qos1_roundtrip(m1, &s1, env.product_key, env.device_name);

    CHECK_OK(aiot_mqtt_disconnect(m2));
    CHECK_OK(aiot_mqtt_disconnect(m1));
    CHECK(s1.disconnect_events == 1 && s2.disconnect_events == 1, "DISCONNECT events: %d and %d, expected 1 each",
          s1.disconnect_events, s2.disconnect_events);
    CHECK_OK(aiot_mqtt_deinit(&m2));
    CHECK_OK(aiot_mqtt_deinit(&m1));
    CHECK(m1 == NULL && m2 == NULL, "aiot_mqtt_deinit did not clear the handles");

    demo_log("mqtt_auth_fail_demo: all checks passed");
    return 0;
}
