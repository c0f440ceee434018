//! Running a command the way a hostile file should be survived: under an address-space cap, with
//! a wall-clock kill that detects hangs, and with its peak RSS read back from the kernel.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How a limited child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it (an abort, a segfault, the kernel's OOM killer).
    Signaled(i32),
    /// It was still running at the deadline and was killed.
    Hung,
}

/// What a limited child did.
pub struct Outcome {
    pub ending: Ending,
    /// The first `KEEP` bytes of stdout, and how many it wrote in all.
    pub stdout: Vec<u8>,
    pub stdout_len: u64,
    pub stderr: Vec<u8>,
    /// Peak resident set size, in bytes (`ru_maxrss`).
    pub peak_rss: u64,
    pub wall: Duration,
}

/// Output kept per stream: enough for any describe document the corpus stores, not so much
/// that a file expanding into gigabytes of rows exhausts the test process.
const KEEP: usize = 64 << 20;

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<(Vec<u8>, u64)> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut total = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n as u64;
                    let room = KEEP.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        (kept, total)
    })
}

/// Runs `cmd` with RLIMIT_AS = `address_space` bytes, killing it after `deadline`.
pub fn run(mut cmd: Command, address_space: u64, deadline: Duration) -> std::io::Result<Outcome> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let limit = libc::rlimit {
        rlim_cur: address_space,
        rlim_max: address_space,
    };
    // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut hung = false;
    loop {
        // SAFETY: pid is our own unreaped child; status and usage are valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if start.elapsed() >= deadline {
            hung = true;
            // SAFETY: signalling and then reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let wall = start.elapsed();
    let (stdout, stdout_len) = out.join().unwrap_or_default();
    let (stderr, _) = err.join().unwrap_or_default();
    let ending = if hung {
        Ending::Hung
    } else if libc::WIFEXITED(status) {
        Ending::Exited(libc::WEXITSTATUS(status))
    } else {
        Ending::Signaled(libc::WTERMSIG(status))
    };
    Ok(Outcome {
        ending,
        stdout,
        stdout_len,
        stderr,
        peak_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        wall,
    })
}
