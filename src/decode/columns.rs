//! Column buffers: typed value vectors plus a validity bitmap per column,
//! turned into Arrow arrays when a batch is sealed.
//!
//! Why not Arrow's builders: a record that fails in its third field has
//! already written its first two, and Arrow's primitive builders cannot take
//! a value back. These buffers can (`truncate`), so both decoders write
//! optimistically and roll back a bad record (JSON) or a bad group of
//! records (CSV) in O(1) per column.
//!
//! The type `match` happens once per column per group of CSV records
//! (`append_cells` dispatches to a monomorphised `fill`), and once per value
//! for JSON, whose values arrive row by row.

use std::sync::Arc;

use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, Time64MicrosecondType, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, BinaryArray, BooleanArray, FixedSizeBinaryArray, PrimitiveArray,
    StringArray,
};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use simd_json::{Node, StaticNode};

#[cfg(target_arch = "x86_64")]
use super::digits;
use super::fields::{self, FieldError, FieldResult};
use super::nested::{JsonScratch, Nested, TextOf};
use super::JsonFlavor;
use super::{binary, variant};
use crate::table::{Column, DefaultValue, SqlType};

/// One CSV field as the column sees it.
#[derive(Clone, Copy)]
pub(crate) enum Cell<'a> {
    /// The record has fewer fields than the table has columns.
    Missing,
    /// A field with no text to parse.
    NoText(NoText),
    Text(&'a [u8]),
}

/// The kinds of `Cell::NoText`. One variant of `Cell` for the three (not
/// three variants) keeps the column loops' match on the common `Text` case
/// as cheap as it was before the null text existed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoText {
    /// An empty unquoted field: NULL, or in a NOT NULL string column the
    /// empty string.
    Empty,
    /// `""`: the empty string in a string column, NULL elsewhere.
    EmptyQuoted,
    /// The null text (`CsvOptions::null_text`), unquoted: NULL in any type.
    NullText,
}

/// Where a value goes: a `Vec` or a bitmap (BOOLEAN) or string buffers.
/// `text` is the field's bytes, which only strings keep (their `T` is `()`).
trait Sink<T> {
    fn put(&mut self, v: T, text: &[u8]);
}

impl<T> Sink<T> for Vec<T> {
    fn put(&mut self, v: T, _text: &[u8]) {
        self.push(v);
    }
}

/// The next slots of a `Vec`, filled in order (`fill_vec`): a slice write
/// per value instead of `Vec::push`, whose length and capacity the loop
/// would reload and check for every value.
struct Slots<'v, T> {
    out: &'v mut [T],
    k: usize,
}

impl<T> Sink<T> for Slots<'_, T> {
    #[inline]
    fn put(&mut self, v: T, _text: &[u8]) {
        self.out[self.k] = v;
        self.k += 1;
    }
}

impl Sink<bool> for BooleanBufferBuilder {
    #[inline]
    fn put(&mut self, v: bool, _text: &[u8]) {
        self.append(v);
    }
}

/// A cell's text on the fast paths (CSV `ColumnBuf::append_texts`, the
/// strings and numbers of JSON's `push_scalars`): the first `len` bytes
/// of `tail`, which runs on to the end of the buffer holding the cell. The
/// rest of `tail` lets a string column copy a short value as one 16- or
/// 32-byte block (a fixed-size copy the compiler inlines) instead of a
/// `memcpy` call sized at run time, which costs more than the copy itself
/// for the few bytes most values have, and lets `digits` load a number's
/// digits as one register.
#[derive(Clone, Copy, Default)]
pub(crate) struct Text<'a> {
    tail: &'a [u8],
    len: usize,
}

impl<'a> Text<'a> {
    /// `src[start..end]`.
    #[inline]
    pub(crate) fn new(src: &'a [u8], start: usize, end: usize) -> Text<'a> {
        Text {
            tail: &src[start..],
            len: end - start,
        }
    }

    #[inline]
    pub(crate) fn bytes(self) -> &'a [u8] {
        &self.tail[..self.len]
    }

    /// The tail (the value's bytes, then whatever follows it in its
    /// buffer) and the value's length in bytes (for `digits`' loads).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline]
    pub(crate) fn parts(self) -> (&'a [u8], usize) {
        (self.tail, self.len)
    }
}

/// Arrow's UTF-8 layout: `offsets[i]..offsets[i + 1]` of `data` is row i.
/// Offsets are i32: decoders cap batch bytes so data stays below 2 GiB.
struct StrBuf {
    offsets: Vec<i32>,
    data: Vec<u8>,
}

impl StrBuf {
    /// Are the values from row `row` on valid UTF-8? Their concatenation
    /// must be, and each must start on a character boundary.
    fn valid_from(&self, row: usize) -> bool {
        let start = self.offsets[row] as usize;
        let run = &self.data[start..];
        // All ASCII: valid, and every byte starts a character. `is_ascii`
        // first because the runs of small requests are a few short values,
        // where `from_utf8`'s set-up cost ~100 instructions a column.
        if run.is_ascii() {
            return true;
        }
        std::str::from_utf8(run).is_ok()
            && self.offsets[row..].iter().all(|&o| {
                self.data
                    .get(o as usize)
                    .is_none_or(|&b| (b as i8) >= -0x40)
            })
    }
}

impl Sink<()> for StrBuf {
    fn put(&mut self, _v: (), text: &[u8]) {
        self.data.extend_from_slice(text);
        self.offsets.push(self.data.len() as i32);
    }
}

/// The JSON fast path's strings: the value carries its source's tail, so
/// short ones are copied as one block (`push_text`).
impl Sink<Text<'_>> for StrBuf {
    fn put(&mut self, v: Text<'_>, _text: &[u8]) {
        push_text(&mut self.data, v);
        self.offsets.push(self.data.len() as i32);
    }
}

/// BINARY(n)/VARBINARY(n) values: `put` decodes the base64 text that
/// `binary::base64_len` validated (and zero-pads BINARY(n) to n bytes).
struct BinBuf {
    buf: StrBuf,
    /// BINARY(n): every value is exactly n bytes.
    fixed: Option<u32>,
}

impl BinBuf {
    /// Zero-pad the value just written to the fixed size, if any.
    fn pad(&mut self) {
        if let Some(n) = self.fixed {
            let start = self.buf.offsets[self.buf.offsets.len() - 1] as usize;
            self.buf.data.resize(start + n as usize, 0);
        }
    }

    fn end_value(&mut self) {
        self.pad();
        self.buf.offsets.push(self.buf.data.len() as i32);
    }
}

impl Sink<()> for BinBuf {
    fn put(&mut self, _v: (), text: &[u8]) {
        binary::base64_append(text, &mut self.buf.data).expect("validated by base64_len");
        self.end_value();
    }
}

/// VARIANT: the CSV field's JSON text (validated), whitespace removed.
struct VariantBuf(StrBuf);

impl Sink<()> for VariantBuf {
    fn put(&mut self, _v: (), text: &[u8]) {
        variant::minify_into(text, &mut self.0.data);
        self.0.offsets.push(self.0.data.len() as i32);
    }
}

enum Values {
    Bool(BooleanBufferBuilder),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Dec(Vec<i128>, u8, i8),
    Str(StrBuf, Option<u32>),
    Date(Vec<i32>),
    Time(Vec<i64>),
    Ts(Vec<i64>),
    /// The maximum length in bytes (BINARY(n): n, and `fixed` is set).
    Bin(BinBuf, Option<u32>),
    Uuid(Vec<[u8; 16]>),
    Variant(VariantBuf),
    /// ARRAY, MAP, ROW; the scratch parses CSV fields' JSON text.
    Nested(Box<Nested>, Box<JsonScratch>),
}

/// The buffers of one column of the batch being built.
pub(crate) struct ColumnBuf {
    sql_type: SqlType,
    nullable: bool,
    /// `None`: no DEFAULT. `Some(None)`: DEFAULT NULL. `Some(Some(text))`.
    default: Option<Option<Box<[u8]>>>,
    values: Values,
    validity: BooleanBufferBuilder,
    /// Rows reserved up front after each batch, so steady state does not grow.
    capacity: usize,
    /// Rows and string bytes of the batch moved out before the last one.
    /// Buffers are reserved again at the larger of the last two plus an
    /// eighth (rows at most `capacity`, string bytes at most
    /// `STR_RESERVE_BYTES_MAX`, and the bytes before only when within twice
    /// the last batch's): bodies of about the same size then fit without
    /// growing. Reserved at the last batch's exact size, a slightly larger
    /// next one reallocated (mimalloc copies) a whole batch, about every
    /// other 1 MiB body (~1% of a shard's CPU). The larger of two, so the
    /// batch after a body's short last one fits too.
    before: (u32, u32),
    /// JSON integers DATE/TIME/TIMESTAMP accept (`JsonFlavor`).
    epoch: Epoch,
}

/// Most string bytes `finish` reserves for the next batch: a batch of a few
/// huge values must not leave every later batch's buffer (and the Arrow
/// array moved out of it) that large. Beyond it a batch grows as it goes.
const STR_RESERVE_BYTES_MAX: usize = 4 << 20;

/// Units of integer dates and times in JSON; `0` refuses integers.
#[derive(Clone, Copy, Default)]
struct Epoch {
    /// Milliseconds per DATE integer (a day, or 1 for epoch milliseconds).
    date_ms: i64,
    /// Microseconds per TIMESTAMP integer.
    ts_us: i64,
    /// Microseconds per TIME integer.
    time_us: i64,
}

impl Epoch {
    fn of(f: JsonFlavor) -> Epoch {
        const DAY_MS: i64 = 86_400_000;
        match f {
            JsonFlavor::Default => Epoch::default(),
            JsonFlavor::Pandas => Epoch {
                date_ms: 1,
                ts_us: 1000,
                time_us: 0,
            },
            JsonFlavor::DebeziumMysql => Epoch {
                date_ms: DAY_MS,
                ts_us: 1000,
                time_us: 1,
            },
            JsonFlavor::DebeziumPostgres => Epoch {
                date_ms: DAY_MS,
                ts_us: 1,
                time_us: 1,
            },
        }
    }

    /// An integer DATE: days since the epoch, exact.
    fn date(self, x: i64) -> FieldResult<i32> {
        const DAY_MS: i64 = 86_400_000;
        let ms = x.checked_mul(self.date_ms).ok_or(FieldError::Overflow)?;
        if ms % DAY_MS != 0 {
            return Err(FieldError::Found("a time of day"));
        }
        i32::try_from(ms / DAY_MS).map_err(|_| FieldError::Overflow)
    }

    fn timestamp(self, x: i64) -> FieldResult<i64> {
        x.checked_mul(self.ts_us).ok_or(FieldError::Overflow)
    }

    fn time(self, x: i64) -> FieldResult<i64> {
        let us = x.checked_mul(self.time_us).ok_or(FieldError::Overflow)?;
        if !(0..86_400_000_000).contains(&us) {
            return Err(FieldError::Overflow);
        }
        Ok(us)
    }
}

impl ColumnBuf {
    /// Buffers start empty (a decoder is cheap to build) and grow to the
    /// batch size; `capacity` (rows) bounds what `finish` reserves again.
    pub(crate) fn new(col: &Column, capacity: usize) -> ColumnBuf {
        let default = col.default.as_ref().map(|d| match d {
            DefaultValue::Null => None,
            DefaultValue::Text(t) => Some(t.as_bytes().into()),
        });
        ColumnBuf {
            sql_type: col.sql_type.clone(),
            nullable: col.nullable,
            default,
            values: Self::empty_values(&col.sql_type, 0),
            validity: BooleanBufferBuilder::new(0),
            capacity,
            before: (0, 0),
            epoch: Epoch::default(),
        }
    }

    /// Take the integer dates and times of JSON flavor `f`.
    pub(crate) fn set_flavor(&mut self, f: JsonFlavor) {
        self.epoch = Epoch::of(f);
    }

    /// The buffers of an ARRAY element, MAP key or value, or ROW field.
    pub(crate) fn child(t: &SqlType, nullable: bool) -> ColumnBuf {
        ColumnBuf {
            sql_type: t.clone(),
            nullable,
            default: None,
            values: Self::empty_values(t, 0),
            validity: BooleanBufferBuilder::new(0),
            capacity: 0,
            before: (0, 0),
            epoch: Epoch::default(),
        }
    }

    fn empty_values(t: &SqlType, cap: usize) -> Values {
        match *t {
            SqlType::Boolean => Values::Bool(BooleanBufferBuilder::new(cap)),
            SqlType::TinyInt => Values::I8(Vec::with_capacity(cap)),
            SqlType::SmallInt => Values::I16(Vec::with_capacity(cap)),
            SqlType::Int => Values::I32(Vec::with_capacity(cap)),
            SqlType::BigInt => Values::I64(Vec::with_capacity(cap)),
            SqlType::UTinyInt => Values::U8(Vec::with_capacity(cap)),
            SqlType::USmallInt => Values::U16(Vec::with_capacity(cap)),
            SqlType::UInt => Values::U32(Vec::with_capacity(cap)),
            SqlType::UBigInt => Values::U64(Vec::with_capacity(cap)),
            SqlType::Real => Values::F32(Vec::with_capacity(cap)),
            SqlType::Double => Values::F64(Vec::with_capacity(cap)),
            SqlType::Decimal { precision, scale } => {
                Values::Dec(Vec::with_capacity(cap), precision, scale)
            }
            SqlType::Char(n) => Values::Str(Self::empty_str(cap, 0), Some(n)),
            SqlType::Varchar(n) => Values::Str(Self::empty_str(cap, 0), n),
            SqlType::Date => Values::Date(Vec::with_capacity(cap)),
            SqlType::Time => Values::Time(Vec::with_capacity(cap)),
            SqlType::Timestamp => Values::Ts(Vec::with_capacity(cap)),
            SqlType::Binary(n) => Values::Bin(
                BinBuf {
                    buf: Self::empty_str(cap, 0),
                    fixed: Some(n),
                },
                Some(n),
            ),
            SqlType::Varbinary(max) => Values::Bin(
                BinBuf {
                    buf: Self::empty_str(cap, 0),
                    fixed: None,
                },
                max,
            ),
            SqlType::Uuid => Values::Uuid(Vec::with_capacity(cap)),
            SqlType::Variant => Values::Variant(VariantBuf(Self::empty_str(cap, 0))),
            SqlType::Array(_) | SqlType::Map(..) | SqlType::Row(_) => {
                Values::Nested(Box::new(Nested::new(t)), Box::new(JsonScratch::new()))
            }
        }
    }

    fn empty_str(cap: usize, data_cap: usize) -> StrBuf {
        let mut offsets = Vec::with_capacity(cap + 1);
        offsets.push(0);
        StrBuf {
            offsets,
            data: Vec::with_capacity(data_cap),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.validity.len()
    }

    /// Forget every row from `len` on (roll back a bad record or group).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.validity.truncate(len);
        match &mut self.values {
            Values::Bool(v) => v.truncate(len),
            Values::I8(v) => v.truncate(len),
            Values::I16(v) => v.truncate(len),
            Values::I32(v) | Values::Date(v) => v.truncate(len),
            Values::I64(v) | Values::Time(v) | Values::Ts(v) => v.truncate(len),
            Values::U8(v) => v.truncate(len),
            Values::U16(v) => v.truncate(len),
            Values::U32(v) => v.truncate(len),
            Values::U64(v) => v.truncate(len),
            Values::F32(v) => v.truncate(len),
            Values::F64(v) => v.truncate(len),
            Values::Dec(v, ..) => v.truncate(len),
            Values::Str(s, _)
            | Values::Bin(BinBuf { buf: s, .. }, _)
            | Values::Variant(VariantBuf(s)) => {
                s.offsets.truncate(len + 1);
                s.data.truncate(s.offsets[len] as usize);
            }
            Values::Uuid(v) => v.truncate(len),
            Values::Nested(n, _) => n.truncate(len),
        }
    }

    /// CSV: append cells `0..n` (except `skip`ped ones) to this column.
    /// A cell that fails is not appended and is added to `bad`; the caller
    /// then truncates every column and repeats without the bad rows.
    pub(crate) fn append_cells<'a, I: Iterator<Item = Cell<'a>>>(
        &mut self,
        n: usize,
        cell: &impl Fn() -> I,
        skip: &[bool],
        bad: &mut Vec<(usize, FieldError)>,
    ) {
        let ColumnBuf {
            nullable,
            default,
            values,
            validity,
            ..
        } = self;
        let mut f = Filler {
            validity,
            nullable: *nullable,
            default: default.as_ref().map(|d| d.as_deref()),
            n,
            skip,
            bad,
        };
        match values {
            Values::Bool(v) => f.fill(v, false, cell, |t| fields::parse_bool(t, true)),
            Values::I8(v) => f.fill_vec(v, cell, fields::parse_int::<i8>),
            Values::I16(v) => f.fill_vec(v, cell, fields::parse_int::<i16>),
            Values::I32(v) => f.fill_vec(v, cell, fields::parse_int::<i32>),
            Values::I64(v) => f.fill_vec(v, cell, fields::parse_i64),
            Values::U8(v) => f.fill_vec(v, cell, fields::parse_uint::<u8>),
            Values::U16(v) => f.fill_vec(v, cell, fields::parse_uint::<u16>),
            Values::U32(v) => f.fill_vec(v, cell, fields::parse_uint::<u32>),
            Values::U64(v) => f.fill_vec(v, cell, fields::parse_u64),
            Values::F32(v) => f.fill_vec(v, cell, fields::parse_f32),
            Values::F64(v) => f.fill_vec(v, cell, fields::parse_f64),
            Values::Dec(v, p, s) => {
                let (p, s) = (*p, *s);
                f.fill_vec(v, cell, |t| fields::parse_decimal(t, p, s))
            }
            Values::Str(sb, max) => {
                let max = *max;
                // Optimistic: lengths only, then the UTF-8 of the whole run
                // at once. Any doubt: roll back and check field by field.
                let (rows, bad_len) = (sb.offsets.len() - 1, f.bad.len());
                f.fill(sb, true, cell, |t| match max {
                    Some(m) if t.len() > m as usize && fields::char_count(t) > m as usize => {
                        Err(FieldError::TooLong)
                    }
                    _ => Ok(()),
                });
                if f.bad.len() == bad_len && sb.valid_from(rows) {
                    return;
                }
                f.bad.truncate(bad_len);
                f.validity.truncate(rows);
                sb.offsets.truncate(rows + 1);
                sb.data.truncate(sb.offsets[rows] as usize);
                f.fill(sb, true, cell, |t| fields::check_str(t, max).map(|_| ()))
            }
            Values::Date(v) => f.fill_vec(v, cell, fields::parse_date),
            Values::Time(v) => f.fill_vec(v, cell, fields::parse_time),
            Values::Ts(v) => f.fill_vec(v, cell, fields::parse_timestamp),
            Values::Bin(bb, max) => {
                let max = *max;
                // `""` is the empty value, as for strings.
                f.fill(bb, true, cell, |t| {
                    binary::check_bytes(binary::base64_len(t)?, max)
                })
            }
            Values::Uuid(v) => f.fill_vec(v, cell, binary::parse_uuid),
            Values::Variant(vb) => f.fill(vb, false, cell, variant::validate_field),
            Values::Nested(nested, js) => f.fill_nested(nested, js, cell),
        }
    }

    /// CSV fast path: append `n` cells that are all text (`None`: a cell
    /// that is not) to a column of a group with no skipped rows. One tight
    /// loop per type with none of `append_cells`' NULL, DEFAULT and skip
    /// handling, which costs more than parsing a short field. Returns false,
    /// with the column as it was, at the first cell that is not text or
    /// does not parse: the caller then runs `append_cells`, which decides
    /// that cell the general way, so the two can never disagree.
    pub(crate) fn append_texts<'a, I: Iterator<Item = Option<Text<'a>>>>(
        &mut self,
        n: usize,
        texts: I,
    ) -> bool {
        let ok = match &mut self.values {
            Values::Bool(v) => extend_bools(v, texts),
            Values::I8(v) => extend_ints(v, n, texts),
            Values::I16(v) => extend_ints(v, n, texts),
            Values::I32(v) => extend_ints(v, n, texts),
            Values::I64(v) => extend_ints(v, n, texts),
            Values::U8(v) => extend_parsed(v, n, texts, fields::parse_uint::<u8>),
            Values::U16(v) => extend_parsed(v, n, texts, fields::parse_uint::<u16>),
            Values::U32(v) => extend_parsed(v, n, texts, fields::parse_uint::<u32>),
            Values::U64(v) => extend_parsed(v, n, texts, fields::parse_u64),
            Values::F32(v) => extend_f32(v, n, texts),
            Values::F64(v) => extend_f64(v, n, texts),
            Values::Dec(v, p, s) => extend_decimals(v, n, texts, *p, *s),
            Values::Str(sb, max) => extend_strs(sb, n, texts, *max),
            Values::Date(v) => {
                let mut memo = fields::Month::default();
                extend_parsed(v, n, texts, |t| fields::parse_date_memo(t, &mut memo))
            }
            Values::Time(v) => extend_parsed(v, n, texts, fields::parse_time),
            Values::Ts(v) => {
                let mut memo = fields::Month::default();
                extend_parsed(v, n, texts, |t| fields::parse_timestamp_memo(t, &mut memo))
            }
            Values::Uuid(v) => extend_parsed(v, n, texts, binary::parse_uuid),
            Values::Bin(..) | Values::Variant(_) | Values::Nested(..) => false,
        };
        if ok {
            self.validity.append_n(n, true);
        }
        ok
    }

    /// Append NULL (an error in a NOT NULL column).
    pub(crate) fn push_null(&mut self) -> FieldResult<()> {
        if !self.nullable {
            return Err(FieldError::Null);
        }
        self.push_zero();
        self.validity.append(false);
        Ok(())
    }

    /// A column a partial update does not give: NULL, or in a NOT NULL
    /// column a valid zero value (Arrow refuses NULLs there). The batch's
    /// update mask says it is not a value (`ChangeBatch`).
    pub(crate) fn push_placeholder(&mut self) {
        self.push_zero();
        self.validity.append(!self.nullable);
    }

    /// The value slot of a NULL or placeholder, without its validity bit.
    fn push_zero(&mut self) {
        match &mut self.values {
            Values::Bool(v) => v.append(false),
            Values::I8(v) => v.push(0),
            Values::I16(v) => v.push(0),
            Values::I32(v) | Values::Date(v) => v.push(0),
            Values::I64(v) | Values::Time(v) | Values::Ts(v) => v.push(0),
            Values::U8(v) => v.push(0),
            Values::U16(v) => v.push(0),
            Values::U32(v) => v.push(0),
            Values::U64(v) => v.push(0),
            Values::F32(v) => v.push(0.0),
            Values::F64(v) => v.push(0.0),
            Values::Dec(v, ..) => v.push(0),
            Values::Str(s, _) | Values::Variant(VariantBuf(s)) => s.put((), b""),
            Values::Bin(bb, _) => bb.end_value(),
            Values::Uuid(v) => v.push([0; 16]),
            Values::Nested(n, _) => n.push_null(),
        }
    }

    /// JSON: the row has no value for this column: DEFAULT, else NULL.
    pub(crate) fn push_missing(&mut self) -> FieldResult<()> {
        match &self.default {
            None if !self.nullable => Err(FieldError::Missing),
            None | Some(None) => self.push_null(),
            Some(Some(_)) => {
                // Moved out and back (no clone) to satisfy the borrow checker.
                let text = self.default.take().flatten().unwrap_or_default();
                let r = self.push_text(&text).map_err(|_| FieldError::BadDefault);
                self.default = Some(Some(text));
                r
            }
        }
    }

    /// Append a value given as text (a DEFAULT or a JSON string), parsed
    /// like a CSV field of this column's type.
    pub(crate) fn push_text(&mut self, t: &[u8]) -> FieldResult<()> {
        match &mut self.values {
            Values::Bool(v) => v.append(fields::parse_bool(t, true)?),
            Values::I8(v) => v.push(fields::parse_int(t)?),
            Values::I16(v) => v.push(fields::parse_int(t)?),
            Values::I32(v) => v.push(fields::parse_int(t)?),
            Values::I64(v) => v.push(fields::parse_i64(t)?),
            Values::U8(v) => v.push(fields::parse_uint(t)?),
            Values::U16(v) => v.push(fields::parse_uint(t)?),
            Values::U32(v) => v.push(fields::parse_uint(t)?),
            Values::U64(v) => v.push(fields::parse_u64(t)?),
            Values::F32(v) => v.push(fields::parse_f32(t)?),
            Values::F64(v) => v.push(fields::parse_f64(t)?),
            Values::Dec(v, p, s) => v.push(fields::parse_decimal(t, *p, *s)?),
            Values::Str(sb, max) => sb.put((), fields::check_str(t, *max)?),
            Values::Date(v) => v.push(fields::parse_date(t)?),
            Values::Time(v) => v.push(fields::parse_time(t)?),
            Values::Ts(v) => v.push(fields::parse_timestamp(t)?),
            Values::Bin(bb, max) => {
                binary::check_bytes(binary::base64_len(t)?, *max)?;
                bb.put((), t)
            }
            Values::Uuid(v) => v.push(binary::parse_uuid(t)?),
            Values::Variant(vb) => {
                variant::validate(t)?;
                vb.put((), t)
            }
            Values::Nested(n, js) => n.push_json_text(t, js)?,
        }
        self.validity.append(true);
        Ok(())
    }

    /// JSON: append one tape node. `raw_number` gives the source text of a
    /// float node, needed only to put it exactly into a DECIMAL.
    pub(crate) fn push_json<'r>(
        &mut self,
        node: &Node<'_>,
        raw_number: impl FnOnce() -> Option<&'r [u8]>,
    ) -> FieldResult<()> {
        use StaticNode as S;
        let found = Err(FieldError::Found(kind_of(node)));
        let epoch = self.epoch;
        match (node, &mut self.values) {
            (Node::Static(S::Null), _) => return self.push_null(),
            (Node::Static(S::I64(_) | S::U64(_)), Values::Date(v)) if epoch.date_ms != 0 => {
                v.push(epoch.date(json_int(node)?)?)
            }
            (Node::Static(S::I64(_) | S::U64(_)), Values::Ts(v)) if epoch.ts_us != 0 => {
                v.push(epoch.timestamp(json_int(node)?)?)
            }
            (Node::Static(S::I64(_) | S::U64(_)), Values::Time(v)) if epoch.time_us != 0 => {
                v.push(epoch.time(json_int(node)?)?)
            }
            (Node::Static(S::Bool(b)), Values::Bool(v)) => v.append(*b),
            (Node::Static(S::I64(_) | S::U64(_)), Values::I8(v)) => v.push(json_int(node)?),
            (Node::Static(S::I64(_) | S::U64(_)), Values::I16(v)) => v.push(json_int(node)?),
            (Node::Static(S::I64(_) | S::U64(_)), Values::I32(v)) => v.push(json_int(node)?),
            (Node::Static(S::I64(_) | S::U64(_)), Values::I64(v)) => v.push(json_int(node)?),
            (Node::Static(S::I64(_) | S::U64(_)), Values::U8(v)) => {
                v.push(json_uint(node, raw_number)?)
            }
            (Node::Static(S::I64(_) | S::U64(_)), Values::U16(v)) => {
                v.push(json_uint(node, raw_number)?)
            }
            (Node::Static(S::I64(_) | S::U64(_)), Values::U32(v)) => {
                v.push(json_uint(node, raw_number)?)
            }
            (Node::Static(S::I64(_) | S::U64(_)), Values::U64(v)) => {
                v.push(json_uint(node, raw_number)?)
            }
            // Floats accept integers (REAL rounds from the f64 value) and
            // the strings egress writes for NaN and the infinities.
            (Node::Static(S::I64(_) | S::U64(_) | S::F64(_)) | Node::String(_), Values::F32(v)) => {
                v.push(json_f32(node, raw_number)?)
            }
            (Node::Static(S::I64(_) | S::U64(_) | S::F64(_)) | Node::String(_), Values::F64(v)) => {
                v.push(json_float(node, raw_number)?)
            }
            (Node::Static(S::I64(x)), Values::Dec(v, p, s)) => {
                v.push(decimal_int(*x as i128, *p, *s)?)
            }
            (Node::Static(S::U64(x)), Values::Dec(v, p, s)) => {
                v.push(decimal_int(*x as i128, *p, *s)?)
            }
            (Node::Static(S::F64(_)), Values::Dec(v, p, s)) => {
                let raw = raw_number().ok_or(FieldError::Syntax)?;
                v.push(fields::parse_decimal(raw, *p, *s)?)
            }
            (
                Node::String(t),
                Values::Dec(..)
                | Values::Date(_)
                | Values::Time(_)
                | Values::Ts(_)
                | Values::Bin(..)
                | Values::Uuid(_),
            ) => {
                return self.push_text(t.as_bytes());
            }
            (Node::String(t), Values::Str(sb, max)) => {
                // simd-json already validated UTF-8; only the length remains.
                let t = t.as_bytes();
                if let Some(max) = *max {
                    if t.len() > max as usize && fields::char_count(t) > max as usize {
                        return Err(FieldError::TooLong);
                    }
                }
                sb.put((), t)
            }
            _ => return found,
        }
        self.validity.append(true);
        Ok(())
    }

    /// JSON: append the value at `nodes[j]`, whose source text `text` gives
    /// (exact numbers for DECIMAL, the whole value for VARIANT).
    pub(crate) fn push_json_at(
        &mut self,
        nodes: &[Node<'_>],
        j: usize,
        text: TextOf<'_, '_>,
    ) -> FieldResult<()> {
        match (&nodes[j], &mut self.values) {
            (Node::Static(StaticNode::Null), _) => self.push_null(),
            (_, Values::Nested(n, _)) => {
                n.push_json(nodes, j, text)?;
                self.validity.append(true);
                Ok(())
            }
            (_, Values::Variant(vb)) => {
                vb.put((), text(j).ok_or(FieldError::Syntax)?);
                self.validity.append(true);
                Ok(())
            }
            (Node::Array { len, count }, Values::Bin(bb, max)) => {
                // An array of byte values, as serde serializes `Vec<u8>`.
                if len != count {
                    return Err(FieldError::Found("nested array"));
                }
                binary::check_bytes(*len, *max)?;
                let start = bb.buf.data.len();
                for (k, node) in nodes.iter().enumerate().skip(j + 1).take(*len) {
                    match json_uint::<u8>(node, || text(k)) {
                        Ok(b) => bb.buf.data.push(b),
                        Err(e) => {
                            bb.buf.data.truncate(start);
                            return Err(e);
                        }
                    }
                }
                bb.end_value();
                self.validity.append(true);
                Ok(())
            }
            (node, _) => self.push_json(node, || text(j)),
        }
    }

    /// JSON, many rows at once: append the tape nodes `nodes[j]` for each
    /// `(row, j)` of `at`, exactly as `push_json` would one by one, but with
    /// the type dispatch hoisted out of the loop. `raw_number(row, j)` gives
    /// the source text of a float node (DECIMAL only). Stops at the first
    /// value that fails; the caller then rolls the column back.
    pub(crate) fn push_json_rows<'n, 'r>(
        &mut self,
        nodes: &'n [Node<'n>],
        at: impl Iterator<Item = (usize, usize)>,
        raw_number: impl Fn(usize, usize) -> Option<&'r [u8]>,
    ) -> FieldResult<()> {
        use StaticNode as S;
        let mut f = JsonFiller {
            validity: &mut self.validity,
            nullable: self.nullable,
        };
        let at = at.map(|(row, j)| (row, j, &nodes[j]));
        match &mut self.values {
            Values::Bool(v) => f.fill(v, at, |_, _, n| match n {
                Node::Static(S::Bool(b)) => Ok(*b),
                other => Err(FieldError::Found(kind_of(other))),
            }),
            Values::I8(v) => f.fill(v, at, |_, _, n| json_int(n)),
            Values::I16(v) => f.fill(v, at, |_, _, n| json_int(n)),
            Values::I32(v) => f.fill(v, at, |_, _, n| json_int(n)),
            Values::I64(v) => f.fill(v, at, |_, _, n| json_int(n)),
            Values::F32(v) => f.fill(v, at, |row, j, n| json_f32(n, || raw_number(row, j))),
            Values::F64(v) => f.fill(v, at, |row, j, n| json_float(n, || raw_number(row, j))),
            Values::Dec(v, p, s) => {
                let (p, s) = (*p, *s);
                f.fill(v, at, |row, j, n| match n {
                    Node::Static(S::I64(x)) => decimal_int(*x as i128, p, s),
                    Node::Static(S::U64(x)) => decimal_int(*x as i128, p, s),
                    Node::Static(S::F64(_)) => {
                        let raw = raw_number(row, j).ok_or(FieldError::Syntax)?;
                        fields::parse_decimal(raw, p, s)
                    }
                    Node::String(t) => fields::parse_decimal(t.as_bytes(), p, s),
                    other => Err(FieldError::Found(kind_of(other))),
                })
            }
            Values::Str(sb, max) => {
                let max = *max;
                f.fill(sb, at, |_, _, n| match n {
                    // simd-json already validated UTF-8; only the length.
                    Node::String(t) => match max {
                        Some(m)
                            if t.len() > m as usize
                                && fields::char_count(t.as_bytes()) > m as usize =>
                        {
                            Err(FieldError::TooLong)
                        }
                        _ => Ok(()),
                    },
                    other => Err(FieldError::Found(kind_of(other))),
                })
            }
            Values::Date(v) => f.fill(v, at, |_, _, n| json_text(n, fields::parse_date)),
            Values::Time(v) => f.fill(v, at, |_, _, n| json_text(n, fields::parse_time)),
            Values::Ts(v) => f.fill(v, at, |_, _, n| json_text(n, fields::parse_timestamp)),
            Values::U8(v) => f.fill(v, at, |row, j, n| json_uint(n, || raw_number(row, j))),
            Values::U16(v) => f.fill(v, at, |row, j, n| json_uint(n, || raw_number(row, j))),
            Values::U32(v) => f.fill(v, at, |row, j, n| json_uint(n, || raw_number(row, j))),
            Values::U64(v) => f.fill(v, at, |row, j, n| json_uint(n, || raw_number(row, j))),
            // Byte, VARIANT and nested values need the tape around the
            // node: the caller rolls back and goes row by row.
            Values::Bin(..) | Values::Uuid(_) | Values::Variant(_) | Values::Nested(..) => {
                Err(FieldError::Found("a value only the row-by-row path takes"))
            }
        }
    }

    /// Take the rows as an Arrow array; the buffers start again empty.
    ///
    /// A batch much smaller than the buffers' capacity (a small request) is
    /// copied out at its exact size and the buffers are kept, so the next
    /// body reuses them; a large one is moved out and the buffers are
    /// reserved again at its size (at most `capacity` rows).
    pub(crate) fn finish(&mut self) -> ArrayRef {
        let len = self.validity.len();
        let nulls = if count_ones(self.validity.as_slice(), len) == len {
            None
        } else {
            Some(NullBuffer::new(self.validity.finish_cloned()))
        };
        self.validity.truncate(0);
        if let Values::Nested(n, _) = &mut self.values {
            return n.finish(&self.sql_type, nulls);
        }
        let keep = len * 4 <= self.values_capacity();
        let values = if keep {
            self.copy_values()
        } else {
            let data = match &self.values {
                Values::Str(sb, _) => sb.data.len(),
                _ => 0,
            };
            // Both fit u32: element counts and string bytes are bounded by a
            // batch's bytes (`BATCH_BYTES_CAP`); a saturated count would
            // only change a reservation.
            let sat = |n: usize| n.min(u32::MAX as usize) as u32;
            let (rows_before, data_before) =
                std::mem::replace(&mut self.before, (sat(len), sat(data)));
            let (rows_before, data_before) = (rows_before as usize, data_before as usize);
            // One odd huge batch of strings is not carried on: the bytes
            // before count only within twice this batch's.
            let data_before = if data_before <= 2 * data {
                data_before
            } else {
                data
            };
            let headroom = |n: usize| n + n / 8;
            let reserve = headroom(len.max(rows_before)).min(self.capacity);
            let fresh = match &self.values {
                // A nested child (capacity 0) is rebuilt every batch: its
                // buffers start empty.
                Values::Str(..) if self.capacity > 0 => {
                    let mut v = Self::empty_values(&self.sql_type, reserve);
                    if let Values::Str(nb, _) = &mut v {
                        // The slack `push_text`'s block copies need past
                        // the last value, so the same body again fits.
                        let bytes = headroom(data.max(data_before)).min(STR_RESERVE_BYTES_MAX);
                        nb.data.reserve(bytes + TEXT_COPY_BYTES_MAX);
                    }
                    v
                }
                _ => Self::empty_values(&self.sql_type, reserve),
            };
            std::mem::replace(&mut self.values, fresh)
        };
        match values {
            Values::Bool(mut v) => Arc::new(BooleanArray::new(v.finish(), nulls)),
            Values::I8(v) => prim::<Int8Type>(v, nulls),
            Values::I16(v) => prim::<Int16Type>(v, nulls),
            Values::I32(v) => prim::<Int32Type>(v, nulls),
            Values::I64(v) => prim::<Int64Type>(v, nulls),
            Values::U8(v) => prim::<UInt8Type>(v, nulls),
            Values::U16(v) => prim::<UInt16Type>(v, nulls),
            Values::U32(v) => prim::<UInt32Type>(v, nulls),
            Values::U64(v) => prim::<UInt64Type>(v, nulls),
            Values::F32(v) => prim::<Float32Type>(v, nulls),
            Values::F64(v) => prim::<Float64Type>(v, nulls),
            Values::Dec(v, p, s) => Arc::new(
                PrimitiveArray::<Decimal128Type>::new(v.into(), nulls)
                    .with_data_type(arrow_schema::DataType::Decimal128(p, s)),
            ),
            Values::Str(sb, _) => {
                let offsets = OffsetBuffer::new(ScalarBuffer::from(sb.offsets));
                let data = Buffer::from_vec(sb.data);
                // SAFETY: every value was checked to be UTF-8 when appended
                // (`check_str`, simd-json's validation of JSON strings, or
                // the direct path's of each line, whose unescaped strings
                // stay UTF-8 as `json/escape.rs` explains), and offsets
                // start at 0 and never decrease (`StrBuf::put`, `truncate`),
                // so the array invariants hold.
                Arc::new(unsafe { StringArray::new_unchecked(offsets, data, nulls) })
            }
            Values::Date(v) => prim::<Date32Type>(v, nulls),
            Values::Time(v) => prim::<Time64MicrosecondType>(v, nulls),
            Values::Ts(v) => prim::<TimestampMicrosecondType>(v, nulls),
            Values::Variant(VariantBuf(sb)) => {
                let offsets = OffsetBuffer::new(ScalarBuffer::from(sb.offsets));
                // SAFETY: VARIANT text is JSON validated as UTF-8 (serde_json
                // for CSV fields, simd-json for JSON bodies), minified on
                // whole tokens; offsets are monotonic as for strings.
                Arc::new(unsafe { StringArray::new_unchecked(offsets, sb.data.into(), nulls) })
            }
            Values::Bin(BinBuf { buf, fixed: None }, _) => {
                let offsets = OffsetBuffer::new(ScalarBuffer::from(buf.offsets));
                Arc::new(BinaryArray::new(offsets, buf.data.into(), nulls))
            }
            Values::Bin(
                BinBuf {
                    buf,
                    fixed: Some(n),
                },
                _,
            ) => Arc::new(FixedSizeBinaryArray::new(n as i32, buf.data.into(), nulls)),
            Values::Uuid(v) => Arc::new(FixedSizeBinaryArray::new(
                16,
                v.into_flattened().into(),
                nulls,
            )),
            Values::Nested(..) => unreachable!("handled before"),
        }
    }

    /// Rows the value buffer holds without growing.
    fn values_capacity(&self) -> usize {
        match &self.values {
            Values::Bool(v) => v.capacity(),
            Values::I8(v) => v.capacity(),
            Values::I16(v) => v.capacity(),
            Values::I32(v) | Values::Date(v) => v.capacity(),
            Values::I64(v) | Values::Time(v) | Values::Ts(v) => v.capacity(),
            Values::U8(v) => v.capacity(),
            Values::U16(v) => v.capacity(),
            Values::U32(v) => v.capacity(),
            Values::U64(v) => v.capacity(),
            Values::F32(v) => v.capacity(),
            Values::F64(v) => v.capacity(),
            Values::Dec(v, ..) => v.capacity(),
            Values::Str(s, _)
            | Values::Bin(BinBuf { buf: s, .. }, _)
            | Values::Variant(VariantBuf(s)) => s.offsets.capacity().saturating_sub(1),
            Values::Uuid(v) => v.capacity(),
            Values::Nested(..) => 0,
        }
    }

    /// An exact-size copy of the values; the buffers are emptied, kept.
    fn copy_values(&mut self) -> Values {
        fn take<T: Clone>(v: &mut Vec<T>) -> Vec<T> {
            let out = v.to_vec();
            v.clear();
            out
        }
        match &mut self.values {
            Values::Bool(v) => {
                let out = v.finish_cloned();
                v.truncate(0);
                let mut b = BooleanBufferBuilder::new(0);
                b.append_buffer(&out);
                Values::Bool(b)
            }
            Values::I8(v) => Values::I8(take(v)),
            Values::I16(v) => Values::I16(take(v)),
            Values::I32(v) => Values::I32(take(v)),
            Values::Date(v) => Values::Date(take(v)),
            Values::I64(v) => Values::I64(take(v)),
            Values::Time(v) => Values::Time(take(v)),
            Values::Ts(v) => Values::Ts(take(v)),
            Values::U8(v) => Values::U8(take(v)),
            Values::U16(v) => Values::U16(take(v)),
            Values::U32(v) => Values::U32(take(v)),
            Values::U64(v) => Values::U64(take(v)),
            Values::Uuid(v) => Values::Uuid(take(v)),
            Values::Bin(bb, max) => Values::Bin(
                BinBuf {
                    buf: take_str(&mut bb.buf),
                    fixed: bb.fixed,
                },
                *max,
            ),
            Values::Variant(VariantBuf(sb)) => Values::Variant(VariantBuf(take_str(sb))),
            Values::Nested(..) => unreachable!("finish moves nested buffers out"),
            Values::F32(v) => Values::F32(take(v)),
            Values::F64(v) => Values::F64(take(v)),
            Values::Dec(v, p, s) => Values::Dec(take(v), *p, *s),
            Values::Str(sb, max) => Values::Str(take_str(sb), *max),
        }
    }
}

/// An exact-size copy of string buffers, which are emptied and kept.
fn take_str(sb: &mut StrBuf) -> StrBuf {
    let out = StrBuf {
        offsets: sb.offsets.to_vec(),
        data: sb.data.to_vec(),
    };
    sb.offsets.truncate(1);
    sb.data.clear();
    out
}

/// Set bits among the first `len` bits of `bits`.
fn count_ones(bits: &[u8], len: usize) -> usize {
    let full = len / 8;
    let mut n: usize = bits[..full].iter().map(|b| b.count_ones() as usize).sum();
    if !len.is_multiple_of(8) {
        n += (bits[full] & ((1u8 << (len % 8)) - 1)).count_ones() as usize;
    }
    n
}

fn prim<T: ArrowPrimitiveType>(v: Vec<T::Native>, nulls: Option<NullBuffer>) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(v), nulls))
}

/// The JSON kind of a node, for "found ..." messages.
pub(crate) fn kind_of(node: &Node<'_>) -> &'static str {
    match node {
        Node::String(_) => "string",
        Node::Object { .. } => "object",
        Node::Array { .. } => "array",
        Node::Static(StaticNode::Bool(_)) => "boolean",
        Node::Static(StaticNode::Null) => "null",
        Node::Static(StaticNode::F64(_)) => "float",
        Node::Static(_) => "integer",
    }
}

/// An integer node into a column of width `T`.
fn json_int<T: TryFrom<i64>>(node: &Node<'_>) -> FieldResult<T> {
    let x = match node {
        Node::Static(StaticNode::I64(x)) => *x,
        Node::Static(StaticNode::U64(x)) => i64::try_from(*x).map_err(|_| FieldError::Overflow)?,
        other => return Err(FieldError::Found(kind_of(other))),
    };
    T::try_from(x).map_err(|_| FieldError::Overflow)
}

/// A non-negative integer node into an unsigned column of width `T`.
/// `raw` gives its source text, needed only for a zero: the tape reads
/// `-0` as 0, and an unsigned column refuses any `-` (as in CSV).
fn json_uint<'r, T: TryFrom<u64>>(
    node: &Node<'_>,
    raw: impl FnOnce() -> Option<&'r [u8]>,
) -> FieldResult<T> {
    let x = match node {
        Node::Static(StaticNode::I64(x)) => u64::try_from(*x).map_err(|_| FieldError::Overflow)?,
        Node::Static(StaticNode::U64(x)) => *x,
        other => return Err(FieldError::Found(kind_of(other))),
    };
    if x == 0 && raw().is_some_and(|t| t.first() == Some(&b'-')) {
        return Err(FieldError::Overflow);
    }
    T::try_from(x).map_err(|_| FieldError::Overflow)
}

/// A number node as f64 (REAL/DOUBLE take integers too).
fn json_f64(node: &Node<'_>) -> FieldResult<f64> {
    match node {
        Node::Static(StaticNode::I64(x)) => Ok(*x as f64),
        Node::Static(StaticNode::U64(x)) => Ok(*x as f64),
        Node::Static(StaticNode::F64(x)) => Ok(*x),
        other => Err(FieldError::Found(kind_of(other))),
    }
}

/// A number node as DOUBLE. `raw` gives its source text, needed only for
/// a zero: simd-json reads `-0` as the integer 0, losing the sign that
/// serde_json (and IEEE) keep, so a float column reads the sign back.
fn json_float<'r>(node: &Node<'_>, raw: impl FnOnce() -> Option<&'r [u8]>) -> FieldResult<f64> {
    if let Node::String(t) = node {
        // JSON has no NaN or infinities: egress writes them as these
        // strings, so they are read back (no other string is a float).
        return match &**t {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(FieldError::Found(kind_of(node))),
        };
    }
    let zero = matches!(node, Node::Static(StaticNode::I64(0) | StaticNode::U64(0)));
    if zero && raw().is_some_and(|t| t.first() == Some(&b'-')) {
        return Ok(-0.0);
    }
    json_f64(node)
}

/// A number node as REAL, rounded from its f64 value. A finite number
/// beyond REAL's range is `Overflow`, never infinity: serde_json (Feldera's
/// JSON parser) refuses it too. (CSV differs on purpose: `str::parse`, the
/// csv crate's and so Feldera's CSV path, gives infinity.)
fn json_f32<'r>(node: &Node<'_>, raw: impl FnOnce() -> Option<&'r [u8]>) -> FieldResult<f32> {
    let x = json_float(node, raw)?;
    let y = x as f32;
    if y.is_infinite() && x.is_finite() {
        return Err(FieldError::Overflow);
    }
    Ok(y)
}

/// A string node parsed as text (DATE, TIME, TIMESTAMP).
fn json_text<T>(node: &Node<'_>, parse: impl Fn(&[u8]) -> FieldResult<T>) -> FieldResult<T> {
    match node {
        Node::String(t) => parse(t.as_bytes()),
        other => Err(FieldError::Found(kind_of(other))),
    }
}

/// The loop of `push_json_rows`, compiled once per value type.
struct JsonFiller<'x> {
    validity: &'x mut BooleanBufferBuilder,
    nullable: bool,
}

impl JsonFiller<'_> {
    /// `conv(row, j, node)` turns a non-null node into a value; a string
    /// node's bytes are what a string column keeps.
    fn fill<'n, T: Default, S: Sink<T>>(
        &mut self,
        sink: &mut S,
        at: impl Iterator<Item = (usize, usize, &'n Node<'n>)>,
        conv: impl Fn(usize, usize, &Node<'_>) -> FieldResult<T>,
    ) -> FieldResult<()> {
        // Valid bits are appended in runs: most columns have no NULLs.
        let mut valid_run = 0;
        let mut r = Ok(());
        for (row, j, node) in at {
            if let Node::Static(StaticNode::Null) = node {
                if !self.nullable {
                    r = Err(FieldError::Null);
                    break;
                }
                sink.put(T::default(), b"");
                self.validity.append_n(valid_run, true);
                valid_run = 0;
                self.validity.append(false);
                continue;
            }
            match conv(row, j, node) {
                Ok(v) => {
                    let text = match node {
                        Node::String(t) => t.as_bytes(),
                        _ => b"",
                    };
                    sink.put(v, text);
                    valid_run += 1;
                }
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        self.validity.append_n(valid_run, true);
        r
    }
}

/// An exact integer into DECIMAL(p, s).
fn decimal_int(x: i128, p: u8, s: i8) -> FieldResult<i128> {
    let scaled = if s >= 0 {
        x.checked_mul(10i128.pow(s as u32))
            .ok_or(FieldError::Precision)?
    } else {
        let d = 10i128.pow(s.unsigned_abs() as u32);
        if x % d != 0 {
            return Err(FieldError::Scale);
        }
        x / d
    };
    if scaled.unsigned_abs() >= 10u128.pow(p as u32) {
        return Err(FieldError::Precision);
    }
    Ok(scaled)
}

/// A DEFAULT that does not parse is the table's fault (`BadDefault`),
/// except one that means NULL.
fn default_error(e: FieldError) -> FieldError {
    match e {
        FieldError::Null => e,
        _ => FieldError::BadDefault,
    }
}

/// `append_texts` into a `Vec`: all cells parsed, or none kept.
#[inline]
fn extend_parsed<'a, T>(
    v: &mut Vec<T>,
    n: usize,
    texts: impl Iterator<Item = Option<Text<'a>>>,
    mut parse: impl FnMut(&[u8]) -> FieldResult<T>,
) -> bool {
    let start = v.len();
    v.reserve(n);
    for t in texts {
        match t.map(|t| parse(t.bytes())) {
            Some(Ok(x)) => v.push(x),
            _ => {
                v.truncate(start);
                return false;
            }
        }
    }
    true
}

/// `extend_parsed` with a parser of `digits` when the CPU has AVX2 (an
/// `unsafe fn` compiled for AVX2, so the parser inlines into the loop),
/// else with the scalar parser of `fields` it agrees with.
macro_rules! extend_simd {
    ($(#[$doc:meta])* $name:ident, $avx2:ident <$($g:ident: $b:path),*>, $t:ty,
     ($($arg:ident: $at:ty),*), |$x:ident| $simd:expr, $scalar:expr) => {
        $(#[$doc])*
        #[inline]
        fn $name<'a, $($g: $b),*>(
            v: &mut Vec<$t>,
            n: usize,
            texts: impl Iterator<Item = Option<Text<'a>>>,
            $($arg: $at),*
        ) -> bool {
            #[cfg(target_arch = "x86_64")]
            if digits::available() {
                // SAFETY: the CPU has AVX2.
                return unsafe { $avx2(v, n, texts, $($arg),*) };
            }
            extend_parsed(v, n, texts, $scalar)
        }

        /// # Safety
        /// The CPU must have AVX2.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn $avx2<'a, $($g: $b),*>(
            v: &mut Vec<$t>,
            n: usize,
            texts: impl Iterator<Item = Option<Text<'a>>>,
            $($arg: $at),*
        ) -> bool {
            let start = v.len();
            v.reserve(n);
            for t in texts {
                let parsed = match t {
                    // SAFETY: the caller guarantees AVX2.
                    Some($x) => unsafe { $simd },
                    None => Err(FieldError::Null),
                };
                match parsed {
                    Ok(x) => v.push(x),
                    Err(_) => {
                        v.truncate(start);
                        return false;
                    }
                }
            }
            true
        }
    };
}

extend_simd!(
    /// A signed integer column.
    extend_ints, extend_ints_avx2<T: TryFrom<i64>>, T, (),
    |t| digits::parse_int::<T>(t), fields::parse_int::<T>
);
extend_simd!(
    /// A DOUBLE column.
    extend_f64, extend_f64_avx2<>, f64, (),
    |t| digits::parse_f64(t),
    fields::parse_f64
);
extend_simd!(
    /// A REAL column.
    extend_f32, extend_f32_avx2<>, f32, (),
    |t| digits::parse_f32(t),
    fields::parse_f32
);
extend_simd!(
    /// A DECIMAL(p, s) column.
    extend_decimals, extend_decimals_avx2<>, i128, (p: u8, s: i8),
    |t| digits::parse_decimal(t, p, s), |t| fields::parse_decimal(t, p, s)
);

/// `append_texts` into a BOOLEAN bitmap.
#[inline]
fn extend_bools<'a>(
    v: &mut BooleanBufferBuilder,
    texts: impl Iterator<Item = Option<Text<'a>>>,
) -> bool {
    let start = v.len();
    for t in texts {
        match t.map(|t| fields::parse_bool(t.bytes(), true)) {
            Some(Ok(b)) => v.append(b),
            _ => {
                v.truncate(start);
                return false;
            }
        }
    }
    true
}

/// `append_texts` into a string column: bytes first, UTF-8 of the whole
/// run checked at once. A value longer in bytes than the limit in
/// characters goes the general way (which counts characters).
#[inline]
fn extend_strs<'a>(
    sb: &mut StrBuf,
    n: usize,
    texts: impl Iterator<Item = Option<Text<'a>>>,
    max: Option<u32>,
) -> bool {
    let rows = sb.offsets.len() - 1;
    let max = max.map_or(usize::MAX, |m| m as usize);
    sb.offsets.reserve(n);
    let mut ok = true;
    for t in texts {
        match t {
            Some(t) if t.len <= max => {
                push_text(&mut sb.data, t);
                sb.offsets.push(sb.data.len() as i32);
            }
            _ => {
                ok = false;
                break;
            }
        }
    }
    if ok && sb.valid_from(rows) {
        return true;
    }
    sb.offsets.truncate(rows + 1);
    sb.data.truncate(sb.offsets[rows] as usize);
    false
}

/// The widest block `push_text` copies: a string buffer may need this many
/// bytes of capacity past its last value.
const TEXT_COPY_BYTES_MAX: usize = 32;

/// Append `t`'s bytes: a short value as a whole 16- or 32-byte block of
/// its tail, cut back to its length (see `Text`).
#[inline]
fn push_text(data: &mut Vec<u8>, t: Text<'_>) {
    let end = data.len() + t.len;
    if t.len <= 16 && t.tail.len() >= 16 {
        data.extend_from_slice(&t.tail[..16]);
    } else if t.len <= TEXT_COPY_BYTES_MAX && t.tail.len() >= TEXT_COPY_BYTES_MAX {
        data.extend_from_slice(&t.tail[..TEXT_COPY_BYTES_MAX]);
    } else {
        data.extend_from_slice(t.bytes());
    }
    data.truncate(end);
}

/// The loop of `append_cells`, generic over the value type so that it is
/// compiled once per type: no type dispatch inside.
struct Filler<'x> {
    validity: &'x mut BooleanBufferBuilder,
    nullable: bool,
    default: Option<Option<&'x [u8]>>,
    n: usize,
    skip: &'x [bool],
    bad: &'x mut Vec<(usize, FieldError)>,
}

impl<'x> Filler<'x> {
    /// The loop of `fill` for ARRAY/MAP/ROW, whose CSV fields are JSON
    /// text. A failed cell is cut back at once (`truncate`), so partial
    /// child values never sit under the next row.
    fn fill_nested<'a, I: Iterator<Item = Cell<'a>>>(
        &mut self,
        nested: &mut Nested,
        js: &mut JsonScratch,
        cell: &impl Fn() -> I,
    ) {
        for (i, (cell, &skip)) in cell().zip(self.skip).enumerate() {
            if skip {
                continue;
            }
            let before = self.validity.len();
            let got = match cell {
                Cell::Text(t) => nested.push_json_text(t, js),
                Cell::NoText(_) => Err(FieldError::Null),
                Cell::Missing => match self.default {
                    None => Err(FieldError::Missing),
                    Some(None) => Err(FieldError::Null),
                    Some(Some(d)) => nested.push_json_text(d, js).map_err(default_error),
                },
            };
            match got {
                Ok(()) => self.validity.append(true),
                Err(FieldError::Null | FieldError::Missing) if self.nullable => {
                    nested.truncate(before);
                    nested.push_null();
                    self.validity.append(false);
                }
                Err(e) => {
                    nested.truncate(before);
                    self.bad.push((i, e));
                }
            }
        }
    }

    /// `fill` into a `Vec`: room for every cell first, the unused part
    /// (failed or skipped cells) dropped after.
    #[inline]
    fn fill_vec<'a, T: Default + Clone, I: Iterator<Item = Cell<'a>>>(
        &mut self,
        v: &mut Vec<T>,
        cell: &impl Fn() -> I,
        parse: impl Fn(&[u8]) -> FieldResult<T>,
    ) {
        let start = v.len();
        v.resize(start + self.n, T::default());
        let mut slots = Slots {
            out: &mut v[start..],
            k: 0,
        };
        self.fill(&mut slots, false, cell, parse);
        let used = slots.k;
        v.truncate(start + used);
    }

    /// `empty_is_value`: string columns read `""` (and an empty field in a
    /// NOT NULL column) as the empty string rather than NULL.
    fn fill<'a, T: Default, S: Sink<T>, I: Iterator<Item = Cell<'a>>>(
        &mut self,
        sink: &mut S,
        empty_is_value: bool,
        cell: &impl Fn() -> I,
        parse: impl Fn(&[u8]) -> FieldResult<T>,
    ) {
        // Valid bits are appended in runs: most columns have no NULLs.
        let mut valid_run = 0;
        for (i, (cell, &skip)) in cell().zip(self.skip).enumerate() {
            if skip {
                continue;
            }
            let (got, text): (FieldResult<T>, &[u8]) = match cell {
                Cell::Text(t) => (parse(t), t),
                Cell::NoText(k)
                    if empty_is_value
                        && (k == NoText::EmptyQuoted || (k == NoText::Empty && !self.nullable)) =>
                {
                    (Ok(T::default()), b"")
                }
                Cell::NoText(_) => (Err(FieldError::Null), b""),
                Cell::Missing => match self.default {
                    None => (Err(FieldError::Missing), b""),
                    Some(None) => (Err(FieldError::Null), b""),
                    // A DEFAULT may stand for NULL (VARIANT `'null'`).
                    Some(Some(d)) => (parse(d).map_err(default_error), d),
                },
            };
            match got {
                Ok(v) => {
                    sink.put(v, text);
                    valid_run += 1;
                }
                Err(FieldError::Null | FieldError::Missing) if self.nullable => {
                    sink.put(T::default(), b"");
                    self.validity.append_n(valid_run, true);
                    valid_run = 0;
                    self.validity.append(false);
                }
                Err(e) => self.bad.push((i, e)),
            }
        }
        self.validity.append_n(valid_run, true);
    }
}

/// JSON's schema-directed path (`json/direct.rs`): a group's values as
/// source spans, written one column at a time. Kept in one block at the
/// end of the file (it needs the private buffers).
impl ColumnBuf {
    /// Append one value per item of `vals` (spans of `src`: the group, or
    /// its copy followed by unescaped strings), exactly as the tape path
    /// would, or fail with the index of the first value it might
    /// not take that way (the caller rolls the column back and hands that
    /// row to the general path, which decides and reports). Besides NULL
    /// and a missing key without a text DEFAULT: integer columns take
    /// integers; REAL/DOUBLE numbers of at most 19 bytes (correctly
    /// rounded by `parse_f64`, as by simd-json) and the NaN/infinity
    /// strings; DECIMAL numbers and strings (exactly, as
    /// `parse_decimal`); BOOLEAN `true`/`false`; strings their columns and
    /// the types parsed from text.
    pub(crate) fn push_scalars(
        &mut self,
        src: &[u8],
        vals: impl Iterator<Item = Scalar>,
    ) -> Result<(), usize> {
        #[cfg(target_arch = "x86_64")]
        if digits::available() {
            // SAFETY: the CPU has AVX2.
            return unsafe { self.push_scalars_avx2(src, vals) };
        }
        // SAFETY: `false` asks for no CPU feature.
        unsafe { self.push_scalars_with::<false>(src, vals) }
    }

    /// `push_scalars` with numbers parsed by `digits` (as the CSV columns
    /// are): per warm 1 MiB body, 18.3 M -> 17.2 M instructions on the JSON
    /// bench's and 18.0 M -> 15.9 M on the harness's (callgrind), and 14-16%
    /// faster (`loadtest/decode-ab.sh`).
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn push_scalars_avx2(
        &mut self,
        src: &[u8],
        vals: impl Iterator<Item = Scalar>,
    ) -> Result<(), usize> {
        // SAFETY: the caller guarantees AVX2.
        unsafe { self.push_scalars_with::<true>(src, vals) }
    }

    /// `push_scalars`; `AVX2`: parse numbers with `digits`.
    ///
    /// # Safety
    /// With `AVX2`, the CPU must have AVX2.
    #[inline(always)]
    unsafe fn push_scalars_with<const AVX2: bool>(
        &mut self,
        src: &[u8],
        vals: impl Iterator<Item = Scalar>,
    ) -> Result<(), usize> {
        use ScalarKind as K;
        let text = |v: &Scalar| &src[v.start as usize..v.end as usize];
        // What a non-string column's sink is given (it keeps no text).
        let no_text = |_: &Scalar| &[][..];
        let mut f = ScalarFiller {
            validity: &mut self.validity,
            nullable: self.nullable,
            text_default: matches!(self.default, Some(Some(_))),
        };
        // SAFETY (these three): `AVX2` only when the CPU has it, which is
        // this function's contract.
        let int = |v: &Scalar| unsafe { scalar_i64::<AVX2>(src, v) };
        let uint = |v: &Scalar| match v.kind {
            // `parse_u64` refuses any `-` (even `-0`), as the tape path.
            K::Int => fields::parse_u64(text(v)).ok(),
            _ => None,
        };
        let float = |v: &Scalar| unsafe { scalar_f64::<AVX2>(src, v) };
        let string = |v: &Scalar| (v.kind == K::Str).then(|| text(v));
        match &mut self.values {
            Values::Bool(b) => f.fill(b, vals, no_text, |v| match v.kind {
                K::True => Some(true),
                K::False => Some(false),
                _ => None,
            }),
            Values::I8(o) => f.fill(o, vals, no_text, |v| int(v)?.try_into().ok()),
            Values::I16(o) => f.fill(o, vals, no_text, |v| int(v)?.try_into().ok()),
            Values::I32(o) => f.fill(o, vals, no_text, |v| int(v)?.try_into().ok()),
            Values::I64(o) => f.fill(o, vals, no_text, int),
            Values::U8(o) => f.fill(o, vals, no_text, |v| uint(v)?.try_into().ok()),
            Values::U16(o) => f.fill(o, vals, no_text, |v| uint(v)?.try_into().ok()),
            Values::U32(o) => f.fill(o, vals, no_text, |v| uint(v)?.try_into().ok()),
            Values::U64(o) => f.fill(o, vals, no_text, uint),
            Values::F64(o) => f.fill(o, vals, no_text, float),
            Values::F32(o) => f.fill(o, vals, no_text, |v| {
                // Rounded from the f64 value, as `json_f32`.
                let x = float(v)?;
                let y = x as f32;
                (!y.is_infinite() || !x.is_finite()).then_some(y)
            }),
            Values::Dec(o, p, s) => {
                let (p, s) = (*p, *s);
                f.fill(o, vals, no_text, |v| match v.kind {
                    K::Int | K::Float | K::Str => unsafe {
                        span_decimal::<AVX2>(span(src, v), p, s).ok()
                    },
                    _ => None,
                })
            }
            Values::Str(sb, max) => {
                let max = *max;
                f.fill(sb, vals, no_text, |v| {
                    let t = string(v)?;
                    match max {
                        Some(m) if t.len() > m as usize && fields::char_count(t) > m as usize => {
                            None
                        }
                        _ => Some(Text::new(src, v.start as usize, v.end as usize)),
                    }
                })
            }
            Values::Date(o) => {
                let mut memo = fields::Month::default();
                f.fill(o, vals, no_text, |v| {
                    fields::parse_date_memo(string(v)?, &mut memo).ok()
                })
            }
            Values::Time(o) => f.fill(o, vals, no_text, |v| fields::parse_time(string(v)?).ok()),
            Values::Ts(o) => {
                let mut memo = fields::Month::default();
                f.fill(o, vals, no_text, |v| {
                    fields::parse_timestamp_memo(string(v)?, &mut memo).ok()
                })
            }
            // Rare types one value at a time, through the tape path's own
            // methods for what it does with a string, NULL or no key.
            Values::Bin(..) | Values::Uuid(_) | Values::Variant(_) | Values::Nested(..) => {
                let takes_text = matches!(self.values, Values::Bin(..) | Values::Uuid(_));
                for (r, v) in vals.enumerate() {
                    let ok = match v.kind {
                        K::Missing => self.push_missing().is_ok(),
                        K::Null => self.push_null().is_ok(),
                        K::Str if takes_text => self.push_text(text(&v)).is_ok(),
                        _ => false,
                    };
                    if !ok {
                        return Err(r);
                    }
                }
                Ok(())
            }
        }
    }
}

use super::json::direct::{Scalar, ScalarKind};

/// The text of `v` (with what follows it in `src`, for `digits`' loads).
#[inline(always)]
fn span<'s>(src: &'s [u8], v: &Scalar) -> Text<'s> {
    Text::new(src, v.start as usize, v.end as usize)
}

/// An integer column's value of `v` as i64 (narrowed by the caller).
/// These are forced-inline functions that `push_scalars_with`'s closures
/// call: with the SIMD parsers written in the closures, LLVM left the
/// closures as calls.
///
/// # Safety (the `scalar_` and `span_` functions)
/// With `AVX2`, the CPU must have AVX2.
#[inline(always)]
unsafe fn scalar_i64<const AVX2: bool>(src: &[u8], v: &Scalar) -> Option<i64> {
    match v.kind {
        // SAFETY: the caller's guarantee.
        ScalarKind::Int => unsafe { span_i64::<AVX2>(span(src, v)) }.ok(),
        _ => None,
    }
}

/// A REAL or DOUBLE column's value of `v`.
#[inline(always)]
unsafe fn scalar_f64<const AVX2: bool>(src: &[u8], v: &Scalar) -> Option<f64> {
    use ScalarKind as K;
    match (v.kind, &src[v.start as usize..v.end as usize]) {
        // At most 19 digits (and, from the direct path, two exponent
        // digits): correctly rounded by `parse_f64` as by simd-json.
        (K::Int | K::Float, t) if t.len() <= 19 => {
            // SAFETY: the caller's guarantee.
            let x = unsafe { span_f64::<AVX2>(span(src, v)) };
            x.ok().filter(|x| x.is_finite())
        }
        (K::Str, b"NaN") => Some(f64::NAN),
        (K::Str, b"Infinity") => Some(f64::INFINITY),
        (K::Str, b"-Infinity") => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// The number parsers of `push_scalars`: `digits` when `AVX2` (then the
/// caller is compiled for it, `push_scalars_avx2`), else `fields`; the two
/// give the same results (`digits` is tested against `fields`).
#[inline(always)]
unsafe fn span_i64<const AVX2: bool>(t: Text<'_>) -> FieldResult<i64> {
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: the caller guarantees AVX2 when `AVX2`.
        return unsafe { digits::parse_int::<i64>(t) };
    }
    fields::parse_i64(t.bytes())
}

/// See `span_i64`.
#[inline(always)]
unsafe fn span_f64<const AVX2: bool>(t: Text<'_>) -> FieldResult<f64> {
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: as in `span_i64`.
        return unsafe { digits::parse_f64(t) };
    }
    fields::parse_f64(t.bytes())
}

/// See `span_i64`.
#[inline(always)]
unsafe fn span_decimal<const AVX2: bool>(t: Text<'_>, p: u8, s: i8) -> FieldResult<i128> {
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: as in `span_i64`.
        return unsafe { digits::parse_decimal(t, p, s) };
    }
    fields::parse_decimal(t.bytes(), p, s)
}

/// The loop of `push_scalars`, compiled once per value type.
struct ScalarFiller<'x> {
    validity: &'x mut BooleanBufferBuilder,
    nullable: bool,
    /// The column has a DEFAULT with text (left to the tape path).
    text_default: bool,
}

impl ScalarFiller<'_> {
    /// `conv` turns a value into `T`, `None` when it is not the tape
    /// path's (and for NULL and missing values); `text` gives a value's
    /// source (what a string column keeps; nothing for other columns).
    #[inline(always)]
    fn fill<'s, T: Default, S: Sink<T>>(
        &mut self,
        sink: &mut S,
        vals: impl Iterator<Item = Scalar>,
        text: impl Fn(&Scalar) -> &'s [u8],
        mut conv: impl FnMut(&Scalar) -> Option<T>,
    ) -> Result<(), usize> {
        // Valid bits are appended in runs: most columns have no NULLs.
        let mut valid_run = 0;
        let mut r = Ok(());
        for (row, v) in vals.enumerate() {
            // `conv` takes no NULL and no missing value: values first.
            if let Some(x) = conv(&v) {
                sink.put(x, text(&v));
                valid_run += 1;
                continue;
            }
            let null = match v.kind {
                ScalarKind::Null => true,
                ScalarKind::Missing => !self.text_default,
                _ => false,
            };
            if !(null && self.nullable) {
                r = Err(row);
                break;
            }
            sink.put(T::default(), b"");
            self.validity.append_n(valid_run, true);
            valid_run = 0;
            self.validity.append(false);
        }
        self.validity.append_n(valid_run, true);
        r
    }
}

#[cfg(test)]
#[path = "columns_tests.rs"]
mod tests;
