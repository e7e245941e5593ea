/*
 * Basic MQTT session over plain TCP, receive loop driven from the main thread.
 *
 * Asserts: one CONNECT event; SUBSCRIBE id > 0 and its SUBACK (res 0) in the default handler;
 * QoS0 and QoS1 echoes reach the topic handler with the right bytes and QoS, the QoS1 PUBACK
 * carries the publish's id; UNSUBSCRIBE id + UNSUBACK, nothing delivered afterwards; a local
 * topic map and a wildcard subscription both fire for one message (and only the subscription
 * after the map is removed); disconnect fires DISCONNECT; deinit clears the handle.
 */
#include "demo_common.h"

#define MAX_SEEN 16

typedef struct {
    char topic[128];
    char payload[128];
    uint32_t payload_len;
    uint8_t qos;
} seen_msg_t;

static struct {
    int connect_events;
    int reconnect_events;
    int disconnect_events;
    uint32_t last_disconnect_reason;

    int suback_count;
    uint16_t suback_id;
    int32_t suback_res;
    int unsuback_count;
    uint16_t unsuback_id;
    int puback_count;
    uint16_t puback_id;
    int default_pub_count;

    seen_msg_t echo[MAX_SEEN];
    int echo_count;
    int map_count;
    int wild_count;
    char map_payload[64];
    char wild_payload[64];
} st;

static void copy_pub(seen_msg_t *m, const aiot_mqtt_recv_t *packet)
{
    uint32_t topic_len = packet->data.pub.topic_len;
    uint32_t payload_len = packet->data.pub.payload_len;
    uint32_t tl = topic_len < sizeof(m->topic) - 1 ? topic_len : (uint32_t)sizeof(m->topic) - 1;
    uint32_t pl = payload_len < sizeof(m->payload) - 1 ? payload_len : (uint32_t)sizeof(m->payload) - 1;
    memcpy(m->topic, packet->data.pub.topic, tl);
    m->topic[tl] = '\0';
    memcpy(m->payload, packet->data.pub.payload, pl);
    m->payload[pl] = '\0';
    m->payload_len = payload_len;
    m->qos = packet->data.pub.qos;
}

static void event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    switch (event->type) {
    case AIOT_MQTTEVT_CONNECT:
        st.connect_events++;
        demo_log("event: CONNECT");
        break;
    case AIOT_MQTTEVT_RECONNECT:
        st.reconnect_events++;
        demo_log("event: RECONNECT");
        break;
    case AIOT_MQTTEVT_DISCONNECT:
        st.disconnect_events++;
        st.last_disconnect_reason = event->data.disconnect;
        demo_log("event: DISCONNECT (reason %u)", (unsigned)event->data.disconnect);
        break;
    default:
        demo_log("event: unknown type %u", (unsigned)event->type);
        break;
    }
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    switch (packet->type) {
    case AIOT_MQTTRECV_SUB_ACK:
        st.suback_count++;
        st.suback_id = packet->data.sub_ack.packet_id;
        st.suback_res = packet->data.sub_ack.res;
        demo_log("SUBACK id=%u res=%d max_qos=%u", (unsigned)packet->data.sub_ack.packet_id,
                 (int)packet->data.sub_ack.res, (unsigned)packet->data.sub_ack.max_qos);
        break;
    case AIOT_MQTTRECV_UNSUB_ACK:
        st.unsuback_count++;
        st.unsuback_id = packet->data.unsub_ack.packet_id;
        demo_log("UNSUBACK id=%u", (unsigned)packet->data.unsub_ack.packet_id);
        break;
    case AIOT_MQTTRECV_PUB_ACK:
        st.puback_count++;
        st.puback_id = packet->data.pub_ack.packet_id;
        demo_log("PUBACK id=%u", (unsigned)packet->data.pub_ack.packet_id);
        break;
    case AIOT_MQTTRECV_PUB:
        st.default_pub_count++;
        demo_log("default handler got a PUBLISH on %.*s", (int)packet->data.pub.topic_len,
                 packet->data.pub.topic);
        break;
    case AIOT_MQTTRECV_HEARTBEAT_RESPONSE:
        break;
    default:
        demo_log("default handler: unknown packet type %u", (unsigned)packet->type);
        break;
    }
}

static void echo_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    CHECK(userdata == (void *)&st, "topic handler got userdata %p, expected %p", userdata, (void *)&st);
    CHECK(packet->type == AIOT_MQTTRECV_PUB, "topic handler got packet type %u", (unsigned)packet->type);
    CHECK(st.echo_count < MAX_SEEN, "too many echo messages");
    copy_pub(&st.echo[st.echo_count], packet);
    demo_log("echo handler: topic=%s qos=%u payload='%s'", st.echo[st.echo_count].topic,
             (unsigned)st.echo[st.echo_count].qos, st.echo[st.echo_count].payload);
    st.echo_count++;
}

static void map_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    uint32_t n;
    (void)handle;
    (void)userdata;
    CHECK(packet->type == AIOT_MQTTRECV_PUB, "map handler got packet type %u", (unsigned)packet->type);
    n = packet->data.pub.payload_len < sizeof(st.map_payload) - 1 ? packet->data.pub.payload_len
                                                                  : (uint32_t)sizeof(st.map_payload) - 1;
    memcpy(st.map_payload, packet->data.pub.payload, n);
    st.map_payload[n] = '\0';
    st.map_count++;
    demo_log("topic-map handler: %.*s '%s'", (int)packet->data.pub.topic_len, packet->data.pub.topic,
             st.map_payload);
}

static void wild_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    uint32_t n;
    (void)handle;
    (void)userdata;
    CHECK(packet->type == AIOT_MQTTRECV_PUB, "wildcard handler got packet type %u", (unsigned)packet->type);
    n = packet->data.pub.payload_len < sizeof(st.wild_payload) - 1 ? packet->data.pub.payload_len
                                                                   : (uint32_t)sizeof(st.wild_payload) - 1;
    memcpy(st.wild_payload, packet->data.pub.payload, n);
    st.wild_payload[n] = '\0';
    st.wild_count++;
    demo_log("wildcard handler: %.*s '%s'", (int)packet->data.pub.topic_len, packet->data.pub.topic,
             st.wild_payload);
}

static void check_echo(int idx, const char *topic, const char *payload, uint8_t qos)
{
    const seen_msg_t *m = &st.echo[idx];
    CHECK(strcmp(m->topic, topic) == 0, "echo %d: topic '%s', expected '%s'", idx, m->topic, topic);
    CHECK(m->payload_len == strlen(payload) && memcmp(m->payload, payload, m->payload_len) == 0,
          "echo %d: payload '%s' (%u bytes), expected '%s'", idx, m->payload, (unsigned)m->payload_len, payload);
    CHECK(m->qos == qos, "echo %d: qos %u, expected %u", idx, (unsigned)m->qos, (unsigned)qos);
}

int main(void)
{
    demo_env_t env;
    void *mqtt;
    char echo_topic[128], map_filter[128], wild_filter[128], map_topic[128];
    const char *p0 = "hello qos0 \x01\x02 bytes";
    const char *p1 = "hello qos1 {\"n\":1}";
    const char *p_after = "after unsubscribe";
    const char *p_map = "one message, two handlers";
    const char *p_map2 = "after the map is gone";
    aiot_mqtt_topic_map_t map;
    int32_t sub_id, pub_id, unsub_id, wild_id, late_id;
    uint32_t recv_timeout_ms = 200;

    demo_env_load(&env);
    snprintf(echo_topic, sizeof(echo_topic), "/%s/%s/user/echo", env.product_key, env.device_name);
    snprintf(map_filter, sizeof(map_filter), "/%s/%s/user/+", env.product_key, env.device_name);
    snprintf(wild_filter, sizeof(wild_filter), "/%s/%s/#", env.product_key, env.device_name);
    snprintf(map_topic, sizeof(map_topic), "/%s/%s/user/map", env.product_key, env.device_name);

    mqtt = demo_mqtt_new(env.host, env.port, &env, default_handler, event_handler);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_USERDATA, (void *)&st));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));

    /* connect: exactly one CONNECT event, fired inside aiot_mqtt_connect */
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(st.connect_events == 1, "CONNECT events: %d, expected 1", st.connect_events);
    CHECK(st.reconnect_events == 0 && st.disconnect_events == 0, "unexpected RECONNECT/DISCONNECT event");

    /* subscribe with a topic handler: id > 0, SUBACK with that id in the default handler */
    sub_id = CHECK_POS(aiot_mqtt_sub(mqtt, echo_topic, echo_handler, 1, NULL));
    RECV_UNTIL(mqtt, st.suback_count >= 1, 5000);
    CHECK(st.suback_count == 1, "SUBACKs: %d, expected 1", st.suback_count);
    CHECK(st.suback_id == sub_id, "SUBACK id %u, expected %d", (unsigned)st.suback_id, (int)sub_id);
    CHECK(st.suback_res == 0, "SUBACK res %d, expected 0", (int)st.suback_res);

    /* QoS0 then QoS1 to the subscribed topic */
    CHECK_OK(aiot_mqtt_pub(mqtt, echo_topic, (uint8_t *)p0, (uint32_t)strlen(p0), 0));
    pub_id = CHECK_POS(aiot_mqtt_pub(mqtt, echo_topic, (uint8_t *)p1, (uint32_t)strlen(p1), 1));
    CHECK(pub_id != sub_id, "QoS1 publish reused the SUBSCRIBE packet id %d", (int)pub_id);
    RECV_UNTIL(mqtt, st.puback_count >= 1 && st.echo_count >= 2, 5000);
    CHECK(st.puback_count == 1, "PUBACKs: %d, expected 1", st.puback_count);
    CHECK(st.puback_id == pub_id, "PUBACK id %u, expected %d", (unsigned)st.puback_id, (int)pub_id);
    CHECK(st.echo_count == 2, "echo messages: %d, expected 2", st.echo_count);
    check_echo(0, echo_topic, p0, 0);
    check_echo(1, echo_topic, p1, 1);
    CHECK(st.default_pub_count == 0, "default handler saw %d PUBLISH packets, expected 0", st.default_pub_count);

    /* unsubscribe: id > 0 and its UNSUBACK; a later publish is not delivered */
    unsub_id = CHECK_POS(aiot_mqtt_unsub(mqtt, echo_topic));
    CHECK(unsub_id != pub_id && unsub_id != sub_id, "UNSUBSCRIBE reused packet id %d", (int)unsub_id);
    RECV_UNTIL(mqtt, st.unsuback_count >= 1, 5000);
    CHECK(st.unsuback_id == unsub_id, "UNSUBACK id %u, expected %d", (unsigned)st.unsuback_id, (int)unsub_id);
    late_id = CHECK_POS(aiot_mqtt_pub(mqtt, echo_topic, (uint8_t *)p_after, (uint32_t)strlen(p_after), 1));
    RECV_UNTIL(mqtt, st.puback_count >= 2, 5000);
    CHECK(st.puback_id == late_id, "PUBACK id %u, expected %d", (unsigned)st.puback_id, (int)late_id);
    RECV_FOR(mqtt, 1000);
    CHECK(st.echo_count == 2, "a message arrived after UNSUBSCRIBE (echo count %d)", st.echo_count);
    CHECK(st.default_pub_count == 0, "default handler saw a PUBLISH after UNSUBSCRIBE");

    /* a local topic map and a wildcard subscription both match one message */
    memset(&map, 0, sizeof(map));
    map.topic = map_filter;
    map.handler = map_handler;
    map.userdata = NULL;
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_APPEND_TOPIC_MAP, &map));
    wild_id = CHECK_POS(aiot_mqtt_sub(mqtt, wild_filter, wild_handler, 1, NULL));
    RECV_UNTIL(mqtt, st.suback_count >= 2, 5000);
    CHECK(st.suback_id == wild_id && st.suback_res == 0, "wildcard SUBACK id %u res %d, expected id %d res 0",
          (unsigned)st.suback_id, (int)st.suback_res, (int)wild_id);
    CHECK_OK(aiot_mqtt_pub(mqtt, map_topic, (uint8_t *)p_map, (uint32_t)strlen(p_map), 0));
    RECV_UNTIL(mqtt, st.map_count >= 1 && st.wild_count >= 1, 5000);
    RECV_FOR(mqtt, 300);
    CHECK(st.map_count == 1 && st.wild_count == 1, "map handler ran %d times, wildcard handler %d times; expected 1 and 1",
          st.map_count, st.wild_count);
    CHECK(strcmp(st.map_payload, p_map) == 0, "map handler payload '%s'", st.map_payload);
    CHECK(strcmp(st.wild_payload, p_map) == 0, "wildcard handler payload '%s'", st.wild_payload);
    CHECK(st.default_pub_count == 0, "default handler ran although topic handlers matched");

    /* removing the map leaves only the subscription's handler */
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_REMOVE_TOPIC_MAP, &map));
    CHECK_OK(aiot_mqtt_pub(mqtt, map_topic, (uint8_t *)p_map2, (uint32_t)strlen(p_map2), 0));
    RECV_UNTIL(mqtt, st.wild_count >= 2, 5000);
    RECV_FOR(mqtt, 300);
    CHECK(st.map_count == 1 && st.wild_count == 2, "after REMOVE_TOPIC_MAP: map %d, wildcard %d; expected 1 and 2",
          st.map_count, st.wild_count);
    CHECK(strcmp(st.wild_payload, p_map2) == 0, "wildcard handler payload '%s'", st.wild_payload);
    CHECK(st.echo_count == 2, "echo handler ran after UNSUBSCRIBE");

    /* disconnect: returns 0, fires DISCONNECT; the session is then closed */
    CHECK(st.disconnect_events == 0, "DISCONNECT before aiot_mqtt_disconnect");
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK(st.disconnect_events == 1, "DISCONNECT events: %d, expected 1", st.disconnect_events);
    CHECK(st.last_disconnect_reason == AIOT_MQTTDISCONNEVT_NETWORK_DISCONNECT, "DISCONNECT reason %u",
          (unsigned)st.last_disconnect_reason);
    CHECK_RC(aiot_mqtt_pub(mqtt, echo_topic, (uint8_t *)p0, (uint32_t)strlen(p0), 0), STATE_SYS_DEPEND_NWK_CLOSED);
    CHECK(st.reconnect_events == 0, "RECONNECT after a user disconnect");

    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK(mqtt == NULL, "aiot_mqtt_deinit did not clear the handle");

    demo_log("mqtt_basic_demo: all checks passed");
    return 0;
}
