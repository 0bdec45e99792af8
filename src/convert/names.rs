//! Vertex names, as people read them in build progress: `[linux/arm64] gvisor: build 2/3`.

use crate::spec::Platform;

pub fn vertex(platform: &Platform, package: &str, what: &str) -> String {
    format!("[{platform}] {package}: {what}")
}

/// `build 2/3`, or `step 2 build 1/3` when the package has several steps.
pub fn script(phase: &str, step: usize, steps: usize, index: usize, count: usize) -> String {
    if steps > 1 {
        format!("step {} {phase} {}/{count}", step + 1, index + 1)
    } else {
        format!("{phase} {}/{count}", index + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_like_progress() {
        assert_eq!(
            vertex(
                &Platform::linux("arm64"),
                "gvisor",
                &script("build", 0, 1, 1, 3)
            ),
            "[linux/arm64] gvisor: build 2/3"
        );
        assert_eq!(script("test", 1, 2, 0, 1), "step 2 test 1/1");
    }
}
