//! The cluster lock: one run at a time changes a cluster.
//!
//! Two locks, both taken before anything is changed and refused at once
//! (never waited for) when another run holds them, naming that run:
//!
//! - **The PKI folder** on the control machine ([`PkiLock`]): an advisory
//!   `flock` on `<pki>/.lock`, held while a run that may write the folder
//!   lasts ([`super::open`] without `dry_run`, [`super::sync_pki_dir`],
//!   [`super::renew_certs`]). The kernel drops it when its process ends, so
//!   it is never stale. Two runs from one machine can no longer issue two
//!   CAs into one folder.
//! - **The hosts** ([`HOST_LOCK_PATH`] on each host, as k0sctl does): a
//!   file created with `set -C` (atomic, fails when it exists) holding the
//!   [`LockHolder`], taken by [`super::Engine::apply`] and
//!   [`super::Engine::reset`] on every reachable host before their first
//!   step, refreshed (its mtime) every [`REFRESH_EVERY`] while the run
//!   lasts and removed at its end. Runs from different control machines
//!   (or different PKI folders) exclude each other there. A lock not
//!   refreshed for [`STALE_AFTER`] belongs to a run that is gone (killed,
//!   its machine lost): it is still refused, with that said, and broken only
//!   when asked ([`super::ApplyOptions::break_lock`]). It lives in `/run`,
//!   so a reboot of the host clears it.
//!
//! ```
//! use k8s_bootstrap_core::apply::{LockError, LockHolder, PkiLock};
//! let dir = tempfile::tempdir().unwrap();
//! let pki = dir.path().join("pki");
//! let first = PkiLock::acquire(&pki, &LockHolder::me()).unwrap();
//! // A second run (here: the same process, another file handle) is refused at once.
//! let err = PkiLock::acquire(&pki, &LockHolder::me()).unwrap_err();
//! assert!(matches!(&err, LockError::Held { holder: Some(h), .. } if h.pid == std::process::id()));
//! assert!(err.to_string().contains(&format!("pid {}", std::process::id())));
//! drop(first);
//! assert!(PkiLock::acquire(&pki, &LockHolder::me()).is_ok());
//! ```

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::shell::shell_quote;
use crate::transport::{Command, Transport, TransportError};

/// The lock file on each host. In `/run`: a reboot clears it.
///
/// ```
/// // Who holds a cluster, asked of a host: `cat /run/k8s-bootstrap.lock`.
/// assert!(k8s_bootstrap_core::apply::HOST_LOCK_PATH.starts_with("/run/"));
/// ```
pub const HOST_LOCK_PATH: &str = "/run/k8s-bootstrap.lock";
/// The lock file in the PKI folder.
///
/// ```
/// use k8s_bootstrap_core::apply::{LockHolder, PkiLock, PKI_LOCK_FILE};
/// let dir = tempfile::tempdir().unwrap();
/// let _lock = PkiLock::acquire(dir.path(), &LockHolder::me()).unwrap();
/// let line = std::fs::read_to_string(dir.path().join(PKI_LOCK_FILE)).unwrap();
/// assert_eq!(serde_json::from_str::<LockHolder>(line.trim()).unwrap().pid, std::process::id());
/// ```
pub const PKI_LOCK_FILE: &str = ".lock";
/// How often a run refreshes its lock on the hosts.
///
/// ```
/// use k8s_bootstrap_core::apply::{REFRESH_EVERY, STALE_AFTER};
/// assert!(STALE_AFTER >= 5 * REFRESH_EVERY); // a few missed refreshes are not "gone"
/// ```
pub const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// A host lock not refreshed for this long belongs to a run that is gone.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(k8s_bootstrap_core::apply::STALE_AFTER, Duration::from_secs(60));
/// ```
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Who holds a lock: stored in the lock file as one line of JSON.
///
/// A cluster has two locks, both taken before anything is changed and
/// refused at once (never waited for) when another run holds them, naming
/// that run: the PKI folder's ([`PkiLock`], an advisory `flock` on
/// `<pki>/.lock` held while a run that may write the folder lasts; the
/// kernel drops it with its process, so it is never stale), and each
/// host's ([`HOST_LOCK_PATH`], created atomically by
/// [`Engine::apply`](super::Engine::apply), [`Engine::reset`](super::Engine::reset)
/// and [`Engine::restore`](super::Engine::restore) on every reachable host,
/// refreshed every [`REFRESH_EVERY`], removed at the end). A host lock not
/// refreshed for [`STALE_AFTER`], or held by a process of this machine that
/// no longer runs, belongs to a run that is gone: it is refused, saying so,
/// and broken only when asked ([`ApplyOptions::break_lock`](super::ApplyOptions::break_lock)).
/// One left by an ended run of this very process is broken without asking.
///
/// ```
/// use k8s_bootstrap_core::apply::LockHolder;
/// let me = LockHolder::me();
/// assert_eq!(me.pid, std::process::id());
/// let line = serde_json::to_string(&me).unwrap();
/// assert_eq!(serde_json::from_str::<LockHolder>(&line).unwrap(), me);
/// // For people: "root@ctl since 2026-12-04 12:01:03 UTC, pid 4242 (k8s-bootstrap apply)"
/// assert!(me.to_string().contains(&format!(", pid {} (", me.pid)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The user on the control machine.
    pub user: String,
    /// The control machine's host name.
    pub host: String,
    /// The process.
    pub pid: u32,
    /// When the lock was taken (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// The command line of the process (the first 120 characters).
    pub command: String,
    /// A token unique to this holder: only its holder refreshes or removes the lock.
    pub id: String,
}

impl LockHolder {
    /// This process, now.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::LockHolder;
    /// let (a, b) = (LockHolder::me(), LockHolder::me());
    /// assert_eq!((a.pid, &a.user, &a.host), (b.pid, &b.user, &b.host));
    /// assert_ne!(a.id, b.id); // two runs of one process are two holders
    /// ```
    pub fn me() -> Self {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let user = whoami::username().unwrap_or_else(|_| "unknown".into());
        let host = whoami::hostname().unwrap_or_else(|_| "unknown".into());
        let pid = std::process::id();
        let since = OffsetDateTime::now_utc();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let mut command: String = std::env::args().collect::<Vec<_>>().join(" ");
        if let Some((i, _)) = command.char_indices().nth(120) {
            command.truncate(i);
        }
        let id = hex::encode(
            &Sha256::digest(format!(
                "{user}@{host}:{pid}:{}:{seq}",
                since.unix_timestamp_nanos()
            ))[..12],
        );
        LockHolder {
            user,
            host,
            pid,
            since,
            command,
            id,
        }
    }

    fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self
            .since
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .unwrap_or_default();
        write!(
            f,
            "{}@{} since {since}, pid {} ({})",
            self.user, self.host, self.pid, self.command
        )
    }
}

/// A lock held by another run, or a lock file that cannot be used.
///
/// ```
/// use std::time::Duration;
/// use k8s_bootstrap_core::apply::LockError;
/// let e = LockError::Held { what: "etcd02".into(), holder: None, idle: Some(Duration::from_secs(75)), stale: true, gone_here: false };
/// assert!(e.to_string().contains("not refreshed for 75 s"));
/// assert!(e.to_string().contains("break-lock"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another run holds the lock.
    #[error("{what} is locked by another run: {}", held_message(holder.as_deref(), *idle, *stale, *gone_here))]
    Held {
        /// The PKI folder or the host.
        what: String,
        /// Who holds it, when the lock file says so.
        holder: Option<Box<LockHolder>>,
        /// Host locks: how long since the holder last refreshed it.
        idle: Option<Duration>,
        /// Host locks: its run is gone: not refreshed for [`STALE_AFTER`],
        /// or `gone_here`. Broken only when asked.
        stale: bool,
        /// Host locks: the holder is a process of this machine that no
        /// longer runs (killed before it could give the lock back).
        gone_here: bool,
    },
    /// The lock file could not be created or read.
    #[error("lock file {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn held_message(holder: Option<&LockHolder>, idle: Option<Duration>, stale: bool, gone_here: bool) -> String {
    let who = holder.map_or_else(
        || "a run that left no details".to_string(),
        |h| format!("held by {h}"),
    );
    match idle {
        Some(_) if gone_here => format!(
            "{who}: that process no longer runs on this machine (its run was killed); break the lock (the break-lock option) and run again"
        ),
        Some(idle) if stale => format!(
            "{who}, not refreshed for {} s: that run is gone (killed, or its machine lost); if so, break the lock (the break-lock option) and run again",
            idle.as_secs()
        ),
        Some(idle) => format!(
            "{who}, refreshed {} s ago; wait for that run to end",
            idle.as_secs()
        ),
        None => format!("{who}; wait for that run to end"),
    }
}

/// The lock of a PKI folder, held until dropped (the two locks of a cluster:
/// see [`LockHolder`]).
///
/// ```
/// use k8s_bootstrap_core::apply::{sync_pki_dir, LockHolder, PkiDirError, PkiLock};
/// use k8s_bootstrap_core::transport::LocalTransport;
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let held = PkiLock::acquire(dir.path(), &LockHolder::me()).unwrap(); // another run, say
/// let pki = dir.path().to_str().unwrap();
/// let err = sync_pki_dir(&spec, &LocalTransport::new(), pki, false).await.unwrap_err();
/// assert!(matches!(err, PkiDirError::Locked(_)));
/// assert!(!dir.path().join("ca.pem").exists()); // nothing written
/// assert!(sync_pki_dir(&spec, &LocalTransport::new(), pki, true).await.is_ok()); // a dry run takes no lock
/// drop(held);
/// assert!(sync_pki_dir(&spec, &LocalTransport::new(), pki, false).await.is_ok());
/// # });
/// ```
#[derive(Debug)]
pub struct PkiLock {
    _file: File,
    path: PathBuf,
}

impl PkiLock {
    /// Takes the lock of the PKI folder `dir` (created 0700 when absent) for
    /// `holder`, or refuses at once naming the run that holds it.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::{LockHolder, PkiLock};
    /// use std::os::unix::fs::PermissionsExt;
    /// let dir = tempfile::tempdir().unwrap();
    /// let lock = PkiLock::acquire(&dir.path().join("pki"), &LockHolder::me()).unwrap();
    /// let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    /// assert_eq!((mode(&dir.path().join("pki")), mode(lock.path())), (0o700, 0o600));
    /// ```
    ///
    /// # Errors
    /// [`LockError::Held`] when another run holds it; [`LockError::Io`]
    /// when the folder or the lock file cannot be created.
    pub fn acquire(dir: &Path, holder: &LockHolder) -> Result<Self, LockError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let path = dir.join(PKI_LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(super::pki_dir::DIR_MODE)
                .create(dir)
                .map_err(io)?;
        }
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // The holder writes its line right after taking the lock:
                // give it a moment when the file is still empty.
                let mut holder = None;
                for _ in 0..20 {
                    let mut text = String::new();
                    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
                    holder = serde_json::from_str(text.trim()).ok().map(Box::new);
                    if holder.is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                return Err(LockError::Held {
                    what: format!("the PKI folder {}", dir.display()),
                    holder,
                    idle: None,
                    stale: false,
                    gone_here: false,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", holder.line()))
            .map_err(io)?;
        Ok(PkiLock { _file: file, path })
    }

    /// The folder's lock for a run that writes it; `None` for a dry run,
    /// which writes nothing and takes no lock.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::PkiLock;
    /// let dir = tempfile::tempdir().unwrap();
    /// assert!(PkiLock::unless_dry_run(dir.path(), true).unwrap().is_none());
    /// let held = PkiLock::unless_dry_run(dir.path(), false).unwrap();
    /// assert!(held.is_some() && PkiLock::unless_dry_run(dir.path(), false).is_err());
    /// ```
    ///
    /// # Errors
    /// As [`PkiLock::acquire`].
    pub fn unless_dry_run(dir: &Path, dry_run: bool) -> Result<Option<Self>, LockError> {
        if dry_run { Ok(None) } else { Self::acquire(dir, &LockHolder::me()).map(Some) }
    }

    /// The lock file.
    ///
    /// ```
    /// use k8s_bootstrap_core::apply::{LockHolder, PkiLock};
    /// let dir = tempfile::tempdir().unwrap();
    /// let lock = PkiLock::acquire(dir.path(), &LockHolder::me()).unwrap();
    /// assert_eq!(lock.path(), dir.path().join(".lock"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What taking the lock on one host found.
#[derive(Debug)]
pub(crate) enum HostLockOutcome {
    /// Taken.
    Acquired,
    /// The lock of a run that is gone was broken, then taken: `why` says
    /// how it is known to be gone; `asked`: through `break_lock` (else it
    /// was this process's own ended run, which needs no asking).
    Broken { previous: Option<LockHolder>, why: String, asked: bool },
    /// Another run holds it.
    Held(LockError),
    /// The host could not be asked.
    Failed(TransportError),
}

/// `sh` for one lock operation on a host: `$f` the lock file, `$new` our line.
fn script(holder: &LockHolder, body: &str) -> Command {
    let head = format!(
        "f={}; new={}; id={}\n",
        shell_quote(HOST_LOCK_PATH),
        shell_quote(&holder.line()),
        shell_quote(&format!("\"id\":\"{}\"", holder.id))
    );
    Command::shell(format!("{head}{body}")).timeout(Duration::from_secs(30))
}

/// Takes the lock on one host: prints `acquired`, `broken IDLE` then the
/// old line, or `held IDLE` then the holder's line.
const ACQUIRE: &str = r#"take() { (set -C; printf '%s\n' "$new" > "$f") 2>/dev/null; }
if take; then echo acquired; exit 0; fi
now=$(date +%s); m=$(stat -c %Y "$f" 2>/dev/null || echo "$now"); idle=$((now - m)); [ "$idle" -ge 0 ] || idle=0
old=$(cat "$f" 2>/dev/null)
if [ "$brk" = 1 ] && [ "$idle" -ge "$stale" ]; then
  rm -f "$f"
  if take; then echo "broken $idle"; printf '%s\n' "$old"; exit 0; fi
  old=$(cat "$f" 2>/dev/null); idle=0
fi
echo "held $idle"; printf '%s\n' "$old"
"#;

/// Refreshes our lock: `ok`, or `lost` when another run holds it now.
const REFRESH: &str = r#"if grep -qF "$id" "$f" 2>/dev/null; then touch "$f" && echo ok
elif (set -C; printf '%s\n' "$new" > "$f") 2>/dev/null; then echo ok
else echo lost; fi
"#;

/// Breaks the lock when it still holds `$old` (the line of a holder known
/// to be gone), then takes it, answering as [`ACQUIRE`] does.
const BREAK_IF: &str = r#"take() { (set -C; printf '%s\n' "$new" > "$f") 2>/dev/null; }
if [ "$(cat "$f" 2>/dev/null)" = "$old" ]; then rm -f "$f"; fi
if take; then echo "broken 0"; printf '%s\n' "$old"; exit 0; fi
echo "held 0"; cat "$f" 2>/dev/null
"#;

/// Whether `h` is a process of this machine that no longer runs.
fn gone_here(h: &LockHolder) -> bool {
    whoami::hostname().is_ok_and(|me| me == h.host) && !Path::new(&format!("/proc/{}", h.pid)).exists()
}

/// The holder ids of this process's runs that are taking or hold host locks.
static ACTIVE: std::sync::Mutex<std::collections::BTreeSet<String>> = std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A run of this process that takes host locks, from before it asks for the
/// first until it gave them back: a lock of this process whose run is not
/// active any more was left by a run that ended (see [`ended_here`]).
pub(crate) struct ActiveRun(String);

impl ActiveRun {
    pub(crate) fn new(holder: &LockHolder) -> Self {
        if let Ok(mut a) = ACTIVE.lock() {
            a.insert(holder.id.clone());
        }
        ActiveRun(holder.id.clone())
    }
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        if let Ok(mut a) = ACTIVE.lock() {
            a.remove(&self.0);
        }
    }
}

/// Whether `h` is a run of this very process that has ended.
fn ended_here(h: &LockHolder) -> bool {
    h.pid == std::process::id() && whoami::hostname().is_ok_and(|me| me == h.host) && ACTIVE.lock().is_ok_and(|a| !a.contains(&h.id))
}

/// Removes our lock, never another run's.
const RELEASE: &str = r#"if grep -qF "$id" "$f" 2>/dev/null; then rm -f "$f"; fi
"#;

/// Takes the lock on host `name` (the spec's name, for messages) through
/// `t`. With `break_stale`, a lock of a run that is gone is broken: one not
/// refreshed for [`STALE_AFTER`], or one whose holder is a process of this
/// machine that no longer runs.
///
/// `then`: a command run on the host right after the lock is taken, in the
/// same exchange (the facts probe: a run takes its lock and reads its facts
/// in one round trip). Its output comes back when the lock was taken there
/// and then (not when it had to be broken in a second exchange).
pub(crate) async fn acquire_one(name: &str, t: &dyn Transport, holder: &LockHolder, break_stale: bool, then: Option<&Command>) -> (HostLockOutcome, Option<crate::transport::Output>) {
    let body = format!("brk={}; stale={}\n{ACQUIRE}", u8::from(break_stale), STALE_AFTER.as_secs());
    let break_if = |old: &LockHolder, why: &str, asked: bool| {
        let body = format!("old={}\n{BREAK_IF}", shell_quote(&old.line()));
        let why = why.to_string();
        async move {
            match ask(name, t, &script(holder, &body)).await {
                HostLockOutcome::Broken { previous, .. } => HostLockOutcome::Broken { previous, why, asked },
                other => other,
            }
        }
    };
    let (first, then_out) = match then {
        None => (ask(name, t, &script(holder, &body)).await, None),
        Some(then) => ask_then(name, t, &script(holder, &body), then).await,
    };
    let outcome = match first {
        // Certain: this process's own run, over, that could not give the
        // lock back (its connection was lost). No need to ask.
        HostLockOutcome::Held(LockError::Held { holder: Some(old), .. }) if ended_here(&old) => {
            break_if(&old, "an earlier run of this process, which ended without giving it back", false).await
        }
        HostLockOutcome::Held(LockError::Held { holder: Some(old), gone_here: true, .. }) if break_stale => {
            break_if(&old, "its process no longer runs on this machine", true).await
        }
        other => return (other, then_out),
    };
    (outcome, None)
}

/// Where the answer of the command run after the lock begins.
pub(crate) const THEN_MARK: &str = "--- k8s-bootstrap: then";

/// The lock script (`$1`), then, when it took the lock, `then` (the rest).
const THEN: &str = r#"l=$(sh -c "$1"); rc=$?; printf '%s\n' "$l"; [ "$rc" -eq 0 ] || exit "$rc"
case "$l" in acquired*|broken*) shift; echo '--- k8s-bootstrap: then'; exec "$@";; esac"#;

/// [`ask`] with `then` run in the same exchange once the lock is taken.
async fn ask_then(name: &str, t: &dyn Transport, lock: &Command, then: &Command) -> (HostLockOutcome, Option<crate::transport::Output>) {
    let mut argv = vec!["sh".to_string(), "-c".into(), THEN.into(), "sh".into(), lock.argv[2].clone()];
    argv.extend(then.argv.iter().cloned());
    let timeout = lock.timeout.max(then.timeout);
    let mut cmd = Command::new(argv);
    if let Some(d) = timeout {
        cmd = cmd.timeout(d);
    }
    let out = match t.run(&cmd).await {
        Ok(o) => o,
        Err(e) => return (HostLockOutcome::Failed(e), None),
    };
    let text = out.stdout_str();
    let (mine, theirs) = match text.split_once(&format!("\n{THEN_MARK}\n")) {
        Some((a, b)) => (a.to_string(), Some(b.to_string())),
        None => (text.clone(), None),
    };
    let lock_out = crate::transport::Output { stdout: mine.into_bytes(), stderr: Vec::new(), exit_code: if theirs.is_some() { Some(0) } else { out.exit_code } };
    let outcome = read_answer(name, t, lock_out);
    let then_out = theirs.map(|stdout| crate::transport::Output { stdout: stdout.into_bytes(), stderr: out.stderr.clone(), exit_code: out.exit_code });
    (outcome, then_out)
}

/// Runs one of the take scripts and reads its answer.
async fn ask(name: &str, t: &dyn Transport, cmd: &Command) -> HostLockOutcome {
    match t.run(cmd).await {
        Ok(o) => read_answer(name, t, o),
        Err(e) => HostLockOutcome::Failed(e),
    }
}

/// The take scripts' answer.
fn read_answer(name: &str, t: &dyn Transport, out: crate::transport::Output) -> HostLockOutcome {
    if !out.success() {
        let cmd = Command::new(["sh", "-c", "(take the cluster lock)"]);
        return HostLockOutcome::Failed(TransportError::command_failed(&t.host(), &cmd, &out));
    }
    let out = out.stdout_str();
    let mut lines = out.lines();
    let first = lines.next().unwrap_or_default();
    let holder_line = lines.next().unwrap_or_default();
    let previous = serde_json::from_str::<LockHolder>(holder_line.trim()).ok();
    let idle = |s: &str| Duration::from_secs(s.trim().parse().unwrap_or(0));
    match first.split_once(' ') {
        _ if first == "acquired" => HostLockOutcome::Acquired,
        Some(("broken", s)) => HostLockOutcome::Broken { previous, why: format!("not refreshed for {} s", idle(s).as_secs()), asked: true },
        Some(("held", s)) => {
            let idle = idle(s);
            let gone_here = previous.as_ref().is_some_and(gone_here);
            HostLockOutcome::Held(LockError::Held {
                what: name.to_string(),
                holder: previous.map(Box::new),
                idle: Some(idle),
                stale: idle >= STALE_AFTER || gone_here,
                gone_here,
            })
        }
        _ => HostLockOutcome::Failed(TransportError::Transfer {
            host: t.host(),
            path: HOST_LOCK_PATH.into(),
            reason: format!("taking the cluster lock gave no answer the engine knows: {:?}", out.trim()),
        }),
    }
}

/// The locks a run holds on its hosts, refreshed in the background until
/// [`HostLocks::release`] (or drop, which releases in the background).
pub(crate) struct HostLocks {
    holder: LockHolder,
    held: Vec<(String, Arc<dyn Transport>)>,
    refresher: Option<tokio::task::JoinHandle<()>>,
    lost: Arc<std::sync::Mutex<Option<String>>>,
    _active: ActiveRun,
}

impl HostLocks {
    /// Locks held on `held`; refreshed every [`REFRESH_EVERY`]. A refresh
    /// that finds another run's lock records it ([`HostLocks::lost`]).
    pub(crate) fn hold(holder: LockHolder, held: Vec<(String, Arc<dyn Transport>)>, active: ActiveRun) -> Self {
        let lost = Arc::new(std::sync::Mutex::new(None));
        let refresher = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let (holder, held, lost) = (holder.clone(), held.clone(), lost.clone());
            rt.spawn(async move {
                let warned = AtomicBool::new(false);
                loop {
                    tokio::time::sleep(REFRESH_EVERY).await;
                    let refresh = script(&holder, REFRESH);
                    let runs = held.iter().map(|(name, t)| { let refresh = &refresh; async move { (name, t.run_ok(refresh).await) } });
                    for (host, r) in futures::future::join_all(runs).await {
                        if matches!(&r, Ok(o) if o.stdout_str().trim() == "lost")
                            && !warned.swap(true, Ordering::SeqCst)
                            && let Ok(mut l) = lost.lock()
                        {
                            *l = Some(format!("{host}: another run holds the cluster lock now (this run's lock was broken or removed)"));
                        }
                    }
                }
            })
        });
        HostLocks { holder, held, refresher, lost, _active: active }
    }

    /// Why the run must stop: another run took the lock on a host.
    pub(crate) fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// Removes the locks (only ours).
    pub(crate) async fn release(mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
        let held = std::mem::take(&mut self.held);
        release_all(&self.holder, &held).await;
    }
}

async fn release_all(holder: &LockHolder, held: &[(String, Arc<dyn Transport>)]) {
    let release = script(holder, RELEASE);
    futures::future::join_all(held.iter().map(|(_, t)| t.run(&release))).await;
}

impl Drop for HostLocks {
    fn drop(&mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
        // A run dropped half-way (its future cancelled): release in the
        // background when a runtime is there, else the lock goes stale.
        if !self.held.is_empty()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let (holder, held) = (self.holder.clone(), std::mem::take(&mut self.held));
            rt.spawn(async move { release_all(&holder, &held).await });
        }
    }
}
