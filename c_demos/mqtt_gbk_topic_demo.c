/*
 * Topics are bytes, as upstream's SDK treats them.
 *
 * Part 1, GBK: mosquitto (like the MQTT 3.1.1 text) refuses topics that are not UTF-8 and drops
 * the client, so a small echo broker inside this program (127.0.0.1, a thread) stands in: it
 * acknowledges CONNECT, SUBSCRIBE, PUBLISH and UNSUBSCRIBE and sends every PUBLISH back
 * unchanged. A topic whose last level is GBK ("测试" = B2 E2 CA D4) is subscribed, published
 * (QoS1) and received.
 * Part 2, UTF-8 Chinese topic, against the real mosquitto of the platform: the same round trip.
 *
 * Asserts: the SUBSCRIBE and PUBLISH on the wire carry exactly the topic bytes (length prefix
 * in bytes, no U+FFFD); the subscribed handler and a topic-map handler on the same topic both
 * get exactly those bytes (topic_len in bytes) and the payload; the PUBACK arrives; unsub
 * succeeds.
 */
#include "demo_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static char g_topic[128];
static size_t g_topic_len;
static int g_sub_hits, g_map_hits, g_wrong_topic, g_pubacks;

/* ---------------------------------------------------------------- the echo broker */

static int g_listen_fd = -1;
static uint16_t g_echo_port;
static struct {
    int subscribe_topic_ok; /* a SUBSCRIBE carried exactly g_topic */
    int publish_topic_ok;   /* a PUBLISH carried exactly g_topic */
    int packets;
} g_wire;

static int read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n <= 0) {
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* Reads one frame: its first byte, its body (up to cap bytes) and the body length. */
static int read_frame(int fd, uint8_t *first, uint8_t *body, size_t cap, size_t *len)
{
    uint8_t b;
    size_t remaining = 0;
    int shift = 0, i;
    if (read_full(fd, first, 1) != 0) {
        return -1;
    }
    for (i = 0; i < 4; i++) {
        if (read_full(fd, &b, 1) != 0) {
            return -1;
        }
        remaining |= (size_t)(b & 0x7F) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            break;
        }
    }
    if (remaining > cap || read_full(fd, body, remaining) != 0) {
        return -1;
    }
    *len = remaining;
    return 0;
}

static int topic_at(const uint8_t *p, size_t avail)
{
    size_t n;
    if (avail < 2) {
        return 0;
    }
    n = ((size_t)p[0] << 8) | p[1];
    return n == g_topic_len && n + 2 <= avail && memcmp(p + 2, g_topic, n) == 0;
}

static void *echo_broker(void *arg)
{
    uint8_t body[1024], out[1100], first;
    size_t len;
    int fd = accept(g_listen_fd, NULL, NULL);
    struct timeval tv = {20, 0};
    (void)arg;
    if (fd < 0) {
        return NULL;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (read_frame(fd, &first, body, sizeof(body), &len) == 0) {
        uint8_t reply[5];
        size_t reply_len = 0;
        g_wire.packets++;
        switch (first & 0xF0) {
        case 0x10: /* CONNECT */
            reply[0] = 0x20, reply[1] = 2, reply[2] = 0, reply[3] = 0, reply_len = 4;
            break;
        case 0x80: /* SUBSCRIBE: id, topic, qos */
            g_wire.subscribe_topic_ok |= len >= 2 && topic_at(body + 2, len - 2);
            reply[0] = 0x90, reply[1] = 3, reply[2] = body[0], reply[3] = body[1], reply[4] = 1, reply_len = 5;
            break;
        case 0xA0: /* UNSUBSCRIBE */
            reply[0] = 0xB0, reply[1] = 2, reply[2] = body[0], reply[3] = body[1], reply_len = 4;
            break;
        case 0x30: /* PUBLISH: acknowledge (QoS1), then send it back unchanged */
            g_wire.publish_topic_ok |= topic_at(body, len);
            if (first & 0x02) {
                size_t n = len >= 2 ? (((size_t)body[0] << 8) | body[1]) + 2 : 0;
                if (n + 2 <= len) {
                    uint8_t ack[4] = {0x40, 2, body[n], body[n + 1]};
                    (void)!send(fd, ack, 4, 0);
                }
            }
            if (len < 128) {
                out[0] = first;
                out[1] = (uint8_t)len;
                memcpy(out + 2, body, len);
                (void)!send(fd, out, len + 2, 0);
            }
            break;
        case 0xC0: /* PINGREQ */
            reply[0] = 0xD0, reply[1] = 0, reply_len = 2;
            break;
        case 0xE0: /* DISCONNECT */
            close(fd);
            return NULL;
        default:
            break;
        }
        if (reply_len > 0) {
            (void)!send(fd, reply, reply_len, 0);
        }
    }
    close(fd);
    return NULL;
}

static void start_echo_broker(pthread_t *tid)
{
    g_listen_fd = demo_loopback_socket(1, &g_echo_port);
    CHECK(pthread_create(tid, NULL, echo_broker, NULL) == 0, "pthread_create failed");
}

/* ---------------------------------------------------------------- handlers */

static void check_topic(const aiot_mqtt_recv_t *packet, int *hits)
{
    if (packet->type != AIOT_MQTTRECV_PUB) {
        return;
    }
    if (packet->data.pub.topic_len == g_topic_len && memcmp(packet->data.pub.topic, g_topic, g_topic_len) == 0 &&
        demo_payload_is(packet, "bytes", 5)) {
        (*hits)++;
    } else {
        g_wrong_topic++;
    }
}

static void sub_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    check_topic(packet, &g_sub_hits);
}

static void map_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    check_topic(packet, &g_map_hits);
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        g_pubacks++;
    } else if (packet->type == AIOT_MQTTRECV_PUB) {
        g_wrong_topic++;
    }
}

/* subscribe + topic map, publish QoS1, receive it back byte for byte, unsubscribe */
static void roundtrip(const char *label, const char *host, uint16_t port, const demo_env_t *env)
{
    aiot_mqtt_topic_map_t map;
    uint32_t recv_timeout_ms = 200;
    void *mqtt = demo_mqtt_new(host, port, env, default_handler, NULL);

    g_topic_len = strlen(g_topic);
    g_sub_hits = g_map_hits = g_wrong_topic = g_pubacks = 0;
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));
    memset(&map, 0, sizeof(map));
    map.topic = g_topic;
    map.handler = map_handler;
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_APPEND_TOPIC_MAP, &map));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK_POS(aiot_mqtt_sub(mqtt, g_topic, sub_handler, 1, NULL));
    RECV_FOR(mqtt, 300);
    CHECK_POS(aiot_mqtt_pub(mqtt, g_topic, (uint8_t *)"bytes", 5, 1));
    RECV_UNTIL(mqtt, g_sub_hits >= 1 && g_map_hits >= 1 && g_pubacks >= 1, 10000);
    demo_log("%s: topic of %u bytes back byte for byte: subscribed handler %d, topic map %d, wrong %d, PUBACKs %d",
             label, (unsigned)g_topic_len, g_sub_hits, g_map_hits, g_wrong_topic, g_pubacks);
    CHECK(g_wrong_topic == 0, "%s: %d messages came with other topic bytes", label, g_wrong_topic);
    {
        /* The log callback gets the topic's own bytes too, as upstream's "%s" passes them. */
        char want[200];
        snprintf(want, sizeof(want), "pub: %s\r\n", g_topic);
        CHECK(demo_log_seen(STATE_MQTT_LOG_TOPIC, want), "%s: no [LK-0309] pub line with the topic's bytes", label);
        snprintf(want, sizeof(want), "sub: %s\r\n", g_topic);
        CHECK(demo_log_seen(STATE_MQTT_LOG_TOPIC, want), "%s: no [LK-0309] sub line with the topic's bytes", label);
    }
    CHECK_POS(aiot_mqtt_unsub(mqtt, g_topic));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_REMOVE_TOPIC_MAP, &map));
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
}

int main(void)
{
    demo_env_t env;
    pthread_t broker;

    demo_env_load(&env);

    /* 1. GBK through the echo broker */
    start_echo_broker(&broker);
    snprintf(g_topic, sizeof(g_topic), "/%s/%s/user/\xb2\xe2\xca\xd4", env.product_key, env.device_name);
    roundtrip("GBK", "127.0.0.1", g_echo_port, &env);
    pthread_join(broker, NULL);
    close(g_listen_fd);
    CHECK(g_wire.subscribe_topic_ok, "no SUBSCRIBE carried the exact topic bytes");
    CHECK(g_wire.publish_topic_ok, "no PUBLISH carried the exact topic bytes");

    /* 2. UTF-8 Chinese through mosquitto */
    snprintf(g_topic, sizeof(g_topic), "/%s/%s/user/\xe6\xb5\x8b\xe8\xaf\x95", env.product_key, env.device_name);
    roundtrip("UTF-8", env.host, env.port, &env);

    demo_log("mqtt_gbk_topic_demo: all checks passed");
    return 0;
}
