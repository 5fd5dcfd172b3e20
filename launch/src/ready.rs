//! The proxy's ready file: the endpoints it really listens on.
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

use crate::LaunchError;

/// The endpoints a listening proxy reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyEndpoints {
    /// Where clients connect, `tcp://IP:PORT`.
    pub frontend: String,
    /// Where workers connect, `tcp://IP:PORT`.
    pub backend: String,
}

impl ReadyEndpoints {
    /// The port of the frontend endpoint, if it has a nonzero one.
    pub fn frontend_port(&self) -> Option<u16> {
        endpoint_port(&self.frontend)
    }

    /// The port of the backend endpoint, if it has a nonzero one.
    pub fn backend_port(&self) -> Option<u16> {
        endpoint_port(&self.backend)
    }
}

/// The port of a `tcp://IP:PORT` endpoint (`None` for port 0 or no port).
pub fn endpoint_port(endpoint: &str) -> Option<u16> {
    endpoint
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
        .filter(|&p| p != 0)
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

/// The endpoints in the ready file at `path`: `Ok(None)` while it does not
/// exist; an error if it cannot be read, is not the JSON document above, or
/// names no concrete ports.
pub fn read_ready_file(path: &Path) -> Result<Option<ReadyEndpoints>, LaunchError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LaunchError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let endpoints: ReadyEndpoints = serde_json::from_slice(&bytes).map_err(|e| {
        LaunchError::Invalid(format!("ready file {} is not valid: {e}", path.display()))
    })?;
    if endpoints.frontend_port().is_none() || endpoints.backend_port().is_none() {
        return Err(LaunchError::Invalid(format!(
            "ready file {} names no concrete ports: {endpoints:?}",
            path.display()
        )));
    }
    Ok(Some(endpoints))
}

/// Removes the ready file at `path` (nothing to do if it does not exist),
/// so that the next one read is the next process's.
pub fn remove_ready_file(path: &Path) -> Result<(), LaunchError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(LaunchError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(frontend: u16, backend: u16) -> ReadyEndpoints {
        ReadyEndpoints {
            frontend: format!("tcp://127.0.0.1:{frontend}"),
            backend: format!("tcp://127.0.0.1:{backend}"),
        }
    }

    #[test]
    fn ready_file_round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.json");
        assert_eq!(read_ready_file(&path).unwrap(), None);
        write_ready_file(&path, &endpoints(1, 2)).unwrap();
        write_ready_file(&path, &endpoints(3, 4)).unwrap();
        assert_eq!(read_ready_file(&path).unwrap(), Some(endpoints(3, 4)));
        // Only the target remains: the temp file was renamed, not left over.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        remove_ready_file(&path).unwrap();
        remove_ready_file(&path).unwrap();
        assert_eq!(read_ready_file(&path).unwrap(), None);
    }

    #[test]
    fn a_ready_file_without_real_ports_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.json");
        write_ready_file(&path, &endpoints(0, 2)).unwrap();
        assert!(read_ready_file(&path).is_err());
        std::fs::write(&path, b"{not json").unwrap();
        assert!(read_ready_file(&path).is_err());
    }
}
