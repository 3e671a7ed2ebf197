//! Confinement for programs written by models.
//!
//! Every program runs in a fresh temporary working directory (removed afterwards), with an empty
//! environment but for `PATH`, `LANG=C.UTF-8` and `HOME`/`TMPDIR` pointing at that directory, as
//! `python3 -I` (isolated mode: no `PYTHON*` variables, no user site directory, no current directory
//! on `sys.path`). Before it executes, the child takes these resource limits, inherited by everything
//! it starts: CPU time equal to the timeout, [`MEMORY_LIMIT`] of address space, [`FILE_SIZE_LIMIT`]
//! per written file, no core dumps, and, for a user other than root, a process count of
//! [`PROCESS_LIMIT`] beyond the processes the user already runs (the kernel counts `RLIMIT_NPROC`
//! over all of a user's processes and does not enforce it for root). It leads its own process group,
//! and the whole group is killed with `SIGKILL` when the program ends or times out, so forked
//! children do not outlive it unless they leave the group.
//!
//! Where `unshare` (util-linux) can create user, network, PID and mount namespaces (probed once, at
//! first use, see [`confinement`]), the program also runs inside them: [`Confinement::Namespaces`].
//! It then has no network (only a loopback interface that is down), it is the init process of its own
//! PID namespace (when it exits or is killed, the kernel kills every process it forked), the
//! namespace's `pid_max` holds it to about [`PROCESS_LIMIT`] processes (Linux 6.14 and later; the
//! bound root otherwise lacks), and every mount it sees is remounted read-only except its working
//! directory. Otherwise ([`Confinement::LimitsOnly`], reported once with `tracing::warn!`) only the
//! limits, the environment, the directory and the process group apply.
//!
//! This is not a security boundary against a determined attacker: there is no seccomp filter, the
//! program runs as the user (as root inside its user namespace, mapped to the user outside), it can
//! read every file the user can read (namespaces make the file system read-only, they do not hide
//! it), a mount point whose name needs escaping in `/proc/self/mountinfo` stays writable, and under
//! [`Confinement::LimitsOnly`] it can use the network and write wherever the user can. Run untrusted
//! model output inside a container or VM as well.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::OnceCell;

use super::PythonRun;

/// Address space a program may map (`RLIMIT_AS`): 1 GiB.
pub const MEMORY_LIMIT: u64 = 1 << 30;

/// Largest file a program may write (`RLIMIT_FSIZE`): 16 MiB.
pub const FILE_SIZE_LIMIT: u64 = 16 << 20;

/// Processes a program may add to the user's (`RLIMIT_NPROC`, not for root), and the `pid_max` of
/// its PID namespace (bounded below by the kernel's 301).
pub const PROCESS_LIMIT: u64 = 512;

/// Bytes of standard output and of standard error kept per run; a program printing more blocks
/// until it times out.
pub const OUTPUT_LIMIT: u64 = 16 << 20;

/// How programs are confined on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confinement {
    /// Limits, empty environment, fresh directory and process group, inside user, network, PID and
    /// mount namespaces: no network, a read-only file system but for the working directory, and no
    /// process outliving the program.
    Namespaces,
    /// `unshare` cannot create the namespaces here: limits, empty environment, fresh directory and
    /// process group only; the network is reachable and the user's files are writable.
    LimitsOnly,
}

/// `unshare` options giving the program its own user (mapped to root), network, PID and mount
/// namespaces, with `/proc` for the new PID namespace, killed if `unshare` dies.
const NAMESPACE_FLAGS: [&str; 9] = [
    "--user",
    "--map-root-user",
    "--net",
    "--pid",
    "--fork",
    "--kill-child",
    "--mount",
    "--mount-proc",
    "--",
];

/// Shell run as the namespace's first process, `$1` the working directory and the rest the command:
/// caps `pid_max`, remounts every mount read-only but a bind mount of the working directory, enters
/// it and executes the command (which becomes the namespace's init).
const SETUP: &str = r#"wd="$1"; shift
{ echo PROCESSES >/proc/sys/kernel/pid_max; } 2>/dev/null
mount --bind "$wd" "$wd" || exit 125
while read -r _ _ _ _ m _; do mount -o remount,bind,ro "$m" 2>/dev/null; done </proc/self/mountinfo
mount -o remount,bind,rw "$wd" || exit 125
cd "$wd" || exit 125
exec "$@""#;

/// What the first run learned about the machine.
struct Host {
    /// Absolute path of the user's `python3` (resolved with the user's environment, which the
    /// program does not get).
    python: PathBuf,
    /// The interpreter's `sys.version`, part of [`fingerprint`].
    version: String,
    /// `PATH` given to the program: the interpreter's directory, then the system's.
    path: String,
    /// Whether the namespaces work.
    confinement: Confinement,
}

async fn host() -> &'static Host {
    static HOST: OnceCell<Host> = OnceCell::const_new();
    HOST.get_or_init(probe).await
}

async fn probe() -> Host {
    let found = Command::new("python3")
        .args([
            "-c",
            "import sys; print(sys.executable); print(sys.version)",
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let (executable, version) = found.split_once('\n').unwrap_or((found.as_str(), ""));
    let python = if executable.is_empty() {
        PathBuf::from("python3")
    } else {
        PathBuf::from(executable)
    };
    let version = version.replace('\n', " ");
    let mut path = String::new();
    if let Some(dir) = python.parent().filter(|d| d.is_absolute()) {
        path = format!("{}:", dir.display());
    }
    path.push_str("/usr/local/bin:/usr/bin:/bin");
    let tried = match tempfile::tempdir() {
        Ok(dir) => Command::new("unshare")
            .args(NAMESPACE_FLAGS)
            .args(["/bin/sh", "-c", &setup(), "sh"])
            .arg(dir.path())
            .arg("true")
            .env_clear()
            .env("PATH", &path)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| e.to_string())
            .and_then(|o| {
                let stderr = String::from_utf8_lossy(&o.stderr);
                let last = stderr.trim().lines().last().unwrap_or("").to_string();
                o.status
                    .success()
                    .then_some(())
                    .ok_or(format!("{} ({last})", o.status))
            }),
        Err(e) => Err(format!("no temporary directory: {e}")),
    };
    let confinement = match tried {
        Ok(()) => Confinement::Namespaces,
        Err(reason) => {
            tracing::warn!(
                "unshare cannot create namespaces here ({reason}): Python programs run with \
                 resource limits only, with network access and the user's files writable"
            );
            Confinement::LimitsOnly
        }
    };
    Host {
        python,
        version,
        path,
        confinement,
    }
}

fn setup() -> String {
    SETUP.replace("PROCESSES", &PROCESS_LIMIT.to_string())
}

/// How programs are confined on this machine. The first call (or the first program) probes
/// `unshare` once; the answer is cached for the process.
pub async fn confinement() -> Confinement {
    host().await.confinement
}

/// What a program's output may depend on besides its text and input: this module's version, the
/// interpreter (path and `sys.version`), the confinement, the timeout and every limit. Program runs
/// are kept under a hash of it ([`super::ProgramRuns`]), so a change to any of them runs programs
/// afresh.
pub async fn fingerprint(timeout: Duration) -> String {
    let host = host().await;
    format!(
        "sandbox {SANDBOX_VERSION}; python {} ({}); {:?}; timeout {} s; memory {MEMORY_LIMIT}; \
         file size {FILE_SIZE_LIMIT}; processes {PROCESS_LIMIT}; output {OUTPUT_LIMIT}",
        host.python.display(),
        host.version,
        host.confinement,
        timeout.as_secs_f64(),
    )
}

/// The version of this module's confinement, part of [`fingerprint`]: raise it when a change could
/// change what a program prints.
pub const SANDBOX_VERSION: u32 = 1;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The program exited with this code.
    Exited(i32),
    /// A signal killed it (a limit, or the system).
    Killed,
    /// It ran out of time.
    TimedOut,
    /// It could not be started or waited for.
    NotRun,
}

/// Resource limits set in the child between fork and exec.
#[derive(Clone, Copy)]
struct Limits {
    cpu_seconds: u64,
    processes: Option<u64>,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

fn set_limit(resource: Resource, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit reads a valid rlimit and is async-signal-safe.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Limits {
    fn new(timeout: Duration) -> Self {
        // SAFETY: geteuid and getuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        Limits {
            cpu_seconds: timeout.as_secs().max(1),
            processes: (!root).then(|| own_processes(unsafe { libc::getuid() }) + PROCESS_LIMIT),
        }
    }

    /// Runs in the forked child: only async-signal-safe calls, no allocation.
    fn apply(self) -> std::io::Result<()> {
        set_limit(libc::RLIMIT_CPU, self.cpu_seconds)?;
        set_limit(libc::RLIMIT_AS, MEMORY_LIMIT)?;
        set_limit(libc::RLIMIT_FSIZE, FILE_SIZE_LIMIT)?;
        set_limit(libc::RLIMIT_CORE, 0)?;
        if let Some(n) = self.processes {
            set_limit(libc::RLIMIT_NPROC, n)?;
        }
        Ok(())
    }
}

/// Processes of `uid` now running, the count `RLIMIT_NPROC` is checked against.
fn own_processes(uid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
        if is_pid && entry.metadata().is_ok_and(|m| m.uid() == uid) {
            n += 1;
        }
    }
    n
}

/// Kills every process of the group `pid` leads; a group already gone is not an error.
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: kill has no memory effects; a negative pid names a process group.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

async fn read_capped(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(pipe) = pipe {
        // A read error ends the output; what was read is kept.
        let _ = pipe.take(OUTPUT_LIMIT).read_to_end(&mut buf).await;
    }
    buf
}

fn command(host: &Host, dir: &Path, program: &str) -> Command {
    let mut cmd = match host.confinement {
        Confinement::Namespaces => {
            let mut c = Command::new("unshare");
            c.args(NAMESPACE_FLAGS)
                .args(["/bin/sh", "-c", &setup(), "sh"])
                .arg(dir)
                .arg(&host.python);
            c
        }
        Confinement::LimitsOnly => Command::new(&host.python),
    };
    cmd.arg("-I")
        .arg("-c")
        .arg(program)
        .env_clear()
        .env("PATH", &host.path)
        .env("LANG", "C.UTF-8")
        .env("HOME", dir)
        .env("TMPDIR", dir)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd
}

fn describe(status: ExitStatus, stderr: &[u8], cpu_seconds: u64) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let last = stderr.trim().lines().last().unwrap_or("");
    let limit = match status.signal() {
        Some(libc::SIGXCPU | libc::SIGKILL) => {
            format!(", killed at the CPU limit of {cpu_seconds} s or by the system")
        }
        Some(libc::SIGXFSZ) => format!(", over the file size limit of {FILE_SIZE_LIMIT} bytes"),
        _ => String::new(),
    };
    format!("{status}{limit} ({last})")
}

/// Runs `program` confined as the module describes, feeding it `stdin`, killed with everything it
/// started after `timeout`; says how it ended.
pub(super) async fn run(program: &str, stdin: &str, timeout: Duration) -> (PythonRun, Ended) {
    let failed = |error: String| {
        let run = PythonRun {
            stdout: String::new(),
            error: Some(error),
        };
        (run, Ended::NotRun)
    };
    let host = host().await;
    let dir = match tempfile::Builder::new().prefix("flowcompile-py-").tempdir() {
        Ok(d) => d,
        Err(e) => return failed(format!("cannot create a work directory: {e}")),
    };
    let limits = Limits::new(timeout);
    let mut cmd = command(host, dir.path(), program);
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe, and allocates nothing.
    unsafe { cmd.pre_exec(move || limits.apply()) };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start python3: {e}")),
    };
    let pid = child.id();
    let input = child.stdin.take();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let outcome = tokio::time::timeout(timeout, async {
        let feed = async move {
            if let Some(mut input) = input {
                // A program that exits without reading its input closes the pipe: not an error.
                let _ = input.write_all(stdin.as_bytes()).await;
            }
        };
        let ended = async {
            let status = child.wait().await;
            // Forked children still holding the pipes would keep them open: end them with it.
            kill_group(pid);
            status
        };
        let (status, stdout, stderr, ()) =
            tokio::join!(ended, read_capped(out), read_capped(err), feed);
        (status, stdout, stderr)
    })
    .await;
    kill_group(pid);
    // Reaps the child after a timeout (a no-op when it was already waited for).
    let _ = child.wait().await;
    // A directory that cannot be removed is left to the system's temporary-file cleaning.
    let _ = dir.close();
    match outcome {
        Err(_) => {
            let (run, _) = failed(format!("timed out after {} s", timeout.as_secs_f64()));
            (run, Ended::TimedOut)
        }
        Ok((Err(e), _, _)) => failed(format!("python3 failed: {e}")),
        Ok((Ok(status), stdout, stderr)) => {
            let stdout = String::from_utf8_lossy(&stdout).trim().to_string();
            let error = (!status.success()).then(|| describe(status, &stderr, limits.cpu_seconds));
            let ended = status.code().map_or(Ended::Killed, Ended::Exited);
            (PythonRun { stdout, error }, ended)
        }
    }
}
