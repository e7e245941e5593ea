/*
 * aiot_mqtt_recv called from inside a topic handler and from inside the default receive
 * handler, on the same handle (single thread, as upstream allows).
 *
 * Two QoS1 messages are published to a topic this device subscribes; the topic handler of the
 * first echo calls aiot_mqtt_recv, which must deliver the second echo (a nested dispatch), and
 * the default handler calls aiot_mqtt_recv on a PUBACK. A watchdog (alarm) ends the program
 * with status 2 if any call hangs.
 *
 * Asserts: every nested call returned a non-negative code, the second message was delivered
 * from inside the first handler, both PUBACKs arrived, and the handle still publishes and
 * receives afterwards.
 */
#include "demo_common.h"

#include <signal.h>
#include <unistd.h>

#define WATCHDOG_S 30

static void *g_mqtt;
static char g_topic[128];
static int g_depth;
static int g_nest = 1; /* handlers call aiot_mqtt_recv */
static int g_nested_calls, g_nested_failures;
static int32_t g_first_nested_failure;
static int g_echoes, g_echoes_nested, g_pubacks, g_pubacks_nested_recv;

static void nested_recv(void)
{
    int32_t rc;
    g_depth++;
    rc = aiot_mqtt_recv(g_mqtt);
    g_depth--;
    g_nested_calls++;
    if (rc < 0 && g_nested_failures++ == 0) {
        g_first_nested_failure = rc;
    }
}

static void topic_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type != AIOT_MQTTRECV_PUB) {
        return;
    }
    g_echoes++;
    if (g_depth > 0) {
        g_echoes_nested++;
        return;
    }
    if (!g_nest) {
        return;
    }
    /* the second echo should come in through this nested call (bounded number of tries) */
    {
        int tries;
        for (tries = 0; tries < 20 && g_echoes < 2; tries++) {
            nested_recv();
        }
    }
}

static void default_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        g_pubacks++;
        if (g_depth == 0 && g_nest) {
            nested_recv();
            g_pubacks_nested_recv++;
        }
    }
}

int main(void)
{
    demo_env_t env;
    uint32_t recv_timeout_ms = 200;
    char b[16];

    demo_watchdog(WATCHDOG_S, "mqtt_recv_reentrant_demo: aiot_mqtt_recv from a handler", 2);

    demo_env_load(&env);
    snprintf(g_topic, sizeof(g_topic), "/%s/%s/user/reentrant", env.product_key, env.device_name);
    g_mqtt = demo_mqtt_new(env.host, env.port, &env, default_handler, NULL);
    CHECK_OK(aiot_mqtt_setopt(g_mqtt, AIOT_MQTTOPT_RECV_TIMEOUT_MS, &recv_timeout_ms));
    CHECK_OK(aiot_mqtt_connect(g_mqtt));
    CHECK_POS(aiot_mqtt_sub(g_mqtt, g_topic, topic_handler, 1, NULL));
    RECV_FOR(g_mqtt, 300); /* SUBACK */

    CHECK_POS(aiot_mqtt_pub(g_mqtt, g_topic, (uint8_t *)"one", 3, 1));
    CHECK_POS(aiot_mqtt_pub(g_mqtt, g_topic, (uint8_t *)"two", 3, 1));
    RECV_UNTIL(g_mqtt, g_echoes >= 2 && g_pubacks >= 2, 10000);

    demo_log("echoes %d (nested %d), PUBACKs %d (nested recv from %d), nested calls %d, failed %d (%s)", g_echoes,
             g_echoes_nested, g_pubacks, g_pubacks_nested_recv, g_nested_calls, g_nested_failures,
             demo_code_str(g_first_nested_failure, b));
    CHECK(g_nested_calls > 0, "no nested aiot_mqtt_recv call was made");
    CHECK(g_nested_failures == 0, "%d nested aiot_mqtt_recv calls failed, first with %s", g_nested_failures,
          demo_code_str(g_first_nested_failure, b));
    CHECK(g_echoes_nested >= 1, "the second message was not delivered from inside the first handler");
    CHECK(g_pubacks_nested_recv >= 1, "the default handler never called aiot_mqtt_recv");

    /* still usable afterwards */
    g_nest = 0;
    g_echoes = 0;
    CHECK_POS(aiot_mqtt_pub(g_mqtt, g_topic, (uint8_t *)"three", 5, 1));
    RECV_UNTIL(g_mqtt, g_echoes >= 1, 10000);

    CHECK_OK(aiot_mqtt_disconnect(g_mqtt));
    CHECK_OK(aiot_mqtt_deinit(&g_mqtt));
    demo_watchdog(0, NULL, 0);
    demo_log("mqtt_recv_reentrant_demo: all checks passed");
    return 0;
}
