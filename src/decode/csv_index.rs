//! The structural index of the CSV splitter: each 64-byte block of a chunk
//! becomes bitmasks of its `,` `\n` `\r` and `"` bytes (bit k is byte k),
//! so that the splitter walks separators with `trailing_zeros` instead of
//! searching for each one (the approach of simdcsv and simdjson).
//!
//! Quotes: the prefix XOR of the quote mask marks the bytes inside quotes
//! (a `""` escape toggles twice and leaves the parity right), so
//! separators inside quotes drop out. That model agrees with csv-core only
//! while every `"` opens a field, closes it right before a separator, or is
//! half of a `""` escape inside a quoted field (`Structure::escapes`);
//! `Block::anomalies` marks every other `"` (and line breaks inside quotes),
//! and the splitter leaves such records to its state machine.

/// The classified bytes of one block.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(super) struct Block {
    /// The field delimiter (`,` unless `delimiter=` says otherwise).
    pub(super) comma: u64,
    /// `\n` and `\r`: the splitter tells them apart by the byte itself,
    /// only at record ends.
    pub(super) breaks: u64,
    pub(super) quote: u64,
}

/// Bytes per block (one bit each in a `u64`).
pub(super) const BLOCK: usize = 64;

impl Block {
    /// Classify `chunk[at..at + 64]`; bytes past the chunk's end read as
    /// no structural byte (padding of 0, or 1 when the delimiter is NUL,
    /// which `delimiter=%00` allows). `avx2`: the CPU has it (`has_avx2`).
    #[inline(always)]
    pub(super) fn at(chunk: &[u8], at: usize, delim: u8, avx2: bool) -> Block {
        match chunk.get(at..at + BLOCK) {
            Some(b) => classify(b.try_into().unwrap(), delim, avx2),
            None => {
                let mut pad = [u8::from(delim == 0); BLOCK];
                let rest = &chunk[at.min(chunk.len())..];
                pad[..rest.len()].copy_from_slice(rest);
                classify(&pad, delim, avx2)
            }
        }
    }
}

/// Does the CPU have AVX2, BMI1, BMI2 and PCLMULQDQ (the features
/// `CsvDecoder::index_records_avx2` is compiled for; real AVX2 CPUs have
/// all four, but a VM may hide some, so each is asked)? Asked once per
/// decoder: the answers are cached by std, but the index asks per block.
#[cfg(target_arch = "x86_64")]
pub(super) fn has_avx2() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx2") && has!("bmi1") && has!("bmi2") && has!("pclmulqdq")
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) fn has_avx2() -> bool {
    false
}

/// Classify 64 bytes: AVX2 when the CPU has it (two 32-byte compares per
/// character instead of four 16-byte ones; the harness's 1 MiB CSV body
/// fell from 22.4 M to 21.9 M instructions), else SSE2 (baseline on
/// x86_64). `\n` and `\r` share one mask, so three movemasks per vector.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify(b: &[u8; BLOCK], delim: u8, avx2: bool) -> Block {
    if avx2 {
        // SAFETY: `avx2` is true only when the CPU reported AVX2.
        return unsafe { classify_avx2(b, delim) };
    }
    classify_sse2(b, delim)
}

/// 16 bytes per compare; `movemask` gathers one bit per byte.
#[cfg(target_arch = "x86_64")]
#[inline]
fn classify_sse2(b: &[u8; BLOCK], delim: u8) -> Block {
    use std::arch::x86_64::*;
    let mut out = Block::default();
    for (q, part) in b.chunks_exact(16).enumerate() {
        // SAFETY: `part` is 16 readable bytes and `loadu` has no alignment
        // requirement; these SSE2 intrinsics are in the x86_64 baseline.
        let (comma, breaks, quote) = unsafe {
            let v = _mm_loadu_si128(part.as_ptr().cast());
            let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
            let breaks = _mm_or_si128(eq(b'\n'), eq(b'\r'));
            (
                _mm_movemask_epi8(eq(delim)) as u16,
                _mm_movemask_epi8(breaks) as u16,
                _mm_movemask_epi8(eq(b'"')) as u16,
            )
        };
        let at = 16 * q;
        out.comma |= u64::from(comma) << at;
        out.breaks |= u64::from(breaks) << at;
        out.quote |= u64::from(quote) << at;
    }
    out
}

/// `classify_sse2` on 32 bytes per compare.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn classify_avx2(b: &[u8; BLOCK], delim: u8) -> Block {
    use std::arch::x86_64::*;
    let mut out = Block::default();
    for (q, part) in b.chunks_exact(32).enumerate() {
        // SAFETY: `part` is 32 readable bytes, `loadu` has no alignment
        // requirement, and the caller guarantees AVX2.
        let (comma, breaks, quote) = unsafe {
            let v = _mm256_loadu_si256(part.as_ptr().cast());
            let eq = |c: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8));
            let breaks = _mm256_or_si256(eq(b'\n'), eq(b'\r'));
            (
                _mm256_movemask_epi8(eq(delim)) as u32,
                _mm256_movemask_epi8(breaks) as u32,
                _mm256_movemask_epi8(eq(b'"')) as u32,
            )
        };
        let at = 32 * q;
        out.comma |= u64::from(comma) << at;
        out.breaks |= u64::from(breaks) << at;
        out.quote |= u64::from(quote) << at;
    }
    out
}

/// The portable classification elsewhere.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn classify(b: &[u8; BLOCK], delim: u8, _avx2: bool) -> Block {
    classify_swar(b, delim)
}

/// Portable classification: eight bytes per word; a byte equal to `c`
/// becomes 0x80 (exact zero-byte test), then the high bits are gathered.
/// Compiled everywhere so the tests check it on x86_64 too.
#[cfg_attr(target_arch = "x86_64", allow(dead_code, reason = "tested fallback"))]
#[inline]
fn classify_swar(b: &[u8; BLOCK], delim: u8) -> Block {
    let mut out = Block::default();
    for (q, part) in b.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(part.try_into().unwrap());
        let bits = |c: u8| swar_eq(w, c) << (8 * q);
        out.comma |= bits(delim);
        out.breaks |= bits(b'\n') | bits(b'\r');
        out.quote |= bits(b'"');
    }
    out
}

/// One bit per byte of `w` that equals `c` (bit k for byte k).
#[cfg_attr(target_arch = "x86_64", allow(dead_code, reason = "tested fallback"))]
#[inline]
fn swar_eq(w: u64, c: u8) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let x = w ^ (u64::from(c) * 0x0101_0101_0101_0101);
    let high = !(((x & LOW7) + LOW7) | x | LOW7);
    // Move each byte's 0x80 bit to bit k: multiply gathers them in the top
    // byte (no carries: at most one bit per byte).
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Bit k set when an odd number of bits of `x` are set at or below k.
/// `clmul`: use PCLMULQDQ, one carry-less multiply by all ones instead of
/// six shift-XOR steps.
///
/// # Safety
/// With `clmul`, the CPU must have PCLMULQDQ (`has_avx2` asks for it).
#[inline(always)]
pub(super) unsafe fn prefix_xor(x: u64, clmul: bool) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if clmul {
        // SAFETY: the caller guarantees PCLMULQDQ when `clmul`.
        return unsafe { prefix_xor_clmul(x) };
    }
    let _ = clmul;
    prefix_xor_shifts(x)
}

/// `prefix_xor` with PCLMULQDQ: the low half of `x` times all ones is, at
/// bit k, the XOR of bits 0..=k of `x`.
///
/// # Safety
/// The CPU must have PCLMULQDQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
#[inline]
unsafe fn prefix_xor_clmul(x: u64) -> u64 {
    use std::arch::x86_64::*;
    let p = _mm_clmulepi64_si128(_mm_cvtsi64_si128(x as i64), _mm_set1_epi8(-1), 0);
    _mm_cvtsi128_si64(p) as u64
}

/// `prefix_xor` by shifts.
#[inline]
fn prefix_xor_shifts(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// A block's structure under the quote model, given what the previous block
/// left: whether it ended inside quotes, and whether its last byte ended a
/// field (or the block starts a record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Structure {
    /// `,` `\n` `\r` outside quotes.
    pub(super) sep: u64,
    /// Bytes the fast path cannot take: a `"` that neither opens a field
    /// nor closes one right before a separator nor is half of a `""`
    /// escape, a line break inside quotes.
    pub(super) anomalies: u64,
    /// The first quote of each `""` escape inside a quoted field: the
    /// model sees it close the field with the second quote reopening it
    /// right away. (A pair split across two blocks stays two anomalies.)
    pub(super) escapes: u64,
    /// Does the block end inside quotes?
    pub(super) in_quotes: bool,
    /// Is the block's last byte a separator?
    pub(super) ends_field: bool,
}

impl Block {
    /// `in_quotes`/`field_start` describe the previous block (see
    /// `Structure`). `next_sep` tells whether the byte after the block is a
    /// separator (for a closing quote in the last byte). `clmul`: see
    /// `prefix_xor`.
    ///
    /// # Safety
    /// As `prefix_xor`'s.
    #[inline(always)]
    pub(super) unsafe fn structure(
        &self,
        in_quotes: bool,
        field_start: bool,
        next_sep: bool,
        clmul: bool,
    ) -> Structure {
        // SAFETY: the caller's guarantee is `prefix_xor`'s.
        let inside = unsafe { prefix_xor(self.quote, clmul) } ^ if in_quotes { !0 } else { 0 };
        let breaks = self.breaks;
        let sep = (self.comma | breaks) & !inside;
        // Bits of `inside` set on an opening quote and the bytes it quotes,
        // clear on the closing quote.
        let open = self.quote & inside;
        let close = self.quote & !inside;
        let starts = (sep << 1) | u64::from(field_start);
        let before_sep = (sep >> 1) | (u64::from(next_sep) << 63);
        // A quote that closes with the next byte reopening: an escape. Any
        // other misplaced quote in the record is still an anomaly, so a
        // pair is only taken inside a field that opened at its start.
        let escapes = close & (open >> 1);
        let paired = escapes | (escapes << 1);
        let anomalies = ((open & !starts) | (close & !before_sep)) & !paired | (breaks & inside);
        Structure {
            sep,
            anomalies,
            escapes,
            in_quotes: inside >> 63 != 0,
            ends_field: sep >> 63 != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-by-byte reference classification.
    fn slow(b: &[u8], delim: u8) -> Block {
        let mut out = Block::default();
        for (k, &c) in b.iter().enumerate() {
            let bit = 1u64 << k;
            match c {
                c if c == delim => out.comma |= bit,
                b'\n' | b'\r' => out.breaks |= bit,
                b'"' => out.quote |= bit,
                _ => {}
            }
        }
        out
    }

    #[test]
    fn classify_matches_bytewise() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let alphabet = b",\n\r\"a;\x00\xff\x2c\x8c";
        for len in [0usize, 1, 7, 8, 15, 16, 17, 63, 64, 65, 200] {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        alphabet[(seed % alphabet.len() as u64) as usize]
                    })
                    .collect();
                for at in (0..=len).step_by(5) {
                    let end = (at + BLOCK).min(len);
                    for delim in [b',', b';', 0] {
                        let want = slow(&bytes[at..end], delim);
                        // SSE2, AVX2 (when this CPU has it) and SWAR.
                        for avx2 in [false, has_avx2()] {
                            let got = Block::at(&bytes, at, delim, avx2);
                            assert_eq!(got, want, "{bytes:?} at {at}, avx2 {avx2}");
                        }
                        let mut pad = [u8::from(delim == 0); BLOCK];
                        pad[..end - at].copy_from_slice(&bytes[at..end]);
                        assert_eq!(classify_swar(&pad, delim), want, "{bytes:?} at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn swar_matches_bytewise() {
        let w = u64::from_le_bytes(*b",a,\"\n\r,\xac");
        assert_eq!(swar_eq(w, b','), 0b0100_0101);
        assert_eq!(swar_eq(w, b'"'), 0b0000_1000);
        assert_eq!(swar_eq(w, b'\n'), 0b0001_0000);
        assert_eq!(swar_eq(w, b'\r'), 0b0010_0000);
        assert_eq!(swar_eq(w, b'x'), 0);
    }

    #[test]
    fn prefix_xor_is_running_parity() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let random = std::iter::repeat_with(move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        });
        let fixed = [
            0u64,
            1,
            0b1001,
            0x8000_0000_0000_0001,
            !0,
            0xDEAD_BEEF_0BAD_F00D,
        ];
        for x in fixed.into_iter().chain(random.take(2000)) {
            let mut parity = false;
            let mut want = 0u64;
            for k in 0..64 {
                parity ^= x >> k & 1 == 1;
                want |= u64::from(parity) << k;
            }
            for clmul in [false, has_avx2()] {
                // SAFETY: `clmul` only when the CPU has it.
                let got = unsafe { prefix_xor(x, clmul) };
                assert_eq!(got, want, "{x:#x} {clmul}");
            }
        }
    }

    #[test]
    fn quote_anomalies() {
        // (block text, expected anomaly positions) from a record start.
        let cases: &[(&[u8], &[usize])] = &[
            (b"a,\"b,c\",d\n", &[]),
            (b"\"\",x\n", &[]),
            // The stray quote also opens a "quoted" run: the line break after it
            // is inside quotes for the model.
            (b"a\"b,c\n", &[1, 5]),
            // An escaped quote inside a quoted field is no anomaly...
            (b"\"a\"\"b\",c\n", &[]),
            (b"\"\"\"\",c\n", &[]),
            (b"\"a\"\"\"\"\",c\n", &[]),
            // ...but a quote pair in an unquoted field is.
            (b"a\"\"b,c\n", &[1, 2]),
            // An escape left open: the line break is inside quotes.
            (b"\"a\"\",c\n", &[6]),
            (b"\"ab\"c,d\n", &[3]),
            (b"\"a\nb\",c\n", &[2]),
            (b"\"a\r\nb\",c\n", &[2, 3]),
        ];
        for (text, want) in cases {
            let block = Block::at(text, 0, b',', has_avx2());
            // SAFETY: `clmul` only when the CPU has it.
            let s = unsafe { block.structure(false, true, false, has_avx2()) };
            let got: Vec<usize> = (0..64).filter(|k| s.anomalies >> k & 1 == 1).collect();
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn escape_pairs() {
        // (block text, first quotes of the `""` escapes) from a record start.
        let cases: &[(&[u8], &[usize])] = &[
            (b"a,\"b,c\",d\n", &[]),
            (b"\"a\"\"b\",c\n", &[2]),
            (b"\"\"\"\",c\n", &[1]),
            (b"x,\"a\"\"\"\"\"\n", &[4, 6]),
            (b"\"\",x\n", &[]),
        ];
        for (text, want) in cases {
            let block = Block::at(text, 0, b',', has_avx2());
            // SAFETY: `clmul` only when the CPU has it.
            let s = unsafe { block.structure(false, true, false, has_avx2()) };
            let got: Vec<usize> = (0..64).filter(|k| s.escapes >> k & 1 == 1).collect();
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
