//! Progress of a run: live per-host spinners (indicatif) on a terminal, plain
//! timestamped lines on stderr when piped, under CI, or with -v.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use k8s_bootstrap_core::apply::{self, Event, Stage};

use crate::style;

/// Live bars or plain lines; see the module docs.
pub struct Progress {
    start: Instant,
    live: Option<Live>,
    lines: Mutex<()>,
}

struct Live {
    multi: MultiProgress,
    header: ProgressBar,
    hosts: BTreeMap<String, ProgressBar>,
}

impl Progress {
    /// Progress for these hosts; `plain` forces lines (as -v does, so that logs and bars do not mix).
    pub fn new(hosts: Vec<String>, plain: bool) -> Self {
        let live = (!plain && style::live_progress()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let spin = ProgressStyle::with_template("{spinner} {prefix:<14} {msg}").expect("static template");
            let header = multi.add(ProgressBar::new_spinner().with_style(spin.clone()).with_prefix("stage"));
            header.enable_steady_tick(Duration::from_millis(120));
            let hosts = hosts
                .into_iter()
                .map(|h| {
                    let bar = multi.add(ProgressBar::new_spinner().with_style(spin.clone()).with_prefix(h.clone()));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar.set_message("connecting");
                    (h, bar)
                })
                .collect();
            Live { multi, header, hosts }
        });
        Progress { start: Instant::now(), live, lines: Mutex::new(()) }
    }

    fn line(&self, text: String) {
        let t = self.start.elapsed().as_secs_f64();
        let text = format!("[{t:7.2}s] {text}");
        match &self.live {
            Some(l) => {
                let _ = l.multi.println(text);
            }
            None => {
                let _guard = self.lines.lock();
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    /// Clears the live bars (the final report follows on stdout).
    pub fn finish(&self) {
        if let Some(l) = &self.live {
            for b in l.hosts.values() {
                b.finish_and_clear();
            }
            l.header.finish_and_clear();
            let _ = l.multi.clear();
        }
    }
}

impl apply::Progress for Progress {
    fn event(&self, e: &Event) {
        match e {
            Event::StageStarted(s) => {
                let n = Stage::ALL.iter().position(|x| x == s).map_or(0, |i| i + 1);
                if let Some(l) = &self.live {
                    l.header.set_message(format!("{s} ({n}/{})", Stage::ALL.len()));
                    for b in l.hosts.values() {
                        if !b.is_finished() {
                            b.set_message(format!("{s}"));
                        }
                    }
                }
                self.line(format!("== {s}"));
            }
            Event::Changed { host, change } => {
                if let Some(b) = self.live.as_ref().and_then(|l| l.hosts.get(host)) {
                    b.set_message(format!("{}: {}", change.stage, change.what));
                }
                self.line(format!("{host}: {}", change.what));
            }
            Event::Failed { host, failure } => {
                if let Some(b) = self.live.as_ref().and_then(|l| l.hosts.get(host)) {
                    b.finish_with_message(format!("FAILED in {} at {}", failure.stage, failure.step));
                }
                self.line(format!("{host}: FAILED {}: {}", failure.step, failure.error));
            }
            Event::Note { host: Some(h), message } => self.line(format!("{h}: note: {message}")),
            Event::Note { host: None, message } => self.line(message.clone()),
            Event::StageDone(_) => {}
        }
    }
}
