/*
 * Error paths of the MQTT API, first without a broker, then against it.
 *
 * Asserts the exact status codes for: NULL handles and arguments, out-of-range options and
 * QoS, over-long topics and payloads (and that the limits themselves are accepted), invalid
 * subscription filters, connecting without host / product key / device name / secret,
 * publishing before connecting, connecting to a closed port (negative code, no event), the
 * portfile getter before and after it is set, and that calls after deinit are refused.
 */
#include "demo_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int g_connect_events;
static int g_disconnect_events;

static void event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (event->type == AIOT_MQTTEVT_CONNECT || event->type == AIOT_MQTTEVT_RECONNECT) {
        g_connect_events++;
    } else if (event->type == AIOT_MQTTEVT_DISCONNECT) {
        g_disconnect_events++;
    }
    demo_log("event %u", (unsigned)event->type);
}

static void recv_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)packet;
    (void)userdata;
}

/* A local TCP port with nothing listening on it (bound once, then released). */
static uint16_t closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket() failed");
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind() failed");
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0, "getsockname() failed");
    close(fd);
    return ntohs(sa.sin_port);
}

static void null_handle_checks(void)
{
    uint8_t payload[4] = {1, 2, 3, 4};
    char topic[] = "/a/b";
    void *null_handle = NULL;
    uint16_t port = 1883;

    CHECK_RC(aiot_mqtt_setopt(NULL, AIOT_MQTTOPT_PORT, &port), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_connect(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_pub(NULL, topic, payload, sizeof(payload), 0), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_pub(NULL, topic, payload, sizeof(payload), 1), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_sub(NULL, topic, recv_handler, 0, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_unsub(NULL, topic), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_recv(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_process(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_disconnect(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);
}

static void argument_checks(void *mqtt, const char *pk, const char *dn)
{
    char topic[128], long_topic[129], max_topic[128];
    uint8_t small[8] = "payload";
    uint8_t *big;
    uint32_t one_mib = 1024u * 1024u;
    uint16_t dummy16 = 0;
    uint8_t bad_flag = 2;

    snprintf(topic, sizeof(topic), "/%s/%s/user/errors", pk, dn);

    /* NULL arguments on a valid handle */
    CHECK_RC(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HOST, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_HANDLER, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_pub(mqtt, NULL, small, sizeof(small), 0), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, NULL, 0, 0), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_sub(mqtt, NULL, recv_handler, 0, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_unsub(mqtt, NULL), STATE_USER_INPUT_NULL_POINTER);

    /* options out of range */
    CHECK_RC(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_MAX, &dummy16), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_MAX + 1, &dummy16), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_setopt(mqtt, 0xFFFFFFFFu, &dummy16), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_TOPIC_HEADER_CHECK, &bad_flag), STATE_USER_INPUT_OUT_RANGE);

    /* QoS 2 and empty topics */
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 2), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_sub(mqtt, topic, recv_handler, 2, NULL), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_pub(mqtt, "", small, sizeof(small), 0), STATE_USER_INPUT_OUT_RANGE);

    /* topic length: 128 characters is too long for pub, sub and unsub */
    memset(long_topic, 'a', 128);
    long_topic[0] = '/';
    long_topic[128] = '\0';
    CHECK_RC(aiot_mqtt_pub(mqtt, long_topic, small, sizeof(small), 0), STATE_MQTT_TOPIC_TOO_LONG);
    CHECK_RC(aiot_mqtt_pub(mqtt, long_topic, small, sizeof(small), 1), STATE_MQTT_TOPIC_TOO_LONG);
    CHECK_RC(aiot_mqtt_sub(mqtt, long_topic, recv_handler, 0, NULL), STATE_MQTT_TOPIC_TOO_LONG);
    CHECK_RC(aiot_mqtt_unsub(mqtt, long_topic), STATE_MQTT_TOPIC_TOO_LONG);
    /* 127 characters passes the length check (and then meets the missing connection) */
    memset(max_topic, 'b', 127);
    max_topic[0] = '/';
    max_topic[127] = '\0';
    CHECK_RC(aiot_mqtt_pub(mqtt, max_topic, small, sizeof(small), 0), STATE_SYS_DEPEND_NWK_CLOSED);

    /* payload length: 1 MiB is the largest accepted */
    big = calloc(1, one_mib + 1);
    CHECK(big != NULL, "out of memory");
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, big, one_mib + 1, 0), STATE_MQTT_PUB_PAYLOAD_TOO_LONG);
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, big, one_mib + 1, 1), STATE_MQTT_PUB_PAYLOAD_TOO_LONG);
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, big, 0xFFFFFFFFu, 0), STATE_MQTT_PUB_PAYLOAD_TOO_LONG);
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, big, one_mib, 0), STATE_SYS_DEPEND_NWK_CLOSED);
    free(big);

    /* invalid subscription filters */
    CHECK_RC(aiot_mqtt_sub(mqtt, "a/b", recv_handler, 0, NULL), STATE_MQTT_TOPIC_INVALID);
    CHECK_RC(aiot_mqtt_sub(mqtt, "/a/b#", recv_handler, 0, NULL), STATE_MQTT_TOPIC_INVALID);
    CHECK_RC(aiot_mqtt_sub(mqtt, "/a/#/b", recv_handler, 0, NULL), STATE_MQTT_TOPIC_INVALID);
    CHECK_RC(aiot_mqtt_sub(mqtt, "/a/b+", recv_handler, 0, NULL), STATE_MQTT_TOPIC_INVALID);
    CHECK_RC(aiot_mqtt_sub(mqtt, "/a/+b/c", recv_handler, 0, NULL), STATE_MQTT_TOPIC_INVALID);
    CHECK_RC(aiot_mqtt_unsub(mqtt, "a/b"), STATE_MQTT_TOPIC_INVALID);
    CHECK_RC(aiot_mqtt_unsub(mqtt, "/a/b#"), STATE_MQTT_TOPIC_INVALID);
    {
        aiot_mqtt_topic_map_t map;
        memset(&map, 0, sizeof(map));
        map.topic = "no/leading/slash";
        map.handler = recv_handler;
        CHECK_RC(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_APPEND_TOPIC_MAP, &map), STATE_MQTT_TOPIC_INVALID);
    }

    /* publishing before any connection */
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 0), STATE_SYS_DEPEND_NWK_CLOSED);
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 1), STATE_SYS_DEPEND_NWK_CLOSED);
}

int main(void)
{
    demo_env_t env;
    void *mqtt;
    uint16_t port;
    uint16_t nothing_port;
    uint32_t timeout_ms = 3000;
    uint8_t small[4] = {9, 8, 7, 6};
    char topic[128];
    int32_t rc;
    char b[16];

    demo_env_load(&env);
    snprintf(topic, sizeof(topic), "/%s/%s/user/errors", env.product_key, env.device_name);

    /* the log callback setter always succeeds */
    CHECK_OK(aiot_state_set_logcb(demo_logcb));

    /* no port yet: nothing can be created */
    CHECK(aiot_sysdep_get_portfile() == NULL, "aiot_sysdep_get_portfile() is not NULL before it is set");
    CHECK(aiot_mqtt_init() == NULL, "aiot_mqtt_init() succeeded without a portfile");
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    CHECK(aiot_sysdep_get_portfile() != NULL, "aiot_sysdep_get_portfile() is NULL after it was set");

    null_handle_checks();

    mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "aiot_mqtt_init returned NULL");
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_EVENT_HANDLER, (void *)event_handler));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_HANDLER, (void *)recv_handler));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_CONNECT_TIMEOUT_MS, &timeout_ms));

    argument_checks(mqtt, env.product_key, env.device_name);

    /* missing connection parameters, checked in order host, pk, dn, ds */
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_USER_INPUT_MISSING_HOST);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HOST, (void *)env.host));
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_USER_INPUT_MISSING_PRODUCT_KEY);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PRODUCT_KEY, (void *)env.product_key));
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_USER_INPUT_MISSING_DEVICE_NAME);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_NAME, (void *)env.device_name));
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_USER_INPUT_MISSING_DEVICE_SECRET);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_SECRET, (void *)env.device_secret));

    /* a port with nothing listening: a negative code, no event */
    nothing_port = closed_port();
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PORT, &nothing_port));
    rc = CHECK_NEG(aiot_mqtt_connect(mqtt));
    demo_log("connect to closed port %u returned %s", (unsigned)nothing_port, demo_code_str(rc, b));
    CHECK(g_connect_events == 0 && g_disconnect_events == 0, "events fired on a failed connect");
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 0), STATE_SYS_DEPEND_NWK_CLOSED);

    /* now against the broker: connect works, argument errors are unchanged */
    port = env.port;
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PORT, &port));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(g_connect_events == 1, "CONNECT events: %d, expected 1", g_connect_events);
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 2), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_sub(mqtt, "a/b", recv_handler, 0, NULL), STATE_MQTT_TOPIC_INVALID);
    CHECK_RC(aiot_mqtt_sub(mqtt, "/a/b#", recv_handler, 0, NULL), STATE_MQTT_TOPIC_INVALID);
    CHECK_OK(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 0));
    CHECK_POS(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 1));
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK(g_disconnect_events == 1, "DISCONNECT events: %d, expected 1", g_disconnect_events);
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 0), STATE_SYS_DEPEND_NWK_CLOSED);

    /* deinit clears the handle; the cleared handle is refused */
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK(mqtt == NULL, "aiot_mqtt_deinit did not clear the handle");
    CHECK_RC(aiot_mqtt_deinit(&mqtt), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_USER_INPUT_NULL_POINTER);

    demo_log("mqtt_api_errors_demo: all checks passed");
    return 0;
}
