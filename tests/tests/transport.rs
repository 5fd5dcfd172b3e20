//! Transport attacks against a running cloud (DESIGN §5: "a single frame
//! header that claims a 2^44-byte length aborts the receiving process";
//! the cure is "a length-checking guard in front of every public port").

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use shoplist_net::zmtp;
use shoplist_tests::{Cluster, ClusterOptions};

/// Sends the 2^44-length packet to `port` and waits (bounded) until the
/// other side closes the connection.
fn send_huge_length_claim(port: u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the port");
    stream
        .write_all(&zmtp::huge_length_attack())
        .expect("send the packet");
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("set read timeout");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return, // reset: closed too
        }
        assert!(
            Instant::now() < deadline,
            "the connection that claimed a 2^44-byte frame is still open"
        );
    }
}

/// The proxy still runs and `status` still lists every worker alive.
fn assert_still_serving(cluster: &mut Cluster) {
    assert!(
        cluster.proxy_running(),
        "the proxy process died\n{}",
        cluster.log_report(40)
    );
    let alive = cluster
        .alive_workers()
        .unwrap_or_else(|e| panic!("status failed after the attack: {e}"));
    assert_eq!(alive.len(), cluster.worker_count(), "alive: {alive:?}");
}

#[test]
fn huge_frame_length_on_client_port_leaves_proxy_serving() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    send_huge_length_claim(cluster.frontend_port());
    assert_still_serving(&mut cluster);
}

#[test]
fn huge_frame_length_on_worker_port_leaves_proxy_serving() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    send_huge_length_claim(cluster.backend_port());
    assert_still_serving(&mut cluster);
}
