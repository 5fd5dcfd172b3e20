//! The command line (DESIGN §7), as clap derive types. Names and flags here
//! are a contract: scripts, tests and benchmarks depend on them.
//!
//! Values are checked at the edge: quantities are whole numbers from 1 to
//! [`MAX_QTY`], cloud endpoints must parse as ZeroMQ endpoints. A parse
//! error becomes one line on stderr and exit code 1 ([`parse`]).

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use engine::list::MAX_QTY;

/// `shoplist`: local-first shopping lists, shared through the cloud.
#[derive(Debug, Parser, PartialEq)]
#[command(name = "shoplist", version, about, long_about = None)]
pub struct Cli {
    /// Where the local database lives [default: ~/.local/share/shoplist]
    #[arg(long, global = true, env = "SHOPLIST_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Cloud proxy endpoints, tried in order [default: tcp://127.0.0.1:5555]
    #[arg(
        long,
        global = true,
        env = "SHOPLIST_CLOUD",
        value_name = "ENDPOINT[,ENDPOINT...]",
        value_delimiter = ',',
        value_parser = parse_endpoint
    )]
    pub cloud: Vec<String>,

    /// Print one JSON document on stdout (see README "JSON output")
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only what was asked for: no notes, warnings or list after an edit
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    /// Show times in UTC instead of the local time zone
    #[arg(long, global = true)]
    pub utc: bool,

    /// The command; none starts the interactive mode.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand, PartialEq)]
pub enum Command {
    /// Create a list locally; print its URL
    New {
        /// The list's name (several words are joined with spaces)
        #[arg(required = true, num_args = 1..)]
        name: Vec<String>,
    },
    /// Local lists: name, URL, item counts, unsynced edits
    Ls {
        /// Also list archived lists
        #[arg(long, short = 'a')]
        all: bool,
    },
    /// The list: items with needed / acquired / done
    Show {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
    },
    /// Add an item, or need QTY more of it
    Add {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
        /// The item's name (several words are joined with spaces)
        #[arg(required = true, num_args = 1..)]
        item: Vec<String>,
        /// How many more are needed
        #[arg(short = 'n', value_name = "QTY", default_value_t = 1,
              allow_negative_numbers = true, value_parser = parse_qty)]
        qty: i64,
        /// A category to group it under ("" clears it)
        #[arg(long = "cat", value_name = "CATEGORY")]
        category: Option<String>,
        /// A note, e.g. "lactose-free, 1 L" ("" clears it)
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// Acquire QTY of an item (default: all still needed)
    Buy {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
        /// The item's name
        #[arg(required = true, num_args = 1..)]
        item: Vec<String>,
        /// How many were bought
        #[arg(short = 'n', value_name = "QTY", allow_negative_numbers = true,
              value_parser = parse_qty)]
        qty: Option<i64>,
    },
    /// Take back a buy: QTY were not bought after all (default: all bought)
    Unbuy {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
        /// The item's name
        #[arg(required = true, num_args = 1..)]
        item: Vec<String>,
        /// How many to take back
        #[arg(short = 'n', value_name = "QTY", allow_negative_numbers = true,
              value_parser = parse_qty)]
        qty: Option<i64>,
    },
    /// Revert this device's last edit on a list (a new change; works offline)
    Undo {
        /// The list (default: the list this device edited last)
        list: Option<String>,
    },
    /// Remove an item
    Rm {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
        /// The item's name
        #[arg(required = true, num_args = 1..)]
        item: Vec<String>,
    },
    /// Rename the list
    Rename {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
        /// The new name
        #[arg(required = true, num_args = 1..)]
        name: Vec<String>,
    },
    /// Delete a list from this device (the cloud and others keep it)
    Delete {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
        /// Delete even if it has edits the cloud does not have yet (they are lost)
        #[arg(long)]
        force: bool,
    },
    /// Hide a list from `ls` (it keeps syncing)
    Archive {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
    },
    /// Show an archived list in `ls` again
    Unarchive {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
    },
    /// Print the list's URL (syncing it first if the cloud lacks it)
    Share {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
    },
    /// Fetch a list from the cloud by its URL
    Join {
        /// shoplist://list/<uuid> (or the bare UUID)
        url: String,
    },
    /// Push and pull now; --watch stays and applies others' edits live
    Sync {
        /// Lists to sync (default: all)
        lists: Vec<String>,
        /// Keep running: apply others' edits as they happen, push local ones
        #[arg(long)]
        watch: bool,
    },
    /// Per list: edits not yet acknowledged by the cloud
    Status {
        /// One list (default: all)
        list: Option<String>,
    },
    /// History: who changed what, when
    Log {
        /// URL, UUID, unambiguous UUID prefix, or list name
        list: String,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout
    Man,
}

/// Several words of a name argument, joined with single spaces.
pub fn words(parts: &[String]) -> String {
    parts.join(" ")
}

fn parse_qty(s: &str) -> Result<i64, String> {
    let n: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("quantity must be a whole number from 1 to {MAX_QTY}, not {s:?}"))?;
    if (1..=MAX_QTY).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "quantity must be a whole number from 1 to {MAX_QTY}, not {n}"
        ))
    }
}

fn parse_endpoint(s: &str) -> Result<String, String> {
    let s = s.trim();
    match s.parse::<zeromq::Endpoint>() {
        Ok(zeromq::Endpoint::Tcp(..)) => Ok(s.to_string()),
        _ => Err(format!(
            "not a cloud endpoint: {s:?} (expected tcp://HOST:PORT)"
        )),
    }
}

/// What parsing the command line gave.
#[derive(Debug)]
pub enum Parsed {
    /// Run this.
    Run(Cli),
    /// `--help` / `--version`: print this on stdout, exit 0.
    Print(String),
    /// A usage error, already condensed to one line.
    Error(String),
}

/// Parse `args` (including the program name) without exiting the process.
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => Parsed::Run(cli),
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                Parsed::Print(e.render().to_string())
            }
            _ => Parsed::Error(one_line(&e.render().to_string())),
        },
    }
}

/// The error style of both binaries for a clap error: `None` for `--help`
/// and `--version` (print [`clap::Error::render`] on stdout, exit 0), else
/// one line without the `error: ` prefix, clap's tips kept (exit 1).
pub fn usage_error_line(e: &clap::Error) -> Option<String> {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => None,
        _ => Some(one_line(&e.render().to_string())),
    }
}

/// Condense clap's multi-line error to one line: the text before the first
/// blank line, whitespace collapsed, without the `error: ` prefix, followed
/// by clap's tips ("a similar subcommand exists: 'ls'").
fn one_line(rendered: &str) -> String {
    let head = rendered.split("\n\n").next().unwrap_or(rendered);
    let flat = head.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = flat.strip_prefix("error: ").unwrap_or(&flat).to_string();
    for tip in rendered
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("tip:"))
    {
        out.push_str("; ");
        out.push_str(&tip.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    out
}

#[cfg(test)]
mod tests;
