/*
 * The HTTP uplink, in the shape of upstream's http_basic_demo.c (init, HOST/PORT/NETWORK_CRED,
 * device triple, RECV_HANDLER and EVENT_HANDLER whose TOKEN_INVALID case re-runs
 * aiot_http_auth from inside the callback, auth, a property post with aiot_http_send +
 * aiot_http_recv, deinit), run by `aiot-platform exec` against the platform's /auth and
 * /topic endpoints. One mode per run:
 *
 *   ok      auth over HTTPS (the LK-0410 line shows the answer with the token masked); a
 *           device connected with the MQTT core subscribes to its property post topic and gets
 *           each payload posted over HTTP; recv calls back status 200, the header lines
 *           (Content-Length among them), then the body with code 0; with LONG_CONNECTION 1
 *           (default) auth and two posts share one connection, with 0 each call makes its own
 *           (counted from the port's "success to establish tcp" lines); then plain HTTP with
 *           no credential at all (EXTEND_DEVINFO set).
 *   token   after `aiot-platform prov expire-token`, a post is answered 20001: the event handler
 *           gets TOKEN_INVALID before the body, re-authenticates from inside the callback
 *           (0), and the next post goes through.
 *   errors  the API's codes and their order (NULL handle/data/topic/payload, option range,
 *           missing product key/device name/device secret/host, send before auth, recv
 *           without a connection, an empty payload, deinit), a wrong device secret
 *           (answer code 10000 without a token: STATE_HTTP_AUTH_TOKEN_FAILED), a wrong CA
 *           (STATE_PORT_TLS_INVALID_HANDSHAKE); a post to another device's topic is answered
 *           30001 (recv 0, no event).
 *   hostile every hostile answer of `aiot-platform prov fault --on auth|topic`: each ends in
 *           upstream's code with no token kept and no callback with garbage, then a normal
 *           exchange works.
 *
 * Every mode checks that no log line shows the device secret or the token.
 */
#include "demo_common.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aiot_http_api.h"

#define BODY_MAX 256

static const char *g_device_secret;
static void *g_handle;
static int g_userdata_ok = 1;
static int g_status_calls, g_header_calls, g_body_calls, g_events;
static uint32_t g_status;
static int g_saw_length;
static char g_body[BODY_MAX];
static int g_body_len;
static int g_event_before_body;
static int g_reauth_in_callback = 1; /* the event handler re-runs auth */
static int32_t g_reauth_rc = 1;
static int g_connects;
static int g_mqtt_pubs;
static int g_suback;
static char g_expect_payload[128];

static int32_t checking_logcb(int32_t code, char *message)
{
    if (g_device_secret != NULL && strstr(message, g_device_secret) != NULL) {
        demo_fail(__FILE__, __LINE__, "a log line shows the device secret: %s", message);
    }
    if (strstr(message, "success to establish tcp") != NULL) {
        g_connects++;
    }
    return demo_logcb(code, message);
}

/* The same handler as upstream's demo, plus bookkeeping. */
static void demo_http_event_handler(void *handle, const aiot_http_event_t *event, void *userdata)
{
    if (handle != g_handle || userdata != (void *)&g_status) {
        g_userdata_ok = 0;
    }
    if (event->type == AIOT_HTTPEVT_TOKEN_INVALID) {
        g_events++;
        g_event_before_body = (g_body_calls == 0);
        demo_log("token invalid, invoke aiot_http_auth to get new token");
        if (g_reauth_in_callback) {
            g_reauth_rc = aiot_http_auth(handle);
            demo_log("aiot_http_auth in callback, res = %d", (int)g_reauth_rc);
        }
    }
}

static void demo_http_recv_handler(void *handle, const aiot_http_recv_t *packet, void *userdata)
{
    if (handle != g_handle || userdata != (void *)&g_status) {
        g_userdata_ok = 0;
    }
    switch (packet->type) {
    case AIOT_HTTPRECV_STATUS_CODE:
        g_status_calls++;
        g_status = packet->data.status_code.code;
        break;
    case AIOT_HTTPRECV_HEADER:
        CHECK(packet->data.header.key != NULL && packet->data.header.value != NULL, "header without text");
        g_header_calls++;
        if (strcmp(packet->data.header.key, "Content-Length") == 0) {
            g_saw_length = 1;
        }
        break;
    case AIOT_HTTPRECV_BODY:
        g_body_calls++;
        CHECK(packet->data.body.len < BODY_MAX && packet->data.body.buffer != NULL, "body of %u bytes",
              (unsigned)packet->data.body.len);
        memcpy(g_body, packet->data.body.buffer, packet->data.body.len);
        g_body_len = (int)packet->data.body.len;
        g_body[g_body_len] = '\0';
        demo_log("body: %s", g_body);
        break;
    default:
        demo_fail(__FILE__, __LINE__, "unknown data type %u", (unsigned)packet->type);
    }
}

static void reset_answers(void)
{
    g_status_calls = g_header_calls = g_body_calls = g_events = 0;
    g_status = 0;
    g_saw_length = 0;
    g_body[0] = '\0';
    g_body_len = 0;
    g_event_before_body = 0;
    g_reauth_rc = 1;
}

static void mqtt_recv_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_SUB_ACK) {
        g_suback++;
    }
    if (packet->type == AIOT_MQTTRECV_PUB &&
        demo_payload_is(packet, g_expect_payload, (uint32_t)strlen(g_expect_payload))) {
        g_mqtt_pubs++;
    }
}

/* Runs `$AIOT_PLATFORM <args>` (fork + exec) within 20 s; its exit status or -1. */
static int run_platform(char *const args[])
{
    uint64_t dl = demo_deadline(20000);
    int status = 0;
    pid_t child;

    fflush(stdout);
    child = fork();
    if (child < 0) {
        return -1;
    }
    if (child == 0) {
        execv(args[0], args);
        _exit(127);
    }
    for (;;) {
        pid_t r = waitpid(child, &status, WNOHANG);
        if (r == child) {
            break;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (demo_expired(dl)) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            return -1;
        }
        demo_sleep_ms(20);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int expire_tokens(const char *pk, const char *dn)
{
    char device[160];
    char *args[] = {(char *)demo_env("AIOT_PLATFORM"), "prov", "expire-token", "--state-dir",
                    (char *)demo_env("AIOT_STATE_DIR"), "--device", device, NULL};
    snprintf(device, sizeof(device), "%s/%s", pk, dn);
    return run_platform(args);
}

static int arm_fault(const char *kind, const char *on, unsigned long size)
{
    char size_text[24];
    char *args[] = {(char *)demo_env("AIOT_PLATFORM"), "prov", "fault", "--state-dir",
                    (char *)demo_env("AIOT_STATE_DIR"), "--on", (char *)on, "--size", size_text,
                    (char *)kind, NULL};
    snprintf(size_text, sizeof(size_text), "%lu", size);
    return run_platform(args);
}

/* A handle set up as upstream's demo does (cred may be NULL: plain TCP). */
static void *new_uplink(const char *host, uint16_t port, const aiot_sysdep_network_cred_t *cred, const demo_env_t *env,
                        const char *ds)
{
    void *h = aiot_http_init();
    CHECK(h != NULL, "aiot_http_init returned NULL");
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_HOST, (void *)host));
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_PORT, (void *)&port));
    if (cred != NULL) {
        CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_NETWORK_CRED, (void *)cred));
    }
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_PRODUCT_KEY, (void *)env->product_key));
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_DEVICE_NAME, (void *)env->device_name));
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_DEVICE_SECRET, (void *)ds));
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_RECV_HANDLER, (void *)demo_http_recv_handler));
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_EVENT_HANDLER, (void *)demo_http_event_handler));
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_USERDATA, (void *)&g_status));
    g_handle = h;
    reset_answers();
    return h;
}

/* One property post (send + recv); returns recv's code. */
static int32_t post(void *h, const char *topic, const char *data)
{
    int32_t rc;
    reset_answers();
    snprintf(g_expect_payload, sizeof(g_expect_payload), "%s", data);
    CHECK_OK(aiot_http_send(h, (char *)topic, (uint8_t *)data, (uint32_t)strlen(data)));
    rc = aiot_http_recv(h);
    CHECK(g_userdata_ok, "a handler got another handle or userdata");
    return rc;
}

static void expect_success_answer(const char *what)
{
    CHECK(g_status_calls == 1 && g_status == 200, "%s: status calls %d (%u)", what, g_status_calls,
          (unsigned)g_status);
    CHECK(g_header_calls >= 1 && g_saw_length, "%s: %d header calls, Content-Length seen %d", what, g_header_calls,
          g_saw_length);
    CHECK(g_body_calls == 1 && strstr(g_body, "\"code\":0") != NULL && strstr(g_body, "messageId") != NULL,
          "%s: body calls %d: %s", what, g_body_calls, g_body);
    CHECK(g_events == 0, "%s: %d events", what, g_events);
}

static void run_ok(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred, const char *host, uint16_t port)
{
    char topic[160], data[96];
    uint8_t no_long = 0;
    int connects, i;
    void *mqtt, *h;

    /* the subscriber: the same device over MQTT (TLS), subscribed to its property post topic */
    snprintf(topic, sizeof(topic), "/sys/%s/%s/thing/event/property/post", env->product_key, env->device_name);
    mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "aiot_mqtt_init returned NULL");
    demo_mqtt_set_device(mqtt, env->tls_host, env->tls_port, env->product_key, env->device_name, env->device_secret);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, (void *)cred));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_HANDLER, (void *)mqtt_recv_handler));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK_POS(aiot_mqtt_sub(mqtt, topic, NULL, 1, NULL));
    RECV_UNTIL(mqtt, g_suback == 1, 5000);

    connects = g_connects;
    h = new_uplink(host, port, cred, env, env->device_secret);
    CHECK_OK(aiot_http_auth(h));
    demo_log("aiot_http_auth succeed");
    CHECK(demo_log_seen(STATE_HTTP_LOG_AUTH, "\"code\":0") && demo_log_seen(STATE_HTTP_LOG_AUTH, "********"),
          "no LK-0410 line with the masked token");
    for (i = 0; i < 2; i++) {
        snprintf(data, sizeof(data), "{\"id\":\"%d\",\"version\":\"1.0\",\"params\":{\"LightSwitch\":%d}}", i + 1, i);
        g_mqtt_pubs = 0;
        CHECK_OK(post(h, topic, data));
        expect_success_answer("long connection");
        CHECK(demo_log_seen(STATE_HTTP_LOG_SEND_HEADER, "> Password: ") &&
                  demo_log_seen(STATE_HTTP_LOG_SEND_HEADER, "********"),
              "the Password request line is not logged masked");
        RECV_UNTIL(mqtt, g_mqtt_pubs == 1, 5000);
        demo_log("the subscriber got post %d", i + 1);
    }
    CHECK(g_connects - connects == 1, "long connection: %d connections for auth and two posts",
          g_connects - connects);

    /* a new connection per call, each request saying Connection: close */
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_LONG_CONNECTION, (void *)&no_long));
    connects = g_connects;
    CHECK_OK(aiot_http_auth(h));
    for (i = 0; i < 2; i++) {
        snprintf(data, sizeof(data), "{\"id\":\"%d\",\"version\":\"1.0\",\"params\":{\"LightSwitch\":1}}", i + 10);
        g_mqtt_pubs = 0;
        CHECK_OK(post(h, topic, data));
        expect_success_answer("short connections");
        RECV_UNTIL(mqtt, g_mqtt_pubs == 1, 5000);
    }
    CHECK(g_connects - connects == 3, "no long connection: %d connections for auth and two posts",
          g_connects - connects);
    CHECK_OK(aiot_http_deinit(&h));
    CHECK(h == NULL, "aiot_http_deinit did not clear the handle");

    /* plain HTTP with no credential at all, extend devinfo in the auth query */
    h = new_uplink("127.0.0.1", demo_env_port("AIOT_AUTH_HTTP_PORT"), NULL, env, env->device_secret);
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_EXTEND_DEVINFO, (void *)"pid=demo&mid=demo"));
    CHECK_OK(aiot_http_auth(h));
    CHECK(demo_log_seen(STATE_HTTP_LOG_SEND_HEADER, "POST /auth?_v=sdk-c-4.2.0&pid=demo&mid=demo HTTP/1.1"),
          "auth request line not logged as expected");
    g_mqtt_pubs = 0;
    CHECK_OK(post(h, topic, "{\"id\":\"20\",\"version\":\"1.0\",\"params\":{\"LightSwitch\":0}}"));
    expect_success_answer("plain HTTP");
    RECV_UNTIL(mqtt, g_mqtt_pubs == 1, 5000);
    CHECK_OK(aiot_http_deinit(&h));

    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
}

static void run_token(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred, const char *host, uint16_t port)
{
    char topic[160];
    const char *data = "{\"id\":\"1\",\"version\":\"1.0\",\"params\":{\"LightSwitch\":0}}";
    void *h = new_uplink(host, port, cred, env, env->device_secret);

    snprintf(topic, sizeof(topic), "/sys/%s/%s/thing/event/property/post", env->product_key, env->device_name);
    CHECK_OK(aiot_http_auth(h));
    CHECK_OK(post(h, topic, data));
    expect_success_answer("fresh token");

    CHECK(expire_tokens(env->product_key, env->device_name) == 0, "prov expire-token failed");
    CHECK_OK(post(h, topic, data));
    CHECK(g_status == 200 && g_events == 1 && g_event_before_body, "expired token: %d events (before the body: %d)",
          g_events, g_event_before_body);
    CHECK(g_reauth_rc == STATE_SUCCESS, "aiot_http_auth in the event handler returned %d", (int)g_reauth_rc);
    CHECK(g_body_calls == 1 && strstr(g_body, "\"code\":20001") != NULL, "expired token body: %s", g_body);

    CHECK_OK(post(h, topic, data));
    expect_success_answer("after the re-auth");
    CHECK_OK(aiot_http_deinit(&h));
}

static void run_errors(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred,
                       const aiot_sysdep_network_cred_t *wrong_cred, const char *host, uint16_t port)
{
    uint32_t one = 1;
    uint8_t data[] = "x";
    char topic[160], other[160];
    void *h, *null_handle = NULL;

    snprintf(topic, sizeof(topic), "/sys/%s/%s/thing/event/property/post", env->product_key, env->device_name);
    CHECK_RC(aiot_http_setopt(NULL, AIOT_HTTPOPT_HOST, (void *)"x"), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_http_auth(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_http_send(NULL, topic, data, 1), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_http_recv(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_http_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_http_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);

    h = aiot_http_init();
    CHECK(h != NULL, "aiot_http_init returned NULL");
    CHECK_RC(aiot_http_setopt(h, AIOT_HTTPOPT_HOST, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_http_setopt(h, AIOT_HTTPOPT_MAX, &one), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_http_setopt(h, 0x7fffffff, &one), STATE_USER_INPUT_OUT_RANGE);
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_HEADER_BUFFER_LEN, &one));
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_BODY_BUFFER_LEN, &one));
    CHECK_RC(aiot_http_recv(h), STATE_SYS_DEPEND_NWK_CLOSED);
    CHECK_RC(aiot_http_send(h, NULL, data, 1), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_http_send(h, topic, NULL, 1), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_http_send(h, topic, data, 0), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_http_send(h, topic, data, 1), STATE_HTTP_NEED_AUTH);
    CHECK_RC(aiot_http_auth(h), STATE_USER_INPUT_MISSING_PRODUCT_KEY);
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_PRODUCT_KEY, (void *)env->product_key));
    CHECK_RC(aiot_http_auth(h), STATE_USER_INPUT_MISSING_DEVICE_NAME);
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_DEVICE_NAME, (void *)env->device_name));
    CHECK_RC(aiot_http_auth(h), STATE_USER_INPUT_MISSING_DEVICE_SECRET);
    CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_DEVICE_SECRET, (void *)env->device_secret));
    CHECK_RC(aiot_http_auth(h), STATE_USER_INPUT_MISSING_HOST);
    CHECK_OK(aiot_http_deinit(&h));
    CHECK(h == NULL, "aiot_http_deinit did not clear the handle");

    demo_log("wrong device secret");
    h = new_uplink(host, port, cred, env, "wrongDeviceSecret0123456789abcdef");
    CHECK_RC(aiot_http_auth(h), STATE_HTTP_AUTH_TOKEN_FAILED);
    CHECK_RC(aiot_http_send(h, topic, data, 1), STATE_HTTP_NEED_AUTH);
    CHECK_OK(aiot_http_deinit(&h));

    demo_log("wrong CA");
    h = new_uplink(host, port, wrong_cred, env, env->device_secret);
    CHECK_RC(aiot_http_auth(h), STATE_PORT_TLS_INVALID_HANDSHAKE);
    CHECK_RC(aiot_http_recv(h), STATE_SYS_DEPEND_NWK_CLOSED);
    CHECK_OK(aiot_http_deinit(&h));

    demo_log("another device's topic");
    h = new_uplink(host, port, cred, env, env->device_secret);
    CHECK_OK(aiot_http_auth(h));
    snprintf(other, sizeof(other), "/%s/someone-else/user/update", env->product_key);
    CHECK_OK(post(h, other, "{}"));
    CHECK(g_status == 200 && g_events == 0 && g_body_calls == 1 && strstr(g_body, "\"code\":30001") != NULL,
          "another device's topic: events %d, body %s", g_events, g_body);
    /* recv with no request pending: nothing to read */
    CHECK_RC(aiot_http_recv(h), STATE_HTTP_RECV_NOT_FINISHED);
    CHECK_OK(aiot_http_deinit(&h));
}

/* One hostile answer: the fault, where, and what auth (or send + recv) must return. */
struct hostile_case {
    const char *kind;
    const char *on; /* "auth" or "topic" */
    int plain;      /* over plain HTTP */
    int32_t rc;     /* auth's, or recv's for topic */
    int body_calls; /* topic: BODY callbacks */
};

static void run_hostile(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred, const char *host, uint16_t port)
{
    static const struct hostile_case cases[] = {
        {"bad-json", "auth", 0, STATE_HTTP_AUTH_TOKEN_FAILED, 0},
        {"no-secret", "auth", 0, STATE_HTTP_AUTH_TOKEN_FAILED, 0},
        {"huge-secret", "auth", 0, STATE_HTTP_AUTH_NOT_EXPECTED, 0},
        {"status-500", "auth", 0, STATE_HTTP_AUTH_CODE_FAILED, 0},
        {"short-body", "auth", 0, STATE_PORT_TLS_RECV_CONNECTION_CLOSED, 0},
        {"short-body", "auth", 1, STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED, 0},
        {"no-length", "auth", 0, STATE_HTTP_READ_BODY_EMPTY, 0},
        {"not-http", "auth", 0, STATE_HTTP_HEADER_INVALID, 0},
        {"not-http", "auth", 1, STATE_HTTP_HEADER_INVALID, 0},
        {"long-body", "auth", 0, STATE_SUCCESS, 0},
        {"bad-json", "topic", 0, STATE_SUCCESS, 1},
        {"no-secret", "topic", 0, STATE_SUCCESS, 1},
        {"huge-secret", "topic", 0, STATE_HTTP_RECV_NOT_FINISHED, 0},
        {"status-500", "topic", 0, STATE_SUCCESS, 1},
        {"short-body", "topic", 0, STATE_PORT_TLS_RECV_CONNECTION_CLOSED, 0},
        {"no-length", "topic", 0, STATE_HTTP_READ_BODY_EMPTY, 0},
        {"not-http", "topic", 0, STATE_HTTP_HEADER_INVALID, 0},
        {"long-body", "topic", 0, STATE_SUCCESS, 1},
    };
    uint16_t plain_port = demo_env_port("AIOT_AUTH_HTTP_PORT");
    uint32_t timeout_ms = 2000;
    uint8_t no_long = 0;
    char topic[160], b[16];
    size_t i;

    snprintf(topic, sizeof(topic), "/sys/%s/%s/thing/event/property/post", env->product_key, env->device_name);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hostile_case *c = &cases[i];
        int topic_case = strcmp(c->on, "topic") == 0;
        int32_t rc;
        void *h = c->plain ? new_uplink("127.0.0.1", plain_port, NULL, env, env->device_secret)
                           : new_uplink(host, port, cred, env, env->device_secret);
        /* one connection per call: the fault is taken by the request that opens a connection */
        CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_LONG_CONNECTION, &no_long));
        CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_AUTH_TIMEOUT_MS, &timeout_ms));
        CHECK_OK(aiot_http_setopt(h, AIOT_HTTPOPT_RECV_TIMEOUT_MS, &timeout_ms));
        CHECK(arm_fault(c->kind, c->on, 1024 * 1024) == 0, "prov fault %s --on %s failed", c->kind, c->on);
        if (topic_case) {
            /* a fault armed for /topic leaves /auth alone */
            CHECK_OK(aiot_http_auth(h));
            reset_answers();
            CHECK_OK(aiot_http_send(h, topic, (uint8_t *)"{}", 2));
            rc = aiot_http_recv(h);
        } else {
            rc = aiot_http_auth(h);
        }
        demo_log("%s on %s (%s): %s, body calls %d, events %d", c->kind, c->on, c->plain ? "HTTP" : "HTTPS",
                 demo_code_str(rc, b), g_body_calls, g_events);
        CHECK_RC(rc, c->rc);
        CHECK(g_events == 0 && g_userdata_ok, "%s: %d events", c->kind, g_events);
        if (topic_case) {
            CHECK(g_body_calls == c->body_calls, "%s on topic: %d body calls", c->kind, g_body_calls);
        } else if (c->rc != STATE_SUCCESS) {
            /* no token kept */
            CHECK_RC(aiot_http_send(h, topic, (uint8_t *)"{}", 2), STATE_HTTP_NEED_AUTH);
        }
        /* every fault taken: the handle works normally */
        CHECK_OK(aiot_http_auth(h));
        CHECK_OK(post(h, topic, "{\"id\":\"1\",\"version\":\"1.0\",\"params\":{\"LightSwitch\":0}}"));
        expect_success_answer(c->kind);
        CHECK_OK(aiot_http_deinit(&h));
    }
}

int main(int argc, char **argv)
{
    demo_env_t env;
    aiot_sysdep_network_cred_t cred, wrong_cred;
    char *ca_pem, *wrong_ca_pem;
    const char *mode = argc > 1 ? argv[1] : "ok";
    const char *host;
    uint16_t port;

    demo_watchdog(strcmp(mode, "hostile") == 0 ? 200 : 60, "http_basic_demo", 3);
    demo_env_load(&env);
    host = demo_env("AIOT_AUTH_HOST");
    port = demo_env_port("AIOT_AUTH_PORT");
    g_device_secret = env.device_secret;
    ca_pem = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    wrong_ca_pem = demo_read_file(demo_env("AIOT_WRONG_CA_FILE"), NULL);
    cred = demo_ca_cred(ca_pem);
    wrong_cred = demo_ca_cred(wrong_ca_pem);

    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    CHECK_OK(aiot_state_set_logcb(checking_logcb));

    if (strcmp(mode, "ok") == 0) {
        run_ok(&env, &cred, host, port);
    } else if (strcmp(mode, "token") == 0) {
        run_token(&env, &cred, host, port);
    } else if (strcmp(mode, "errors") == 0) {
        run_errors(&env, &cred, &wrong_cred, host, port);
    } else if (strcmp(mode, "hostile") == 0) {
        run_hostile(&env, &cred, host, port);
    } else {
        demo_fail(__FILE__, __LINE__, "unknown mode %s (ok, token, errors, hostile)", mode);
    }

    free(ca_pem);
    free(wrong_ca_pem);
    demo_watchdog(0, "http_basic_demo", 3);
    demo_log("http_basic_demo %s: all checks passed", mode);
    return 0;
}
