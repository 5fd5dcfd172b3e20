//! The experiment behind DESIGN §5: the bad shapes really hurt automerge
//! 0.12 (abort or spin, run in a child process with an address-space limit
//! and a timeout), and [`super::prescan_change`] rejects each of them.

use super::tests::{limits, one_put_change};
use super::*;
use crate::ingest::bad_shapes;

const CHILD_ENV: &str = "SHOPLIST_PRESCAN_CHILD_HEX";

/// Child side: decode the bytes in `CHILD_ENV` with automerge. Does
/// nothing (passes) when run normally.
#[test]
fn child_decode_entry() {
    let Ok(h) = std::env::var(CHILD_ENV) else {
        return;
    };
    let bytes = hex::decode(h).unwrap();
    let r = automerge::Change::try_from(&bytes[..]);
    eprintln!("CHILD_RESULT ok={} {:?}", r.is_ok(), r.as_ref().err());
    std::process::exit(if r.is_ok() { 0 } else { 3 });
}

#[derive(Debug)]
enum Outcome {
    Exited(i32),
    Signaled(i32),
    TimedOut,
}

/// Run `child_decode_entry` on `bytes` in a child with `ulimit -v`
/// of `as_mib` MiB, killed after `timeout`. Returns the outcome, wall
/// time, peak RSS (KiB) and the child's stderr.
fn run_confined(
    bytes: &[u8],
    as_mib: u64,
    timeout: std::time::Duration,
) -> (Outcome, std::time::Duration, i64, String) {
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().unwrap();
    let err_file = tempfile::NamedTempFile::new().unwrap();
    // Reaped below with `wait4` (which also gives its rusage).
    #[allow(clippy::zombie_processes)]
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", as_mib * 1024))
        .arg(exe)
        .args([
            "--exact",
            "ingest::prescan::experiment_tests::child_decode_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, hex::encode(bytes))
        .stdout(Stdio::null())
        .stderr(err_file.reopen().unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let start = std::time::Instant::now();
    let mut status = 0;
    // SAFETY: plain FFI calls on our own child's pid with valid pointers.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4 failed");
        if start.elapsed() > timeout {
            timed_out = true;
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut ru);
            }
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let outcome = if timed_out {
        Outcome::TimedOut
    } else if libc::WIFSIGNALED(status) {
        Outcome::Signaled(libc::WTERMSIG(status))
    } else {
        Outcome::Exited(libc::WEXITSTATUS(status))
    };
    let stderr = std::fs::read_to_string(err_file.path()).unwrap_or_default();
    (outcome, elapsed, ru.ru_maxrss, stderr)
}

fn experiment_as_mib() -> u64 {
    std::env::var("SHOPLIST_PRESCAN_EXPERIMENT_AS_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// The shapes really hurt automerge 0.12 (in a confined child), and
/// prescan rejects them. The valid change decodes fine in the same
/// harness, so a failure of the child means the input, not the harness.
#[test]
fn automerge_blows_up_on_huge_claims_in_a_confined_child() {
    let raw = one_put_change();
    let as_mib = experiment_as_mib();
    let secs = std::time::Duration::from_secs(3);

    let (o, t, rss, err) = run_confined(&raw, as_mib, secs);
    assert!(matches!(o, Outcome::Exited(0)), "{o:?} {err}");
    eprintln!("valid change: {o:?} in {t:?}, peak RSS {rss} KiB");

    let bomb = bad_shapes::huge_allocation_claim(&raw).unwrap();
    assert!(prescan_change(&bomb, &limits()).is_err());
    let (o, t, rss, err) = run_confined(&bomb, as_mib, std::time::Duration::from_secs(60));
    eprintln!(
        "pred bomb ({} bytes): {o:?} in {t:?}, peak RSS {rss} KiB, stderr: {}",
        bomb.len(),
        err.lines().find(|l| l.contains("memory")).unwrap_or("")
    );
    assert!(
        matches!(o, Outcome::Signaled(libc::SIGABRT) | Outcome::TimedOut),
        "{o:?} {err}"
    );

    let bomb = bad_shapes::huge_string_claim(&raw).unwrap();
    assert!(prescan_change(&bomb, &limits()).is_err());
    let (o, t, rss, err) = run_confined(&bomb, as_mib, secs);
    eprintln!(
        "string claim ({} bytes): {o:?} in {t:?}, peak RSS {rss} KiB, stderr: {}",
        bomb.len(),
        err.lines()
            .find(|l| l.contains("memory") || l.contains("CHILD"))
            .unwrap_or("")
    );
    if as_mib < 1000 {
        assert!(matches!(o, Outcome::Signaled(libc::SIGABRT)), "{o:?} {err}");
    }

    let bomb = bad_shapes::huge_op_count_claim(&raw).unwrap();
    assert!(prescan_change(&bomb, &limits()).is_err());
    let (o, t, rss, err) = run_confined(&bomb, as_mib, secs);
    eprintln!(
        "op-count claim ({} bytes): {o:?} after {t:?}, peak RSS {rss} KiB",
        bomb.len()
    );
    assert!(matches!(o, Outcome::TimedOut), "{o:?} {err}");
}
