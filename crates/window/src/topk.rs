//! Top-K with a total order: count descending, then tag ascending by bytes.

use std::cmp::Ordering;

/// One candidate, ordered best first: `a < b` when `a` ranks before `b`.
///
/// `prefix` is the tag's first 8 bytes as a big-endian number (zero-padded), which orders
/// like the bytes themselves wherever it differs: ranking a window's every tag (`--counts`)
/// is then mostly comparisons of two numbers, not of slices in the tag arena.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ranked<'a> {
    count: u64,
    prefix: u64,
    tag: &'a [u8],
}

impl<'a> Ranked<'a> {
    fn new(count: u64, tag: &'a [u8]) -> Self {
        let mut head = [0u8; 8];
        let n = tag.len().min(8);
        head[..n].copy_from_slice(&tag[..n]);
        Ranked {
            count,
            prefix: u64::from_be_bytes(head),
            tag,
        }
    }

    /// Whether `(count, tag)` ranks before this one (without making its prefix).
    fn beaten_by(&self, count: u64, tag: &[u8]) -> bool {
        count > self.count || (count == self.count && tag < self.tag)
    }
}

impl Ord for Ranked<'_> {
    /// `a < b` when `a` ranks before `b`: higher count first, then smaller tag bytes (the
    /// prefixes decide unless they are equal; a zero-padded prefix is never greater than the
    /// prefix of a tag that sorts after it).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .count
            .cmp(&self.count)
            .then(self.prefix.cmp(&other.prefix))
            .then_with(|| self.tag.cmp(other.tag))
    }
}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` best `(tag, count)` pairs, best first. Order: count descending, then tag ascending
/// by bytes, so ties (also at rank `k`) are cut the same way every time.
///
/// Runs in O(n + k log k) time and O(k) space (a buffer of 2k cut by selection); only the `k` winners are
/// copied into `String`s. Pairs are ranked as given: pass each tag once (a tag given twice is
/// ranked twice).
///
/// ```
/// let counts = [("rust", 3), ("go", 5), ("zig", 3), ("c", 1)];
/// let top = window::top_k(counts, 3);
/// assert_eq!(top, [("go".to_string(), 5), ("rust".to_string(), 3), ("zig".to_string(), 3)]);
/// ```
pub fn top_k<'a>(counts: impl IntoIterator<Item = (&'a str, u64)>, k: usize) -> Vec<(String, u64)> {
    let counts = counts.into_iter();
    let expect = counts.size_hint().0;
    rank(
        counts.map(|(t, n)| (t.as_bytes(), n)),
        k,
        expect,
        |tag, n| {
            let tag = std::str::from_utf8(tag).expect("the bytes of a str");
            (tag.to_owned(), n)
        },
    )
}

/// [`top_k`] over byte strings, without copying: the shards' tables rank the tags where they
/// are and turn only the winners into rows, with `row`, best first. A row the size of a
/// candidate (32 bytes, as `(String, u64)`) is written in place of the candidates' buffer.
/// `expect` is how many pairs there will be, if known (0 if not): the buffer is made that
/// big at once (at most 2k), not grown by doubling.
pub(crate) fn rank<'a, T>(
    counts: impl IntoIterator<Item = (&'a [u8], u64)>,
    k: usize,
    expect: usize,
    mut row: impl FnMut(&'a [u8], u64) -> T,
) -> Vec<T> {
    if k == 0 {
        return Vec::new();
    }
    // Candidates gather in a buffer of at most 2k; when it is full, `select_nth_unstable` keeps
    // the k best and the k-th becomes the bar a later candidate must beat. Linear in the pairs
    // and O(k) in space, and the winners are sorted once at the end: with k in the hundred
    // thousands (`--counts`) several times faster than a heap of k, and as fast for a top 10.
    let cap = k.saturating_mul(2);
    let mut buf: Vec<Ranked<'a>> = Vec::with_capacity(expect.min(cap));
    let mut bar: Option<Ranked<'a>> = None;
    for (tag, count) in counts {
        if bar.as_ref().is_some_and(|b| !b.beaten_by(count, tag)) {
            continue;
        }
        buf.push(Ranked::new(count, tag));
        if buf.len() >= cap {
            buf.select_nth_unstable(k - 1);
            buf.truncate(k);
            bar = buf.last().copied();
        }
    }
    if buf.len() > k {
        buf.select_nth_unstable(k - 1);
        buf.truncate(k);
    }
    buf.sort_unstable();
    buf.into_iter().map(|r| row(r.tag, r.count)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn owned(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|&(t, n)| (t.to_owned(), n)).collect()
    }

    #[test]
    fn count_descending_then_tag_bytes_ascending() {
        let counts = [
            ("b", 2),
            ("a", 2),
            ("c", 9),
            ("ab", 2),
            ("B", 2),
            ("é", 2),
            ("z", 1),
        ];
        assert_eq!(
            top_k(counts, 10),
            owned(&[
                ("c", 9),
                ("B", 2),
                ("a", 2),
                ("ab", 2),
                ("b", 2),
                ("é", 2),
                ("z", 1)
            ])
        );
    }

    #[test]
    fn ties_at_rank_k_are_cut_by_tag() {
        let counts = [("d", 1), ("c", 1), ("b", 1), ("a", 1), ("e", 5)];
        assert_eq!(top_k(counts, 3), owned(&[("e", 5), ("a", 1), ("b", 1)]));
        // Same answer whatever the input order.
        let reversed = [("e", 5), ("a", 1), ("b", 1), ("c", 1), ("d", 1)];
        assert_eq!(top_k(reversed, 3), owned(&[("e", 5), ("a", 1), ("b", 1)]));
    }

    #[test]
    fn small_inputs_and_k_zero() {
        assert!(top_k([("a", 1)], 0).is_empty());
        assert!(top_k(std::iter::empty(), 3).is_empty());
        assert_eq!(top_k([("a", 1)], 3), owned(&[("a", 1)]));
    }

    /// `top_k` of `counts` against a full sort of them.
    fn agrees(counts: &BTreeMap<String, u64>, k: usize) -> Result<(), TestCaseError> {
        let mut sorted: Vec<(String, u64)> = counts.clone().into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sorted.truncate(k);
        prop_assert_eq!(
            top_k(counts.iter().map(|(t, &n)| (t.as_str(), n)), k),
            sorted
        );
        Ok(())
    }

    proptest! {
        /// The selection agrees with a full sort.
        #[test]
        fn agrees_with_a_full_sort(
            counts in proptest::collection::btree_map("[a-c]{0,3}", 0u64..5, 0..40),
            k in 0usize..8,
        ) {
            agrees(&counts, k)?;
        }

        /// Tags longer than the 8-byte prefix, sharing it, and holding NUL bytes (where a
        /// zero-padded prefix ties with a real one) still rank by their whole bytes.
        #[test]
        fn prefixes_never_decide_wrongly(
            counts in proptest::collection::btree_map("#[a\u{0}]{0,12}", 0u64..3, 0..60),
            k in 0usize..70,
        ) {
            agrees(&counts, k)?;
        }
    }
}
