//! Arrow values to JSON text, in Feldera's output conventions and the forms
//! the decoders read back (see `text`). Written by hand rather than with
//! arrow-json: that writer's conventions differ (`T` in timestamps, binary
//! as hex) and it cannot tell a UUID or VARIANT from the Arrow type, which
//! only the SQL type says.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, Time64MicrosecondType, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use arrow_array::Array;

use super::text;
use crate::table::SqlType;

/// A JSON string literal of `s`.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut from = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[from..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        from = i + 1;
    }
    out.extend_from_slice(&s[from..]);
    out.push(b'"');
}

/// Row `i` of `arr`, a column of SQL type `ty`, as a JSON value.
pub fn value(out: &mut Vec<u8>, ty: &SqlType, arr: &dyn Array, i: usize) {
    if arr.is_null(i) {
        out.extend_from_slice(b"null");
        return;
    }
    match ty {
        SqlType::Char(_) | SqlType::Varchar(_) => {
            string(out, arr.as_string::<i32>().value(i).as_bytes())
        }
        // Kept as compact JSON text: it is the value itself.
        SqlType::Variant => out.extend_from_slice(arr.as_string::<i32>().value(i).as_bytes()),
        SqlType::Real => text::float32(out, arr.as_primitive::<Float32Type>().value(i), true),
        SqlType::Double => text::float(out, arr.as_primitive::<Float64Type>().value(i), true),
        SqlType::Array(item) => {
            let list = arr.as_list::<i32>().value(i);
            out.push(b'[');
            for j in 0..list.len() {
                if j > 0 {
                    out.push(b',');
                }
                value(out, item, list.as_ref(), j);
            }
            out.push(b']');
        }
        SqlType::Map(k, v) => {
            let entries = arr.as_map().value(i);
            out.push(b'{');
            for j in 0..entries.len() {
                if j > 0 {
                    out.push(b',');
                }
                // Object keys are strings: a non-string key in the text
                // form its type's decoder parses.
                let mut key = Vec::new();
                scalar_text(&mut key, k, entries.column(0).as_ref(), j);
                string(out, &key);
                out.push(b':');
                value(out, v, entries.column(1).as_ref(), j);
            }
            out.push(b'}');
        }
        SqlType::Row(fields) => {
            let row = arr.as_struct();
            out.push(b'{');
            for (j, f) in fields.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                string(out, f.ident.canonical.as_bytes());
                out.push(b':');
                value(out, &f.sql_type, row.column(j).as_ref(), i);
            }
            out.push(b'}');
        }
        SqlType::Boolean
        | SqlType::Decimal { .. }
        | SqlType::TinyInt
        | SqlType::SmallInt
        | SqlType::Int
        | SqlType::BigInt
        | SqlType::UTinyInt
        | SqlType::USmallInt
        | SqlType::UInt
        | SqlType::UBigInt => scalar_text(out, ty, arr, i),
        SqlType::Date
        | SqlType::Time
        | SqlType::Timestamp
        | SqlType::Binary(_)
        | SqlType::Varbinary(_)
        | SqlType::Uuid => {
            out.push(b'"');
            scalar_text(out, ty, arr, i);
            out.push(b'"');
        }
    }
}

/// The unquoted text of a non-null scalar: what a CSV field holds and what
/// a MAP key becomes. Nested types and VARIANT write their JSON text.
pub fn scalar_text(out: &mut Vec<u8>, ty: &SqlType, arr: &dyn Array, i: usize) {
    use std::io::Write;
    match ty {
        SqlType::Boolean => {
            let b = arr.as_boolean().value(i);
            out.extend_from_slice(if b { b"true" } else { b"false" });
        }
        SqlType::TinyInt => _ = write!(out, "{}", arr.as_primitive::<Int8Type>().value(i)),
        SqlType::SmallInt => _ = write!(out, "{}", arr.as_primitive::<Int16Type>().value(i)),
        SqlType::Int => _ = write!(out, "{}", arr.as_primitive::<Int32Type>().value(i)),
        SqlType::BigInt => _ = write!(out, "{}", arr.as_primitive::<Int64Type>().value(i)),
        SqlType::UTinyInt => _ = write!(out, "{}", arr.as_primitive::<UInt8Type>().value(i)),
        SqlType::USmallInt => _ = write!(out, "{}", arr.as_primitive::<UInt16Type>().value(i)),
        SqlType::UInt => _ = write!(out, "{}", arr.as_primitive::<UInt32Type>().value(i)),
        SqlType::UBigInt => _ = write!(out, "{}", arr.as_primitive::<UInt64Type>().value(i)),
        SqlType::Real => text::float32(out, arr.as_primitive::<Float32Type>().value(i), false),
        SqlType::Double => text::float(out, arr.as_primitive::<Float64Type>().value(i), false),
        SqlType::Decimal { scale, .. } => {
            text::decimal(out, arr.as_primitive::<Decimal128Type>().value(i), *scale)
        }
        SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Variant => {
            out.extend_from_slice(arr.as_string::<i32>().value(i).as_bytes())
        }
        SqlType::Date => text::date(out, arr.as_primitive::<Date32Type>().value(i)),
        SqlType::Time => text::time(out, arr.as_primitive::<Time64MicrosecondType>().value(i)),
        SqlType::Timestamp => {
            text::timestamp(out, arr.as_primitive::<TimestampMicrosecondType>().value(i))
        }
        SqlType::Binary(_) => text::base64(out, arr.as_fixed_size_binary().value(i)),
        SqlType::Uuid => text::uuid(out, arr.as_fixed_size_binary().value(i)),
        SqlType::Varbinary(_) => text::base64(out, arr.as_binary::<i32>().value(i)),
        SqlType::Array(_) | SqlType::Map(..) | SqlType::Row(_) => value(out, ty, arr, i),
    }
}
