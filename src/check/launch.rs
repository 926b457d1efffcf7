//! `--server 'CMD {port}'`: start the server under test on a free port,
//! wait until it answers, and stop it when the checks are done, with the
//! launcher `sockref compare` uses (a reaper stops it even if `check` dies).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use super::CheckOptions;
pub(super) use crate::bench::launch::Launched;
use crate::bench::launch::{first_port, free_port, Probe};
use crate::error::Error;
use crate::trace::Proto;

/// How long a stopping server may take before it is killed.
const STOP_BOUND: Duration = Duration::from_secs(2);

/// Starts `command` with `{port}` filled in and waits until it answers:
/// a TCP connection accepted, or (checking UDP alone) a datagram socket
/// bound there.
pub(super) fn start(command: &str, opts: &CheckOptions) -> Result<Launched, Error> {
    let port = free_port(&mut first_port())?;
    let filled = command.replace("{port}", &port.to_string());
    let mut l = Launched::start("under test", &filled, port, None, STOP_BOUND)?;
    if opts.proto == Some(Proto::Udp) {
        wait_udp_bound(&mut l, opts.start_timeout)?;
    } else {
        l.wait_ready(Probe::Tcp, opts.start_timeout)?;
    }
    Ok(l)
}

/// A UDP port is bound once a datagram sent there no longer comes back
/// refused (ICMP port unreachable, seen by a connected socket as
/// ECONNREFUSED): this works for a service that never answers (discard)
/// as well as one that does.
fn wait_udp_bound(l: &mut Launched, limit: Duration) -> Result<(), Error> {
    let until = Instant::now() + limit;
    let addr = l.addr();
    loop {
        if !l.running() {
            return Err(Error::new(
                "waitpid()",
                Some("server 'under test'".into()),
                io::Error::other(format!("exited before binding {addr}")),
            ));
        }
        if udp_bound(addr).unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(Error::new(
                "connect()",
                Some(addr.to_string()),
                io::Error::new(io::ErrorKind::TimedOut, "no UDP socket bound in time"),
            ));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn udp_bound(addr: SocketAddr) -> io::Result<bool> {
    let s = UdpSocket::bind(("127.0.0.1", 0))?;
    s.connect(addr)?;
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    // An empty datagram: every service here answers or ignores it harmlessly.
    s.send(b"")?;
    let mut buf = [0u8; 1];
    match s.recv(&mut buf) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(false),
        Err(_) => Ok(true),
    }
}
