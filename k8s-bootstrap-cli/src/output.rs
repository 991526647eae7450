//! Printing reports: a table for people, or one JSON document.

use std::process::ExitCode;

use anyhow::Result;
use k8s_bootstrap_core::apply::{CertExpiry, CertState, ClusterStatus, Report};
use k8s_bootstrap_core::pki::{Change, Issued};
use k8s_bootstrap_core::spec::{ClusterSpec, Problem, Role, SpecError, Warning};
use serde_json::json;

use crate::{OutputFormat, style};

fn code(ok: bool) -> ExitCode {
    if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Prints a plan/apply/reset report; exit code 1 when something failed.
pub fn report(r: &Report, format: OutputFormat) -> Result<ExitCode> {
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(r)?),
        OutputFormat::Text => report_text(r),
    }
    Ok(code(r.ok()))
}

fn report_text(r: &Report) {
    if r.dry_run {
        for (host, h) in &r.hosts {
            for c in &h.changes {
                outln!("{host}: {} {}", c.stage, c.what);
                if let Some(d) = &c.diff {
                    for l in d.lines() {
                        outln!("    {l}");
                    }
                }
            }
        }
    }
    outln!("{:<16} {:>8} {:>10} {:>9}  RESULT", "HOST", "CHANGED", "UNCHANGED", "TIME");
    for (host, h) in &r.hosts {
        let ms: u64 = h.stage_ms.values().sum();
        let result = match &h.failed {
            Some(f) => format!("{} in {} at {} ({}): {}", style::bad("failed"), f.stage, f.step, f.kind.as_str(), f.error),
            None => style::good("ok"),
        };
        outln!("{host:<16} {:>8} {:>10} {:>8.1}s  {result}", h.changes.len(), h.unchanged, ms as f64 / 1000.0);
        if let Some(log) = h.failed.as_ref().and_then(|f| f.log.as_ref()) {
            for l in log.lines() {
                outln!("    | {l}");
            }
        }
        for n in &h.notes {
            outln!("    note: {n}");
        }
    }
    if let Some(a) = &r.aborted {
        outln!("{} {a}", style::bad("aborted:"));
    }
    let verb = if r.dry_run { "would change" } else { "changed" };
    outln!("{} {verb} in {:.1}s", r.change_count(), r.elapsed_ms as f64 / 1000.0);
    if let Some(hint) = next_step(r) {
        outln!("{hint}");
    }
}

/// What to do next, from the kinds of failure.
fn next_step(r: &Report) -> Option<String> {
    use k8s_bootstrap_core::apply::FailureKind as K;
    let kinds: Vec<K> = r.hosts.values().filter_map(|h| h.failed.as_ref().map(|f| f.kind)).collect();
    if kinds.contains(&K::Locked) {
        Some(format!("next: wait for the run named above to end; if it is gone (its lock not refreshed for {} s), run again with --break-lock", k8s_bootstrap_core::apply::STALE_AFTER.as_secs()))
    } else if kinds.contains(&K::HostKey) {
        Some("next: verify the host key out of band, then add it to known_hosts (or pass --known-hosts FILE / --accept-new-host-keys for new hosts)".into())
    } else if kinds.contains(&K::Auth) {
        Some("next: check hosts[].ssh.user and identity in the spec, or load the key into ssh-agent".into())
    } else if kinds.contains(&K::Connect) {
        Some("next: check that the hosts are up and sshd listens on hosts[].ssh.port; then run apply again".into())
    } else if !kinds.is_empty() || r.aborted.is_some() {
        Some("next: fix the cause shown above and run apply again; it continues where it stopped".into())
    } else {
        None
    }
}

/// Prints two reports of one command (`etcd remove-member`: the apply, then the removed host's cleanup).
pub fn report_pair(first: (&str, &Report), second: (&str, &Report), format: OutputFormat) -> Result<ExitCode> {
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&json!({ first.0: first.1, second.0: second.1 }))?),
        OutputFormat::Text => {
            for (name, r) in [first, second] {
                outln!("== {name}");
                report_text(r);
            }
        }
    }
    Ok(code(first.1.ok() && second.1.ok()))
}

/// Prints a status; exit code 1 when etcd is not healthy.
pub fn status(s: &ClusterStatus, format: OutputFormat) -> Result<ExitCode> {
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(s)?),
        OutputFormat::Text => {
            outln!("{:<16} {:<10} {:<14} {:<14} {:<14}", "HOST", "REACHABLE", "ETCD", "FLANNELD", "DOCKER");
            for (host, h) in &s.hosts {
                let u = |n: &str| h.units.get(n).cloned().unwrap_or_else(|| "-".into());
                outln!("{host:<16} {:<10} {:<14} {:<14} {:<14}", h.reachable, u("etcd"), u("flanneld"), u("docker"));
                if let Some(e) = &h.error {
                    outln!("    {e}");
                }
                if let Some(b) = &h.docker_bridge {
                    let verdict = if b.matches { style::good("matches flannel's subnet") } else { style::bad("DOES NOT match flannel's subnet") };
                    outln!("    docker0 {} {verdict} {}", b.docker0.as_deref().unwrap_or("-"), b.flannel_subnet.as_deref().unwrap_or("-"));
                }
            }
            for e in &s.etcd_endpoints {
                let version = e.server_version.as_deref().map(|v| format!(" (etcd {v})")).unwrap_or_default();
                outln!("etcd {} {}{version}", e.endpoint, if e.healthy { style::good("healthy") } else { style::bad("UNHEALTHY") });
            }
            outln!(
                "etcd members: {} ({})",
                s.etcd_members.join(", "),
                if s.etcd_members_match_spec { style::good("as in the spec") } else { style::bad("DIFFERENT from the spec") }
            );
            match &s.flannel_config {
                Some(c) => outln!("flannel config ({}): {c}", s.flannel_api),
                None => outln!("flannel config ({}): not found", s.flannel_api),
            }
            for p in &s.problems {
                outln!("{} {p}", style::bad("problem:"));
            }
        }
    }
    Ok(code(s.etcd_healthy))
}

fn problem_text(p: &Problem) -> String {
    let mut s = p.path.clone();
    if let Some((l, c)) = p.location {
        s.push_str(&format!(" (line {l}, column {c})"));
    }
    s.push_str(&format!("\n      value: {}\n      rule:  {}", p.value, p.rule));
    if let Some(f) = &p.fix {
        s.push_str(&format!("\n      fix:   {f}"));
    }
    s
}

/// Prints the result of `validate`.
pub fn validation(file: &str, result: &Result<(ClusterSpec, Vec<Warning>), SpecError>, format: OutputFormat) -> Result<()> {
    let problems: Vec<Problem> = result.as_ref().err().map(SpecError::problems).unwrap_or_default();
    let warnings: &[Warning] = result.as_ref().map(|(_, w)| w.as_slice()).unwrap_or(&[]);
    match format {
        OutputFormat::Json => {
            outln!("{}", serde_json::to_string_pretty(&json!({ "file": file, "valid": result.is_ok(), "problems": problems, "warnings": warnings }))?);
        }
        OutputFormat::Text => match result {
            Ok((spec, _)) => {
                let members = spec.hosts_with(Role::Etcd).count();
                let nodes = spec.hosts_with(Role::Node).count();
                outln!(
                    "{file}: {} ({} hosts: {members} etcd members, {nodes} nodes; etcd {}, flannel {})",
                    style::good("valid"),
                    spec.hosts.len(),
                    spec.versions.etcd,
                    spec.versions.flannel
                );
                for w in warnings {
                    outln!("  {} {}", style::warn("warning:"), problem_text(w));
                }
            }
            Err(_) => {
                outln!("{file}: {} problem(s):", problems.len());
                for p in &problems {
                    outln!("  - {}", problem_text(p));
                }
            }
        },
    }
    Ok(())
}

/// Prints what `certs generate` / `certs renew` did.
pub fn issued(i: &Issued, dir: &str, dry_run: bool, format: OutputFormat) -> Result<ExitCode> {
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&json!({ "dir": dir, "dry_run": dry_run, "actions": i.actions, "warnings": i.warnings }))?),
        OutputFormat::Text => {
            outln!("{:<22} {:<10} {:<22} REASON", "CERTIFICATE", "ACTION", "EXPIRES");
            for a in &i.actions {
                let (action, reason) = match &a.change {
                    Change::Kept => ("kept".to_string(), String::new()),
                    Change::Issued { reason } => (if dry_run { "would issue" } else { "issued" }.to_string(), reason.clone()),
                    Change::Imported => ("imported".to_string(), String::new()),
                };
                outln!("{:<22} {:<10} {:<22} {reason}", a.id.to_string(), action, date(a.not_after));
            }
            let n = i.issued().count();
            let verb = if dry_run { "would be issued" } else { "issued" };
            outln!("{n} {verb} in {dir}{}", if n > 0 && !dry_run { "; run `k8s-bootstrap apply` to install them on the hosts" } else { "" });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn date(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[month repr:short] [day padding:zero], [year] [hour]:[minute] UTC");
    t.format(&f).unwrap_or_else(|_| t.to_string())
}

fn residual(days: i64) -> String {
    match days {
        d if d < 0 => "expired".into(),
        d if d >= 365 => format!("{}y", d / 365),
        d => format!("{d}d"),
    }
}

/// Prints the `certs check-expiration` table; exit 1 when a certificate is expired or missing.
pub fn expiration(rows: &[CertExpiry], dir: &str, format: OutputFormat) -> Result<ExitCode> {
    let ok = rows.iter().all(|r| matches!(r.state, CertState::Ok | CertState::RenewalDue));
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&json!({ "dir": dir, "certificates": rows }))?),
        OutputFormat::Text => {
            outln!("{:<22} {:<24} {:<14} {:<14} STATE", "CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "AUTHORITY");
            for r in rows {
                let state = match r.state {
                    CertState::Ok => style::good("ok"),
                    CertState::RenewalDue => style::warn("renewal due"),
                    CertState::Expired => style::bad("EXPIRED"),
                    CertState::Missing => style::bad("missing"),
                };
                outln!(
                    "{:<22} {:<24} {:<14} {:<14} {state}",
                    r.name,
                    r.expires.map(date).unwrap_or_else(|| "-".into()),
                    r.days_left.map(residual).unwrap_or_else(|| "-".into()),
                    r.authority.as_deref().unwrap_or("-"),
                );
            }
        }
    }
    Ok(code(ok))
}

/// `k8s-bootstrap version`.
pub fn version(format: OutputFormat) -> Result<ExitCode> {
    let (e0, e1) = k8s_bootstrap_core::etcd::SUPPORTED_VERSIONS;
    let (f0, f1) = k8s_bootstrap_core::flannel::SUPPORTED_VERSIONS;
    let v = env!("CARGO_PKG_VERSION");
    match format {
        OutputFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&json!({ "version": v, "etcd": { "min": e0.to_string(), "max": e1.to_string() }, "flannel": { "min": f0.to_string(), "max": f1.to_string() } }))?
        ),
        OutputFormat::Text => {
            outln!("k8s-bootstrap {v}");
            outln!("etcd:    {e0} to {e1} (v2 API enabled for flannel <= 0.17; etcd 3.6 and later have none)");
            outln!("flannel: {f0} to {f1} (config through etcd v2 up to 0.17, v3 from 0.18)");
            outln!("docker:  any dockerd started by systemd (flannel-env or daemon-json)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
