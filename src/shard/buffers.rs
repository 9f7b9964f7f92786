//! Read buffers kept per shard between connections. A read buffer is large
//! (`http.read_buffer_bytes`, 256 KiB by default: above malloc's mmap
//! threshold), so allocating one per connection would cost an mmap, page
//! faults and an munmap for every short-lived connection.

use std::cell::RefCell;

pub struct BufferPool {
    idle: RefCell<Vec<Vec<u8>>>,
    idle_max: usize,
    bytes: usize,
}

impl BufferPool {
    pub fn new(bytes: usize, idle_max: usize) -> BufferPool {
        BufferPool {
            idle: RefCell::new(Vec::with_capacity(idle_max)),
            idle_max,
            bytes,
        }
    }

    pub fn take(&self) -> Vec<u8> {
        self.idle
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0; self.bytes])
    }

    /// Keep the buffer for the next connection, up to `idle_max` of them.
    pub fn give(&self, buf: Vec<u8>) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < self.idle_max && buf.len() == self.bytes {
            idle.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_up_to_the_bound() {
        let pool = BufferPool::new(16, 2);
        let (a, b, c) = (pool.take(), pool.take(), pool.take());
        let pa = a.as_ptr();
        pool.give(a);
        pool.give(b);
        pool.give(c);
        assert_eq!(pool.idle.borrow().len(), 2);
        let again = pool.take();
        assert_eq!(again.len(), 16);
        assert!(pool
            .idle
            .borrow()
            .iter()
            .all(|v| v.as_ptr() != again.as_ptr()));
        assert!(again.as_ptr() == pa || pool.idle.borrow().iter().any(|v| v.as_ptr() == pa));
    }
}
