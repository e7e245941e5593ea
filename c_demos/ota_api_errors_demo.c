/*
 * OTA and download API error paths: NULL handles, NULL data, unknown options, calls out of
 * order, codes that come from an inner publish or connect. Each must return upstream's
 * STATE_* code, never crash.
 */
#include "demo_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aiot_mqtt_api.h"
#include "aiot_ota_api.h"
#include "aiot_state_api.h"
#include "aiot_sysdep_api.h"

extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;

/* A local TCP port with nothing listening on it (bound once, then released). */
static uint16_t closed_port(void)
{
    uint16_t port;
    close(demo_loopback_socket(0, &port));
    return port;
}

/* Our POSIX port, except that setting a credential fails with a code that is no port code. */
static int32_t (*g_real_setopt)(void *, core_sysdep_network_option_t, void *);

static int32_t cred_refusing_setopt(void *handle, core_sysdep_network_option_t option, void *data)
{
    if (option == CORE_SYSDEP_NETWORK_CRED) {
        return -1;
    }
    return g_real_setopt(handle, option, data);
}

/* A port refusing the credential: upstream's HTTP client answers STATE_SYS_DEPEND_NWK_INVALID_CRED,
 * its MQTT client STATE_SYS_DEPEND_NWK_INVALID_OPTION. */
static void credential_refused(void)
{
    static aiot_sysdep_portfile_t port;
    aiot_sysdep_network_cred_t cred = demo_ca_cred(ali_ca_cert);
    char pk[] = "pk", dn[] = "dn", ds[] = "ds", host[] = "127.0.0.1", version[] = "1.0.0";
    char digest[] = "0123456789abcdef0123456789abcdef", url[64];
    uint16_t port_no = closed_port();
    aiot_download_task_desc_t task;
    void *mqtt, *dl;

    port = g_aiot_sysdep_portfile;
    g_real_setopt = port.core_sysdep_network_setopt;
    port.core_sysdep_network_setopt = cred_refusing_setopt;
    aiot_sysdep_set_portfile(&port);

    mqtt = aiot_mqtt_init();
    CHECK(mqtt != NULL, "%s must not be NULL", "mqtt");
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HOST, host));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PORT, &port_no));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PRODUCT_KEY, pk));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_NAME, dn));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_SECRET, ds));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_NETWORK_CRED, &cred));
    CHECK_RC(aiot_mqtt_connect(mqtt), STATE_SYS_DEPEND_NWK_INVALID_OPTION);
    CHECK_OK(aiot_mqtt_deinit(&mqtt));

    dl = aiot_download_init();
    CHECK(dl != NULL, "%s must not be NULL", "dl");
    memset(&task, 0, sizeof(task));
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/fw.bin", (unsigned)port_no);
    task.product_key = pk;
    task.device_name = dn;
    task.version = version;
    task.expect_digest = digest;
    task.size_total = 10;
    task.digest_method = AIOT_OTA_DIGEST_MD5;
    task.url = url;
    CHECK_OK(aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, &task));
    CHECK_OK(aiot_download_setopt(dl, AIOT_DLOPT_NETWORK_CRED, &cred));
    CHECK_RC(aiot_download_send_request(dl), STATE_SYS_DEPEND_NWK_INVALID_CRED);
    CHECK_OK(aiot_download_deinit(&dl));

    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
}

/* Two OTA handles on one MQTT session: after aiot_mqtt_deinit both forget the session, as
 * upstream's OTA does on the core's deinit event, and answer as if none had been set. */
static void mqtt_deinit_detaches_ota(void)
{
    char pk[] = "pk", dn[] = "dn", version[] = "1.0.0";
    void *ota[2], *mqtt = aiot_mqtt_init();
    int i;

    CHECK(mqtt != NULL, "%s must not be NULL", "mqtt");
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PRODUCT_KEY, pk));
    CHECK_OK(aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_NAME, dn));
    for (i = 0; i < 2; i++) {
        ota[i] = aiot_ota_init();
        CHECK(ota[i] != NULL, "%s must not be NULL", "ota");
        CHECK_OK(aiot_ota_setopt(ota[i], AIOT_OTAOPT_MQTT_HANDLE, mqtt));
        CHECK_RC(aiot_ota_report_version(ota[i], version), STATE_SYS_DEPEND_NWK_CLOSED);
    }
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK(mqtt == NULL, "%s must be NULL", "mqtt");
    for (i = 0; i < 2; i++) {
        CHECK_RC(aiot_ota_report_version(ota[i], version), STATE_OTA_REPORT_MQTT_HANDLE_IS_NULL);
        CHECK_RC(aiot_ota_report_version_ext(ota[i], pk, dn, version), STATE_OTA_REPORT_EXT_MQTT_HANDLE_IS_NULL);
        CHECK_RC(aiot_ota_query_firmware(ota[i]), STATE_USER_INPUT_NULL_POINTER);
        CHECK_OK(aiot_ota_deinit(&ota[i]));
    }
}

int main(void)
{
    uint32_t v = 1;
    char version[] = "1.0.0", pk[] = "pk", dn[] = "dn";

    /* No portfile yet: no handle. */
    CHECK(aiot_ota_init() == NULL, "%s must be NULL", "aiot_ota_init()");
    CHECK(aiot_download_init() == NULL, "%s must be NULL", "aiot_download_init()");
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);

    /* OTA */
    void *ota = aiot_ota_init();
    CHECK(ota != NULL, "%s must not be NULL", "ota");
    CHECK_RC(aiot_ota_setopt(NULL, AIOT_OTAOPT_USERDATA, &v), STATE_OTA_SETOPT_HANDLE_IS_NULL);
    CHECK_RC(aiot_ota_setopt(ota, AIOT_OTAOPT_USERDATA, NULL), STATE_OTA_SETOPT_DATA_IS_NULL);
    CHECK_RC(aiot_ota_setopt(ota, AIOT_OTAOPT_MAX, &v), STATE_USER_INPUT_UNKNOWN_OPTION);
    CHECK_RC(aiot_ota_setopt(ota, (aiot_ota_option_t)0xFFFFFFFFu, &v), STATE_USER_INPUT_UNKNOWN_OPTION);
    CHECK_RC(aiot_ota_report_version(NULL, version), STATE_OTA_REPORT_HANDLE_IS_NULL);
    CHECK_RC(aiot_ota_report_version(ota, NULL), STATE_OTA_REPORT_VERSION_IS_NULL);
    CHECK_RC(aiot_ota_report_version(ota, version), STATE_OTA_REPORT_MQTT_HANDLE_IS_NULL);
    CHECK_RC(aiot_ota_report_version_ext(NULL, pk, dn, version), STATE_OTA_REPORT_EXT_HANELD_IS_NULL);
    CHECK_RC(aiot_ota_report_version_ext(ota, pk, dn, NULL), STATE_OTA_REPORT_EXT_VERSION_NULL);
    CHECK_RC(aiot_ota_report_version_ext(ota, NULL, dn, version), STATE_OTA_REPORT_EXT_PRODUCT_KEY_IS_NULL);
    CHECK_RC(aiot_ota_report_version_ext(ota, pk, NULL, version), STATE_OTA_REPORT_EXT_DEVICE_NAME_IS_NULL);
    CHECK_RC(aiot_ota_report_version_ext(ota, pk, dn, version), STATE_OTA_REPORT_EXT_MQTT_HANDLE_IS_NULL);
    CHECK_RC(aiot_ota_query_firmware(NULL), STATE_OTA_QUERY_FIRMWARE_HANDLE_IS_NULL);
    /* upstream publishes with the (missing) MQTT handle's product key: a NULL pointer */
    CHECK_RC(aiot_ota_query_firmware(ota), STATE_USER_INPUT_NULL_POINTER);

    /* Attached to an MQTT session that is not connected: the publish fails cleanly. */
    void *mqtt = aiot_mqtt_init();
    CHECK_RC(aiot_ota_setopt(ota, AIOT_OTAOPT_MQTT_HANDLE, mqtt), STATE_SUCCESS);
    CHECK_RC(aiot_ota_report_version(ota, version), STATE_USER_INPUT_NULL_POINTER); /* no pk/dn */
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PRODUCT_KEY, pk);
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_NAME, dn);
    CHECK_RC(aiot_ota_report_version(ota, version), STATE_SYS_DEPEND_NWK_CLOSED);
    CHECK_RC(aiot_ota_query_firmware(ota), STATE_SYS_DEPEND_NWK_CLOSED);
    CHECK_RC(aiot_ota_report_version_ext(ota, pk, dn, version), STATE_SYS_DEPEND_NWK_CLOSED);

    CHECK_RC(aiot_ota_deinit(NULL), STATE_OTA_DEINIT_HANDLE_IS_NULL);
    CHECK_RC(aiot_ota_deinit(&ota), STATE_SUCCESS);
    CHECK(ota == NULL, "%s must be NULL", "ota");
    CHECK_RC(aiot_ota_deinit(&ota), STATE_OTA_DEINIT_HANDLE_IS_NULL);

    /* Download */
    void *dl = aiot_download_init();
    CHECK(dl != NULL, "%s must not be NULL", "dl");
    CHECK_RC(aiot_download_setopt(NULL, AIOT_DLOPT_RANGE_START, &v), STATE_DOWNLOAD_SETOPT_HANDLE_IS_NULL);
    CHECK_RC(aiot_download_setopt(dl, AIOT_DLOPT_RANGE_START, NULL), STATE_DOWNLOAD_SETOPT_DATA_IS_NULL);
    CHECK_RC(aiot_download_setopt(dl, AIOT_DLOPT_MAX, &v), STATE_USER_INPUT_OUT_RANGE);
    CHECK_RC(aiot_download_send_request(NULL), STATE_DOWNLOAD_REQUEST_HANDLE_IS_NULL);
    CHECK_RC(aiot_download_send_request(dl), STATE_DOWNLOAD_REQUEST_TASK_DESC_IS_NULL);
    CHECK_RC(aiot_download_recv(NULL), STATE_DOWNLOAD_RECV_HANDLE_IS_NULL);
    CHECK_RC(aiot_download_recv(dl), STATE_SUCCESS); /* no request yet */
    CHECK_RC(aiot_download_report_progress(NULL, 5), STATE_DOWNLOAD_REPORT_HANDLE_IS_NULL);
    CHECK_RC(aiot_download_report_progress(dl, 5), STATE_DOWNLOAD_REPORT_TASK_DESC_IS_NULL);

    /* A task whose URL has no scheme or no path: upstream's URL codes. */
    aiot_download_task_desc_t task = {0};
    char digest[] = "0123456789abcdef0123456789abcdef";
    task.product_key = pk;
    task.device_name = dn;
    task.version = version;
    task.expect_digest = digest;
    task.size_total = 10;
    task.digest_method = AIOT_OTA_DIGEST_MD5;
    char no_scheme[] = "example/fw.bin", no_path[] = "http://localhost";
    task.url = no_scheme;
    CHECK_RC(aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, &task), STATE_SUCCESS);
    CHECK_RC(aiot_download_send_request(dl), STATE_OTA_PARSE_URL_HOST_IS_NULL);
    task.url = no_path;
    CHECK_RC(aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, &task), STATE_SUCCESS);
    CHECK_RC(aiot_download_send_request(dl), STATE_OTA_PARSE_URL_PATH_IS_NULL);
    /* No MQTT session in the task: progress cannot be reported. */
    CHECK_RC(aiot_download_report_progress(dl, 5), STATE_USER_INPUT_NULL_POINTER);
    /* With a session, the inner publish answers: not connected... */
    task.mqtt_handle = mqtt;
    CHECK_RC(aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, &task), STATE_SUCCESS);
    CHECK_RC(aiot_download_report_progress(dl, 5), STATE_SYS_DEPEND_NWK_CLOSED);
    /* ...and a task without a product key or device name is a NULL pointer. */
    task.product_key = NULL;
    CHECK_RC(aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, &task), STATE_SUCCESS);
    CHECK_RC(aiot_download_report_progress(dl, 5), STATE_USER_INPUT_NULL_POINTER);
    task.product_key = pk;
    task.device_name = NULL;
    CHECK_RC(aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, &task), STATE_SUCCESS);
    CHECK_RC(aiot_download_report_progress(dl, 5), STATE_USER_INPUT_NULL_POINTER);
    task.device_name = dn;
    task.mqtt_handle = NULL;

    /* No URL in the task. */
    task.url = NULL;
    CHECK_RC(aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, &task), STATE_SUCCESS);
    CHECK_RC(aiot_download_send_request(dl), STATE_DOWNLOAD_REQUEST_URL_IS_NULL);
    /* A host of more than 128 characters: the HTTP connect refuses it. */
    {
        char long_url[200];
        memset(long_url, 0, sizeof(long_url));
        strcpy(long_url, "http://");
        memset(long_url + 7, 'h', 129);
        strcat(long_url, "/fw.bin");
        task.url = long_url;
        CHECK_RC(aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, &task), STATE_SUCCESS);
        CHECK_RC(aiot_download_send_request(dl), STATE_PORT_INPUT_OUT_RANGE);
    }
    /* Nothing listening: the port's connect code, and recv stays at "no request yet". */
    {
        char refused_url[64];
        snprintf(refused_url, sizeof(refused_url), "http://127.0.0.1:%u/fw.bin", (unsigned)closed_port());
        task.url = refused_url;
        CHECK_RC(aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, &task), STATE_SUCCESS);
        CHECK_RC(aiot_download_send_request(dl), STATE_PORT_NETWORK_CONNECT_FAILED);
        CHECK_RC(aiot_download_recv(dl), STATE_SUCCESS);
    }

    credential_refused();
    mqtt_deinit_detaches_ota();

    CHECK_RC(aiot_download_deinit(NULL), STATE_DOWNLOAD_DEINIT_HANDLE_IS_NULL);
    CHECK_RC(aiot_download_deinit(&dl), STATE_SUCCESS);
    CHECK(dl == NULL, "%s must be NULL", "dl");
    CHECK_RC(aiot_mqtt_deinit(&mqtt), STATE_SUCCESS);
    demo_log("all OTA/download error paths return upstream's codes\n");
    return 0;
}
