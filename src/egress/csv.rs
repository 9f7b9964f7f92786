//! Change batches as CSV text: the fields in column order, then the row's
//! signed weight. NULL is an empty field and an empty value (string or
//! VARBINARY) `""`, which is how the CSV decoder reads them back; a field with a comma, quote or
//! line break is quoted (RFC 4180). ARRAY, MAP, ROW and VARIANT fields hold
//! their JSON text, as the decoder expects.

use super::json;
use crate::decode::ChangeBatch;
use crate::table::Table;

/// Row `i` of `b` as one CSV line (nothing for a weight-0 row: a partial
/// update or a no-op has no CSV form). `field` is scratch.
pub fn row(table: &Table, b: &ChangeBatch, i: usize, out: &mut Vec<u8>, field: &mut Vec<u8>) {
    let weight = b.weights.as_ref().map_or(1, |w| w.value(i));
    if weight == 0 {
        return;
    }
    for (c, col) in table.columns.iter().enumerate() {
        let arr = b.data.column(c).as_ref();
        if !arr.is_null(i) {
            field.clear();
            json::scalar_text(field, &col.sql_type, arr, i);
            // An empty value (a string, VARBINARY) is `""`: empty and
            // unquoted is NULL.
            quoted(out, field, field.is_empty());
        }
        out.push(b',');
    }
    out.extend_from_slice(weight.to_string().as_bytes());
    out.push(b'\n');
}

/// `f`, quoted when it must be (or `always`, for the empty string).
fn quoted(out: &mut Vec<u8>, f: &[u8], always: bool) {
    let needs = always || f.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !needs {
        out.extend_from_slice(f);
        return;
    }
    out.push(b'"');
    for &b in f {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}
