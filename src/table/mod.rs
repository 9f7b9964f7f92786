//! The catalog: tables declared by a pipeline's `CREATE TABLE` program, their
//! columns, SQL types and the Arrow schema every decoder builds into.
//!
//! Parsing the SQL lives in `catalog.rs`; this file holds the plain types the
//! rest of the server (decoders above all) depends on. Nothing here does I/O.

mod catalog;
mod syntax;
mod types;

pub use catalog::{parse_program, SqlError};
pub use types::{RowField, SqlType};

use arrow_schema::SchemaRef;

/// Longest SQL identifier we accept, in bytes. Bounds name matching work.
pub const IDENT_BYTES_MAX: usize = 128;
/// Most columns one table may declare. Bounds per-row decoder state.
pub const COLUMNS_MAX: usize = 1024;

/// A SQL identifier as written in the program.
///
/// SQL folds unquoted identifiers to one case; Feldera folds to lower case.
/// `canonical` is the folded form (the name itself when quoted), so a client
/// name matches when its own folded form is equal: `T1` and `t1` reach
/// `CREATE TABLE t1`, `"Foo"` reaches only `CREATE TABLE "Foo"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// As written in the program, without quotes.
    pub name: String,
    pub quoted: bool,
    /// `name` when quoted, else `name` lower-cased.
    pub canonical: String,
}

impl Ident {
    pub fn new(name: &str, quoted: bool) -> Ident {
        let canonical = if quoted {
            name.to_string()
        } else {
            name.to_lowercase()
        };
        Ident {
            name: name.to_string(),
            quoted,
            canonical,
        }
    }

    /// Does a name given by a client (URL path segment or JSON key, quotes
    /// already stripped and reported in `quoted`) refer to this identifier?
    /// Allocation-free for ASCII names, which decoders rely on.
    pub fn matches(&self, other: &str, quoted: bool) -> bool {
        if quoted {
            return self.canonical == other;
        }
        if other.is_ascii() {
            return self.canonical.len() == other.len()
                && self
                    .canonical
                    .bytes()
                    .zip(other.bytes())
                    .all(|(a, b)| a == b.to_ascii_lowercase());
        }
        self.canonical == other.to_lowercase()
    }

    /// The name as SQL would write it: quoted when it was.
    pub fn sql(&self) -> String {
        if self.quoted {
            format!("\"{}\"", self.name.replace('"', "\"\""))
        } else {
            self.name.clone()
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    pub ident: Ident,
    pub sql_type: SqlType,
    pub nullable: bool,
    /// The column's DEFAULT as literal text (string literals unquoted),
    /// parsed by the decoders like a CSV field of the column's type.
    /// `None`: a missing value is NULL (or an error when NOT NULL).
    pub default: Option<DefaultValue>,
}

/// A column default, restricted to literals so that it can be applied
/// without an expression evaluator.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    Null,
    /// Literal text: numbers as written, strings without quotes, `true`/`false`.
    Text(String),
}

/// A table: its name, columns in declaration order and Arrow schema.
#[derive(Debug, Clone)]
pub struct Table {
    pub ident: Ident,
    pub columns: Vec<Column>,
    /// Indices into `columns` of the PRIMARY KEY, in key order; empty if none.
    pub primary_key: Vec<usize>,
    /// The Arrow schema of decoded batches: one field per column, same order.
    pub schema: SchemaRef,
}

impl Table {
    /// Build a table, deriving its Arrow schema from the columns. Field
    /// names are the column names as written.
    pub fn new(ident: Ident, columns: Vec<Column>, primary_key: Vec<usize>) -> Table {
        let fields: Vec<arrow_schema::Field> = columns
            .iter()
            .map(|c| arrow_schema::Field::new(&c.ident.name, c.sql_type.arrow_type(), c.nullable))
            .collect();
        let schema = std::sync::Arc::new(arrow_schema::Schema::new(fields));
        Table {
            ident,
            columns,
            primary_key,
            schema,
        }
    }

    /// Index of the column a client names (JSON key), if any.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        let (name, quoted) = unquote(name);
        self.columns
            .iter()
            .position(|c| c.ident.matches(name, quoted))
    }
}

/// Split a client-supplied name into its text and whether it was `"quoted"`.
pub fn unquote(name: &str) -> (&str, bool) {
    if name.len() >= 2 && name.starts_with('"') && name.ends_with('"') {
        (&name[1..name.len() - 1], true)
    } else {
        (name, false)
    }
}
