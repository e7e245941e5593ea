/*
 * Bootstrap, in the shape of upstream's bootstrap_posix_demo.c (init, options, send_request,
 * recv, status and endpoint in the callback, then MQTT on that endpoint with the bootstrap
 * handle attached), run by `aiot-platform exec`. One mode per run:
 *
 *   ok        POST /auth/bootstrap over HTTPS gives the platform's MQTT endpoint (status 200
 *             first); the MQTT core connects there (TLS); the bootstrap handle is attached;
 *             `aiot-platform prov notify --cmd 7` reaches the NOTIFY callback and the platform
 *             gets the notify_reply (the CLI checks its id); malformed notifies pushed with
 *             `aiot-platform dm publish` (not JSON, no id, no cmd, a bad cmd) raise
 *             INVALID_RESPONSE / INVALID_CMD and get no reply (thing.log holds exactly the
 *             replies of the two good notifies);
 *   region    the same with AIOT_BOOTSTRAPOPT_REGIONID "1": GET /auth/bootstrap/regionId/1;
 *   backup-ip a local bootstrap server names an unresolvable MQTT host, the platform's plain
 *             MQTT port and ip 127.0.0.1: the MQTT core logs the backup IP (LK-031D), the port
 *             falls back to it after the DNS failure and the connect succeeds; a second answer
 *             without ip clears it (the connect then fails with the DNS code);
 *   errors    the API's codes and their order, a wrong CA, a server that is not HTTP;
 *   hostile   a local server gives hostile answers: each ends in upstream's code and never
 *             calls back with an endpoint; a good answer afterwards still works.
 */
#include "demo_common.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aiot_bootstrap_api.h"

#define PORT_LOG_CODE (-0x0F00)

static void *g_handle;
static int g_userdata_ok = 1;
static int g_status_calls;
static uint32_t g_status;
static int g_info_calls;
static char g_host[128];
static uint16_t g_port;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_notify_calls;
static uint32_t g_notify_cmd;
static int g_evt_invalid_response;
static int g_evt_invalid_cmd;
static volatile int g_running;

static void bootstrap_recv_handler(void *handle, const aiot_bootstrap_recv_t *packet, void *userdata)
{
    if (handle != g_handle || userdata != (void *)&g_status) {
        g_userdata_ok = 0;
    }
    switch (packet->type) {
    case AIOT_BOOTSTRAPRECV_STATUS_CODE:
        g_status = packet->data.status_code.code;
        g_status_calls++;
        demo_log("status code: %u", (unsigned)g_status);
        break;
    case AIOT_BOOTSTRAPRECV_CONNECTION_INFO:
        CHECK(g_status_calls > 0 && g_status == 200, "endpoint before status 200");
        CHECK(packet->data.connection_info.host != NULL &&
                  strlen(packet->data.connection_info.host) < sizeof(g_host),
              "host missing or too long");
        strcpy(g_host, packet->data.connection_info.host);
        g_port = packet->data.connection_info.port;
        g_info_calls++;
        demo_log("host: %s, port: %u", g_host, (unsigned)g_port);
        break;
    case AIOT_BOOTSTRAPRECV_NOTIFY:
        pthread_mutex_lock(&g_lock);
        g_notify_cmd = packet->data.notify.cmd;
        g_notify_calls++;
        pthread_mutex_unlock(&g_lock);
        demo_log("bootstrap notify cmd: %u", (unsigned)packet->data.notify.cmd);
        break;
    default:
        demo_fail(__FILE__, __LINE__, "unknown receive type %u", (unsigned)packet->type);
    }
}

static void bootstrap_event_handler(void *handle, const aiot_bootstrap_event_t *event, void *userdata)
{
    if (handle != g_handle || userdata != (void *)&g_status) {
        g_userdata_ok = 0;
    }
    pthread_mutex_lock(&g_lock);
    if (event->type == AIOT_BOOTSTRAPEVT_INVALID_RESPONSE) {
        g_evt_invalid_response++;
    } else if (event->type == AIOT_BOOTSTRAPEVT_INVALID_CMD) {
        g_evt_invalid_cmd++;
    }
    pthread_mutex_unlock(&g_lock);
    demo_log("bootstrap event: %u", (unsigned)event->type);
}

static int locked_int(const int *v)
{
    int r;
    pthread_mutex_lock(&g_lock);
    r = *v;
    pthread_mutex_unlock(&g_lock);
    return r;
}

static void reset_answer(void)
{
    g_status_calls = 0;
    g_status = 0;
    g_info_calls = 0;
    g_host[0] = '\0';
    g_port = 0;
}

/* A bootstrap handle with the device, the handlers and `cred`. */
static void *new_bootstrap(const demo_env_t *env, aiot_sysdep_network_cred_t *cred, const char *host,
                           uint16_t port)
{
    uint32_t timeout = 3000;
    void *h = aiot_bootstrap_init();
    CHECK(h != NULL, "aiot_bootstrap_init failed");
    g_handle = h;
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_PRODUCT_KEY, (void *)env->product_key));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_DEVICE_NAME, (void *)env->device_name));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_HOST, (void *)host));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_PORT, &port));
    if (cred != NULL) {
        CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_NETWORK_CRED, cred));
    }
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_RECV_HANDLER, (void *)bootstrap_recv_handler));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_EVENT_HANDLER, (void *)bootstrap_event_handler));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_USERDATA, (void *)&g_status));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_TIMEOUT_MS, &timeout));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_RECV_TIMEOUT_MS, &timeout));
    return h;
}

/* send_request + recv: the code of whichever failed first, or 0. */
static int32_t ask(void *h)
{
    int32_t res;
    reset_answer();
    res = aiot_bootstrap_send_request(h);
    if (res < STATE_SUCCESS) {
        return res;
    }
    return aiot_bootstrap_recv(h);
}

/* ---------------------------------------------------------------- platform CLI */

/* Runs `$AIOT_PLATFORM <args...>` (fork + exec), bounded to 20 s; its exit status or -1. */
static int platform(char *const args[])
{
    int status = 0;
    uint64_t dl;
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
    dl = demo_deadline(20000);
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

static int prov_notify(const demo_env_t *env, unsigned cmd)
{
    char device[160], cmd_text[16];
    char *args[] = {(char *)demo_env("AIOT_PLATFORM"), "prov", "notify", "--state-dir",
                    (char *)demo_env("AIOT_STATE_DIR"), "--device", device, "--cmd", cmd_text, NULL};
    snprintf(device, sizeof(device), "%s/%s", env->product_key, env->device_name);
    snprintf(cmd_text, sizeof(cmd_text), "%u", cmd);
    return platform(args);
}

static int dm_publish(const char *topic, const char *payload)
{
    char *args[] = {(char *)demo_env("AIOT_PLATFORM"), "dm", "publish", "--state-dir",
                    (char *)demo_env("AIOT_STATE_DIR"), "--topic", (char *)topic, "--payload",
                    (char *)payload, NULL};
    return platform(args);
}

/* How many lines of <state>/thing.log contain `text`. */
static int thing_log_count(const char *text)
{
    char path[512], *data, *p;
    int n = 0;
    snprintf(path, sizeof(path), "%s/thing.log", demo_env("AIOT_STATE_DIR"));
    data = demo_read_file(path, NULL);
    for (p = data; (p = strstr(p, text)) != NULL; p += strlen(text)) {
        n++;
    }
    free(data);
    return n;
}

/* ---------------------------------------------------------------- MQTT threads */

static void *recv_thread(void *arg)
{
    while (g_running) {
        if (aiot_mqtt_recv(arg) < 0) {
            demo_sleep_ms(20);
        }
    }
    return NULL;
}

static void *process_thread(void *arg)
{
    while (g_running) {
        aiot_mqtt_process(arg);
        demo_sleep_ms(100);
    }
    return NULL;
}

/* ---------------------------------------------------------------- modes */

static void mode_platform(const demo_env_t *env, const char *region)
{
    char *ca_pem = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    aiot_sysdep_network_cred_t cred = demo_ca_cred(ca_pem);
    const char *auth_host = demo_env("AIOT_AUTH_HOST");
    uint16_t auth_port = demo_env_port("AIOT_AUTH_PORT");
    void *bootstrap, *mqtt;
    pthread_t rt, pt;
    char notify_topic[256], reply_text[64];

    bootstrap = new_bootstrap(env, &cred, auth_host, auth_port);
    if (region != NULL) {
        CHECK_OK(aiot_bootstrap_setopt(bootstrap, AIOT_BOOTSTRAPOPT_REGIONID, (void *)region));
    }
    CHECK_OK(ask(bootstrap));
    CHECK(g_status_calls == 1 && g_status == 200, "status: %d calls, %u", g_status_calls, (unsigned)g_status);
    CHECK(g_info_calls == 1, "no endpoint");
    CHECK(strcmp(g_host, env->tls_host) == 0 && g_port == env->tls_port,
          "endpoint %s:%u, platform's is %s:%u", g_host, (unsigned)g_port, env->tls_host,
          (unsigned)env->tls_port);
    if (region != NULL) {
        CHECK(demo_log_seen(STATE_HTTP_LOG_SEND_HEADER, "> GET /auth/bootstrap/regionId/1 HTTP/1.1"),
              "no GET by region");
    } else {
        CHECK(demo_log_seen(STATE_HTTP_LOG_SEND_HEADER, "> POST /auth/bootstrap HTTP/1.1"), "no POST");
    }
    /* Read once: a second recv needs a new request. */
    CHECK_RC(aiot_bootstrap_recv(bootstrap), STATE_BOOTSTRAP_NEED_SEND_REQUEST);

    /* MQTT on the endpoint the service named, as upstream's demo. */
    mqtt = demo_mqtt_new(g_host, g_port, env, NULL, NULL);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK_OK(aiot_bootstrap_setopt(bootstrap, AIOT_BOOTSTRAPOPT_MQTT_HANDLE, mqtt));
    g_running = 1;
    CHECK(pthread_create(&rt, NULL, recv_thread, mqtt) == 0, "pthread_create");
    CHECK(pthread_create(&pt, NULL, process_thread, mqtt) == 0, "pthread_create");

    if (region == NULL) {
        /* A notify from the platform: the callback, then the reply the CLI waits for. */
        CHECK(prov_notify(env, 7) == 0, "prov notify got no reply");
        WAIT_UNTIL(locked_int(&g_notify_calls) == 1, 5000);
        CHECK(g_notify_cmd == 7, "notify cmd %u", (unsigned)g_notify_cmd);

        /* Malformed notifies: events, no callback, no reply. */
        snprintf(notify_topic, sizeof(notify_topic), "/sys/%s/%s/thing/bootstrap/notify", env->product_key,
                 env->device_name);
        CHECK(dm_publish(notify_topic, "not json") == 0, "dm publish");
        CHECK(dm_publish(notify_topic, "{\"version\":\"1.0\",\"params\":{\"cmd\":0}}") == 0, "dm publish");
        CHECK(dm_publish(notify_topic, "{\"id\":\"900\",\"version\":\"1.0\",\"params\":{}}") == 0, "dm publish");
        WAIT_UNTIL(locked_int(&g_evt_invalid_response) == 3, 5000);
        CHECK(dm_publish(notify_topic, "{\"id\":\"901\",\"version\":\"1.0\",\"params\":{\"cmd\":-1}}") == 0,
              "dm publish");
        CHECK(dm_publish(notify_topic, "{\"id\":\"902\",\"version\":\"1.0\",\"params\":{\"cmd\":\"x\"}}") == 0,
              "dm publish");
        WAIT_UNTIL(locked_int(&g_evt_invalid_cmd) == 2, 5000);
        CHECK(locked_int(&g_notify_calls) == 1, "a malformed notify reached the callback");

        /* A good one after them: its reply arrives, and the platform recorded exactly two. */
        CHECK(prov_notify(env, 1) == 0, "prov notify got no reply");
        WAIT_UNTIL(locked_int(&g_notify_calls) == 2, 5000);
        CHECK(g_notify_cmd == 1, "notify cmd %u", (unsigned)g_notify_cmd);
        snprintf(reply_text, sizeof(reply_text), "thing/bootstrap/notify_reply");
        CHECK(thing_log_count(reply_text) == 2, "thing.log has %d notify replies, want 2",
              thing_log_count(reply_text));
        CHECK(locked_int(&g_evt_invalid_response) == 3 && locked_int(&g_evt_invalid_cmd) == 2,
              "unexpected events");
    }

    g_running = 0;
    pthread_join(rt, NULL);
    pthread_join(pt, NULL);
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    /* Deinit in either order works; here MQTT first (the bootstrap handle forgets it). */
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK_OK(aiot_bootstrap_deinit(&bootstrap));
    CHECK(bootstrap == NULL, "deinit did not clear the handle");
    CHECK(g_userdata_ok, "a handler got the wrong handle or userdata");
    free(ca_pem);
}

/* ---------------------------------------------------------------- a local bootstrap server */

typedef struct {
    int fd;
    const char *answers[16];
    int close_early[16];
    int count;
} server_t;

/* Answers one request per connection with the next canned answer, then closes. */
static void *server_thread(void *arg)
{
    server_t *s = arg;
    int i;
    for (i = 0; i < s->count; i++) {
        char buf[4096];
        size_t got = 0;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) {
            return NULL;
        }
        /* The request: header, then the body its Content-Length announces. */
        for (;;) {
            char *end;
            ssize_t n;
            buf[got] = '\0';
            end = strstr(buf, "\r\n\r\n");
            if (end != NULL) {
                char *cl = strstr(buf, "Content-Length: ");
                size_t want = (size_t)(end + 4 - buf) + (cl != NULL ? (size_t)atoi(cl + 16) : 0);
                if (got >= want) {
                    break;
                }
            }
            if (got + 1 >= sizeof(buf)) {
                break;
            }
            n = recv(c, buf + got, sizeof(buf) - 1 - got, 0);
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
        }
        {
            const char *a = s->answers[i];
            size_t len = strlen(a), off = 0;
            while (off < len) {
                ssize_t n = send(c, a + off, len - off, MSG_NOSIGNAL);
                if (n <= 0) {
                    break;
                }
                off += (size_t)n;
            }
        }
        if (!s->close_early[i]) {
            /* Let the client read and close first. */
            char tmp[64];
            struct timeval tv = {2, 0};
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            while (recv(c, tmp, sizeof(tmp), 0) > 0) {
            }
        }
        close(c);
    }
    return NULL;
}

static char *ok_answer(const char *body)
{
    size_t len = strlen(body) + 128;
    char *a = malloc(len);
    CHECK(a != NULL, "malloc");
    snprintf(a, len, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n%s", (unsigned)strlen(body), body);
    return a;
}

static aiot_sysdep_network_cred_t plain_cred(void)
{
    aiot_sysdep_network_cred_t cred;
    memset(&cred, 0, sizeof(cred));
    cred.option = AIOT_SYSDEP_NETWORK_CRED_NONE;
    return cred;
}

static void mode_backup_ip(const demo_env_t *env)
{
    server_t srv;
    pthread_t st;
    uint16_t port;
    aiot_sysdep_network_cred_t cred = plain_cred();
    char body[256];
    char *answers[2];
    void *bootstrap, *mqtt;

    memset(&srv, 0, sizeof(srv));
    snprintf(body, sizeof(body),
             "{\"code\":200,\"data\":{\"resources\":{\"mqtt\":{\"host\":\"no-such-host.invalid\",\"port\":%u,"
             "\"ip\":\"127.0.0.1\"}}},\"message\":\"success\"}",
             (unsigned)env->port);
    answers[0] = ok_answer(body);
    snprintf(body, sizeof(body),
             "{\"code\":200,\"data\":{\"resources\":{\"mqtt\":{\"host\":\"no-such-host.invalid\",\"port\":%u}}},"
             "\"message\":\"success\"}",
             (unsigned)env->port);
    answers[1] = ok_answer(body);
    srv.answers[0] = answers[0];
    srv.answers[1] = answers[1];
    srv.count = 2;
    srv.fd = demo_loopback_socket(4, &port);
    CHECK(pthread_create(&st, NULL, server_thread, &srv) == 0, "pthread_create");

    bootstrap = new_bootstrap(env, &cred, "127.0.0.1", port);
    CHECK_OK(ask(bootstrap));
    CHECK(g_info_calls == 1 && strcmp(g_host, "no-such-host.invalid") == 0, "endpoint");

    /* Plain MQTT to a host that does not resolve: the backup IP is used. */
    mqtt = demo_mqtt_new(g_host, g_port, env, NULL, NULL);
    demo_log_forget();
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(demo_log_seen(STATE_MQTT_LOG_BACKUP_IP, "127.0.0.1"), "no LK-031D backup ip line");
    CHECK(demo_log_seen(PORT_LOG_CODE, "using backup ip: 127.0.0.1"), "the port did not use the backup ip");
    CHECK_OK(aiot_mqtt_disconnect(mqtt));

    /* An answer without ip clears it: the same connect now fails on DNS. */
    CHECK_OK(ask(bootstrap));
    demo_log_forget();
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_PORT_NETWORK_DNS_FAILED);
    CHECK(!demo_log_seen(STATE_MQTT_LOG_BACKUP_IP, "127.0.0.1"), "backup ip still set");

    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK_OK(aiot_bootstrap_deinit(&bootstrap));
    pthread_join(st, NULL);
    close(srv.fd);
    free(answers[0]);
    free(answers[1]);
}

static void mode_hostile(const demo_env_t *env)
{
    enum { N = 12 };
    static const char good[] =
        "{\"code\":200,\"data\":{\"resources\":{\"mqtt\":{\"host\":\"mqtt.example\",\"port\":8883}}},"
        "\"message\":\"success\"}";
    struct {
        const char *what;
        char *answer;
        int close_early;
        int32_t want;
        uint32_t want_status; /* 0: no status callback */
    } cases[N];
    char *huge_body, *huge_host;
    server_t srv;
    pthread_t st;
    uint16_t port;
    aiot_sysdep_network_cred_t cred = plain_cred();
    void *bootstrap;
    int i;

    huge_host = malloc(60001);
    CHECK(huge_host != NULL, "malloc");
    memset(huge_host, 'h', 60000);
    huge_host[60000] = '\0';
    huge_body = malloc(60200);
    CHECK(huge_body != NULL, "malloc");
    snprintf(huge_body, 60200, "{\"data\":{\"resources\":{\"mqtt\":{\"host\":\"%s\",\"port\":1}}}}", huge_host);
    free(huge_host);

    i = 0;
#define CASE(w, a, early, code, st_)                                                             \
    do {                                                                                          \
        cases[i].what = (w);                                                                      \
        cases[i].answer = (a);                                                                    \
        cases[i].close_early = (early);                                                           \
        cases[i].want = (code);                                                                   \
        cases[i].want_status = (st_);                                                             \
        i++;                                                                                      \
    } while (0)
    CASE("bad JSON", ok_answer("{\"data\":{\"resources\":{\"mqtt\":{\"host\":\"x"), 0,
         STATE_BOOTSTRAP_INVALID_CONNECTION_INFO, 200);
    CASE("no host", ok_answer("{\"code\":200,\"data\":{},\"message\":\"success\"}"), 0,
         STATE_BOOTSTRAP_INVALID_CONNECTION_INFO, 200);
    CASE("no port", ok_answer("{\"data\":{\"resources\":{\"mqtt\":{\"host\":\"h\"}}}}"), 0,
         STATE_BOOTSTRAP_INVALID_CONNECTION_INFO, 200);
    CASE("port 70000", ok_answer("{\"data\":{\"resources\":{\"mqtt\":{\"host\":\"h\",\"port\":70000}}}}"), 0,
         STATE_BOOTSTRAP_INVALID_CONNECTION_INFO, 200);
    CASE("huge host", ok_answer(huge_body), 0, STATE_BOOTSTRAP_INVALID_CONNECTION_INFO, 200);
    CASE("status 500", strdup("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}"), 0,
         STATE_BOOTSTRAP_INVALID_STATUS_CODE, 500);
    CASE("no length", strdup("HTTP/1.1 200 OK\r\n\r\n{}"), 1, STATE_HTTP_READ_BODY_EMPTY, 0);
    CASE("huge length", strdup("HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n{}"), 0,
         STATE_HTTP_RECV_NOT_FINISHED, 0);
    CASE("not HTTP", strdup("SSH-2.0-OpenSSH_9.2p1\r\n\r\n"), 1, STATE_HTTP_HEADER_INVALID, 0);
    CASE("short body, closed", strdup("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"data\""), 1,
         STATE_PORT_NETWORK_RECV_CONNECTION_CLOSED, 0);
    {
        char *a = ok_answer(good);
        char *longer = malloc(strlen(a) + 64);
        CHECK(longer != NULL, "malloc");
        sprintf(longer, "%s{\"host\":\"trailing\",\"port\":1}", a);
        free(a);
        CASE("long body", longer, 0, STATE_SUCCESS, 200);
    }
    CASE("good", ok_answer(good), 0, STATE_SUCCESS, 200);
#undef CASE
    free(huge_body);

    memset(&srv, 0, sizeof(srv));
    for (i = 0; i < N; i++) {
        CHECK(cases[i].answer != NULL, "alloc");
        srv.answers[i] = cases[i].answer;
        srv.close_early[i] = cases[i].close_early;
    }
    srv.count = N;
    srv.fd = demo_loopback_socket(4, &port);
    CHECK(pthread_create(&st, NULL, server_thread, &srv) == 0, "pthread_create");
    bootstrap = new_bootstrap(env, &cred, "127.0.0.1", port);
    for (i = 0; i < N; i++) {
        int32_t res;
        demo_log("case %s", cases[i].what);
        res = ask(bootstrap);
        CHECK_RC(res, cases[i].want);
        if (cases[i].want_status != 0) {
            CHECK(g_status_calls == 1 && g_status == cases[i].want_status, "%s: status %d calls, %u",
                  cases[i].what, g_status_calls, (unsigned)g_status);
        } else {
            CHECK(g_status_calls == 0, "%s: a status callback", cases[i].what);
        }
        if (cases[i].want == STATE_SUCCESS) {
            CHECK(g_info_calls == 1 && strcmp(g_host, "mqtt.example") == 0 && g_port == 8883, "%s: endpoint",
                  cases[i].what);
        } else {
            CHECK(g_info_calls == 0, "%s: an endpoint callback", cases[i].what);
        }
    }
    CHECK_OK(aiot_bootstrap_deinit(&bootstrap));
    pthread_join(st, NULL);
    close(srv.fd);
    for (i = 0; i < N; i++) {
        free(cases[i].answer);
    }
}

static void mode_errors(const demo_env_t *env)
{
    aiot_sysdep_network_cred_t cred = plain_cred();
    uint16_t port = env->port;
    uint32_t timeout = 2000;
    void *h, *null_handle = NULL;
    char *ca_pem, *wrong_ca_pem;
    aiot_sysdep_network_cred_t wrong_ca;

    /* Handle and data checks. */
    CHECK_RC(aiot_bootstrap_setopt(NULL, AIOT_BOOTSTRAPOPT_PORT, &port), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_bootstrap_send_request(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_bootstrap_recv(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_bootstrap_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_bootstrap_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);

    h = aiot_bootstrap_init();
    CHECK(h != NULL, "init");
    g_handle = h;
    CHECK_RC(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_PORT, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_MAX, &port), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_MAX + 7, &port), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_MQTT_HANDLE, NULL), STATE_USER_INPUT_NULL_POINTER);
    /* send_request's order: product key, device name, then the credential (HTTP client). */
    CHECK_RC(aiot_bootstrap_send_request(h), STATE_USER_INPUT_MISSING_PRODUCT_KEY);
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_PRODUCT_KEY, (void *)env->product_key));
    CHECK_RC(aiot_bootstrap_send_request(h), STATE_USER_INPUT_MISSING_DEVICE_NAME);
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_DEVICE_NAME, (void *)env->device_name));
    CHECK_RC(aiot_bootstrap_send_request(h), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_bootstrap_recv(h), STATE_BOOTSTRAP_NEED_SEND_REQUEST);

    /* A server that does not speak HTTP (the broker's plain port): an error, no callback. */
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_HOST, (void *)env->host));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_PORT, &port));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_NETWORK_CRED, &cred));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_TIMEOUT_MS, &timeout));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_RECV_TIMEOUT_MS, &timeout));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_RECV_HANDLER, (void *)bootstrap_recv_handler));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_USERDATA, (void *)&g_status));
    CHECK_NEG(ask(h));
    CHECK(g_status_calls == 0 && g_info_calls == 0, "a callback from a non-HTTP server");

    /* A CA that did not sign the service's certificate: the TLS handshake fails. */
    ca_pem = demo_read_file(demo_env("AIOT_CA_FILE"), NULL);
    wrong_ca_pem = demo_read_file(demo_env("AIOT_WRONG_CA_FILE"), NULL);
    wrong_ca = demo_ca_cred(wrong_ca_pem);
    port = demo_env_port("AIOT_AUTH_PORT");
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_HOST, (void *)demo_env("AIOT_AUTH_HOST")));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_PORT, &port));
    CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_NETWORK_CRED, &wrong_ca));
    CHECK_RC(ask(h), STATE_PORT_TLS_INVALID_HANDSHAKE);
    CHECK(g_status_calls == 0, "a callback after a failed handshake");
    /* The right CA works on the same handle. */
    {
        aiot_sysdep_network_cred_t good = demo_ca_cred(ca_pem);
        CHECK_OK(aiot_bootstrap_setopt(h, AIOT_BOOTSTRAPOPT_NETWORK_CRED, &good));
        CHECK_OK(ask(h));
        CHECK(g_info_calls == 1, "no endpoint");
    }

    CHECK_OK(aiot_bootstrap_deinit(&h));
    CHECK(h == NULL, "deinit did not clear the handle");
    CHECK(g_userdata_ok, "a handler got the wrong handle or userdata");
    free(ca_pem);
    free(wrong_ca_pem);
}

int main(int argc, char *argv[])
{
    demo_env_t env;
    const char *mode = argc > 1 ? argv[1] : "ok";

    demo_env_load(&env);
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    aiot_state_set_logcb(demo_logcb);
    demo_watchdog(150, "bootstrap demo", 1);

    if (strcmp(mode, "ok") == 0) {
        mode_platform(&env, NULL);
    } else if (strcmp(mode, "region") == 0) {
        mode_platform(&env, "1");
    } else if (strcmp(mode, "backup-ip") == 0) {
        mode_backup_ip(&env);
    } else if (strcmp(mode, "errors") == 0) {
        mode_errors(&env);
    } else if (strcmp(mode, "hostile") == 0) {
        mode_hostile(&env);
    } else {
        demo_fail(__FILE__, __LINE__, "unknown mode %s", mode);
    }
    demo_log("bootstrap %s: OK", mode);
    return 0;
}
