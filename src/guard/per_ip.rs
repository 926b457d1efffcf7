//! One source holding every worker: with `--workers 128`, one host that
//! opens 128 connections owns the server. The cap (xinetd's `per_source`,
//! nginx's `limit_conn` keyed by `$binary_remote_addr`): at most N
//! connections from one source IP address are served at once; one more is
//! answered `busy\r\n` and closed at once, so its worker is free again at
//! once.
//!
//! Keyed by the address alone, not the port (one host uses many ports), an
//! IPv4-mapped IPv6 address counting as the IPv4 one. An IPv6 host may own
//! a whole /64; the cap counts each address on its own, as nginx does.
//! Unix-domain peers have no address: they are local users whom the socket
//! file's permissions admit, and the cap does not count them.
//!
//! The count cannot leak: each served connection holds a [`Slot`] whose
//! `Drop` gives it back, on every path out of serving, a panic included;
//! the table holds only addresses with a connection being served, so it is
//! never larger than the pool.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use crate::net::Endpoint;

/// Connections being served, per source address.
pub(crate) struct PerIp {
    /// The cap; 0 = off.
    max: usize,
    served: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its address's count, given back on drop.
pub(crate) struct Slot<'a>(Option<(&'a PerIp, IpAddr)>);

impl PerIp {
    /// A cap of `max` connections per address (0 = off).
    pub fn new(max: usize) -> PerIp {
        PerIp { max, served: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Nothing panics while the lock is held; a poisoned table is still exact.
        self.served.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a connection from `peer`, or `None` if `max` from its
    /// address are being served. Costs nothing with the cap off.
    pub fn take(&self, peer: &Endpoint) -> Option<Slot<'_>> {
        let ip = match peer.inet() {
            Some(addr) if self.max > 0 => addr.ip().to_canonical(),
            _ => return Some(Slot(None)),
        };
        let mut served = self.lock();
        let n = served.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot(Some((self, ip))))
    }

    /// Connections from `ip` being served now.
    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        self.lock().get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some((per_ip, ip)) = self.0.take() else { return };
        let mut served = per_ip.lock();
        if let Some(n) = served.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                served.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn peer(s: &str) -> Endpoint {
        Endpoint::Inet(s.parse::<SocketAddr>().unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    #[test]
    fn caps_each_address_and_gives_slots_back() {
        let cap = PerIp::new(2);
        let a = cap.take(&peer("127.0.0.2:1000"));
        let b = cap.take(&peer("127.0.0.2:1001"));
        assert!(a.is_some() && b.is_some());
        assert!(cap.take(&peer("127.0.0.2:1002")).is_none(), "third from one address");
        assert!(cap.take(&peer("127.0.0.3:1000")).is_some(), "another address");
        assert!(cap.take(&peer("[::ffff:127.0.0.2]:9")).is_none(), "mapped IPv4 is IPv4");
        drop(a);
        assert!(cap.take(&peer("127.0.0.2:1003")).is_some());
        drop(b);
        assert!(cap.lock().is_empty(), "no address left with a count");
    }

    #[test]
    fn a_panic_gives_the_slot_back() {
        let cap = PerIp::new(1);
        let ip: IpAddr = [127, 0, 0, 2].into();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _slot = cap.take(&peer("127.0.0.2:1"));
            assert_eq!(cap.count(ip), 1);
            panic!("handler");
        }));
        assert!(unwound.is_err());
        assert_eq!(cap.count(ip), 0);
    }

    #[test]
    fn off_or_unix_takes_no_count() {
        let off = PerIp::new(0);
        let held: Vec<_> = (0..100).map(|_| off.take(&peer("127.0.0.2:1"))).collect();
        assert!(held.iter().all(Option::is_some) && off.lock().is_empty());
        let on = PerIp::new(1);
        let unix: Vec<_> = (0..3).map(|_| on.take(&Endpoint::Unix(None))).collect();
        assert!(unix.iter().all(Option::is_some) && on.lock().is_empty());
    }
}
