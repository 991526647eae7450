//! `k8s-bootstrap`: the command line over k8s-bootstrap-core. It turns flags
//! into core types, calls the core and prints what it returns; it has no
//! logic of its own.
//!
//! Exit codes: 0 ok, 1 failed (a host, a gate or a check failed), 2 invalid
//! input or usage.

/// `println!` that ends the program quietly when stdout is closed early
/// (`k8s-bootstrap certs check-expiration | head`), as a SIGPIPE would,
/// instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
        }
    }};
}

mod adopt;
mod certs;
mod cluster;
mod etcd;
mod init;
mod output;
mod progress;
mod style;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// Bring up the foundations of a Kubernetes cluster (PKI, etcd, flannel,
/// docker) on your own Linux hosts, over SSH, idempotently.
#[derive(Parser, Debug)]
#[command(name = "k8s-bootstrap", version, about, propagate_version = true)]
#[command(after_help = "A first run: k8s-bootstrap init --host etcd01=192.168.1.30 --host etcd02=192.168.1.31 --host etcd03=192.168.1.32\n\
                        then: validate, certs generate, plan, apply, status.")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write a commented spec skeleton (./cluster.yaml, or --out FILE).
    Init(init::InitArgs),
    /// Read a running cluster built by hand (the tutorial's) into a spec, and its CA into the PKI folder; changes no host.
    Adopt(adopt::AdoptArgs),
    /// Check a spec; print every problem at once (exit 2 when invalid).
    Validate,
    /// The cluster's certificates in the PKI folder.
    Certs {
        #[command(subcommand)]
        cmd: certs::CertsCmd,
    },
    /// Write every file of every host into a folder (OUT/HOST/PATH), touching no host.
    Render(init::RenderArgs),
    /// Show what apply would change on every host (diffs, restarts), changing nothing; --out saves it for `apply FILE`.
    Plan(cluster::PlanArgs),
    /// Bring every host to the spec; a second run changes nothing.
    Apply(cluster::ApplyArgs),
    /// Show etcd health and members, flannel's config and unit states.
    Status(cluster::Conn),
    /// Stop and remove what apply installed (etcd's data only with --purge).
    Reset(cluster::ResetArgs),
    /// etcd membership and snapshots.
    Etcd {
        #[command(subcommand)]
        cmd: etcd::EtcdCmd,
    },
    /// Print a shell completion script (bash, zsh, fish, ...).
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print this program's version and the etcd / flannel versions it knows.
    Version,
}

/// How reports are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The cluster spec (YAML).
    #[arg(long, global = true, env = "K8S_BOOTSTRAP_SPEC", default_value = "cluster.yaml")]
    pub spec: PathBuf,
    /// Output format of reports.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Folder of the cluster's certificates on this machine (default: pki/ beside the spec).
    #[arg(long, global = true)]
    pub pki_dir: Option<PathBuf>,
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    /// With `--output json`, also the run's progress lines on stderr.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and the final report (no progress).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// OpenSSH client config file, like `ssh -F` (default: ~/.ssh/config, /etc/ssh/ssh_config).
    #[arg(short = 'F', long, global = true, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

/// Invalid usage of the command line itself (the core classifies its own
/// errors, see [`exit_code`]): exit code 2.
#[derive(Debug)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Invalid {}

fn init_tracing(g: &Global) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => EnvFilter::new(match (g.quiet, g.verbose) {
            (true, _) => "error",
            (_, 0) => "warn",
            (_, 1) => "warn,k8s_bootstrap=info,k8s_bootstrap_core=info",
            (_, 2) => "warn,k8s_bootstrap=debug,k8s_bootstrap_core=debug",
            _ => "info,k8s_bootstrap=trace,k8s_bootstrap_core=trace",
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(style::stderr_color())
        .with_target(false)
        .try_init();
}

/// 2 for invalid input (a usage error, or a core error of kind
/// [`ErrorKind::Invalid`](k8s_bootstrap_core::error::ErrorKind::Invalid)), else 1.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    use k8s_bootstrap_core::error::{ErrorKind, kind};
    let invalid = e.chain().any(|c| c.is::<Invalid>()) || e.chain().find_map(kind) == Some(ErrorKind::Invalid);
    ExitCode::from(if invalid { 2 } else { 1 })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.global);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let g = cli.global;
    let result = rt.block_on(async {
        match cli.command {
            Cmd::Init(a) => init::init(&g, a).await,
            Cmd::Adopt(a) => adopt::adopt(&g, a).await,
            Cmd::Validate => init::validate(&g),
            Cmd::Certs { cmd } => certs::run(&g, cmd).await,
            Cmd::Render(a) => init::render(&g, a).await,
            Cmd::Plan(c) => cluster::plan(&g, c).await,
            Cmd::Apply(a) => cluster::apply(&g, a).await,
            Cmd::Status(c) => cluster::status(&g, c).await,
            Cmd::Reset(r) => cluster::reset(&g, r).await,
            Cmd::Etcd { cmd } => etcd::run(&g, cmd).await,
            Cmd::Completion { shell } => {
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut Cli::command(), "k8s-bootstrap", &mut script);
                match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::Error::from(e).context("writing the script")),
                    _ => Ok(ExitCode::SUCCESS),
                }
            }
            Cmd::Version => output::version(g.output),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{} {e:#}", style::error_label());
            exit_code(&e)
        }
    }
}
