//! Datagrams that must not be answered: those that could start a loop
//! between servers (a source port below 1024, where the classic services
//! live, or the server's own address: CERT CA-1996-01), those from an
//! unnamed (or abstract) Unix-domain socket (there is no path to answer),
//! those from a relative Unix-domain path (`sendto()` would resolve it
//! against the server's own directory: another socket there, even another
//! server, would get the reply), and, when a rate is set, those over their
//! source's per-second budget (an IP address, or a Unix-domain path).

use std::collections::HashMap;
use std::net::SocketAddr;
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
        match &self.limiter {
            Some(l) if !l.allow(source(peer)) => Some(Refusal::RateLimited),
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
        (Endpoint::Unix(Some(path)), _) if path.is_relative() => Some("relative sender path"),
        (peer, local) if peer == local => Some("own address"),
        _ => None,
    }
}

/// What a budget is kept for: the IP address (port 0), not the port, since
/// a flood from one host uses many ports; or the Unix-domain path.
fn source(peer: &Endpoint) -> Endpoint {
    match peer {
        Endpoint::Inet(a) => Endpoint::Inet(SocketAddr::new(a.ip(), 0)),
        unix => unix.clone(),
    }
}

/// Per-source budget of datagrams per one-second window (see [`source`]). The table is bounded:
/// when full it is cleared, which at worst lets a spoofed flood through for
/// one window, and never grows memory.
pub(crate) struct RateLimiter {
    rate: u32,
    max_peers: usize,
    peers: Mutex<HashMap<Endpoint, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(rate: u32, max_peers: usize) -> Self {
        RateLimiter { rate, max_peers: max_peers.max(1), peers: Mutex::new(HashMap::new()) }
    }

    /// Counts one datagram from `source`; false if it is over the budget.
    pub fn allow(&self, source: Endpoint) -> bool {
        let now = Instant::now();
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if peers.len() >= self.max_peers && !peers.contains_key(&source) {
            peers.clear();
        }
        let entry = peers.entry(source).or_insert((now, 0));
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
    use std::net::IpAddr;

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
        let relative = Endpoint::Unix(Some("s".into()));
        assert_eq!(refusal(&relative, &local, false), Some("relative sender path"));
    }

    #[test]
    fn rate_limiter_counts_per_ip_and_stays_bounded() -> Result<(), std::net::AddrParseError> {
        let l = RateLimiter::new(3, 2);
        let ip = |s: &str| s.parse::<IpAddr>().map(|ip| source(&Endpoint::Inet((ip, 9).into())));
        let a = ip("127.0.0.1")?;
        let b = ip("127.0.0.2")?;
        assert!((0..3).all(|_| l.allow(a.clone())));
        assert!(!l.allow(a));
        assert!(l.allow(b));
        let c = ip("127.0.0.3")?;
        assert!(l.allow(c));
        assert!(l.peers.lock().map_or(usize::MAX, |p| p.len()) <= 2);
        // Every port of one host shares its budget; a Unix path has its own.
        let port = |p| source(&Endpoint::Inet(([127, 0, 0, 9], p).into()));
        let l = RateLimiter::new(1, 8);
        assert!(l.allow(port(1000)));
        assert!(!l.allow(port(2000)));
        let path = Endpoint::Unix(Some("/tmp/c".into()));
        assert!(l.allow(path.clone()));
        assert!(!l.allow(path));
        Ok(())
    }
}
