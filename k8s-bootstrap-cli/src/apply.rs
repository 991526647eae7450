//! `plan`, `apply`, `status`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use k8s_bootstrap_core::apply::{self, ApplyOptions, ConnectOptions, Engine, OpenError, OpenOptions, Stage};
use k8s_bootstrap_core::spec::ClusterSpec;

use crate::output;
use crate::{Global, OutputFormat};

/// Invalid input or usage: exit code 2.
#[derive(Debug)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Invalid {}

/// Options of plan and status (and apply).
#[derive(Args, Debug, Clone)]
pub struct Common {
    #[command(flatten)]
    pub global: Global,
    /// Folder of the cluster's certificates on this machine (default: `pki` beside the spec).
    #[arg(long)]
    pub pki_dir: Option<PathBuf>,
    /// known_hosts file (default ~/.ssh/known_hosts).
    #[arg(long)]
    pub known_hosts: Option<PathBuf>,
    /// Trust unknown host keys on first use and record them (changed keys are still refused).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// SSH connect timeout in seconds.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
}

/// Options of apply.
#[derive(Args, Debug, Clone)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub common: Common,
    /// Show what would change (same as `plan`), change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Hosts acted on at once within a stage.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Only these hosts (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Stop after this stage (host-prep, files, install, etcd, flannel-config, flanneld, docker).
    #[arg(long)]
    pub phase: Option<String>,
}

/// Options of reset.
#[derive(Args, Debug, Clone)]
pub struct ResetArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also remove etcd's data directory and flannel's runtime files.
    #[arg(long)]
    pub purge: bool,
    /// Only these hosts (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

fn only(spec: &ClusterSpec, hosts: &[String]) -> Result<Option<BTreeSet<String>>> {
    let known: BTreeSet<&str> = spec.hosts.iter().map(|h| h.name.as_str()).collect();
    if let Some(bad) = hosts.iter().find(|h| !known.contains(h.as_str())) {
        return Err(Invalid(format!("--only: no host {bad:?} in the spec")).into());
    }
    Ok((!hosts.is_empty()).then(|| hosts.iter().cloned().collect()))
}

fn load(c: &Common) -> Result<ClusterSpec> {
    let path = &c.global.spec;
    let yaml = std::fs::read_to_string(path).map_err(|e| Invalid(format!("cannot read spec {}: {e}", path.display())))?;
    let (spec, warnings) = ClusterSpec::load(&yaml).map_err(|e| Invalid(format!("{}: {e}", path.display())))?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(spec)
}

async fn engine(c: &Common, spec: &ClusterSpec, dry_run: bool) -> Result<Engine> {
    let mut opts = match &c.pki_dir {
        Some(d) => OpenOptions::new(d),
        None => OpenOptions::beside_spec(&c.global.spec),
    };
    opts.dry_run = dry_run;
    opts.connect = ConnectOptions {
        known_hosts: c.known_hosts.clone(),
        accept_new_host_keys: c.accept_new_host_keys,
        connect_timeout: Some(Duration::from_secs(c.connect_timeout)),
    };
    let opened = apply::open(spec, &opts).await.map_err(|e| match e {
        OpenError::Engine(e) => anyhow::Error::from(Invalid(e.to_string())),
        other => other.into(),
    })?;
    for w in &opened.warnings {
        eprintln!("warning: {w}");
    }
    let progress: Arc<dyn apply::Progress> = match c.global.output {
        OutputFormat::Text => Arc::new(output::Lines::default()),
        OutputFormat::Json => Arc::new(apply::NoProgress),
    };
    Ok(opened.engine.with_progress(progress))
}

/// `k8s-bootstrap plan`.
pub async fn plan(c: Common) -> Result<ExitCode> {
    let spec = load(&c)?;
    let report = engine(&c, &spec, true).await?.plan(&ApplyOptions::default()).await;
    output::report(&report, c.global.output)
}

/// `k8s-bootstrap apply`.
pub async fn apply(a: ApplyArgs) -> Result<ExitCode> {
    let spec = load(&a.common)?;
    let until = a.phase.as_deref().map(str::parse::<Stage>).transpose().map_err(Invalid)?;
    let opts = ApplyOptions {
        concurrency: a.concurrency,
        only: only(&spec, &a.only)?,
        until,
        ..ApplyOptions::default()
    };
    let engine = engine(&a.common, &spec, a.dry_run).await?;
    let report = if a.dry_run { engine.plan(&opts).await } else { engine.apply(&opts).await };
    output::report(&report, a.common.global.output)
}

/// `k8s-bootstrap status`.
pub async fn status(c: Common) -> Result<ExitCode> {
    let spec = load(&c)?;
    let status = engine(&c, &spec, true).await?.status().await;
    output::status(&status, c.global.output)
}

/// `k8s-bootstrap reset`.
pub async fn reset(r: ResetArgs) -> Result<ExitCode> {
    let spec = load(&r.common)?;
    let opts = ApplyOptions { only: only(&spec, &r.only)?, ..ApplyOptions::default() };
    let report = engine(&r.common, &spec, true).await?.reset(&opts, r.purge).await;
    output::report(&report, r.common.global.output)
}
