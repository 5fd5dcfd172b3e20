//! Seeded randomness for scenarios (STYLE 7): every random choice comes from
//! one seed, printed so a failure can be replayed.

use rand::rngs::StdRng;
use rand::SeedableRng;

/// Environment variable that fixes the seed, e.g. `SHOPLIST_SEED=42`.
pub const SEED_ENV: &str = "SHOPLIST_SEED";

/// The seed from `SHOPLIST_SEED`, or a fresh random one. Printed on stderr
/// (the test harness shows it when the test fails) with how to replay it.
///
/// # Panics
///
/// If `SHOPLIST_SEED` is set but is not a `u64`.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var(SEED_ENV) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{SEED_ENV}={text:?} is not a u64: {e}")),
        Err(_) => rand::random(),
    };
    eprintln!("[{test}] seed {seed} (replay with {SEED_ENV}={seed})");
    seed
}

/// A deterministic generator seeded by [`seed`].
pub fn seeded_rng(test: &str) -> StdRng {
    StdRng::seed_from_u64(seed(test))
}
