//! Executing a [`Plan`]: stage by stage, wave by wave, each host's steps of
//! a wave sent as few round trips as possible (consecutive commands as one
//! script, consecutive writes as one batched upload), then the wave's gates.
//! Nothing is decided here: what runs is what the plan says.

use std::time::{Duration, Instant};

use crate::shell::join_argv;
use crate::transport::{Command, FileSource, PutOptions, PutOutcome};

use super::plan::{Gate, Op, Plan, Step, Wave, packages_for};
use super::{Ctx, Event, FailureKind, HostView, Stage, StepError, StepResult, unit_command};

impl Ctx<'_> {
    /// Runs the steps of `plan` on `hosts`. `Err`: why the run stopped.
    pub(super) async fn execute(&self, plan: &Plan, hosts: &mut [HostView<'_>], opts: &super::ApplyOptions, lost: &(dyn Fn() -> Option<String> + Sync)) -> Result<(), String> {
        let last = opts.until.unwrap_or(Stage::Docker);
        for stage in Stage::ALL.into_iter().take_while(|s| *s <= last) {
            if opts.cancel.is_cancelled() {
                return Err(format!("interrupted before stage {stage}: steps already started finished; run apply again to converge"));
            }
            if let Some(lost) = lost() {
                return Err(format!("{lost}: stopped before stage {stage}"));
            }
            self.progress.event(&Event::StageStarted(stage));
            let t = Instant::now();
            let result = match plan.stages.iter().find(|s| s.stage == stage) {
                Some(sp) => {
                    let mut r = Ok(());
                    for (k, wave) in sp.waves.iter().enumerate() {
                        // The stage's first wave begins once the stage is
                        // announced (the check above is the last before
                        // it); a later wave does not begin after an
                        // interrupt.
                        if k > 0 && opts.cancel.is_cancelled() {
                            r = Err(format!("interrupted during stage {stage}, after {k} of its {} waves: steps already started finished; run apply again to converge", sp.waves.len()));
                            break;
                        }
                        if let Err(e) = self.wave(stage, wave, hosts, opts).await {
                            r = Err(e);
                            break;
                        }
                    }
                    r
                }
                None => Ok(()),
            };
            // Every host of the run has a time for every stage it is in
            // (0 when it had nothing to do); etcd's stage is the cluster's,
            // counted on each member.
            let ms = t.elapsed().as_millis() as u64;
            for h in hosts.iter_mut().filter(|h| h.active()) {
                if stage != Stage::Etcd {
                    h.report.stage_ms.entry(stage).or_default();
                } else if h.roles.contains(&crate::spec::Role::Etcd) {
                    *h.report.stage_ms.entry(stage).or_default() += ms;
                }
            }
            self.progress.event(&Event::StageDone(stage));
            result?;
        }
        Ok(())
    }

    async fn wave(&self, stage: Stage, wave: &Wave, hosts: &mut [HostView<'_>], opts: &super::ApplyOptions) -> Result<(), String> {
        // Membership changes run on another host than their own (`via`).
        let vias: Vec<(String, String)> = wave
            .hosts
            .iter()
            .flat_map(|(h, steps)| steps.iter().filter_map(move |s| match &s.op {
                Op::EtcdJoin { via, .. } => Some((h.clone(), via.clone())),
                _ => None,
            }))
            .collect();
        if let Some((host, via)) = vias.first() {
            return self.join_wave(stage, wave, hosts, host, via, opts).await;
        }
        // A wave with gates is one step of all its hosts: the members of a
        // new cluster start together and the health gate waits for every
        // one of them, so once the wave begins, an interrupt skips none of
        // them. In a wave without gates, a host still queued behind the
        // concurrency limit when the interrupt comes does not start.
        let gated = !wave.gates.is_empty();
        let skipped = std::sync::Mutex::new(Vec::new());
        let futs = hosts.iter_mut().filter(|h| h.active() && wave.hosts.contains_key(&h.name)).map(|h| {
            let steps = &wave.hosts[&h.name];
            let sem = self.sem.clone();
            let skipped = &skipped;
            async move {
                let _permit = match sem.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        let permit = sem.acquire_owned().await.expect("semaphore never closed");
                        if !gated && self.cancel.is_cancelled() {
                            skipped.lock().expect("not poisoned").push(h.name.clone());
                            return None;
                        }
                        permit
                    }
                };
                let t = Instant::now();
                let r = self.host_steps(stage, h, steps).await;
                if stage != Stage::Etcd {
                    *h.report.stage_ms.entry(stage).or_default() += t.elapsed().as_millis() as u64;
                }
                match r {
                    Ok(()) => None,
                    Err((what, e)) => {
                        let name = h.name.clone();
                        self.fail_with_log(h, stage, e);
                        Some((name, what))
                    }
                }
            }
        });
        let failures: Vec<(String, Op)> = futures::future::join_all(futs).await.into_iter().flatten().collect();
        let skipped = skipped.into_inner().expect("not poisoned");
        if !skipped.is_empty() {
            return Err(format!("interrupted during stage {stage}: {} did not start it; steps already started finished; run apply again to converge", skipped.join(", ")));
        }
        // A member whose host cannot be reached is out of the run, as any
        // failed host: the gate decides whether the others go on with a
        // quorum. A member that was reached and did not come back stops it.
        let reached = |name: &str| hosts.iter().find(|h| h.name == name).and_then(|h| h.report.failed.as_ref()).is_none_or(|f| !f.kind.unreached());
        if stage == Stage::Etcd
            && let Some((name, op)) = failures.iter().find(|(name, _)| reached(name))
        {
            match op {
                Op::Restart { .. } => {
                    let upgrading = wave.gates.iter().any(|g| matches!(g, Gate::CaughtUp { .. }));
                    let what = if upgrading { "upgraded" } else { "restarted" };
                    return Err(format!("{name}: etcd restart failed; later members were not {what} (apply again to resume)"));
                }
                Op::EtcdRemove { label, .. } => return Err(format!("etcd member remove {label} failed on {name}; later stages not started")),
                _ => {} // a member that did not start: the health gate decides
            }
        }
        self.gates(wave, hosts, opts).await
    }

    async fn gates(&self, wave: &Wave, hosts: &mut [HostView<'_>], opts: &super::ApplyOptions) -> Result<(), String> {
        for gate in &wave.gates {
            match gate {
                Gate::Healthy { pending } => self.wait_healthy(hosts, opts.etcd_timeout, &pending.iter().cloned().collect()).await?,
                Gate::CaughtUp { member } => self.wait_caught_up(hosts, member, opts.etcd_timeout).await?,
            }
        }
        Ok(())
    }

    /// A member joins: `member add` on `via`, then its join file and start.
    async fn join_wave(&self, stage: Stage, wave: &Wave, hosts: &mut [HostView<'_>], host: &str, via: &str, opts: &super::ApplyOptions) -> Result<(), String> {
        let (Some(i), Some(probe)) = (hosts.iter().position(|h| h.name == host), hosts.iter().position(|h| h.name == via)) else {
            return Err(format!("{host}: joining the etcd cluster needs a running member ({via}) in the run; later stages not started"));
        };
        let Some(Step { op: Op::EtcdJoin { known, replace, move_data, .. }, what, .. }) = wave.hosts[host].first() else { unreachable!("a join wave holds a join") };
        // A membership change counts on every other member: etcd's quorum
        // grows with an added member before the member runs, and shrinks
        // only after a removal. With a member's host out of reach (its link
        // down, its sshd gone), adding one more could leave fewer than a
        // quorum up until the new member has caught up, and a replacement
        // would remove one more. Refused before anything changes; etcd's
        // own check (strict reconfig: "unhealthy cluster") is the backstop
        // for a member that is reachable but not healthy.
        let later: Vec<&String> = wave.gates.iter().flat_map(|g| match g {
            Gate::Healthy { pending } => pending.iter().collect(),
            Gate::CaughtUp { .. } => Vec::new(),
        }).collect();
        let out: Vec<String> = hosts
            .iter()
            .filter(|h| h.name != host && h.roles.contains(&crate::spec::Role::Etcd) && !later.contains(&&h.name))
            .filter(|h| h.report.failed.as_ref().is_some_and(|f| f.kind.unreached()))
            .map(|h| h.name.clone())
            .collect();
        if !out.is_empty() {
            return Err(format!(
                "{host}: not changing the etcd membership while member {} cannot be reached: that could leave fewer than a quorum of members up. The membership is unchanged; bring {} back, then apply again",
                out.join(", "),
                if out.len() == 1 { "it" } else { "them" }
            ));
        }
        self.join(hosts, probe, i, *known, replace.as_deref(), *move_data).await?;
        self.changed(&mut hosts[i], stage, what.clone(), None);
        self.gates(wave, hosts, opts).await?;
        let join_file = self.join_file();
        hosts[i]
            .transport
            .run_ok(&Command::new(["rm", "-f", "--", join_file.as_str()]))
            .await
            .map_err(|e| format!("{}: removing {join_file}: {e}", hosts[i].name))?;
        Ok(())
    }

    /// One host's steps of a wave, in order, batched: consecutive commands
    /// in one script, consecutive writes in one upload, consecutive
    /// removals in one `rm`. Stops at the first failure.
    async fn host_steps(&self, stage: Stage, h: &mut HostView<'_>, steps: &[Step]) -> Result<(), (Op, StepError)> {
        let mut i = 0;
        while i < steps.len() {
            let kind = batch_kind(&steps[i].op);
            let n = steps[i..].iter().take_while(|s| batch_kind(&s.op) == kind).count();
            let batch = &steps[i..i + n];
            let r = match batch_kind(&batch[0].op) {
                Batch::Script => self.run_script(stage, h, batch).await,
                Batch::Write => self.write(stage, h, batch).await,
                Batch::Remove => self.remove(stage, h, batch).await,
                Batch::One => self.one(stage, h, &batch[0]).await,
            };
            r.map_err(|e| (batch[0].op.clone(), e))?;
            i += n;
        }
        Ok(())
    }

    async fn run_script(&self, stage: Stage, h: &mut HostView<'_>, batch: &[Step]) -> StepResult {
        let argv_of = |s: &Step| super::plan::op_command(self.spec, &[], &s.op).and_then(Result::ok).unwrap_or_default();
        // Each command runs in turn, one result line each; the first that
        // fails stops the script and its output comes back on stderr. A
        // step whose check the facts could not read checks first; a step
        // of one OS family (a plan made before the OS was known) runs on
        // that family only.
        let mut script = String::from("o=$(mktemp) || exit 97\ntrap 'rm -f -- \"$o\"' EXIT\n");
        if batch.iter().any(|s| matches!(s.op, Op::Run { os: Some(_), .. })) {
            script.push_str(crate::hostprep::OsFamily::detect_script());
            script.push('\n');
        }
        for s in batch {
            let run = format!(
                "if {} >\"$o\" 2>&1 </dev/null; then echo ran; else rc=$?; echo \"fail $rc\"; tail -c 3000 \"$o\" >&2; exit 0; fi",
                join_argv(&argv_of(s))
            );
            let run = match &s.op {
                Op::Run { check: Some(check), .. } => format!("if {} >/dev/null 2>&1 </dev/null; then echo skip; else {run}; fi", join_argv(check)),
                _ => run,
            };
            match &s.op {
                Op::Run { os: Some(os), .. } => script.push_str(&format!("if [ \"$os_family\" = {} ]; then {run}; else echo skip; fi\n", os.as_str())),
                _ => {
                    script.push_str(&run);
                    script.push('\n');
                }
            }
        }
        let out = h.transport.run_ok(&Command::new(["sh", "-c", script.as_str()]).timeout(Duration::from_secs(600))).await.map_err(|e| (batch[0].what.clone(), e))?;
        let text = out.stdout_str();
        let mut lines = text.lines();
        for s in batch {
            match lines.next().map(str::trim) {
                Some("ran") => self.changed(h, stage, s.what.clone(), None),
                Some("skip") => h.report.unchanged += 1,
                Some(fail) if fail.starts_with("fail ") => {
                    let error = format!("{}: `{}` failed with exit code {}: {}", h.name, join_argv(&argv_of(s)), fail.trim_start_matches("fail "), out.stderr_str().trim_end());
                    return Err(StepError { step: s.what.clone(), kind: FailureKind::Command, error, log: None });
                }
                other => {
                    let error = format!("{}: no result for `{}` ({other:?}): {}", h.name, join_argv(&argv_of(s)), out.stderr_str().trim_end());
                    return Err(StepError { step: s.what.clone(), kind: FailureKind::Command, error, log: None });
                }
            }
        }
        Ok(())
    }

    async fn write(&self, stage: Stage, h: &mut HostView<'_>, batch: &[Step]) -> StepResult {
        let mut specs: Vec<(String, FileSource, PutOptions)> = Vec::new();
        for s in batch {
            let Op::Write { path, send } = &s.op else { unreachable!("a write batch holds writes") };
            let f = h.items.iter().find(|f| f.path == *path).ok_or_else(|| StepError { step: s.what.clone(), kind: FailureKind::Other, error: format!("{}: {path} is not a file of this host's desired state", h.name), log: None })?;
            specs.push((f.path.clone(), f.source.clone(), PutOptions::new(f.mode).owner(f.owner.clone()).probe(!send)));
        }
        // One call for all writes: exec-based transports send every
        // in-memory file in one round trip (each still atomic on its own).
        let outcomes = h.transport.put_files(&specs).await;
        let mut first_error = None;
        for (s, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                Err(e) => {
                    first_error.get_or_insert((s.what.clone(), e));
                }
                Ok(PutOutcome::Unchanged) => h.report.unchanged += 1,
                Ok(_) => self.changed(h, stage, s.what.clone(), s.diff.clone()),
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    async fn remove(&self, stage: Stage, h: &mut HostView<'_>, batch: &[Step]) -> StepResult {
        let mut rm = vec!["rm".to_string(), "-f".into(), "--".into()];
        rm.extend(batch.iter().filter_map(|s| match &s.op {
            Op::Remove { path } => Some(path.clone()),
            _ => None,
        }));
        h.transport.run_ok(&Command::new(rm)).await.map_err(|e| (batch[0].what.clone(), e))?;
        for s in batch {
            self.changed(h, stage, s.what.clone(), None);
        }
        Ok(())
    }

    async fn one(&self, stage: Stage, h: &mut HostView<'_>, s: &Step) -> StepResult {
        match &s.op {
            Op::Start { unit, .. } | Op::Restart { unit, .. } => {
                let verb = if matches!(s.op, Op::Start { .. }) { "start" } else { "restart" };
                let argv = super::plan::op_command(self.spec, &[], &s.op).and_then(Result::ok).unwrap_or_default();
                self.unit_run(h, unit, verb, Command::new(argv)).await?;
            }
            Op::InstallEngine { os } => self.install_engine(h, *os).await?,
            Op::EtcdRemove { label, .. } => {
                let remove = Command::new(super::plan::op_command(self.spec, &[], &s.op).and_then(Result::ok).unwrap_or_default());
                super::members::reconfigure(h, &remove).await.map_err(|e| StepError { step: s.what.clone(), kind: FailureKind::of(&e), error: format!("etcd member remove {label}: {e}"), log: None })?;
            }
            Op::EtcdRetire => {
                let stop = Command::new(super::plan::op_command(self.spec, &[], &s.op).and_then(Result::ok).unwrap_or_default());
                h.transport.run_ok(&stop.timeout(Duration::from_secs(120))).await.map_err(|e| ("stop the removed etcd member".to_string(), e))?;
            }
            Op::Run { .. } | Op::DaemonReload | Op::Write { .. } | Op::Remove { .. } | Op::EtcdJoin { .. } => unreachable!("batched, or a wave of its own"),
        }
        self.changed(h, stage, s.what.clone(), None);
        Ok(())
    }

    /// `systemctl VERB UNIT`; on failure the unit's last journal lines.
    pub(super) async fn unit_verb(&self, h: &HostView<'_>, unit: &str, verb: &str, block: bool) -> StepResult {
        self.unit_run(h, unit, verb, unit_command(unit, verb, block)).await
    }

    /// Runs `cmd`, which does `systemctl VERB UNIT`; on failure the unit's
    /// last journal lines.
    async fn unit_run(&self, h: &HostView<'_>, unit: &str, verb: &str, cmd: Command) -> StepResult {
        if let Err(e) = h.transport.run_ok(&cmd.timeout(Duration::from_secs(120))).await {
            // --sync first: the unit's last words (dockerd's fatal error)
            // may not be in the journal yet right after it exited.
            let journal = Command::new(["sh", "-c", "journalctl --sync 2>/dev/null; exec journalctl -u \"$1\" -n 25 --no-pager -o cat", "sh", unit]);
            let log = match h.transport.run(&journal).await {
                Ok(out) => Some(out.stdout_str().trim_end().to_string()).filter(|l| !l.is_empty()),
                Err(_) => None,
            };
            return Err(StepError { step: format!("{verb} {unit}"), kind: FailureKind::of(&e), error: e.to_string(), log });
        }
        Ok(())
    }

    /// Installs the container engine as `docker.install` says.
    async fn install_engine(&self, h: &mut HostView<'_>, os: crate::hostprep::OsFamily) -> StepResult {
        let install = crate::docker::EngineInstall::from_spec(self.spec);
        let files = self.packages().await.map_err(|e| StepError { step: "list the engine's package files".into(), kind: FailureKind::Other, error: format!("{}: {e}", h.name), log: None })?;
        let steps = install.steps(os, &packages_for(&files, os)).map_err(|p| StepError { step: "install the container engine".into(), kind: FailureKind::Other, error: format!("{}: {p}", h.name), log: None })?;
        if !steps.uploads.is_empty() {
            let specs: Vec<(String, FileSource, PutOptions)> = steps.uploads.iter().map(|(local, remote)| (remote.clone(), FileSource::Path(local.clone()), PutOptions::new(0o644))).collect();
            for ((local, remote), outcome) in steps.uploads.iter().zip(h.transport.put_files(&specs).await) {
                outcome.map_err(|e| (format!("upload {} to {remote}", local.display()), e))?;
            }
        }
        let cmd = Command::new(steps.argv.clone()).timeout(Duration::from_secs(900));
        let out = h.transport.run(&cmd).await.map_err(|e| (steps.description.clone(), e))?;
        if !out.success() {
            let tail = |s: String| s.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            let error = format!(
                "{}: {} failed with exit code {}:\n{}\nto fix: {}",
                h.name,
                steps.description,
                out.exit_code.map_or("none (killed)".to_string(), |c| c.to_string()),
                tail(format!("{}{}", out.stdout_str(), out.stderr_str())),
                steps.hint
            );
            return Err(StepError { step: steps.description, kind: FailureKind::Command, error, log: None });
        }
        Ok(())
    }

    /// The package files of `docker.install: { offline: DIR }` (empty for other sources).
    pub(super) async fn packages(&self) -> Result<Vec<String>, String> {
        super::offline_packages(self.spec)
    }
}

/// How steps are grouped into round trips.
#[derive(PartialEq, Eq)]
enum Batch {
    Script,
    Write,
    Remove,
    One,
}

fn batch_kind(op: &Op) -> Batch {
    match op {
        Op::Run { .. } | Op::DaemonReload => Batch::Script,
        Op::Write { .. } => Batch::Write,
        Op::Remove { .. } => Batch::Remove,
        _ => Batch::One,
    }
}

