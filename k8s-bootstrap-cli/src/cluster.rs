//! `plan`, `apply`, `status`, `reset`: the spec acted on over SSH.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use k8s_bootstrap_core::apply::{self, ApplyOptions, Cancel, ConnectOptions, Engine, OpenError, OpenOptions, Report};
use k8s_bootstrap_core::spec::ClusterSpec;

use crate::init::load_spec;
use crate::progress::Progress;
use crate::{Global, Invalid, OutputFormat, output, style};

/// How to reach the hosts.
#[derive(Args, Debug, Clone)]
pub struct Conn {
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
    pub conn: Conn,
    #[command(flatten)]
    pub run: RunArgs,
    /// Show what would change (same as `plan`), change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of a run that changes hosts.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Hosts acted on at once within a stage.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
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
    pub conn: Conn,
    /// Also remove etcd's data directory and flannel's runtime files.
    #[arg(long)]
    pub purge: bool,
    /// Only these hosts (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

/// Options limited by `--only` / `--phase` (checked by the core).
fn limited(spec: &ClusterSpec, base: ApplyOptions, only: &[String], phase: Option<&str>) -> Result<ApplyOptions> {
    base.limit(spec, (!only.is_empty()).then_some(only), phase).map_err(|p| Invalid(format!("--{}: {}", p.path, p.rule)).into())
}

/// Apply options from the flags.
pub fn run_options(spec: &ClusterSpec, r: &RunArgs) -> Result<ApplyOptions> {
    let base = ApplyOptions { concurrency: usize::from(r.concurrency), ..ApplyOptions::default() };
    limited(spec, base, &r.only, r.phase.as_deref())
}

/// Where the engine and the `certs` commands find the PKI folder: `--pki-dir`, or `pki/` beside the spec.
pub fn open_options(g: &Global) -> OpenOptions {
    match &g.pki_dir {
        Some(d) => OpenOptions::new(d),
        None => OpenOptions::beside_spec(&g.spec),
    }
}

/// Opens the engine: PKI folder (written unless `dry_run`), releases, SSH connections.
pub async fn engine(g: &Global, c: &Conn, spec: &ClusterSpec, dry_run: bool) -> Result<(Engine, Option<Arc<Progress>>)> {
    let mut opts = open_options(g);
    opts.dry_run = dry_run;
    opts.connect = ConnectOptions {
        known_hosts: c.known_hosts.clone(),
        accept_new_host_keys: c.accept_new_host_keys,
        connect_timeout: Some(Duration::from_secs(c.connect_timeout)),
        ssh_config: g.ssh_config.clone(),
    };
    let opened = apply::open(spec, &opts).await.map_err(|e| match e {
        OpenError::Engine(e) => anyhow::Error::from(Invalid(e.to_string())),
        other => other.into(),
    })?;
    if !g.quiet {
        for w in &opened.warnings {
            eprintln!("{} {w}", style::warning_label());
        }
    }
    let progress = (!g.quiet && g.output == OutputFormat::Text)
        .then(|| Arc::new(Progress::new(spec.hosts.iter().map(|h| h.name.clone()).collect(), g.verbose > 0)));
    let engine = match &progress {
        Some(p) => opened.engine.with_progress(p.clone()),
        None => opened.engine,
    };
    Ok((engine, progress))
}

/// First Ctrl-C: ask the run to stop at the next step; second: exit now.
pub fn on_ctrl_c(cancel: Cancel) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        cancel.cancel();
        eprintln!("\ninterrupted: letting the steps in flight finish (no new step starts); Ctrl-C again to quit at once");
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted twice: quitting; files on hosts are whole (atomic writes); run apply again to converge");
            std::process::exit(130);
        }
    });
}

fn finish(p: &Option<Arc<Progress>>) {
    if let Some(p) = p {
        p.finish();
    }
}

/// `k8s-bootstrap plan`.
pub async fn plan(g: &Global, c: Conn) -> Result<ExitCode> {
    let (spec, _) = load_spec(g)?;
    let (engine, p) = engine(g, &c, &spec, true).await?;
    let report = engine.plan(&ApplyOptions::default()).await;
    finish(&p);
    output::report(&report, g.output)
}

/// Opens the engine for `spec` and applies it (or plans, with `dry_run`)
/// with the run flags, Ctrl-C wired; the live progress is cleared after.
pub async fn apply_spec(g: &Global, c: &Conn, spec: &ClusterSpec, r: &RunArgs, dry_run: bool) -> Result<Report> {
    let opts = run_options(spec, r)?;
    let (engine, p) = engine(g, c, spec, dry_run).await?;
    on_ctrl_c(opts.cancel.clone());
    let report = if dry_run { engine.plan(&opts).await } else { engine.apply(&opts).await };
    finish(&p);
    Ok(report)
}

/// `k8s-bootstrap apply`.
pub async fn apply(g: &Global, a: ApplyArgs) -> Result<ExitCode> {
    let (spec, _) = load_spec(g)?;
    let report = apply_spec(g, &a.conn, &spec, &a.run, a.dry_run).await?;
    output::report(&report, g.output)
}

/// `k8s-bootstrap status`.
pub async fn status(g: &Global, c: Conn) -> Result<ExitCode> {
    let (spec, _) = load_spec(g)?;
    let (engine, p) = engine(g, &c, &spec, true).await?;
    let status = engine.status().await;
    finish(&p);
    output::status(&status, g.output)
}

/// `k8s-bootstrap reset`.
pub async fn reset(g: &Global, r: ResetArgs) -> Result<ExitCode> {
    let (spec, _) = load_spec(g)?;
    let opts = limited(&spec, ApplyOptions::default(), &r.only, None)?;
    let (engine, p) = engine(g, &r.conn, &spec, true).await?;
    on_ctrl_c(opts.cancel.clone());
    let report = engine.reset(&opts, r.purge).await;
    finish(&p);
    output::report(&report, g.output)
}
