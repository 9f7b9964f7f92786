//! Table-driven tests of the field parsers: each row is text -> expected.

use super::FieldError::*;
use super::*;

#[test]
fn booleans() {
    let cases: &[(&str, bool, FieldResult<bool>)] = &[
        ("true", false, Ok(true)),
        ("false", false, Ok(false)),
        ("TRUE", false, Err(Syntax)),
        ("TRUE", true, Ok(true)),
        ("False", true, Ok(false)),
        ("1", true, Err(Syntax)),
        ("", true, Err(Syntax)),
        ("truex", true, Err(Syntax)),
    ];
    for (text, ci, want) in cases {
        assert_eq!(parse_bool(text.as_bytes(), *ci), *want, "{text:?}");
    }
}

/// The word compare agrees with `eq_ignore_ascii_case` for every byte at
/// every position of both words (a byte folding onto a letter by accident
/// would show here).
#[test]
fn booleans_fold_exactly() {
    let reference = |s: &[u8], ci: bool| -> FieldResult<bool> {
        let eq = |w: &[u8]| {
            if ci {
                s.eq_ignore_ascii_case(w)
            } else {
                s == w
            }
        };
        if eq(b"true") {
            Ok(true)
        } else if eq(b"false") {
            Ok(false)
        } else {
            Err(Syntax)
        }
    };
    for word in [&b"true"[..], b"false", b"TRUE", b"False"] {
        for k in 0..word.len() {
            for b in 0..=255u8 {
                let mut s = word.to_vec();
                s[k] = b;
                for ci in [false, true] {
                    assert_eq!(parse_bool(&s, ci), reference(&s, ci), "{s:?} {ci}");
                }
            }
        }
    }
}

#[test]
fn integers() {
    let cases: &[(&str, FieldResult<i64>)] = &[
        ("0", Ok(0)),
        ("-0", Ok(0)),
        ("+17", Ok(17)),
        ("-9223372036854775808", Ok(i64::MIN)),
        ("9223372036854775807", Ok(i64::MAX)),
        ("9223372036854775808", Err(Overflow)),
        ("-9223372036854775809", Err(Overflow)),
        ("99999999999999999999x", Err(Syntax)),
        ("1.0", Err(Syntax)),
        ("1e3", Err(Syntax)),
        (" 1", Err(Syntax)),
        ("", Err(Syntax)),
        ("-", Err(Syntax)),
        ("0x10", Err(Syntax)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_i64(text.as_bytes()), *want, "{text:?}");
    }
    assert_eq!(parse_int::<i8>(b"127"), Ok(127i8));
    assert_eq!(parse_int::<i8>(b"-128"), Ok(-128i8));
    assert_eq!(parse_int::<i8>(b"300"), Err(Overflow));
    assert_eq!(parse_int::<i16>(b"-32769"), Err(Overflow));
    assert_eq!(parse_int::<i32>(b"2147483647"), Ok(i32::MAX));
    assert_eq!(parse_int::<i32>(b"2147483648"), Err(Overflow));
}

#[test]
fn integers_around_19_digits() {
    let cases: &[(&str, FieldResult<i64>)] = &[
        ("999999999999999999", Ok(999_999_999_999_999_999)),
        ("-999999999999999999", Ok(-999_999_999_999_999_999)),
        ("1000000000000000000", Ok(1_000_000_000_000_000_000)),
        ("-1000000000000000000", Ok(-1_000_000_000_000_000_000)),
        ("0000000000000000000", Ok(0)),
        ("-0000000000000000000", Ok(0)),
        ("+9223372036854775807", Ok(i64::MAX)),
        ("9223372036854775806", Ok(i64::MAX - 1)),
        ("-9223372036854775807", Ok(i64::MIN + 1)),
        ("+9223372036854775808", Err(Overflow)),
        ("9999999999999999999", Err(Overflow)),
        ("-9999999999999999999", Err(Overflow)),
        ("+-922337203685477580", Err(Syntax)),
        ("--922337203685477580", Err(Syntax)),
        ("-+922337203685477580", Err(Syntax)),
        ("999999999999999999x", Err(Syntax)),
        ("9999999999999999999x", Err(Syntax)),
        // Twenty digits and more: leading zeros can still fit.
        ("00000000000000000001", Ok(1)),
        ("09223372036854775807", Ok(i64::MAX)),
        ("-09223372036854775808", Ok(i64::MIN)),
        ("-09223372036854775809", Err(Overflow)),
        ("10000000000000000000", Err(Overflow)),
        ("-10000000000000000000", Err(Overflow)),
        ("18446744073709551616", Err(Overflow)),
        ("-000000000000000000000000000000", Ok(0)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_i64(text.as_bytes()), *want, "{text:?}");
    }
    // A non-digit at any position of 19 digits is `Syntax`, whether the
    // digits would fit or overflow.
    for digits in ["9223372036854775807", "9999999999999999999"] {
        for sign in ["", "-", "+"] {
            for k in 0..19 {
                for bad in [b'/', b':', b' ', b'.', b'a', b'-', b'+', 0xC3] {
                    if sign.is_empty() && k == 0 && matches!(bad, b'-' | b'+') {
                        // A sign there is no error (the digits are 18).
                        continue;
                    }
                    let mut t = format!("{sign}{digits}").into_bytes();
                    t[sign.len() + k] = bad;
                    assert_eq!(parse_i64(&t), Err(Syntax), "{t:?}");
                }
            }
        }
    }
}

#[test]
fn time_fractions() {
    let cases: &[(&str, FieldResult<i64>)] = &[
        ("00:00:00.1", Ok(100_000)),
        ("00:00:00.12", Ok(120_000)),
        ("00:00:00.123", Ok(123_000)),
        ("00:00:00.1234", Ok(123_400)),
        ("00:00:00.12345", Ok(123_450)),
        ("00:00:00.123456", Ok(123_456)),
        ("00:00:00.1234567", Ok(123_456)),
        ("00:00:00.12345678", Ok(123_456)),
        ("00:00:00.123456789", Ok(123_456)),
        ("00:00:00.1234567890123456789", Ok(123_456)),
        ("00:00:00.000000", Ok(0)),
        ("00:00:00.000001", Ok(1)),
        ("00:00:00.999999999", Ok(999_999)),
        ("00:00:00.", Err(Syntax)),
        ("00:00:00.x", Err(Syntax)),
        ("00:00:00.1x", Err(Syntax)),
        ("00:00:00.123456x", Err(Syntax)),
        ("00:00:00.12345678x", Err(Syntax)),
        ("00:00:00.1.2", Err(Syntax)),
        ("00:00:00..1", Err(Syntax)),
        ("00:00:00.-1", Err(Syntax)),
        ("00:00:00.1 ", Err(Syntax)),
        ("00:00:00,1", Err(Syntax)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_time(text.as_bytes()), *want, "{text:?}");
    }
}

#[test]
fn timestamp_fractions_and_offsets() {
    const DAY: i64 = 86_400_000_000;
    const HOUR: i64 = 3_600_000_000;
    let base = 19782 * DAY + 12 * HOUR;
    let cases: &[(&str, FieldResult<i64>)] = &[
        ("2024-02-29 12:00:00.5", Ok(base + 500_000)),
        ("2024-02-29T12:00:00.123456", Ok(base + 123_456)),
        ("2024-02-29t12:00:00.1234567", Ok(base + 123_456)),
        ("2024-02-29 12:00:00.1Z", Ok(base + 100_000)),
        ("2024-02-29 12:00:00.12345678z", Ok(base + 123_456)),
        ("2024-02-29 12:00:00.000001+01:00", Ok(base - HOUR + 1)),
        (
            "2024-02-29 12:00:00.1234567-01:30",
            Ok(base + 3 * HOUR / 2 + 123_456),
        ),
        ("2024-02-29 12:00:00.+01:00", Err(Syntax)),
        ("2024-02-29 12:00:00.Z", Err(Syntax)),
        ("2024-02-29 12:00:00.", Err(Syntax)),
        ("2024-02-29 12:00:00.5 ", Err(Syntax)),
        ("2024-02-29 12:00:00.5+01", Err(Syntax)),
        ("2024-02-29 12:00:00.5ZZ", Err(Syntax)),
        ("2024-02-29_12:00:00.5", Err(Syntax)),
        ("2024-02-29 12:00:00.999999999", Ok(base + 999_999)),
        ("2032-05-12 03:41:14.405192", Ok(1_967_946_074_405_192)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_timestamp(text.as_bytes()), *want, "{text:?}");
        let mut memo = Month::default();
        assert_eq!(
            parse_timestamp_memo(text.as_bytes(), &mut memo),
            *want,
            "{text:?}"
        );
    }
}

#[test]
fn floats() {
    assert_eq!(parse_f64(b"1"), Ok(1.0));
    assert_eq!(parse_f64(b"-2.5e3"), Ok(-2500.0));
    assert_eq!(parse_f64(b"0.1"), Ok(0.1));
    assert!(parse_f64(b"NaN").unwrap().is_nan());
    assert_eq!(parse_f64(b"inf"), Ok(f64::INFINITY));
    assert_eq!(parse_f64(b"-inf"), Ok(f64::NEG_INFINITY));
    assert_eq!(parse_f64(b"Infinity"), Ok(f64::INFINITY));
    assert_eq!(parse_f64(b"1,5"), Err(Syntax));
    assert_eq!(parse_f64(b""), Err(Syntax));
    assert_eq!(parse_f32(b"0.1"), Ok(0.1f32));
    assert_eq!(parse_f32(b"abc"), Err(Syntax));
}

#[test]
fn decimals() {
    let cases: &[(&str, u8, i8, FieldResult<i128>)] = &[
        ("1.5", 5, 2, Ok(150)),
        ("-1.5", 5, 2, Ok(-150)),
        ("+0.01", 5, 2, Ok(1)),
        ("123", 5, 2, Ok(12300)),
        ("999.99", 5, 2, Ok(99999)),
        ("1000", 5, 2, Err(Precision)),
        ("1.234", 5, 2, Err(Scale)),
        ("1.230", 5, 2, Ok(123)),
        ("1.5e2", 5, 2, Ok(15000)),
        ("15e-1", 5, 2, Ok(150)),
        ("1e-3", 5, 2, Err(Scale)),
        (".5", 5, 2, Ok(50)),
        ("5.", 5, 2, Ok(500)),
        ("0", 5, 2, Ok(0)),
        ("000000000000000000000000000000000000000001", 5, 0, Ok(1)),
        ("", 5, 2, Err(Syntax)),
        (".", 5, 2, Err(Syntax)),
        ("1.2.3", 5, 2, Err(Syntax)),
        ("1e", 5, 2, Err(Syntax)),
        ("abc", 5, 2, Err(Syntax)),
        (
            "12345678901234567890.123456789",
            38,
            9,
            Ok(12345678901234567890123456789),
        ),
        (
            "99999999999999999999999999999.999999999",
            38,
            9,
            Ok(99_999_999_999_999_999_999_999_999_999_999_999_999),
        ),
        ("100000000000000000000000000000", 38, 9, Err(Precision)),
        (
            "-99999999999999999999999999999999999999",
            38,
            0,
            Ok(-99_999_999_999_999_999_999_999_999_999_999_999_999),
        ),
        (
            "999999999999999999999999999999999999999",
            38,
            0,
            Err(Precision),
        ),
        ("1e40", 38, 0, Err(Precision)),
    ];
    for (text, p, s, want) in cases {
        assert_eq!(parse_decimal(text.as_bytes(), *p, *s), *want, "{text:?}");
    }
}

#[test]
fn dates() {
    let cases: &[(&str, FieldResult<i32>)] = &[
        ("1970-01-01", Ok(0)),
        ("1970-01-02", Ok(1)),
        ("1969-12-31", Ok(-1)),
        ("2000-02-29", Ok(11016)),
        ("2024-02-29", Ok(19782)),
        ("2023-02-29", Err(Syntax)),
        ("1900-02-29", Err(Syntax)),
        ("2024-13-01", Err(Syntax)),
        ("2024-00-01", Err(Syntax)),
        ("2024-04-31", Err(Syntax)),
        ("2024-4-1", Err(Syntax)),
        ("2024-04-01 ", Err(Syntax)),
        ("0001-01-01", Ok(-719162)),
        ("9999-12-31", Ok(2932896)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_date(text.as_bytes()), *want, "{text:?}");
    }
}

#[test]
fn times() {
    let cases: &[(&str, FieldResult<i64>)] = &[
        ("00:00:00", Ok(0)),
        ("23:59:59.999999", Ok(86_399_999_999)),
        ("23:59:59.9999999", Ok(86_399_999_999)),
        ("12:34:56.5", Ok(45_296_500_000)),
        ("01:02:03.000123", Ok(3_723_000_123)),
        ("24:00:00", Err(Syntax)),
        ("12:60:00", Err(Syntax)),
        ("12:00:60", Err(Syntax)),
        ("12:00", Err(Syntax)),
        ("12:00:00.", Err(Syntax)),
        ("12:00:00Z", Err(Syntax)),
        ("1:00:00", Err(Syntax)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_time(text.as_bytes()), *want, "{text:?}");
    }
}

#[test]
fn timestamps() {
    const DAY: i64 = 86_400_000_000;
    const HOUR: i64 = 3_600_000_000;
    let cases: &[(&str, FieldResult<i64>)] = &[
        ("1970-01-01 00:00:00", Ok(0)),
        ("1970-01-01T00:00:00Z", Ok(0)),
        ("1970-01-01t00:00:00z", Ok(0)),
        ("1970-01-02 00:00:00.5", Ok(DAY + 500_000)),
        ("1970-01-01T01:00:00+01:00", Ok(0)),
        ("1970-01-01T00:00:00-05:30", Ok(5 * HOUR + 30 * 60_000_000)),
        ("1969-12-31 23:59:59.999999", Ok(-1)),
        (
            "2024-02-29T12:00:00.123456789Z",
            Ok(19782 * DAY + 12 * HOUR + 123_456),
        ),
        ("1970-01-01 00:00:00+24:00", Err(Syntax)),
        ("1970-01-01 00:00:00+0100", Err(Syntax)),
        ("1970-01-01", Err(Syntax)),
        ("1970-01-01X00:00:00", Err(Syntax)),
        ("1970-01-01 00:00", Err(Syntax)),
        ("1970-01-01 00:00:00 ", Err(Syntax)),
        // An offset may not carry the instant out of years 0000-9999
        // (no text form could write it back).
        ("0000-01-01T00:30:00+01:00", Err(Overflow)),
        ("9999-12-31T23:30:00-01:00", Err(Overflow)),
        (
            "0000-01-01T00:30:00-01:00",
            Ok(-719_528 * DAY + HOUR + 30 * 60_000_000),
        ),
        ("9999-12-31 23:59:59.999999", Ok(2_932_897 * DAY - 1)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_timestamp(text.as_bytes()), *want, "{text:?}");
    }
}

#[test]
fn strings() {
    assert_eq!(check_str(b"abc", Some(3)), Ok(&b"abc"[..]));
    assert_eq!(check_str(b"abcd", Some(3)), Err(TooLong));
    // Three characters, six bytes: within VARCHAR(3).
    assert!(check_str("äöü".as_bytes(), Some(3)).is_ok());
    assert_eq!(check_str("äöüx".as_bytes(), Some(3)), Err(TooLong));
    assert_eq!(check_str(b"\xff", None), Err(Utf8));
    assert_eq!(check_str(b"", Some(0)), Ok(&b""[..]));
    assert_eq!(char_count("a€😀".as_bytes()), 3);
}

mod fast_paths {
    use super::super::*;
    use proptest::prelude::*;

    /// Numbers as the fast float path sees them, and around its limits:
    /// up to 21 digits (2^53 has 16), a point anywhere, signs, leading zeros.
    fn number() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["", "-", "+"]),
            "[0-9]{0,21}",
            0usize..23,
            any::<bool>(),
        )
            .prop_map(|(sign, digits, at, point)| {
                let mut t = digits;
                if point {
                    t.insert(at.min(t.len()), '.');
                }
                format!("{sign}{t}")
            })
    }

    fn same_f64(text: &str) {
        let want = text.parse::<f64>().map_err(|_| FieldError::Syntax);
        let got = parse_f64(text.as_bytes());
        assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{text:?}");
        let want = text.parse::<f32>().map_err(|_| FieldError::Syntax);
        let got = parse_f32(text.as_bytes());
        assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "{text:?}");
    }

    #[test]
    fn float_edges_equal_str_parse() {
        for text in [
            "0",
            "-0",
            "-0.0",
            "+0",
            ".5",
            "5.",
            ".",
            "-",
            "+",
            "",
            "-.",
            "1.2.3",
            "0.1",
            "0.3",
            "1.25",
            "-2.5",
            "9007199254740992",
            "9007199254740993",
            "900719925474099.3",
            "16777216",
            "16777217",
            "1677721.7",
            "9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "123456789.0123456789",
            "1e5",
            "1E-5",
            "NaN",
            "inf",
            "-Infinity",
            " 1",
            "1 ",
            "0x10",
            "1_0",
            "١",
        ] {
            same_f64(text);
        }
        // The fast path does take the common shapes.
        assert_eq!(fast_float(b"-12.25", 1 << 53, &POW10_F64), Some(-12.25));
        assert_eq!(fast_float(b"1e5", 1 << 53, &POW10_F64), None);
    }

    #[test]
    fn date_edges_equal_reference() {
        for y in (0..=9999).step_by(1) {
            for m in [0, 1, 2, 3, 11, 12, 13] {
                for d in [0, 1, 28, 29, 30, 31, 32] {
                    let text = format!("{y:04}-{m:02}-{d:02}");
                    assert_eq!(
                        date_prefix(text.as_bytes()),
                        reference_date(text.as_bytes()),
                        "{text}"
                    );
                }
            }
        }
    }

    /// Times against a byte-by-byte reference: every hour, minute and a
    /// few seconds, and single-byte edits of them.
    #[test]
    fn time_edges_equal_reference() {
        let reference = |s: &[u8]| -> FieldResult<u32> {
            let two = |k: usize| -> FieldResult<u32> {
                let (a, b) = (s[k].wrapping_sub(b'0'), s[k + 1].wrapping_sub(b'0'));
                if a > 9 || b > 9 {
                    return Err(FieldError::Syntax);
                }
                Ok(a as u32 * 10 + b as u32)
            };
            if s.len() < 8 || s[2] != b':' || s[5] != b':' {
                return Err(FieldError::Syntax);
            }
            let (h, m, sec) = (two(0)?, two(3)?, two(6)?);
            if h > 23 || m > 59 || sec > 59 {
                return Err(FieldError::Syntax);
            }
            Ok((h * 60 + m) * 60 + sec)
        };
        for h in 0..=30 {
            for m in 0..=61 {
                for sec in [0, 9, 10, 59, 60, 99] {
                    let text = format!("{h:02}:{m:02}:{sec:02}");
                    for edit in 0..9 {
                        let mut t = text.clone().into_bytes();
                        if edit < 8 {
                            t[edit] = [b'/', b':', b';', b'-', b'9', b' '][(h + m + edit) % 6];
                        }
                        let got = time_prefix(&t).map(|(us, _)| (us / 1_000_000) as u32);
                        assert_eq!(got, reference(&t), "{:?}", String::from_utf8_lossy(&t));
                    }
                }
            }
        }
    }

    #[test]
    fn all_digits_is_exact() {
        for b in 0..=255u8 {
            for k in 0..8 {
                let mut w = *b"12345678";
                w[k] = b;
                assert_eq!(
                    all_digits(u64::from_le_bytes(w)),
                    b.is_ascii_digit(),
                    "{b} at {k}"
                );
            }
        }
    }

    #[test]
    fn leading_digits_is_exact() {
        // One odd byte at each position among digits.
        for b in 0..=255u8 {
            for k in 0..8 {
                let mut w = *b"12345678";
                w[k] = b;
                let want = if b.is_ascii_digit() { 8 } else { k };
                assert_eq!(leading_digits(u64::from_le_bytes(w)), want, "{b} at {k}");
            }
        }
        // Any byte after the first non-digit does not matter.
        for b in 0..=255u8 {
            for c in 0..=255u8 {
                let w = u64::from_le_bytes([b'9', b'0', b, c, 0xFF, 0x00, b'5', 0x80]);
                let want = if !b.is_ascii_digit() {
                    2
                } else if !c.is_ascii_digit() {
                    3
                } else {
                    4
                };
                assert_eq!(leading_digits(w), want, "{b} {c}");
            }
        }
    }

    #[test]
    fn word_at_reads_past_the_end_as_zeros() {
        let s = b"0123456789";
        assert_eq!(word_at(s, 0), u64::from_le_bytes(*b"01234567"));
        assert_eq!(word_at(s, 2), u64::from_le_bytes(*b"23456789"));
        assert_eq!(word_at(s, 3), u64::from_le_bytes(*b"3456789\0"));
        assert_eq!(word_at(s, 9), u64::from(b'9'));
        assert_eq!(word_at(s, 10), 0);
        assert_eq!(word_at(b"12345678", 8), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Integers as the old parser read them: lengths around 19
        /// digits, signs, and bytes edited in.
        #[test]
        fn i64_equals_old(
            sign in prop::sample::select(vec!["", "-", "+", "--", "+-"]),
            digits in "[0-9]{0,22}",
            lead in prop::sample::select(vec!["", "9", "92233720368547758", "0000"]),
            edit in prop::option::of((0usize..24, any::<u8>())),
        ) {
            let mut text = format!("{sign}{lead}{digits}").into_bytes();
            if let Some((at, b)) = edit {
                if at < text.len() { text[at] = b } else { text.push(b) }
            }
            prop_assert_eq!(parse_i64(&text), old_parse_i64(&text), "{:?}", text);
            if let Ok(t) = std::str::from_utf8(&text) {
                if let Ok(v) = t.parse::<i64>() {
                    prop_assert_eq!(parse_i64(&text), Ok(v));
                }
            }
        }

        /// Every i64 (and its neighbours outside) round-trips.
        #[test]
        fn i64_round_trips(v in any::<i64>(), plus in any::<bool>()) {
            let text = if plus && v >= 0 { format!("+{v}") } else { v.to_string() };
            prop_assert_eq!(parse_i64(text.as_bytes()), Ok(v));
            let wide = v as i128 + if v < 0 { i64::MIN as i128 } else { i64::MAX as i128 + 1 };
            prop_assert_eq!(parse_i64(wide.to_string().as_bytes()), old_parse_i64(wide.to_string().as_bytes()));
        }

        /// Times with fractions of any length and whatever follows, as the
        /// old digit loop read them.
        #[test]
        fn time_prefix_equals_old(
            hms in (0u32..25, 0u32..61, 0u32..61),
            frac in "[0-9]{0,12}",
            tail in "(\\.|[0-9]|[a-zA-Z:+ .-]|\\xFF){0,4}",
            point in any::<bool>(),
        ) {
            let (h, m, sec) = hms;
            let mut text = format!("{h:02}:{m:02}:{sec:02}");
            if point {
                text.push('.');
            }
            text.push_str(&frac);
            text.push_str(&tail);
            prop_assert_eq!(time_prefix(text.as_bytes()), old_time_prefix(text.as_bytes()), "{}", text);
            let ts = format!("2024-02-29T{text}");
            let want = old_time_prefix(text.as_bytes()).and_then(|_| parse_timestamp(ts.as_bytes()));
            prop_assert_eq!(parse_timestamp(ts.as_bytes()), want);
        }

        #[test]
        fn eight_digits_equals_loop(v in 0u64..100_000_000) {
            let text = format!("{v:08}");
            let w = u64::from_le_bytes(text.as_bytes().try_into().unwrap()) & 0x0F0F_0F0F_0F0F_0F0F;
            prop_assert_eq!(eight_digits(w), v);
        }

        #[test]
        fn floats_equal_str_parse(text in number()) {
            same_f64(&text);
        }

        #[test]
        fn floats_equal_str_parse_on_any_text(text in "[0-9.eE+-]{0,8}") {
            same_f64(&text);
        }

        /// Every date of years 0..=9999, and near-dates (bad digits,
        /// separators, lengths), as the reference reads them.
        #[test]
        fn dates_equal_reference(
            y in 0u32..10000, m in 0u32..14, d in 0u32..33,
            edit in prop::option::of((0usize..11, any::<u8>())),
        ) {
            let mut text = format!("{y:04}-{m:02}-{d:02}").into_bytes();
            if let Some((at, b)) = edit {
                if at < text.len() { text[at] = b } else { text.push(b) }
            }
            prop_assert_eq!(date_prefix(&text), reference_date(&text));
        }

        /// The month memo never changes a result: a column of dates and
        /// timestamps, many sharing months, some edited into near-dates,
        /// parses as each value does alone.
        #[test]
        fn date_memo_equals_plain(
            values in prop::collection::vec(
                (0u32..3, 0u32..14, 0u32..33, prop::option::of((0usize..12, any::<u8>()))),
                1..40,
            ),
            time in any::<bool>(),
        ) {
            let mut memo = Month::default();
            for (y, m, d, edit) in values {
                let mut text = format!("{:04}-{m:02}-{d:02}", 2024 + y).into_bytes();
                if time {
                    text.extend_from_slice(b" 10:00:00");
                }
                if let Some((at, b)) = edit {
                    if at < text.len() { text[at] = b } else { text.push(b) }
                }
                if time {
                    prop_assert_eq!(
                        parse_timestamp_memo(&text, &mut memo),
                        parse_timestamp(&text)
                    );
                } else {
                    prop_assert_eq!(parse_date_memo(&text, &mut memo), parse_date(&text));
                }
            }
        }

        /// The short decimal path agrees with the general one wherever it
        /// answers.
        #[test]
        fn short_decimal_equals_long(
            text in "[0-9]{0,20}(\\.[0-9]{0,20})?",
            precision in 1u8..=38,
            scale in 0i8..=20,
        ) {
            let scale = scale.min(precision as i8);
            if let Some(short) = short_decimal(text.as_bytes(), precision, scale) {
                prop_assert_eq!(short, long_decimal(text.as_bytes(), precision, scale), "{}", text);
            }
        }
    }

    /// `parse_i64` as it was before the unchecked 19-digit path.
    fn old_parse_i64(s: &[u8]) -> FieldResult<i64> {
        let (neg, digits) = match s.first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if digits.is_empty() {
            return Err(FieldError::Syntax);
        }
        let mut acc: i64 = 0;
        let mut overflow = false;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return Err(FieldError::Syntax);
            }
            match acc.checked_mul(10).and_then(|v| v.checked_sub(d as i64)) {
                Some(v) => acc = v,
                None => overflow = true,
            }
        }
        if overflow {
            return Err(FieldError::Overflow);
        }
        if neg {
            Ok(acc)
        } else {
            acc.checked_neg().ok_or(FieldError::Overflow)
        }
    }

    /// `time_prefix` as it was before the word-at-a-time fraction.
    fn old_time_prefix(s: &[u8]) -> FieldResult<(i64, usize)> {
        let Some(w) = digit_word(s, b':', (2, 5)) else {
            return Err(FieldError::Syntax);
        };
        let two = |k| byte(w, k) * 10 + byte(w, k + 1);
        let (h, m, sec) = (two(0), two(3), two(6));
        if h > 23 || m > 59 || sec > 59 {
            return Err(FieldError::Syntax);
        }
        let mut micros = ((h as i64 * 60 + m as i64) * 60 + sec as i64) * 1_000_000;
        let mut used = 8;
        if s.get(8) == Some(&b'.') {
            used = 9;
            let mut frac = 0i64;
            let mut n = 0;
            while let Some(&b) = s.get(used) {
                if !b.is_ascii_digit() {
                    break;
                }
                if n < 6 {
                    frac = frac * 10 + (b - b'0') as i64;
                }
                n += 1;
                used += 1;
            }
            if n == 0 {
                return Err(FieldError::Syntax);
            }
            for _ in n..6 {
                frac *= 10;
            }
            micros += frac;
        }
        Ok((micros, used))
    }

    /// The date parser as it was before the fast path: digit loops and
    /// H. Hinnant's `days_from_civil`.
    fn reference_date(s: &[u8]) -> FieldResult<i64> {
        fn digits_n(s: &[u8], n: usize) -> FieldResult<u32> {
            if s.len() < n {
                return Err(FieldError::Syntax);
            }
            let mut v = 0u32;
            for &b in &s[..n] {
                let d = b.wrapping_sub(b'0');
                if d > 9 {
                    return Err(FieldError::Syntax);
                }
                v = v * 10 + d as u32;
            }
            Ok(v)
        }
        fn leap(y: i64) -> bool {
            (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        }
        fn civil(y: i64, m: u32, d: u32) -> i64 {
            let y = y - i64::from(m <= 2);
            let era = y.div_euclid(400);
            let yoe = y - era * 400;
            let mp = (m as i64 + 9) % 12;
            let doy = (153 * mp + 2) / 5 + d as i64 - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            era * 146097 + doe - 719468
        }
        let y = digits_n(s, 4)? as i64;
        if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
            return Err(FieldError::Syntax);
        }
        let m = digits_n(&s[5..], 2)?;
        let d = digits_n(&s[8..], 2)?;
        const DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if !(1..=12).contains(&m) {
            return Err(FieldError::Syntax);
        }
        let max = DAYS[m as usize - 1] + u32::from(m == 2 && leap(y));
        if d == 0 || d > max {
            return Err(FieldError::Syntax);
        }
        Ok(civil(y, m, d))
    }
}
