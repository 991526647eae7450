//! `plan`, `apply`, `status`, `reset`: the spec acted on over SSH.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use k8s_bootstrap_core::apply::{self, ApplyOptions, Cancel, ConnectOptions, Engine, OpenOptions, Report};
use k8s_bootstrap_core::spec::{ClusterSpec, Problem};

use crate::init::load_spec;
use crate::progress::Progress;
use crate::{Global, OutputFormat, output, style};

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
    #[arg(long, default_value_t = ConnectOptions::DEFAULT_CONNECT_TIMEOUT.as_secs())]
    pub connect_timeout: u64,
}

/// Options of plan.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Save the plan (JSON) for `apply FILE`, which runs exactly it or refuses when a host changed since. The PKI folder is written (as by apply), so that the plan's certificates are the ones applied.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Options of apply.
#[derive(Args, Debug, Clone)]
pub struct ApplyArgs {
    /// A plan saved by `plan --out FILE`: run exactly it (its --only and --phase), or refuse, naming the host and the fact that changed since.
    #[arg(value_name = "PLAN")]
    pub plan: Option<PathBuf>,
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
    #[arg(long, default_value_t = ApplyOptions::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Only these hosts (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Stop after this stage (host-prep, files, install, etcd, flannel-config, flanneld, docker).
    #[arg(long)]
    pub phase: Option<String>,
    /// Break a stale cluster lock on the hosts (left by a run that is gone: not refreshed for 60 s); a live one is still refused.
    #[arg(long)]
    pub break_lock: bool,
    /// Do not refuse on this preflight check's findings (repeatable; they are still shown): no-systemd, masked-unit, port-taken, foreign-etcd, foreign-data-dir, disk-space, clock-skew, kernel-module.
    #[arg(long, value_name = "CHECK")]
    pub waive: Vec<String>,
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
    /// Break a stale cluster lock on the hosts (left by a run that is gone: not refreshed for 60 s); a live one is still refused.
    #[arg(long)]
    pub break_lock: bool,
}

/// A problem of a value the core checked, named by the flag it came from
/// (`only` -> `--only`).
pub fn flag(mut p: Problem) -> anyhow::Error {
    p.path = format!("--{}", p.path.replace('_', "-"));
    p.into()
}

/// Options limited by `--only` / `--phase` (checked by the core).
fn limited(spec: &ClusterSpec, base: ApplyOptions, only: &[String], phase: Option<&str>) -> Result<ApplyOptions> {
    base.limit(spec, (!only.is_empty()).then_some(only), phase).map_err(flag)
}

/// Apply options from the flags.
pub fn run_options(spec: &ClusterSpec, r: &RunArgs) -> Result<ApplyOptions> {
    let base = ApplyOptions { break_lock: r.break_lock, ..ApplyOptions::default() }
        .with_concurrency(usize::from(r.concurrency))
        .and_then(|o| o.waiving(&r.waive))
        .map_err(flag)?;
    limited(spec, base, &r.only, r.phase.as_deref())
}

/// Where the engine and the `certs` commands find the PKI folder: `--pki-dir`, or `pki/` beside the spec.
pub fn open_options(g: &Global) -> OpenOptions {
    match &g.pki_dir {
        Some(d) => OpenOptions::new(d),
        None => OpenOptions::beside_spec(&g.spec),
    }
}

/// What `apply::open` needs from the flags: the PKI folder (written unless
/// `dry_run`) and how to reach the hosts.
pub fn connect_options(g: &Global, c: &Conn, dry_run: bool) -> Result<OpenOptions> {
    let mut opts = open_options(g);
    opts.dry_run = dry_run;
    let connect = ConnectOptions {
        known_hosts: c.known_hosts.clone(),
        accept_new_host_keys: c.accept_new_host_keys,
        connect_timeout: None,
        ssh_config: g.ssh_config.clone(),
    };
    // u64 seconds as f64: exact up to 2^53 s.
    opts.connect = connect.connect_timeout_secs(c.connect_timeout as f64).map_err(flag)?;
    Ok(opts)
}

/// Prints warnings for people on stderr (not with `-q`).
pub fn warn_all(g: &Global, warnings: &[String]) {
    if !g.quiet {
        for w in warnings {
            eprintln!("{} {w}", style::warning_label());
        }
    }
}

/// Live progress of these hosts, on text output without `-q`; with
/// `--output json`, as lines on stderr when asked for with `-v`.
pub fn progress(g: &Global, hosts: Vec<String>) -> Option<Arc<Progress>> {
    (!g.quiet && (g.output == OutputFormat::Text || g.verbose > 0)).then(|| Arc::new(Progress::new(hosts, g.verbose > 0)))
}

/// Opens the engine: PKI folder (written unless `dry_run`), releases, SSH connections.
pub async fn engine(g: &Global, c: &Conn, spec: &ClusterSpec, dry_run: bool) -> Result<(Engine, Option<Arc<Progress>>)> {
    let opened = apply::open(spec, &connect_options(g, c, dry_run)?).await?;
    warn_all(g, &opened.warnings);
    let progress = progress(g, spec.hosts.iter().map(|h| h.name.clone()).collect());
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

/// Clears the live progress, if any.
pub fn finish(p: &Option<Arc<Progress>>) {
    if let Some(p) = p {
        p.finish();
    }
}

/// `k8s-bootstrap plan`.
pub async fn plan(g: &Global, a: PlanArgs) -> Result<ExitCode> {
    let (spec, _) = load_spec(g)?;
    let (engine, p) = engine(g, &a.conn, &spec, a.out.is_none()).await?;
    let (report, saved) = engine.plan_saved(&ApplyOptions::default()).await;
    finish(&p);
    if let Some(out) = &a.out {
        let json = serde_json::to_vec_pretty(&saved)?;
        std::fs::write(out, json).with_context(|| format!("writing the plan to {}", out.display()))?;
    }
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
    let report = match &a.plan {
        None => apply_spec(g, &a.conn, &spec, &a.run, a.dry_run).await?,
        Some(file) => {
            let text = std::fs::read(file).with_context(|| format!("reading the plan {}", file.display()))?;
            let saved: apply::SavedPlan = serde_json::from_slice(&text).with_context(|| format!("{}: not a plan saved by `plan --out`", file.display()))?;
            let opts = run_options(&spec, &a.run)?;
            let (engine, p) = engine(g, &a.conn, &spec, false).await?;
            on_ctrl_c(opts.cancel.clone());
            let report = engine.apply_saved(&saved, &opts).await;
            finish(&p);
            report
        }
    };
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
    let opts = limited(&spec, ApplyOptions { break_lock: r.break_lock, ..ApplyOptions::default() }, &r.only, None)?;
    let (engine, p) = engine(g, &r.conn, &spec, true).await?;
    on_ctrl_c(opts.cancel.clone());
    let report = engine.reset(&opts, r.purge).await;
    finish(&p);
    output::report(&report, g.output)
}
