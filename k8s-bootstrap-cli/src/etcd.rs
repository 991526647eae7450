//! `etcd add-member | remove-member | snapshot`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use k8s_bootstrap_core::apply::ApplyOptions;
use k8s_bootstrap_core::spec::{MemberRemoval, Role, Skeleton, add_etcd_member, remove_etcd_member};
use k8s_bootstrap_core::transport::LocalTransport;

use crate::cluster::{self, Conn, RunArgs};
use crate::init::{load_spec, write_text};
use crate::{Global, Invalid, OutputFormat, output};

/// `etcd` subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum EtcdCmd {
    /// Add a member (a new host, or a node of the spec gaining the etcd role): write it into the spec (comments kept), then apply (it joins the running cluster).
    AddMember {
        /// NAME=ADDR, or NAME=ADDR:etcd+node to make it a node too (default: etcd only).
        #[arg(value_name = "NAME=ADDR[:ROLES]")]
        member: String,
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

/// Runs an `etcd` subcommand.
pub async fn run(g: &Global, cmd: EtcdCmd) -> Result<ExitCode> {
    match cmd {
        EtcdCmd::AddMember { member, then: Then { no_apply, conn, run } } => {
            let (_, yaml) = load_spec(g)?;
            let mut host = Skeleton::parse_host(&member).map_err(|p| Invalid(p.to_string()))?;
            if !member.contains(':') {
                host.roles = vec![Role::Etcd];
            }
            let (text, spec) = add_etcd_member(&yaml, &host).map_err(|e| Invalid(format!("{}: {e}", g.spec.display())))?;
            write_text(&g.spec, &text).await?;
            eprintln!("{}: added {} ({}) as an etcd member", g.spec.display(), host.name, host.address);
            if no_apply {
                return Ok(ExitCode::SUCCESS);
            }
            let report = cluster::apply_spec(g, &conn, &spec, &run, false).await?;
            output::report(&report, g.output)
        }
        EtcdCmd::RemoveMember { name, then: Then { no_apply, conn, run } } => {
            let (old_spec, yaml) = load_spec(g)?;
            let (text, spec, how) = remove_etcd_member(&yaml, &name).map_err(|e| Invalid(format!("{}: {e}", g.spec.display())))?;
            write_text(&g.spec, &text).await?;
            let what = match how {
                MemberRemoval::RoleDropped => "dropped its etcd role (it stays a node)",
                MemberRemoval::HostRemoved => "removed the host",
            };
            eprintln!("{}: {name}: {what}", g.spec.display());
            if no_apply {
                return Ok(ExitCode::SUCCESS);
            }
            let report = cluster::apply_spec(g, &conn, &spec, &run, false).await?;
            if how == MemberRemoval::HostRemoved && report.ok() {
                // The host is no longer in the spec: clean it with the spec it was part of.
                let (old, p) = cluster::engine(g, &conn, &old_spec, true).await?;
                let only = ApplyOptions { only: Some([name.clone()].into()), ..ApplyOptions::default() };
                let cleaned = old.reset(&only, true).await;
                if let Some(p) = p {
                    p.finish();
                }
                return output::report_pair(("apply", &report), ("cleanup", &cleaned), g.output);
            }
            output::report(&report, g.output)
        }
        EtcdCmd::Snapshot { out, conn } => {
            let (spec, _) = load_spec(g)?;
            let (engine, p) = cluster::engine(g, &conn, &spec, true).await?;
            let out = std::path::absolute(&out).with_context(|| out.display().to_string())?;
            let info = engine.snapshot(&LocalTransport::new(), &out.to_string_lossy()).await;
            if let Some(p) = p {
                p.finish();
            }
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
    }
}
