/*
 * The device shadow, in the shape of upstream's shadow_basic_demo.c (MQTT handle, shadow handle
 * with a receive handler, a process thread and a receive thread), with every send example run
 * and every receive type checked against the platform's shadow service:
 *
 *   update reported (v1)            -> GENERIC_REPLY success, version 1
 *   update with a stale version     -> GENERIC_REPLY error 409
 *   cloud control (CLI, desired)    -> CONTROL version 2 with the desired values
 *   get                             -> GET_REPLY version 2 with reported and desired
 *   cloud deletes one desired value -> CONTROL version 3 without it
 *   delete one reported value (v4)  -> GENERIC_REPLY success; clean desired (v5) likewise
 *   get                             -> GET_REPLY version 5: desired empty, the value gone
 *   delete all reported (v6), for an explicit product key / device name -> success; get: empty
 *
 * The cloud's side is `aiot-platform shadow control` ($AIOT_PLATFORM).
 */
#include "demo_common.h"

#include <pthread.h>

#include "aiot_shadow_api.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int running = 1;
static const demo_env_t *g_env;

static struct {
    int count[3];
    uint32_t last_type;
    char payload[4096];
    char status[16];
    uint64_t version;
    uint64_t timestamp;
    int wrong_device;
} st;

static void shadow_recv(void *handle, const aiot_shadow_recv_t *recv, void *userdata)
{
    const char *payload = NULL;
    uint32_t len = 0;
    (void)handle;
    pthread_mutex_lock(&mu);
    CHECK(userdata == (void *)&st, "userdata not handed back");
    if (strcmp(recv->product_key, g_env->product_key) != 0 || strcmp(recv->device_name, g_env->device_name) != 0) {
        st.wrong_device++;
    }
    switch (recv->type) {
        case AIOT_SHADOWRECV_GENERIC_REPLY:
            payload = recv->data.generic_reply.payload;
            len = recv->data.generic_reply.payload_len;
            snprintf(st.status, sizeof(st.status), "%s", recv->data.generic_reply.status);
            st.timestamp = recv->data.generic_reply.timestamp;
            break;
        case AIOT_SHADOWRECV_CONTROL:
            payload = recv->data.control.payload;
            len = recv->data.control.payload_len;
            st.version = recv->data.control.version;
            break;
        case AIOT_SHADOWRECV_GET_REPLY:
            payload = recv->data.get_reply.payload;
            len = recv->data.get_reply.payload_len;
            st.version = recv->data.get_reply.version;
            break;
        default:
            CHECK(0, "unknown receive type %u", (unsigned)recv->type);
    }
    if (len >= sizeof(st.payload)) {
        len = sizeof(st.payload) - 1;
    }
    memcpy(st.payload, payload, len);
    st.payload[len] = '\0';
    st.last_type = recv->type;
    st.count[recv->type]++;
    demo_log("recv type %u, pk %s, dn %s, payload %s", (unsigned)recv->type, recv->product_key,
             recv->device_name, st.payload);
    pthread_mutex_unlock(&mu);
}

static void *process_thread(void *mqtt)
{
    while (running) {
        aiot_mqtt_process(mqtt);
        demo_sleep_ms(200);
    }
    return NULL;
}

static void *recv_thread(void *mqtt)
{
    while (running) {
        if (aiot_mqtt_recv(mqtt) < 0) {
            demo_sleep_ms(100);
        }
    }
    return NULL;
}

static int count_of(uint32_t type)
{
    int n;
    pthread_mutex_lock(&mu);
    n = st.count[type];
    pthread_mutex_unlock(&mu);
    return n;
}

/* Waits for the next message of `type` and checks it against `status` (generic replies),
 * `version` (others, when non-zero) and the texts that must / must not be in its payload. */
static void expect(uint32_t type, int before, const char *status, uint64_t version, const char *has,
                   const char *lacks)
{
    WAIT_UNTIL(count_of(type) > before, 10000);
    pthread_mutex_lock(&mu);
    CHECK(st.last_type == type, "last message has type %u, want %u", (unsigned)st.last_type, (unsigned)type);
    if (status != NULL) {
        CHECK(strcmp(st.status, status) == 0, "status %s, want %s", st.status, status);
        CHECK(st.timestamp > 0, "no timestamp");
    }
    if (version != 0) {
        CHECK(st.version == version, "version %llu, want %llu", (unsigned long long)st.version,
              (unsigned long long)version);
    }
    if (has != NULL) {
        CHECK(strstr(st.payload, has) != NULL, "payload %s lacks %s", st.payload, has);
    }
    if (lacks != NULL) {
        CHECK(strstr(st.payload, lacks) == NULL, "payload %s has %s", st.payload, lacks);
    }
    pthread_mutex_unlock(&mu);
}

static void send_checked(void *shadow, aiot_shadow_msg_t *msg)
{
    CHECK_OK(aiot_shadow_send(shadow, msg));
}

static void update(void *shadow, char *reported, int64_t version)
{
    aiot_shadow_msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = AIOT_SHADOWMSG_UPDATE;
    m.data.update.reported = reported;
    m.data.update.version = version;
    send_checked(shadow, &m);
}

static void get(void *shadow)
{
    aiot_shadow_msg_t m;
    memset(&m, 0, sizeof(m));
    m.type = AIOT_SHADOWMSG_GET;
    send_checked(shadow, &m);
}

/* The cloud changes desired values: aiot-platform shadow control. */
static void cloud_control(const char *desired)
{
    char cmd[1024];
    int status;
    snprintf(cmd, sizeof(cmd), "\"%s\" shadow control --state-dir \"%s\" '%s' >/dev/null", demo_env("AIOT_PLATFORM"),
             demo_env("AIOT_STATE_DIR"), desired);
    status = system(cmd);
    CHECK(status == 0, "aiot-platform shadow control failed (status %d)", status);
}

int main(void)
{
    demo_env_t env;
    void *mqtt, *shadow;
    pthread_t process_tid, recv_tid;
    aiot_shadow_msg_t m;
    int n;

    demo_env_load(&env);
    g_env = &env;
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    shadow = aiot_shadow_init();
    CHECK(shadow != NULL, "aiot_shadow_init failed");
    CHECK_OK(aiot_shadow_setopt(shadow, AIOT_SHADOWOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_shadow_setopt(shadow, AIOT_SHADOWOPT_RECV_HANDLER, (void *)shadow_recv));
    CHECK_OK(aiot_shadow_setopt(shadow, AIOT_SHADOWOPT_USERDATA, &st));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(pthread_create(&process_tid, NULL, process_thread, mqtt) == 0, "pthread_create");
    CHECK(pthread_create(&recv_tid, NULL, recv_thread, mqtt) == 0, "pthread_create");

    n = count_of(AIOT_SHADOWRECV_GENERIC_REPLY);
    update(shadow, "{\"LightSwitch\":1,\"color\":\"red\"}", 1);
    expect(AIOT_SHADOWRECV_GENERIC_REPLY, n, "success", 0, "\"version\":1", NULL);

    n = count_of(AIOT_SHADOWRECV_GENERIC_REPLY);
    update(shadow, "{\"LightSwitch\":0}", 1);
    expect(AIOT_SHADOWRECV_GENERIC_REPLY, n, "error", 0, "\"errorcode\":\"409\"", NULL);
    demo_log("stale version refused with 409");

    n = count_of(AIOT_SHADOWRECV_CONTROL);
    cloud_control("{\"color\":\"blue\",\"mode\":\"eco\"}");
    expect(AIOT_SHADOWRECV_CONTROL, n, NULL, 2, "\"desired\":{\"color\":\"blue\",\"mode\":\"eco\"}", NULL);

    n = count_of(AIOT_SHADOWRECV_GET_REPLY);
    get(shadow);
    expect(AIOT_SHADOWRECV_GET_REPLY, n, NULL, 2, "\"reported\":{\"LightSwitch\":1,\"color\":\"red\"}", NULL);

    n = count_of(AIOT_SHADOWRECV_CONTROL);
    cloud_control("{\"mode\":\"null\"}");
    expect(AIOT_SHADOWRECV_CONTROL, n, NULL, 3, "\"desired\":{\"color\":\"blue\"}", "mode");
    demo_log("desired value deleted by the cloud");

    n = count_of(AIOT_SHADOWRECV_GENERIC_REPLY);
    memset(&m, 0, sizeof(m));
    m.type = AIOT_SHADOWMSG_DELETE_REPORTED;
    m.data.delete_reporte.reported = "{\"color\":\"null\"}";
    m.data.delete_reporte.version = 4;
    send_checked(shadow, &m);
    expect(AIOT_SHADOWRECV_GENERIC_REPLY, n, "success", 0, "\"version\":4", NULL);

    n = count_of(AIOT_SHADOWRECV_GENERIC_REPLY);
    memset(&m, 0, sizeof(m));
    m.type = AIOT_SHADOWMSG_CLEAN_DESIRED;
    m.data.clean_desired.version = 5;
    send_checked(shadow, &m);
    expect(AIOT_SHADOWRECV_GENERIC_REPLY, n, "success", 0, "\"version\":5", NULL);

    n = count_of(AIOT_SHADOWRECV_GET_REPLY);
    get(shadow);
    expect(AIOT_SHADOWRECV_GET_REPLY, n, NULL, 5, "\"state\":{\"desired\":{},\"reported\":{\"LightSwitch\":1}}", "color");

    /* Delete everything reported, naming the device explicitly (as a gateway would). */
    n = count_of(AIOT_SHADOWRECV_GENERIC_REPLY);
    memset(&m, 0, sizeof(m));
    m.product_key = (char *)env.product_key;
    m.device_name = (char *)env.device_name;
    m.type = AIOT_SHADOWMSG_DELETE_REPORTED;
    m.data.delete_reporte.reported = "\"null\"";
    m.data.delete_reporte.version = 6;
    send_checked(shadow, &m);
    expect(AIOT_SHADOWRECV_GENERIC_REPLY, n, "success", 0, "\"version\":6", NULL);
    n = count_of(AIOT_SHADOWRECV_GET_REPLY);
    get(shadow);
    expect(AIOT_SHADOWRECV_GET_REPLY, n, NULL, 6, "\"reported\":{}", NULL);

    pthread_mutex_lock(&mu);
    CHECK(st.wrong_device == 0, "%d messages for another device", st.wrong_device);
    pthread_mutex_unlock(&mu);

    running = 0;
    pthread_join(process_tid, NULL);
    pthread_join(recv_tid, NULL);
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_shadow_deinit(&shadow));
    CHECK(shadow == NULL, "aiot_shadow_deinit left the handle");
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("shadow: every message and receive type checked");
    return 0;
}
