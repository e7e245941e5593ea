/*
 * NTP over MQTT in the shape of upstream's ntp_posix_demo.c: connect, one thread looping
 * aiot_mqtt_process and one looping aiot_mqtt_recv, an NTP handle on the MQTT handle, a
 * request; the answer's local time is printed as upstream's demo prints it
 * ("local time: <ms>, YYYY/MM/DD-hh:mm:ss:ms") and checked.
 *
 * usage: ntp_time_demo ZONE EXPECTED
 *   run by `aiot-platform exec` with AIOT_PLATFORM_TIME_MS=T (the platform's fixed clock, which
 *   must be ahead of the system clock); EXPECTED is T as "YYYY/MM/DD-hh:mm:ss" in zone ZONE.
 *
 * Checks:
 *   1. the local time for ZONE is EXPECTED; its timestamp is within [T, T + 5 s] and its msec
 *      is the timestamp's;
 *   2. the log clock follows NTP: lines before the answer carry the system clock (before T),
 *      lines after it carry T onwards;
 *   3. malformed answers published by the platform (`aiot-platform dm publish`) each raise
 *      their event (INVALID_RESPONSE or INVALID_TIME_FORMAT) with a log line, never a local
 *      time; a good answer still arrives after them;
 *   4. aiot_ntp_deinit returns 0 and clears the handle; MQTT stops cleanly.
 */
#include "demo_common.h"

#include <pthread.h>

#include "aiot_ntp_api.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_times;                 /* local times received */
static aiot_ntp_recv_t g_last_time; /* the last one */
static int g_bad_response;          /* AIOT_NTPEVT_INVALID_RESPONSE events */
static int g_bad_format;            /* AIOT_NTPEVT_INVALID_TIME_FORMAT events */
static uint64_t g_last_log_ms;      /* timestamp of the last stamped log line */
static void *g_ntp_handle;
static int g_userdata_seen = 1;

static int32_t logcb(int32_t code, char *message)
{
    /* "[1700000000.123][LK-0309] ..." */
    if (message != NULL && message[0] == '[') {
        char *end = NULL;
        unsigned long long sec = strtoull(message + 1, &end, 10);
        if (end != NULL && *end == '.') {
            unsigned long long ms = strtoull(end + 1, &end, 10);
            if (end != NULL && *end == ']') {
                pthread_mutex_lock(&g_lock);
                g_last_log_ms = sec * 1000 + ms;
                pthread_mutex_unlock(&g_lock);
            }
        }
    }
    return demo_logcb(code, message);
}

static uint64_t last_log_ms(void)
{
    uint64_t v;
    pthread_mutex_lock(&g_lock);
    v = g_last_log_ms;
    pthread_mutex_unlock(&g_lock);
    return v;
}

static int get(int *counter)
{
    int v;
    pthread_mutex_lock(&g_lock);
    v = *counter;
    pthread_mutex_unlock(&g_lock);
    return v;
}

static void demo_ntp_event_handler(void *handle, const aiot_ntp_event_t *event, void *userdata)
{
    pthread_mutex_lock(&g_lock);
    if (handle != g_ntp_handle || userdata != (void *)&g_times) {
        g_userdata_seen = 0;
    }
    switch (event->type) {
        case AIOT_NTPEVT_INVALID_RESPONSE:
            printf("AIOT_NTPEVT_INVALID_RESPONSE\n");
            g_bad_response++;
            break;
        case AIOT_NTPEVT_INVALID_TIME_FORMAT:
            printf("AIOT_NTPEVT_INVALID_TIME_FORMAT\n");
            g_bad_format++;
            break;
        default:
            break;
    }
    fflush(stdout);
    pthread_mutex_unlock(&g_lock);
}

static void demo_ntp_recv_handler(void *handle, const aiot_ntp_recv_t *packet, void *userdata)
{
    if (packet->type != AIOT_NTPRECV_LOCAL_TIME) {
        return;
    }
    printf("local time: %llu, %02d/%02d/%02d-%02d:%02d:%02d:%d\n",
           (long long unsigned int)packet->data.local_time.timestamp,
           (int)packet->data.local_time.year, (int)packet->data.local_time.mon,
           (int)packet->data.local_time.day, (int)packet->data.local_time.hour,
           (int)packet->data.local_time.min, (int)packet->data.local_time.sec,
           (int)packet->data.local_time.msec);
    fflush(stdout);
    pthread_mutex_lock(&g_lock);
    if (handle != g_ntp_handle || userdata != (void *)&g_times) {
        g_userdata_seen = 0;
    }
    g_last_time = *packet;
    g_times++;
    pthread_mutex_unlock(&g_lock);
}

/* Publishes `payload` (or the bytes of `hex`) as the platform on the device's response topic. */
static void platform_publish(const char *topic, const char *payload, const char *hex)
{
    static char cmd[80000];
    int n = snprintf(cmd, sizeof(cmd), "\"%s\" dm publish --state-dir \"%s\" --topic '%s' %s '%s'",
                     demo_env("AIOT_PLATFORM"), demo_env("AIOT_STATE_DIR"), topic,
                     hex != NULL ? "--hex" : "--payload", hex != NULL ? hex : payload);
    CHECK(n > 0 && (size_t)n < sizeof(cmd), "command too long");
    fflush(stdout);
    CHECK(system(cmd) == 0, "aiot-platform dm publish failed");
}

/* Sends a request and waits for the next local time; returns it. */
static aiot_ntp_recv_t request_time(void *ntp)
{
    int before = get(&g_times);
    aiot_ntp_recv_t t;
    CHECK_OK(aiot_ntp_send_request(ntp));
    WAIT_UNTIL(get(&g_times) > before, 10000);
    pthread_mutex_lock(&g_lock);
    t = g_last_time;
    pthread_mutex_unlock(&g_lock);
    return t;
}

static void check_time(const aiot_ntp_recv_t *t, uint64_t platform_ms, const char *expected)
{
    char got[64];
    snprintf(got, sizeof(got), "%04u/%02u/%02u-%02u:%02u:%02u", (unsigned)t->data.local_time.year,
             (unsigned)t->data.local_time.mon, (unsigned)t->data.local_time.day,
             (unsigned)t->data.local_time.hour, (unsigned)t->data.local_time.min,
             (unsigned)t->data.local_time.sec);
    CHECK(strcmp(got, expected) == 0, "local time %s, expected %s", got, expected);
    CHECK(t->data.local_time.timestamp >= platform_ms && t->data.local_time.timestamp <= platform_ms + 5000,
          "timestamp %llu not within 5 s after the platform's %llu",
          (unsigned long long)t->data.local_time.timestamp, (unsigned long long)platform_ms);
    CHECK(t->data.local_time.msec == t->data.local_time.timestamp % 1000, "msec %u",
          (unsigned)t->data.local_time.msec);
}

/* One malformed answer: exactly one more event of its kind, no local time, a log line. */
static void bad_answer(const char *topic, const char *payload, const char *hex, int *counter)
{
    int times = get(&g_times);
    int want = get(counter) + 1;
    int other = counter == &g_bad_response ? get(&g_bad_format) : get(&g_bad_response);
    demo_log_forget();
    platform_publish(topic, payload, hex);
    WAIT_UNTIL(get(counter) == want, 10000);
    demo_sleep_ms(200);
    CHECK(get(counter) == want, "more than one event");
    CHECK((counter == &g_bad_response ? get(&g_bad_format) : get(&g_bad_response)) == other,
          "an event of the other kind");
    CHECK(get(&g_times) == times, "a malformed answer gave a local time");
    CHECK(demo_log_seen(STATE_NTP_BASE, "NTP response refused"), "no log line for the refused answer");
}

int main(int argc, char *argv[])
{
    demo_env_t env;
    void *mqtt = NULL, *ntp = NULL;
    demo_mqtt_loop_t loop;
    int8_t time_zone;
    uint64_t platform_ms;
    char topic[256];
    aiot_ntp_recv_t t;

    CHECK(argc == 3, "usage: %s ZONE YYYY/MM/DD-hh:mm:ss", argv[0]);
    time_zone = (int8_t)atoi(argv[1]);
    platform_ms = (uint64_t)strtoull(demo_env("AIOT_PLATFORM_TIME_MS"), NULL, 10);
    demo_watchdog(100, "ntp_time_demo", 1);
    demo_env_load(&env);

    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    CHECK_OK(aiot_state_set_logcb(logcb));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    demo_mqtt_loop_start(&loop, mqtt, 200);

    ntp = aiot_ntp_init();
    CHECK(ntp != NULL, "aiot_ntp_init returned NULL");
    g_ntp_handle = ntp;
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_TIME_ZONE, (int8_t *)&time_zone));
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_RECV_HANDLER, (void *)demo_ntp_recv_handler));
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_EVENT_HANDLER, (void *)demo_ntp_event_handler));
    CHECK_OK(aiot_ntp_setopt(ntp, AIOT_NTPOPT_USERDATA, (void *)&g_times));

    /* 1. and 2.: before the answer the log carries the system clock, which is behind T. */
    t = request_time(ntp);
    CHECK(last_log_ms() != 0 && last_log_ms() < platform_ms,
          "log clock %llu before the answer: not the system clock behind the platform's %llu "
          "(AIOT_PLATFORM_TIME_MS must be ahead of the system clock)",
          (unsigned long long)last_log_ms(), (unsigned long long)platform_ms);
    check_time(&t, platform_ms, argv[2]);
    /* The next line (the second request's "pub:") carries the NTP time. */
    t = request_time(ntp);
    CHECK(last_log_ms() >= platform_ms && last_log_ms() < platform_ms + 60000,
          "log clock %llu after the answer, expected the platform's time %llu onwards",
          (unsigned long long)last_log_ms(), (unsigned long long)platform_ms);
    check_time(&t, platform_ms, argv[2]);
    demo_log("local time for UTC%+d: %s, log clock follows", (int)time_zone, argv[2]);

    /* 3. malformed answers, then a good one. */
    snprintf(topic, sizeof(topic), "/ext/ntp/%s/%s/response", env.product_key, env.device_name);
    bad_answer(topic, "{\"deviceSendTime\":\"1\",\"serverRecvTime\":\"2\"}", NULL, &g_bad_response);
    bad_answer(topic, "not json at all", NULL, &g_bad_response);
    bad_answer(topic, "[\"deviceSendTime\",\"serverRecvTime\",\"serverSendTime\"]", NULL, &g_bad_response);
    bad_answer(topic, NULL, "fffe7b22646576696365", &g_bad_response); /* invalid UTF-8 */
    bad_answer(topic, "{\"deviceSendTime\":\"1\",\"serverRecvTime\":\"abc\",\"serverSendTime\":\"3\"}",
               NULL, &g_bad_format);
    bad_answer(topic, "{\"deviceSendTime\":\"1\",\"serverRecvTime\":-5,\"serverSendTime\":\"3\"}", NULL,
               &g_bad_format);
    bad_answer(topic, "{\"deviceSendTime\":\"1\",\"serverRecvTime\":\"\",\"serverSendTime\":\"3\"}", NULL,
               &g_bad_format);
    {
        static char deep[20001];
        static char huge[60100];
        memset(deep, '[', sizeof(deep) - 1);
        bad_answer(topic, deep, NULL, &g_bad_response);
        strcpy(huge, "{\"deviceSendTime\":\"1\",\"pad\":\"");
        memset(huge + strlen(huge), 'x', 60000);
        strcat(huge, "\"}");
        bad_answer(topic, huge, NULL, &g_bad_response);
    }
    t = request_time(ntp);
    check_time(&t, platform_ms, argv[2]);
    CHECK(get(&g_userdata_seen), "a handler got another handle or userdata");
    demo_log("%d malformed answers refused with their events, the good one arrived after them",
             get(&g_bad_response) + get(&g_bad_format));

    /* 4. */
    CHECK_OK(aiot_ntp_deinit(&ntp));
    CHECK(ntp == NULL, "aiot_ntp_deinit left the handle");
    demo_mqtt_loop_stop(&loop);
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_watchdog(0, "ntp_time_demo", 1);
    demo_log("ntp_time_demo: OK");
    return 0;
}
