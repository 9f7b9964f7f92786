//! Completion tokens and the watermarks that resolve them.
//!
//! Positions are counted per *lane*: a lane is (table, sending shard). A
//! shard that decodes a request for a table assigns each batch it sends the
//! next positions in its own lane, and the owner applies each lane's batches
//! in the order they were sent (one FIFO channel per shard pair). So the
//! owner can publish, per lane, "every position below N is applied" as a
//! single atomic, and a token (lane, N) is complete exactly when that atomic
//! reaches N. No reply message is needed, and any shard can answer
//! `completion_status` with one atomic load.

mod watermark;

pub use watermark::{Lanes, PaddedU64};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Encoded token length: 1 version + 8 run + 4 pipeline + 2 table + 2 lane
/// + 8 position bytes.
const TOKEN_BYTES: usize = 25;
const TOKEN_VERSION: u8 = 1;
/// Base64 (no padding) of `TOKEN_BYTES`: 4 characters per 3 bytes, rounded up.
const TOKEN_CHARS: usize = (TOKEN_BYTES * 4).div_ceil(3);
const _: () = assert!(TOKEN_CHARS == 34);

/// What a token names. Opaque to clients (URL-safe base64, no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Random per server run: a token from another run is recognised (410).
    pub run_id: u64,
    /// Hash of the pipeline name: a token from another pipeline is 410.
    pub pipeline_id: u32,
    pub table: u16,
    pub lane: u16,
    /// Lane position just after the request's last record.
    pub position: u64,
}

/// A token that cannot be decoded at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedToken;

impl Token {
    pub fn encode(&self) -> String {
        let mut out = Vec::with_capacity(TOKEN_CHARS);
        self.encode_into(&mut out);
        String::from_utf8(out).expect("base64 is ASCII")
    }

    /// Append the encoded token to `out` (no allocation when it has room).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut b = [0u8; TOKEN_BYTES];
        b[0] = TOKEN_VERSION;
        b[1..9].copy_from_slice(&self.run_id.to_le_bytes());
        b[9..13].copy_from_slice(&self.pipeline_id.to_le_bytes());
        b[13..15].copy_from_slice(&self.table.to_le_bytes());
        b[15..17].copy_from_slice(&self.lane.to_le_bytes());
        b[17..25].copy_from_slice(&self.position.to_le_bytes());
        out.extend_from_slice(&base64url(&b));
    }

    /// Decoding stays with the `base64` crate: it runs only on
    /// `completion_status`, and it must reject every malformed input.
    pub fn decode(text: &str) -> Result<Token, MalformedToken> {
        // 25 bytes encode to 34 characters; anything else is not ours.
        if text.len() != TOKEN_CHARS {
            return Err(MalformedToken);
        }
        let mut b = [0u8; TOKEN_BYTES + 2];
        let n = URL_SAFE_NO_PAD
            .decode_slice(text.as_bytes(), &mut b)
            .map_err(|_| MalformedToken)?;
        if n != TOKEN_BYTES || b[0] != TOKEN_VERSION {
            return Err(MalformedToken);
        }
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        let u16_at = |i: usize| u16::from_le_bytes(b[i..i + 2].try_into().unwrap());
        Ok(Token {
            run_id: u64_at(1),
            pipeline_id: u32::from_le_bytes(b[9..13].try_into().unwrap()),
            table: u16_at(13),
            lane: u16_at(15),
            position: u64_at(17),
        })
    }
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// URL-safe base64 without padding of a token's bytes, by hand rather than
/// with the `base64` crate (which decodes them): every ingest answer encodes
/// one, and the crate's general encoder took ~300 instructions a token,
/// 2% of a one-row request (`loadtest/request-instructions.sh`), for what
/// is eight 3-byte groups and one byte. A test holds it to the crate's output.
fn base64url(b: &[u8; TOKEN_BYTES]) -> [u8; TOKEN_CHARS] {
    let mut c = [0u8; TOKEN_CHARS];
    // Constant bounds, so the compiler unrolls it and checks no index.
    for i in 0..TOKEN_BYTES / 3 {
        let n = u32::from(b[3 * i]) << 16 | u32::from(b[3 * i + 1]) << 8 | u32::from(b[3 * i + 2]);
        c[4 * i] = BASE64URL[(n >> 18) as usize & 63];
        c[4 * i + 1] = BASE64URL[(n >> 12) as usize & 63];
        c[4 * i + 2] = BASE64URL[(n >> 6) as usize & 63];
        c[4 * i + 3] = BASE64URL[n as usize & 63];
    }
    // 25 = 8 * 3 + 1: the last byte gives two characters, unpadded.
    let last = b[TOKEN_BYTES - 1];
    c[TOKEN_CHARS - 2] = BASE64URL[usize::from(last >> 2)];
    c[TOKEN_CHARS - 1] = BASE64URL[usize::from(last & 3) << 4];
    c
}

/// FNV-1a of a pipeline name: stable across runs, so a token names its
/// pipeline without carrying the name.
pub fn pipeline_id(name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_url_safe() {
        let t = Token {
            run_id: u64::MAX - 7,
            pipeline_id: pipeline_id("demo"),
            table: 3,
            lane: 1,
            position: 1 << 40,
        };
        let s = t.encode();
        assert_eq!(s.len(), 34);
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Token::decode(&s), Ok(t));
    }

    /// The hand-written encoder against the `base64` crate's, on seeded
    /// random tokens and on all-zero and all-ones bytes (every character
    /// index, both ends of each 6-bit group); each also decodes back.
    #[test]
    fn encoder_matches_the_base64_crate() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut cases = vec![[0u8; TOKEN_BYTES], [0xff; TOKEN_BYTES]];
        for _ in 0..10_000 {
            let mut b = [0u8; TOKEN_BYTES];
            b.iter_mut().for_each(|v| *v = next() as u8);
            cases.push(b);
        }
        for b in cases {
            let ours = base64url(&b);
            assert_eq!(ours.as_slice(), URL_SAFE_NO_PAD.encode(b).as_bytes());
            let mut back = [0u8; TOKEN_BYTES + 2];
            let n = URL_SAFE_NO_PAD.decode_slice(ours, &mut back).unwrap();
            assert_eq!(&back[..n], &b);
        }
        let t = Token {
            run_id: next(),
            pipeline_id: next() as u32,
            table: next() as u16,
            lane: next() as u16,
            position: next(),
        };
        assert_eq!(Token::decode(&t.encode()), Ok(t));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = Token {
            run_id: 1,
            pipeline_id: 2,
            table: 0,
            lane: 0,
            position: 9,
        }
        .encode();
        let mut wrong_version = good.clone().into_bytes();
        wrong_version[0] = b'B';
        for bad in [
            "",
            "abc",
            &good[1..],
            &format!("{good}A"),
            &good.replace(&good[..2], "+/"),
            std::str::from_utf8(&wrong_version).unwrap(),
        ] {
            assert_eq!(Token::decode(bad), Err(MalformedToken), "{bad}");
        }
    }
}
