//! SQL column types supported by this build and their Arrow representation.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};

use super::Ident;

/// A SQL column type. Lengths and precisions are kept so decoders can
/// enforce them; the Arrow type is derived (`arrow_type`). Elements of an
/// ARRAY, values of a MAP and fields of a ROW are nullable; MAP keys are not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    /// TINYINT/SMALLINT/INT/BIGINT UNSIGNED: Arrow UInt8..UInt64.
    UTinyInt,
    USmallInt,
    UInt,
    UBigInt,
    Real,
    Double,
    /// DECIMAL(precision, scale): Arrow Decimal128, exact.
    Decimal {
        precision: u8,
        scale: i8,
    },
    /// CHAR(n): fixed length n characters (n = 1 when omitted).
    Char(u32),
    /// VARCHAR(n) / VARCHAR / STRING / TEXT; `None` = unbounded.
    Varchar(Option<u32>),
    /// Days since 1970-01-01.
    Date,
    /// Microseconds since midnight.
    Time,
    /// Microseconds since 1970-01-01T00:00:00, no time zone.
    Timestamp,
    /// BINARY(n): exactly n bytes (shorter values are zero-padded, as the
    /// SQL standard pads BINARY); Arrow FixedSizeBinary(n).
    Binary(u32),
    /// VARBINARY(n) / VARBINARY / BYTEA: at most n bytes; Arrow Binary.
    Varbinary(Option<u32>),
    /// 16 bytes, big-endian as written in the text form; Arrow
    /// FixedSizeBinary(16).
    Uuid,
    /// Any JSON value, kept as its compact JSON text in an Arrow Utf8.
    Variant,
    /// `T ARRAY`, `T[]`, `ARRAY<T>`: Arrow List of nullable `item`s.
    Array(Box<SqlType>),
    /// `MAP<K, V>`: Arrow Map of `entries` (`key` not null, `value`).
    Map(Box<SqlType>, Box<SqlType>),
    /// `ROW(a T, ...)` / `STRUCT<a T, ...>`: Arrow Struct of nullable fields.
    Row(Arc<[RowField]>),
}

/// A named field of a ROW type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowField {
    pub ident: Ident,
    pub sql_type: SqlType,
}

/// Largest DECIMAL precision Arrow's Decimal128 holds.
pub const DECIMAL_PRECISION_MAX: u8 = 38;

impl SqlType {
    pub fn arrow_type(&self) -> DataType {
        match *self {
            SqlType::Boolean => DataType::Boolean,
            SqlType::TinyInt => DataType::Int8,
            SqlType::SmallInt => DataType::Int16,
            SqlType::Int => DataType::Int32,
            SqlType::BigInt => DataType::Int64,
            SqlType::UTinyInt => DataType::UInt8,
            SqlType::USmallInt => DataType::UInt16,
            SqlType::UInt => DataType::UInt32,
            SqlType::UBigInt => DataType::UInt64,
            SqlType::Real => DataType::Float32,
            SqlType::Double => DataType::Float64,
            SqlType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            SqlType::Char(_) | SqlType::Varchar(_) => DataType::Utf8,
            SqlType::Date => DataType::Date32,
            SqlType::Time => DataType::Time64(TimeUnit::Microsecond),
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            SqlType::Binary(n) => DataType::FixedSizeBinary(n as i32),
            SqlType::Varbinary(_) => DataType::Binary,
            SqlType::Uuid => DataType::FixedSizeBinary(16),
            SqlType::Variant => DataType::Utf8,
            SqlType::Array(ref t) => {
                DataType::List(Arc::new(Field::new_list_field(t.arrow_type(), true)))
            }
            SqlType::Map(ref k, ref v) => DataType::Map(Arc::new(map_entries(k, v)), false),
            SqlType::Row(ref fields) => DataType::Struct(row_fields(fields)),
        }
    }

    /// The SQL spelling, for messages and the pipeline descriptor.
    pub fn sql_name(&self) -> String {
        match *self {
            SqlType::Boolean => "BOOLEAN".into(),
            SqlType::TinyInt => "TINYINT".into(),
            SqlType::SmallInt => "SMALLINT".into(),
            SqlType::Int => "INTEGER".into(),
            SqlType::BigInt => "BIGINT".into(),
            SqlType::UTinyInt => "TINYINT UNSIGNED".into(),
            SqlType::USmallInt => "SMALLINT UNSIGNED".into(),
            SqlType::UInt => "INTEGER UNSIGNED".into(),
            SqlType::UBigInt => "BIGINT UNSIGNED".into(),
            SqlType::Real => "REAL".into(),
            SqlType::Double => "DOUBLE".into(),
            SqlType::Decimal { precision, scale } => format!("DECIMAL({precision}, {scale})"),
            SqlType::Char(n) => format!("CHAR({n})"),
            SqlType::Varchar(Some(n)) => format!("VARCHAR({n})"),
            SqlType::Varchar(None) => "VARCHAR".into(),
            SqlType::Date => "DATE".into(),
            SqlType::Time => "TIME".into(),
            SqlType::Timestamp => "TIMESTAMP".into(),
            SqlType::Binary(n) => format!("BINARY({n})"),
            SqlType::Varbinary(Some(n)) => format!("VARBINARY({n})"),
            SqlType::Varbinary(None) => "VARBINARY".into(),
            SqlType::Uuid => "UUID".into(),
            SqlType::Variant => "VARIANT".into(),
            SqlType::Array(ref t) => format!("{} ARRAY", t.sql_name()),
            SqlType::Map(ref k, ref v) => format!("MAP<{}, {}>", k.sql_name(), v.sql_name()),
            SqlType::Row(ref fields) => {
                let f: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{} {}", f.ident.sql(), f.sql_type.sql_name()))
                    .collect();
                format!("ROW({})", f.join(", "))
            }
        }
    }
}

/// The `entries` struct of a MAP's Arrow type.
pub fn map_entries(k: &SqlType, v: &SqlType) -> Field {
    let kv = vec![
        Field::new("key", k.arrow_type(), false),
        Field::new("value", v.arrow_type(), true),
    ];
    Field::new("entries", DataType::Struct(Fields::from(kv)), false)
}

/// The Arrow fields of a ROW type (named as written, all nullable).
pub fn row_fields(fields: &[RowField]) -> Fields {
    fields
        .iter()
        .map(|f| Field::new(&f.ident.name, f.sql_type.arrow_type(), true))
        .collect()
}
