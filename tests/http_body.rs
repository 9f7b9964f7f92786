//! Body decoding: chunked cases (valid and every rejection), each fed at
//! every split point; proptest for split invariance and a differential
//! round trip (random chunked encodings of a payload decode to it).

use proptest::prelude::*;
use sluice::http::body::{BodyDecoder, BodyError, CHUNK_EXT_BYTES_MAX, TRAILER_BYTES_MAX};
use sluice::http::head::Framing;

/// Decoded payload and the offset where the body ended (if it did).
type Outcome = Result<(Vec<u8>, Option<usize>), BodyError>;

/// Feeds `input` to a fresh decoder in pieces ending at `cuts`, looping
/// within each piece like the connection loop will.
fn decode_pieces(framing: Framing, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut decoder = BodyDecoder::new(framing);
    let mut payload = Vec::new();
    let mut at = 0;
    let ends = cuts.iter().copied().chain([input.len()]);
    for end in ends {
        let end = end.clamp(at, input.len());
        while at < end {
            let piece = &input[at..end];
            let p = decoder.decode(piece)?;
            assert!(p.data.end <= p.consumed && p.consumed <= piece.len());
            assert!(p.consumed > 0 || p.done, "no progress at {at}");
            payload.extend_from_slice(&piece[p.data]);
            at += p.consumed;
            if p.done {
                assert!(decoder.is_done());
                return Ok((payload, Some(at)));
            }
        }
    }
    // An empty body is done before any input.
    let p = decoder.decode(&[])?;
    Ok((payload, p.done.then_some(at)))
}

fn decode_whole(framing: Framing, input: &[u8]) -> Outcome {
    decode_pieces(framing, input, &[])
}

/// The outcome of `input` whole, checked equal when split at any one point
/// and when fed one byte at a time.
fn decode_every_split(framing: Framing, input: &[u8]) -> Outcome {
    let whole = decode_whole(framing, input);
    for cut in 0..=input.len() {
        assert_eq!(
            decode_pieces(framing, input, &[cut]),
            whole,
            "cut {cut} of {input:?}"
        );
    }
    let bytes: Vec<usize> = (0..input.len()).collect();
    assert_eq!(
        decode_pieces(framing, input, &bytes),
        whole,
        "byte at a time: {input:?}"
    );
    whole
}

#[test]
fn chunked_valid() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"0\r\n\r\n", b""),
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
        (
            b"5;name=value\r\nhello\r\n6 ; a ; b=\"q\"\r\n world\r\n0\r\n\r\n",
            b"hello world",
        ),
        (b"5\t;x\t\r\nhello\r\n0;last\r\n\r\n", b"hello"),
        (
            b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
            b"0123456789abcdefghij",
        ),
        (b"0005\r\nhello\r\n0000\r\n\r\n", b"hello"),
        (b"0000000000000005\r\nhello\r\n0\r\n\r\n", b"hello"),
        (
            b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\nY:\r\nZ: a b\t\xff\r\n\r\n",
            b"abc",
        ),
        (b"2\r\n\r\n\r\n0\r\n\r\n", b"\r\n"),
    ];
    for (input, payload) in cases {
        // Bytes after the body belong to the next request.
        let mut with_next = input.to_vec();
        with_next.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let got = decode_every_split(Framing::Chunked, &with_next);
        assert_eq!(got, Ok((payload.to_vec(), Some(input.len()))), "{input:?}");
    }
}

#[test]
fn chunked_invalid() {
    use BodyError as E;
    let cases: &[(&[u8], BodyError)] = &[
        (b"\r\n", E::ChunkSizeEmpty),
        (b";x\r\n", E::ChunkSizeEmpty),
        (b" 5\r\n", E::ChunkSizeEmpty),
        (b"\n", E::ChunkSizeEmpty),
        (b"+5\r\nhello\r\n", E::ChunkSizeInvalid),
        (b"-1\r\n", E::ChunkSizeInvalid),
        (b"0x5\r\nhello\r\n", E::ChunkSizeInvalid),
        (b"5 6\r\n", E::ChunkSizeInvalid),
        (b"5g\r\n", E::ChunkSizeInvalid),
        (b"00000000000000005\r\n", E::ChunkSizeTooLong),
        (b"10000000000000000\r\n", E::ChunkSizeTooLong),
        (b"5\nhello\r\n", E::LineEnding),
        (b"5\r\rhello\r\n", E::LineEnding),
        (b"5;a\nb\r\n", E::LineEnding),
        (b"5;a\rb\n", E::LineEnding),
        (b"5;a\0\r\n", E::ChunkExtensionInvalid),
        (b"5;a\x7f\r\n", E::ChunkExtensionInvalid),
        (b"5\r\nhelloX\r\n", E::ChunkDataUnterminated),
        (b"5\r\nhello\n0\r\n\r\n", E::ChunkDataUnterminated),
        (b"5\r\nhello\r0\r\n\r\n", E::ChunkDataUnterminated),
        (b"0\r\n\n", E::LineEnding),
        (b"0\r\n\rX", E::LineEnding),
        (b"0\r\nX: y\n\r\n", E::LineEnding),
        (b"0\r\nX: y\r\r\n", E::LineEnding),
        (b"0\r\n folded\r\n\r\n", E::TrailerInvalid),
        (b"0\r\nX: y\r\n folded\r\n\r\n", E::TrailerInvalid),
        (b"0\r\nX : y\r\n\r\n", E::TrailerInvalid),
        (b"0\r\n: y\r\n\r\n", E::TrailerInvalid),
        (b"0\r\nX\r\n\r\n", E::TrailerInvalid),
        (b"0\r\nX: a\0\r\n\r\n", E::TrailerInvalid),
    ];
    for (input, error) in cases {
        assert_eq!(
            decode_every_split(Framing::Chunked, input),
            Err(*error),
            "{input:?}"
        );
        assert_eq!(error.status(), 400);
    }
}

#[test]
fn chunked_extension_limit() {
    // The limit counts bytes from the first `;` (or BWS) to the CR.
    let line = |ext_bytes: usize| {
        let mut v = b"1;".to_vec();
        v.extend(std::iter::repeat_n(b'x', ext_bytes - 1));
        v.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
        v
    };
    let max = CHUNK_EXT_BYTES_MAX as usize;
    assert_eq!(
        decode_whole(Framing::Chunked, &line(max)),
        Ok((b"a".to_vec(), Some(max + 11)))
    );
    assert_eq!(
        decode_whole(Framing::Chunked, &line(max + 1)),
        Err(BodyError::ChunkExtensionTooLong)
    );
}

#[test]
fn chunked_trailer_limit() {
    // The limit counts the whole trailer section, its final CRLF included.
    let body = |trailer_bytes: usize| {
        let mut v = b"0\r\nX: ".to_vec();
        v.extend(std::iter::repeat_n(b'y', trailer_bytes - 7));
        v.extend_from_slice(b"\r\n\r\n");
        v
    };
    let max = TRAILER_BYTES_MAX as usize;
    assert_eq!(
        decode_whole(Framing::Chunked, &body(max)),
        Ok((vec![], Some(max + 3)))
    );
    assert_eq!(
        decode_whole(Framing::Chunked, &body(max + 1)),
        Err(BodyError::TrailerTooLong)
    );
}

#[test]
fn length_and_empty_bodies() {
    let input = b"hello worldNEXT";
    assert_eq!(
        decode_every_split(Framing::Length(11), input),
        Ok((b"hello world".to_vec(), Some(11)))
    );
    assert_eq!(
        decode_every_split(Framing::Length(0), input),
        Ok((vec![], Some(0)))
    );
    assert_eq!(
        decode_every_split(Framing::None, input),
        Ok((vec![], Some(0)))
    );
    assert_eq!(
        decode_every_split(Framing::Length(20), input),
        Ok((input.to_vec(), None))
    );
    let mut d = BodyDecoder::new(Framing::Length(u64::MAX));
    assert!(!d.decode(b"abc").unwrap().done);
    assert!(BodyDecoder::new(Framing::None).is_done());
    // Once done, the decoder consumes nothing more.
    let mut d = BodyDecoder::new(Framing::Chunked);
    assert!(d.decode(b"0\r\n\r\n").unwrap().done);
    let p = d.decode(b"more").unwrap();
    assert_eq!((p.consumed, p.data, p.done), (0, 0..0, true));
}

/// A chunked encoding of `payload`: sizes from `sizes` (cycled), with
/// random hex case, zero padding, extensions and trailers.
fn encode(payload: &[u8], sizes: &[usize], style: &Style) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = payload;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        size_line(&mut out, n, style, i);
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    size_line(&mut out, 0, style, i);
    for t in 0..style.trailers {
        out.extend_from_slice(format!("X-T{t}: v{t}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn size_line(out: &mut Vec<u8>, n: usize, style: &Style, i: usize) {
    let hex = format!("{:0width$x}", n, width = style.zero_pad + 1);
    let hex = if (style.upper >> (i % 8)) & 1 == 1 {
        hex.to_uppercase()
    } else {
        hex
    };
    out.extend_from_slice(hex.as_bytes());
    if (style.ext >> (i % 8)) & 1 == 1 {
        out.extend_from_slice(b" ;name=value;flag\t;q=\"a b\"");
    }
    out.extend_from_slice(b"\r\n");
}

#[derive(Debug)]
struct Style {
    zero_pad: usize,
    upper: u8,
    ext: u8,
    trailers: usize,
}

fn style() -> impl Strategy<Value = Style> {
    (0usize..8, any::<u8>(), any::<u8>(), 0usize..3).prop_map(|(zero_pad, upper, ext, trailers)| {
        Style {
            zero_pad,
            upper,
            ext,
            trailers,
        }
    })
}

proptest! {
    /// Differential round trip and split invariance for valid encodings.
    #[test]
    fn chunked_round_trip(
        payload in proptest::collection::vec(any::<u8>(), 0..600),
        sizes in proptest::collection::vec(1usize..300, 1..6),
        style in style(),
        cuts in proptest::collection::vec(0usize..2000, 0..12),
    ) {
        let mut input = encode(&payload, &sizes, &style);
        let end = input.len();
        input.extend_from_slice(b"POST /next HTTP/1.1\r\n");
        let mut cuts = cuts;
        cuts.sort_unstable();
        prop_assert_eq!(decode_pieces(Framing::Chunked, &input, &cuts), Ok((payload, Some(end))));
    }

    /// Any input (mostly invalid, from a framing-heavy alphabet): the same
    /// outcome, payload or error, whatever the split.
    #[test]
    fn chunked_split_invariance(
        input in proptest::collection::vec(proptest::sample::select(
            b"0123456789abcdefABX;= \t\r\n:\0".to_vec()), 0..80),
        cuts in proptest::collection::vec(0usize..80, 0..8),
    ) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let whole = decode_whole(Framing::Chunked, &input);
        prop_assert_eq!(decode_pieces(Framing::Chunked, &input, &cuts), whole);
    }

    /// A valid encoding with one byte changed: split-invariant too.
    #[test]
    fn chunked_mutation_split_invariance(
        payload in proptest::collection::vec(any::<u8>(), 0..100),
        sizes in proptest::collection::vec(1usize..40, 1..4),
        style in style(),
        at in any::<proptest::sample::Index>(),
        byte in any::<u8>(),
        cuts in proptest::collection::vec(0usize..400, 0..8),
    ) {
        let mut input = encode(&payload, &sizes, &style);
        let i = at.index(input.len());
        input[i] = byte;
        let mut cuts = cuts;
        cuts.sort_unstable();
        let whole = decode_whole(Framing::Chunked, &input);
        prop_assert_eq!(decode_pieces(Framing::Chunked, &input, &cuts), whole);
    }

    #[test]
    fn length_split_invariance(
        input in proptest::collection::vec(any::<u8>(), 0..300),
        n in 0u64..400,
        cuts in proptest::collection::vec(0usize..300, 0..8),
    ) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let take = (n as usize).min(input.len());
        let expected = (input[..take].to_vec(), (n as usize <= input.len()).then_some(take));
        prop_assert_eq!(decode_pieces(Framing::Length(n), &input, &cuts), Ok(expected));
    }
}
