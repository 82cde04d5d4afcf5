//! Admission control: which connections may wait for a handshake before proving a token.
//!
//! The agent's port is open to the internet, and a connection costs nothing to open, so
//! connections that have not yet shown a valid token ("pending") live in their own bounded pool,
//! apart from the sessions that did:
//!
//! - a source (an IPv4 address, or an IPv6 /64) may open [`NEW_PER_SECOND`] connections a second
//!   on average, in bursts of up to [`BURST`]; beyond that a connection is closed as it is
//!   accepted, before any TLS work;
//! - a source holds at most [`PENDING_PER_SOURCE`] pending connections, and all sources together
//!   [`MAX_PENDING`]; when either is full, the *oldest* pending connection of that source (or of
//!   all) is dropped to make room. A new connection therefore always gets its turn: a peer that
//!   parks idle sockets only ever pushes out its own (or, at the global cap, the stalest), and
//!   the owner's handshake, which takes a few round trips, finishes long before it is the
//!   oldest.
//!
//! Deadlines for the TLS handshake and the request head (in `server.rs`) bound how long any
//! pending connection lives, and the pool's size bounds the memory they hold.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

pub use sam_protocol::PENDING_PER_SOURCE;

/// Pending connections all sources together may hold.
pub const MAX_PENDING: usize = 256;
/// New connections a source may open per second, on average.
pub const NEW_PER_SECOND: f64 = 20.0;
/// New connections a source may open at once.
pub const BURST: f64 = 40.0;
/// How many idle sources are remembered before the ones with full buckets are forgotten.
const REMEMBERED_SOURCES: usize = 4096;

/// Where a connection comes from, for counting: IPv6 hosts get a /64 each, so the whole /64
/// counts as one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(u128);

impl Source {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(u128::from(u32::from(v4))),
                None => Self(((u128::from(v6) >> 64) << 64) | (1 << 63)),
            },
        }
    }
}

/// The pool of pending connections.
#[derive(Debug, Default)]
pub struct Admission {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    /// Pending connections by age (ids only grow).
    pending: BTreeMap<u64, Pending>,
    sources: HashMap<Source, SourceState>,
}

#[derive(Debug)]
struct Pending {
    source: Source,
    evict: CancellationToken,
}

#[derive(Debug)]
struct SourceState {
    pending: usize,
    tokens: f64,
    refilled: Instant,
}

impl SourceState {
    fn refill(&mut self, now: Instant) {
        let earned = now.duration_since(self.refilled).as_secs_f64() * NEW_PER_SECOND;
        self.tokens = (self.tokens + earned).min(BURST);
        self.refilled = now;
    }
}

/// A pending connection's place in the pool; dropping it leaves the pool.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    id: u64,
    /// Cancelled when the connection is pushed out to make room.
    pub evicted: CancellationToken,
}

impl Admission {
    /// Admits a new connection from `ip`, or says to close it at once (`None`: the source is
    /// opening connections faster than its rate).
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Option<Ticket> {
        let source = Source::of(ip);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.sources.len() >= REMEMBERED_SOURCES {
            inner.forget_idle(now);
        }
        let state = inner.sources.entry(source).or_insert(SourceState {
            pending: 0,
            tokens: BURST,
            refilled: now,
        });
        state.refill(now);
        if state.tokens < 1.0 {
            return None;
        }
        state.tokens -= 1.0;
        if state.pending >= PENDING_PER_SOURCE {
            let oldest = inner
                .pending
                .iter()
                .find(|(_, pending)| pending.source == source)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                inner.evict(id);
            }
        }
        if inner.pending.len() >= MAX_PENDING
            && let Some(id) = inner.pending.keys().next().copied()
        {
            inner.evict(id);
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let evicted = CancellationToken::new();
        inner.pending.insert(
            id,
            Pending {
                source,
                evict: evicted.clone(),
            },
        );
        if let Some(state) = inner.sources.get_mut(&source) {
            state.pending += 1;
        }
        Some(Ticket {
            admission: Arc::clone(self),
            id,
            evicted,
        })
    }

    /// How many connections are pending now.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pending
            .len()
    }
}

impl Inner {
    /// Removes a pending connection from the pool; true when it was still there.
    fn remove(&mut self, id: u64) -> Option<Pending> {
        let pending = self.pending.remove(&id)?;
        if let Some(state) = self.sources.get_mut(&pending.source) {
            state.pending = state.pending.saturating_sub(1);
        }
        Some(pending)
    }

    fn evict(&mut self, id: u64) {
        if let Some(pending) = self.remove(id) {
            pending.evict.cancel();
        }
    }

    /// Forgets sources with nothing pending whose bucket has refilled: they are as if new.
    fn forget_idle(&mut self, now: Instant) {
        self.sources.retain(|_, state| {
            state.refill(now);
            state.pending > 0 || state.tokens < BURST
        });
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn a_source_over_its_share_pushes_out_its_own_oldest() {
        let admission = Arc::new(Admission::default());
        let start = Instant::now();
        let owner = admission.admit(v4(1), start).expect("owner");
        let attacker: Vec<Ticket> = (0..PENDING_PER_SOURCE)
            .map(|_| admission.admit(v4(2), start).expect("admitted"))
            .collect();
        let newest = admission.admit(v4(2), start).expect("admitted");
        assert!(attacker[0].evicted.is_cancelled());
        assert!(attacker[1..].iter().all(|t| !t.evicted.is_cancelled()));
        assert!(!newest.evicted.is_cancelled());
        assert!(!owner.evicted.is_cancelled());
        assert_eq!(admission.pending(), PENDING_PER_SOURCE + 1);
        drop(attacker);
        assert_eq!(admission.pending(), 2);
    }

    #[test]
    fn a_full_pool_pushes_out_the_oldest_of_all() {
        let admission = Arc::new(Admission::default());
        let start = Instant::now();
        let tickets: Vec<Ticket> = (0..MAX_PENDING)
            .map(|n| {
                let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, n as u16, 0, 0, 0, 1));
                admission.admit(ip, start).expect("admitted")
            })
            .collect();
        let owner = admission.admit(v4(1), start).expect("owner");
        assert!(tickets[0].evicted.is_cancelled());
        assert!(!owner.evicted.is_cancelled());
        assert_eq!(admission.pending(), MAX_PENDING);
    }

    #[test]
    fn a_source_faster_than_its_rate_is_turned_away_until_its_bucket_refills() {
        let admission = Arc::new(Admission::default());
        let start = Instant::now();
        for _ in 0..BURST as usize {
            drop(admission.admit(v4(3), start).expect("within the burst"));
        }
        assert!(admission.admit(v4(3), start).is_none());
        assert!(
            admission.admit(v4(4), start).is_some(),
            "other sources are not affected"
        );
        let later = start + Duration::from_secs_f64(1.0 / NEW_PER_SECOND);
        assert!(admission.admit(v4(3), later).is_some());
    }

    #[test]
    fn an_ipv6_64_is_one_source_and_mapped_ipv4_is_its_address() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(c));
        assert_eq!(Source::of(mapped), Source::of(v4(7)));
    }
}
