//! No leaks: 2,000 sequential short TCP connections and 2,000 UDP
//! datagrams leave the server with the descriptors and threads it started
//! with (`/proc/<pid>/fd`, `Threads:` in `/proc/<pid>/status`).

mod common;
use common::procfs::{fd_count, thread_count, wait_until};
use common::*;

use std::time::Duration;

#[test]
fn thousands_of_connections_and_datagrams_leave_no_descriptor_or_thread() {
    let p = Proc::start(&["--proto", "both", "--workers", "8"], 2);
    let pid = p.pid();
    let (fds0, threads0) = (fd_count(pid), thread_count(pid));
    assert!(
        fds0 > 0 && threads0 > 8,
        "read /proc: {fds0} fds, {threads0} threads"
    );

    for i in 0..2000u32 {
        let msg = i.to_be_bytes();
        assert_eq!(tcp_exchange(p.tcp(), &msg), msg, "connection {i}");
    }
    let u = udp_client();
    let mut buf = [0u8; 16];
    for i in 0..2000u32 {
        u.send_to(&i.to_be_bytes(), p.udp()).unwrap();
        let (n, _) = u.recv_from(&mut buf).expect("udp reply");
        assert_eq!(&buf[..n], i.to_be_bytes(), "datagram {i}");
    }

    // The last close may still be under way when the client sees EOF.
    let back = wait_until(Duration::from_secs(30), || fd_count(pid) == fds0);
    let (fds1, threads1) = (fd_count(pid), thread_count(pid));
    eprintln!("leaks: fds {fds0} -> {fds1}, threads {threads0} -> {threads1}");
    assert!(back, "descriptors: {fds0} before, {fds1} after");
    assert_eq!(threads1, threads0, "threads");
}
