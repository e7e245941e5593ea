/*
 * Dynamic registration over MQTT, in the shape of upstream's dynregmq_basic_demo.c
 * (init, options, send_request, recv, the answer in the callback, deinit), run by
 * `aiot-platform exec` against the platform's registration endpoint over TLS. One mode per run:
 *
 *   wl      whitelist: AIOT_REG_DEVICE_NAME gets its device secret, which then connects with the
 *           MQTT core and gets a QoS1 publish acknowledged;
 *   nwl     no whitelist: a name the platform does not know gets client id, user name and
 *           password, which connect likewise;
 *   errors  the API's error codes and order (send_request's checks, recv before a request,
 *           setopt, deinit), then the platform's refusals: wrong product secret, unknown device
 *           (whitelist), already activated device (CONNACK 5 -> STATE_MQTT_CONNACK_RCODE_NOT_
 *           AUTHORIZED), wrong CA (STATE_PORT_TLS_INVALID_HANDSHAKE), no credential
 *           (STATE_USER_INPUT_NULL_POINTER), no receive handler (the answer is not taken:
 *           STATE_DYNREGMQ_AUTH_TIMEOUT);
 *   hostile every hostile MQTT answer `aiot-platform prov fault` can arm, on /ext/register and
 *           /ext/regnwl: bad JSON and missing fields are ignored (no callback; recv ends when the
 *           platform closes the session: STATE_PORT_TLS_RECV_CONNECTION_CLOSED), a 1 MiB secret / clientId and token is a whole answer
 *           (checked in place), a 2 MiB one is more than the client takes (the session is
 *           closed: STATE_MQTT_MALFORMED_REMAINING_LEN, no callback); then a normal
 *           registration works.
 *
 * Every mode checks that no log line shows the product secret or a received secret/token.
 */
#include "demo_common.h"

#include "aiot_dynregmq_api.h"

/* What recv returns after an answer that is ignored: the platform closes the TLS session. */
#define HOSTILE_IGNORED_RC STATE_PORT_TLS_RECV_CONNECTION_CLOSED

static char g_device_secret[128];
static char g_clientid[256];
static char g_username[128];
static char g_password[128];
static int g_answers;
static void *g_handle;
static int g_userdata_ok = 1;
static int g_connected;
static int g_puback;

/* Secrets that must never reach a log line. */
static const char *g_secrets[4];

static int32_t checking_logcb(int32_t code, char *message)
{
    int i;
    for (i = 0; i < 4; i++) {
        if (g_secrets[i] != NULL && g_secrets[i][0] != '\0' && strstr(message, g_secrets[i]) != NULL) {
            demo_fail(__FILE__, __LINE__, "a log line shows a secret: %s", message);
        }
    }
    return demo_logcb(code, message);
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    CHECK(src != NULL && strlen(src) < cap, "answer text missing or too long");
    memcpy(dst, src, strlen(src) + 1);
}

static int g_big_answer;
static size_t g_big_len;

/* A huge answer, checked in place: each text all `c` and as long as the others. */
static void check_big(const char *text, const char *c)
{
    size_t n;
    CHECK(text != NULL, "answer text missing");
    n = strspn(text, c);
    CHECK(text[n] == '\0', "huge answer text is not all '%s'", c);
    g_big_len = n;
}

static void dynregmq_recv_handler(void *handle, const aiot_dynregmq_recv_t *packet, void *userdata)
{
    if (handle != g_handle || userdata != (void *)&g_answers) {
        g_userdata_ok = 0;
    }
    if (g_big_answer) {
        if (packet->type == AIOT_DYNREGMQRECV_DEVICEINFO_WL) {
            check_big(packet->data.deviceinfo_wl.device_secret, "s");
        } else if (packet->type == AIOT_DYNREGMQRECV_DEVICEINFO_NWL) {
            check_big(packet->data.deviceinfo_nwl.password, "t");
            CHECK(strncmp(packet->data.deviceinfo_nwl.clientid, "ccc", 3) == 0 &&
                      strspn(packet->data.deviceinfo_nwl.clientid, "c") == g_big_len,
                  "huge client id");
        } else {
            demo_fail(__FILE__, __LINE__, "unknown answer type %u", (unsigned)packet->type);
        }
        g_answers++;
        return;
    }
    switch (packet->type) {
    case AIOT_DYNREGMQRECV_DEVICEINFO_WL:
        copy_text(g_device_secret, sizeof(g_device_secret), packet->data.deviceinfo_wl.device_secret);
        demo_log("device secret: (%u characters)", (unsigned)strlen(g_device_secret));
        break;
    case AIOT_DYNREGMQRECV_DEVICEINFO_NWL:
        copy_text(g_clientid, sizeof(g_clientid), packet->data.deviceinfo_nwl.clientid);
        copy_text(g_username, sizeof(g_username), packet->data.deviceinfo_nwl.username);
        copy_text(g_password, sizeof(g_password), packet->data.deviceinfo_nwl.password);
        demo_log("clientid: %s", g_clientid);
        demo_log("username: %s", g_username);
        demo_log("password: (%u characters)", (unsigned)strlen(g_password));
        break;
    default:
        demo_fail(__FILE__, __LINE__, "unknown answer type %u", (unsigned)packet->type);
    }
    g_answers++;
}

static void mqtt_event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (event->type == AIOT_MQTTEVT_CONNECT) {
        g_connected++;
    }
}

static void mqtt_recv_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        g_puback++;
    }
}

/* A registration handle with upstream's demo options: host, port, pk, ps, dn, CA, handler. */
static void *new_request(const char *host, uint16_t port, const char *pk, const char *ps, const char *dn,
                         const aiot_sysdep_network_cred_t *cred, int with_handler, uint8_t no_whitelist)
{
    void *h = aiot_dynregmq_init();
    CHECK(h != NULL, "aiot_dynregmq_init returned NULL");
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_HOST, (void *)host));
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_PORT, &port));
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_PRODUCT_KEY, (void *)pk));
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_PRODUCT_SECRET, (void *)ps));
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_DEVICE_NAME, (void *)dn));
    if (cred != NULL) {
        CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_NETWORK_CRED, (void *)cred));
    }
    if (with_handler) {
        CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_RECV_HANDLER, (void *)dynregmq_recv_handler));
        CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_USERDATA, (void *)&g_answers));
    }
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_NO_WHITELIST, &no_whitelist));
    g_handle = h;
    return h;
}

/* Connects the MQTT core over TLS with what the registration returned and gets a QoS1
 * publish on the device's own topic acknowledged. */
static void connect_with(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred, const char *pk,
                         const char *dn, const char *ds, const char *clientid, const char *username,
                         const char *password)
{
    char topic[160];
    uint8_t payload[] = "registered";
    void *mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "aiot_mqtt_init returned NULL");
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HOST, (void *)env->tls_host));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PORT, (void *)&env->tls_port));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PRODUCT_KEY, (void *)pk));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_NAME, (void *)dn));
    if (ds != NULL) {
        CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_SECRET, (void *)ds));
    } else {
        CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_CLIENTID, (void *)clientid));
        CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_USERNAME, (void *)username));
        CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PASSWORD, (void *)password));
    }
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, (void *)cred));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_EVENT_HANDLER, (void *)mqtt_event_handler));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_HANDLER, (void *)mqtt_recv_handler));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(g_connected == 1, "CONNECT events: %d", g_connected);
    snprintf(topic, sizeof(topic), "/%s/%s/user/update", pk, dn);
    CHECK_POS(aiot_mqtt_pub(mqtt, topic, payload, sizeof(payload) - 1, 1));
    RECV_UNTIL(mqtt, g_puback >= 1, 5000);
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("the registered credentials connect and publish");
}

static void run_wl(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred, const char *pk, const char *ps)
{
    const char *dn = demo_env("AIOT_REG_DEVICE_NAME");
    void *h = new_request(env->tls_host, env->tls_port, pk, ps, dn, cred, 1, 0);
    CHECK_OK(aiot_dynregmq_send_request(h));
    CHECK_OK(aiot_dynregmq_recv(h));
    CHECK(g_answers == 1 && g_device_secret[0] != '\0' && g_userdata_ok, "whitelist answer: %d", g_answers);
    g_secrets[1] = g_device_secret;
    CHECK_OK(aiot_dynregmq_deinit(&h));
    CHECK(h == NULL, "aiot_dynregmq_deinit did not clear the handle");
    connect_with(env, cred, pk, dn, g_device_secret, NULL, NULL, NULL);
}

static void run_nwl(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred, const char *pk, const char *ps)
{
    const char *dn = demo_env("AIOT_REG_UNKNOWN_DEVICE_NAME");
    char want_prefix[160];
    void *h = new_request(env->tls_host, env->tls_port, pk, ps, dn, cred, 1, 1);
    CHECK_OK(aiot_dynregmq_send_request(h));
    CHECK_OK(aiot_dynregmq_recv(h));
    CHECK(g_answers == 1 && g_password[0] != '\0' && g_userdata_ok, "no-whitelist answer: %d", g_answers);
    g_secrets[2] = g_password;
    snprintf(want_prefix, sizeof(want_prefix), "%s.%s.", pk, dn);
    CHECK(strncmp(g_clientid, want_prefix, strlen(want_prefix)) == 0, "client id %s", g_clientid);
    CHECK(strstr(g_clientid, "|authType=connwl,securemode=-2,_ss=1,ext=3,_v=sdk-c-4.2.0|") != NULL,
          "client id %s", g_clientid);
    snprintf(want_prefix, sizeof(want_prefix), "%s&%s", dn, pk);
    CHECK(strcmp(g_username, want_prefix) == 0, "user name %s", g_username);
    CHECK_OK(aiot_dynregmq_deinit(&h));
    connect_with(env, cred, pk, dn, NULL, g_clientid, g_username, g_password);
}

static void expect_refused(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred, const char *pk,
                           const char *ps, const char *dn, uint8_t no_whitelist, int32_t want, const char *what)
{
    void *h = new_request(env->tls_host, env->tls_port, pk, ps, dn, cred, 1, no_whitelist);
    demo_log("%s", what);
    CHECK_RC(aiot_dynregmq_send_request(h), want);
    /* the failed request left no session behind */
    CHECK_RC(aiot_dynregmq_recv(h), STATE_DYNREGMQ_NEED_SEND_REQUEST);
    CHECK(g_answers == 0, "%s: %d answers", what, g_answers);
    CHECK_OK(aiot_dynregmq_deinit(&h));
}

static void run_errors(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred,
                       const aiot_sysdep_network_cred_t *wrong_cred, const char *pk, const char *ps)
{
    const char *dn = demo_env("AIOT_REG_DEVICE_NAME2");
    uint16_t port = env->tls_port;
    uint32_t ms;
    uint8_t one = 1;
    void *h, *null_handle = NULL;

    /* API misuse, in upstream's order */
    CHECK_RC(aiot_dynregmq_setopt(NULL, AIOT_DYNREGMQOPT_HOST, (void *)"x"), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynregmq_send_request(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynregmq_recv(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynregmq_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynregmq_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);
    h = aiot_dynregmq_init();
    CHECK(h != NULL, "aiot_dynregmq_init returned NULL");
    CHECK_RC(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_HOST, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_MAX, &one), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_dynregmq_recv(h), STATE_DYNREGMQ_NEED_SEND_REQUEST);
    CHECK_RC(aiot_dynregmq_send_request(h), STATE_USER_INPUT_MISSING_HOST);
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_HOST, (void *)env->tls_host));
    CHECK_RC(aiot_dynregmq_send_request(h), STATE_USER_INPUT_MISSING_PRODUCT_KEY);
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_PRODUCT_KEY, (void *)pk));
    CHECK_RC(aiot_dynregmq_send_request(h), STATE_USER_INPUT_MISSING_PRODUCT_SECRET);
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_PRODUCT_SECRET, (void *)ps));
    CHECK_RC(aiot_dynregmq_send_request(h), STATE_USER_INPUT_MISSING_DEVICE_NAME);
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_DEVICE_NAME, (void *)dn));
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_PORT, &port));
    /* upstream hands the missing credential on as a NULL option */
    CHECK_RC(aiot_dynregmq_send_request(h), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynregmq_recv(h), STATE_DYNREGMQ_NEED_SEND_REQUEST);
    CHECK_OK(aiot_dynregmq_deinit(&h));
    CHECK(h == NULL, "aiot_dynregmq_deinit did not clear the handle");

    /* the platform's refusals */
    expect_refused(env, cred, pk, "wrongProductSecret", dn, 0, STATE_MQTT_CONNACK_RCODE_NOT_AUTHORIZED,
                   "wrong product secret");
    expect_refused(env, cred, pk, ps, demo_env("AIOT_REG_UNKNOWN_DEVICE_NAME"), 0,
                   STATE_MQTT_CONNACK_RCODE_NOT_AUTHORIZED, "unknown device (whitelist)");
    expect_refused(env, cred, pk, ps, demo_env("AIOT_REG_ACTIVATED_DEVICE_NAME"), 0,
                   STATE_MQTT_CONNACK_RCODE_NOT_AUTHORIZED, "already activated device");
    expect_refused(env, wrong_cred, pk, ps, dn, 0, STATE_PORT_TLS_INVALID_HANDSHAKE, "wrong CA");

    /* no receive handler: the answer is not taken, recv runs into the overall timeout */
    demo_log("no receive handler");
    h = new_request(env->tls_host, env->tls_port, pk, ps, "regdev-nohandler", cred, 0, 1);
    ms = 300;
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_TIMEOUT_MS, &ms));
    ms = 100;
    CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_RECV_TIMEOUT_MS, &ms));
    CHECK_OK(aiot_dynregmq_send_request(h));
    CHECK_RC(aiot_dynregmq_recv(h), STATE_DYNREGMQ_AUTH_TIMEOUT);
    CHECK(g_answers == 0, "no handler: %d answers", g_answers);
    CHECK_OK(aiot_dynregmq_deinit(&h));

    /* the device refused above still registers once everything is right */
    h = new_request(env->tls_host, env->tls_port, pk, ps, dn, cred, 1, 0);
    CHECK_OK(aiot_dynregmq_send_request(h));
    CHECK_OK(aiot_dynregmq_recv(h));
    CHECK(g_answers == 1 && g_device_secret[0] != '\0', "answers %d", g_answers);
    g_secrets[1] = g_device_secret;
    /* a second deinit of a freed slot is a NULL handle */
    CHECK_OK(aiot_dynregmq_deinit(&h));
    CHECK_RC(aiot_dynregmq_deinit(&h), STATE_USER_INPUT_NULL_POINTER);
}

/* One hostile answer: the fault, the mode, its size, what recv returns and the answers. */
struct hostile_case {
    const char *kind;
    uint8_t no_whitelist;
    unsigned long size;
    int32_t recv_rc;
    int answers;
};

static void run_hostile(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred, const char *pk,
                        const char *ps)
{
    static const struct hostile_case cases[] = {
        {"mqtt-bad-json", 0, 0, HOSTILE_IGNORED_RC, 0},
        {"mqtt-bad-json", 1, 0, HOSTILE_IGNORED_RC, 0},
        {"mqtt-no-fields", 0, 0, HOSTILE_IGNORED_RC, 0},
        {"mqtt-no-fields", 1, 0, HOSTILE_IGNORED_RC, 0},
        {"mqtt-huge", 0, 1024 * 1024, STATE_SUCCESS, 1},
        {"mqtt-huge", 1, 512 * 1024, STATE_SUCCESS, 1},
        {"mqtt-huge", 0, 2 * 1024 * 1024, STATE_MQTT_MALFORMED_REMAINING_LEN, 0},
        {"mqtt-huge", 1, 2 * 1024 * 1024, STATE_MQTT_MALFORMED_REMAINING_LEN, 0},
    };
    const char *dn = demo_env("AIOT_REG_DEVICE_NAME");
    uint32_t timeout_ms = 5000;
    char b[16];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hostile_case *c = &cases[i];
        int32_t rc;
        void *h;
        CHECK(demo_prov_fault(c->kind, 1, c->size) == 0, "prov fault %s failed", c->kind);
        h = new_request(env->tls_host, env->tls_port, pk, ps, dn, cred, 1, c->no_whitelist);
        CHECK_OK(aiot_dynregmq_setopt(h, AIOT_DYNREGMQOPT_TIMEOUT_MS, &timeout_ms));
        g_answers = 0;
        g_big_len = 0;
        g_big_answer = 1;
        CHECK_OK(aiot_dynregmq_send_request(h));
        rc = aiot_dynregmq_recv(h);
        g_big_answer = 0;
        demo_log("%s (%s, %lu bytes): recv %s, %d answers", c->kind, c->no_whitelist ? "regnwl" : "register",
                 c->size, demo_code_str(rc, b), g_answers);
        CHECK_RC(rc, c->recv_rc);
        CHECK(g_answers == c->answers && g_userdata_ok, "%s: %d answers", c->kind, g_answers);
        if (c->answers > 0) {
            CHECK(g_big_len == c->size, "%s: answer of %lu bytes", c->kind, (unsigned long)g_big_len);
        }
        CHECK_OK(aiot_dynregmq_deinit(&h));
    }

    /* every fault taken: the device still registers normally */
    {
        void *h = new_request(env->tls_host, env->tls_port, pk, ps, dn, cred, 1, 0);
        g_answers = 0;
        CHECK_OK(aiot_dynregmq_send_request(h));
        CHECK_OK(aiot_dynregmq_recv(h));
        CHECK(g_answers == 1 && strlen(g_device_secret) == 32, "after the faults: %d answers", g_answers);
        g_secrets[1] = g_device_secret;
        CHECK_OK(aiot_dynregmq_deinit(&h));
    }
}

int main(int argc, char **argv)
{
    demo_env_t env;
    aiot_sysdep_network_cred_t cred, wrong_cred;
    char *ca_pem, *wrong_ca_pem;
    const char *mode = argc > 1 ? argv[1] : "wl";
    const char *pk, *ps;

    demo_watchdog(strcmp(mode, "hostile") == 0 ? 200 : 60, "dynregmq_basic_demo", 3);
    demo_env_load(&env);
    pk = demo_env("AIOT_REG_PRODUCT_KEY");
    ps = demo_env("AIOT_REG_PRODUCT_SECRET");
    g_secrets[0] = ps;
    ca_pem = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    wrong_ca_pem = demo_read_file(demo_env("AIOT_WRONG_CA_FILE"), NULL);
    cred = demo_ca_cred(ca_pem);
    wrong_cred = demo_ca_cred(wrong_ca_pem);

    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    CHECK_OK(aiot_state_set_logcb(checking_logcb));

    if (strcmp(mode, "wl") == 0) {
        run_wl(&env, &cred, pk, ps);
    } else if (strcmp(mode, "nwl") == 0) {
        run_nwl(&env, &cred, pk, ps);
    } else if (strcmp(mode, "errors") == 0) {
        run_errors(&env, &cred, &wrong_cred, pk, ps);
    } else if (strcmp(mode, "hostile") == 0) {
        run_hostile(&env, &cred, pk, ps);
    } else {
        demo_fail(__FILE__, __LINE__, "unknown mode %s (wl, nwl, errors, hostile)", mode);
    }

    free(ca_pem);
    free(wrong_ca_pem);
    demo_watchdog(0, "dynregmq_basic_demo", 3);
    demo_log("dynregmq_basic_demo %s: all checks passed", mode);
    return 0;
}
