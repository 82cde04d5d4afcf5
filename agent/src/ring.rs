//! A byte ring addressed by absolute offsets: the heart of exact resume.
//!
//! A stream's output is one endless byte sequence; the ring keeps its newest `capacity` bytes,
//! `[base, head)`. A client that applied output up to offset `n` asks for `[n, head)` and gets
//! exactly those bytes — or learns that `[n, base)` is gone.

use std::collections::VecDeque;

/// The newest bytes of a stream, by absolute offset.
#[derive(Debug)]
pub struct Ring {
    bytes: VecDeque<u8>,
    base: u64,
    capacity: usize,
}

/// What [`Ring::read`] found at the requested offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// Bytes starting exactly at the requested offset (possibly none, at the head).
    Bytes(Vec<u8>),
    /// The requested offset is older than `base`; the bytes in between are gone.
    Gap {
        /// Where the ring now starts.
        base: u64,
    },
    /// The requested offset is beyond the head.
    Future {
        /// Where the ring ends.
        head: u64,
    },
}

impl Ring {
    /// An empty ring holding at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self {
            bytes: VecDeque::new(),
            base: 0,
            capacity: capacity.max(1),
        }
    }

    /// The oldest offset still held.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The offset just past the newest byte.
    pub fn head(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }

    /// Appends bytes, dropping the oldest beyond capacity.
    pub fn push(&mut self, data: &[u8]) {
        let data = if data.len() > self.capacity {
            // Only the tail can survive; account for the rest as already dropped.
            let skipped = data.len() - self.capacity;
            self.base += (self.bytes.len() + skipped) as u64;
            self.bytes.clear();
            &data[skipped..]
        } else {
            data
        };
        let overflow = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        if overflow > 0 {
            self.bytes.drain(..overflow);
            self.base += overflow as u64;
        }
        self.bytes.extend(data);
    }

    /// Up to `max` bytes starting at `from`.
    pub fn read(&self, from: u64, max: usize) -> Read {
        if from < self.base {
            return Read::Gap { base: self.base };
        }
        let head = self.head();
        if from > head {
            return Read::Future { head };
        }
        let start = usize::try_from(from - self.base).unwrap_or(usize::MAX);
        let end = self.bytes.len().min(start.saturating_add(max));
        Read::Bytes(self.bytes.range(start..end).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_by_absolute_offset_across_wraps() {
        let mut ring = Ring::new(8);
        ring.push(b"abcdef");
        ring.push(b"ghij");
        assert_eq!((ring.base(), ring.head()), (2, 10));
        assert_eq!(ring.read(2, 100), Read::Bytes(b"cdefghij".to_vec()));
        assert_eq!(ring.read(7, 2), Read::Bytes(b"hi".to_vec()));
        assert_eq!(ring.read(10, 5), Read::Bytes(Vec::new()));
        assert_eq!(ring.read(1, 5), Read::Gap { base: 2 });
        assert_eq!(ring.read(11, 5), Read::Future { head: 10 });
    }

    #[test]
    fn a_push_larger_than_the_ring_keeps_its_tail() {
        let mut ring = Ring::new(4);
        ring.push(b"ab");
        ring.push(b"0123456789");
        assert_eq!((ring.base(), ring.head()), (8, 12));
        assert_eq!(ring.read(8, 10), Read::Bytes(b"6789".to_vec()));
    }

    proptest! {
        #[test]
        fn the_ring_always_holds_the_stream_suffix(
            capacity in 1usize..64,
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..30),
            from_back in 0usize..80,
            max in 0usize..100,
        ) {
            let mut ring = Ring::new(capacity);
            let mut stream = Vec::new();
            for chunk in &chunks {
                ring.push(chunk);
                stream.extend_from_slice(chunk);
            }
            prop_assert_eq!(ring.head(), stream.len() as u64);
            prop_assert!(ring.head() - ring.base() <= capacity as u64);
            let from = (stream.len() as u64).saturating_sub(from_back as u64);
            match ring.read(from, max) {
                Read::Bytes(bytes) => {
                    prop_assert!(from >= ring.base());
                    let start = from as usize;
                    let end = stream.len().min(start + max);
                    prop_assert_eq!(bytes, stream[start..end].to_vec());
                }
                Read::Gap { base } => prop_assert!(from < base),
                Read::Future { .. } => prop_assert!(false, "offset within the stream"),
            }
        }
    }
}
