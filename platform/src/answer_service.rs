//! A small platform service: a client of the broker (user `platform`) subscribed to some
//! device uplinks, answering each with the messages a function decides, and writing one line
//! per exchange to a log file in the state folder (and to an observer, `serve`'s output).
//! The shadow and device-tag services run on it. Also: a per-folder lock and atomic writes for
//! the JSON documents those services keep, shared with their command-line tools.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS};

use crate::broker::{BrokerInfo, PLATFORM_USER};

/// Decides the answers (topic, payload) to one uplink and the line to log for it.
pub type AnswerFn = dyn Fn(&str, &[u8]) -> (Vec<(String, Vec<u8>)>, String) + Send + Sync;

/// Sees each exchange's log line (`serve` prints them above its progress bars).
pub type ObserverFn = dyn Fn(&str) + Send + Sync;
type ObserverSlot = Arc<Mutex<Option<Arc<ObserverFn>>>>;

/// A running service. Dropping it disconnects.
pub struct AnswerService {
    observer: ObserverSlot,
    stop: Arc<AtomicBool>,
    client: Client,
    thread: Option<JoinHandle<()>>,
}

impl AnswerService {
    /// Connects as `platform`, subscribes to `filters` and returns once they are acknowledged
    /// (10 s at most). Every uplink is answered by `answer`; its line goes to `<state>/<log>`
    /// (and to the observer, once one is set).
    pub fn start(
        info: &BrokerInfo,
        name: &str,
        filters: &'static [&'static str],
        log: &str,
        answer: Arc<AnswerFn>,
    ) -> std::io::Result<AnswerService> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(info.state_dir.join(log))?;
        let mut opts = MqttOptions::new(
            format!("aiot-platform-{name}-{}", std::process::id()),
            crate::platform::HOST,
            info.tcp_port,
        );
        opts.set_credentials(PLATFORM_USER, info.platform_password.clone());
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
        let (client, conn) = Client::new(opts, 256);
        let stop = Arc::new(AtomicBool::new(false));
        let observer: ObserverSlot = Arc::new(Mutex::new(None));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = {
            let (client, stop, name, seen) =
                (client.clone(), stop.clone(), name.to_owned(), observer.clone());
            std::thread::Builder::new()
                .name(format!("aiot-{name}"))
                .spawn(move || {
                    run(
                        conn,
                        client,
                        filters,
                        &stop,
                        tx,
                        answer.as_ref(),
                        &mut file,
                        &seen,
                        &name,
                    )
                })?
        };
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| std::io::Error::other(format!("{name} service: no SUBACK within 10 s")))?;
        Ok(AnswerService {
            observer,
            stop,
            client,
            thread: Some(thread),
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    mut conn: Connection,
    client: Client,
    filters: &[&str],
    stop: &AtomicBool,
    ready: std::sync::mpsc::Sender<()>,
    answer: &AnswerFn,
    file: &mut File,
    observer: &ObserverSlot,
    name: &str,
) {
    let mut pending = 0usize;
    let mut ready = Some(ready);
    while !stop.load(Ordering::SeqCst) {
        match conn.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                for f in filters {
                    let _ = client.try_subscribe(*f, QoS::AtMostOnce);
                }
                pending = filters.len();
            }
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                pending = pending.saturating_sub(1);
                if pending == 0 {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                let (out, line) = answer(&p.topic, &p.payload);
                let _ = writeln!(file, "{line}");
                let _ = file.flush();
                let seen = observer.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(f) = seen {
                    for l in line.lines() {
                        f(&format!("{name}: {l}"));
                    }
                }
                for (t, payload) in out {
                    if let Err(e) = client.try_publish(t.clone(), QoS::AtMostOnce, false, payload) {
                        eprintln!("aiot-platform: {name} service could not answer on {t}: {e}");
                    }
                }
            }
            Ok(Ok(_)) | Err(_) => {}
            // The broker may be restarted by broker-ctl: retry calmly.
            Ok(Err(_)) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

impl AnswerService {
    /// Hands every later exchange's log line to `f` too.
    pub fn set_observer(&self, f: Arc<ObserverFn>) {
        *self.observer.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }
}

impl Drop for AnswerService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.client.try_disconnect();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `f` under an exclusive lock on `<dir>/.lock` (created with `dir`), shared by the
/// services and their command-line tools.
pub fn locked<T>(dir: &Path, f: impl FnOnce() -> T) -> std::io::Result<T> {
    std::fs::create_dir_all(dir)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; released when `lock` closes.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let out = f();
    drop(lock);
    Ok(out)
}

/// Writes `path` through a temporary file and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

/// Whether a product key or device name is safe as a file name.
pub fn safe_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '\\', '+', '#']) && !s.starts_with('.')
}
