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

mod lifecycle;
mod local;
mod net;

pub use net::watch_client_config;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use engine::list::ItemDetails;
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
    /// The line shown to people: an offline error says that the edits are
    /// safe and how to start a cloud (issue 12 defect 9).
    pub fn user_message(&self) -> String {
        if let CliError::Sync(SyncError::Client(crate::sync_client::ClientError::Unreachable {
            endpoints,
            detail,
        })) = self
        {
            return format!(
                "cannot reach the cloud at {endpoints} (gave up after retrying for a few seconds; last: {detail}); edits made here are safe on this device and go out with the next sync (is the cloud running? `shoplist-cloud up` starts one; `--cloud` / SHOPLIST_CLOUD choose it)"
            );
        }
        if self.exit_code() == 2 {
            format!(
                "{self}; edits made here are safe on this device and go out with the next sync (is the cloud running? `shoplist-cloud up` starts one; `--cloud` / SHOPLIST_CLOUD choose it)"
            )
        } else {
            self.to_string()
        }
    }

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
    /// `--quiet`: no notes, warnings, or list after an edit.
    pub quiet: bool,
    /// `--utc`: times in UTC instead of local time.
    pub utc: bool,
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

    /// A note for people on stderr (`note: …`), unless `--quiet`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("note: {}", one_line(text));
        }
    }

    /// A warning on stderr (`warning: …`), unless `--quiet`.
    pub fn warn(&self, text: &str) {
        if !self.quiet {
            eprintln!("warning: {}", one_line(text));
        }
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

/// Print what needs no store: completions and the man page.
fn print_generated(cmd: &Command) -> Result<bool, CliError> {
    use clap::CommandFactory;
    let mut out = std::io::stdout().lock();
    match cmd {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "shoplist", &mut out);
            Ok(true)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| CliError::Other(format!("cannot write the man page: {e}")))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    if let Some(cmd) = &cli.command {
        if print_generated(cmd)? {
            return Ok(());
        }
    }
    let dir = data_dir(cli.data_dir)?;
    let (store, db_path) = open_store(&dir)?;
    let mut ctx = Ctx {
        store,
        json: cli.json,
        author: author_from_env(|k| std::env::var(k).ok()),
        cloud: cli.cloud,
        db_path,
        quiet: cli.quiet,
        utc: cli.utc,
    };
    let Some(cmd) = cli.command else {
        return crate::tui::run(ctx);
    };
    match cmd {
        Command::New { name } => local::new(&mut ctx, &args::words(&name)),
        Command::Ls { all } => local::ls(&mut ctx, all),
        Command::Show { list } => local::show(&mut ctx, &list),
        Command::Add {
            list,
            item,
            qty,
            category,
            note,
        } => local::add(&mut ctx, &list, &item, qty, ItemDetails { category, note }),
        Command::Buy { list, item, qty } => local::buy(&mut ctx, &list, &item, qty),
        Command::Unbuy { list, item, qty } => local::unbuy(&mut ctx, &list, &item, qty),
        Command::Undo { list } => lifecycle::undo(&mut ctx, list.as_deref()),
        Command::Rm { list, item } => local::rm(&mut ctx, &list, &item),
        Command::Rename { list, name } => local::rename(&mut ctx, &list, &args::words(&name)),
        Command::Delete { list, force } => lifecycle::delete(&mut ctx, &list, force),
        Command::Archive { list } => lifecycle::archive(&mut ctx, &list, true),
        Command::Unarchive { list } => lifecycle::archive(&mut ctx, &list, false),
        Command::Share { list } => net::share(&mut ctx, &list),
        Command::Status { list } => net::status(&mut ctx, list.as_deref()),
        Command::Log { list } => local::log(&mut ctx, &list),
        Command::Completions { .. } | Command::Man => Ok(()),
        Command::Join { url } => net::join(&mut ctx, &url),
        Command::Sync { lists, watch } => net::sync(&mut ctx, &lists, watch),
    }
}

/// Whether diagnostics on stderr may use colour: a terminal, and `NO_COLOR`
/// unset or empty (<https://no-color.org>).
pub fn color_on_stderr() -> bool {
    use std::io::IsTerminal;
    color_allowed(std::env::var_os("NO_COLOR").as_deref()) && std::io::stderr().is_terminal()
}

/// `NO_COLOR` set to anything non-empty turns colour off.
pub fn color_allowed(no_color: Option<&std::ffi::OsStr>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
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
        .with_ansi(color_on_stderr())
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
                eprintln!("error: {}", one_line(&e.user_message()));
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

    /// Issue 12 deliverable 7: NO_COLOR set to anything non-empty means no
    /// colour (https://no-color.org); non-terminals never get colour.
    #[test]
    fn no_color_turns_colour_off() {
        use std::ffi::OsStr;
        assert!(color_allowed(None));
        assert!(color_allowed(Some(OsStr::new(""))));
        assert!(!color_allowed(Some(OsStr::new("1"))));
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
