//! The cluster secret and the worker-authentication proofs (DESIGN §5,
//! PROTOCOL.md §7.1).
//!
//! Every process of one cluster shares a secret of at least
//! [`MIN_SECRET_BYTES`] bytes. It comes from a file (`--secret-file`,
//! `SHOPLIST_CLUSTER_SECRET_FILE`) or the environment
//! (`SHOPLIST_CLUSTER_SECRET`), never from the command line, and it never
//! appears in logs (its `Debug` is redacted). `shoplist-cloud up` creates one
//! in its data dir on first start ([`ClusterSecret::load_or_create`]).
//!
//! A worker proves it holds the secret by an HMAC-SHA256 (RustCrypto's
//! `hmac` + `sha2`) over the proxy's fresh nonce; the proxy proves the same
//! over the worker's nonce, so a worker never serves an impostor proxy. The
//! two proofs use different labels, so one can never be replayed as the
//! other. Verification is constant-time (`Mac::verify_slice`).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::protocol::Token;
use engine::WorkerId;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
/// Environment variable holding the secret itself.
pub const SECRET_ENV: &str = "SHOPLIST_CLUSTER_SECRET";
/// Environment variable naming a file that holds the secret.
pub const SECRET_FILE_ENV: &str = shoplist_launch::cluster::SECRET_FILE_ENV;
/// The file `up` keeps in its data dir.
pub const SECRET_FILE_NAME: &str = "cluster.secret";

const WORKER_LABEL: &[u8] = b"shoplist worker auth v1\0";
const PROXY_LABEL: &[u8] = b"shoplist proxy auth v1\0";
const RETIRE_LABEL: &[u8] = b"shoplist retire v1\0";

type HmacSha256 = Hmac<Sha256>;

/// Why a secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read or written.
    #[error("cluster secret file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The secret is too short (after trimming whitespace).
    #[error(
        "the cluster secret from {origin} has {len} bytes; at least {MIN_SECRET_BYTES} are needed"
    )]
    TooShort {
        /// Where it came from (a path or an environment variable name).
        origin: String,
        /// Its length.
        len: usize,
    },
}

/// The cluster's shared secret (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct ClusterSecret(Arc<Vec<u8>>);

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

impl ClusterSecret {
    /// A secret from raw bytes (surrounding ASCII whitespace is trimmed, so
    /// a file written by `echo` works).
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, SecretError> {
        let trimmed = bytes.trim_ascii();
        if trimmed.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort {
                origin: origin.to_string(),
                len: trimmed.len(),
            });
        }
        Ok(ClusterSecret(Arc::new(trimmed.to_vec())))
    }

    /// Reads the secret from `path`.
    pub fn load(path: &Path) -> Result<Self, SecretError> {
        let bytes = std::fs::read(path).map_err(|source| SecretError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// The secret configured for this process: `file` if given, else
    /// `SHOPLIST_CLUSTER_SECRET_FILE`, else `SHOPLIST_CLUSTER_SECRET`; `None`
    /// when none is set.
    pub fn configured(file: Option<&Path>) -> Result<Option<Self>, SecretError> {
        if let Some(path) = file {
            return Self::load(path).map(Some);
        }
        if let Some(path) = std::env::var_os(SECRET_FILE_ENV).filter(|p| !p.is_empty()) {
            return Self::load(Path::new(&path)).map(Some);
        }
        match std::env::var_os(SECRET_ENV).filter(|s| !s.is_empty()) {
            Some(value) => Self::from_bytes(value.as_encoded_bytes(), SECRET_ENV).map(Some),
            None => Ok(None),
        }
    }

    /// The secret in `dir/cluster.secret`, created (32 random bytes, hex,
    /// mode 0600, never overwritten) if the file does not exist yet.
    pub fn load_or_create(dir: &Path) -> Result<(Self, PathBuf), SecretError> {
        let path = dir.join(SECRET_FILE_NAME);
        let io = |source| SecretError::Io {
            path: path.clone(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                let mut raw = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut raw);
                let text = hex::encode(raw);
                file.write_all(text.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                tracing::info!(path = %path.display(), "created a new cluster secret");
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        Ok((Self::load(&path)?, path))
    }

    fn mac(&self, label: &[u8], first: &Token, second: &Token, worker: &WorkerId) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(label);
        mac.update(&first.0);
        mac.update(&second.0);
        mac.update(worker.as_str().as_bytes());
        mac
    }

    /// The MAC behind the worker's proof (a missing worker nonce counts as
    /// 32 zero bytes).
    fn worker_mac(
        &self,
        worker: &WorkerId,
        proxy_nonce: &Token,
        worker_nonce: Option<&Token>,
    ) -> HmacSha256 {
        let zero = Token([0; 32]);
        self.mac(
            WORKER_LABEL,
            proxy_nonce,
            worker_nonce.unwrap_or(&zero),
            worker,
        )
    }

    /// The worker's proof: HMAC(secret, "shoplist worker auth v1\0" ‖
    /// proxy nonce ‖ worker nonce (32 zero bytes if none) ‖ worker id).
    pub fn worker_proof(
        &self,
        worker: &WorkerId,
        proxy_nonce: &Token,
        worker_nonce: Option<&Token>,
    ) -> Token {
        let mac = self.worker_mac(worker, proxy_nonce, worker_nonce);
        Token(mac.finalize().into_bytes().into())
    }

    /// Whether `proof` is the worker's proof (constant-time).
    pub fn verify_worker(
        &self,
        worker: &WorkerId,
        proxy_nonce: &Token,
        worker_nonce: Option<&Token>,
        proof: &Token,
    ) -> bool {
        self.worker_mac(worker, proxy_nonce, worker_nonce)
            .verify_slice(&proof.0)
            .is_ok()
    }

    /// The proxy's proof: HMAC(secret, "shoplist proxy auth v1\0" ‖
    /// worker nonce ‖ proxy nonce ‖ worker id).
    pub fn proxy_proof(
        &self,
        worker: &WorkerId,
        worker_nonce: &Token,
        proxy_nonce: &Token,
    ) -> Token {
        let mac = self.mac(PROXY_LABEL, worker_nonce, proxy_nonce, worker);
        Token(mac.finalize().into_bytes().into())
    }

    /// Whether `proof` is the proxy's proof (constant-time).
    pub fn verify_proxy(
        &self,
        worker: &WorkerId,
        worker_nonce: &Token,
        proxy_nonce: &Token,
        proof: &Token,
    ) -> bool {
        let mac = self.mac(PROXY_LABEL, worker_nonce, proxy_nonce, worker);
        mac.verify_slice(&proof.0).is_ok()
    }
}

impl ClusterSecret {
    /// The administrator's proof that `worker` is to be retired: HMAC(secret,
    /// "shoplist retire v1\0" ‖ 64 zero bytes ‖ worker id). It carries no
    /// nonce: retiring is one-way and idempotent, so a replay asks again
    /// for what was already asked.
    pub fn retire_proof(&self, worker: &WorkerId) -> Token {
        let zero = Token([0; 32]);
        let mac = self.mac(RETIRE_LABEL, &zero, &zero, worker);
        Token(mac.finalize().into_bytes().into())
    }

    /// Whether `proof` is [`ClusterSecret::retire_proof`] (constant-time).
    pub fn verify_retire(&self, worker: &WorkerId, proof: &Token) -> bool {
        let zero = Token([0; 32]);
        let mac = self.mac(RETIRE_LABEL, &zero, &zero, worker);
        mac.verify_slice(&proof.0).is_ok()
    }
}

/// A fresh nonce from the operating system's RNG.
pub fn fresh_nonce() -> Token {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    Token(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> WorkerId {
        WorkerId::parse(s).unwrap()
    }

    fn secret(s: &str) -> ClusterSecret {
        ClusterSecret::from_bytes(s.as_bytes(), "test").unwrap()
    }

    #[test]
    fn proofs_verify_only_with_the_same_secret_nonces_and_worker() {
        let (s, other) = (
            secret("0123456789abcdef-one"),
            secret("0123456789abcdef-two"),
        );
        let (pn, wn) = (fresh_nonce(), fresh_nonce());
        let proof = s.worker_proof(&w("w1"), &pn, Some(&wn));
        assert!(s.verify_worker(&w("w1"), &pn, Some(&wn), &proof));
        assert!(!other.verify_worker(&w("w1"), &pn, Some(&wn), &proof));
        assert!(!s.verify_worker(&w("w2"), &pn, Some(&wn), &proof));
        assert!(!s.verify_worker(&w("w1"), &fresh_nonce(), Some(&wn), &proof));
        assert!(!s.verify_worker(&w("w1"), &pn, None, &proof));
        let pp = s.proxy_proof(&w("w1"), &wn, &pn);
        assert!(s.verify_proxy(&w("w1"), &wn, &pn, &pp));
        // The labels differ: a proxy proof is never a worker proof.
        assert!(!s.verify_worker(&w("w1"), &wn, Some(&pn), &pp));
        assert_ne!(proof, pp);
    }

    #[test]
    fn short_secrets_are_refused_and_debug_is_redacted() {
        assert!(matches!(
            ClusterSecret::from_bytes(b"  short \n", "x"),
            Err(SecretError::TooShort { len: 5, .. })
        ));
        let s = secret("a-long-enough-secret");
        assert!(!format!("{s:?}").contains("long"));
    }

    #[test]
    fn load_or_create_creates_once_then_reads_the_same_secret() {
        let dir = tempfile::tempdir().unwrap();
        let (a, path) = ClusterSecret::load_or_create(dir.path()).unwrap();
        let (b, _) = ClusterSecret::load_or_create(dir.path()).unwrap();
        let (pn, wn) = (fresh_nonce(), fresh_nonce());
        let proof = a.worker_proof(&w("w"), &pn, Some(&wn));
        assert!(b.verify_worker(&w("w"), &pn, Some(&wn), &proof));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "only the owner may read the secret");
        }
    }
}
