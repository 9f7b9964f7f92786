//! Many newline-delimited objects per simd-json call.
//!
//! For records of ~100-200 bytes, simd-json's per-call set-up (stage-1
//! blocks, buffer resets, the terminator dance) costs about as much as the
//! parse itself. So the complete lines of a chunk that start with `{` are
//! copied once into the scratch buffer as `[line1,line2,...]` (each newline
//! becomes a comma) and parsed in one call; the tape's top-level elements
//! are then walked one by one, exactly as `fast_line` walks a lone line.
//!
//! The group is used only when it provably holds the same values the
//! per-line path would find: the parse succeeds, there are exactly as many
//! elements as lines, none is too deep, and each element is an object whose
//! first key's opening quote is preceded in its line only by `{` and
//! whitespace. That last check pins each element's start to its line's
//! start; with the counts equal, the comma between two elements can only be
//! the newline's comma, so each element also ends where its line ends (see
//! `starts_at`). Anything else (a bad record, an empty object, a key with
//! escapes, a positional array) sends the whole group to the per-line path,
//! which then reports errors exactly as before.

use simd_json::{fill_tape_padded, Node, Tape, INPUT_PADDING};

use super::{count, too_deep, JsonDecoder};

/// Most lines per simd-json call: enough to amortise the set-up, few
/// enough that a group with one bad line wastes little.
pub(super) const GROUP_LINES: usize = 128;

/// One line of a group: its value is `chunk[start..start + len]` (trimmed),
/// at `at` in the scratch copy.
#[derive(Clone, Copy)]
pub(super) struct Line {
    pub(super) start: usize,
    pub(super) len: usize,
    /// The newline that ends the line.
    pub(super) nl: usize,
    pub(super) at: usize,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl JsonDecoder {
    /// Decode the group of lines starting at `chunk[i..]` in one parse.
    /// `Ok(consumed)`, or `Err(end)`: the lines up to `end` must go through
    /// the per-line path (so must a lone line: one parse gains nothing).
    pub(super) fn group(&mut self, chunk: &[u8], i: usize) -> Result<usize, usize> {
        let end = self.gather(chunk, i);
        if self.lines.len() < 2 {
            return Err(end);
        }
        self.copy_group(chunk);
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let len = scratch.len() - INPUT_PADDING;
        let base = scratch.as_ptr() as usize;
        let ok = fill_tape_padded(&mut scratch, len, &mut self.buffers, &mut tape).is_ok()
            && self.verify(&tape.0, chunk, base);
        let r = if ok {
            if self.columnar(&tape.0, chunk, i, base) {
                Ok(end - i)
            } else {
                Ok(self.walk_group(&tape.0, chunk, i, base))
            }
        } else {
            Err(end)
        };
        self.tape = tape.reset();
        self.scratch = scratch;
        r
    }

    /// Find the complete lines from `chunk[i..]` that may be grouped;
    /// returns the end of the last (or `i` when there is none).
    pub(super) fn gather(&mut self, chunk: &[u8], i: usize) -> usize {
        self.lines.clear();
        let room = self.rows_max.saturating_sub(self.batch.rows()).max(1);
        let max = GROUP_LINES.min(room);
        // `from`: where the next line's leading whitespace starts.
        let mut from = i;
        // The group ends with the row that would fill the batch by bytes.
        let mut bytes = self.batch_bytes;
        let mut newlines = memchr::memchr_iter(b'\n', &chunk[i..]).map(|p| p + i);
        while self.lines.len() < max {
            let Some(start) = (from..chunk.len()).find(|&k| !is_ws(chunk[k])) else {
                break;
            };
            // Newlines before `start` belong to blank lines; skip them.
            let Some(nl) = newlines.by_ref().find(|&p| p > start) else {
                break;
            };
            let len = chunk[start..nl]
                .iter()
                .rposition(|&b| !is_ws(b))
                .map_or(0, |p| p + 1);
            if chunk[start] != b'{' || len > self.record_bytes_max {
                break;
            }
            self.lines.push(Line {
                start,
                len,
                nl,
                at: 0,
            });
            from = start + len;
            bytes += len;
            if bytes >= self.bytes_max {
                break;
            }
        }
        self.lines.last().map_or(i, |l| l.start + l.len)
    }

    /// Copy the gathered lines into `scratch` as a padded JSON array.
    fn copy_group(&mut self, chunk: &[u8]) {
        let first = self.lines[0].start;
        let last = self.lines[self.lines.len() - 1];
        let end = last.start + last.len;
        // One copy of the whole span; the newline ending each line but the
        // last becomes the separating comma (other whitespace, blank lines
        // included, stays JSON whitespace, as the per-line path skips it).
        let s = &mut self.scratch;
        s.clear();
        s.push(b'[');
        s.extend_from_slice(&chunk[first..end]);
        let n = self.lines.len();
        for (k, line) in self.lines.iter_mut().enumerate() {
            line.at = 1 + line.start - first;
            if k + 1 < n {
                s[1 + line.nl - first] = b',';
            }
        }
        s.push(b']');
        s.resize(s.len() + INPUT_PADDING, b' ');
    }

    /// Does the parsed group hold exactly one object per line, none too
    /// deep? `base` is the address of the scratch copy.
    fn verify(&mut self, nodes: &[Node<'_>], chunk: &[u8], base: usize) -> bool {
        match nodes.first() {
            Some(Node::Array { len, .. }) if *len == self.lines.len() => {}
            _ => return false,
        }
        // The outer array adds one level.
        if too_deep(nodes, self.depth_max + 1, &mut self.depth_stack) {
            return false;
        }
        let mut idx = 1;
        for line in &self.lines {
            if !starts_at(nodes, idx, line, chunk, base) {
                return false;
            }
            idx += count(&nodes[idx]);
        }
        true
    }

    /// Walk each element as its own top-level value; returns bytes of
    /// `chunk` consumed from `i` (less than the group when the batch fills).
    fn walk_group(&mut self, nodes: &[Node<'_>], chunk: &[u8], i: usize, base: usize) -> usize {
        let mut idx = 1;
        let mut prev_end = i;
        for k in 0..self.lines.len() {
            let line = self.lines[k];
            let n = count(&nodes[idx]);
            let raw = &chunk[line.start..line.start + line.len];
            self.sp.pos += (line.start - prev_end) as u64;
            self.sp.value_offset = self.sp.pos;
            self.sp.pos += line.len as u64;
            self.batch_bytes += line.len;
            // `number_text` finds a key in `raw` by its address in the copy.
            self.tape_base = base + line.at;
            self.walk(&nodes[idx..idx + n], raw);
            self.check_full();
            prev_end = line.start + line.len;
            idx += n;
            if self.full {
                break;
            }
        }
        prev_end - i
    }
}

/// Does the element at `nodes[idx]` start where `line` starts? It must be
/// an object whose first key sits in the scratch copy at its original place
/// (`base` + `line.at` is the line's copy) with only whitespace between the
/// line's `{` and the key's opening quote: that quote is structural, so the
/// `{` before it opens this element. (The line's text in `chunk` is the
/// same as its copy up to the key, which the parse does not rewrite.)
fn starts_at(nodes: &[Node<'_>], idx: usize, line: &Line, chunk: &[u8], base: usize) -> bool {
    let (Node::Object { len: 1.., .. }, Some(Node::String(key))) = (nodes[idx], nodes.get(idx + 1))
    else {
        return false;
    };
    let off = (key.as_ptr() as usize)
        .wrapping_sub(base)
        .wrapping_sub(line.at);
    if off < 2 || off >= line.len {
        return false;
    }
    let text = &chunk[line.start..line.start + off];
    text[off - 1] == b'"' && text[1..off - 1].iter().all(|&b| is_ws(b))
}
