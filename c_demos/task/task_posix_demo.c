/*
 * Job management against the local platform, in the shape of upstream's task_posix_demo.c:
 * MQTT handle, one thread looping aiot_mqtt_process and one looping aiot_mqtt_recv,
 * aiot_task_init + MQTT_HANDLE + RECV_HANDLER (+ USERDATA), then aiot_task_get_task_detail(NULL)
 * ($next). As upstream's handler does, a NOTIFY is copied into a local task and reported
 * IN_PROGRESS from inside the callback, and each GET_LIST_REPLY entry is asked for in detail.
 * The platform's side is played with `aiot-platform task ...` ($AIOT_PLATFORM).
 *
 * Asserts, every message type out and every receive type in:
 *   - $next and $list with no job: GET_DETAIL_REPLY code 200, task id "$next", NOT_FOUND;
 *     GET_LIST_REPLY with 0 entries and tasks NULL;
 *   - `task create` (document + jobFile) then `task notify`: NOTIFY with the job id, SENT, the
 *     job document as written, signMethod/sign/fileUrl; the platform prints the automatic
 *     notify_reply with its id and code 200; the callback's IN_PROGRESS report gets an
 *     UPDATE_REPLY 200 with the job id;
 *   - progress 50 with statusDetails, then SUCCEEDED 100: each UPDATE_REPLY 200; `task show`
 *     has the history QUEUED, SENT, IN_PROGRESS, IN_PROGRESS 50 (with the details),
 *     SUCCEEDED 100 and the notify's reply code 200;
 *   - two more jobs: $next gives the older with its document; $list gives both, each then
 *     asked for by id from the callback (two GET_DETAIL_REPLYs); an unknown id is NOT_FOUND;
 *   - error codes: statusDetails that is not JSON and a JSON string each get 71012, a report on
 *     an unknown job 460;
 *   - `task set-status --status CANCELLED --notify`: NOTIFY with CANCELLED, the local copy
 *     freed as upstream's demo does;
 *   - every call returns 0 (the publish result), the userdata comes back, deinit clears.
 */
#include "demo_common.h"

#include <pthread.h>

#include "aiot_task_api.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int running = 1;

static struct {
    int notify_count;
    char notify_id[64];
    uint32_t notify_status;
    char notify_doc[256];
    char notify_sign_method[16];
    char notify_sign[64];
    char notify_url[128];
    int notify_update_rc;
    int detail_count;
    uint32_t detail_code;
    char detail_id[64];
    uint32_t detail_status;
    char detail_doc[256];
    int detail_has_file;
    int list_count;
    uint32_t list_number;
    int list_tasks_null;
    char list_ids[2][64];
    int list_detail_rc;
    int update_count;
    uint32_t update_code;
    char update_id[64];
    uint32_t update_status;
    int bad_userdata;
} st;

static task_desc_t *g_local_task_desc;

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "(null)");
}

static char *dup_str(const char *s)
{
    char *d;
    if (s == NULL) {
        return NULL;
    }
    d = malloc(strlen(s) + 1);
    CHECK(d != NULL, "malloc");
    strcpy(d, s);
    return d;
}

/* Upstream's demo copies the pushed task (every string) before working on it. */
static void copy_task_to_local(task_desc_t **dst, const task_desc_t *in)
{
    if (*dst == NULL) {
        *dst = calloc(1, sizeof(task_desc_t));
        CHECK(*dst != NULL, "calloc");
    }
    (*dst)->status = in->status;
    (*dst)->progress = in->progress;
    (*dst)->handle = in->handle;
    (*dst)->task_id = dup_str(in->task_id);
    (*dst)->job_document = dup_str(in->job_document);
    (*dst)->sign_method = dup_str(in->sign_method);
    (*dst)->sign = dup_str(in->sign);
    (*dst)->document_file_url = dup_str(in->document_file_url);
    (*dst)->status_details = dup_str(in->status_details);
}

static void free_local_task(task_desc_t **task)
{
    if (*task != NULL) {
        free((*task)->task_id);
        free((*task)->job_document);
        free((*task)->sign_method);
        free((*task)->sign);
        free((*task)->document_file_url);
        free((*task)->status_details);
        free(*task);
    }
    *task = NULL;
}

static void task_recv(void *handle, const aiot_task_recv_t *packet, void *userdata)
{
    uint32_t i;
    pthread_mutex_lock(&mu);
    if (userdata != (void *)&st) {
        st.bad_userdata++;
    }
    switch (packet->type) {
    case AIOT_TASKRECV_NOTIFY: {
        const task_desc_t *in = &packet->data.notify;
        demo_log("notify: task_id [%s] status [%u] job_document [%s] file_url [%s] sign_method [%s] sign [%s]",
                 in->task_id, (unsigned)in->status, in->job_document ? in->job_document : "(null)",
                 in->document_file_url ? in->document_file_url : "(null)",
                 in->sign_method ? in->sign_method : "(null)", in->sign ? in->sign : "(null)");
        st.notify_count++;
        copy(st.notify_id, sizeof(st.notify_id), in->task_id);
        st.notify_status = in->status;
        copy(st.notify_doc, sizeof(st.notify_doc), in->job_document);
        copy(st.notify_sign_method, sizeof(st.notify_sign_method), in->sign_method);
        copy(st.notify_sign, sizeof(st.notify_sign), in->sign);
        copy(st.notify_url, sizeof(st.notify_url), in->document_file_url);
        if (g_local_task_desc == NULL && in->status != AIOT_TASK_STATUS_CANCELLED) {
            copy_task_to_local(&g_local_task_desc, in);
            g_local_task_desc->status = AIOT_TASK_STATUS_IN_PROGRESS;
            st.notify_update_rc = aiot_task_update(handle, g_local_task_desc);
            break;
        }
        if ((in->status == AIOT_TASK_STATUS_CANCELLED || in->status == AIOT_TASK_STATUS_REMOVED ||
             in->status == AIOT_TASK_STATUS_TIMED_OUT) &&
            g_local_task_desc != NULL && strcmp(in->task_id, g_local_task_desc->task_id) == 0) {
            free_local_task(&g_local_task_desc);
        }
        break;
    }
    case AIOT_TASKRECV_GET_DETAIL_REPLY: {
        const task_get_detail_reply_t *in = &packet->data.get_detail_reply;
        demo_log("get detail reply: code [%u] task_id [%s] status [%u] job_document [%s]", (unsigned)in->code,
                 in->task.task_id, (unsigned)in->task.status,
                 in->task.job_document ? in->task.job_document : "(null)");
        st.detail_count++;
        st.detail_code = in->code;
        copy(st.detail_id, sizeof(st.detail_id), in->task.task_id);
        st.detail_status = in->task.status;
        copy(st.detail_doc, sizeof(st.detail_doc), in->task.job_document);
        st.detail_has_file = in->task.document_file_url != NULL;
        break;
    }
    case AIOT_TASKRECV_GET_LIST_REPLY: {
        const task_get_list_reply_t *in = &packet->data.get_list_reply;
        demo_log("get list reply: number [%u]", (unsigned)in->number);
        st.list_count++;
        st.list_number = in->number;
        st.list_tasks_null = in->tasks == NULL;
        for (i = 0; i < in->number; i++) {
            demo_log("task list[%u]: task_id [%s] status [%u]", (unsigned)i, in->tasks[i].task_id,
                     (unsigned)in->tasks[i].status);
            if (i < 2) {
                copy(st.list_ids[i], sizeof(st.list_ids[i]), in->tasks[i].task_id);
            }
            st.list_detail_rc |= aiot_task_get_task_detail(handle, in->tasks[i].task_id);
        }
        break;
    }
    case AIOT_TASKRECV_UPDATE_REPLY: {
        const task_update_reply_t *in = &packet->data.update_reply;
        demo_log("update reply: code [%u] task_id [%s]", (unsigned)in->code, in->task_id);
        if (in->code == 71012) {
            demo_log("aiot_task_update task's status_details value must be json format");
        }
        st.update_count++;
        st.update_code = in->code;
        copy(st.update_id, sizeof(st.update_id), in->task_id);
        st.update_status = in->status;
        break;
    }
    default:
        demo_log("unknown receive type %u", (unsigned)packet->type);
        break;
    }
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

static int count_of(const int *counter)
{
    int n;
    pthread_mutex_lock(&mu);
    n = *counter;
    pthread_mutex_unlock(&mu);
    return n;
}

/* Runs `aiot-platform task <args>`, returns its stdout (static buffer); checks its status. */
static const char *platform(const char *args)
{
    static char out[8192];
    char cmd[1024];
    size_t n = 0;
    FILE *p;
    int status;
    snprintf(cmd, sizeof(cmd), "\"%s\" task %s --state-dir \"%s\"", demo_env("AIOT_PLATFORM"), args,
             demo_env("AIOT_STATE_DIR"));
    p = popen(cmd, "r");
    CHECK(p != NULL, "popen %s", cmd);
    while (n < sizeof(out) - 1) {
        size_t got = fread(out + n, 1, sizeof(out) - 1 - n, p);
        if (got == 0) {
            break;
        }
        n += got;
    }
    out[n] = '\0';
    status = pclose(p);
    demo_log("platform task %s -> status %d: %s", args, status, out);
    CHECK(status == 0, "aiot-platform task %s failed (status %d)", args, status);
    return out;
}

/* Reports a status and waits for its UPDATE_REPLY; checks code and task id. */
static void update(void *task, const char *id, aiot_task_status_t status, uint8_t progress, char *details,
                   uint32_t want_code)
{
    task_desc_t t;
    int before = count_of(&st.update_count);
    memset(&t, 0, sizeof(t));
    t.task_id = (char *)id;
    t.status = status;
    t.progress = progress;
    t.status_details = details;
    CHECK_OK(aiot_task_update(task, &t));
    WAIT_UNTIL(count_of(&st.update_count) == before + 1, 5000);
    pthread_mutex_lock(&mu);
    CHECK(st.update_code == want_code, "update %s %u: code %u, want %u", id, (unsigned)status,
          (unsigned)st.update_code, (unsigned)want_code);
    CHECK(strcmp(st.update_id, id) == 0, "update reply for %s, want %s", st.update_id, id);
    CHECK(st.update_status == 0, "update reply status %u (upstream never fills it)", (unsigned)st.update_status);
    pthread_mutex_unlock(&mu);
}

/* Asks for one job (NULL: $next) and waits for the GET_DETAIL_REPLY. */
static void detail(void *task, char *id, const char *want_id, aiot_task_status_t want_status)
{
    int before = count_of(&st.detail_count);
    CHECK_OK(aiot_task_get_task_detail(task, id));
    WAIT_UNTIL(count_of(&st.detail_count) == before + 1, 5000);
    pthread_mutex_lock(&mu);
    CHECK(st.detail_code == 200, "detail code %u", (unsigned)st.detail_code);
    CHECK(strcmp(st.detail_id, want_id) == 0, "detail task id %s, want %s", st.detail_id, want_id);
    CHECK(st.detail_status == want_status, "detail status %u, want %u", (unsigned)st.detail_status,
          (unsigned)want_status);
    pthread_mutex_unlock(&mu);
}

int main(void)
{
    demo_env_t e;
    void *mqtt;
    void *task;
    pthread_t process_tid, recv_tid;
    const char *out;
    int before;

    demo_watchdog(150, "task_posix_demo", 1);
    demo_env_load(&e);
    mqtt = demo_mqtt_new(e.host, e.port, &e, NULL, NULL);
    CHECK_OK(aiot_mqtt_connect(mqtt));
    CHECK(pthread_create(&process_tid, NULL, process_thread, mqtt) == 0, "pthread_create");
    CHECK(pthread_create(&recv_tid, NULL, recv_thread, mqtt) == 0, "pthread_create");

    task = aiot_task_init();
    CHECK(task != NULL, "aiot_task_init failed");
    CHECK_OK(aiot_task_setopt(task, AIOT_TASKOPT_MQTT_HANDLE, mqtt));
    CHECK_OK(aiot_task_setopt(task, AIOT_TASKOPT_RECV_HANDLER, (void *)task_recv));
    CHECK_OK(aiot_task_setopt(task, AIOT_TASKOPT_USERDATA, (void *)&st));

    /* ---- no job yet: $next is NOT_FOUND, $list is empty */
    detail(task, NULL, "$next", AIOT_TASK_STATUS_NOT_FOUND);
    CHECK_OK(aiot_task_get_task_list(task));
    WAIT_UNTIL(count_of(&st.list_count) == 1, 5000);
    CHECK(st.list_number == 0 && st.list_tasks_null, "empty list: number %u", (unsigned)st.list_number);

    /* ---- a pushed job: notify (+ automatic reply), IN_PROGRESS from the callback */
    platform("create --id job-a --document '{\"op\":\"upgrade\",\"version\":\"2.0\"}' "
             "--file-url https://files.example/a.bin --sign 0123abcd --sign-method Md5");
    before = count_of(&st.update_count);
    out = platform("notify --id job-a");
    CHECK(strstr(out, "\"code\":200,\"data\":{}") != NULL, "notify_reply seen by the platform: %s", out);
    /* The reply goes out before the callback runs: wait for it. */
    WAIT_UNTIL(count_of(&st.notify_count) == 1, 5000);
    CHECK(strcmp(st.notify_id, "job-a") == 0, "notify task id %s", st.notify_id);
    CHECK(st.notify_status == AIOT_TASK_STATUS_SENT, "notify status %u", (unsigned)st.notify_status);
    CHECK(strcmp(st.notify_doc, "{\"op\":\"upgrade\",\"version\":\"2.0\"}") == 0, "job document %s", st.notify_doc);
    CHECK(strcmp(st.notify_sign_method, "Md5") == 0 && strcmp(st.notify_sign, "0123abcd") == 0 &&
              strcmp(st.notify_url, "https://files.example/a.bin") == 0,
          "job file %s %s %s", st.notify_sign_method, st.notify_sign, st.notify_url);
    WAIT_UNTIL(count_of(&st.update_count) == before + 1, 5000);
    CHECK(st.notify_update_rc == 0, "update from the callback returned %d", st.notify_update_rc);
    CHECK(st.update_code == 200 && strcmp(st.update_id, "job-a") == 0, "IN_PROGRESS reply %u %s",
          (unsigned)st.update_code, st.update_id);

    update(task, "job-a", AIOT_TASK_STATUS_IN_PROGRESS, 50, "{\"step\":\"download\"}", 200);
    update(task, "job-a", AIOT_TASK_STATUS_SUCCEEDED, 100, NULL, 200);
    out = platform("show --id job-a");
    {
        const char *steps[] = {"\"QUEUED\"", "\"SENT\"", "\"IN_PROGRESS\"", "\"step\": \"download\"", "\"SUCCEEDED\""};
        const char *at = strstr(out, "\"history\"");
        size_t i;
        CHECK(at != NULL, "no history in %s", out);
        for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
            at = strstr(at, steps[i]);
            CHECK(at != NULL, "history lacks %s (in order)", steps[i]);
        }
        CHECK(strstr(out, "\"progress\": 50") != NULL && strstr(out, "\"progress\": 100") != NULL, "progress steps");
        CHECK(strstr(out, "\"replyCode\": 200") != NULL, "the notify_reply is not recorded");
    }
    pthread_mutex_lock(&mu);
    free_local_task(&g_local_task_desc);
    pthread_mutex_unlock(&mu);

    /* ---- two queued jobs: $next, $list (+ detail for each from the callback), one id */
    platform("create --id job-b --document '{\"op\":\"reboot\"}'");
    platform("create --id job-c");
    detail(task, NULL, "job-b", AIOT_TASK_STATUS_SENT);
    CHECK(strcmp(st.detail_doc, "{\"op\":\"reboot\"}") == 0 && !st.detail_has_file, "job-b document %s",
          st.detail_doc);
    before = count_of(&st.detail_count);
    CHECK_OK(aiot_task_get_task_list(task));
    WAIT_UNTIL(count_of(&st.list_count) == 2, 5000);
    CHECK(st.list_number == 2 && strcmp(st.list_ids[0], "job-b") == 0 && strcmp(st.list_ids[1], "job-c") == 0,
          "list: %u entries %s %s", (unsigned)st.list_number, st.list_ids[0], st.list_ids[1]);
    WAIT_UNTIL(count_of(&st.detail_count) == before + 2, 5000);
    CHECK(st.list_detail_rc == 0, "get_task_detail from the callback failed");
    detail(task, "job-c", "job-c", AIOT_TASK_STATUS_SENT);
    detail(task, "no-such-job", "no-such-job", AIOT_TASK_STATUS_NOT_FOUND);

    /* ---- error codes of the platform */
    update(task, "job-b", AIOT_TASK_STATUS_IN_PROGRESS, 10, "not json", 71012);
    update(task, "job-b", AIOT_TASK_STATUS_IN_PROGRESS, 10, "\"a string\"", 71012);
    update(task, "no-such-job", AIOT_TASK_STATUS_IN_PROGRESS, 10, NULL, 460);

    /* ---- the platform cancels a job the device holds */
    before = count_of(&st.notify_count);
    pthread_mutex_lock(&mu);
    g_local_task_desc = calloc(1, sizeof(task_desc_t));
    CHECK(g_local_task_desc != NULL, "calloc");
    g_local_task_desc->task_id = dup_str("job-c");
    pthread_mutex_unlock(&mu);
    out = platform("set-status --id job-c --status CANCELLED --notify");
    CHECK(strstr(out, "\"code\":200") != NULL, "notify_reply seen by the platform: %s", out);
    WAIT_UNTIL(count_of(&st.notify_count) == before + 1, 5000);
    CHECK(st.notify_status == AIOT_TASK_STATUS_CANCELLED, "notify status %u", (unsigned)st.notify_status);
    pthread_mutex_lock(&mu);
    CHECK(g_local_task_desc == NULL, "the cancelled local task was not freed");
    pthread_mutex_unlock(&mu);

    CHECK(count_of(&st.bad_userdata) == 0, "userdata not handed back");
    running = 0;
    pthread_join(process_tid, NULL);
    pthread_join(recv_tid, NULL);
    CHECK_OK(aiot_task_deinit(&task));
    CHECK(task == NULL, "deinit did not clear the handle");
    CHECK_OK(aiot_mqtt_disconnect(mqtt));
    CHECK_OK(aiot_mqtt_deinit(&mqtt));
    demo_log("task demo: all checks passed");
    return 0;
}
