//! The `aiot-platform` command line: `exec`'s environment and exit codes, `broker-ctl` from inside
//! a program, and no mosquitto or leftover process surviving `exec` in any path.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_aiot-platform");

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiot-platform-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn exec(dir: Option<&Path>, extra: &[&str], program: &[&str]) -> Output {
    let mut cmd = Command::new(EXE);
    cmd.arg("exec");
    if let Some(dir) = dir {
        cmd.arg("--state-dir").arg(dir);
    }
    cmd.args(extra).arg("--").args(program);
    cmd.output().unwrap()
}

/// Pids of live mosquitto processes started from `dir`.
fn mosquittos_of(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.parse::<u32>().ok()?;
            let cmdline = std::fs::read(format!("/proc/{name}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (cmdline.contains("mosquitto") && cmdline.contains(&needle)).then_some(name)
        })
        .collect()
}

fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z')),
    }
}

#[test]
fn exec_sets_the_environment_and_passes_exit_codes() {
    let out = exec(None, &[], &["sh", "-c", "test -n \"$AIOT_PORT\""]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let vars = "AIOT_HOST AIOT_TLS_HOST AIOT_PORT AIOT_TLS_PORT AIOT_PRODUCT_KEY AIOT_DEVICE_NAME \
                AIOT_DEVICE_SECRET AIOT_DEVICE_NAME2 AIOT_DEVICE_SECRET2 AIOT_CA_FILE AIOT_WRONG_CA_FILE \
                AIOT_BROKER_PID_FILE AIOT_STATE_DIR AIOT_PLATFORM";
    let script = format!(
        "for v in {vars}; do eval \"x=\\${{$v}}\"; test -n \"$x\" || {{ echo missing $v; exit 3; }}; done; \
         test \"$AIOT_HOST\" = 127.0.0.1 && test \"$AIOT_TLS_HOST\" = localhost && \
         test \"$AIOT_PRODUCT_KEY\" = a1TestPK001 && test \"$AIOT_DEVICE_NAME\" = device1 && \
         test \"$AIOT_DEVICE_SECRET2\" = s3cr3tDeviceSecretForTests0002 && \
         test -s \"$AIOT_CA_FILE\" && test -s \"$AIOT_WRONG_CA_FILE\" && test -s \"$AIOT_BROKER_PID_FILE\" && \
         test -x \"$AIOT_PLATFORM\" && test \"$AIOT_PORT\" != \"$AIOT_TLS_PORT\""
    );
    let out = exec(None, &[], &["sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let out = exec(None, &[], &["false"]);
    assert_ne!(out.status.code(), Some(0));
    let out = exec(None, &[], &["sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = exec(None, &[], &["/nonexistent/program"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn exec_with_devices_replaces_the_defaults() {
    let out = exec(
        None,
        &["--device", "pk1/dnA/dsA"],
        &[
            "sh",
            "-c",
            "test \"$AIOT_PRODUCT_KEY/$AIOT_DEVICE_NAME/$AIOT_DEVICE_SECRET\" = pk1/dnA/dsA && \
             test \"$AIOT_DEVICE_NAME2\" = dnA",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = exec(None, &["--device", "only-two/parts"], &["true"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn broker_ctl_from_inside_exec_and_cleanup() {
    let dir = state_dir("ctl");
    // Stop (the port must refuse at once), start (a new pid), restart, then leave it running:
    // exec must stop the mosquitto that broker.pid names at the end.
    let script = r#"
        set -e
        old=$(cat "$AIOT_BROKER_PID_FILE")
        "$AIOT_PLATFORM" broker-ctl stop --state-dir "$AIOT_STATE_DIR"
        test ! -e "$AIOT_BROKER_PID_FILE"
        # Still running is a failure; a zombie, or gone (reaped meanwhile), is fine.
        st=$(cat "/proc/$old/stat" 2>/dev/null || true)
        case "$st" in ""|*") Z "*) ;; *) exit 11 ;; esac
        "$AIOT_PLATFORM" broker-ctl start --state-dir "$AIOT_STATE_DIR"
        new=$(cat "$AIOT_BROKER_PID_FILE")
        test "$new" != "$old" || exit 12
        "$AIOT_PLATFORM" broker-ctl restart --state-dir "$AIOT_STATE_DIR"
        test "$(cat "$AIOT_BROKER_PID_FILE")" != "$new" || exit 13
        echo "$(cat "$AIOT_BROKER_PID_FILE")" > "$AIOT_STATE_DIR/last.pid"
    "#;
    let out = exec(Some(&dir), &[], &["sh", "-c", script]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let last = std::fs::read_to_string(dir.join("last.pid")).unwrap();
    assert!(gone(last.trim()), "mosquitto {last} survived exec");
    assert!(mosquittos_of(&dir).is_empty(), "{:?}", mosquittos_of(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exec_timeout_kills_the_program_and_leftovers() {
    let dir = state_dir("timeout");
    let started = Instant::now();
    let out = exec(
        Some(&dir),
        &["--timeout", "1"],
        &[
            "sh",
            "-c",
            "sleep 60 & echo $! > \"$AIOT_STATE_DIR/bg.pid\"; sleep 60",
        ],
    );
    assert_eq!(out.status.code(), Some(124), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let bg = std::fs::read_to_string(dir.join("bg.pid")).unwrap();
    assert!(gone(bg.trim()), "background sleep {bg} survived exec");
    assert!(mosquittos_of(&dir).is_empty());

    // A program that exits at once but leaves a child behind.
    let out = exec(
        Some(&dir),
        &[],
        &[
            "sh",
            "-c",
            "sleep 60 & echo $! > \"$AIOT_STATE_DIR/bg.pid\"; exit 0",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let bg = std::fs::read_to_string(dir.join("bg.pid")).unwrap();
    assert!(gone(bg.trim()), "background sleep {bg} survived exec");
    assert!(mosquittos_of(&dir).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exec_stops_everything_when_it_is_terminated() {
    let dir = state_dir("sigterm");
    let mut child = Command::new(EXE)
        .arg("exec")
        .arg("--state-dir")
        .arg(&dir)
        .args(["--", "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dir.join("broker.pid").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Give exec the moment between writing the pid file and starting the program.
    std::thread::sleep(Duration::from_millis(200));
    let pid = std::fs::read_to_string(dir.join("broker.pid")).unwrap();
    Command::new("kill").arg(child.id().to_string()).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "exec did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(128 + 15));
    assert!(gone(pid.trim()));
    assert!(mosquittos_of(&dir).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn password_command() {
    let out = Command::new(EXE)
        .args([
            "password",
            "a1TestPK001",
            "device1",
            "s3cr3tDeviceSecretForTests0001",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "25278B5CD3B65FC27724D8E919F004DF841D3AA143EEEC329471FD33066C1B06"
    );
}
