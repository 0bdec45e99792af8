//! Several solves at once: each runs to completion (so every failure is reported by BuildKit, not
//! only the first), and when any fails the caller gets the failure that tells the user most.

use std::future::Future;

use kiln_proto::google::rpc::Status;

/// Runs `futures` concurrently to completion. Returns every value in order, or, when some
/// failed, the most detailed of their errors (see [`most_detailed`]).
pub async fn all_or_most_detailed<T, F>(
    futures: impl IntoIterator<Item = F>,
) -> Result<Vec<T>, Status>
where
    F: Future<Output = Result<T, Status>>,
{
    let results = futures::future::join_all(futures).await;
    let mut values = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(v) => values.push(v),
            Err(e) => errors.push(e),
        }
    }
    match most_detailed(errors) {
        Some(e) => Err(e),
        None => Ok(values),
    }
}

/// The error with the most details (a source location beats a bare message); the first of
/// equally detailed ones.
pub fn most_detailed(errors: impl IntoIterator<Item = Status>) -> Option<Status> {
    errors.into_iter().reduce(|best, e| {
        if e.details.len() > best.details.len() {
            e
        } else {
            best
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::{build_error, LineRange, SourceLocation};

    fn located(message: &str) -> Status {
        let source = SourceLocation::yaml(
            "a/pkg.yaml",
            b"name: a\n".to_vec(),
            vec![LineRange::line(1)],
        );
        build_error(message, &[source])
    }

    #[tokio::test]
    async fn all_values_in_order_when_everything_succeeds() {
        let futures = (0..3).map(|i| async move { Ok::<_, Status>(i) });
        assert_eq!(all_or_most_detailed(futures).await.unwrap(), [0, 1, 2]);
    }

    #[tokio::test]
    async fn every_future_finishes_and_the_located_error_wins() {
        let finished = std::sync::atomic::AtomicUsize::new(0);
        let finished = &finished;
        let futures = (0..3).map(|i| async move {
            tokio::task::yield_now().await;
            finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match i {
                0 => Err(build_error("bare", &[])),
                1 => Err(located("with lines")),
                _ => Ok(i),
            }
        });
        let err = all_or_most_detailed(futures).await.unwrap_err();
        assert_eq!(err.message, "with lines");
        assert_eq!(finished.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[test]
    fn ties_keep_the_first_error() {
        let picked = most_detailed([build_error("first", &[]), build_error("second", &[])]);
        assert_eq!(picked.unwrap().message, "first");
        assert!(most_detailed(Vec::new()).is_none());
    }
}
