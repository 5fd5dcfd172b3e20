//! Finding the workspace's built binaries from inside a test executable.
//!
//! Integration tests of this crate cannot ask Cargo for another package's
//! binaries (`CARGO_BIN_EXE_*` covers only the same package), so they look
//! next to themselves: a test executable lives in `target/<profile>/deps/`,
//! and the binaries built in the same run live in `target/<profile>/`.

use std::path::PathBuf;

/// The cloud binary: `proxy`, `worker`, `up`, `status`, `where`.
pub const CLOUD_BIN: &str = "shoplist-cloud";
/// The user's CLI (DESIGN §7).
pub const CLI_BIN: &str = "shoplist";

/// Path to the built binary `name` in the running test's target directory.
///
/// # Panics
///
/// If the binary is missing: it is only built when the tests run through
/// the workspace (`cargo nextest run --workspace` or `cargo test
/// --workspace`), not with `-p shoplist-tests` alone.
pub fn binary(name: &str) -> PathBuf {
    let dir = target_profile_dir();
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "binary `{name}` not found at {}.\n\
         The multi-process tests run the workspace's binaries; build them by running \
         the tests through the workspace: `cargo nextest run --workspace` or \
         `cargo test --workspace` (or `cargo build --workspace` first).",
        path.display()
    );
    path
}

/// `target/<profile>/`: the parent of the `deps` directory holding the
/// running test executable (or the executable's own directory otherwise).
pub fn target_profile_dir() -> PathBuf {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => panic!("cannot locate the running test executable: {error}"),
    };
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(PathBuf::from).unwrap_or(dir)
    } else {
        dir
    }
}
