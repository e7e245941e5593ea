/*
 * A program that replaces the CA bundle, as upstream's users do: it defines ali_ca_cert itself.
 * Linked against libaiot.a it must link (the library's definition sits in an archive member of
 * its own, which the linker then leaves out) and see its own value; linked against libaiot.so
 * the program's definition wins as well.
 */
#include <stdio.h>
#include <string.h>

#include "aiot_state_api.h"
#include "aiot_sysdep_api.h"
#include "aiot_mqtt_api.h"

extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;

const char *ali_ca_cert = "user CA bundle";

int main(void)
{
    void *mqtt;

    /* pull the library's code in, as a real program does */
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    mqtt = aiot_mqtt_init();
    if (mqtt == NULL || aiot_mqtt_deinit(&mqtt) != STATE_SUCCESS) {
        fprintf(stderr, "FAIL: aiot_mqtt_init/deinit\n");
        return 1;
    }
    if (strcmp(ali_ca_cert, "user CA bundle") != 0) {
        fprintf(stderr, "FAIL: ali_ca_cert is not the program's own value: %.40s\n", ali_ca_cert);
        return 1;
    }
    printf("ca_user_defined: the program's own ali_ca_cert is used\n");
    return 0;
}
