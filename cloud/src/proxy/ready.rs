//! Reporting the endpoints the proxy really listens on.
//!
//! A proxy started with `--frontend tcp://127.0.0.1:0` gets its port from the
//! kernel, so whoever started it (the test harness, the bench, `up`) cannot
//! know the port in advance. Once both sockets listen, the proxy writes
//! `{"frontend":"tcp://127.0.0.1:N","backend":"tcp://127.0.0.1:M"}` to the
//! `--ready-file` path: first to a temp file in the same directory, then
//! renamed over the target, so a reader sees either nothing or the whole
//! document (mini-redis's tests bind `127.0.0.1:0` and read `local_addr`
//! the same way, in-process).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The endpoints a listening proxy reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyEndpoints {
    /// Where clients connect, `tcp://IP:PORT`.
    pub frontend: String,
    /// Where workers connect, `tcp://IP:PORT`.
    pub backend: String,
}

/// Atomically writes `endpoints` as JSON to `path` (temp file + rename).
pub fn write_ready_file(path: &Path, endpoints: &ReadyEndpoints) -> std::io::Result<()> {
    let json = serde_json::to_vec(endpoints).map_err(std::io::Error::other)?;
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "ready file has no name")
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_file_round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.json");
        let first = ReadyEndpoints {
            frontend: "tcp://127.0.0.1:1".into(),
            backend: "tcp://127.0.0.1:2".into(),
        };
        write_ready_file(&path, &first).unwrap();
        let second = ReadyEndpoints {
            frontend: "tcp://127.0.0.1:3".into(),
            backend: "tcp://127.0.0.1:4".into(),
        };
        write_ready_file(&path, &second).unwrap();
        let read: ReadyEndpoints = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read, second);
        // Only the target remains: the temp file was renamed, not left over.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
