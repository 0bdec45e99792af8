//! Phase timings a frontend shows its user: each phase is recorded with how long it took, and
//! [`Trace::show`] turns them into progress vertices (one per line, in order) that buildx prints
//! like any step. A frontend's stderr goes to the daemon's log, so vertices are the one place a
//! user running `docker buildx build` sees them.
//!
//! A disabled trace records nothing and shows nothing, so call sites need no conditions.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kiln_llb::{FileOp, MkfileOptions, OpBuilder, Output};

use crate::client::{Client, GatewayError, SolveRequest, CAP_GATEWAY_EVALUATE_SOLVE};

/// The phases of one frontend run, in the order they finished.
pub struct Trace {
    /// Prefix of every line, e.g. `kiln trace` for `[kiln trace] load: 1.2 ms`.
    label: String,
    enabled: bool,
    started: Instant,
    phases: Mutex<Vec<(String, Duration)>>,
}

impl Trace {
    /// A trace whose lines start with `[label]`; `enabled: false` makes every call a no-op.
    pub fn new(label: impl Into<String>, enabled: bool) -> Trace {
        Trace {
            label: label.into(),
            enabled,
            started: Instant::now(),
            phases: Mutex::new(Vec::new()),
        }
    }

    /// Records that `phase` took `took`.
    pub fn record(&self, phase: impl Into<String>, took: Duration) {
        if !self.enabled {
            return;
        }
        // A poisoned lock only means another recorder panicked; its entries are still whole.
        let mut phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        phases.push((phase.into(), took));
    }

    /// Runs `work` and records how long it took as `phase`.
    pub fn time<T>(&self, phase: impl Into<String>, work: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let value = work();
        self.record(phase, start.elapsed());
        value
    }

    /// Awaits `work` and records how long it took as `phase`.
    pub async fn time_async<T>(
        &self,
        phase: impl Into<String>,
        work: impl Future<Output = T>,
    ) -> T {
        let start = Instant::now();
        let value = work.await;
        self.record(phase, start.elapsed());
        value
    }

    /// One line per recorded phase, then the total since the trace was created.
    pub fn lines(&self) -> Vec<String> {
        if !self.enabled {
            return Vec::new();
        }
        let phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        let line = |phase: &str, took: Duration| {
            format!(
                "[{}] {phase}: {:.1} ms",
                self.label,
                took.as_secs_f64() * 1000.0
            )
        };
        let mut lines: Vec<String> = phases.iter().map(|(p, t)| line(p, *t)).collect();
        lines.push(line("total", self.started.elapsed()));
        lines
    }

    /// The lines as a chain of tiny file operations on scratch, each named by its line; `None`
    /// when there is nothing to show. Each writes its line, so every vertex is distinct.
    pub fn definition(&self) -> Option<kiln_llb::Definition> {
        let lines = self.lines();
        if lines.is_empty() {
            return None;
        }
        let mut state = Output::scratch();
        for line in lines {
            state = FileOp::new(&state)
                .mkfile(
                    "/trace",
                    0o644,
                    line.clone().into_bytes(),
                    MkfileOptions::default(),
                )
                .custom_name(line)
                .output()
                .ok()?;
        }
        Some(kiln_llb::marshal(&state))
    }

    /// Shows the lines as progress vertices (a solve of [`Trace::definition`] that runs them).
    /// Does nothing when disabled, or on a daemon that cannot evaluate a solve.
    pub async fn show(&self, client: &Client) -> Result<(), GatewayError> {
        let Some(def) = self.definition() else {
            return Ok(());
        };
        if !client.caps().gateway(CAP_GATEWAY_EVALUATE_SOLVE) {
            tracing::debug!("daemon lacks {CAP_GATEWAY_EVALUATE_SOLVE}; not showing the trace");
            return Ok(());
        }
        let mut req = SolveRequest::definition(def.0, &[]);
        req.evaluate = true;
        client.solve(req).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_trace_records_and_shows_nothing() {
        let trace = Trace::new("kiln trace", false);
        trace.record("options", Duration::from_millis(3));
        assert_eq!(trace.time("load", || 7), 7);
        assert!(trace.lines().is_empty());
        assert!(trace.definition().is_none());
    }

    #[tokio::test]
    async fn phases_are_lines_in_order_then_the_total() {
        let trace = Trace::new("kiln trace", true);
        trace.record("options", Duration::from_micros(1500));
        trace.time("load", || ());
        let v = trace.time_async("solve linux/amd64", async { 5 }).await;
        assert_eq!(v, 5);
        let lines = trace.lines();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0], "[kiln trace] options: 1.5 ms");
        assert!(lines[1].starts_with("[kiln trace] load: "), "{lines:?}");
        assert!(lines[2].starts_with("[kiln trace] solve linux/amd64: "));
        assert!(lines[3].starts_with("[kiln trace] total: ") && lines[3].ends_with(" ms"));
    }

    #[test]
    fn the_definition_has_one_named_vertex_per_line() {
        let trace = Trace::new("x", true);
        trace.record("a", Duration::from_millis(1));
        trace.record("b", Duration::from_millis(2));
        let def = trace.definition().expect("a definition");
        let names: Vec<String> = def
            .0
            .metadata
            .values()
            .filter_map(|m| m.description.get("llb.customname").cloned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&"[x] a: 1.0 ms".to_string()), "{names:?}");
        assert!(names.contains(&"[x] b: 2.0 ms".to_string()), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("[x] total: ")));
    }
}
