//! Shutdown joins every thread the server started. Alone in its own test
//! binary so that no other test's threads are counted.

use std::time::Duration;

use sockref::{Protocols, ServerBuilder};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn shutdown_joins_every_server_thread() {
    let before = threads();
    for model in [sockref::AcceptModel::Workers, sockref::AcceptModel::Handoff] {
        let limits = sockref::Limits {
            workers: 16,
            udp_workers: 3,
            accept_model: model,
            ..Default::default()
        };
        let server = ServerBuilder::new()
            .addr("127.0.0.1:0")
            .protocols(Protocols::Both)
            .limits(limits)
            .start()
            .unwrap();
        let extra = usize::from(model == sockref::AcceptModel::Handoff);
        assert_eq!(threads(), before + 16 + 3 + extra, "{model:?}");
        let stats = server.shutdown(Duration::from_secs(5));
        assert_eq!(stats.accepted, 0);
        assert_eq!(threads(), before, "{model:?}: every thread joined");
    }
}
