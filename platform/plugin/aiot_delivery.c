/*
 * mosquitto plugin of the local platform: delivers the platform's messages on a device's system
 * topics to that device without a SUBSCRIBE, as Aliyun's broker does. Devices built on Link SDK
 * C never subscribe to /ota/device/upgrade/<pk>/<dn> or /sys/<pk>/<dn>/... replies; they just
 * receive them.
 *
 * - MOSQ_EVT_BASIC_AUTH: remembers which client id logged in with which user name (the decision
 *   is left to the password file: the callback defers).
 * - MOSQ_EVT_MESSAGE: a message from the user "platform" on /sys/<pk>/<dn>/..., /ota/<x>/<y>/
 *   <pk>/<dn>, /shadow/<x>/<pk>/<dn>, /ext/rrpc/<rrpcId>/sys/<pk>/<dn>/... or
 *   /ext/ntp/<pk>/<dn>/... is published directly to every client logged in as "<dn>&<pk>" and
 *   not delivered through subscriptions (so a device that also subscribed gets it once).
 *   Messages of devices are never redirected: a device gets nothing back of its own uplinks
 *   (an RRPC reply shares its topic with the request; an echo would be a new call).
 * - Exception: the downlinks of g_subscribed_downlinks (devinfo get_reply, mqtt_download's
 *   download_reply) reach a device only through its own SUBSCRIBE, as on Aliyun, and never the
 *   platform's own subscriptions.
 * - Test injection: a message from "platform" on /aiot-platform/to/<pk>/<dn> whose payload is
 *   "<topic>\n<bytes>" is published as <bytes> on <topic> directly to that device's clients,
 *   whatever <topic> names (e.g. a system topic with an empty product key, which no device's
 *   ACL or subscription covers); used by `aiot-platform dm publish --to`.
 * - MOSQ_EVT_DISCONNECT: forgets that connection (not a newer one with the same client id).
 *
 * Dynamic registration (options `prov_socket` and `prov_creds`, set by the platform):
 * - A CONNECT whose client id carries `authType=register` or `authType=regnwl` is decided by
 *   the platform: the plugin sends "<client id>\n<user>\n<password>\n" to the Unix socket
 *   `prov_socket` and gets "OK\n<topic>\n<payload>" (accepted; the answer to publish) or
 *   "NO ...". An accepted session may do nothing at all (every ACL check is denied but the
 *   read of its own answer); on a tick after CONNACK the answer is published to it alone (no
 *   subscription), and 500 ms later the connection is closed without a DISCONNECT.
 * - Devices registered that way log in with the credentials in the file `prov_creds`
 *   ("<user> <password> [<client id prefix>]" a line, reread when it changes): the plugin
 *   accepts them and gives them the same per-device ACL as the acl file gives static devices.
 *   Everyone else is left to the password file and acl file (the callbacks defer).
 *
 * Built by platform/build.rs against the mosquitto-dev headers (plugin API version 5,
 * mosquitto 2.0); the platform binary carries it and writes it into the state folder.
 */
#define _DEFAULT_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define PLATFORM_USER "platform"
#define MAX_CLIENTS 256
#define MAX_ID 256
#define MAX_USER 160

#define MAX_PASS 160
/* The platform's answer: topic and payload (a hostile one from `prov fault` may have megabytes). */
#define MAX_ANSWER (9 * 1024 * 1024)
#define MAX_CREDS 512

enum kind {
    KIND_STATIC = 0,   /* left to the password and acl files */
    KIND_DYNAMIC = 1,  /* a dynamically registered device (prov_creds) */
    KIND_REGISTER = 2, /* a registration connection: gets its answer, then is closed */
};

struct session {
    const struct mosquitto *client; /* the connection, to forget it on its own disconnect */
    char client_id[MAX_ID];
    char username[MAX_USER];
    int kind;
    /* KIND_REGISTER: the answer, its state (1 to publish, 2 published) and when to go on. */
    int reg_state;
    long long reg_due_ms;
    char reg_topic[32];
    char *reg_payload; /* malloc'd, freed by clear() */
};

struct cred {
    char user[MAX_USER];
    char pass[MAX_PASS];
    char client_prefix[MAX_ID]; /* empty: any client id */
};

static struct cred g_creds[MAX_CREDS];
static unsigned g_ncreds;
static char g_creds_path[512];
static char g_sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct stat g_creds_stat;
static unsigned g_special; /* sessions of KIND_DYNAMIC or KIND_REGISTER (fast path when 0) */

static struct session g_sessions[MAX_CLIENTS];
static unsigned g_next; /* slot reused when the table is full (oldest first) */
static mosquitto_plugin_id_t *g_id;

static bool copy(char *dst, size_t cap, const char *src)
{
    if (src == NULL || strlen(src) >= cap) {
        return false;
    }
    strcpy(dst, src);
    return true;
}

/* Forgets the entry of this connection. A client that took over the client id of an older
 * connection has its own entry: the old connection's disconnect does not remove it. */
static void clear(struct session *s)
{
    if (s->client_id[0] && s->kind != KIND_STATIC && g_special > 0) {
        g_special--;
    }
    s->client_id[0] = '\0';
    s->kind = KIND_STATIC;
    s->reg_state = 0;
    free(s->reg_payload);
    s->reg_payload = NULL;
}

static void forget(const struct mosquitto *client)
{
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        if (g_sessions[i].client_id[0] && g_sessions[i].client == client) {
            clear(&g_sessions[i]);
        }
    }
}

static struct session *session_of(const struct mosquitto *client)
{
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        if (g_sessions[i].client_id[0] && g_sessions[i].client == client) {
            return &g_sessions[i];
        }
    }
    return NULL;
}

static struct session *remember(const struct mosquitto *client, const char *client_id, const char *username,
                                int kind)
{
    if (client_id == NULL || username == NULL) {
        return NULL;
    }
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        if (g_sessions[i].client_id[0] && strcmp(g_sessions[i].client_id, client_id) == 0) {
            clear(&g_sessions[i]);
        }
    }
    unsigned slot = MAX_CLIENTS;
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        if (g_sessions[i].client_id[0] == '\0') {
            slot = i;
            break;
        }
    }
    if (slot == MAX_CLIENTS) {
        slot = g_next;
        g_next = (g_next + 1) % MAX_CLIENTS;
        clear(&g_sessions[slot]);
    }
    struct session *s = &g_sessions[slot];
    s->client = client;
    s->reg_state = 0;
    if (!copy(s->client_id, MAX_ID, client_id) || !copy(s->username, MAX_USER, username)) {
        s->client_id[0] = '\0';
        return NULL;
    }
    s->kind = kind;
    if (kind != KIND_STATIC) {
        g_special++;
    }
    return s;
}

/* Copies segment `n` (0-based, after the leading '/') of `topic` into `out`. */
static bool segment(const char *topic, int n, char *out, size_t cap)
{
    if (topic[0] != '/') {
        return false;
    }
    const char *p = topic + 1;
    for (int i = 0; i < n; i++) {
        p = strchr(p, '/');
        if (p == NULL) {
            return false;
        }
        p++;
    }
    size_t len = strcspn(p, "/");
    if (len == 0 || len >= cap) {
        return false;
    }
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

/* The device ("<dn>&<pk>") a system topic belongs to, or false for other topics. */
static bool device_of(const char *topic, char *user, size_t cap)
{
    char first[16], second[16], pk[64], dn[64];
    int pk_at;
    if (!segment(topic, 0, first, sizeof(first))) {
        return false;
    }
    if (strcmp(first, "ext") == 0) {
        if (!segment(topic, 1, second, sizeof(second))) {
            return false;
        }
        if (strcmp(second, "ntp") == 0) {
            pk_at = 2; /* /ext/ntp/<pk>/<dn>/... */
        } else if (strcmp(second, "rrpc") == 0 && segment(topic, 3, second, sizeof(second)) &&
                   strcmp(second, "sys") == 0) {
            pk_at = 4; /* /ext/rrpc/<rrpcId>/sys/<pk>/<dn>/... */
        } else {
            return false;
        }
    } else if (strcmp(first, "sys") == 0) {
        pk_at = 1; /* /sys/<pk>/<dn>/... */
    } else if (strcmp(first, "ota") == 0) {
        pk_at = 3; /* /ota/device/<what>/<pk>/<dn> */
    } else if (strcmp(first, "shadow") == 0) {
        pk_at = 2; /* /shadow/<what>/<pk>/<dn> */
    } else {
        return false;
    }
    if (!segment(topic, pk_at, pk, sizeof(pk)) || !segment(topic, pk_at + 1, dn, sizeof(dn))) {
        return false;
    }
    return snprintf(user, cap, "%s&%s", dn, pk) < (int)cap;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Rereads prov_creds when it changed (the platform replaces it atomically). */
static void load_creds(void)
{
    struct stat st;
    if (g_creds_path[0] == '\0' || stat(g_creds_path, &st) != 0) {
        g_ncreds = 0;
        memset(&g_creds_stat, 0, sizeof(g_creds_stat));
        return;
    }
    if (st.st_ino == g_creds_stat.st_ino && st.st_size == g_creds_stat.st_size &&
        st.st_mtim.tv_sec == g_creds_stat.st_mtim.tv_sec && st.st_mtim.tv_nsec == g_creds_stat.st_mtim.tv_nsec) {
        return;
    }
    FILE *f = fopen(g_creds_path, "r");
    if (f == NULL) {
        return;
    }
    g_creds_stat = st;
    g_ncreds = 0;
    char line[MAX_USER + MAX_PASS + MAX_ID + 8];
    while (g_ncreds < MAX_CREDS && fgets(line, sizeof(line), f) != NULL) {
        struct cred *c = &g_creds[g_ncreds];
        char *save = NULL;
        char *user = strtok_r(line, " \n", &save);
        char *pass = strtok_r(NULL, " \n", &save);
        char *prefix = strtok_r(NULL, " \n", &save);
        if (user == NULL || pass == NULL || !copy(c->user, MAX_USER, user) || !copy(c->pass, MAX_PASS, pass)) {
            continue;
        }
        c->client_prefix[0] = '\0';
        if (prefix != NULL && !copy(c->client_prefix, MAX_ID, prefix)) {
            continue;
        }
        g_ncreds++;
    }
    fclose(f);
}

/* Whether these are the credentials of a dynamically registered device (a mismatch is left
 * to the password file, which refuses user names it does not know). */
static bool check_creds(const char *client_id, const char *user, const char *pass)
{
    load_creds();
    for (unsigned i = 0; i < g_ncreds; i++) {
        const struct cred *c = &g_creds[i];
        if (strcmp(c->user, user) != 0 || strcmp(c->pass, pass) != 0) {
            continue;
        }
        size_t plen = strlen(c->client_prefix);
        if (plen == 0 || (strncmp(client_id, c->client_prefix, plen) == 0 && client_id[plen] == '|')) {
            return true;
        }
    }
    return false;
}

/* Whether the client id asks for a registration (authType=register or regnwl in its |...|). */
static bool is_registration(const char *client_id)
{
    const char *p = strchr(client_id, '|');
    if (p == NULL) {
        return false;
    }
    return strstr(p, "authType=register,") || strstr(p, "authType=register|") || strstr(p, "authType=regnwl,") ||
           strstr(p, "authType=regnwl|");
}

/* Asks the platform about a registration; fills the answer when it accepts. */
static bool ask_platform(const char *client_id, const char *user, const char *pass, struct session *out)
{
    if (g_sock_path[0] == '\0' || strchr(client_id, '\n') || strchr(user, '\n') || strchr(pass, '\n')) {
        return false;
    }
    char req[MAX_ID + MAX_USER + MAX_PASS + 8];
    int n = snprintf(req, sizeof(req), "%s\n%s\n%s\n", client_id, user, pass);
    if (n < 0 || n >= (int)sizeof(req)) {
        return false;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, g_sock_path, strlen(g_sock_path));
    size_t cap = 4096, got = 0;
    char *buf = malloc(cap);
    bool ok = buf != NULL && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
              write(fd, req, (size_t)n) == (ssize_t)n;
    if (ok) {
        shutdown(fd, SHUT_WR);
        ssize_t r;
        for (;;) {
            if (got == cap - 1) {
                char *bigger = cap < MAX_ANSWER ? realloc(buf, cap * 2) : NULL;
                if (bigger == NULL) {
                    break;
                }
                buf = bigger;
                cap *= 2;
            }
            r = read(fd, buf + got, cap - 1 - got);
            if (r <= 0) {
                break;
            }
            got += (size_t)r;
        }
    }
    close(fd);
    if (buf == NULL) {
        return false;
    }
    buf[got] = '\0';
    if (!ok || strncmp(buf, "OK\n", 3) != 0) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "aiot_delivery: registration of %s refused: %s", client_id,
                             ok ? buf : "platform not reachable");
        free(buf);
        return false;
    }
    char *topic = buf + 3;
    char *nl = strchr(topic, '\n');
    bool taken = nl != NULL;
    if (taken) {
        *nl = '\0';
        taken = copy(out->reg_topic, sizeof(out->reg_topic), topic) && (out->reg_payload = strdup(nl + 1)) != NULL;
    }
    free(buf);
    return taken;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)userdata;
    struct mosquitto_evt_basic_auth *ev = event_data;
    const char *client_id = mosquitto_client_id(ev->client);
    if (client_id != NULL && ev->username != NULL && ev->password != NULL) {
        if (is_registration(client_id)) {
            struct session answer;
            answer.reg_payload = NULL;
            if (!ask_platform(client_id, ev->username, ev->password, &answer)) {
                free(answer.reg_payload);
                return MOSQ_ERR_AUTH;
            }
            /* Not under its user name: it must get none of that device's messages. */
            struct session *s = remember(ev->client, client_id, "", KIND_REGISTER);
            if (s == NULL) {
                free(answer.reg_payload);
                return MOSQ_ERR_AUTH;
            }
            memcpy(s->reg_topic, answer.reg_topic, sizeof(s->reg_topic));
            s->reg_payload = answer.reg_payload;
            s->reg_state = 1;
            s->reg_due_ms = now_ms() + 20;
            return MOSQ_ERR_SUCCESS;
        }
        if (check_creds(client_id, ev->username, ev->password)) {
            remember(ev->client, client_id, ev->username, KIND_DYNAMIC);
            return MOSQ_ERR_SUCCESS;
        }
    }
    remember(ev->client, client_id, ev->username, KIND_STATIC);
    return MOSQ_ERR_PLUGIN_DEFER;
}

/* Whether `topic` (a topic or a subscription filter) matches `pattern` ('+' one level, a final
 * '#' the rest); wildcards in `topic` match only the same wildcard. */
static bool matches(const char *pattern, const char *topic)
{
    while (*pattern) {
        if (pattern[0] == '#' && pattern[1] == '\0') {
            return true;
        }
        size_t pl = strcspn(pattern, "/"), tl = strcspn(topic, "/");
        if (!(pl == 1 && pattern[0] == '+') && (pl != tl || strncmp(pattern, topic, pl) != 0)) {
            return false;
        }
        pattern += pl;
        topic += tl;
        if (*pattern == '/' && *topic == '/') {
            pattern++;
            topic++;
            /* "/#" also covers the parent level */
            if (pattern[0] == '#' && pattern[1] == '\0') {
                return true;
            }
        } else if (*pattern == '/' && *topic == '\0') {
            return strcmp(pattern, "/#") == 0;
        } else {
            return *pattern == *topic;
        }
    }
    return *topic == '\0';
}

/* Downlinks a device gets only through its own SUBSCRIBE, as on Aliyun (the SDK subscribes to
 * them): not redirected, and never delivered to the platform's own subscriptions. */
static const char *const g_subscribed_downlinks[] = {
    "/sys/+/+/thing/deviceinfo/get_reply",
    "/sys/+/+/thing/file/download_reply",
};

static bool subscribed_downlink(const char *topic)
{
    for (size_t i = 0; i < sizeof(g_subscribed_downlinks) / sizeof(g_subscribed_downlinks[0]); i++) {
        if (matches(g_subscribed_downlinks[i], topic)) {
            return true;
        }
    }
    return false;
}

/* The acl file's per-device topics, for a dynamically registered device "<dn>&<pk>". */
static bool device_may_use(const char *username, const char *topic)
{
    char dn[64], pk[64], pattern[256];
    const char *amp = strchr(username, '&');
    if (amp == NULL || (size_t)(amp - username) >= sizeof(dn) || strlen(amp + 1) >= sizeof(pk)) {
        return false;
    }
    memcpy(dn, username, (size_t)(amp - username));
    dn[amp - username] = '\0';
    strcpy(pk, amp + 1);
    const char *forms[] = {"/%s/%s/#", "/sys/%s/%s/#", "/ota/device/+/%s/%s", "/shadow/+/%s/%s",
                           "/ext/rrpc/+/sys/%s/%s/#", "/ext/ntp/%s/%s/#"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        snprintf(pattern, sizeof(pattern), forms[i], pk, dn);
        if (matches(pattern, topic)) {
            return true;
        }
    }
    return false;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)userdata;
    struct mosquitto_evt_acl_check *ev = event_data;
    if (ev->access == MOSQ_ACL_READ && subscribed_downlink(ev->topic)) {
        const char *reader = mosquitto_client_username(ev->client);
        if (reader != NULL && strcmp(reader, PLATFORM_USER) == 0) {
            return MOSQ_ERR_ACL_DENIED;
        }
    }
    if (g_special == 0) {
        return MOSQ_ERR_PLUGIN_DEFER;
    }
    struct session *s = session_of(ev->client);
    if (s == NULL || s->kind == KIND_STATIC) {
        return MOSQ_ERR_PLUGIN_DEFER;
    }
    if (s->kind == KIND_REGISTER) {
        bool own_answer = ev->access == MOSQ_ACL_READ && strcmp(ev->topic, s->reg_topic) == 0;
        return own_answer ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    }
    if (ev->access == MOSQ_ACL_UNSUBSCRIBE) {
        return MOSQ_ERR_SUCCESS;
    }
    return device_may_use(s->username, ev->topic) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
}

/* Publishes registration answers, then closes those connections. */
static int on_tick(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)event_data;
    (void)userdata;
    if (g_special == 0) {
        return MOSQ_ERR_SUCCESS;
    }
    long long now = now_ms();
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        struct session *s = &g_sessions[i];
        if (!s->client_id[0] || s->kind != KIND_REGISTER || now < s->reg_due_ms) {
            continue;
        }
        if (s->reg_state == 1) {
            mosquitto_broker_publish_copy(s->client_id, s->reg_topic, (int)strlen(s->reg_payload), s->reg_payload, 0,
                                          false, NULL);
            mosquitto_log_printf(MOSQ_LOG_INFO, "aiot_delivery: registration answer on %s to %s", s->reg_topic,
                                 s->client_id);
            s->reg_state = 2;
            s->reg_due_ms = now + 500;
        } else if (s->reg_state == 2) {
            char id[MAX_ID];
            strcpy(id, s->client_id);
            clear(s);
            mosquitto_kick_client_by_clientid(id, false);
        }
    }
    return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)userdata;
    struct mosquitto_evt_disconnect *ev = event_data;
    forget(ev->client);
    return MOSQ_ERR_SUCCESS;
}

/* Publishes `payload` on `topic` to every client logged in as `user`; how many took it. */
static int deliver(const char *user, const char *topic, const void *payload, int len, int qos)
{
    int delivered = 0;
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        if (g_sessions[i].client_id[0] && g_sessions[i].kind != KIND_REGISTER &&
            strcmp(g_sessions[i].username, user) == 0) {
            if (mosquitto_broker_publish_copy(g_sessions[i].client_id, topic, len, payload, qos, false, NULL) ==
                MOSQ_ERR_SUCCESS) {
                delivered++;
            }
        }
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "aiot_delivery: %s -> %d client(s) of %s", topic, delivered, user);
    return delivered;
}

#define INJECT_PREFIX "/aiot-platform/to/"

/* /aiot-platform/to/<pk>/<dn> with "<topic>\n<bytes>": <bytes> on <topic> to that device. */
static void inject(const struct mosquitto_evt_message *ev)
{
    char pk[64], dn[64], user[MAX_USER], topic[1024];
    const char *payload = ev->payload, *nl;
    if (!segment(ev->topic, 2, pk, sizeof(pk)) || !segment(ev->topic, 3, dn, sizeof(dn)) ||
        snprintf(user, sizeof(user), "%s&%s", dn, pk) >= (int)sizeof(user) || payload == NULL ||
        (nl = memchr(payload, '\n', (size_t)ev->payloadlen)) == NULL || nl == payload ||
        (size_t)(nl - payload) >= sizeof(topic)) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "aiot_delivery: malformed injection on %s", ev->topic);
        return;
    }
    memcpy(topic, payload, (size_t)(nl - payload));
    topic[nl - payload] = '\0';
    deliver(user, topic, nl + 1, (int)(ev->payloadlen - (uint32_t)(nl + 1 - payload)), ev->qos);
}

static int on_message(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)userdata;
    struct mosquitto_evt_message *ev = event_data;
    const char *sender = mosquitto_client_username(ev->client);
    char user[MAX_USER];
    if (sender == NULL || strcmp(sender, PLATFORM_USER) != 0) {
        return MOSQ_ERR_SUCCESS;
    }
    if (strncmp(ev->topic, INJECT_PREFIX, strlen(INJECT_PREFIX)) == 0) {
        inject(ev);
        return MOSQ_ERR_ACL_DENIED;
    }
    if (subscribed_downlink(ev->topic) || !device_of(ev->topic, user, sizeof(user))) {
        return MOSQ_ERR_SUCCESS;
    }
    deliver(user, ev->topic, ev->payload, (int)ev->payloadlen, ev->qos);
    /* Delivered directly: not through subscriptions as well. */
    return MOSQ_ERR_ACL_DENIED;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == 5) {
            return 5;
        }
    }
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *opts,
                          int opt_count)
{
    (void)userdata;
    g_id = identifier;
    for (int i = 0; i < opt_count; i++) {
        if (strcmp(opts[i].key, "prov_socket") == 0 && strlen(opts[i].value) < sizeof(g_sock_path)) {
            strcpy(g_sock_path, opts[i].value);
        } else if (strcmp(opts[i].key, "prov_creds") == 0 && strlen(opts[i].value) < sizeof(g_creds_path)) {
            strcpy(g_creds_path, opts[i].value);
        }
    }
    if (mosquitto_callback_register(g_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL) ||
        mosquitto_callback_register(g_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL) ||
        mosquitto_callback_register(g_id, MOSQ_EVT_TICK, on_tick, NULL, NULL) ||
        mosquitto_callback_register(g_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, NULL) ||
        mosquitto_callback_register(g_id, MOSQ_EVT_MESSAGE, on_message, NULL, NULL)) {
        return MOSQ_ERR_UNKNOWN;
    }
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
    (void)userdata;
    (void)opts;
    (void)opt_count;
    mosquitto_callback_unregister(g_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    mosquitto_callback_unregister(g_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
    mosquitto_callback_unregister(g_id, MOSQ_EVT_TICK, on_tick, NULL);
    mosquitto_callback_unregister(g_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
    mosquitto_callback_unregister(g_id, MOSQ_EVT_MESSAGE, on_message, NULL);
    return MOSQ_ERR_SUCCESS;
}
