//! The interactive mode (no command): a ratatui terminal UI over the local
//! store, with live sync in the background.
//!
//! - [`state`]: the state (no terminal, unit-tested): lists, the items pane
//!   in shopping order, a selection that follows the item.
//! - [`keys`]: key handling, focus rules, confirmations, undo.
//! - [`draw`](self::draw): rendering (snapshot-tested on a `TestBackend`).
//! - [`prompt`](self::prompt): the prompts and their answers.
//! - this module: the terminal (raw mode, alternate screen, restored on exit
//!   and on panic), the event loop, and the background threads: a
//!   [`Watcher`] on its own tokio runtime (subscribe, apply `notify` at
//!   once, push local edits, poked through a [`LiveHandle`] after every key
//!   that edits), sharing the one store connection of the event loop
//!   ([`SharedStore`]: each edit is applied once, not once per connection),
//!   plus one short-lived thread per `join`. The screen re-reads the store when the watcher reports
//!   something, after each key, and every second (edits by other processes).

pub mod draw;
pub mod keys;
pub mod prompt;
pub mod state;

#[cfg(test)]
mod screens;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::ExecutableCommand;
use engine::store::Store;
use engine::ListId;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::commands::{CliError, Ctx};
use crate::live::{LiveHandle, SharedStore};
use crate::sync::sync_list;
use crate::sync_client::{ClientConfig, SyncClient};
use crate::watch::{WatchEvent, WatchOptions, Watcher};
use keys::{Flow, Key};
use state::{App, Net};

/// News from the background threads.
enum Bg {
    Watch(WatchEvent),
    Joined(ListId, Result<(), String>),
}

/// Restores the terminal when dropped (also while unwinding a panic).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = disable_raw_mode();
        let _ = std::io::stdout().execute(LeaveAlternateScreen);
        let _ = std::io::stdout().execute(crossterm::cursor::Show);
    }
}

fn to_key(k: KeyEvent) -> Option<Key> {
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(k.code, KeyCode::Char('c') | KeyCode::Char('d')).then_some(Key::Interrupt);
    }
    Some(match k.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Tab | KeyCode::BackTab => Key::Tab,
        KeyCode::Delete => Key::Delete,
        _ => return None,
    })
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Start the background watcher; returns its stop switch and thread.
fn spawn_watcher(
    store: SharedStore,
    cloud: Vec<String>,
    tx: std_mpsc::Sender<Bg>,
) -> (tokio::sync::oneshot::Sender<()>, JoinHandle<()>, LiveHandle) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (live, pokes) = LiveHandle::channel();
    let live2 = live.clone();
    let handle = std::thread::spawn(move || {
        let Ok(rt) = runtime() else {
            let _ = tx.send(Bg::Watch(WatchEvent::Offline {
                reason: "background sync could not start".into(),
            }));
            return;
        };
        rt.block_on(async move {
            let (client, events) = SyncClient::start(crate::commands::watch_client_config(cloud));
            let watcher = Watcher::new(store, client, events, None, WatchOptions::default())
                .with_pokes(live2, pokes);
            let sink = |ev| {
                let _ = tx.send(Bg::Watch(ev));
            };
            watcher
                .run(sink, async {
                    let _ = stop_rx.await;
                })
                .await;
        });
    });
    (stop_tx, handle, live)
}

/// Fetch a list in a short-lived thread; the result comes back as [`Bg::Joined`].
fn spawn_join(db: &Path, cloud: Vec<String>, id: ListId, tx: std_mpsc::Sender<Bg>) {
    let db = db.to_path_buf();
    std::thread::spawn(move || {
        let result = (|| {
            let mut store = Store::open(&db).map_err(|e| e.to_string())?;
            let rt = runtime().map_err(|e| e.to_string())?;
            rt.block_on(async {
                let (client, _events) = SyncClient::start(ClientConfig::new(cloud));
                sync_list(&client, &mut store, id).await
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
        })();
        let _ = tx.send(Bg::Joined(id, result));
    });
}

/// Poke the background session for every list whose unacknowledged edits
/// grew with the last key, so they are pushed at once (not at the next poll).
fn poke_edited(app: &mut App, store: &mut Store, live: &LiveHandle) {
    let before: Vec<(ListId, usize)> = app.lists.iter().map(|l| (l.id, l.pending)).collect();
    if let Err(e) = app.reload(store) {
        app.message = format!("error: {e}");
        return;
    }
    for row in &app.lists {
        let was = before
            .iter()
            .find(|(id, _)| *id == row.id)
            .map_or(0, |b| b.1);
        if row.pending > was {
            live.edited(row.id);
        }
    }
}

fn on_bg(app: &mut App, bg: Bg) {
    match bg {
        Bg::Watch(WatchEvent::Online) => app.net = Net::Online,
        Bg::Watch(WatchEvent::Offline { .. }) => app.net = Net::Offline,
        Bg::Watch(WatchEvent::Received { name, received, .. }) => {
            app.message = format!("{name}: {received} change(s) from others applied");
        }
        Bg::Watch(WatchEvent::Unavailable { message, .. }) => {
            app.message = format!("cloud quorum not reached ({message}); edits kept, retrying")
        }
        Bg::Watch(WatchEvent::Error { message, .. }) => {
            app.message = format!("sync error: {message}")
        }
        Bg::Watch(WatchEvent::StoreError { message, .. }) => {
            app.message = format!("store error: {message} (retrying)")
        }
        Bg::Watch(WatchEvent::Pushed { .. }) => {}
        Bg::Joined(id, Ok(())) => {
            app.message = format!("joined {}", id.url());
            app.focus_list(id);
        }
        Bg::Joined(_, Err(e)) => app.message = format!("join failed: {e}"),
    }
}

/// Run the interactive mode until the user quits.
pub fn run(ctx: Ctx) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "interactive mode needs a terminal; see `shoplist --help` for the commands".into(),
        ));
    }
    let Ctx {
        store,
        author,
        cloud,
        db_path,
        ..
    } = ctx;
    let store = SharedStore::new(store);
    let (tx, rx) = std_mpsc::channel();
    let (stop, watcher, live) = spawn_watcher(store.clone(), cloud.clone(), tx.clone());
    let bg = Background {
        store,
        db_path,
        cloud,
        tx,
        rx,
        live,
    };

    let term_err = |e: std::io::Error| CliError::Other(format!("terminal: {e}"));
    enable_raw_mode().map_err(term_err)?;
    let guard = TerminalGuard;
    std::io::stdout()
        .execute(EnterAlternateScreen)
        .map_err(term_err)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(term_err)?;

    let mut app = App::new(author);
    app.color = crate::commands::color_allowed(std::env::var_os("NO_COLOR").as_deref());
    let result = event_loop(&mut terminal, &mut app, &bg);

    drop(guard);
    let _ = stop.send(());
    let _ = watcher.join();
    result
}

/// What the event loop shares with the background threads.
struct Background {
    /// The device's one store connection (the watcher's too).
    store: SharedStore,
    db_path: PathBuf,
    cloud: Vec<String>,
    tx: std_mpsc::Sender<Bg>,
    rx: std_mpsc::Receiver<Bg>,
    live: LiveHandle,
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<std::io::Stdout>>,
    app: &mut App,
    bg: &Background,
) -> Result<(), CliError> {
    let term_err = |e: std::io::Error| CliError::Other(format!("terminal: {e}"));
    let mut last_reload = Instant::now();
    if let Err(e) = app.reload(&mut bg.store.lock()) {
        app.message = format!("error: {e}");
    }
    loop {
        terminal.draw(|f| draw::draw(f, app)).map_err(term_err)?;
        let mut dirty = false;
        if event::poll(Duration::from_millis(100)).map_err(term_err)? {
            match event::read().map_err(term_err)? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    if let Some(key) = to_key(k) {
                        let flow = {
                            let mut store = bg.store.lock();
                            let flow = app.on_key(key, &mut store);
                            poke_edited(app, &mut store, &bg.live);
                            flow
                        };
                        match flow {
                            Flow::Quit => return Ok(()),
                            Flow::Join(id) => {
                                spawn_join(&bg.db_path, bg.cloud.clone(), id, bg.tx.clone())
                            }
                            Flow::Continue => {}
                        }
                        dirty = true;
                    }
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        while let Ok(news) = bg.rx.try_recv() {
            on_bg(app, news);
            dirty = true;
        }
        if dirty || last_reload.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = app.reload(&mut bg.store.lock()) {
                app.message = format!("error: {e}");
            }
            last_reload = Instant::now();
        }
    }
}
