//! "Did you mean" hints: the candidate nearest to a misspelt word, if it is near enough.

/// The candidate with the smallest edit distance to `word` (ignoring case), when that distance
/// is small for the candidate's length.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(closest("varient", ["name", "variant"]), Some("variant"));
        assert_eq!(closest("bse", ["base", "glibc"]), Some("base"));
        assert_eq!(closest("Shell", ["shell"]), Some("shell"));
        assert_eq!(closest("zzzzzz", ["name", "variant"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
