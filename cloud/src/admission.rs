//! Which backend connections may join the ring: the proxy's half of the
//! worker handshake (PROTOCOL.md §7.1, DESIGN §5 "Threat model").
//!
//! With a cluster secret, a `hello` gets a `challenge` carrying a fresh nonce
//! (and the proxy's own proof over the worker's nonce); the connection is
//! admitted only when its `auth` proof over that nonce verifies. The pending
//! challenges are bounded ([`MAX_PENDING`]) and expire
//! ([`CHALLENGE_TTL`]), so a crowd of fake `hello`s costs a fixed amount of
//! memory. Without a secret (allowed only on a loopback backend), `hello`
//! admits at once, as before. Sans-IO: the caller passes `now` and turns the
//! outcomes into messages and membership changes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::protocol::{Header, Token};
use engine::WorkerId;

use crate::secret::{fresh_nonce, ClusterSecret};

/// Challenges outstanding at once; the oldest is dropped beyond this.
pub const MAX_PENDING: usize = 1024;
/// How long a challenge may be answered.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(10);

/// What to do with a `hello`.
#[derive(Debug, Clone, PartialEq)]
pub enum HelloOutcome {
    /// No secret configured: admit the connection now, unauthenticated.
    AdmitOpen,
    /// Send this `challenge`.
    Challenge(Header),
}

/// Why an `auth` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No challenge is outstanding for this connection (none sent, expired,
    /// dropped, or already answered).
    #[error("no challenge outstanding for this connection")]
    NoChallenge,
    /// The `auth` names another worker than the `hello` did.
    #[error("auth names another worker than its hello")]
    WrongWorker,
    /// The proof does not verify: the worker does not hold the secret.
    #[error("proof does not match the cluster secret")]
    BadProof,
    /// This proxy has no secret, so there is nothing to prove.
    #[error("this proxy runs without a cluster secret")]
    Open,
}

#[derive(Debug)]
struct Pending {
    worker: WorkerId,
    proxy_nonce: Token,
    worker_nonce: Option<Token>,
    issued: Instant,
}

/// The proxy's outstanding challenges (see the module docs).
#[derive(Debug)]
pub struct Admission {
    secret: Option<ClusterSecret>,
    pending: HashMap<Bytes, Pending>,
    refused: u64,
}

impl Admission {
    /// Challenges workers with `secret`; admits every `hello` if `None`.
    pub fn new(secret: Option<ClusterSecret>) -> Self {
        Admission {
            secret,
            pending: HashMap::new(),
            refused: 0,
        }
    }

    /// Whether connections must prove the secret.
    pub fn requires_proof(&self) -> bool {
        self.secret.is_some()
    }

    /// `auth` proofs refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// A `hello {id, worker, nonce}` arrived on `route`.
    pub fn on_hello(
        &mut self,
        route: Bytes,
        id: u64,
        worker: &WorkerId,
        worker_nonce: Option<Token>,
        now: Instant,
    ) -> HelloOutcome {
        let Some(secret) = &self.secret else {
            return HelloOutcome::AdmitOpen;
        };
        let proxy_nonce = fresh_nonce();
        let proof = worker_nonce.map(|wn| secret.proxy_proof(worker, &wn, &proxy_nonce));
        self.expire(now);
        if self.pending.len() >= MAX_PENDING && !self.pending.contains_key(&route) {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.issued)
                .map(|(r, _)| r.clone());
            if let Some(oldest) = oldest {
                self.pending.remove(&oldest);
            }
        }
        self.pending.insert(
            route,
            Pending {
                worker: worker.clone(),
                proxy_nonce,
                worker_nonce,
                issued: now,
            },
        );
        HelloOutcome::Challenge(Header::Challenge {
            id,
            nonce: proxy_nonce,
            proof,
        })
    }

    /// An `auth {worker, proof}` arrived on `route`. `Ok` admits the route
    /// for `worker`. Each challenge is answered at most once.
    pub fn on_auth(
        &mut self,
        route: &Bytes,
        worker: &WorkerId,
        proof: &Token,
        now: Instant,
    ) -> Result<(), Refusal> {
        let result = self.check(route, worker, proof, now);
        if result.is_err() {
            self.refused += 1;
        }
        result
    }

    fn check(
        &mut self,
        route: &Bytes,
        worker: &WorkerId,
        proof: &Token,
        now: Instant,
    ) -> Result<(), Refusal> {
        let Some(secret) = &self.secret else {
            return Err(Refusal::Open);
        };
        let pending = self.pending.remove(route).ok_or(Refusal::NoChallenge)?;
        if now.saturating_duration_since(pending.issued) > CHALLENGE_TTL {
            return Err(Refusal::NoChallenge);
        }
        if &pending.worker != worker {
            return Err(Refusal::WrongWorker);
        }
        if secret.verify_worker(
            worker,
            &pending.proxy_nonce,
            pending.worker_nonce.as_ref(),
            proof,
        ) {
            Ok(())
        } else {
            Err(Refusal::BadProof)
        }
    }

    /// Forget challenges past their time.
    pub fn expire(&mut self, now: Instant) {
        self.pending
            .retain(|_, p| now.saturating_duration_since(p.issued) <= CHALLENGE_TTL);
    }

    /// Challenges outstanding.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> WorkerId {
        WorkerId::parse(s).unwrap()
    }

    fn r(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn secret(s: &str) -> ClusterSecret {
        ClusterSecret::from_bytes(s.as_bytes(), "test").unwrap()
    }

    fn challenge_nonce(outcome: HelloOutcome) -> (Token, Option<Token>) {
        match outcome {
            HelloOutcome::Challenge(Header::Challenge { nonce, proof, .. }) => (nonce, proof),
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    #[test]
    fn the_right_proof_admits_once_and_proves_the_proxy() {
        let s = secret("the-cluster-secret");
        let mut adm = Admission::new(Some(s.clone()));
        let t0 = Instant::now();
        let wn = fresh_nonce();
        let (pn, pp) = challenge_nonce(adm.on_hello(r("a"), 1, &w("w1"), Some(wn), t0));
        assert!(s.verify_proxy(&w("w1"), &wn, &pn, &pp.expect("proxy proof")));
        let proof = s.worker_proof(&w("w1"), &pn, Some(&wn));
        assert_eq!(adm.on_auth(&r("a"), &w("w1"), &proof, t0), Ok(()));
        // A replay of the same proof finds no challenge.
        assert_eq!(
            adm.on_auth(&r("a"), &w("w1"), &proof, t0),
            Err(Refusal::NoChallenge)
        );
    }

    #[test]
    fn wrong_secret_wrong_route_wrong_worker_and_late_proofs_are_refused() {
        let s = secret("the-cluster-secret");
        let wrong = secret("not-the-cluster-secret");
        let mut adm = Admission::new(Some(s.clone()));
        let t0 = Instant::now();
        let (pn, _) = challenge_nonce(adm.on_hello(r("a"), 1, &w("w1"), None, t0));
        let bad = wrong.worker_proof(&w("w1"), &pn, None);
        assert_eq!(
            adm.on_auth(&r("a"), &w("w1"), &bad, t0),
            Err(Refusal::BadProof)
        );

        let (pn, _) = challenge_nonce(adm.on_hello(r("a"), 2, &w("w1"), None, t0));
        let good = s.worker_proof(&w("w1"), &pn, None);
        assert_eq!(
            adm.on_auth(&r("other"), &w("w1"), &good, t0),
            Err(Refusal::NoChallenge),
            "a proof is bound to the connection that was challenged"
        );
        assert_eq!(
            adm.on_auth(&r("a"), &w("w2"), &good, t0),
            Err(Refusal::WrongWorker)
        );

        let (pn, _) = challenge_nonce(adm.on_hello(r("a"), 3, &w("w1"), None, t0));
        let good = s.worker_proof(&w("w1"), &pn, None);
        let late = t0 + CHALLENGE_TTL + Duration::from_millis(1);
        assert_eq!(
            adm.on_auth(&r("a"), &w("w1"), &good, late),
            Err(Refusal::NoChallenge)
        );
        assert_eq!(adm.refused(), 4);
    }

    #[test]
    fn a_crowd_of_hellos_keeps_a_bounded_table() {
        let mut adm = Admission::new(Some(secret("the-cluster-secret")));
        let t0 = Instant::now();
        for i in 0..(MAX_PENDING * 3) {
            let at = t0 + Duration::from_micros(i as u64);
            adm.on_hello(r(&format!("r{i}")), 1, &w("fake"), None, at);
        }
        assert_eq!(adm.pending(), MAX_PENDING);
    }

    #[test]
    fn without_a_secret_hello_admits() {
        let mut adm = Admission::new(None);
        let out = adm.on_hello(r("a"), 1, &w("w1"), None, Instant::now());
        assert_eq!(out, HelloOutcome::AdmitOpen);
        assert!(!adm.requires_proof());
    }
}
