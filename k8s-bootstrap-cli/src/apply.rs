//! `plan`, `apply`, `status`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use k8s_bootstrap_core::apply::{self, ApplyOptions, ConnectOptions, Engine, Stage};
use k8s_bootstrap_core::spec::ClusterSpec;
use k8s_bootstrap_core::transport::LocalTransport;

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

fn load(c: &Common) -> Result<(ClusterSpec, String)> {
    let path = &c.global.spec;
    let yaml = std::fs::read_to_string(path).map_err(|e| Invalid(format!("cannot read spec {}: {e}", path.display())))?;
    let (spec, warnings) = ClusterSpec::load(&yaml).map_err(|e| Invalid(format!("{}: {e}", path.display())))?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let dir = match &c.pki_dir {
        Some(d) => d.clone(),
        None => path.parent().map(|p| p.join("pki")).unwrap_or_else(|| "pki".into()),
    };
    let dir = std::path::absolute(&dir).with_context(|| format!("pki dir {}", dir.display()))?;
    Ok((spec, dir.to_string_lossy().into_owned()))
}

async fn engine(c: &Common, spec: &ClusterSpec, pki_dir: &str, dry_run: bool) -> Result<Engine> {
    let pki = apply::sync_pki_dir(spec, &LocalTransport::new(), pki_dir, dry_run)
        .await
        .with_context(|| format!("certificates in {pki_dir}"))?;
    for w in &pki.warnings {
        eprintln!("warning: {w}");
    }
    let opts = ConnectOptions {
        known_hosts: c.known_hosts.clone(),
        accept_new_host_keys: c.accept_new_host_keys,
        connect_timeout: Some(Duration::from_secs(c.connect_timeout)),
    };
    let cache = std::path::Path::new(pki_dir).parent().unwrap_or(std::path::Path::new(".")).join(".k8s-bootstrap-cache");
    let releases = apply::fetch_releases(spec, &LocalTransport::new(), &cache.to_string_lossy()).await?;
    let hosts = apply::connect(spec, &opts).await;
    let progress: Arc<dyn apply::Progress> = match c.global.output {
        OutputFormat::Text => Arc::new(output::Lines::default()),
        OutputFormat::Json => Arc::new(apply::NoProgress),
    };
    Ok(Engine::new(spec, &pki, hosts).map_err(|e| Invalid(e.to_string()))?.with_releases(&releases).with_progress(progress))
}

/// `k8s-bootstrap plan`.
pub async fn plan(c: Common) -> Result<ExitCode> {
    let (spec, dir) = load(&c)?;
    let report = engine(&c, &spec, &dir, true).await?.plan(&ApplyOptions::default()).await;
    output::report(&report, c.global.output)
}

/// `k8s-bootstrap apply`.
pub async fn apply(a: ApplyArgs) -> Result<ExitCode> {
    let (spec, dir) = load(&a.common)?;
    let until = a.phase.as_deref().map(str::parse::<Stage>).transpose().map_err(Invalid)?;
    let opts = ApplyOptions {
        concurrency: a.concurrency,
        only: only(&spec, &a.only)?,
        until,
        ..ApplyOptions::default()
    };
    let engine = engine(&a.common, &spec, &dir, a.dry_run).await?;
    let report = if a.dry_run { engine.plan(&opts).await } else { engine.apply(&opts).await };
    output::report(&report, a.common.global.output)
}

/// `k8s-bootstrap status`.
pub async fn status(c: Common) -> Result<ExitCode> {
    let (spec, dir) = load(&c)?;
    let status = engine(&c, &spec, &dir, true).await?.status().await;
    output::status(&status, c.global.output)
}

/// `k8s-bootstrap reset`.
pub async fn reset(r: ResetArgs) -> Result<ExitCode> {
    let (spec, dir) = load(&r.common)?;
    let opts = ApplyOptions { only: only(&spec, &r.only)?, ..ApplyOptions::default() };
    let report = engine(&r.common, &spec, &dir, true).await?.reset(&opts, r.purge).await;
    output::report(&report, r.common.global.output)
}
