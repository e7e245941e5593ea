/*
 * Error paths of the MQTT API, first without a broker, then against it.
 *
 * Asserts the exact status codes for: NULL handles and arguments, out-of-range options and
 * QoS, over-long topics and payloads (and that the limits themselves are accepted), invalid
 * subscription filters, connecting without host / product key / device name / secret,
 * publishing, subscribing and unsubscribing before connecting (the last two use up a packet
 * id, as upstream's do), connecting to a closed port (no event), TLS to a plain MQTT server and
 * to a plain HTTP server (upstream's codes and `mbedtls_ssl_handshake error` lines), the
 * portfile getter before and after it is set, and that calls after deinit are refused.
 */
#include "demo_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
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
    uint16_t port;
    close(demo_loopback_socket(0, &port));
    return port;
}

/* A plain HTTP server on 127.0.0.1 that answers one connection with a 400, the way a web
 * server answers a TLS ClientHello. */
static int g_http_fd = -1;

static void set_timeout(int fd, int ms)
{
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void *http_400_server(void *arg)
{
    static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    char buf[2048];
    int fd;
    (void)arg;
    set_timeout(g_http_fd, 5000);
    fd = accept(g_http_fd, NULL, NULL);
    if (fd >= 0) {
        /* Read the whole ClientHello first, so that closing does not reset the connection. */
        set_timeout(fd, 300);
        while (recv(fd, buf, sizeof(buf), 0) > 0) {
        }
        (void)send(fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        set_timeout(fd, 3000);
        while (recv(fd, buf, sizeof(buf), 0) > 0) {
        }
        close(fd);
    }
    return NULL;
}

static uint16_t http_400_start(pthread_t *thread)
{
    uint16_t port;
    g_http_fd = demo_loopback_socket(1, &port);
    CHECK(pthread_create(thread, NULL, http_400_server, NULL) == 0, "pthread_create failed");
    return port;
}

/* TLS towards servers that do not speak it: upstream's codes and adapter lines (mbedTLS
 * -0x4c: the peer closed during the handshake; -0x7200: the answer is no TLS record). */
static void tls_to_plain_servers(void *mqtt, const demo_env_t *env)
{
    aiot_sysdep_network_cred_t cred = demo_ca_cred(ali_ca_cert);
    uint16_t port = env->port;
    pthread_t http;

    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PORT, &port));
    demo_log_forget();
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_PORT_TLS_INVALID_HANDSHAKE);
    CHECK(demo_log_seen(STATE_ADAPTER_COMMON, "mbedtls_ssl_handshake error, res: -0x4c\r\n"),
          "no upstream handshake line for a plain MQTT server");

    port = http_400_start(&http);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PORT, &port));
    demo_log_forget();
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_PORT_TLS_INVALID_RECORD);
    CHECK(demo_log_seen(STATE_ADAPTER_COMMON, "mbedtls_ssl_handshake error, res: -0x7200\r\n"),
          "no upstream handshake line for a plain HTTP server");
    CHECK(pthread_join(http, NULL) == 0, "pthread_join failed");
    close(g_http_fd);

    /* back to plain TCP */
    memset(&cred, 0, sizeof(cred));
    cred.option = AIOT_SYSDEP_NETWORK_CRED_NONE;
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred));
}

static void null_handle_checks(void)
{
    uint8_t payload[4] = {1, 2, 3, 4};
    char topic[] = "/a/b";
    char long_topic[129];
    void *null_handle = NULL;
    uint16_t port = 1883;

    memset(long_topic, 'a', 128);
    long_topic[0] = '/';
    long_topic[128] = '\0';

    CHECK_RC(aiot_mqtt_setopt(NULL, AIOT_MQTTOPT_PORT, &port), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_connect(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_pub(NULL, topic, payload, sizeof(payload), 0), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_pub(NULL, topic, payload, sizeof(payload), 1), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_sub(NULL, topic, recv_handler, 0, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_unsub(NULL, topic), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_recv(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_process(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_disconnect(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_heartbeat(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);
    /* sub and unsub check the topic's length before the handle; pub checks the handle first */
    CHECK_RC(aiot_mqtt_sub(NULL, long_topic, recv_handler, 0, NULL), STATE_MQTT_TOPIC_TOO_LONG);
    CHECK_RC(aiot_mqtt_unsub(NULL, long_topic), STATE_MQTT_TOPIC_TOO_LONG);
    CHECK_RC(aiot_mqtt_pub(NULL, long_topic, payload, sizeof(payload), 0), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_sub(NULL, NULL, recv_handler, 0, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_unsub(NULL, NULL), STATE_USER_INPUT_NULL_POINTER);
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
    CHECK_RC(aiot_mqtt_heartbeat(mqtt), STATE_SYS_DEPEND_NWK_CLOSED);
    CHECK_RC(aiot_mqtt_process(mqtt), STATE_SYS_DEPEND_NWK_CLOSED); /* the first call pings */
    CHECK_OK(aiot_mqtt_process(mqtt));                              /* the next is not due */
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    /* subscribing and unsubscribing fail too, each using up a packet id (1 and 2) */
    CHECK_RC(aiot_mqtt_sub(mqtt, topic, recv_handler, 0, NULL), STATE_SYS_DEPEND_NWK_CLOSED);
    CHECK_RC(aiot_mqtt_unsub(mqtt, topic), STATE_SYS_DEPEND_NWK_CLOSED);
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
    rc = CHECK_RC(aiot_mqtt_connect(mqtt), STATE_PORT_NETWORK_CONNECT_FAILED);
    demo_log("connect to closed port %u returned %s", (unsigned)nothing_port, demo_code_str(rc, b));
    CHECK(g_connect_events == 0 && g_disconnect_events == 0, "events fired on a failed connect");
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 0), STATE_SYS_DEPEND_NWK_CLOSED);

    tls_to_plain_servers(mqtt, &env);
    CHECK(g_connect_events == 0 && g_disconnect_events == 0, "events fired on a failed TLS connect");

    /* now against the broker: connect works, argument errors are unchanged */
    port = env.port;
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PORT, &port));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(g_connect_events == 1, "CONNECT events: %d, expected 1", g_connect_events);
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 2), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_mqtt_sub(mqtt, "a/b", recv_handler, 0, NULL), STATE_MQTT_TOPIC_INVALID);
    CHECK_RC(aiot_mqtt_sub(mqtt, "/a/b#", recv_handler, 0, NULL), STATE_MQTT_TOPIC_INVALID);
    CHECK_OK(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 0));
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 1), 3); /* ids 1 and 2 went to sub/unsub */
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK(g_disconnect_events == 1, "DISCONNECT events: %d, expected 1", g_disconnect_events);
    CHECK_RC(aiot_mqtt_pub(mqtt, topic, small, sizeof(small), 0), STATE_SYS_DEPEND_NWK_CLOSED);

    /* the broker closes the connection on a PUBLISH to a wildcard (upstream's pub does not
     * check its topic): recv returns the port's code for the closed socket */
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK_OK(aiot_mqtt_pub(mqtt, "/a/+", small, sizeof(small), 0));
    rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = aiot_mqtt_recv(mqtt);
    }
    CHECK_RC(rc, STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED);
    CHECK_OK(aiot_mqtt_disconnect(mqtt));

    /* deinit clears the handle; the cleared handle is refused */
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK(mqtt == NULL, "aiot_mqtt_deinit did not clear the handle");
    CHECK_RC(aiot_mqtt_deinit(&mqtt), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_USER_INPUT_NULL_POINTER);

    demo_log("mqtt_api_errors_demo: all checks passed");
    return 0;
}
