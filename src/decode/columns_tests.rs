//! What a column's buffers keep reserved between batches: enough for the
//! next batch of the same size, never a past outlier's size.
use super::*;
use crate::table::Ident;

fn data_cap(c: &ColumnBuf) -> usize {
    match &c.values {
        Values::Str(sb, _) => sb.data.capacity(),
        _ => unreachable!("a string column"),
    }
}

fn fill(c: &mut ColumnBuf, rows: usize, bytes_each: usize) {
    let v = vec![b'x'; bytes_each];
    for _ in 0..rows {
        c.push_text(&v).unwrap();
    }
}

fn varchar(capacity: usize) -> ColumnBuf {
    let col = Column {
        ident: Ident::new("s", false),
        sql_type: SqlType::Varchar(None),
        nullable: true,
        default: None,
    };
    ColumnBuf::new(&col, capacity)
}

#[test]
fn batches_of_about_the_same_size_fit_without_growing() {
    let mut c = varchar(8192);
    fill(&mut c, 7600, 10);
    c.finish();
    // The next body is a little larger: it fits what was reserved.
    fill(&mut c, 7700, 10);
    assert!(data_cap(&c) >= 77_000, "{}", data_cap(&c));
    c.finish();
    // A body's short last batch, then a full one: still reserved for it.
    fill(&mut c, 4000, 10);
    c.finish();
    let cap = data_cap(&c);
    fill(&mut c, 7700, 10);
    assert_eq!(
        data_cap(&c),
        cap,
        "no realloc for the full batch after a short one"
    );
}

#[test]
fn a_huge_batch_is_not_carried_on() {
    let mut c = varchar(1000);
    fill(&mut c, 1000, 64 * 1024); // 64 MiB of strings
    c.finish();
    // At most the cap is reserved after it...
    assert!(
        data_cap(&c) <= STR_RESERVE_BYTES_MAX + 64,
        "{}",
        data_cap(&c)
    );
    fill(&mut c, 1000, 10); // an ordinary batch, moved out
    c.finish();
    // ...and after an ordinary batch, about that batch's size.
    for _ in 0..100 {
        fill(&mut c, 1, 10); // one-row bodies, kept
        c.finish();
    }
    assert!(data_cap(&c) < 64 << 10, "{}", data_cap(&c));
}

#[test]
fn a_nested_child_reserves_nothing() {
    let mut c = ColumnBuf::child(&SqlType::Varchar(None), true);
    fill(&mut c, 1000, 1024);
    c.finish();
    assert_eq!(data_cap(&c), 0);
}
