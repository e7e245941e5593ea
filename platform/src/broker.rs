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

fn mosquitto_bin(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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

fn signal(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill(2) on a positive pid has no memory effects.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

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
    fn conf(&self) -> PathBuf {
        self.state_dir.join("mosquitto.conf")
    }

    /// Reads the facts written by [`Broker::setup`].
    pub fn load(state_dir: &Path) -> std::io::Result<BrokerInfo> {
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

    /// Starts mosquitto (detached) and waits until both listeners accept connections.
    pub fn start(&self) -> std::io::Result<()> {
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
            if port_open(self.tcp_port) && port_open(self.tls_port) {
                return Ok(());
            }
            if !alive(pid) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(std::io::Error::other(format!(
            "mosquitto did not come up; see {}",
            self.state_dir.join("broker.log").display()
        )))
    }

    /// Kills the recorded mosquitto (also a stopped one) and waits until it is gone.
    pub fn stop(&self) {
        let Some(pid) = self.pid() else { return };
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

/// A running broker; stopped when dropped.
pub struct Broker {
    pub info: BrokerInfo,
}

impl Broker {
    /// Writes the PKI, password file, ACL and config into `state_dir`.
    pub fn setup(state_dir: &Path, devices: &[Device]) -> std::io::Result<BrokerInfo> {
        fs::create_dir_all(state_dir)?;
        pki::generate(state_dir)?;
        let tcp_port = free_port()?;
        let mut tls_port = free_port()?;
        while tls_port == tcp_port {
            tls_port = free_port()?;
        }
        let platform_password = format!("{:016x}", rand_u64());
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
                 topic readwrite /ota/device/+/{pk}/{dn}\ntopic readwrite /shadow/+/{pk}/{dn}\n\n",
                d.username()
            ));
        }
        fs::write(state_dir.join("acl"), acl)?;
        let d = state_dir.display();
        let conf = format!(
            "per_listener_settings false\nallow_anonymous false\npassword_file {d}/passwd\nacl_file {d}/acl\n\
             persistence false\nlog_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n\
             max_keepalive 65535\nmessage_size_limit 0\nset_tcp_nodelay true\n\
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

    /// Sets up and starts a broker in `state_dir`.
    pub fn start(state_dir: &Path, devices: &[Device]) -> std::io::Result<Broker> {
        let info = Broker::setup(state_dir, devices)?;
        info.start()?;
        Ok(Broker { info })
    }

    /// Stops and starts again on the same ports.
    pub fn restart(&self) -> std::io::Result<()> {
        self.info.stop();
        self.info.start()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.info.stop();
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}
