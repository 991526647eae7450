//! Shared by the scenario-style test files (`mod common;`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One scenario: an async function of the test's shared context.
pub type Scenario<C> = fn(Arc<C>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs each scenario in its own task on `rt` (so a failing one does not
/// hide the others), each bounded by `timeout`, and returns the failures.
/// `KB_SCENARIO=name` runs only that one.
pub fn run_scenarios<C: Send + Sync + 'static>(
    rt: &tokio::runtime::Runtime,
    ctx: &Arc<C>,
    scenarios: &[(&str, Scenario<C>)],
    timeout: Duration,
) -> Vec<String> {
    let only = std::env::var("KB_SCENARIO").ok().filter(|s| !s.is_empty());
    if let Some(o) = &only {
        assert!(scenarios.iter().any(|(n, _)| n == o), "KB_SCENARIO={o} names no scenario");
    }
    let mut failed = Vec::new();
    for (name, f) in scenarios {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let start = Instant::now();
        let fut = f(ctx.clone());
        match rt.block_on(rt.spawn(async move { tokio::time::timeout(timeout, fut).await })) {
            Ok(Ok(())) => println!("scenario {name}: ok ({:?})", start.elapsed()),
            Ok(Err(_)) => failed.push(format!("{name}: timed out after {timeout:?}")),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    failed
}
