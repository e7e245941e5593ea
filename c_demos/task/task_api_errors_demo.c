/*
 * Task API error paths, each with upstream's code and no crash: init without a portfile, NULL
 * handles and data (setopt's own codes, the other calls' STATE_USER_INPUT_NULL_POINTER),
 * unknown options, status_details "" (-0x0B0B, checked first) and statuses without a wire
 * name (-0x0B0A), calls without an MQTT handle and after the MQTT handle's deinit
 * (STATE_USER_INPUT_NULL_POINTER, as upstream's publish on a NULL handle), a deinit of NULL
 * (STATE_USER_INPUT_NULL_POINTER, not STATE_TASK_DEINIT_HANDLE_IS_NULL, as upstream), and a
 * normal deinit that clears the handle. Run under valgrind too (leak_*).
 */
#include "demo_common.h"

#include "aiot_task_api.h"

static void dummy_recv(void *handle, const aiot_task_recv_t *recv, void *userdata)
{
    (void)handle;
    (void)recv;
    (void)userdata;
}

int main(void)
{
    demo_env_t env;
    void *mqtt, *task, *null_handle = NULL;
    task_desc_t t;
    int x = 0;

    demo_watchdog(60, "task_api_errors_demo", 1);
    demo_env_load(&env);

    /* No portfile yet: no handle. */
    CHECK(aiot_task_init() == NULL, "aiot_task_init without a portfile must return NULL");
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    CHECK_OK(aiot_state_set_logcb(demo_logcb));

    task = aiot_task_init();
    CHECK(task != NULL, "aiot_task_init returned NULL");

    /* setopt: its own codes for NULL handle / data, unknown options. */
    CHECK_RC(aiot_task_setopt(NULL, AIOT_TASKOPT_USERDATA, &x), STATE_TASK_SETOPT_HANDLE_IS_NULL);
    CHECK_RC(aiot_task_setopt(NULL, AIOT_TASKOPT_USERDATA, NULL), STATE_TASK_SETOPT_HANDLE_IS_NULL);
    CHECK_RC(aiot_task_setopt(task, AIOT_TASKOPT_RECV_HANDLER, NULL), STATE_TASK_SETOPT_DATA_IS_NULL);
    CHECK_RC(aiot_task_setopt(task, AIOT_TASKOPT_MQTT_HANDLE, NULL), STATE_TASK_SETOPT_DATA_IS_NULL);
    CHECK_RC(aiot_task_setopt(task, AIOT_TASKOPT_MAX, &x), STATE_USER_INPUT_UNKNOWN_OPTION);
    CHECK_RC(aiot_task_setopt(task, (aiot_task_option_t)99, &x), STATE_USER_INPUT_UNKNOWN_OPTION);
    CHECK_OK(aiot_task_setopt(task, AIOT_TASKOPT_RECV_HANDLER, (void *)dummy_recv));
    CHECK_OK(aiot_task_setopt(task, AIOT_TASKOPT_USERDATA, &x));

    /* NULL handles and descriptions. */
    memset(&t, 0, sizeof(t));
    t.task_id = "job-1";
    t.status = AIOT_TASK_STATUS_IN_PROGRESS;
    CHECK_RC(aiot_task_get_task_list(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_task_get_task_detail(NULL, NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_task_get_task_detail(NULL, "job-1"), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_task_update(NULL, &t), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_task_update(task, NULL), STATE_USER_INPUT_NULL_POINTER);

    /* The description's checks come before the MQTT handle is needed. */
    t.status_details = "";
    CHECK_RC(aiot_task_update(task, &t), STATE_TASK_UPDATE_STATUS_DETAILS_INVALID);
    t.status = AIOT_TASK_STATUS_NOT_FOUND;
    CHECK_RC(aiot_task_update(task, &t), STATE_TASK_UPDATE_STATUS_DETAILS_INVALID);
    t.status_details = NULL;
    CHECK_RC(aiot_task_update(task, &t), STATE_TASK_UPDATE_STATUS_INVALID);
    t.status = (aiot_task_status_t)100;
    CHECK_RC(aiot_task_update(task, &t), STATE_TASK_UPDATE_STATUS_INVALID);

    /* No MQTT handle: upstream publishes on NULL and gets STATE_USER_INPUT_NULL_POINTER. */
    t.status = AIOT_TASK_STATUS_IN_PROGRESS;
    CHECK_RC(aiot_task_update(task, &t), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_task_get_task_list(task), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_task_get_task_detail(task, NULL), STATE_USER_INPUT_NULL_POINTER);

    /* A connected MQTT handle: every call gives the publish result, 0. */
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    CHECK_OK(aiot_task_setopt(task, AIOT_TASKOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK_OK(aiot_task_get_task_list(task));
    CHECK_OK(aiot_task_get_task_detail(task, NULL));
    CHECK_OK(aiot_task_get_task_detail(task, "job-1"));
    t.task_id = NULL; /* sent as "", as upstream formats a NULL */
    t.status_details = "{\"k\":\"v\"}";
    t.progress = 255;
    CHECK_OK(aiot_task_update(task, &t));
    RECV_FOR(mqtt, 500);

    /* The MQTT handle goes away: the task handle forgets it. */
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    CHECK_RC(aiot_task_get_task_list(task), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_task_update(task, &t), STATE_USER_INPUT_NULL_POINTER);

    /* deinit: NULL and a NULL handle are refused with the generic code. */
    CHECK_RC(aiot_task_deinit(NULL), STATE_USER_INPUT_NULL_POINTER);
    CHECK_RC(aiot_task_deinit(&null_handle), STATE_USER_INPUT_NULL_POINTER);
    CHECK_OK(aiot_task_deinit(&task));
    CHECK(task == NULL, "deinit did not clear the handle");
    CHECK_RC(aiot_task_deinit(&task), STATE_USER_INPUT_NULL_POINTER);

    /* A task handle freed before its MQTT handle leaves no handler behind. */
    mqtt = demo_mqtt_new(env.host, env.port, &env, NULL, NULL);
    task = aiot_task_init();
    CHECK(task != NULL, "aiot_task_init returned NULL");
    CHECK_OK(aiot_task_setopt(task, AIOT_TASKOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_task_deinit(&task));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));

    demo_log("task API errors: all codes as upstream");
    return 0;
}
