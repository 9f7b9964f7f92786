//! Keys to columns, fast: rows of one stream usually list their keys in
//! the same order, so the key -> column map is cached by key position
//! (`lookup`), and a row whose keys repeat a cached order that names every
//! column exactly once goes straight into the columns (`row_in_order`).

use simd_json::Node;

use super::{count, number_text, JsonDecoder, NO_SLOT};

impl JsonDecoder {
    /// Fast path for an object whose keys are those of the row before, in
    /// the same order, when that order names every column exactly once
    /// (`in_order`; unknown keys aside): each value goes straight into its
    /// column, with no slots and no search. Returns false, with nothing
    /// written, when a key differs or a value fails: the general path then
    /// redoes the row and reports the first failing column in column order.
    pub(super) fn row_in_order(
        &mut self,
        nodes: &[Node<'_>],
        idx: usize,
        len: usize,
        raw: &[u8],
    ) -> bool {
        if !self.in_order || len != self.key_cache.len() {
            return false;
        }
        let base = self.tape_base;
        let mut j = idx + 1;
        for (cached, col) in &self.key_cache {
            let Node::String(key) = nodes[j] else {
                unreachable!("object keys are strings on the tape")
            };
            let v = j + 1;
            let ok = same_key(cached.as_bytes(), key.as_bytes())
                && col.is_none_or(|c| {
                    self.batch.cols[c]
                        .push_json(&nodes[v], || number_text(nodes, v, raw, base))
                        .is_ok()
                });
            if !ok {
                self.batch.rollback();
                return false;
            }
            j = v + count(&nodes[v]);
        }
        true
    }

    /// After the general path placed an object's `len` keys: may the next
    /// row with the same keys take `row_in_order`? Only if the cache now
    /// describes exactly this object and every column got exactly one key
    /// (all slots set, as many known keys as columns: no duplicates).
    pub(super) fn note_order(&mut self, len: usize) {
        self.key_cache.truncate(len);
        self.in_order = self.key_cache.len() == len
            && self.slots.iter().all(|&j| j != NO_SLOT)
            && self.key_cache.iter().filter(|(_, c)| c.is_some()).count() == self.slots.len();
    }

    /// Column of the `k`th key of an object, cached by key position.
    pub(super) fn lookup(&mut self, k: usize, key: &str) -> Option<usize> {
        if let Some((cached, col)) = self.key_cache.get(k) {
            if same_key(cached.as_bytes(), key.as_bytes()) {
                return *col;
            }
        }
        let col = self.table.column_index(key);
        if k < self.key_cache.len() {
            self.key_cache[k] = (key.to_string(), col);
        } else if k == self.key_cache.len() && k < self.slots.len() * 2 + 8 {
            self.key_cache.push((key.to_string(), col));
        }
        col
    }
}

/// Are two (short) keys equal? Inline, with two overlapping loads for
/// keys up to 16 bytes: a `memcmp` call per key cost more than the
/// comparison, and a byte loop's exit is hard to predict.
pub(super) fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // The first and the last `W` bytes of each, as integers.
    macro_rules! ends {
        ($t:ty, $w:expr) => {{
            let w = |s: &[u8], at: usize| <$t>::from_ne_bytes(s[at..at + $w].try_into().unwrap());
            w(a, 0) == w(b, 0) && w(a, n - $w) == w(b, n - $w)
        }};
    }
    match n {
        0 => true,
        1 => a[0] == b[0],
        2..=3 => ends!(u16, 2),
        4..=7 => ends!(u32, 4),
        8..=16 => ends!(u64, 8),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::same_key;

    /// `same_key` picks its loads by length; every length up to past the
    /// widest, with a difference at the start, middle or end, agrees with
    /// plain slice equality.
    #[test]
    fn same_key_agrees_with_slice_equality() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..40usize {
            for m in 0..40 {
                for flip in [None, Some(0), Some(n / 2), Some(n.saturating_sub(1))] {
                    let a = &base[..n];
                    let mut b = base[..m].to_vec();
                    if let Some(k) = flip.filter(|&k| k < m) {
                        b[k] ^= 1;
                    }
                    assert_eq!(same_key(a, &b), a == &b[..], "{n} {m} {flip:?}");
                }
            }
        }
    }
}
