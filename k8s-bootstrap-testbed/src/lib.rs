//! # k8s-bootstrap-testbed
//!
//! Boots N real test hosts on this machine for end-to-end tests: each host
//! has its own network namespace and IP on a private bridge (`kbtb0`,
//! `10.77.0.1/24`; hosts `10.77.0.11`, `.12`, ...), its own systemd as PID 1
//! in its own PID/mount/UTS namespaces, its own sshd with fresh host keys,
//! and its own root filesystem: an overlay whose lower layer is the machine's
//! `/` (read-only view) and whose upper layer is a per-host folder.
//!
//! Teardown (on [`Drop`], so also on panic; on Ctrl-C/SIGTERM through a
//! signal handler; or with `k8s-bootstrap-testbed down`) kills each host's
//! systemd by its recorded host PID (checked against its start time, so a
//! reused PID is never hit), deletes the namespaces and links, unmounts the
//! overlays and removes the state folder, the bridge and the iptables rule.
//!
//! ## Concurrency
//! One testbed at a time per machine: [`Testbed::up`] takes an exclusive
//! `flock` on `/run/k8s-bootstrap-testbed.lock` and holds it until teardown,
//! so test binaries started at the same time wait for each other instead of
//! colliding on names and addresses. Inside one test binary, share one
//! testbed (run the host scenarios from one `#[test]`).
//! A testbed left behind by a killed process (owner PID gone) is torn down by
//! the next `up`; one started by the CLI must be removed with `down` first.
//!
//! Needs root, `ip` (iproute2), `iptables`, `unshare`/`nsenter` (util-linux),
//! `ssh-keygen` and `sshd` (OpenSSH), systemd at `/lib/systemd/systemd`.
//!
//! ```no_run
//! let tb = k8s_bootstrap_testbed::Testbed::up(3).expect("testbed");
//! for h in tb.hosts() {
//!     println!("{} {} key={}", h.name, h.ip, tb.client_key().display());
//! }
//! // dropped here: every host is torn down
//! ```
#![deny(missing_docs)]

pub mod binaries;
pub mod tutorial;

use std::fs::{self, File};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// Bridge all hosts hang off.
pub const BRIDGE: &str = "kbtb0";
/// Address of the bridge (the machine's side).
pub const BRIDGE_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// Address of host 1; host `i` (0-based) gets `.11 + i`.
pub const FIRST_HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 11);
/// An address on the test bridge that no host uses (for "unreachable" tests).
pub const UNUSED_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 250);
/// Most hosts one testbed boots.
pub const MAX_HOSTS: usize = 40;

const LOCK_FILE: &str = "/run/k8s-bootstrap-testbed.lock";
/// systemd, PID 1 of every host.
const SYSTEMD: &str = "/lib/systemd/systemd";
const DEFAULT_DIR: &str = "/run/k8s-bootstrap-testbed";

/// Units of the machine's image that k8s-bootstrap itself installs and
/// manages on a host (etcd, docker): a test host must not start them at
/// boot, but it must not mask them either (masking would refuse the
/// product's own `systemctl enable`), so they are only disabled (their
/// `*.wants/` links removed in the host's own layer).
const DISABLED_UNITS: &[&str] = &["etcd.service", "docker.service", "docker.socket"];

/// Units of the machine's image a test host must not run.
const MASKED_UNITS: &[&str] = &[
    "etcd2.service",
    // scripts/setup installs it for the firewall test, which unmasks it
    // on its own hosts; anywhere else it would close etcd's ports
    "firewalld.service",
    "containerd.service",
    "postgresql.service",
    "postgresql@.service",
    "cron.service",
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
    "container-getty@.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "man-db.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-timesyncd.service",
    "apparmor.service",
    "systemd-pstore.service",
];

/// Errors of the testbed. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not running as root.
    #[error(
        "the testbed needs root (it creates network namespaces, mounts and bridges); run the tests as root"
    )]
    NotRoot,
    /// A command failed.
    #[error("testbed: `{cmd}` failed: {detail}")]
    Command {
        /// The command.
        cmd: String,
        /// Exit status and stderr.
        detail: String,
    },
    /// File system or process error.
    #[error("testbed: {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A host did not come up.
    #[error("testbed: host {host} did not boot: {detail}")]
    Boot {
        /// Host name.
        host: String,
        /// What was seen (log tail).
        detail: String,
    },
    /// Another testbed (started by the CLI) is up.
    #[error(
        "testbed: a testbed started by `k8s-bootstrap-testbed up` is running; run `k8s-bootstrap-testbed down` first"
    )]
    ManualTestbedUp,
    /// Bad argument.
    #[error("testbed: {0}")]
    Invalid(String),
    /// Programs the testbed runs are not installed: each with its package.
    #[error("testbed: {}; scripts/setup (as root) installs them all", .0.join("; "))]
    MissingTools(Vec<String>),
}

/// Programs the testbed runs on the machine (and, for `sshd` and systemd,
/// inside each host, from the machine's own root).
const TOOLS: &[&str] = &["id", "ip", "iptables", "nsenter", "unshare", "setsid", "mount", "umount", "kill", "chmod", "ssh-keygen", "/usr/sbin/sshd"];

/// Every program of [`TOOLS`] that is missing, with the package to install.
fn missing_tools() -> Vec<String> {
    let mut missing: Vec<String> = TOOLS
        .iter()
        .filter(|t| !k8s_bootstrap_core::tools::on_path(t))
        .map(|t| k8s_bootstrap_core::tools::missing(t))
        .collect();
    if !Path::new(SYSTEMD).is_file() {
        missing.push(format!("systemd is not at {SYSTEMD}: install the Debian package `systemd`"));
    }
    missing
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// One running test host.
///
/// ```no_run
/// let tb = k8s_bootstrap_testbed::Testbed::up(1).unwrap();
/// let h = &tb.hosts()[0];
/// assert_eq!(h.sh("hostname").unwrap().trim(), h.name);
/// println!("ssh root@{} (systemd is PID {} on this machine)", h.ip, h.pid);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// Host name (`kbtb1`, ...), also its `/etc/hostname`.
    pub name: String,
    /// Its address on the bridge.
    pub ip: Ipv4Addr,
    /// sshd port.
    pub port: u16,
    /// Network namespace name.
    pub netns: String,
    /// Host PID (in the machine's PID namespace) of its systemd.
    pub pid: u32,
    /// Start time of that PID (clock ticks after boot), to never kill a reused PID.
    pub starttime: u64,
    /// Its root filesystem as seen from the machine (overlay mount).
    pub root: PathBuf,
}

impl Host {
    /// `ip:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.port))
    }

    /// Runs a command inside the host (its PID, mount, UTS and network
    /// namespaces) with `nsenter`, as root. For test setup and checks.
    pub fn exec(&self, argv: &[&str]) -> Result<std::process::Output> {
        let pid = self.pid.to_string();
        let mut args = vec!["-t", &pid, "-p", "-m", "-u", "-n", "--"];
        args.extend_from_slice(argv);
        Command::new("nsenter")
            .args(&args)
            .output()
            .map_err(io(format!("nsenter into {}", self.name)))
    }

    /// Like [`Host::exec`] with `sh -c script`, failing unless it exits 0; returns stdout.
    pub fn sh(&self, script: &str) -> Result<String> {
        let out = self.exec(&["sh", "-c", script])?;
        if !out.status.success() {
            return Err(Error::Command {
                cmd: format!("{}: sh -c {script:?}", self.name),
                detail: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// N running test hosts; torn down on drop.
#[derive(Debug)]
pub struct Testbed {
    dir: PathBuf,
    hosts: Vec<Host>,
    _lock: Option<File>,
    torn_down: bool,
}

static ACTIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static SIGNALS: Once = Once::new();

fn install_signal_handler() {
    SIGNALS.call_once(|| {
        let r = ctrlc::set_handler(|| {
            eprintln!("k8s-bootstrap-testbed: interrupted, tearing down test hosts");
            let dirs = ACTIVE.lock().map(|d| d.clone()).unwrap_or_default();
            for d in dirs {
                if let Err(e) = teardown_dir(&d) {
                    eprintln!("k8s-bootstrap-testbed: teardown of {}: {e}", d.display());
                }
            }
            std::process::exit(130);
        });
        if let Err(e) = r {
            eprintln!("k8s-bootstrap-testbed: no Ctrl-C handler ({e}); teardown relies on Drop");
        }
    });
}

/// The state folder (`$K8S_BOOTSTRAP_TESTBED_DIR` or `/run/k8s-bootstrap-testbed`).
pub fn state_dir() -> PathBuf {
    std::env::var_os("K8S_BOOTSTRAP_TESTBED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

fn run(argv: &[&str]) -> Result<String> {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::MissingTools(vec![k8s_bootstrap_core::tools::missing(argv[0])]),
            _ => Error::Io { context: format!("run {}", argv[0]), source: e },
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            cmd: argv.join(" "),
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run_quiet(argv: &[&str]) -> bool {
    Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn is_root() -> bool {
    run(&["id", "-u"]).map(|s| s.trim() == "0").unwrap_or(false)
}

/// Start time (field 22 of /proc/PID/stat) of a live process (zombies count as gone).
fn starttime(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let mut fields = after_comm.split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

fn is_mountpoint(path: &Path) -> bool {
    let p = path.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().any(|l| l.split(' ').nth(4) == Some(&*p)))
        .unwrap_or(true)
}

/// Whether a state file is a manual testbed's (`k8s-bootstrap-testbed up`),
/// which holds no lock while it is up.
fn is_manual(state: &str) -> bool {
    state.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["owner", "manual"])
}

fn parse_hosts(state: &str) -> Vec<Host> {
    state
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.first() != Some(&"host") || f.len() != 7 {
                return None;
            }
            Some(Host {
                name: f[1].into(),
                ip: f[2].parse().ok()?,
                port: 22,
                netns: f[3].into(),
                pid: f[4].parse().ok()?,
                starttime: f[5].parse().ok()?,
                root: f[6].into(),
            })
        })
        .collect()
}

/// Reads the hosts recorded in a state folder (for `list`).
pub fn read_state(dir: &Path) -> Vec<Host> {
    fs::read_to_string(dir.join("state"))
        .map(|s| parse_hosts(&s))
        .unwrap_or_default()
}

fn kill_host(h: &Host) {
    if starttime(h.pid) == Some(h.starttime) {
        let _ = run(&["kill", "-KILL", &h.pid.to_string()]);
        let t = Instant::now();
        while starttime(h.pid) == Some(h.starttime) && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Every host's systemd holds several inotify instances, all owned by
/// root: the kernel's default of 128 per user stops the 25th host from
/// booting. Raise the limit (machine-wide, never lowered) to fit `n` hosts.
fn raise_inotify_instances(n: usize) -> Result<()> {
    const KNOB: &str = "/proc/sys/fs/inotify/max_user_instances";
    let want = 128 + 16 * n as u64;
    let have: u64 = fs::read_to_string(KNOB).map_err(io(KNOB))?.trim().parse().unwrap_or(0);
    if have < want {
        fs::write(KNOB, want.to_string()).map_err(io(format!("raise {KNOB} to {want}")))?;
    }
    Ok(())
}

/// The folder below the caller's cgroup that holds the hosts' cgroups,
/// `kbtb-<pid of the process booting them>`: unique, so that testbeds of
/// separate machines' views (a chroot with its own network namespace)
/// never share a host's cgroup.
const CGROUP_PARENT: &str = "kbtb";

/// Host `name`'s cgroups: one in every hierarchy mounted here, below
/// the cgroup this process runs in (so the hosts stay inside whatever
/// limits the caller, e.g. a CI job, is confined to). Each host's systemd
/// (as a container's) treats the cgroup it starts in as its root; started
/// in the caller's own cgroup, the hosts' systemds would all manage the same
/// `/system.slice/docker.service` etc., and one host stopping a unit
/// removes the cgroup another host is starting that unit in
/// (`status=219/CGROUP`). cpuset is left out: a v1 cpuset cgroup needs its
/// cpus and mems filled in first, and systemd does not use it on v1.
fn host_cgroups(name: &str) -> Vec<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut dirs = Vec::new();
    for line in mounts.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let (Some(mountpoint), mut r) = (left.split(' ').nth(4), right.split(' ')) else { continue };
        let (fstype, sup) = (r.next().unwrap_or(""), r.nth(1).unwrap_or(""));
        let controllers: Vec<&str> = match fstype {
            "cgroup2" => Vec::new(),
            "cgroup" => sup.split(',').filter(|o| !matches!(*o, "rw" | "ro") && !o.contains("xattr")).collect(),
            _ => continue,
        };
        if controllers.contains(&"cpuset") {
            continue;
        }
        // this process's line for that hierarchy: `N:CONTROLLERS:PATH`
        let path = own.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            let ctl: Vec<&str> = ctl.split(',').filter(|c| !c.is_empty()).collect();
            let same = if fstype == "cgroup2" { ctl.is_empty() } else { !ctl.is_empty() && ctl.iter().all(|c| controllers.contains(c)) };
            same.then(|| path.to_string())
        });
        if let Some(path) = path {
            dirs.push(Path::new(mountpoint).join(path.trim_start_matches('/')).join(format!("{CGROUP_PARENT}-{}", std::process::id())).join(name));
        }
    }
    dirs
}

/// The file in a host's folder listing its cgroups, for the teardown.
const CGROUPS_FILE: &str = "cgroups";

/// Removes a cgroup and its children, deepest first. A cgroup is busy
/// until its last process has exited, which can take a moment after the
/// host's systemd was killed: retry for a few seconds.
fn remove_cgroup_tree(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for e in fs::read_dir(dir).map_err(io(format!("read {}", dir.display())))?.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_cgroup_tree(&e.path())?;
        }
    }
    let t = Instant::now();
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if t.elapsed() < Duration::from_secs(10) && e.kind() == std::io::ErrorKind::ResourceBusy => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(io(format!("remove cgroup {}", dir.display()))(e)),
        }
    }
}

/// Tears down everything recorded in state folder `dir` (idempotent).
pub fn teardown_dir(dir: &Path) -> Result<()> {
    let mut failed: Option<Error> = None;
    let hosts = read_state(dir);
    for h in &hosts {
        kill_host(h);
    }
    // names are derived, so also catch hosts that were half set up
    for i in 1..=MAX_HOSTS {
        let ns = format!("kbtb-h{i}");
        if run_quiet(&["ip", "netns", "pids", &ns]) {
            let _ = run(&["ip", "netns", "del", &ns]);
        }
        let veth = format!("kbtb-h{i}-v");
        if Path::new("/sys/class/net").join(&veth).exists() {
            let _ = run(&["ip", "link", "del", &veth]);
        }
        let listed = fs::read_to_string(dir.join(format!("kbtb{i}")).join(CGROUPS_FILE)).unwrap_or_default();
        for cg in listed.lines().map(Path::new) {
            // never stop halfway: the rest of the teardown runs regardless
            if let Err(e) = remove_cgroup_tree(cg) {
                failed.get_or_insert(e);
            }
            // the shared parent goes with the last host (busy while others live)
            if let Some(parent) = cg.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
        let merged = dir.join(format!("kbtb{i}")).join("merged");
        if is_mountpoint(&merged) && !run_quiet(&["umount", &merged.to_string_lossy()]) {
            let _ = run(&["umount", "-l", &merged.to_string_lossy()]);
        }
    }
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        let _ = run(&["ip", "link", "del", BRIDGE]);
    }
    while run_quiet(&[
        "iptables", "-D", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT",
    ]) {}
    // never delete through a live mount: only remove host folders whose overlay is gone
    if dir.exists() {
        for e in fs::read_dir(dir).map_err(io("read state dir"))?.flatten() {
            let merged = e.path().join("merged");
            if is_mountpoint(&merged) {
                return Err(Error::Invalid(format!(
                    "{} is still mounted; not removing",
                    merged.display()
                )));
            }
        }
        fs::remove_dir_all(dir).map_err(io(format!("remove {}", dir.display())))?;
    }
    failed.map_or(Ok(()), Err)
}

impl Testbed {
    /// Boots `n` hosts (1..=20) and waits until each runs systemd and sshd.
    /// Fails (never skips) with a clear message when it cannot.
    pub fn up(n: usize) -> Result<Self> {
        Self::up_with_owner(n, false)
    }

    /// Like [`Testbed::up`], for the CLI: the hosts outlive this process and
    /// are removed by [`teardown_dir`] (`k8s-bootstrap-testbed down`).
    pub fn up_manual(n: usize) -> Result<Vec<Host>> {
        let mut tb = Self::up_with_owner(n, true)?;
        tb.torn_down = true; // keep running
        Ok(std::mem::take(&mut tb.hosts))
    }

    fn up_with_owner(n: usize, manual: bool) -> Result<Self> {
        if !(1..=MAX_HOSTS).contains(&n) {
            return Err(Error::Invalid(format!(
                "host count must be 1..={MAX_HOSTS}, got {n}"
            )));
        }
        if !is_root() {
            return Err(Error::NotRoot);
        }
        let missing = missing_tools();
        if !missing.is_empty() {
            return Err(Error::MissingTools(missing));
        }
        raise_inotify_instances(n)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK_FILE)
            .map_err(io(LOCK_FILE))?;
        if lock.try_lock().is_err() {
            eprintln!("k8s-bootstrap-testbed: waiting for another testbed ({LOCK_FILE})");
            lock.lock().map_err(io(format!("lock {LOCK_FILE}")))?;
        }
        let dir = state_dir();
        // A testbed started by hand (`up`) holds no lock while it runs (its
        // `up` took and gave back the lock): a test waits for its `down`,
        // with the lock given back meanwhile, for at most 15 minutes. A
        // second `up` by hand is refused at once.
        let deadline = Instant::now() + Duration::from_secs(900);
        let mut said = false;
        while !manual && fs::read_to_string(dir.join("state")).is_ok_and(|s| is_manual(&s)) && Instant::now() < deadline {
            if !said {
                eprintln!("k8s-bootstrap-testbed: waiting for the testbed started by hand to go down (`k8s-bootstrap-testbed down`)");
                said = true;
            }
            lock.unlock().map_err(io(format!("unlock {LOCK_FILE}")))?;
            std::thread::sleep(Duration::from_secs(1));
            lock.lock().map_err(io(format!("lock {LOCK_FILE}")))?;
        }
        if let Ok(state) = fs::read_to_string(dir.join("state")) {
            if is_manual(&state) {
                return Err(Error::ManualTestbedUp);
            }
            // Any other owner held the lock we now hold: it is gone, or it
            // is done with its testbed and its teardown left something.
            eprintln!("k8s-bootstrap-testbed: removing what an earlier testbed left");
        }
        teardown_dir(&dir)?;
        install_signal_handler();
        if let Ok(mut a) = ACTIVE.lock() {
            a.push(dir.clone());
        }
        let mut tb = Testbed {
            dir: dir.clone(),
            hosts: Vec::new(),
            _lock: if manual { None } else { Some(lock) },
            torn_down: false,
        };
        // On error, `tb` drops here and tears down what was started.
        tb.boot(n, manual)?;
        Ok(tb)
    }

    fn boot(&mut self, n: usize, manual: bool) -> Result<()> {
        let dir = self.dir.clone();
        fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        let owner = if manual {
            "owner manual".to_string()
        } else {
            let me = std::process::id();
            format!("owner {me} {}", starttime(me).unwrap_or(0))
        };
        fs::write(dir.join("state"), format!("{owner}\n")).map_err(io("write state"))?;

        let key = dir.join("id_ed25519");
        run(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "k8s-bootstrap-testbed",
            "-f",
            &key.to_string_lossy(),
        ])?;
        let pubkey =
            fs::read_to_string(dir.join("id_ed25519.pub")).map_err(io("read client key"))?;

        run(&["ip", "link", "add", BRIDGE, "type", "bridge"])?;
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{BRIDGE_IP}/24"),
            "dev",
            BRIDGE,
        ])?;
        run(&["ip", "link", "set", BRIDGE, "up"])?;
        run(&[
            "iptables", "-I", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT",
        ])?;

        let mut known_hosts = String::new();
        let mut children = Vec::new();
        for i in 1..=n {
            let ip = Ipv4Addr::from(u32::from(FIRST_HOST_IP) + (i as u32 - 1));
            let name = format!("kbtb{i}");
            let (child, host_keys) = self.prepare_and_start(i, &name, ip, &pubkey)?;
            for k in host_keys.lines() {
                let mut f = k.split_whitespace();
                if let (Some(t), Some(b)) = (f.next(), f.next()) {
                    known_hosts.push_str(&format!("{ip} {t} {b}\n"));
                }
            }
            children.push((i, name, ip, child));
        }
        fs::write(dir.join("known_hosts"), &known_hosts).map_err(io("write known_hosts"))?;

        for (i, name, ip, child) in children {
            let pid = child_of(child.id(), &name).map_err(|e| match e {
                Error::Boot { host, detail } => {
                    let log = boot_log(&dir, &host);
                    Error::Boot { host, detail: format!("{detail}; boot log: {log}") }
                }
                e => e,
            })?;
            let st = starttime(pid).ok_or_else(|| Error::Boot {
                host: name.clone(),
                detail: "systemd exited at once".into(),
            })?;
            let host = Host {
                name: name.clone(),
                ip,
                port: 22,
                netns: format!("kbtb-h{i}"),
                pid,
                starttime: st,
                root: dir.join(&name).join("merged"),
            };
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(dir.join("state"))
                .map_err(io("append state"))?;
            writeln!(f, "{}", state_line(&host)).map_err(io("append state"))?;
            self.hosts.push(host);
            reap(child);
        }
        for h in &self.hosts {
            wait_ready(h, &dir)?;
        }
        Ok(())
    }

    /// Overlay root, host keys, authorized key, masks, netns; then starts
    /// systemd detached. Returns the started process and the host public keys.
    fn prepare_and_start(
        &self,
        i: usize,
        name: &str,
        ip: Ipv4Addr,
        pubkey: &str,
    ) -> Result<(std::process::Child, String)> {
        let hdir = self.dir.join(name);
        let (upper, work, merged) = (hdir.join("upper"), hdir.join("work"), hdir.join("merged"));
        for d in [&upper, &work, &merged] {
            fs::create_dir_all(d).map_err(io(format!("create {}", d.display())))?;
        }
        run(&[
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            &format!(
                "lowerdir=/,upperdir={},workdir={}",
                upper.display(),
                work.display()
            ),
            &merged.to_string_lossy(),
        ])?;
        let m = |p: &str| merged.join(p.trim_start_matches('/'));
        fs::write(m("/etc/hostname"), format!("{name}\n")).map_err(io("write hostname"))?;
        // root lingers: its user manager (user@0.service) starts once and
        // stays, instead of stopping 10 s after the last SSH session and
        // racing the next login, which sshd then drops ("Disconnected").
        fs::create_dir_all(m("/var/lib/systemd/linger")).map_err(io("create /var/lib/systemd/linger"))?;
        fs::write(m("/var/lib/systemd/linger/root"), "").map_err(io("write linger flag"))?;
        fs::write(
            m("/etc/hosts"),
            format!("127.0.0.1 localhost\n{ip} {name}\n"),
        )
        .map_err(io("write hosts"))?;
        fs::write(m("/etc/machine-id"), "").map_err(io("write machine-id"))?;
        for e in fs::read_dir(m("/etc/ssh"))
            .map_err(io("read /etc/ssh"))?
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                fs::remove_file(e.path()).map_err(io("remove machine host key"))?;
            }
        }
        run(&["ssh-keygen", "-A", "-f", &merged.to_string_lossy()])?;
        let mut host_keys = String::new();
        for t in ["ed25519", "ecdsa", "rsa"] {
            if let Ok(k) = fs::read_to_string(m(&format!("/etc/ssh/ssh_host_{t}_key.pub"))) {
                host_keys.push_str(&k);
            }
        }
        // A fresh host's root has Debian's own ~/.bashrc, not this
        // machine's (bash reads it for every command sshd runs; the
        // machine's may start pyenv, 100 ms per SSH session, which no
        // real host pays and which would blur every timing taken here).
        let dot_bashrc = fs::read("/usr/share/base-files/dot.bashrc").unwrap_or_default();
        fs::write(m("/root/.bashrc"), dot_bashrc).map_err(io("write /root/.bashrc"))?;
        fs::create_dir_all(m("/root/.ssh")).map_err(io("create /root/.ssh"))?;
        run(&["chmod", "700", &m("/root/.ssh").to_string_lossy()])?;
        fs::write(m("/root/.ssh/authorized_keys"), pubkey).map_err(io("write authorized_keys"))?;
        run(&[
            "chmod",
            "600",
            &m("/root/.ssh/authorized_keys").to_string_lossy(),
        ])?;
        fs::write(m("/etc/ssh/sshd_config.d/kbtb.conf"), "UseDNS no\nPermitRootLogin prohibit-password\nMaxSessions 100\nMaxStartups 100:30:200\n")
            .map_err(io("write sshd config"))?;
        let units = m("/etc/systemd/system");
        for wants in fs::read_dir(&units).map_err(io("read /etc/systemd/system"))? {
            let wants = wants.map_err(io("read /etc/systemd/system"))?.path();
            if wants.extension().is_some_and(|e| e == "wants") {
                for u in DISABLED_UNITS {
                    let _ = fs::remove_file(wants.join(u));
                }
            }
        }
        for u in MASKED_UNITS {
            let p = units.join(u);
            let _ = fs::remove_file(&p);
            std::os::unix::fs::symlink("/dev/null", &p).map_err(io(format!("mask {u}")))?;
        }

        let ns = format!("kbtb-h{i}");
        let veth = format!("kbtb-h{i}-v");
        run(&["ip", "netns", "add", &ns])?;
        run(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        run(&["ip", "link", "set", &veth, "master", BRIDGE, "up"])?;
        run(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            "eth0",
        ])?;
        run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        let init = hdir.join("init.sh");
        let mp = merged.to_string_lossy();
        fs::write(
            &init,
            format!(
                r#"set -e
mount --make-rprivate /
mount --bind '{mp}' '{mp}'
cd '{mp}'
mount -t proc proc proc
mount -t sysfs sysfs sys
mount -t tmpfs -o mode=755,size=16m tmpfs dev
for d in null zero full random urandom tty; do touch dev/$d; mount --bind /dev/$d dev/$d; done
mkdir -p dev/pts dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts dev/pts
ln -sf pts/ptmx dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs dev/shm
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot || true
exec env container={name} /lib/systemd/systemd --system
"#
            ),
        )
        .map_err(io("write init script"))?;
        Ok((self.start(i, name)?, host_keys))
    }

    /// Starts host `name`'s systemd (its folder and network namespace
    /// already made), detached, in fresh cgroups of its own.
    fn start(&self, i: usize, name: &str) -> Result<std::process::Child> {
        let hdir = self.dir.join(name);
        let ns = format!("kbtb-h{i}");
        // the host's own cgroups (emptied ones of an earlier host of that name go first)
        let cgroups = host_cgroups(name);
        let mut listed = String::new();
        for cg in &cgroups {
            remove_cgroup_tree(cg)?;
            fs::create_dir_all(cg).map_err(io(format!("create cgroup {}", cg.display())))?;
            listed.push_str(&format!("{}\n", cg.display()));
        }
        fs::write(hdir.join(CGROUPS_FILE), listed).map_err(io("write the host's cgroup list"))?;
        let init = hdir.join("init.sh");
        // appended to: a host booted again keeps the log of its earlier boots
        let log = fs::OpenOptions::new().create(true).append(true).open(hdir.join("boot.log")).map_err(io("open boot log"))?;
        // Join the cgroups first: `ip netns exec` mounts a fresh /sys, in
        // which the cgroup hierarchies are not mounted.
        let mut child = Command::new("sh");
        child.args(["-c", r#"while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs"; shift; done; shift; exec "$@""#, "sh"]);
        child.args(&cgroups).arg("--");
        let child = child
            .args([
                "setsid",
                "ip",
                "netns",
                "exec",
                &ns,
                "unshare",
                "--pid",
                "--fork",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "/bin/sh",
            ])
            .arg(&init)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("boot log"))?)
            .stderr(log)
            .spawn()
            .map_err(io(format!("start {name}")))?;
        Ok(child)
    }

    /// Power-cycles host `i` (0-based): its systemd and every process of
    /// the host are killed at once (SIGKILL to its PID 1: no unit is
    /// stopped, no file closed cleanly, as when the power goes), then the
    /// host boots again from the same root, network namespace and address,
    /// and this waits until systemd and sshd are up (at most 60 s). Its
    /// files are what its processes had written: the machine's page cache
    /// outlives the host, unlike a real power cut. Returns the host as it
    /// runs now (its PID changed); [`Testbed::hosts`] has it too.
    ///
    /// ```no_run
    /// let mut tb = k8s_bootstrap_testbed::Testbed::up(1).unwrap();
    /// let h = tb.reboot(0).unwrap();
    /// assert_eq!(h.sh("systemctl is-system-running --wait").unwrap().trim(), "running");
    /// ```
    pub fn reboot(&mut self, i: usize) -> Result<Host> {
        let old = self.hosts.get(i).cloned().ok_or_else(|| Error::Invalid(format!("no host {i}: the testbed has {}", self.hosts.len())))?;
        kill_host(&old);
        if starttime(old.pid) == Some(old.starttime) {
            return Err(Error::Boot { host: old.name.clone(), detail: format!("its systemd (PID {}) outlived SIGKILL for 10 s", old.pid) });
        }
        let child = self.start(i + 1, &old.name)?;
        let pid = child_of(child.id(), &old.name)?;
        let st = starttime(pid).ok_or_else(|| Error::Boot { host: old.name.clone(), detail: "systemd exited at once after the reboot".into() })?;
        reap(child);
        let host = Host { pid, starttime: st, ..old };
        self.hosts[i] = host.clone();
        // the state file names every live host by PID, for the teardown
        let state = fs::read_to_string(self.dir.join("state")).map_err(io("read state"))?;
        let lines: Vec<String> = state
            .lines()
            .map(|l| match l.split_whitespace().nth(1) {
                Some(n) if l.starts_with("host ") && n == host.name => state_line(&host),
                _ => l.to_string(),
            })
            .collect();
        fs::write(self.dir.join("state"), lines.join("\n") + "\n").map_err(io("write state"))?;
        wait_ready(&host, &self.dir)?;
        Ok(host)
    }

    /// Takes host `i`'s (0-based) link to the bridge down or up again: its
    /// veth's end on the bridge, as a pulled cable. The host keeps running;
    /// nothing reaches it, nor leaves it, while the link is down.
    ///
    /// ```no_run
    /// let tb = k8s_bootstrap_testbed::Testbed::up(2).unwrap();
    /// tb.set_link(1, false).unwrap();
    /// assert!(tb.hosts()[0].sh("ping -c1 -W1 10.77.0.12").is_err());
    /// tb.set_link(1, true).unwrap();
    /// ```
    pub fn set_link(&self, i: usize, up: bool) -> Result<()> {
        if i >= self.hosts.len() {
            return Err(Error::Invalid(format!("no host {i}: the testbed has {}", self.hosts.len())));
        }
        run(&["ip", "link", "set", &format!("kbtb-h{}-v", i + 1), if up { "up" } else { "down" }]).map(|_| ())
    }

    /// The hosts, in order (`kbtb1` = `10.77.0.11`, ...).
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The private key (ed25519, no passphrase) root's authorized_keys trusts on every host.
    pub fn client_key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }

    /// A known_hosts file with every host key of every host.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// One SSH connection per host of `spec` (by its address), as root with
    /// the testbed's key and strict checking against its known_hosts: what
    /// the end-to-end tests hand to an [`k8s_bootstrap_core::apply::Engine`].
    /// Panics naming the host when one cannot be reached (a test failure).
    ///
    /// ```no_run
    /// # async fn demo(tb: &k8s_bootstrap_testbed::Testbed, spec: &k8s_bootstrap_core::spec::ClusterSpec, pki: &k8s_bootstrap_core::pki::Issued) {
    /// let engine = k8s_bootstrap_core::apply::Engine::new(spec, pki, tb.transports(spec).await).unwrap();
    /// # }
    /// ```
    pub async fn transports(
        &self,
        spec: &k8s_bootstrap_core::spec::ClusterSpec,
    ) -> std::collections::BTreeMap<String, std::sync::Arc<dyn k8s_bootstrap_core::transport::Transport>> {
        self.ssh_transports(spec)
            .await
            .into_iter()
            .map(|(n, t)| (n, std::sync::Arc::new(t) as std::sync::Arc<dyn k8s_bootstrap_core::transport::Transport>))
            .collect()
    }

    /// [`Self::transports`] as `SshTransport`s, for their counters
    /// (`SshTransport::stats`): clones share them.
    ///
    /// ```no_run
    /// # async fn demo(tb: &k8s_bootstrap_testbed::Testbed, spec: &k8s_bootstrap_core::spec::ClusterSpec) {
    /// let hosts = tb.ssh_transports(spec).await;
    /// assert!(hosts.values().all(|t| t.stats().connections == 1));
    /// # }
    /// ```
    pub async fn ssh_transports(
        &self,
        spec: &k8s_bootstrap_core::spec::ClusterSpec,
    ) -> std::collections::BTreeMap<String, k8s_bootstrap_core::transport::SshTransport> {
        use k8s_bootstrap_core::transport::{SshConfig, SshTransport};
        let mut out = std::collections::BTreeMap::new();
        for h in &spec.hosts {
            let cfg = SshConfig::new(h.address.to_string())
                .user("root")
                .identity_file(self.client_key())
                .known_hosts(self.known_hosts())
                .use_agent(false)
                .connect_timeout(Duration::from_secs(10));
            let t = SshTransport::connect(cfg).await.unwrap_or_else(|e| panic!("{}: {e}", h.name));
            out.insert(h.name.clone(), t);
        }
        out
    }

    /// The state folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tears everything down now (also done on drop).
    pub fn down(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let r = teardown_dir(&self.dir);
        if let Ok(mut a) = ACTIVE.lock() {
            a.retain(|d| d != &self.dir);
        }
        r
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("k8s-bootstrap-testbed: teardown failed: {e}");
        }
    }
}

/// A host's line in the state file (what [`parse_hosts`] reads back).
fn state_line(h: &Host) -> String {
    format!("host {} {} {} {} {} {}", h.name, h.ip, h.netns, h.pid, h.starttime, h.root.display())
}

/// Waits for a host's starting process on a thread of its own: the
/// `unshare` process exits when the host's systemd is killed.
fn reap(child: std::process::Child) {
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
}

/// The PID of the only child of `pid` (systemd, PID 1 of the new namespace).
fn child_of(pid: u32, name: &str) -> Result<u32> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        // setsid -> ip netns exec -> unshare all exec in place; unshare forks the init
        if let Some(c) = children(pid).first() {
            return Ok(*c);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(Error::Boot {
        host: name.into(),
        detail: format!("no init process under PID {pid}"),
    })
}

/// Children of `pid`, found by scanning the parent PID of every process.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

fn wait_ready(h: &Host, dir: &Path) -> Result<()> {
    let t = Instant::now();
    let mut last = String::new();
    while t.elapsed() < Duration::from_secs(60) {
        if starttime(h.pid) != Some(h.starttime) {
            break;
        }
        if let Ok(out) = h.exec(&["systemctl", "is-system-running"]) {
            last = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let up = last == "running" || last == "degraded";
            if up && TcpStream::connect_timeout(&h.addr(), Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Error::Boot {
        host: h.name.clone(),
        detail: format!("state {last:?} after {:?}; boot log: {}", t.elapsed(), boot_log(dir, &h.name)),
    })
}

/// What a host's init and systemd printed while booting (for errors).
fn boot_log(dir: &Path, host: &str) -> String {
    fs::read_to_string(dir.join(host).join("boot.log")).unwrap_or_default().trim().to_string()
}
