/*
 * MQTT over TLS, server verified against the test CA (AIOT_CA_FILE) and the host name
 * AIOT_TLS_HOST.
 *
 * Asserts: connect returns 0 and fires CONNECT once; SUBACK (res 0) with the SUBSCRIBE id;
 * QoS0 and QoS1 echoes come back through the topic handler with the right bytes and QoS;
 * the PUBACK carries the QoS1 id; disconnect fires DISCONNECT; deinit clears the handle.
 */
#include "demo_common.h"

static struct {
    int connect_events;
    int reconnect_events;
    int disconnect_events;
    int suback_count;
    uint16_t suback_id;
    int32_t suback_res;
    int puback_count;
    uint16_t puback_id;
    int echo_count;
    int echo_ok[2];
    uint8_t echo_qos[2];
} st;

static const char *g_payload[2] = {"tls qos0 payload", "tls qos1 payload \xff\x00 end"};
static const uint32_t g_payload_len[2] = {16, 23};

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
    }
    demo_log("event %u", (unsigned)event->type);
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_SUB_ACK) {
        st.suback_count++;
        st.suback_id = packet->data.sub_ack.packet_id;
        st.suback_res = packet->data.sub_ack.res;
    } else if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        st.puback_count++;
        st.puback_id = packet->data.pub_ack.packet_id;
    }
}

static void echo_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    int i;
    (void)handle;
    (void)userdata;
    if (packet->type != AIOT_MQTTRECV_PUB) {
        return;
    }
    for (i = 0; i < 2; i++) {
        if (demo_payload_is(packet, g_payload[i], g_payload_len[i])) {
            st.echo_ok[i]++;
            st.echo_qos[i] = packet->data.pub.qos;
        }
    }
    st.echo_count++;
}

int main(void)
{
    demo_env_t env;
    void *mqtt;
    char *ca_pem;
    aiot_sysdep_network_cred_t cred;
    char echo_topic[128];
    int32_t sub_id, pub_id;

    demo_env_load(&env);
    ca_pem = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    snprintf(echo_topic, sizeof(echo_topic), "/%s/%s/user/tls_echo", env.product_key, env.device_name);

    mqtt = demo_mqtt_new(env.tls_host, env.tls_port, &env, NULL, NULL);
    cred = demo_ca_cred(ca_pem);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_HANDLER, (void *)default_handler));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_EVENT_HANDLER, (void *)event_handler));

    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(st.connect_events == 1, "CONNECT events: %d, expected 1", st.connect_events);

    sub_id = CHECK_POS(aiot_mqtt_sub(mqtt, echo_topic, echo_handler, 1, NULL));
    RECV_UNTIL(mqtt, st.suback_count >= 1, 5000);
    CHECK(st.suback_id == sub_id && st.suback_res == 0, "SUBACK id %u res %d, expected id %d res 0",
          (unsigned)st.suback_id, (int)st.suback_res, (int)sub_id);

    CHECK_OK(aiot_mqtt_pub(mqtt, echo_topic, (uint8_t *)g_payload[0], g_payload_len[0], 0));
    pub_id = CHECK_POS(aiot_mqtt_pub(mqtt, echo_topic, (uint8_t *)g_payload[1], g_payload_len[1], 1));
    RECV_UNTIL(mqtt, st.puback_count >= 1 && st.echo_count >= 2, 5000);
    CHECK(st.puback_count == 1 && st.puback_id == pub_id, "PUBACK count %d id %u, expected 1 with id %d",
          st.puback_count, (unsigned)st.puback_id, (int)pub_id);
    CHECK(st.echo_count == 2, "echo messages: %d, expected 2", st.echo_count);
    CHECK(st.echo_ok[0] == 1 && st.echo_qos[0] == 0, "QoS0 echo: matched %d times, qos %u", st.echo_ok[0],
          (unsigned)st.echo_qos[0]);
    CHECK(st.echo_ok[1] == 1 && st.echo_qos[1] == 1, "QoS1 echo: matched %d times, qos %u", st.echo_ok[1],
          (unsigned)st.echo_qos[1]);

    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK(st.disconnect_events == 1, "DISCONNECT events: %d, expected 1", st.disconnect_events);
    CHECK(st.reconnect_events == 0, "unexpected RECONNECT");
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK(mqtt == NULL, "aiot_mqtt_deinit did not clear the handle");
    free(ca_pem);

    demo_log("mqtt_tls_demo: all checks passed");
    return 0;
}
