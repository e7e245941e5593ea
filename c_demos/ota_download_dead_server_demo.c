/*
 * A download against a dead firmware server, driven the way upstream's demos drive it: a loop on
 * aiot_download_recv that only stops at STATE_DOWNLOAD_FINISHED. The loop must not spin: from
 * the third call without a body byte every call lasts at least the receive timeout, renewals
 * back off, and the log stays short.
 *
 *   1. a port that refuses connections (bound, not listening): send_request fails, recv has
 *      nothing to do;
 *   2. a server that accepts each connection and closes it at once: every request fails,
 *      recv renews with a growing backoff.
 *
 * Bounded by a watchdog (SIGALRM, exit 4). Exit 0 on success, 1 on a failed check.
 */
#include "demo_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aiot_ota_api.h"

#define CALLS 20
#define RECV_TIMEOUT_MS 200

static int g_log_lines;

static int32_t count_log(int32_t code, char *message)
{
    (void)code;
    (void)message;
    g_log_lines++;
    return 0;
}

/* Accepts and closes at once, until the listener is shut down (at most 1000 connections). */
static void *accept_and_close(void *arg)
{
    int fd = *(int *)arg;
    for (int i = 0; i < 1000; i++) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) {
            break;
        }
        close(c);
    }
    return NULL;
}

/* Loops like upstream's demo for CALLS calls; returns the renewals sent. */
static int recv_loop(void *dl, const char *what)
{
    int renewals = 0;
    uint64_t loop_start = demo_now_ms();
    for (int call = 0; call < CALLS; call++) {
        uint64_t t = demo_now_ms();
        int32_t res = aiot_download_recv(dl);
        uint64_t took = demo_now_ms() - t;
        CHECK(res != STATE_DOWNLOAD_FINISHED && res <= 0, "%s: call %d returned %d", what, call, (int)res);
        if (res == STATE_DOWNLOAD_RENEWAL_REQUEST_SENT) {
            renewals++;
        }
        /* The first failure and its renewal go at upstream's pace; then each call waits. */
        CHECK(call < 2 || took + 5 >= RECV_TIMEOUT_MS, "%s: call %d returned %d after %llu ms", what, call,
              (int)res, (unsigned long long)took);
        CHECK(took < 3000, "%s: call %d took %llu ms", what, call, (unsigned long long)took);
    }
    printf("%s: %d calls in %llu ms, %d renewals, %d log lines\n", what, CALLS,
           (unsigned long long)(demo_now_ms() - loop_start), renewals, g_log_lines);
    return renewals;
}

static void *new_download(uint16_t port, aiot_download_task_desc_t *task, char *url, size_t url_len)
{
    uint32_t timeout = RECV_TIMEOUT_MS;
    snprintf(url, url_len, "http://127.0.0.1:%u/fw.bin", (unsigned)port);
    task->url = url;
    void *dl = aiot_download_init();
    CHECK(dl != NULL, "aiot_download_init");
    CHECK_OK(aiot_download_setopt(dl, AIOT_DLOPT_TASK_DESC, task));
    CHECK_OK(aiot_download_setopt(dl, AIOT_DLOPT_RECV_TIMEOUT_MS, &timeout));
    return dl;
}

int main(void)
{
    demo_watchdog(60, "ota_download_dead_server_demo: the download loop", 4);
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    aiot_state_set_logcb(count_log);

    char pk[] = "pk", dn[] = "dn", version[] = "1.1.0", digest[65], url[64];
    memset(digest, 'a', 64);
    digest[64] = '\0';
    aiot_download_task_desc_t task;
    memset(&task, 0, sizeof(task));
    task.product_key = pk;
    task.device_name = dn;
    task.version = version;
    task.size_total = 4096;
    task.digest_method = AIOT_OTA_DIGEST_SHA256;
    task.expect_digest = digest;

    /* 1. Refused: nothing to renew, every call after the second waits the receive timeout. */
    uint16_t port;
    int bound = demo_loopback_socket(0, &port);
    void *dl = new_download(port, &task, url, sizeof(url));
    CHECK_NEG(aiot_download_send_request(dl));
    g_log_lines = 0;
    CHECK(recv_loop(dl, "refused") == 0, "renewals without a request");
    CHECK(g_log_lines <= 2, "%d log lines", g_log_lines);
    aiot_download_deinit(&dl);
    close(bound);

    /* 2. Accept and close: renewals back off (the first at once, then after 0.5-1 s, 1-2 s). */
    int listener = demo_loopback_socket(64, &port);
    pthread_t server;
    CHECK(pthread_create(&server, NULL, accept_and_close, &listener) == 0, "pthread_create");
    dl = new_download(port, &task, url, sizeof(url));
    CHECK_OK(aiot_download_send_request(dl));
    g_log_lines = 0;
    int renewals = recv_loop(dl, "closed");
    CHECK(renewals >= 2 && renewals <= 4, "%d renewals in %d calls", renewals, CALLS);
    /* Each request logs its lines and each failure one more: bounded by the renewals. */
    CHECK(g_log_lines <= 12 * (renewals + 1), "%d log lines for %d renewals", g_log_lines, renewals);
    aiot_download_deinit(&dl);
    shutdown(listener, SHUT_RDWR);
    close(listener);
    pthread_join(server, NULL);
    printf("dead server: OK\n");
    return 0;
}
