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
 * - MOSQ_EVT_DISCONNECT: forgets that connection (not a newer one with the same client id).
 *
 * Built by platform/build.rs against the mosquitto-dev headers (plugin API version 5,
 * mosquitto 2.0); the platform binary carries it and writes it into the state folder.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define PLATFORM_USER "platform"
#define MAX_CLIENTS 256
#define MAX_ID 256
#define MAX_USER 160

struct session {
    const struct mosquitto *client; /* the connection, to forget it on its own disconnect */
    char client_id[MAX_ID];
    char username[MAX_USER];
};

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
static void forget(const struct mosquitto *client)
{
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        if (g_sessions[i].client_id[0] && g_sessions[i].client == client) {
            g_sessions[i].client_id[0] = '\0';
        }
    }
}

static void remember(const struct mosquitto *client, const char *client_id, const char *username)
{
    if (client_id == NULL || username == NULL) {
        return;
    }
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        if (g_sessions[i].client_id[0] && strcmp(g_sessions[i].client_id, client_id) == 0) {
            g_sessions[i].client_id[0] = '\0';
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
    }
    g_sessions[slot].client = client;
    if (!copy(g_sessions[slot].client_id, MAX_ID, client_id) ||
        !copy(g_sessions[slot].username, MAX_USER, username)) {
        g_sessions[slot].client_id[0] = '\0';
    }
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

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)userdata;
    struct mosquitto_evt_basic_auth *ev = event_data;
    remember(ev->client, mosquitto_client_id(ev->client), ev->username);
    return MOSQ_ERR_PLUGIN_DEFER;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)userdata;
    struct mosquitto_evt_disconnect *ev = event_data;
    forget(ev->client);
    return MOSQ_ERR_SUCCESS;
}

static int on_message(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)userdata;
    struct mosquitto_evt_message *ev = event_data;
    const char *sender = mosquitto_client_username(ev->client);
    char user[MAX_USER];
    if (sender == NULL || strcmp(sender, PLATFORM_USER) != 0 || !device_of(ev->topic, user, sizeof(user))) {
        return MOSQ_ERR_SUCCESS;
    }
    int delivered = 0;
    for (unsigned i = 0; i < MAX_CLIENTS; i++) {
        if (g_sessions[i].client_id[0] && strcmp(g_sessions[i].username, user) == 0) {
            if (mosquitto_broker_publish_copy(g_sessions[i].client_id, ev->topic, (int)ev->payloadlen,
                                              ev->payload, ev->qos, false, NULL) == MOSQ_ERR_SUCCESS) {
                delivered++;
            }
        }
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "aiot_delivery: %s -> %d client(s) of %s", ev->topic, delivered, user);
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
    (void)opts;
    (void)opt_count;
    g_id = identifier;
    if (mosquitto_callback_register(g_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL) ||
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
    mosquitto_callback_unregister(g_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
    mosquitto_callback_unregister(g_id, MOSQ_EVT_MESSAGE, on_message, NULL);
    return MOSQ_ERR_SUCCESS;
}
