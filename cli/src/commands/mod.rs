//! Running a parsed command line: one function per subcommand, the shared
//! context ([`Ctx`]), and the error → exit-code policy ([`CliError`]).
//!
//! - [`local`]: everything that works offline (new, ls, show, add, buy, rm,
//!   rename, share, status, log). No network is ever attempted there.
//! - [`net`]: `sync`, `sync --watch` and `join`, the only commands that
//!   talk to the cloud.
//!
//! Exit codes: 0 on success; 2 when the cloud could not be reached or did
//! not reach its quorum (edits stay safe locally); 1 for every other error.
//! An error is one line on stderr, and nothing was changed.

mod local;
mod net;

pub use net::watch_client_config;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use engine::store::{Store, StoreError};
use engine::ListId;
use serde::Serialize;

use crate::args::{self, Cli, Command, Parsed};
use crate::output::Render;
use crate::resolve::{self, ListEntry, ResolveError};
use crate::sync::SyncError;

/// The database file inside the data dir.
pub const DB_FILE: &str = "shoplist.db";

/// Every way a command can fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad argument (usage error).
    #[error("{0}")]
    Usage(String),
    /// LIST did not name exactly one local list.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The local store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Talking to the cloud failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Anything else (terminal, runtime, file system).
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Sync(e) if e.is_offline() => 2,
            _ => 1,
        }
    }
}

/// What every command needs.
pub struct Ctx {
    /// The local store.
    pub store: Store,
    /// `--json`.
    pub json: bool,
    /// Author recorded in edits.
    pub author: String,
    /// Cloud endpoints.
    pub cloud: Vec<String>,
    /// The database file.
    pub db_path: PathBuf,
}

impl Ctx {
    /// Every local list with its current name.
    pub fn entries(&mut self) -> Result<Vec<ListEntry>, CliError> {
        let ids = self.store.list_ids()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let name = self.store.view(id)?.name;
            out.push(ListEntry { id, name });
        }
        Ok(out)
    }

    /// Resolve a LIST argument to a local list.
    pub fn resolve(&mut self, input: &str) -> Result<ListId, CliError> {
        let entries = self.entries()?;
        Ok(resolve::resolve(input, &entries)?)
    }

    /// Print a document: JSON on one line with `--json`, else its human form.
    pub fn emit<T: Serialize + Render>(&self, doc: &T) -> Result<(), CliError> {
        let text = if self.json {
            serde_json::to_string(doc).map_err(|e| CliError::Other(e.to_string()))?
        } else {
            doc.human()
        };
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth reporting.
        let _ = writeln!(out, "{text}");
        Ok(())
    }
}

/// The author name recorded in edits: `SHOPLIST_USER`, else `USER`, else "me".
pub fn author_from_env(get: impl Fn(&str) -> Option<String>) -> String {
    ["SHOPLIST_USER", "USER"]
        .iter()
        .filter_map(|k| get(k))
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "me".to_string())
}

/// `--data-dir`, else the XDG data dir's `shoplist/`.
pub fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf, CliError> {
    match flag {
        Some(d) => Ok(d),
        None => directories::BaseDirs::new()
            .map(|b| b.data_dir().join("shoplist"))
            .ok_or_else(|| {
                CliError::Usage("cannot find the home directory; use --data-dir DIR".into())
            }),
    }
}

/// Open (creating if needed) the store in `dir`.
pub fn open_store(dir: &Path) -> Result<(Store, PathBuf), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::Other(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join(DB_FILE);
    let store = Store::open(&path)?;
    Ok((store, path))
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let dir = data_dir(cli.data_dir)?;
    let (store, db_path) = open_store(&dir)?;
    let mut ctx = Ctx {
        store,
        json: cli.json,
        author: author_from_env(|k| std::env::var(k).ok()),
        cloud: cli.cloud,
        db_path,
    };
    let Some(cmd) = cli.command else {
        return crate::tui::run(ctx);
    };
    match cmd {
        Command::New { name } => local::new(&mut ctx, &args::words(&name)),
        Command::Ls => local::ls(&mut ctx),
        Command::Show { list } => local::show(&mut ctx, &list),
        Command::Add { list, item, qty } => local::add(&mut ctx, &list, &args::words(&item), qty),
        Command::Buy { list, item, qty } => local::buy(&mut ctx, &list, &args::words(&item), qty),
        Command::Rm { list, item } => local::rm(&mut ctx, &list, &args::words(&item)),
        Command::Rename { list, name } => local::rename(&mut ctx, &list, &args::words(&name)),
        Command::Share { list } => local::share(&mut ctx, &list),
        Command::Status { list } => local::status(&mut ctx, list.as_deref()),
        Command::Log { list } => local::log(&mut ctx, &list),
        Command::Join { url } => net::join(&mut ctx, &url),
        Command::Sync { lists, watch } => net::sync(&mut ctx, &lists, watch),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The whole program: parse, run, report, exit.
pub fn main_entry() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHOPLIST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    match args::parse(std::env::args_os()) {
        Parsed::Print(text) => {
            let _ = write!(std::io::stdout().lock(), "{text}");
            ExitCode::SUCCESS
        }
        Parsed::Error(msg) => {
            eprintln!("error: {}", one_line(&msg));
            ExitCode::from(1)
        }
        Parsed::Run(cli) => match run(cli) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", one_line(&e.to_string()));
                ExitCode::from(e.exit_code())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_prefers_shoplist_user_then_user_then_me() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            author_from_env(env(&[("SHOPLIST_USER", "ann"), ("USER", "bob")])),
            "ann"
        );
        assert_eq!(
            author_from_env(env(&[("SHOPLIST_USER", " "), ("USER", "bob")])),
            "bob"
        );
        assert_eq!(author_from_env(env(&[])), "me");
    }

    #[test]
    fn offline_errors_exit_2_and_others_exit_1() {
        use crate::sync_client::ClientError;
        let offline = CliError::Sync(SyncError::Client(ClientError::Unavailable("1 of 2".into())));
        assert_eq!(offline.exit_code(), 2);
        let refused = CliError::Sync(SyncError::Client(ClientError::Refused {
            code: engine::protocol::ErrorCode::BadChange,
            message: "x".into(),
        }));
        assert_eq!(refused.exit_code(), 1);
        assert_eq!(CliError::Usage("x".into()).exit_code(), 1);
        assert_eq!(
            CliError::Sync(SyncError::NotFound(ListId::new_random())).exit_code(),
            1
        );
    }
}
