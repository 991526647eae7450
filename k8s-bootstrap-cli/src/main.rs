//! `k8s-bootstrap`: the command line over k8s-bootstrap-core. It turns flags
//! into core types, calls the core and prints what it returns; it has no
//! logic of its own.
//!
//! Exit codes: 0 ok, 1 failed (a host or a gate failed), 2 invalid input or usage.

mod apply;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Bring up the foundations of a Kubernetes cluster (PKI, etcd, flannel, docker) on your own hosts.
#[derive(Parser, Debug)]
#[command(name = "k8s-bootstrap", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Show what apply would change on every host (diffs, restarts), changing nothing.
    Plan(apply::Common),
    /// Bring every host to the spec; a second run changes nothing.
    Apply(apply::ApplyArgs),
    /// Show etcd health and members, flannel's config and unit states.
    Status(apply::Common),
    /// Stop and remove what apply installed (etcd's data only with --purge).
    Reset(apply::ResetArgs),
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

/// Options every command shares.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The cluster spec (YAML).
    #[arg(long, env = "K8S_BOOTSTRAP_SPEC", default_value = "cluster.yaml")]
    pub spec: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Cmd::Plan(c) => apply::plan(c).await,
            Cmd::Apply(a) => apply::apply(a).await,
            Cmd::Status(c) => apply::status(c).await,
            Cmd::Reset(r) => apply::reset(r).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(e.downcast_ref::<apply::Invalid>().map_or(1, |_| 2))
        }
    }
}
