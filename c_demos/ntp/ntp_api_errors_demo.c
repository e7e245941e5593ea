/*
 * NTP API error paths, each with upstream's code and no crash: NULL handles and data, options
 * out of range, a request without an MQTT handle or after the MQTT handle's deinit, a deinit
 * that times out on a call in progress (then every call answers STATE_USER_INPUT_EXEC_DISABLED,
 * as upstream's handle does), and a normal deinit that clears the handle.
 */
#include "demo_common.h"

#include <pthread.h>

#include "aiot_ntp_api.h"

/* Our POSIX port, except that while g_slow is set each send first sleeps 1.5 s: a request
 * stays in progress long enough for a deinit to time out on it. */
static volatile int g_slow;
static int32_t (*g_real_send)(void *, uint8_t *, uint32_t, uint32_t, core_sysdep_addr_t *);

static int32_t slow_send(void *handle, uint8_t *buffer, uint32_t len, uint32_t timeout_ms,
                         core_sysdep_addr_t *addr)
{
    if (g_slow) {
        demo_sleep_ms(1500);
    }
    return g_real_send(handle, buffer, len, timeout_ms, addr);
}

/* Kept in a global: after the timed-out deinit the handle stays allocated, as upstream's. */
static void *g_leaked_ntp;
static int32_t g_request_result = 1;

static void *request_thread(void *ntp)
{
    g_request_result = aiot_ntp_send_request(ntp);
    return NULL;
}

int main(void)
{
    static aiot_sysdep_portfile_t port;
    demo_env_t env;
    void *mqtt, *ntp, *null_handle = NULL;
    int8_t zone = 8;
    uint32_t timeout_ms = 300;
    pthread_t t;

    demo_watchdog(60, "ntp_api_errors_demo", 1);
    demo_env_load(&env);

    /* No portfile yet: no handle. */
    CHECK(aiot_ntp_init() == NULL, "aiot_ntp_init without a portfile must return NULL");

    port = g_aiot_sysdep_portfile;
    g_real_send = port.core_sysdep_network_send;
    port.core_sysdep_network_send = slow_send;
    aiot_sysdep_set_portfile(&port);
    CHECK_OK(aiot_state_set_logcb(demo_logcb));

    ntp = aiot_ntp_init();
    CHECK(ntp != NULL, "aiot_ntp_init returned NULL");

    /* NULL handle or data: -0x0101; option out of range: -0x0102. */
    CHECK_RC(aiot_ntp_setopt(NULL, AIOT_NTPOPT_TIME_ZONE, &zone), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_ntp_setopt(ntp, AIOT_NTPOPT_TIME_ZONE, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_ntp_setopt(ntp, AIOT_NTPOPT_RECV_HANDLER, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_ntp_setopt(ntp, AIOT_NTPOPT_MAX, &zone), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_ntp_setopt(ntp, (aiot_ntp_option_t)1000, &zone), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_ntp_setopt(NULL, AIOT_NTPOPT_MAX, &zone), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_ntp_send_request(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_ntp_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_ntp_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);

    /* Options with good data; no MQTT handle yet: -0x1101. */
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_TIME_ZONE, &zone));
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_USERDATA, &zone));
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_DEINIT_TIMEOUT_MS, &timeout_ms));
    CHECK_RC(aiot_ntp_send_request(ntp), STATE_NTP_MISSING_MQTT_HANDLE);

    /* An MQTT handle that is then deinitialised: the NTP handle forgets it. */
    mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "aiot_mqtt_init returned NULL");
    demo_mqtt_set_device(mqtt, env.host, env.port, env.product_key, env.device_name, env.device_secret);
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_MQTT_HANDLE, mqtt));
    CHECK_NEG(aiot_ntp_send_request(ntp)); /* not connected: the publish's error */
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK_RC(aiot_ntp_send_request(ntp), STATE_NTP_MISSING_MQTT_HANDLE);
    CHECK_OK(aiot_ntp_deinit(&ntp));
    CHECK(ntp == NULL, "aiot_ntp_deinit must clear the handle");

    /* A deinit while a request is in progress on another thread times out (-0x0312); the
     * handle stays and answers -0x0109 from then on. */
    mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "aiot_mqtt_init returned NULL");
    demo_mqtt_set_device(mqtt, env.host, env.port, env.product_key, env.device_name, env.device_secret);
    CHECK_OK(aiot_mqtt_connect(mqtt));
    ntp = aiot_ntp_init();
    CHECK(ntp != NULL, "aiot_ntp_init returned NULL");
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_DEINIT_TIMEOUT_MS, &timeout_ms));
    g_slow = 1;
    CHECK(pthread_create(&t, NULL, request_thread, ntp) == 0, "pthread_create");
    demo_sleep_ms(300);
    g_leaked_ntp = ntp;
    CHECK_RC(aiot_ntp_deinit(&ntp), STATE_MQTT_DEINIT_TIMEOUT);
    CHECK(ntp == g_leaked_ntp, "a timed-out deinit must leave the handle");
    CHECK_RC(aiot_ntp_setopt(ntp, AIOT_NTPOPT_TIME_ZONE, &zone), STATE_USER_INPUT_EXEC_DISABLED);
    CHECK_RC(aiot_ntp_send_request(ntp), STATE_USER_INPUT_EXEC_DISABLED);
    CHECK_RC(aiot_ntp_deinit(&ntp), STATE_USER_INPUT_EXEC_DISABLED);
    pthread_join(t, NULL);
    g_slow = 0;
    CHECK_OK(g_request_result);
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));

    demo_watchdog(0, "ntp_api_errors_demo", 1);
    demo_log("ntp_api_errors_demo: OK");
    return 0;
}
