/*
 * A program that only declares ali_ca_cert, as upstream's demos do: it gets the library's
 * bundle (Aliyun's root CAs, NUL-terminated PEM), linked against libaiot.a or libaiot.so.
 */
#include <stdio.h>
#include <string.h>

#include "aiot_state_api.h"
#include "aiot_sysdep_api.h"
#include "aiot_mqtt_api.h"

extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;
extern const char *ali_ca_cert;

static const char begin[] = "-----BEGIN CERTIFICATE-----";
static const char end[] = "-----END CERTIFICATE-----";

int main(void)
{
    void *mqtt;
    size_t len, certs = 0;
    const char *p;

    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    mqtt = aiot_mqtt_init();
    if (mqtt == NULL || aiot_mqtt_deinit(&mqtt) != STATE_SUCCESS) {
        fprintf(stderr, "FAIL: aiot_mqtt_init/deinit\n");
        return 1;
    }
    if (ali_ca_cert == NULL) {
        fprintf(stderr, "FAIL: ali_ca_cert is NULL\n");
        return 1;
    }
    len = strlen(ali_ca_cert);
    for (p = strstr(ali_ca_cert, begin); p != NULL; p = strstr(p + 1, begin)) {
        certs++;
    }
    if (strncmp(ali_ca_cert, begin, strlen(begin)) != 0 || len < 1000 || certs < 3 ||
        strstr(ali_ca_cert + len - strlen(end) - 2, end) == NULL) {
        fprintf(stderr, "FAIL: ali_ca_cert is not the PEM bundle (%u bytes, %u certificates)\n", (unsigned)len,
                (unsigned)certs);
        return 1;
    }
    printf("ca_default: the library's ali_ca_cert, %u bytes, %u certificates\n", (unsigned)len, (unsigned)certs);
    return 0;
}
