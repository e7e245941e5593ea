/*
 * Shared helpers of the aiot C demos (which double as CTest integration tests).
 *
 * Every demo is run by `aiot-platform exec -- <demo>`, which starts a local mosquitto with
 * Aliyun device authentication and passes its coordinates in AIOT_* environment variables.
 *
 * Conventions:
 *   - any failed check prints "file:line: ..." (codes as -0x%04X) and exits with status 1;
 *   - every wait is bounded by a monotonic deadline;
 *   - include this header first in every demo (it selects the POSIX feature level).
 */
#ifndef AIOT_DEMO_COMMON_H
#define AIOT_DEMO_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aiot_state_api.h"
#include "aiot_sysdep_api.h"
#include "aiot_mqtt_api.h"

/* Exported by libaiot, declared by the application as with upstream's SDK. */
extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;
extern const char *ali_ca_cert;

/* ---------------------------------------------------------------- failure reporting */

/* Prints "file:line: FAIL: <message>" and exits with status 1. */
void demo_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((noreturn, format(printf, 3, 4)))
#endif
    ;

/* Formats a status code as "-0x0305" (negative) or "0x0000"/"0x002A" (non-negative). */
const char *demo_code_str(int32_t code, char buf[16]);

int32_t demo_check_eq(int32_t got, int32_t want, const char *expr, const char *file, int line);
int32_t demo_check_neg(int32_t got, const char *expr, const char *file, int line);
int32_t demo_check_pos(int32_t got, const char *expr, const char *file, int line);

/* CHECK(cond, "fmt", ...): fails with the message when cond is false. */
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            demo_fail(__FILE__, __LINE__, __VA_ARGS__);                       \
        }                                                                     \
    } while (0)

/* Each of these evaluates `expr` once, checks it and yields its value. */
#define CHECK_RC(expr, want) demo_check_eq((int32_t)(expr), (int32_t)(want), #expr, __FILE__, __LINE__)
#define CHECK_OK(expr)       demo_check_eq((int32_t)(expr), STATE_SUCCESS, #expr, __FILE__, __LINE__)
#define CHECK_NEG(expr)      demo_check_neg((int32_t)(expr), #expr, __FILE__, __LINE__)
#define CHECK_POS(expr)      demo_check_pos((int32_t)(expr), #expr, __FILE__, __LINE__)

/* ---------------------------------------------------------------- environment */

/* The value of a required environment variable; exits with a clear message if unset/empty. */
const char *demo_env(const char *name);
/* Same, parsed as a TCP port (1..65535). */
uint16_t demo_env_port(const char *name);
/* An optional numeric variable, or `def` when unset. */
long demo_env_long(const char *name, long def);

/* The broker coordinates every demo needs. */
typedef struct {
    const char *host;        /* AIOT_HOST (plain TCP, normally 127.0.0.1) */
    uint16_t port;           /* AIOT_PORT */
    const char *tls_host;    /* AIOT_TLS_HOST (name in the server certificate) */
    uint16_t tls_port;       /* AIOT_TLS_PORT */
    const char *product_key; /* AIOT_PRODUCT_KEY */
    const char *device_name; /* AIOT_DEVICE_NAME */
    const char *device_secret;
} demo_env_t;

void demo_env_load(demo_env_t *env);

/* Reads a whole file into a NUL-terminated heap buffer; *len (optional) gets the length
 * without the NUL. Exits on any error. */
char *demo_read_file(const char *path, uint32_t *len);

/* ---------------------------------------------------------------- time */

/* Monotonic clock in milliseconds. */
uint64_t demo_now_ms(void);
/* A deadline `ms` from now, and whether it has passed. */
uint64_t demo_deadline(uint32_t ms);
int demo_expired(uint64_t deadline);
void demo_sleep_ms(uint32_t ms);

/* ---------------------------------------------------------------- logging */

/* Log callback for aiot_state_set_logcb: prints every SDK line to stdout. */
int32_t demo_logcb(int32_t code, char *message);
/* Whether one of the last 64 lines demo_logcb got (hexdumps aside) has this code and contains
 * `text`; demo_log_forget() clears that memory. */
int demo_log_seen(int32_t code, const char *text);
void demo_log_forget(void);
/* 1: drop the per-message lines (topic lines and payload hexdumps) from the output. */
void demo_log_set_quiet(int quiet);
/* printf to stdout with a "[demo] " prefix and a flush. */
void demo_log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ---------------------------------------------------------------- MQTT helpers */

/* Sets HOST/PORT/PRODUCT_KEY/DEVICE_NAME/DEVICE_SECRET on `handle` (checked). */
void demo_mqtt_set_device(void *handle, const char *host, uint16_t port, const char *pk,
                          const char *dn, const char *ds);

/* The usual start of a demo: our POSIX port, demo_logcb, then a new MQTT handle for the
 * device of `env` at host:port with these handlers (NULL: none). Every step is checked. */
void *demo_mqtt_new(const char *host, uint16_t port, const demo_env_t *env,
                    aiot_mqtt_recv_handler_t recv_handler, aiot_mqtt_event_handler_t event_handler);

/* Builds a CA credential (TLS, server verified against `ca_pem`, a NUL-terminated PEM). */
aiot_sysdep_network_cred_t demo_ca_cred(const char *ca_pem);

/* Whether a received PUBLISH (packet->type AIOT_MQTTRECV_PUB) has exactly this topic /
 * these payload bytes. (Upstream's header leaves the PUBLISH struct unnamed, so the demos
 * only ever go through aiot_mqtt_recv_t.) */
int demo_topic_is(const aiot_mqtt_recv_t *packet, const char *topic);
int demo_payload_is(const aiot_mqtt_recv_t *packet, const void *data, uint32_t len);

/* Calls aiot_mqtt_recv until `cond` holds; fails after `timeout_ms` or when recv returns a
 * negative code. For single-threaded demos that drive the receive loop themselves. */
#define RECV_UNTIL(handle, cond, timeout_ms)                                              \
    do {                                                                                  \
        uint64_t demo_dl_ = demo_deadline(timeout_ms);                                    \
        while (!(cond)) {                                                                 \
            int32_t demo_rc_;                                                             \
            if (demo_expired(demo_dl_)) {                                                 \
                demo_fail(__FILE__, __LINE__, "timed out after %u ms waiting for: %s",    \
                          (unsigned)(timeout_ms), #cond);                                 \
            }                                                                             \
            demo_rc_ = aiot_mqtt_recv(handle);                                            \
            if (demo_rc_ < 0) {                                                           \
                char demo_b_[16];                                                         \
                demo_fail(__FILE__, __LINE__, "aiot_mqtt_recv returned %s while waiting for: %s", \
                          demo_code_str(demo_rc_, demo_b_), #cond);                       \
            }                                                                             \
        }                                                                                 \
    } while (0)

/* Calls aiot_mqtt_recv for `ms` milliseconds (negative returns fail). */
#define RECV_FOR(handle, ms) demo_recv_for((handle), (ms), __FILE__, __LINE__)
void demo_recv_for(void *handle, uint32_t ms, const char *file, int line);

/* Polls `cond` every 10 ms (other threads make progress); fails after `timeout_ms`. */
#define WAIT_UNTIL(cond, timeout_ms)                                                      \
    do {                                                                                  \
        uint64_t demo_dl_ = demo_deadline(timeout_ms);                                    \
        while (!(cond)) {                                                                 \
            if (demo_expired(demo_dl_)) {                                                 \
                demo_fail(__FILE__, __LINE__, "timed out after %u ms waiting for: %s",    \
                          (unsigned)(timeout_ms), #cond);                                 \
            }                                                                             \
            demo_sleep_ms(10);                                                            \
        }                                                                                 \
    } while (0)

/* A TCP socket bound to 127.0.0.1 on an ephemeral port (written to `*port`), listening when
 * `backlog` > 0. For the tests' own small servers. */
int demo_loopback_socket(int backlog, uint16_t *port);

/* Arms a watchdog: unless demo_watchdog(0, ...) disarms it first, the process prints
 * "FAIL: <what> hung (watchdog after N s)" and exits with `code` after `seconds`. For the tests
 * that prove a call does not hang. */
void demo_watchdog(unsigned seconds, const char *what, int code);

/* ---------------------------------------------------------------- broker control */

/* The pid of the running broker, read from AIOT_BROKER_PID_FILE. */
long demo_broker_pid(void);
/* Runs `$AIOT_PLATFORM broker-ctl <action> --state-dir $AIOT_STATE_DIR` (fork + exec) and
 * returns its exit status (-1 if it could not run or was killed). Bounded to 20 s. */
int demo_broker_ctl(const char *action);
/* Runs `$AIOT_PLATFORM prov fault --state-dir $AIOT_STATE_DIR --count <count> --size <size>
 * <kind>` (fork + exec): the next `count` registration answers are hostile. Its exit status. */
int demo_prov_fault(const char *kind, unsigned count, unsigned long size);
/* Sends `sig` to the broker pid; returns 0 or -1. */
int demo_broker_signal(long pid, int sig);
/* Whether `pid` names a live (not zombie) process. */
int demo_pid_alive(long pid);

/* ---------------------------------------------------------------- MQTT threads */

/* The receive and process threads upstream's demos run on an MQTT handle. */
typedef struct {
    void *mqtt;
    uint32_t process_interval_ms; /* 0: no process thread */
    volatile int running;
    pthread_t recv;
    pthread_t process;
} demo_mqtt_loop_t;

/* Starts aiot_mqtt_recv in a loop (a 100 ms pause after an error) and, when
 * `process_interval_ms` > 0, aiot_mqtt_process every `process_interval_ms`; each thread ends
 * when stopped or when the handle is disabled (STATE_USER_INPUT_EXEC_DISABLED). */
void demo_mqtt_loop_start(demo_mqtt_loop_t *loop, void *mqtt, uint32_t process_interval_ms);
/* Asks the threads to end (each after its current call) without waiting for them. */
void demo_mqtt_loop_signal(demo_mqtt_loop_t *loop);
/* Asks the threads to end and joins them. */
void demo_mqtt_loop_stop(demo_mqtt_loop_t *loop);

#endif /* AIOT_DEMO_COMMON_H */
