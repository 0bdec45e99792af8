//! Merge ops (layer filesystems without copying) and diff ops (the changes between two).
//! Both need BuildKit v0.10 (`mergeop`, `diffop`).

use crate::caps::cap;
use crate::graph::{Constraints, Kind, Node, OpBuilder, Output};

/// Builder for a merge of several filesystems, the first at the bottom.
#[derive(Debug, Clone)]
pub struct Merge {
    inputs: Vec<Output>,
    constraints: Constraints,
}

impl Merge {
    /// Merges `inputs`, later ones winning where paths overlap.
    pub fn new(inputs: &[Output]) -> Self {
        Merge {
            inputs: inputs.to_vec(),
            constraints: Constraints::default(),
        }
    }

    /// Like BuildKit's Go client, scratch inputs are dropped; merging nothing is scratch and
    /// merging one input is that input, so no op is emitted for those.
    pub fn output(self) -> Output {
        let mut inputs: Vec<Output> = self
            .inputs
            .into_iter()
            .filter(|o| !o.is_scratch())
            .collect();
        match inputs.len() {
            0 => Output::scratch(),
            1 => inputs.remove(0),
            _ => {
                let mut constraints = self.constraints;
                constraints.caps.insert(cap::MERGE_OP.to_string());
                let platform = constraints
                    .platform
                    .clone()
                    .or_else(|| inputs[0].platform().cloned());
                Output::new(
                    Node {
                        kind: Kind::Merge(inputs),
                        constraints,
                        platform,
                    },
                    0,
                )
            }
        }
    }
}

impl OpBuilder for Merge {
    fn constraints_mut(&mut self) -> &mut Constraints {
        &mut self.constraints
    }
}

/// Merges `inputs` with default settings.
pub fn merge(inputs: &[Output]) -> Output {
    Merge::new(inputs).output()
}

/// Builder for the difference `upper - lower`.
#[derive(Debug, Clone)]
pub struct Diff {
    lower: Output,
    upper: Output,
    constraints: Constraints,
}

impl Diff {
    /// The changes that turn `lower` into `upper`.
    pub fn new(lower: &Output, upper: &Output) -> Self {
        Diff {
            lower: lower.clone(),
            upper: upper.clone(),
            constraints: Constraints::default(),
        }
    }

    /// As in Go, a diff against scratch is `upper` itself and emits no op.
    pub fn output(self) -> Output {
        if self.lower.is_scratch() {
            return self.upper;
        }
        let mut constraints = self.constraints;
        constraints.caps.insert(cap::DIFF_OP.to_string());
        let platform = constraints
            .platform
            .clone()
            .or_else(|| self.lower.platform().cloned());
        Output::new(
            Node {
                kind: Kind::Diff {
                    lower: self.lower,
                    upper: self.upper,
                },
                constraints,
                platform,
            },
            0,
        )
    }
}

impl OpBuilder for Diff {
    fn constraints_mut(&mut self) -> &mut Constraints {
        &mut self.constraints
    }
}

/// The changes from `lower` to `upper`, with default settings.
pub fn diff(lower: &Output, upper: &Output) -> Output {
    Diff::new(lower, upper).output()
}
