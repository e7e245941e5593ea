/*
 * Dynamic registration over HTTPS, in the shape of upstream's dynreg_basic_demo.c (init,
 * options, send_request, recv, status and secret in the callback, deinit), run by
 * `aiot-platform exec` against the platform's registration endpoint. One mode per run:
 *
 *   ok      AIOT_REG_DEVICE_NAME gets its device secret over HTTPS (status 200 first), which
 *           then connects with the MQTT core and gets a QoS1 publish acknowledged; then
 *           AIOT_REG_DEVICE_NAME3 registers over plain HTTP (credential option NONE, the port
 *           given as host:port);
 *   errors  the API's error codes and order (send_request's checks, recv before a request,
 *           setopt, deinit), then the platform's refusals, all HTTP 200 without a secret
 *           (STATE_DYNREG_INVALID_DEVICE_SECRET): wrong product secret, unknown device,
 *           already activated device; a wrong CA (STATE_PORT_TLS_INVALID_HANDSHAKE), no
 *           credential (STATE_USER_INPUT_NULL_POINTER), no receive handler
 *           (STATE_DYNREG_INVALID_STATUS_CODE), and a server that does not speak HTTP (the
 *           MQTT port: some negative code, no callback);
 *   hostile every hostile answer `aiot-platform prov fault` can arm, over HTTPS (the framing
 *           cases over plain HTTP too): each ends in upstream's code, never a secret callback:
 *           bad JSON, no secret: status 200 then STATE_DYNREG_INVALID_DEVICE_SECRET; status 500:
 *           STATE_DYNREG_INVALID_STATUS_CODE; a 1 MiB secret: refused unread,
 *           STATE_HTTP_RECV_NOT_FINISHED; a body shorter than its length, then closed: the port's
 *           STATE_PORT_TLS_RECV_CONNECTION_CLOSED (plain: STATE_PORT_NETWORK_RECV_CONNECTION_
 *           CLOSED); no length: STATE_HTTP_READ_BODY_EMPTY; not HTTP: STATE_HTTP_HEADER_INVALID;
 *           bytes beyond the length are ignored (the real secret); a 60000-byte secret is given
 *           whole; then a normal registration works.
 *
 * Every mode checks that no log line shows the product secret or the received secret.
 */
#include "demo_common.h"

#include "aiot_dynreg_api.h"

static char g_device_secret[128];
static uint32_t g_status;
static int g_status_calls;
static int g_secret_calls;
static void *g_handle;
static int g_userdata_ok = 1;
static int g_connected;
static int g_puback;
static const char *g_secrets[2];
static int g_big_secret;
static size_t g_big_secret_len;

static int32_t checking_logcb(int32_t code, char *message)
{
    int i;
    for (i = 0; i < 2; i++) {
        if (g_secrets[i] != NULL && g_secrets[i][0] != '\0' && strstr(message, g_secrets[i]) != NULL) {
            demo_fail(__FILE__, __LINE__, "a log line shows a secret: %s", message);
        }
    }
    return demo_logcb(code, message);
}

static void dynreg_recv_handler(void *handle, const aiot_dynreg_recv_t *packet, void *userdata)
{
    if (handle != g_handle || userdata != (void *)&g_status) {
        g_userdata_ok = 0;
    }
    switch (packet->type) {
    case AIOT_DYNREGRECV_STATUS_CODE:
        g_status = packet->data.status_code.code;
        g_status_calls++;
        demo_log("status code: %u", (unsigned)g_status);
        break;
    case AIOT_DYNREGRECV_DEVICE_INFO:
        if (g_big_secret) {
            /* a huge secret, checked in place: all 's' */
            const char *p = packet->data.device_info.device_secret;
            CHECK(p != NULL, "device secret missing");
            g_big_secret_len = strspn(p, "s");
            CHECK(p[g_big_secret_len] == '\0', "huge secret is not all 's'");
            g_secret_calls++;
            break;
        }
        CHECK(packet->data.device_info.device_secret != NULL &&
                  strlen(packet->data.device_info.device_secret) < sizeof(g_device_secret),
              "device secret missing or too long");
        strcpy(g_device_secret, packet->data.device_info.device_secret);
        g_secret_calls++;
        demo_log("device secret: (%u characters)", (unsigned)strlen(g_device_secret));
        break;
    default:
        demo_fail(__FILE__, __LINE__, "unknown data type %u", (unsigned)packet->type);
    }
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

static void reset_answers(void)
{
    g_status = 0;
    g_status_calls = 0;
    g_secret_calls = 0;
    g_device_secret[0] = '\0';
}

static void *new_request(const char *host, uint16_t port, const char *pk, const char *ps, const char *dn,
                         const aiot_sysdep_network_cred_t *cred, int with_handler)
{
    void *h = aiot_dynreg_init();
    CHECK(h != NULL, "aiot_dynreg_init returned NULL");
    CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_HOST, (void *)host));
    CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_PORT, &port));
    CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_PRODUCT_KEY, (void *)pk));
    CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_PRODUCT_SECRET, (void *)ps));
    CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_DEVICE_NAME, (void *)dn));
    if (cred != NULL) {
        CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_NETWORK_CRED, (void *)cred));
    }
    if (with_handler) {
        CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_RECV_HANDLER, (void *)dynreg_recv_handler));
        CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_USERDATA, (void *)&g_status));
    }
    reset_answers();
    g_handle = h;
    return h;
}

static void connect_with(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred, const char *pk,
                         const char *dn, const char *ds)
{
    char topic[160];
    uint8_t payload[] = "registered over https";
    void *mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "aiot_mqtt_init returned NULL");
    demo_mqtt_set_device(mqtt, env->tls_host, env->tls_port, pk, dn, ds);
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
    demo_log("the registered device secret connects and publishes");
}

static void run_ok(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred, const char *host,
                   uint16_t port, const char *pk, const char *ps)
{
    const char *dn = demo_env("AIOT_REG_DEVICE_NAME");
    static char secret[128];
    char host_port[64];
    aiot_sysdep_network_cred_t plain;
    void *h = new_request(host, port, pk, ps, dn, cred, 1);
    CHECK_OK(aiot_dynreg_send_request(h));
    CHECK_OK(aiot_dynreg_recv(h));
    CHECK(g_status_calls == 1 && g_status == 200, "status calls %d, status %u", g_status_calls,
          (unsigned)g_status);
    CHECK(g_secret_calls == 1 && g_device_secret[0] != '\0' && g_userdata_ok, "secret calls %d",
          g_secret_calls);
    strcpy(secret, g_device_secret);
    g_secrets[1] = secret;
    /* the answer is read once */
    CHECK_RC(aiot_dynreg_recv(h), STATE_DYNREG_NEED_SEND_REQUEST);
    CHECK_OK(aiot_dynreg_deinit(&h));
    CHECK(h == NULL, "aiot_dynreg_deinit did not clear the handle");
    connect_with(env, cred, pk, dn, secret);

    /* plain HTTP: a credential with option NONE; the port given in the host option wins over
     * the PORT option (4.2) */
    memset(&plain, 0, sizeof(plain));
    plain.option = AIOT_SYSDEP_NETWORK_CRED_NONE;
    snprintf(host_port, sizeof(host_port), "127.0.0.1:%u", (unsigned)demo_env_port("AIOT_AUTH_HTTP_PORT"));
    h = new_request(host_port, 1, pk, ps, demo_env("AIOT_REG_DEVICE_NAME3"), &plain, 1);
    CHECK_OK(aiot_dynreg_send_request(h));
    CHECK_OK(aiot_dynreg_recv(h));
    CHECK(g_status == 200 && g_secret_calls == 1, "plain HTTP: status %u, secret calls %d",
          (unsigned)g_status, g_secret_calls);
    CHECK_OK(aiot_dynreg_deinit(&h));
}

static void expect_no_secret(const char *host, uint16_t port, const aiot_sysdep_network_cred_t *cred,
                             const char *pk, const char *ps, const char *dn, const char *what)
{
    void *h = new_request(host, port, pk, ps, dn, cred, 1);
    demo_log("%s", what);
    CHECK_OK(aiot_dynreg_send_request(h));
    CHECK_RC(aiot_dynreg_recv(h), STATE_DYNREG_INVALID_DEVICE_SECRET);
    CHECK(g_status_calls == 1 && g_status == 200 && g_secret_calls == 0, "%s: status calls %d (%u), secrets %d",
          what, g_status_calls, (unsigned)g_status, g_secret_calls);
    CHECK_OK(aiot_dynreg_deinit(&h));
}

static void run_errors(const demo_env_t *env, const aiot_sysdep_network_cred_t *cred,
                       const aiot_sysdep_network_cred_t *wrong_cred, const char *host, uint16_t port,
                       const char *pk, const char *ps)
{
    const char *dn = demo_env("AIOT_REG_DEVICE_NAME2");
    uint32_t one = 1, ms;
    int32_t rc;
    char b[16];
    void *h, *null_handle = NULL;

    CHECK_RC(aiot_dynreg_setopt(NULL, AIOT_DYNREGOPT_HOST, (void *)"x"), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynreg_send_request(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynreg_recv(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynreg_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynreg_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);
    h = aiot_dynreg_init();
    CHECK(h != NULL, "aiot_dynreg_init returned NULL");
    CHECK_RC(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_HOST, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_MAX, &one), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_dynreg_recv(h), STATE_DYNREG_NEED_SEND_REQUEST);
    CHECK_RC(aiot_dynreg_send_request(h), STATE_USER_INPUT_MISSING_HOST);
    CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_HOST, (void *)host));
    CHECK_RC(aiot_dynreg_send_request(h), STATE_USER_INPUT_MISSING_PRODUCT_KEY);
    CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_PRODUCT_KEY, (void *)pk));
    CHECK_RC(aiot_dynreg_send_request(h), STATE_USER_INPUT_MISSING_PRODUCT_SECRET);
    CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_PRODUCT_SECRET, (void *)ps));
    CHECK_RC(aiot_dynreg_send_request(h), STATE_USER_INPUT_MISSING_DEVICE_NAME);
    CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_DEVICE_NAME, (void *)dn));
    CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_PORT, &port));
    CHECK_RC(aiot_dynreg_send_request(h), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_dynreg_recv(h), STATE_DYNREG_NEED_SEND_REQUEST);
    CHECK_OK(aiot_dynreg_deinit(&h));

    expect_no_secret(host, port, cred, pk, "wrongProductSecret", dn, "wrong product secret");
    expect_no_secret(host, port, cred, pk, ps, demo_env("AIOT_REG_UNKNOWN_DEVICE_NAME"), "unknown device");
    expect_no_secret(host, port, cred, pk, ps, demo_env("AIOT_REG_ACTIVATED_DEVICE_NAME"),
                     "already activated device");

    demo_log("wrong CA");
    h = new_request(host, port, pk, ps, dn, wrong_cred, 1);
    CHECK_RC(aiot_dynreg_send_request(h), STATE_PORT_TLS_INVALID_HANDSHAKE);
    CHECK_RC(aiot_dynreg_recv(h), STATE_DYNREG_NEED_SEND_REQUEST);
    CHECK_OK(aiot_dynreg_deinit(&h));

    demo_log("no receive handler");
    h = new_request(host, port, pk, ps, dn, cred, 0);
    CHECK_OK(aiot_dynreg_send_request(h));
    CHECK_RC(aiot_dynreg_recv(h), STATE_DYNREG_INVALID_STATUS_CODE);
    CHECK_OK(aiot_dynreg_deinit(&h));

    demo_log("a server that does not speak HTTP");
    {
        aiot_sysdep_network_cred_t plain;
        memset(&plain, 0, sizeof(plain));
        plain.option = AIOT_SYSDEP_NETWORK_CRED_NONE;
        h = new_request(env->host, env->port, pk, ps, dn, &plain, 1);
        ms = 1000;
        CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_RECV_TIMEOUT_MS, &ms));
        CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_TIMEOUT_MS, &ms));
        rc = aiot_dynreg_send_request(h);
        if (rc == STATE_SUCCESS) {
            rc = CHECK_NEG(aiot_dynreg_recv(h));
        }
        demo_log("not HTTP: %s", demo_code_str(rc, b));
        CHECK(rc < 0 && g_status_calls == 0 && g_secret_calls == 0, "not HTTP: rc %d, callbacks %d/%d",
              (int)rc, g_status_calls, g_secret_calls);
        CHECK_OK(aiot_dynreg_deinit(&h));
    }

    /* (the request without a handler activated AIOT_REG_DEVICE_NAME2 all the same) */
    expect_no_secret(host, port, cred, pk, ps, dn, "activated by the request without a handler");
    /* a fresh device still registers once everything is right */
    h = new_request(host, port, pk, ps, demo_env("AIOT_REG_DEVICE_NAME"), cred, 1);
    CHECK_OK(aiot_dynreg_send_request(h));
    CHECK_OK(aiot_dynreg_recv(h));
    CHECK(g_status == 200 && g_secret_calls == 1, "status %u, secret calls %d", (unsigned)g_status,
          g_secret_calls);
    g_secrets[1] = g_device_secret;
    CHECK_OK(aiot_dynreg_deinit(&h));
}

/* One hostile answer: what send_request and recv return, the status callbacks (and the
 * status), the secret callbacks. */
struct hostile_case {
    const char *kind;
    int plain; /* over plain HTTP (AIOT_AUTH_HTTP_PORT, credential option NONE) */
    int32_t send_rc;
    int32_t recv_rc;
    int status_calls;
    uint32_t status;
    int secret_calls;
};

static void run_hostile(const aiot_sysdep_network_cred_t *cred, const char *host, uint16_t port, const char *pk,
                        const char *ps)
{
    static const struct hostile_case cases[] = {
        {"bad-json", 0, STATE_SUCCESS, STATE_DYNREG_INVALID_DEVICE_SECRET, 1, 200, 0},
        {"no-secret", 0, STATE_SUCCESS, STATE_DYNREG_INVALID_DEVICE_SECRET, 1, 200, 0},
        {"huge-secret", 0, STATE_SUCCESS, STATE_HTTP_RECV_NOT_FINISHED, 0, 0, 0},
        {"status-500", 0, STATE_SUCCESS, STATE_DYNREG_INVALID_STATUS_CODE, 1, 500, 0},
        {"short-body", 0, STATE_SUCCESS, STATE_PORT_TLS_RECV_CONNECTION_CLOSED, 0, 0, 0},
        {"short-body", 1, STATE_SUCCESS, STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED, 0, 0, 0},
        {"no-length", 0, STATE_SUCCESS, STATE_HTTP_READ_BODY_EMPTY, 0, 0, 0},
        {"no-length", 1, STATE_SUCCESS, STATE_HTTP_READ_BODY_EMPTY, 0, 0, 0},
        {"not-http", 0, STATE_SUCCESS, STATE_HTTP_HEADER_INVALID, 0, 0, 0},
        {"not-http", 1, STATE_SUCCESS, STATE_HTTP_HEADER_INVALID, 0, 0, 0},
        {"long-body", 0, STATE_SUCCESS, STATE_SUCCESS, 1, 200, 1},
    };
    const char *dn = demo_env("AIOT_REG_DEVICE_NAME");
    uint32_t timeout_ms = 3000, recv_timeout_ms = 1000;
    uint16_t plain_port = demo_env_port("AIOT_AUTH_HTTP_PORT");
    aiot_sysdep_network_cred_t plain;
    char b[16];
    size_t i;

    memset(&plain, 0, sizeof(plain));
    plain.option = AIOT_SYSDEP_NETWORK_CRED_NONE;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hostile_case *c = &cases[i];
        int32_t rc;
        void *h;
        CHECK(demo_prov_fault(c->kind, 1, 1024 * 1024) == 0, "prov fault %s failed", c->kind);
        h = c->plain ? new_request("127.0.0.1", plain_port, pk, ps, dn, &plain, 1)
                     : new_request(host, port, pk, ps, dn, cred, 1);
        CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_TIMEOUT_MS, &timeout_ms));
        CHECK_OK(aiot_dynreg_setopt(h, AIOT_DYNREGOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));
        rc = aiot_dynreg_send_request(h);
        demo_log("%s (%s): send_request %s", c->kind, c->plain ? "HTTP" : "HTTPS", demo_code_str(rc, b));
        CHECK_RC(rc, c->send_rc);
        rc = aiot_dynreg_recv(h);
        demo_log("%s: recv %s, status calls %d (%u), secret calls %d", c->kind, demo_code_str(rc, b),
                 g_status_calls, (unsigned)g_status, g_secret_calls);
        CHECK_RC(rc, c->recv_rc);
        CHECK(g_status_calls == c->status_calls && g_status == c->status && g_secret_calls == c->secret_calls,
              "%s: status calls %d (%u), secret calls %d", c->kind, g_status_calls, (unsigned)g_status,
              g_secret_calls);
        CHECK(g_userdata_ok, "%s: handle or userdata changed", c->kind);
        /* the answer is read once, whatever it was */
        CHECK_RC(aiot_dynreg_recv(h), STATE_DYNREG_NEED_SEND_REQUEST);
        CHECK_OK(aiot_dynreg_deinit(&h));
    }
    /* long-body carried the real answer: the platform's 32 hex digits, not the trailing bytes */
    CHECK(strlen(g_device_secret) == 32 && strstr(g_device_secret, "trailing") == NULL,
          "long-body secret of %u characters", (unsigned)strlen(g_device_secret));

    /* a huge secret that still fits the 64 KiB answer limit is a secret: given whole */
    {
        void *h;
        CHECK(demo_prov_fault("huge-secret", 1, 60000) == 0, "prov fault huge-secret failed");
        h = new_request(host, port, pk, ps, dn, cred, 1);
        g_big_secret = 1;
        CHECK_OK(aiot_dynreg_send_request(h));
        CHECK_OK(aiot_dynreg_recv(h));
        g_big_secret = 0;
        CHECK(g_status == 200 && g_secret_calls == 1 && g_big_secret_len == 60000,
              "60000-byte secret: status %u, secret calls %d, length %lu", (unsigned)g_status, g_secret_calls,
              (unsigned long)g_big_secret_len);
        CHECK_OK(aiot_dynreg_deinit(&h));
    }

    /* every fault taken: a normal registration */
    {
        void *h = new_request(host, port, pk, ps, demo_env("AIOT_REG_DEVICE_NAME2"), cred, 1);
        CHECK_OK(aiot_dynreg_send_request(h));
        CHECK_OK(aiot_dynreg_recv(h));
        CHECK(g_status == 200 && g_secret_calls == 1 && strlen(g_device_secret) == 32,
              "after the faults: status %u, secret calls %d", (unsigned)g_status, g_secret_calls);
        g_secrets[1] = g_device_secret;
        CHECK_OK(aiot_dynreg_deinit(&h));
    }
}

int main(int argc, char **argv)
{
    demo_env_t env;
    aiot_sysdep_network_cred_t cred, wrong_cred;
    char *ca_pem, *wrong_ca_pem;
    const char *mode = argc > 1 ? argv[1] : "ok";
    const char *pk, *ps, *host;
    uint16_t port;

    demo_watchdog(strcmp(mode, "hostile") == 0 ? 200 : 60, "dynreg_basic_demo", 3);
    demo_env_load(&env);
    pk = demo_env("AIOT_REG_PRODUCT_KEY");
    ps = demo_env("AIOT_REG_PRODUCT_SECRET");
    host = demo_env("AIOT_AUTH_HOST");
    port = demo_env_port("AIOT_AUTH_PORT");
    g_secrets[0] = ps;
    ca_pem = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    wrong_ca_pem = demo_read_file(demo_env("AIOT_WRONG_CA_FILE"), NULL);
    cred = demo_ca_cred(ca_pem);
    wrong_cred = demo_ca_cred(wrong_ca_pem);

    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    CHECK_OK(aiot_state_set_logcb(checking_logcb));

    if (strcmp(mode, "ok") == 0) {
        run_ok(&env, &cred, host, port, pk, ps);
    } else if (strcmp(mode, "errors") == 0) {
        run_errors(&env, &cred, &wrong_cred, host, port, pk, ps);
    } else if (strcmp(mode, "hostile") == 0) {
        run_hostile(&cred, host, port, pk, ps);
    } else {
        demo_fail(__FILE__, __LINE__, "unknown mode %s (ok, errors, hostile)", mode);
    }

    free(ca_pem);
    free(wrong_ca_pem);
    demo_watchdog(0, "dynreg_basic_demo", 3);
    demo_log("dynreg_basic_demo %s: all checks passed", mode);
    return 0;
}
