//! Idempotent retries: `Idempotency-Key` on ingress.
//!
//! A keyed request is atomic: the accepting shard holds its rows until the
//! body ends (at most `ingest.idempotent_bytes_max`), then sends them as
//! one batch carrying the key in its schema metadata. The table's owner
//! decides, before anything else and before any await, whether the key is
//! new: if so it remembers (key -> where the rows end) and applies them;
//! if not it applies an empty batch in their place (the lane positions
//! still advance) and the request is answered with the first attempt's
//! token. The batch goes to the log as one record with the key in it, so
//! a crash leaves all of a keyed request's rows or none, and the keys
//! survive restarts: recovery reads them back. How far back a retry is
//! recognised is bounded twice: the newest `ingest.idempotency_keys_max`
//! keys per table, and what the log still retains.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow_schema::Schema;
use glommio::channels::local_channel::{self, LocalSender};

use super::{Applied, Overloaded, Shard, ToOwner};
use crate::decode::ChangeBatch;

/// Schema metadata key of a keyed batch (and of its log record).
pub const KEY_METADATA: &str = "sluice.idempotency_key";
/// Longest key, bytes.
pub const KEY_BYTES_MAX: usize = 128;

/// A key as sent: 1 to 128 visible ASCII characters.
pub fn check_key(k: &[u8]) -> Result<&str, &'static str> {
    if k.is_empty() || k.len() > KEY_BYTES_MAX {
        return Err("must be 1 to 128 characters long");
    }
    if !k.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err("must be visible ASCII characters (no spaces)");
    }
    Ok(std::str::from_utf8(k).expect("ASCII is UTF-8"))
}

pub fn key_of(b: &ChangeBatch) -> Option<&str> {
    b.data
        .schema_ref()
        .metadata()
        .get(KEY_METADATA)
        .map(String::as_str)
}

/// `b` with `key` in its schema metadata.
pub fn with_key(b: ChangeBatch, key: &str) -> ChangeBatch {
    let fields = b.data.schema_ref().fields().clone();
    let meta: HashMap<String, String> = [(KEY_METADATA.to_string(), key.to_string())].into();
    let schema = Arc::new(Schema::new(fields).with_metadata(meta));
    ChangeBatch {
        data: b
            .data
            .with_schema(schema)
            .expect("the same fields with more metadata"),
        ..b
    }
}

/// An empty batch of `b`'s columns: what a repeated request applies.
pub fn emptied(b: &ChangeBatch) -> ChangeBatch {
    let fields = b.data.schema_ref().fields().clone();
    ChangeBatch {
        data: arrow_array::RecordBatch::new_empty(Arc::new(Schema::new(fields))),
        weights: None,
        updates: None,
    }
}

/// Where a keyed request's rows ended: enough to rebuild its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub run: u64,
    pub lane: u16,
    pub end: u64,
}

/// A table's newest keys, oldest forgotten first.
pub struct KeyTable {
    map: HashMap<Box<str>, Origin>,
    order: VecDeque<Box<str>>,
    max: usize,
}

impl KeyTable {
    pub fn new(max: usize) -> KeyTable {
        KeyTable {
            map: HashMap::new(),
            order: VecDeque::new(),
            max,
        }
    }

    pub fn get(&self, key: &str) -> Option<Origin> {
        self.map.get(key).copied()
    }

    /// Remember a new key (a known one keeps its first origin).
    pub fn insert(&mut self, key: &str, origin: Origin) {
        if self.map.contains_key(key) {
            return;
        }
        if self.order.len() >= self.max {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        self.map.insert(key.into(), origin);
        self.order.push_back(key.into());
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A shard's keyed requests waiting for their owner's verdict. At most one
/// per connection, so bounded by the connection cap.
#[derive(Default)]
pub struct Replies {
    next: Cell<u64>,
    waiting: RefCell<HashMap<u64, LocalSender<Option<Origin>>>>,
}

impl Replies {
    pub fn deliver(&self, req: u64, original: Option<Origin>) {
        if let Some(tx) = self.waiting.borrow_mut().remove(&req) {
            let _ = tx.try_send(original);
        }
    }
}

impl Shard {
    /// Send a keyed request's rows (one batch) to the owner and wait for
    /// its verdict: `(end, None)` when they were applied, `(_, Some(o))`
    /// when the key was known and `o` is where the first attempt ended.
    pub async fn submit_keyed(
        &self,
        pipeline: usize,
        table: usize,
        batch: ChangeBatch,
    ) -> Result<(u64, Option<Origin>), Overloaded> {
        if self.reg.pipelines[pipeline].tables[table].owner == self.id {
            return self.send(pipeline, table, batch, None).await;
        }
        let req = self.replies.next.get();
        self.replies.next.set(req + 1);
        let (tx, rx) = local_channel::new_bounded(1);
        self.replies.waiting.borrow_mut().insert(req, tx);
        let sent = self.send(pipeline, table, batch, Some(req)).await;
        let Ok((end, _)) = sent else {
            // Never sent: no verdict will come.
            self.replies.waiting.borrow_mut().remove(&req);
            return sent;
        };
        let original = rx.recv().await.expect("the verdict is always sent");
        Ok((end, original))
    }

    /// Owner side, before anything else happens to `msg`: a keyed batch
    /// whose key is known becomes empty (its positions still advance) and
    /// the first attempt's origin is returned; a new key is remembered.
    /// A remote sender is told either way.
    pub(super) fn dedupe(&self, msg: &mut Applied) -> Option<Origin> {
        let key = key_of(&msg.batch)?;
        let mut stores = self.stores.borrow_mut();
        let store = stores[msg.pipeline as usize][msg.table as usize]
            .as_mut()
            .expect("owner has the store");
        let original = store.keys.get(key);
        if original.is_none() {
            let origin = Origin {
                run: self.reg.run_id,
                lane: msg.lane,
                end: msg.end,
            };
            store.keys.insert(key, origin);
        }
        drop(stores);
        if original.is_some() {
            msg.batch = emptied(&msg.batch);
        }
        if let Some(req) = msg.reply {
            let link = self.links[msg.lane as usize].clone();
            let link = link.expect("a remote sender has a link");
            // Spawned: the receive loop must never wait on a channel back
            // to a shard that may itself be waiting on us.
            glommio::spawn_local(async move {
                let _ = link.sender.send(ToOwner::Keyed { req, original }).await;
            })
            .detach();
        }
        original
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_the_oldest_forgotten() {
        assert!(check_key(b"order-42/retry").is_ok());
        assert!(check_key(b"").is_err());
        assert!(check_key(b"has space").is_err());
        assert!(check_key(&[b'a'; 129]).is_err());
        assert!(check_key("é".as_bytes()).is_err());
        let mut t = KeyTable::new(2);
        let o = |end| Origin {
            run: 1,
            lane: 0,
            end,
        };
        t.insert("a", o(1));
        t.insert("a", o(9));
        t.insert("b", o(2));
        assert_eq!(t.get("a"), Some(o(1)));
        t.insert("c", o(3));
        assert_eq!((t.get("a"), t.get("b"), t.len()), (None, Some(o(2)), 2));
    }
}
