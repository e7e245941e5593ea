//! A real mosquitto that authenticates devices as the Aliyun IoT platform does, with a plain
//! TCP listener and a TLS listener, all on 127.0.0.1.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::devices::Device;
use crate::pki;

/// User name of the platform's own MQTT client (reads and writes every topic).
pub const PLATFORM_USER: &str = "platform";

/// Set to `all` to make mosquitto log every packet into `mosquitto.log` (off by default: it
/// slows the publish-rate figures of the benchmark).
pub const LOG_ENV: &str = "AIOT_PLATFORM_LOG";

/// Set to `1` to run mosquitto with its default settings, as a user's broker would: only what
/// authentication and the TLS listener need. Without it the broker is tuned for the tests and
/// benches (`set_tcp_nodelay true`, unbounded keepalive and message size) and loads the delivery
/// plugin; with it devices get their system topics only if they subscribe to them.
pub const DEFAULTS_ENV: &str = "AIOT_BROKER_DEFAULTS";

/// Whether [`DEFAULTS_ENV`] asks for mosquitto's default settings.
pub fn default_settings() -> bool {
    std::env::var(DEFAULTS_ENV).is_ok_and(|v| v == "1")
}

fn mosquitto_bin(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// Two distinct free ports on 127.0.0.1 (both held while choosing, then released).
fn free_ports() -> std::io::Result<(u16, u16)> {
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); read its state instead.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Whether `pid` is a live mosquitto running `conf` (guards against a stale pid file whose pid
/// was reused). A zombie has an empty command line, so it does not count.
fn runs_conf(pid: i32, conf: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut args = cmdline.split(|b| *b == 0);
    let is_mosquitto = args.next().is_some_and(|a| a.ends_with(b"mosquitto"));
    is_mosquitto && args.any(|a| a == conf.as_os_str().as_encoded_bytes())
}

fn signal(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill(2) on a positive pid has no memory effects.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// File in the state folder listing the devices as `productKey/deviceName`, one a line.
pub const DEVICES_FILE: &str = "devices";

/// The devices listed in `state_dir`'s [`DEVICES_FILE`], as (productKey, deviceName).
pub fn listed_devices(state_dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    let text = fs::read_to_string(state_dir.join(DEVICES_FILE))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('/'))
        .map(|(pk, dn)| (pk.to_owned(), dn.to_owned()))
        .collect())
}

/// File name of the mosquitto plugin (built from `plugin/aiot_delivery.c`) in the state folder.
pub const DELIVERY_PLUGIN: &str = "aiot_delivery.so";
const DELIVERY_PLUGIN_SO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aiot_delivery.so"));

/// What a test program needs to reach the broker.
#[derive(Clone, Debug)]
pub struct BrokerInfo {
    pub state_dir: PathBuf,
    pub tcp_port: u16,
    pub tls_port: u16,
    pub platform_password: String,
}

impl BrokerInfo {
    pub fn ca_file(&self) -> PathBuf {
        self.state_dir.join("ca.pem")
    }
    pub fn wrong_ca_file(&self) -> PathBuf {
        self.state_dir.join("wrong-ca.pem")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.state_dir.join("broker.pid")
    }
    /// The mosquitto configuration written by [`Broker::setup`].
    pub fn conf(&self) -> PathBuf {
        self.state_dir.join("mosquitto.conf")
    }
    /// mosquitto's own log (connections, refusals, subscriptions; every packet with
    /// `AIOT_PLATFORM_LOG=all`).
    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("mosquitto.log")
    }
    /// mosquitto's stdout/stderr (start-up errors land here).
    pub fn console_log_file(&self) -> PathBuf {
        self.state_dir.join("broker.log")
    }

    /// Reads the facts written by [`Broker::setup`].
    pub fn load(state_dir: &Path) -> std::io::Result<BrokerInfo> {
        let state_dir = &fs::canonicalize(state_dir)?;
        let text = fs::read_to_string(state_dir.join("ports"))?;
        let mut it = text.split_whitespace();
        let bad = || std::io::Error::other("bad ports file");
        let tcp_port = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let tls_port = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let platform_password = it.next().ok_or_else(bad)?.to_owned();
        Ok(BrokerInfo {
            state_dir: state_dir.to_owned(),
            tcp_port,
            tls_port,
            platform_password,
        })
    }

    /// The pid recorded in `broker.pid`, if the file exists.
    pub fn pid(&self) -> Option<i32> {
        fs::read_to_string(self.pid_file()).ok()?.trim().parse().ok()
    }

    /// Starts mosquitto (detached) and waits until both listeners accept connections. Does
    /// nothing if the recorded mosquitto is already running.
    pub fn start(&self) -> std::io::Result<()> {
        if self.running() {
            return Ok(());
        }
        for port in [self.tcp_port, self.tls_port] {
            if port_open(port) {
                return Err(std::io::Error::other(format!(
                    "127.0.0.1:{port} is taken by another process"
                )));
            }
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state_dir.join("broker.log"))?;
        let child = Command::new(mosquitto_bin("mosquitto"))
            .arg("-c")
            .arg(self.conf())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let pid = child.id() as i32;
        // The child is reaped by whoever stops it; forget the handle.
        std::mem::forget(child);
        fs::write(self.pid_file(), pid.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !alive(pid) {
                break;
            }
            if port_open(self.tcp_port) && port_open(self.tls_port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(std::io::Error::other(format!(
            "mosquitto did not come up within 10 s; see {} and {}",
            self.console_log_file().display(),
            self.log_file().display()
        )))
    }

    /// Whether the recorded mosquitto is running.
    pub fn running(&self) -> bool {
        self.pid()
            .is_some_and(|pid| alive(pid) && runs_conf(pid, &self.conf()))
    }

    /// Kills the recorded mosquitto (also a stopped one) and waits until it is gone.
    pub fn stop(&self) {
        let Some(pid) = self.pid() else { return };
        if !runs_conf(pid, &self.conf()) {
            // Already gone (maybe a zombie of ours, or the pid was reused): collect, forget.
            reap(pid);
            let _ = fs::remove_file(self.pid_file());
            return;
        }
        signal(pid, libc::SIGCONT);
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while alive(pid) && Instant::now() < deadline {
            reap(pid);
            std::thread::sleep(Duration::from_millis(10));
        }
        if alive(pid) {
            signal(pid, libc::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(3);
            while alive(pid) && Instant::now() < deadline {
                reap(pid);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        reap(pid);
        let _ = fs::remove_file(self.pid_file());
        // The listening sockets close with the process; make sure callers see a refusal.
        let deadline = Instant::now() + Duration::from_secs(2);
        while port_open(self.tcp_port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Collects the exit status of our own child, if it is one (no zombie left behind).
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waitpid on a specific pid with WNOHANG only touches `status`.
    unsafe {
        libc::waitpid(pid, &mut status, libc::WNOHANG);
    }
}

/// A running broker; stopped when dropped (whatever pid `broker.pid` holds at that time, so a
/// broker restarted by `aiot-platform broker-ctl` is stopped too).
pub struct Broker {
    pub info: BrokerInfo,
    devices: Vec<Device>,
}

impl Broker {
    /// Writes the PKI, password file, ACL and config into `state_dir`, with mosquitto's default
    /// settings when [`DEFAULTS_ENV`] is `1`. Refuses a folder whose broker is still running.
    pub fn setup(state_dir: &Path, devices: &[Device]) -> std::io::Result<BrokerInfo> {
        Broker::setup_with(state_dir, devices, default_settings())
    }

    /// [`Broker::setup`] with the choice made by the caller: `defaults` leaves mosquitto's
    /// settings as they are (only authentication and TLS configured, no delivery plugin).
    pub fn setup_with(state_dir: &Path, devices: &[Device], defaults: bool) -> std::io::Result<BrokerInfo> {
        if let Ok(old) = BrokerInfo::load(state_dir) {
            if old.running() {
                return Err(std::io::Error::other(format!(
                    "a broker is already running from {} (pid {}); stop it with `aiot-platform \
                     broker-ctl stop --state-dir {0}`",
                    state_dir.display(),
                    old.pid().unwrap_or(0)
                )));
            }
        }
        fs::create_dir_all(state_dir)?;
        // Absolute, so the paths handed to programs hold whatever their working folder.
        let state_dir = &fs::canonicalize(state_dir)?;
        pki::generate(state_dir)?;
        let (tcp_port, tls_port) = free_ports()?;
        let platform_password = random_hex(16);
        let passwd = state_dir.join("passwd");
        let _ = fs::remove_file(&passwd);
        let mut users: Vec<(String, String)> = devices.iter().map(|d| (d.username(), d.password())).collect();
        users.push((PLATFORM_USER.to_owned(), platform_password.clone()));
        fs::write(&passwd, "")?;
        for (user, pass) in &users {
            // Plain salted SHA-512 rather than PBKDF2: the stored values are HMACs already, and
            // PBKDF2 costs ~0.5 ms per CONNECT, which would dominate connect-time figures.
            let status = Command::new(mosquitto_bin("mosquitto_passwd"))
                .args(["-H", "sha512"])
                .arg("-b")
                .arg(&passwd)
                .arg(user)
                .arg(pass)
                .stdout(Stdio::null())
                .status()?;
            if !status.success() {
                return Err(std::io::Error::other("mosquitto_passwd failed"));
            }
        }
        let mut acl = format!("user {PLATFORM_USER}\ntopic readwrite #\n\n");
        for d in devices {
            let (pk, dn) = (&d.product_key, &d.device_name);
            acl.push_str(&format!(
                "user {}\ntopic readwrite /{pk}/{dn}/#\ntopic readwrite /sys/{pk}/{dn}/#\n\
                 topic readwrite /ota/device/+/{pk}/{dn}\ntopic readwrite /shadow/+/{pk}/{dn}\n\
                 topic readwrite /ext/rrpc/+/sys/{pk}/{dn}/#\ntopic readwrite /ext/ntp/{pk}/{dn}/#\n\n",
                d.username()
            ));
        }
        fs::write(state_dir.join("acl"), acl)?;
        // The devices as `pk/dn`, one a line, first device first (`aiot-platform dm` reads it).
        let list: String = devices
            .iter()
            .map(|d| format!("{}/{}\n", d.product_key, d.device_name))
            .collect();
        fs::write(state_dir.join(DEVICES_FILE), list)?;
        let d = state_dir.display();
        let log_types = if std::env::var(LOG_ENV).is_ok_and(|v| v == "all") {
            "log_type all\n"
        } else if defaults {
            ""
        } else {
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             log_type subscribe\nlog_type unsubscribe\n"
        };
        // Started as root, mosquitto would switch to the `mosquitto` user, which cannot write its
        // log into a folder of ours; `user root` keeps it as it is (no effect for other users).
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root\n"
        } else {
            ""
        };
        // Aliyun delivers a device's system topics without a SUBSCRIBE; the plugin does the same.
        let plugin = if defaults {
            String::new()
        } else if DELIVERY_PLUGIN_SO.is_empty() {
            eprintln!(
                "aiot-platform: built without {DELIVERY_PLUGIN} (no mosquitto-dev headers): devices \
                 get their OTA topics only if they subscribe to them"
            );
            String::new()
        } else {
            fs::write(state_dir.join(DELIVERY_PLUGIN), DELIVERY_PLUGIN_SO)?;
            // Dynamic registration: the platform answers on the socket and lists the
            // registered devices' credentials in the file (see crate::provision).
            format!(
                "plugin {d}/{DELIVERY_PLUGIN}\nplugin_opt_prov_socket {d}/{}\nplugin_opt_prov_creds {d}/{}\n",
                crate::provision::SOCKET_FILE,
                crate::provision::CREDS_FILE
            )
        };
        let tuning = if defaults {
            ""
        } else {
            "persistence false\nconnection_messages true\nmax_keepalive 65535\nmessage_size_limit 0\n\
             set_tcp_nodelay true\n"
        };
        let conf = format!(
            "{user}per_listener_settings false\nallow_anonymous false\npassword_file {d}/passwd\nacl_file {d}/acl\n\
             {plugin}\
             log_dest file {d}/mosquitto.log\n{log_types}{tuning}\
             listener {tcp_port} 127.0.0.1\n\
             listener {tls_port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n"
        );
        fs::write(state_dir.join("mosquitto.conf"), conf)?;
        fs::write(
            state_dir.join("ports"),
            format!("{tcp_port} {tls_port} {platform_password}\n"),
        )?;
        Ok(BrokerInfo {
            state_dir: state_dir.to_owned(),
            tcp_port,
            tls_port,
            platform_password,
        })
    }

    /// Sets up and starts a broker in `state_dir` (created if missing) for `devices`.
    pub fn start(state_dir: &Path, devices: &[Device]) -> std::io::Result<Broker> {
        let info = Broker::setup(state_dir, devices)?;
        info.start()?;
        Ok(Broker {
            info,
            devices: devices.to_vec(),
        })
    }

    /// Stops and starts again on the same ports with the same configuration.
    pub fn restart(&self) -> std::io::Result<()> {
        self.info.stop();
        self.info.start()
    }

    /// Stops mosquitto (SIGTERM, SIGKILL after 3 s) and waits until the TCP port refuses.
    pub fn stop(&self) {
        self.info.stop();
    }

    /// Starts mosquitto again after [`Broker::stop`] (same ports and configuration).
    pub fn start_again(&self) -> std::io::Result<()> {
        self.info.start()
    }

    /// The pid of the running mosquitto, as recorded in `broker.pid`.
    pub fn pid(&self) -> Option<i32> {
        self.info.pid()
    }

    /// Plain MQTT port on 127.0.0.1.
    pub fn tcp_port(&self) -> u16 {
        self.info.tcp_port
    }

    /// MQTT over TLS port on 127.0.0.1 (certificate valid for `localhost` only).
    pub fn tls_port(&self) -> u16 {
        self.info.tls_port
    }

    /// The folder holding the PKI, config, pid file and logs.
    pub fn state_dir(&self) -> &Path {
        &self.info.state_dir
    }

    /// The CA that signed the broker's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.info.ca_file()
    }

    /// A CA unrelated to the broker's certificate.
    pub fn wrong_ca_file(&self) -> PathBuf {
        self.info.wrong_ca_file()
    }

    /// The devices the broker accepts.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The platform-side MQTT account (readwrite on every topic): user name and password.
    pub fn platform_credentials(&self) -> (&str, &str) {
        (PLATFORM_USER, &self.info.platform_password)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.info.stop();
    }
}

/// `n` random bytes from the kernel as lower-case hex (falls back to std's randomly seeded hasher).
fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    let ok = fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !ok {
        use std::hash::{BuildHasher, Hasher};
        for (i, b) in buf.iter_mut().enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            *b = h.finish() as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
