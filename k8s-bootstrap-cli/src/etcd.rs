//! `etcd add-member | remove-member | snapshot`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use k8s_bootstrap_core::apply;
use k8s_bootstrap_core::spec::{HostArg, MemberAction, MemberChange};
use k8s_bootstrap_core::transport::LocalTransport;

use crate::cluster::{self, Conn, RunArgs};
use crate::init::{load_spec, write_text};
use crate::{Global, OutputFormat, output};

/// `etcd` subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum EtcdCmd {
    /// Add a member (a new host, or a node of the spec gaining the etcd role): write it into the spec (comments kept), then apply (it joins the running cluster).
    AddMember {
        /// NAME=ADDR, or NAME=ADDR:etcd+node to make it a node too (default: etcd only).
        #[arg(value_name = "NAME=ADDR[:ROLES]")]
        member: HostArg,
        #[command(flatten)]
        then: Then,
    },
    /// Remove a member: drop its etcd role from the spec, then apply (member remove, its data wiped).
    RemoveMember {
        /// The member's host name.
        name: String,
        #[command(flatten)]
        then: Then,
    },
    /// Take an etcd snapshot over TLS on a member and fetch it here (mode 0600).
    Snapshot {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// Rebuild the whole etcd cluster from a snapshot (disaster recovery): every member stopped, its data moved aside, restored with a new cluster token, started together, health-checked.
    Restore {
        /// The snapshot file (from `etcd snapshot`).
        #[arg(long = "from", value_name = "FILE")]
        from: PathBuf,
        /// Break a stale cluster lock on the hosts (left by a run that is gone: not refreshed for 60 s); a live one is still refused.
        #[arg(long)]
        break_lock: bool,
        #[command(flatten)]
        conn: Conn,
    },
}

/// What add-member and remove-member do after editing the spec.
#[derive(Args, Debug, Clone)]
pub struct Then {
    /// Only edit the spec; apply later.
    #[arg(long)]
    no_apply: bool,
    #[command(flatten)]
    conn: Conn,
    #[command(flatten)]
    run: RunArgs,
}

/// Writes a membership change into the spec file and, unless `--no-apply`,
/// brings the hosts to it (`apply::change_member`: apply, then the cleanup
/// of a host that left the spec).
async fn change(g: &Global, change: MemberChange, then: Then) -> Result<ExitCode> {
    let run = cluster::run_options(&change.after, &then.run)?;
    let opts = cluster::connect_options(g, &then.conn, false)?;
    write_text(&g.spec, &change.yaml).await?;
    let done = match change.action {
        MemberAction::Added => {
            let h = change.after.hosts.iter().find(|h| h.name == change.name).map(|h| h.address.to_string()).unwrap_or_default();
            format!("added {} ({h}) as an etcd member", change.name)
        }
        MemberAction::RoleDropped => format!("{}: dropped its etcd role (it stays a node)", change.name),
        MemberAction::HostRemoved => format!("{}: removed the host", change.name),
    };
    eprintln!("{}: {done}", g.spec.display());
    if then.no_apply {
        return Ok(ExitCode::SUCCESS);
    }
    let mut hosts: Vec<String> = change.before.hosts.iter().map(|h| h.name.clone()).collect();
    hosts.extend(change.after.hosts.iter().map(|h| h.name.clone()).filter(|n| !hosts.contains(n)).collect::<Vec<_>>());
    let progress = cluster::progress(g, hosts);
    cluster::on_ctrl_c(run.cancel.clone());
    let reports = apply::change_member(&change, &opts, &run, progress.clone().map(|p| p as std::sync::Arc<dyn apply::Progress>)).await;
    cluster::finish(&progress);
    let reports = reports?;
    cluster::warn_all(g, &reports.warnings);
    match &reports.cleanup {
        Some(cleanup) => output::report_pair(("apply", &reports.apply), ("cleanup", cleanup), g.output),
        None => output::report(&reports.apply, g.output),
    }
}

/// Runs an `etcd` subcommand.
pub async fn run(g: &Global, cmd: EtcdCmd) -> Result<ExitCode> {
    match cmd {
        EtcdCmd::AddMember { member, then } => {
            let (_, yaml) = load_spec(g)?;
            change(g, MemberChange::add(&yaml, &member).with_context(|| g.spec.display().to_string())?, then).await
        }
        EtcdCmd::RemoveMember { name, then } => {
            let (_, yaml) = load_spec(g)?;
            change(g, MemberChange::remove(&yaml, &name).with_context(|| g.spec.display().to_string())?, then).await
        }
        EtcdCmd::Snapshot { out, conn } => {
            let (spec, _) = load_spec(g)?;
            let (engine, p) = cluster::engine(g, &conn, &spec, true).await?;
            let out = std::path::absolute(&out).with_context(|| out.display().to_string())?;
            let info = engine.snapshot(&LocalTransport::new(), &out.to_string_lossy()).await;
            cluster::finish(&p);
            let info = info?;
            match g.output {
                OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&info)?),
                OutputFormat::Text => outln!(
                    "snapshot of {} written to {}: {} bytes, revision {}, {} keys, sha256 {}",
                    info.member, info.path, info.bytes, info.revision, info.total_keys, info.sha256
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        EtcdCmd::Restore { from, break_lock, conn } => {
            let (spec, _) = load_spec(g)?;
            let (engine, p) = cluster::engine(g, &conn, &spec, true).await?;
            let from = std::path::absolute(&from).with_context(|| from.display().to_string())?;
            let opts = apply::ApplyOptions { break_lock, ..apply::ApplyOptions::default() };
            let r = engine.restore(&from.to_string_lossy(), &opts).await;
            cluster::finish(&p);
            let r = r?;
            match g.output {
                OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&r)?),
                OutputFormat::Text => {
                    outln!(
                        "restored {} from {}: revision {}, {} keys, cluster token {} ({:.1}s)",
                        r.members.join(", "), r.snapshot, r.revision, r.total_keys, r.token, r.elapsed_ms as f64 / 1000.0
                    );
                    for (host, dir) in &r.kept {
                        outln!("  {host}: the data before the restore is in {dir} (remove it once the cluster is trusted)");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
