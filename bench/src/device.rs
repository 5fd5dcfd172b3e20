//! A simulated device: its own SQLite [`Store`] in a temp dir and its own
//! [`SyncClient`] connection, driven through the real client code
//! ([`shoplist_cli::sync::sync_list`]).
//!
//! Devices that must not stall each other (W1's writers and observer, W3's
//! writer and fresh client) each run on their own OS thread with a
//! current-thread tokio runtime ([`on_thread`]): store calls block (SQLite,
//! fsync), and a device blocking its own thread is what a real device does.

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Context};
use engine::list::EditContext;
use engine::store::{Store, StoreOptions};
use engine::ListId;
use shoplist_cli::live::SharedStore;
use shoplist_cli::sync::{sync_list, SyncError, SyncReport};
use shoplist_cli::sync_client::{ClientConfig, ClientEvent, SyncClient};
use tempfile::TempDir;
use tokio::sync::{mpsc, oneshot};

/// Client timeouts for the benchmark: generous, so a loaded machine shows
/// up as latency rather than as failed requests.
pub fn client_config(endpoint: &str) -> ClientConfig {
    let mut cfg =
        ClientConfig::new(vec![endpoint.to_string()]).with_budget(Duration::from_secs(30));
    cfg.request_timeout = Duration::from_secs(10);
    cfg.connect_timeout = Duration::from_secs(2);
    // One proxy, nowhere to fail over to: a proxy slow to answer pings
    // under load is latency, not a reason to rebuild the socket.
    cfg.liveness = Duration::from_secs(10);
    cfg
}

/// Store options for setup-only devices (the lists' authors in W2/W3/W4):
/// no fsync per edit, since their local commits are not what is measured.
pub fn setup_store_options() -> StoreOptions {
    StoreOptions {
        synchronous_full: false,
        ..StoreOptions::default()
    }
}

/// One device. Must be created inside a tokio runtime.
pub struct Device {
    /// Who edits (change messages, `added_by`).
    pub name: String,
    /// The device's local store.
    pub store: Store,
    /// Its cloud connection.
    pub client: SyncClient,
    /// `notify` and connection news.
    pub events: mpsc::UnboundedReceiver<ClientEvent>,
    _dir: TempDir,
}

impl Device {
    /// A fresh device with an empty store.
    pub fn open(name: &str, endpoint: &str, opts: StoreOptions) -> anyhow::Result<Device> {
        let dir = tempfile::Builder::new()
            .prefix("shoplist-bench-device-")
            .tempdir()
            .context("cannot create a device dir")?;
        let store = Store::open_with(dir.path().join("shoplist.db"), opts)
            .context("cannot open a device store")?;
        let (client, events) = SyncClient::start(client_config(endpoint));
        Ok(Device {
            name: name.to_string(),
            store,
            client,
            events,
            _dir: dir,
        })
    }

    /// An edit context stamped now.
    pub fn ctx(&self) -> EditContext {
        EditContext::now(self.name.clone())
    }

    /// Push and pull one list (`join` when the store lacks it).
    pub async fn sync(&mut self, list: ListId) -> Result<SyncReport, SyncError> {
        sync_list(&self.client, &mut self.store, list).await
    }

    /// Create a list locally.
    pub fn create_list(&mut self, name: &str) -> anyhow::Result<ListId> {
        let ctx = self.ctx();
        Ok(self.store.create_list(name, &ctx)?)
    }

    /// Add `item` (one change, committed).
    pub fn add_item(&mut self, list: ListId, item: &str) -> anyhow::Result<()> {
        add_item(&mut self.store, &self.name, list, item)
    }

    /// The device with its store shared with a live session (the device's
    /// own connection is dropped; the session has its own).
    pub fn into_live(self) -> LiveDevice {
        LiveDevice {
            name: self.name,
            store: SharedStore::new(self.store),
            _dir: self._dir,
        }
    }
}

/// A device whose one store connection its editing side and its live
/// session ([`shoplist_cli::watch::Watcher`]) share, as the TUI does: each
/// edit is applied once on the device.
pub struct LiveDevice {
    /// Who edits.
    pub name: String,
    /// The device's store, shared with its session.
    pub store: SharedStore,
    _dir: TempDir,
}

impl LiveDevice {
    /// Add `item` (one change, committed), waiting for the store if the
    /// session is using it.
    pub fn add_item(&self, list: ListId, item: &str) -> anyhow::Result<()> {
        add_item(&mut self.store.lock(), &self.name, list, item)
    }
}

fn add_item(store: &mut Store, author: &str, list: ListId, item: &str) -> anyhow::Result<()> {
    let ctx = EditContext::now(author.to_string());
    store.edit(list, |l| l.add_item(item, 1, &ctx))?;
    Ok(())
}

/// Run `f` on a new OS thread with its own current-thread tokio runtime;
/// resolves to its result (or an error if the thread panicked).
pub fn on_thread<F, Fut, T>(name: &str, f: F) -> impl Future<Output = anyhow::Result<T>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(f()),
                Err(e) => Err(e.into()),
            };
            let _ = tx.send(result);
        });
    let name = name.to_string();
    async move {
        spawned.with_context(|| format!("cannot start thread {name}"))?;
        rx.await
            .map_err(|_| anyhow!("thread {name} panicked"))
            .and_then(|r| r)
    }
}
