//! Datagrams that must not be answered: those that could start a loop
//! between servers (a source port below 1024, where the classic services
//! live, or the server's own address: CERT CA-1996-01), those from an
//! unnamed Unix-domain socket (there is no address to answer), and, when a
//! rate is set, those over their source's per-second budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::limits::Limits;
use crate::net::Endpoint;

/// Why a datagram gets no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Loop guard or unnamed sender: counted in `dropped_datagrams`.
    Dropped(&'static str),
    /// Over the sender's budget: counted in `rate_limited`.
    RateLimited,
}

impl Refusal {
    /// The reason the trace prints.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Dropped(why) => why,
            Refusal::RateLimited => "rate limit",
        }
    }
}

/// The checks a datagram server makes before asking its service.
pub(crate) struct Filter {
    local: Endpoint,
    allow_low_ports: bool,
    limiter: Option<RateLimiter>,
}

impl Filter {
    /// The filter for a socket bound at `local`.
    pub fn new(local: Endpoint, limits: &Limits) -> Filter {
        Filter {
            local,
            allow_low_ports: limits.udp_allow_low_ports,
            limiter: limits.udp_rate.map(|rate| RateLimiter::new(rate, limits.udp_rate_peers)),
        }
    }

    /// `None` to answer `peer`, else why not.
    pub fn check(&self, peer: &Endpoint) -> Option<Refusal> {
        if let Some(why) = refusal(peer, &self.local, self.allow_low_ports) {
            return Some(Refusal::Dropped(why));
        }
        // Keyed by IP: Unix-domain senders are local users, guarded by the
        // socket file's permissions, and have no address to budget.
        let ip = peer.inet().map(|a| a.ip());
        match (&self.limiter, ip) {
            (Some(l), Some(ip)) if !l.allow(ip) => Some(Refusal::RateLimited),
            _ => None,
        }
    }
}

/// The loop guard and the unnamed-sender rule, or `None` to answer.
pub(crate) fn refusal(
    peer: &Endpoint,
    local: &Endpoint,
    allow_low_ports: bool,
) -> Option<&'static str> {
    match (peer, local) {
        (Endpoint::Inet(peer), Endpoint::Inet(local)) => {
            if peer.port() == local.port()
                && (peer.ip() == local.ip() || local.ip().is_unspecified())
            {
                Some("own address")
            } else if peer.port() < 1024 && !allow_low_ports {
                Some("low source port")
            } else {
                None
            }
        }
        (Endpoint::Unix(None), _) => Some("unnamed sender"),
        (peer, local) if peer == local => Some("own address"),
        _ => None,
    }
}

/// Per-source-address budget of datagrams per one-second window. Keyed by
/// IP, not port: a flood from one host uses many ports. The table is bounded:
/// when full it is cleared, which at worst lets a spoofed flood through for
/// one window, and never grows memory.
pub(crate) struct RateLimiter {
    rate: u32,
    max_peers: usize,
    peers: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(rate: u32, max_peers: usize) -> Self {
        RateLimiter { rate, max_peers: max_peers.max(1), peers: Mutex::new(HashMap::new()) }
    }

    /// Counts one datagram from `ip`; false if it is over the budget.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if peers.len() >= self.max_peers && !peers.contains_key(&ip) {
            peers.clear();
        }
        let entry = peers.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(1) {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn refuses_low_ports_and_itself() -> Result<(), std::net::AddrParseError> {
        let local = Endpoint::Inet("127.0.0.1:4000".parse()?);
        let p = |s: &str| s.parse::<SocketAddr>().map(Endpoint::Inet);
        assert_eq!(refusal(&p("127.0.0.1:19")?, &local, false), Some("low source port"));
        assert_eq!(refusal(&p("127.0.0.1:19")?, &local, true), None);
        assert_eq!(refusal(&p("127.0.0.1:4000")?, &local, true), Some("own address"));
        assert_eq!(refusal(&p("127.0.0.1:40000")?, &local, false), None);
        let any = Endpoint::Inet("0.0.0.0:4000".parse()?);
        assert_eq!(refusal(&p("10.0.0.1:4000")?, &any, false), Some("own address"));
        Ok(())
    }

    #[test]
    fn refuses_unnamed_unix_senders_and_itself() {
        let local = Endpoint::Unix(Some("/tmp/s".into()));
        assert_eq!(refusal(&Endpoint::Unix(None), &local, false), Some("unnamed sender"));
        assert_eq!(refusal(&local.clone(), &local, false), Some("own address"));
        let other = Endpoint::Unix(Some("/tmp/client".into()));
        assert_eq!(refusal(&other, &local, false), None);
    }

    #[test]
    fn rate_limiter_counts_per_ip_and_stays_bounded() -> Result<(), std::net::AddrParseError> {
        let l = RateLimiter::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse()?;
        let b: IpAddr = "127.0.0.2".parse()?;
        assert!((0..3).all(|_| l.allow(a)));
        assert!(!l.allow(a));
        assert!(l.allow(b));
        let c: IpAddr = "127.0.0.3".parse()?;
        assert!(l.allow(c));
        assert!(l.peers.lock().map_or(usize::MAX, |p| p.len()) <= 2);
        Ok(())
    }
}
