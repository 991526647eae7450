//! Printing reports and progress.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use k8s_bootstrap_core::apply::{ClusterStatus, Event, Progress, Report};

use crate::OutputFormat;

/// Progress as plain timestamped lines on stderr (seconds since start).
pub struct Lines {
    start: Instant,
}

impl Default for Lines {
    fn default() -> Self {
        Lines { start: Instant::now() }
    }
}

impl Progress for Lines {
    fn event(&self, e: &Event) {
        let t = self.start.elapsed().as_secs_f64();
        let line = match e {
            Event::StageStarted(s) => format!("[{t:7.2}s] == {s}"),
            Event::Changed { host, change } => format!("[{t:7.2}s] {host}: {}", change.what),
            Event::Failed { host, failure } => format!("[{t:7.2}s] {host}: FAILED {}: {}", failure.step, failure.error),
            Event::Note { host: Some(h), message } => format!("[{t:7.2}s] {h}: note: {message}"),
            Event::Note { host: None, message } => format!("[{t:7.2}s] {message}"),
            Event::StageDone(_) => return,
        };
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// Prints a plan/apply report; exit code 1 when something failed.
pub fn report(r: &Report, format: OutputFormat) -> Result<ExitCode> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(r)?),
        OutputFormat::Text => {
            if r.dry_run {
                for (host, h) in &r.hosts {
                    for c in &h.changes {
                        println!("{host}: {} {}", c.stage, c.what);
                        if let Some(d) = &c.diff {
                            for l in d.lines() {
                                println!("    {l}");
                            }
                        }
                    }
                }
            }
            println!("{:<16} {:>8} {:>10} {:>9}  RESULT", "HOST", "CHANGED", "UNCHANGED", "TIME");
            for (host, h) in &r.hosts {
                let ms: u64 = h.stage_ms.values().sum();
                let result = match &h.failed {
                    Some(f) => format!("failed in {} at {}: {}", f.stage, f.step, f.error),
                    None => "ok".into(),
                };
                println!("{host:<16} {:>8} {:>10} {:>8.1}s  {result}", h.changes.len(), h.unchanged, ms as f64 / 1000.0);
                if let Some(log) = h.failed.as_ref().and_then(|f| f.log.as_ref()) {
                    for l in log.lines() {
                        println!("    | {l}");
                    }
                }
            }
            if let Some(a) = &r.aborted {
                println!("aborted: {a}");
            }
            let verb = if r.dry_run { "would change" } else { "changed" };
            println!("{} {verb} in {:.1}s", r.change_count(), r.elapsed_ms as f64 / 1000.0);
        }
    }
    Ok(if r.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints a status; exit code 1 when etcd is not healthy.
pub fn status(s: &ClusterStatus, format: OutputFormat) -> Result<ExitCode> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(s)?),
        OutputFormat::Text => {
            println!("{:<16} {:<10} {:<14} {:<14} {:<14}", "HOST", "REACHABLE", "ETCD", "FLANNELD", "DOCKER");
            for (host, h) in &s.hosts {
                let u = |n: &str| h.units.get(n).cloned().unwrap_or_else(|| "-".into());
                println!("{host:<16} {:<10} {:<14} {:<14} {:<14}", h.reachable, u("etcd"), u("flanneld"), u("docker"));
                if let Some(e) = &h.error {
                    println!("    {e}");
                }
                if let Some(b) = &h.docker_bridge {
                    let verdict = if b.matches { "matches flannel's subnet" } else { "DOES NOT match flannel's subnet" };
                    println!("    docker0 {} {verdict} {}", b.docker0.as_deref().unwrap_or("-"), b.flannel_subnet.as_deref().unwrap_or("-"));
                }
            }
            for e in &s.etcd_endpoints {
                println!("etcd {} {}", e.endpoint, if e.healthy { "healthy" } else { "UNHEALTHY" });
            }
            println!(
                "etcd members: {} ({})",
                s.etcd_members.join(", "),
                if s.etcd_members_match_spec { "as in the spec" } else { "DIFFERENT from the spec" }
            );
            match &s.flannel_config {
                Some(c) => println!("flannel config ({}): {c}", s.flannel_api),
                None => println!("flannel config ({}): not found", s.flannel_api),
            }
            for p in &s.problems {
                println!("problem: {p}");
            }
        }
    }
    Ok(if s.etcd_healthy { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
