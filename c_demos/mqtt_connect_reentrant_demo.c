/*
 * aiot_mqtt_connect called from inside the event handler, as upstream allows:
 *   1. from the CONNECT event (once): the nested connect succeeds and fires RECONNECT;
 *   2. with automatic reconnect off, from the DISCONNECT event after a broker restart: the
 *      handler reconnects by hand (bounded retries) and the session works again.
 * A watchdog (alarm) ends the program with status 2 if any call hangs.
 *
 * Asserts: the outer and nested connects return 0; the events come in the expected order;
 * after the manual reconnect a QoS1 publish is acknowledged and comes back.
 */
#include "demo_common.h"

#include <signal.h>
#include <unistd.h>

#define WATCHDOG_S 60

static void *g_mqtt;
static char g_topic[128];
static int g_connects, g_reconnects, g_disconnects;
static int g_nested_connect_done;
static int32_t g_nested_connect_rc = -1;
static int g_manual_reconnect;   /* reconnect by hand from DISCONNECT */
static int32_t g_manual_rc = -1;
static int g_manual_tries;
static int g_echoes, g_pubacks;

static void event_handler(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)userdata;
    demo_log("event %u", (unsigned)event->type);
    if (event->type == AIOT_MQTTEVT_CONNECT) {
        g_connects++;
        if (!g_nested_connect_done) {
            g_nested_connect_done = 1;
            g_nested_connect_rc = aiot_mqtt_connect(handle);
        }
    } else if (event->type == AIOT_MQTTEVT_RECONNECT) {
        g_reconnects++;
    } else if (event->type == AIOT_MQTTEVT_DISCONNECT) {
        g_disconnects++;
        if (g_manual_reconnect) {
            g_manual_reconnect = 0;
            /* the broker is restarting: try for up to ~20 s */
            for (g_manual_tries = 1; g_manual_tries <= 100; g_manual_tries++) {
                g_manual_rc = aiot_mqtt_connect(handle);
                if (g_manual_rc == STATE_SUCCESS) {
                    break;
                }
                demo_sleep_ms(200);
            }
        }
    }
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        g_pubacks++;
    }
}

static void topic_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB) {
        g_echoes++;
    }
}

static void roundtrip(void)
{
    g_echoes = 0;
    g_pubacks = 0;
    CHECK_POS(aiot_mqtt_pub(g_mqtt, g_topic, (uint8_t *)"ping", 4, 1));
    RECV_UNTIL(g_mqtt, g_echoes >= 1 && g_pubacks >= 1, 10000);
}

int main(void)
{
    demo_env_t env;
    uint32_t recv_timeout_ms = 200, connect_timeout_ms = 2000;
    uint8_t reconn_off = 0;
    uint64_t dl;
    char b[16];

    demo_watchdog(WATCHDOG_S, "mqtt_connect_reentrant_demo: aiot_mqtt_connect from an event handler", 2);

    demo_env_load(&env);
    snprintf(g_topic, sizeof(g_topic), "/%s/%s/user/reconnect", env.product_key, env.device_name);
    g_mqtt = demo_mqtt_new(env.host, env.port, &env, default_handler, event_handler);
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_CONNECT_TIMEOUT_MS, &connect_timeout_ms));

    /* 1. connect from the CONNECT event */
    CHECK_OK(aiot_mqtt_connect(g_mqtt));
    CHECK(g_nested_connect_done, "the CONNECT event did not fire");
    CHECK_OK(g_nested_connect_rc);
    CHECK(g_connects == 1 && g_reconnects == 1, "events: connect %d reconnect %d, expected 1 and 1", g_connects,
          g_reconnects);
    CHECK_POS(aiot_mqtt_sub(g_mqtt, g_topic, topic_handler, 1, NULL));
    RECV_FOR(g_mqtt, 300);
    roundtrip();

    /* 2. automatic reconnect off; reconnect by hand from the DISCONNECT event */
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_RECONN_ENABLED, &reconn_off));
    g_manual_reconnect = 1;
    CHECK(demo_broker_ctl("restart") == 0, "broker-ctl restart failed");
    dl = demo_deadline(40000);
    while (g_manual_rc != STATE_SUCCESS) {
        CHECK(!demo_expired(dl), "no manual reconnect within 40 s (disconnects %d, tries %d, last %s)", g_disconnects,
              g_manual_tries, demo_code_str(g_manual_rc, b));
        (void)aiot_mqtt_recv(g_mqtt); /* notices the lost connection, fires DISCONNECT */
        if (g_disconnects > 0 && g_manual_rc != STATE_SUCCESS && !g_manual_reconnect) {
            demo_fail(__FILE__, __LINE__, "manual reconnect failed after %d tries: %s", g_manual_tries,
                      demo_code_str(g_manual_rc, b));
        }
    }
    demo_log("manual reconnect after %d tries; events: connect %d reconnect %d disconnect %d", g_manual_tries,
             g_connects, g_reconnects, g_disconnects);
    CHECK(g_disconnects == 1, "DISCONNECT events: %d, expected 1", g_disconnects);
    CHECK(g_reconnects == 2, "RECONNECT events: %d, expected 2", g_reconnects);
    roundtrip();

    CHECK_OK(aiot_mqtt_disconnect(g_mqtt));
    CHECK_OK(aiot_mqtt_deinit(&g_mqtt));
    demo_watchdog(0, NULL, 0);
    demo_log("mqtt_connect_reentrant_demo: all checks passed");
    return 0;
}
