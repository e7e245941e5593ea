/* Shared helpers of the aiot C demos; see demo_common.h. */
#include "demo_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- loopback servers */

int demo_loopback_socket(int backlog, uint16_t *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket() failed");
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind() failed");
    CHECK(backlog == 0 || listen(fd, backlog) == 0, "listen() failed");
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0, "getsockname() failed");
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---------------------------------------------------------------- watchdog */

static char g_watchdog_msg[160];
static size_t g_watchdog_len;
static volatile sig_atomic_t g_watchdog_code = 1;

static void demo_on_watchdog(int sig)
{
    (void)sig;
    /* Only async-signal-safe calls: the message was formatted when the watchdog was armed. */
    (void)!write(STDOUT_FILENO, g_watchdog_msg, g_watchdog_len);
    _exit(g_watchdog_code);
}

void demo_watchdog(unsigned seconds, const char *what, int code)
{
    struct sigaction sa;
    int n;

    if (seconds == 0) {
        alarm(0);
        return;
    }
    n = snprintf(g_watchdog_msg, sizeof(g_watchdog_msg), "FAIL: %s hung (watchdog after %u s)\n", what, seconds);
    g_watchdog_len = n < 0 ? 0 : ((size_t)n < sizeof(g_watchdog_msg) ? (size_t)n : sizeof(g_watchdog_msg) - 1);
    g_watchdog_code = code;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = demo_on_watchdog;
    sigaction(SIGALRM, &sa, NULL);
    alarm(seconds);
}

/* ---------------------------------------------------------------- failure reporting */

void demo_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    printf("%s:%d: FAIL: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(1);
}

const char *demo_code_str(int32_t code, char buf[16])
{
    if (code < 0) {
        snprintf(buf, 16, "-0x%04X", (unsigned)(-(int64_t)code));
    } else {
        snprintf(buf, 16, "0x%04X", (unsigned)code);
    }
    return buf;
}

int32_t demo_check_eq(int32_t got, int32_t want, const char *expr, const char *file, int line)
{
    if (got != want) {
        char g[16], w[16];
        demo_fail(file, line, "%s returned %s (%d), expected %s (%d)", expr, demo_code_str(got, g),
                  (int)got, demo_code_str(want, w), (int)want);
    }
    return got;
}

int32_t demo_check_neg(int32_t got, const char *expr, const char *file, int line)
{
    if (got >= 0) {
        char g[16];
        demo_fail(file, line, "%s returned %s (%d), expected a negative code", expr,
                  demo_code_str(got, g), (int)got);
    }
    return got;
}

int32_t demo_check_pos(int32_t got, const char *expr, const char *file, int line)
{
    if (got <= 0) {
        char g[16];
        demo_fail(file, line, "%s returned %s (%d), expected a value > 0", expr,
                  demo_code_str(got, g), (int)got);
    }
    return got;
}

/* ---------------------------------------------------------------- environment */

const char *demo_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        printf("FAIL: environment variable %s is not set; run this demo under "
               "`aiot-platform exec -- <demo>`\n", name);
        fflush(stdout);
        exit(1);
    }
    return v;
}

uint16_t demo_env_port(const char *name)
{
    const char *v = demo_env(name);
    char *end = NULL;
    long port;
    errno = 0;
    port = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || port < 1 || port > 65535) {
        printf("FAIL: environment variable %s='%s' is not a TCP port\n", name, v);
        fflush(stdout);
        exit(1);
    }
    return (uint16_t)port;
}

long demo_env_long(const char *name, long def)
{
    const char *v = getenv(name);
    char *end = NULL;
    long n;
    if (v == NULL || v[0] == '\0') {
        return def;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0') {
        printf("FAIL: environment variable %s='%s' is not a number\n", name, v);
        fflush(stdout);
        exit(1);
    }
    return n;
}

void demo_env_load(demo_env_t *env)
{
    memset(env, 0, sizeof(*env));
    env->host = demo_env("AIOT_HOST");
    env->port = demo_env_port("AIOT_PORT");
    env->tls_host = demo_env("AIOT_TLS_HOST");
    env->tls_port = demo_env_port("AIOT_TLS_PORT");
    env->product_key = demo_env("AIOT_PRODUCT_KEY");
    env->device_name = demo_env("AIOT_DEVICE_NAME");
    env->device_secret = demo_env("AIOT_DEVICE_SECRET");
}

char *demo_read_file(const char *path, uint32_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, used = 0;
    if (f == NULL) {
        printf("FAIL: cannot open '%s': %s\n", path, strerror(errno));
        fflush(stdout);
        exit(1);
    }
    for (;;) {
        size_t n;
        if (cap - used < 4096) {
            char *bigger;
            cap = cap ? cap * 2 : 8192;
            bigger = realloc(buf, cap + 1);
            if (bigger == NULL) {
                printf("FAIL: out of memory reading '%s'\n", path);
                exit(1);
            }
            buf = bigger;
        }
        n = fread(buf + used, 1, cap - used, f);
        used += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        printf("FAIL: error reading '%s'\n", path);
        fflush(stdout);
        exit(1);
    }
    fclose(f);
    buf[used] = '\0';
    if (len != NULL) {
        *len = (uint32_t)used;
    }
    return buf;
}

/* ---------------------------------------------------------------- time */

uint64_t demo_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t demo_deadline(uint32_t ms)
{
    return demo_now_ms() + ms;
}

int demo_expired(uint64_t deadline)
{
    return demo_now_ms() >= deadline;
}

void demo_sleep_ms(uint32_t ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---------------------------------------------------------------- logging */

static volatile int g_log_quiet = 0;

void demo_log_set_quiet(int quiet)
{
    g_log_quiet = quiet;
}

/* The last DEMO_LOG_KEEP lines (code and text), for demo_log_seen. */
#define DEMO_LOG_KEEP 64
static struct {
    int32_t code;
    char text[200];
} g_log_ring[DEMO_LOG_KEEP];
static unsigned g_log_next;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

static void demo_log_keep(int32_t code, const char *message)
{
    pthread_mutex_lock(&g_log_lock);
    g_log_ring[g_log_next % DEMO_LOG_KEEP].code = code;
    snprintf(g_log_ring[g_log_next % DEMO_LOG_KEEP].text, sizeof(g_log_ring[0].text), "%s", message);
    g_log_next++;
    pthread_mutex_unlock(&g_log_lock);
}

int demo_log_seen(int32_t code, const char *text)
{
    int seen = 0;
    pthread_mutex_lock(&g_log_lock);
    for (unsigned i = 0; i < DEMO_LOG_KEEP && !seen; i++) {
        seen = g_log_ring[i].code == code && strstr(g_log_ring[i].text, text) != NULL;
    }
    pthread_mutex_unlock(&g_log_lock);
    return seen;
}

void demo_log_forget(void)
{
    pthread_mutex_lock(&g_log_lock);
    memset(g_log_ring, 0, sizeof(g_log_ring));
    pthread_mutex_unlock(&g_log_lock);
}

int32_t demo_logcb(int32_t code, char *message)
{
    if (message != NULL && code != STATE_MQTT_LOG_HEXDUMP) {
        demo_log_keep(code, message);
    }
    if (g_log_quiet && (code == STATE_MQTT_LOG_HEXDUMP || code == STATE_MQTT_LOG_TOPIC)) {
        return 0;
    }
    if (message != NULL) {
        fputs(message, stdout);
        fflush(stdout);
    }
    return 0;
}

void demo_log(const char *fmt, ...)
{
    va_list ap;
    printf("[demo] ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* ---------------------------------------------------------------- MQTT helpers */

void demo_mqtt_set_device(void *handle, const char *host, uint16_t port, const char *pk,
                          const char *dn, const char *ds)
{
    CHECK_OK(aiot_mqtt_setopt(handle, AIOT_MQTTOPT_HOST, (void *)host));
    CHECK_OK(aiot_mqtt_setopt(handle, AIOT_MQTTOPT_PORT, &port));
    CHECK_OK(aiot_mqtt_setopt(handle, AIOT_MQTTOPT_PRODUCT_KEY, (void *)pk));
    CHECK_OK(aiot_mqtt_setopt(handle, AIOT_MQTTOPT_DEVICE_NAME, (void *)dn));
    /* the secret last: setting it discards credentials derived from older values */
    CHECK_OK(aiot_mqtt_setopt(handle, AIOT_MQTTOPT_DEVICE_SECRET, (void *)ds));
}

extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;

void *demo_mqtt_new(const char *host, uint16_t port, const demo_env_t *env,
                    aiot_mqtt_recv_handler_t recv_handler, aiot_mqtt_event_handler_t event_handler)
{
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    CHECK_OK(aiot_state_set_logcb(demo_logcb));
    void *handle = aiot_mqtt_init();
    CHECK(handle != NULL, "aiot_mqtt_init returned NULL");
    demo_mqtt_set_device(handle, host, port, env->product_key, env->device_name, env->device_secret);
    if (recv_handler != NULL) {
        CHECK_OK(aiot_mqtt_setopt(handle, AIOT_MQTTOPT_RECV_HANDLER, (void *)recv_handler));
    }
    if (event_handler != NULL) {
        CHECK_OK(aiot_mqtt_setopt(handle, AIOT_MQTTOPT_EVENT_HANDLER, (void *)event_handler));
    }
    return handle;
}

aiot_sysdep_network_cred_t demo_ca_cred(const char *ca_pem)
{
    aiot_sysdep_network_cred_t cred;
    memset(&cred, 0, sizeof(cred));
    cred.option = AIOT_SYSDEP_NETWORK_CRED_SVRCERT_CA;
    cred.max_tls_fragment = 16384;
    cred.sni_enabled = 1;
    cred.x509_server_cert = ca_pem;
    cred.x509_server_cert_len = (uint32_t)strlen(ca_pem);
    return cred;
}

int demo_topic_is(const aiot_mqtt_recv_t *packet, const char *topic)
{
    size_t n = strlen(topic);
    return packet->type == AIOT_MQTTRECV_PUB && packet->data.pub.topic_len == n &&
           memcmp(packet->data.pub.topic, topic, n) == 0;
}

int demo_payload_is(const aiot_mqtt_recv_t *packet, const void *data, uint32_t len)
{
    return packet->type == AIOT_MQTTRECV_PUB && packet->data.pub.payload_len == len &&
           (len == 0 || memcmp(packet->data.pub.payload, data, len) == 0);
}

void demo_recv_for(void *handle, uint32_t ms, const char *file, int line)
{
    uint64_t dl = demo_deadline(ms);
    while (!demo_expired(dl)) {
        int32_t rc = aiot_mqtt_recv(handle);
        if (rc < 0) {
            char b[16];
            demo_fail(file, line, "aiot_mqtt_recv returned %s", demo_code_str(rc, b));
        }
    }
}

/* ---------------------------------------------------------------- broker control */

long demo_broker_pid(void)
{
    const char *path = demo_env("AIOT_BROKER_PID_FILE");
    char *text = demo_read_file(path, NULL);
    char *end = NULL;
    long pid = strtol(text, &end, 10);
    if (end == text || pid <= 1) {
        printf("FAIL: no broker pid in '%s' ('%s')\n", path, text);
        fflush(stdout);
        exit(1);
    }
    free(text);
    return pid;
}

/* Runs `$AIOT_PLATFORM <args...>` (fork + exec, NULL-terminated) within 20 s: its exit status,
 * or -1 if it could not run or was killed. */
static int run_platform(const char *what, char *const args[])
{
    uint64_t dl;
    int status = 0;
    pid_t child;

    fflush(stdout);
    child = fork();
    if (child < 0) {
        return -1;
    }
    if (child == 0) {
        execv(args[0], args);
        _exit(127);
    }
    dl = demo_deadline(20000);
    for (;;) {
        pid_t r = waitpid(child, &status, WNOHANG);
        if (r == child) {
            break;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (demo_expired(dl)) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            demo_log("%s did not finish within 20 s", what);
            return -1;
        }
        demo_sleep_ms(20);
    }
    if (WIFEXITED(status)) {
        demo_log("%s exited with %d", what, WEXITSTATUS(status));
        return WEXITSTATUS(status);
    }
    return -1;
}

int demo_broker_ctl(const char *action)
{
    char *args[] = {(char *)demo_env("AIOT_PLATFORM"), "broker-ctl", (char *)action, "--state-dir",
                    (char *)demo_env("AIOT_STATE_DIR"), NULL};
    char what[64];

    demo_log("broker-ctl %s", action);
    snprintf(what, sizeof(what), "broker-ctl %s", action);
    return run_platform(what, args);
}

int demo_prov_fault(const char *kind, unsigned count, unsigned long size)
{
    char count_text[16], size_text[24], what[64];
    char *args[] = {(char *)demo_env("AIOT_PLATFORM"), "prov", "fault", "--state-dir",
                    (char *)demo_env("AIOT_STATE_DIR"), "--count", count_text, "--size", size_text,
                    (char *)kind, NULL};

    snprintf(count_text, sizeof(count_text), "%u", count);
    snprintf(size_text, sizeof(size_text), "%lu", size);
    snprintf(what, sizeof(what), "prov fault %s", kind);
    return run_platform(what, args);
}

int demo_broker_signal(long pid, int sig)
{
    if (pid <= 1) {
        return -1;
    }
    return kill((pid_t)pid, sig);
}

int demo_pid_alive(long pid)
{
    char path[64];
    char buf[512];
    FILE *f;
    size_t n;
    char *close_paren;

    if (pid <= 1 || kill((pid_t)pid, 0) != 0) {
        return 0;
    }
    /* kill(pid, 0) also succeeds for zombies: look at the state in /proc/<pid>/stat */
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    close_paren = strrchr(buf, ')');
    if (close_paren != NULL && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X')) {
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- MQTT threads */

static void *demo_recv_loop(void *arg)
{
    demo_mqtt_loop_t *loop = arg;
    while (loop->running) {
        int32_t res = aiot_mqtt_recv(loop->mqtt);
        if (res == STATE_USER_INPUT_EXEC_DISABLED) {
            break;
        }
        if (res < 0) {
            demo_sleep_ms(100);
        }
    }
    return NULL;
}

static void *demo_process_loop(void *arg)
{
    demo_mqtt_loop_t *loop = arg;
    while (loop->running) {
        if (aiot_mqtt_process(loop->mqtt) == STATE_USER_INPUT_EXEC_DISABLED) {
            break;
        }
        demo_sleep_ms(loop->process_interval_ms);
    }
    return NULL;
}

void demo_mqtt_loop_start(demo_mqtt_loop_t *loop, void *mqtt, uint32_t process_interval_ms)
{
    loop->mqtt = mqtt;
    loop->process_interval_ms = process_interval_ms;
    loop->running = 1;
    if (process_interval_ms > 0) {
        CHECK(pthread_create(&loop->process, NULL, demo_process_loop, loop) == 0, "pthread_create");
    }
    CHECK(pthread_create(&loop->recv, NULL, demo_recv_loop, loop) == 0, "pthread_create");
}

void demo_mqtt_loop_signal(demo_mqtt_loop_t *loop)
{
    loop->running = 0;
}

void demo_mqtt_loop_stop(demo_mqtt_loop_t *loop)
{
    loop->running = 0;
    if (loop->process_interval_ms > 0) {
        pthread_join(loop->process, NULL);
    }
    pthread_join(loop->recv, NULL);
}
