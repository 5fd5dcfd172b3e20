//! The `shoplist` binary: parse the command line, run it, map errors to exit
//! codes (1 for every error, 2 when the cloud could not be reached or did not
//! reach its quorum). See the library crate for everything else.

use std::process::ExitCode;

fn main() -> ExitCode {
    shoplist_cli::commands::main_entry()
}
