//! Process housekeeping for the launcher: termination signals as a flag, becoming a child
//! subreaper (so a mosquitto restarted by `broker-ctl start` is reparented to us and reaped), and
//! sweeping up whatever children are left at the end.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

static SIGNALLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNALLED.store(sig, Ordering::SeqCst);
}

/// Routes SIGINT, SIGTERM and SIGHUP to a flag read by [`signalled`] instead of dying at once.
/// Children get the default dispositions back when they exec.
pub fn catch_termination() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The termination signal received since [`catch_termination`], if any.
pub fn signalled() -> Option<i32> {
    match SIGNALLED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// Makes orphaned descendants (a mosquitto started by `broker-ctl start`, a test program's
/// leftovers) our children, so they can be reaped and swept. Linux only; a no-op elsewhere.
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Pids of our direct children (from /proc; empty where /proc is missing).
pub fn children() -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // pid (comm) state ppid ...; comm may hold spaces and parentheses.
                    let rest = stat.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(me)
        })
        .collect()
}

/// Reaps every exited child except `keep` (a child someone waits for by its handle: reaping it
/// here would leave that wait with ECHILD and lose its exit status).
pub fn reap_all_except(keep: i32) {
    for pid in children() {
        if pid != keep {
            let mut status = 0;
            // SAFETY: waitpid on one pid of our own with WNOHANG only writes `status`.
            unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        }
    }
}

/// Reaps every exited child without blocking.
pub fn reap_all() {
    for _ in 0..1000 {
        let mut status = 0;
        // SAFETY: waitpid(-1, WNOHANG) only writes `status`.
        if unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } <= 0 {
            break;
        }
    }
}

/// Kills (SIGKILL) and reaps every remaining child, within `limit`. Returns how many were left
/// running when it started.
pub fn sweep_children(limit: Duration) -> usize {
    reap_all();
    let first = children().len();
    let deadline = Instant::now() + limit;
    loop {
        reap_all();
        let left = children();
        if left.is_empty() || Instant::now() >= deadline {
            return first;
        }
        for pid in left {
            // SAFETY: kill(2) on a positive pid of our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
