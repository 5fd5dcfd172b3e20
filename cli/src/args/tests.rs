//! The command line of DESIGN §7: names, flags, defaults and value checks.

use super::*;

fn run(args: &[&str]) -> Cli {
    match parse(std::iter::once("shoplist").chain(args.iter().copied())) {
        Parsed::Run(cli) => cli,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn error(args: &[&str]) -> String {
    match parse(std::iter::once("shoplist").chain(args.iter().copied())) {
        Parsed::Error(e) => e,
        other => panic!("{args:?} should fail: {other:?}"),
    }
}

#[test]
fn every_command_of_the_contract_parses() {
    assert_eq!(
        run(&["new", "Weekly", "shop"]).command,
        Some(Command::New {
            name: vec!["Weekly".into(), "shop".into()]
        })
    );
    assert_eq!(run(&["ls"]).command, Some(Command::Ls { all: false }));
    assert_eq!(
        run(&["show", "L"]).command,
        Some(Command::Show { list: "L".into() })
    );
    assert_eq!(
        run(&["add", "L", "oat", "milk", "-n", "3"]).command,
        Some(Command::Add {
            list: "L".into(),
            item: vec!["oat".into(), "milk".into()],
            qty: 3,
            category: None,
            note: None,
        })
    );
    assert_eq!(
        run(&["add", "L", "milk"]).command,
        Some(Command::Add {
            list: "L".into(),
            item: vec!["milk".into()],
            qty: 1,
            category: None,
            note: None,
        })
    );
    assert_eq!(
        run(&["buy", "L", "milk"]).command,
        Some(Command::Buy {
            list: "L".into(),
            item: vec!["milk".into()],
            qty: None
        })
    );
    assert_eq!(
        run(&["buy", "L", "milk", "-n", "2"]).command,
        Some(Command::Buy {
            list: "L".into(),
            item: vec!["milk".into()],
            qty: Some(2)
        })
    );
    assert_eq!(
        run(&["rm", "L", "milk"]).command,
        Some(Command::Rm {
            list: "L".into(),
            item: vec!["milk".into()]
        })
    );
    assert_eq!(
        run(&["rename", "L", "New"]).command,
        Some(Command::Rename {
            list: "L".into(),
            name: vec!["New".into()]
        })
    );
    assert_eq!(
        run(&["share", "L"]).command,
        Some(Command::Share { list: "L".into() })
    );
    assert_eq!(
        run(&["join", "shoplist://list/x"]).command,
        Some(Command::Join {
            url: "shoplist://list/x".into()
        })
    );
    assert_eq!(
        run(&["sync"]).command,
        Some(Command::Sync {
            lists: vec![],
            watch: false
        })
    );
    assert_eq!(
        run(&["sync", "A", "B", "--watch"]).command,
        Some(Command::Sync {
            lists: vec!["A".into(), "B".into()],
            watch: true
        })
    );
    assert_eq!(
        run(&["status"]).command,
        Some(Command::Status { list: None })
    );
    assert_eq!(
        run(&["status", "L"]).command,
        Some(Command::Status {
            list: Some("L".into())
        })
    );
    assert_eq!(
        run(&["log", "L"]).command,
        Some(Command::Log { list: "L".into() })
    );
    assert_eq!(run(&[]).command, None);
}

#[test]
fn global_flags_go_anywhere_and_cloud_takes_a_comma_list() {
    let cli = run(&[
        "ls",
        "--json",
        "--data-dir",
        "/tmp/x",
        "--cloud",
        "tcp://a:1,tcp://127.0.0.1:2",
    ]);
    assert!(cli.json);
    assert_eq!(cli.data_dir, Some(PathBuf::from("/tmp/x")));
    assert_eq!(
        cli.cloud,
        vec!["tcp://a:1".to_string(), "tcp://127.0.0.1:2".to_string()]
    );
}

#[test]
fn bad_quantities_and_endpoints_are_one_line_errors() {
    for q in ["0", "-3", "abc", "1.5", "1000001"] {
        let e = error(&["add", "L", "milk", "-n", q]);
        assert!(e.contains("quantity"), "{q}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    assert!(error(&["buy", "L", "milk", "-n", "-1"]).contains("quantity"));
    assert!(error(&["--cloud", "nonsense", "ls"]).contains("endpoint"));
    let e = error(&["add", "L"]);
    assert!(e.contains("required"), "{e}");
    assert!(error(&["frobnicate"]).contains("frobnicate"));
}

#[test]
fn help_is_printed_not_an_error() {
    assert!(matches!(parse(["shoplist", "--help"]), Parsed::Print(_)));
    assert!(matches!(
        parse(["shoplist", "add", "--help"]),
        Parsed::Print(_)
    ));
}

/// Issue 12 defect 9: a typo keeps clap's "a similar subcommand exists" tip.
#[test]
fn typos_keep_the_similar_subcommand_tip() {
    let e = error(&["lst"]);
    assert!(
        e.contains("similar subcommand") && e.contains("'ls'"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn issue_12_commands_parse() {
    assert_eq!(
        run(&["add", "L", "milk", "--cat", "dairy", "--note", "1 L"]).command,
        Some(Command::Add {
            list: "L".into(),
            item: vec!["milk".into()],
            qty: 1,
            category: Some("dairy".into()),
            note: Some("1 L".into()),
        })
    );
    assert_eq!(
        run(&["unbuy", "L", "milk", "-n", "1"]).command,
        Some(Command::Unbuy {
            list: "L".into(),
            item: vec!["milk".into()],
            qty: Some(1)
        })
    );
    assert_eq!(run(&["undo"]).command, Some(Command::Undo { list: None }));
    assert_eq!(
        run(&["delete", "L", "--force"]).command,
        Some(Command::Delete {
            list: "L".into(),
            force: true
        })
    );
    assert_eq!(
        run(&["ls", "--all"]).command,
        Some(Command::Ls { all: true })
    );
    assert_eq!(
        run(&["archive", "L"]).command,
        Some(Command::Archive { list: "L".into() })
    );
    let cli = run(&["--quiet", "--utc", "ls"]);
    assert!(cli.quiet && cli.utc);
    assert_eq!(
        run(&["completions", "bash"]).command,
        Some(Command::Completions {
            shell: clap_complete::Shell::Bash
        })
    );
}
