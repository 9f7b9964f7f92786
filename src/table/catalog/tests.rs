use super::*;

fn one(sql: &str) -> Table {
    let mut t = parse_program(sql).unwrap();
    assert_eq!(t.len(), 1);
    t.remove(0)
}

#[test]
fn every_supported_type_maps() {
    let t = one(
        "CREATE TABLE t (a BOOLEAN, b TINYINT, c SMALLINT, d INT, e INTEGER, f BIGINT, \
         g REAL, h DOUBLE, i DECIMAL(10,2), j CHAR(3), k VARCHAR(20), l VARCHAR, m STRING, \
         n TEXT, o DATE, p TIME, q TIMESTAMP)",
    );
    let types: Vec<SqlType> = t.columns.iter().map(|c| c.sql_type.clone()).collect();
    assert_eq!(
        types,
        vec![
            SqlType::Boolean,
            SqlType::TinyInt,
            SqlType::SmallInt,
            SqlType::Int,
            SqlType::Int,
            SqlType::BigInt,
            SqlType::Real,
            SqlType::Double,
            SqlType::Decimal {
                precision: 10,
                scale: 2
            },
            SqlType::Char(3),
            SqlType::Varchar(Some(20)),
            SqlType::Varchar(None),
            SqlType::Varchar(None),
            SqlType::Varchar(None),
            SqlType::Date,
            SqlType::Time,
            SqlType::Timestamp,
        ]
    );
    assert_eq!(t.schema.fields().len(), 17);
}

#[test]
fn names_nullability_defaults_and_keys() {
    let t = one(
        "CREATE TABLE \"Orders\" (id BIGINT NOT NULL PRIMARY KEY, \"Note\" VARCHAR DEFAULT 'n/a', \
         qty INT DEFAULT -3, ok BOOLEAN DEFAULT true, d DATE DEFAULT NULL)",
    );
    assert_eq!(t.ident.name, "Orders");
    assert!(t.ident.quoted);
    assert_eq!(t.primary_key, vec![0]);
    assert!(!t.columns[0].nullable);
    assert!(t.columns[1].ident.quoted);
    assert_eq!(t.columns[1].default, Some(DefaultValue::Text("n/a".into())));
    assert_eq!(t.columns[2].default, Some(DefaultValue::Text("-3".into())));
    assert_eq!(
        t.columns[3].default,
        Some(DefaultValue::Text("true".into()))
    );
    assert_eq!(t.columns[4].default, Some(DefaultValue::Null));
    assert_eq!(t.column_index("ID"), Some(0));
    assert_eq!(t.column_index("\"Note\""), Some(1));
    assert_eq!(t.column_index("note"), None);
    assert_eq!(t.column_index("\"note\""), None);
}

#[test]
fn table_level_primary_key_makes_columns_not_null() {
    let t = one("CREATE TABLE t (a INT, b VARCHAR, PRIMARY KEY (b, a))");
    assert_eq!(t.primary_key, vec![1, 0]);
    assert!(!t.columns[0].nullable && !t.columns[1].nullable);
}

#[test]
fn table_name_matching_follows_feldera() {
    let t = one("CREATE TABLE t1 (a INT)");
    assert!(t.ident.matches("T1", false));
    assert!(t.ident.matches("t1", false));
    assert!(t.ident.matches("t1", true));
    assert!(!t.ident.matches("T1", true));
    let q = one("CREATE TABLE \"Foo\" (a INT)");
    assert!(q.ident.matches("Foo", true));
    assert!(!q.ident.matches("foo", true));
    assert!(!q.ident.matches("Foo", false));
}

#[test]
fn errors_name_the_problem_and_place() {
    let cases: &[(&str, &str, u64)] = &[
        ("CREATE TABLE t (a INT,\n  b FOO BAR)", "", 2),
        (
            "CREATE TABLE t (a INT,\n  b INTERVAL)",
            "only in expressions",
            2,
        ),
        (
            "CREATE TABLE t (a INTERVAL DAY TO SECOND)",
            "INTERVAL DAY TO SECOND",
            1,
        ),
        (
            "CREATE TABLE t (a INTERVAL YEAR TO MONTH)",
            "only in expressions",
            1,
        ),
        (
            "CREATE TABLE t (a INTERVAL ARRAY)",
            "only in expressions",
            1,
        ),
        ("CREATE TABLE t (a DECIMAL(39, 2))", "precision 39", 1),
        ("CREATE TABLE t (a DECIMAL(5, 6))", "scale 6", 1),
        ("CREATE TABLE t (a INT, A INT)", "declared twice", 1),
        (
            "CREATE TABLE t (a INT);\nCREATE TABLE T (b INT)",
            "declared twice",
            2,
        ),
        ("CREATE TABLE t (a INT DEFAULT 1 + 2)", "literal", 1),
        (
            "CREATE TABLE t (a INT, PRIMARY KEY (z))",
            "unknown column z",
            1,
        ),
        (
            "CREATE TABLE t (a TIMESTAMP WITH TIME ZONE)",
            "not supported",
            1,
        ),
    ];
    for (sql, needle, line) in cases {
        let e = parse_program(sql).unwrap_err();
        assert!(e.message.contains(needle), "{sql}: {e}");
        assert_eq!(e.line, *line, "{sql}: {e}");
    }
    let e = parse_program("SELECT 1").unwrap_err();
    assert!(e.message.contains("only CREATE TABLE"), "{e}");
}
