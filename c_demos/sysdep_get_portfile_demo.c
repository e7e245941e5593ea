/*
 * aiot_sysdep_get_portfile() after another aiot_sysdep_set_portfile().
 *
 * Upstream keeps one static copy of the portfile and returns its address, so the pointer stays
 * valid forever and always shows the port set last. Asserts:
 *   - get_portfile returns the same address before and after a second set_portfile, and its
 *     function pointers read through the first pointer are the second port's (and callable);
 *   - the library copied the table: the caller's structs may be overwritten after the call;
 *   - after set_portfile(NULL) get_portfile is NULL, and the earlier pointer is still readable;
 *   - a handle made under the first port still connects, publishes and is acknowledged after
 *     the switch, through the first port's network functions (it keeps the port it was made
 *     with); a handle made after the switch goes through the second port.
 * Run under valgrind memcheck too (leak_sysdep_get_portfile_demo): a read of freed memory
 * fails that test.
 */
#include "demo_common.h"

static aiot_sysdep_portfile_t g_real;

static unsigned long g_a_sends;
static unsigned long g_b_sends;
static unsigned long g_b_time_calls;
static int g_puback_count;

static int32_t a_network_send(void *handle, uint8_t *buffer, uint32_t len, uint32_t timeout_ms,
                              core_sysdep_addr_t *addr)
{
    g_a_sends++;
    return g_real.core_sysdep_network_send(handle, buffer, len, timeout_ms, addr);
}

static int32_t b_network_send(void *handle, uint8_t *buffer, uint32_t len, uint32_t timeout_ms,
                              core_sysdep_addr_t *addr)
{
    g_b_sends++;
    return g_real.core_sysdep_network_send(handle, buffer, len, timeout_ms, addr);
}

static uint64_t b_time(void)
{
    g_b_time_calls++;
    return g_real.core_sysdep_time();
}

static void recv_handler(void *handle, const aiot_mqtt_recv_t *packet, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (packet->type == AIOT_MQTTRECV_PUB_ACK) {
        g_puback_count++;
    }
}

static void *new_handle(const demo_env_t *env)
{
    void *mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "aiot_mqtt_init returned NULL");
    demo_mqtt_set_device(mqtt, env->host, env->port, env->product_key, env->device_name, env->device_secret);
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_RECV_HANDLER, (void *)recv_handler));
    return mqtt;
}

/* connect, one QoS1 publish acknowledged, disconnect, deinit */
static void publish_once(void **mqtt, const char *topic)
{
    uint8_t payload[] = "portfile";
    g_puback_count = 0;
    CHECK_OK(aiot_mqtt_connect(*mqtt));
    CHECK_POS(aiot_mqtt_pub(*mqtt, (char *)topic, payload, (uint32_t)sizeof(payload), 1));
    RECV_UNTIL(*mqtt, g_puback_count >= 1, 5000);
    CHECK_OK(aiot_mqtt_disconnect(*mqtt));
    CHECK_OK(aiot_mqtt_deinit(mqtt));
}

int main(void)
{
    demo_env_t env;
    char topic[128];
    aiot_sysdep_portfile_t *a = malloc(sizeof(*a));
    aiot_sysdep_portfile_t *b = malloc(sizeof(*b));
    aiot_sysdep_portfile_t *first, *second;
    void *early, *late;
    unsigned long before;

    CHECK(a != NULL && b != NULL, "out of memory");
    demo_env_load(&env);
    snprintf(topic, sizeof(topic), "/%s/%s/user/portfile", env.product_key, env.device_name);
    CHECK_OK(aiot_state_set_logcb(demo_logcb));
    demo_log_set_quiet(1);

    g_real = g_aiot_sysdep_portfile;
    *a = g_real;
    a->core_sysdep_network_send = a_network_send;
    *b = g_real;
    b->core_sysdep_network_send = b_network_send;
    b->core_sysdep_time = b_time;

    aiot_sysdep_set_portfile(a);
    first = aiot_sysdep_get_portfile();
    CHECK(first != NULL, "aiot_sysdep_get_portfile() is NULL after a complete portfile was set");
    CHECK(first != a, "aiot_sysdep_get_portfile() returned the caller's struct, not the library's copy");
    CHECK(first->core_sysdep_network_send == a_network_send, "the copy does not hold the first port's send");
    early = new_handle(&env);

    /* the second port; the caller's first struct is gone afterwards */
    aiot_sysdep_set_portfile(b);
    memset(a, 0xA5, sizeof(*a));
    free(a);
    /* read through the first pointer before anything else (memcheck flags a freed copy here) */
    CHECK(first->core_sysdep_network_send == b_network_send,
          "the first pointer does not show the second port's network_send");
    CHECK(first->core_sysdep_time == b_time, "the first pointer does not show the second port's time");
    CHECK(first->core_sysdep_malloc == g_real.core_sysdep_malloc, "the first pointer's malloc changed");
    second = aiot_sysdep_get_portfile();
    CHECK(second == first, "aiot_sysdep_get_portfile() moved: %p, then %p", (void *)first, (void *)second);
    before = g_b_time_calls;
    CHECK(first->core_sysdep_time() > 0, "time through the first pointer returned 0");
    CHECK(g_b_time_calls == before + 1, "time through the first pointer did not reach the second port");

    /* the handle made under the first port keeps working, through the first port */
    publish_once(&early, topic);
    CHECK(g_a_sends >= 2, "the early handle sent %lu times through the first port", g_a_sends);
    CHECK(g_b_sends == 0, "the early handle sent %lu times through the second port", g_b_sends);

    /* a handle made now goes through the second port */
    late = new_handle(&env);
    publish_once(&late, topic);
    CHECK(g_b_sends >= 2, "the late handle sent %lu times through the second port", g_b_sends);

    /* cleared: NULL from now on, and the old address is still readable */
    aiot_sysdep_set_portfile(NULL);
    CHECK(aiot_sysdep_get_portfile() == NULL, "aiot_sysdep_get_portfile() is not NULL after set_portfile(NULL)");
    CHECK(aiot_mqtt_init() == NULL, "aiot_mqtt_init succeeded with no portfile");
    CHECK(first->core_sysdep_network_send == b_network_send, "the copy changed on set_portfile(NULL)");

    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    CHECK(aiot_sysdep_get_portfile() == first, "aiot_sysdep_get_portfile() moved on the third set");
    CHECK(first->core_sysdep_network_send == g_real.core_sysdep_network_send,
          "the copy does not show our POSIX port after the third set");
    free(b);
    demo_log("sysdep_get_portfile_demo: all checks passed");
    return 0;
}
