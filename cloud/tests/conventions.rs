//! Issue 12: one error style and exit-code policy across both binaries
//! (`error: ` + one line; 1 for usage and other errors), and `up` failing
//! fast on a taken port or too few workers instead of looping.

use std::process::Command;
use std::time::{Duration, Instant};

fn cloud(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shoplist-cloud"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn one_error_line(stderr: &str) {
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr:?}");
}

#[test]
fn usage_errors_exit_1_with_one_line_and_clap_tips() {
    let (code, err) = cloud(&["stauts"]);
    assert_eq!(code, 1);
    one_error_line(&err);
    assert!(err.contains("similar subcommand exists: 'status'"), "{err}");
    let (code, err) = cloud(&["where"]);
    assert_eq!(code, 1);
    one_error_line(&err);
}

#[test]
fn up_refuses_too_few_workers_and_a_taken_port_at_once() {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().to_string_lossy().into_owned();
    let (code, err) = cloud(&["up", "--data-dir", &data, "--workers", "1"]);
    assert_eq!(code, 1);
    one_error_line(&err);
    assert!(err.contains("at least 3"), "{err}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let front = format!("tcp://{}", taken.local_addr().unwrap());
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let back = format!("tcp://{}", free.local_addr().unwrap());
    drop(free);
    let t = Instant::now();
    let (code, err) = cloud(&[
        "up",
        "--data-dir",
        &data,
        "--frontend",
        &front,
        "--backend",
        &back,
    ]);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(code, 1);
    one_error_line(&err);
    assert!(err.contains("another `shoplist-cloud up`"), "{err}");
}
