//! `CREATE TABLE` programs parsed with sqlparser into `Table`s.
//!
//! Only what ingestion needs is kept: names, types, nullability, literal
//! defaults and the primary key. Anything else in a program (views, other
//! statements) is refused at startup rather than silently ignored, because a
//! user who wrote it expects it to mean something.

use sqlparser::ast::{
    self, ColumnDef, ColumnOption, CreateTable, ExactNumberInfo, Expr, Statement, TableConstraint,
    TimezoneInfo, Value,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;

use super::types::DECIMAL_PRECISION_MAX;
use super::{Column, DefaultValue, Ident, RowField, SqlType, Table, COLUMNS_MAX, IDENT_BYTES_MAX};

/// A SQL program that does not parse or declares something unsupported.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlError {
    pub message: String,
    /// 1-based line and column; 0 when unknown.
    pub line: u64,
    pub column: u64,
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        } else {
            f.write_str(&self.message)
        }
    }
}

fn err_at(span: Span, message: String) -> SqlError {
    SqlError {
        message,
        line: span.start.line,
        column: span.start.column,
    }
}

/// Parse a program of `CREATE TABLE` statements.
pub fn parse_program(sql: &str) -> Result<Vec<Table>, SqlError> {
    let rw = super::syntax::rewrite(sql);
    parse_rewritten(&rw.sql).map_err(|e| rw.remap(e))
}

fn parse_rewritten(sql: &str) -> Result<Vec<Table>, SqlError> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql).map_err(parser_error)?;
    let mut tables: Vec<Table> = Vec::with_capacity(statements.len());
    for statement in statements {
        let Statement::CreateTable(create) = statement else {
            return Err(SqlError {
                message: format!(
                    "only CREATE TABLE statements are supported, found: {}",
                    first_words(&statement.to_string())
                ),
                line: 0,
                column: 0,
            });
        };
        let table = table_from(&create)?;
        if tables
            .iter()
            .any(|t| t.ident.canonical == table.ident.canonical)
        {
            return Err(err_at(
                create.name.0.last().map(name_span).unwrap_or(Span::empty()),
                format!("table {} is declared twice", table.ident.name),
            ));
        }
        tables.push(table);
    }
    Ok(tables)
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(4).collect::<Vec<_>>().join(" ")
}

/// sqlparser reports positions inside its message ("... at Line: 3, Column: 7").
fn parser_error(e: sqlparser::parser::ParserError) -> SqlError {
    let message = e.to_string();
    let number_after = |key: &str| -> u64 {
        message
            .find(key)
            .map(|i| &message[i + key.len()..])
            .and_then(|rest| {
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                digits.parse().ok()
            })
            .unwrap_or(0)
    };
    SqlError {
        line: number_after("Line: "),
        column: number_after("Column: "),
        message,
    }
}

fn name_span(part: &ast::ObjectNamePart) -> Span {
    match part {
        ast::ObjectNamePart::Identifier(i) => i.span,
        _ => Span::empty(),
    }
}

fn ident_from(i: &ast::Ident) -> Result<Ident, SqlError> {
    if i.value.is_empty() || i.value.len() > IDENT_BYTES_MAX {
        return Err(err_at(
            i.span,
            format!("identifier must be 1 to {IDENT_BYTES_MAX} bytes long"),
        ));
    }
    Ok(Ident::new(&i.value, i.quote_style.is_some()))
}

fn table_from(create: &CreateTable) -> Result<Table, SqlError> {
    let Some(ast::ObjectNamePart::Identifier(name)) = create.name.0.last() else {
        return Err(SqlError {
            message: format!("unsupported table name {}", create.name),
            line: 0,
            column: 0,
        });
    };
    let ident = ident_from(name)?;
    if create.columns.is_empty() || create.columns.len() > COLUMNS_MAX {
        return Err(err_at(
            name.span,
            format!("table {} must have 1 to {COLUMNS_MAX} columns", ident.name),
        ));
    }
    let mut columns: Vec<Column> = Vec::with_capacity(create.columns.len());
    let mut primary_key = Vec::new();
    for def in &create.columns {
        let (column, is_key) = column_from(def)?;
        if columns
            .iter()
            .any(|c| c.ident.canonical == column.ident.canonical)
        {
            return Err(err_at(
                def.name.span,
                format!("column {} is declared twice", column.ident.name),
            ));
        }
        if is_key {
            primary_key.push(columns.len());
        }
        columns.push(column);
    }
    for constraint in &create.constraints {
        if let TableConstraint::PrimaryKey(pk) = constraint {
            if !primary_key.is_empty() {
                return Err(err_at(name.span, "more than one PRIMARY KEY".into()));
            }
            for index_column in &pk.columns {
                primary_key.push(key_column(&columns, &index_column.column.expr)?);
            }
        }
    }
    // Key columns are implicitly NOT NULL, as in SQL.
    for &k in &primary_key {
        columns[k].nullable = false;
    }
    Ok(Table::new(ident, columns, primary_key))
}

fn key_column(columns: &[Column], expr: &Expr) -> Result<usize, SqlError> {
    let Expr::Identifier(i) = expr else {
        return Err(SqlError {
            message: format!("PRIMARY KEY expects column names, found {expr}"),
            line: 0,
            column: 0,
        });
    };
    let quoted = i.quote_style.is_some();
    columns
        .iter()
        .position(|c| c.ident.matches(&i.value, quoted))
        .ok_or_else(|| {
            err_at(
                i.span,
                format!("PRIMARY KEY names unknown column {}", i.value),
            )
        })
}

/// A column definition and whether it is (alone) the primary key.
fn column_from(def: &ColumnDef) -> Result<(Column, bool), SqlError> {
    let ident = ident_from(&def.name)?;
    let sql_type = sql_type_from(&def.data_type)
        .map_err(|m| err_at(def.name.span, format!("column {}: {m}", ident.name)))?;
    let mut nullable = true;
    let mut default = None;
    let mut is_key = false;
    for option in &def.options {
        match &option.option {
            ColumnOption::Null => nullable = true,
            ColumnOption::NotNull => nullable = false,
            ColumnOption::PrimaryKey(_) => is_key = true,
            ColumnOption::Default(expr) => {
                default =
                    Some(default_from(expr).map_err(|m| {
                        err_at(def.name.span, format!("column {}: {m}", ident.name))
                    })?)
            }
            other => {
                return Err(err_at(
                    def.name.span,
                    format!("column {}: unsupported column option {other}", ident.name),
                ))
            }
        }
    }
    Ok((
        Column {
            ident,
            sql_type,
            nullable,
            default,
        },
        is_key,
    ))
}

/// Defaults are literals (optionally negated numbers): applying them needs no
/// expression evaluator, and a non-literal is refused at startup.
fn default_from(expr: &Expr) -> Result<DefaultValue, String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Null => Ok(DefaultValue::Null),
            Value::Number(n, _) => Ok(DefaultValue::Text(n.clone())),
            Value::Boolean(b) => Ok(DefaultValue::Text(b.to_string())),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
                Ok(DefaultValue::Text(s.clone()))
            }
            other => Err(format!("unsupported DEFAULT literal {other}")),
        },
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => match default_from(expr)? {
            DefaultValue::Text(t) if t.starts_with(|c: char| c.is_ascii_digit()) => {
                Ok(DefaultValue::Text(format!("-{t}")))
            }
            _ => Err(format!("unsupported DEFAULT expression {expr}")),
        },
        // `DEFAULT DATE '2020-01-01'` and friends: typed literals.
        Expr::TypedString(ts) => match &ts.value.value {
            Value::SingleQuotedString(s) => Ok(DefaultValue::Text(s.clone())),
            other => Err(format!("unsupported DEFAULT literal {other}")),
        },
        other => Err(format!(
            "DEFAULT must be a literal, found {other} (expressions are not supported)"
        )),
    }
}

fn length(l: &Option<ast::CharacterLength>) -> Result<Option<u32>, String> {
    match l {
        None => Ok(None),
        Some(ast::CharacterLength::IntegerLength { length, .. }) => u32::try_from(*length)
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| format!("invalid length {length}")),
        Some(ast::CharacterLength::Max) => Ok(None),
    }
}

fn sql_type_from(t: &ast::DataType) -> Result<SqlType, String> {
    use ast::DataType as D;
    Ok(match t {
        D::Boolean | D::Bool => SqlType::Boolean,
        D::TinyInt(_) => SqlType::TinyInt,
        D::SmallInt(_) | D::Int2(_) => SqlType::SmallInt,
        D::Int(_) | D::Integer(_) | D::Int4(_) => SqlType::Int,
        D::BigInt(_) | D::Int8(_) => SqlType::BigInt,
        D::TinyIntUnsigned(_) | D::UTinyInt => SqlType::UTinyInt,
        D::SmallIntUnsigned(_) | D::USmallInt => SqlType::USmallInt,
        D::IntUnsigned(_) | D::IntegerUnsigned(_) | D::UInt32 => SqlType::UInt,
        D::BigIntUnsigned(_) | D::UBigInt | D::UInt64 => SqlType::UBigInt,
        D::Real | D::Float4 => SqlType::Real,
        D::Double(ExactNumberInfo::None) | D::DoublePrecision | D::Float8 => SqlType::Double,
        D::Float(ExactNumberInfo::None) => SqlType::Double,
        D::Decimal(info) | D::Numeric(info) | D::Dec(info) => decimal(info)?,
        D::Char(l) | D::Character(l) => SqlType::Char(length(l)?.unwrap_or(1)),
        D::Varchar(l) | D::CharacterVarying(l) => SqlType::Varchar(length(l)?),
        D::String(_) | D::Text => SqlType::Varchar(None),
        D::Date => SqlType::Date,
        D::Time(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => SqlType::Time,
        D::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => SqlType::Timestamp,
        D::Binary(n) => SqlType::Binary(binary_length(*n)?.unwrap_or(1)),
        D::Varbinary(l) => SqlType::Varbinary(binary_length(match l {
            Some(ast::BinaryLength::IntegerLength { length }) => Some(*length),
            Some(ast::BinaryLength::Max) | None => None,
        })?),
        D::Bytea | D::Blob(None) => SqlType::Varbinary(None),
        D::Uuid => SqlType::Uuid,
        D::Array(
            ast::ArrayElemTypeDef::AngleBracket(t)
            | ast::ArrayElemTypeDef::SquareBracket(t, None)
            | ast::ArrayElemTypeDef::Parenthesis(t)
            | ast::ArrayElemTypeDef::Qualified(t, None),
        ) => SqlType::Array(Box::new(sql_type_from(t)?)),
        D::Map(k, v, _) => {
            let key = sql_type_from(k)?;
            if matches!(
                key,
                SqlType::Array(_) | SqlType::Map(..) | SqlType::Row(_) | SqlType::Variant
            ) {
                return Err(format!(
                    "MAP keys of type {} are not supported",
                    key.sql_name()
                ));
            }
            SqlType::Map(Box::new(key), Box::new(sql_type_from(v)?))
        }
        D::Struct(fields, _) => row_type(fields)?,
        // sqlparser has no VARIANT keyword: it arrives as a custom type.
        D::Custom(name, args) if args.is_empty() && is_named(name, "VARIANT") => SqlType::Variant,
        // Feldera refuses INTERVAL in table schemas (only expressions have
        // it), so no client sends interval rows and no wire form exists to
        // be compatible with: refused by name rather than invented here.
        D::Interval { .. } => {
            return Err(format!(
                "type {t} is not supported: Feldera allows INTERVAL only in \
                 expressions, not as a table column's type"
            ))
        }
        other => return Err(format!("type {other} is not supported by this build")),
    })
}

/// ROW(a T, ...) (written STRUCT<...> by the time sqlparser sees it).
fn row_type(fields: &[ast::StructField]) -> Result<SqlType, String> {
    let mut out: Vec<RowField> = Vec::with_capacity(fields.len());
    for f in fields {
        let name = f.field_name.as_ref().ok_or("ROW fields need names")?;
        let ident = Ident::new(&name.value, name.quote_style.is_some());
        if out.iter().any(|o| o.ident.canonical == ident.canonical) {
            return Err(format!("ROW field {} is declared twice", ident.name));
        }
        out.push(RowField {
            ident,
            sql_type: sql_type_from(&f.field_type)?,
        });
    }
    if out.is_empty() {
        return Err("ROW needs at least one field".into());
    }
    Ok(SqlType::Row(out.into()))
}

/// A BINARY/VARBINARY length: 1..=2^31-1 bytes (Arrow's i32 sizes).
fn binary_length(n: Option<u64>) -> Result<Option<u32>, String> {
    match n {
        None => Ok(None),
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| (1..=i32::MAX as u32).contains(n))
            .map(Some)
            .ok_or_else(|| format!("invalid length {n}")),
    }
}

fn is_named(name: &ast::ObjectName, want: &str) -> bool {
    name.0.len() == 1 && name.to_string().eq_ignore_ascii_case(want)
}

fn decimal(info: &ExactNumberInfo) -> Result<SqlType, String> {
    // The standard leaves bare DECIMAL's precision to the implementation; we
    // pick DECIMAL(28, 10) (documented in the README) and, as the standard
    // says, scale 0 when only a precision is given.
    let (precision, scale) = match *info {
        ExactNumberInfo::None => (28, 10),
        ExactNumberInfo::Precision(p) => (p, 0),
        ExactNumberInfo::PrecisionAndScale(p, s) => (p, s),
    };
    if precision == 0 || precision > DECIMAL_PRECISION_MAX as u64 {
        return Err(format!(
            "DECIMAL precision {precision} is outside 1..={DECIMAL_PRECISION_MAX}"
        ));
    }
    if scale < 0 || scale as u64 > precision {
        return Err(format!("DECIMAL scale {scale} is outside 0..={precision}"));
    }
    Ok(SqlType::Decimal {
        precision: precision as u8,
        scale: scale as i8,
    })
}

#[cfg(test)]
mod tests;
