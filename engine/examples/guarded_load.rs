//! Cost of a fresh open through the guarded loader (issue 11 deliverable 4)
//! against replaying the history, for W3's shape: one list of `N` changes
//! (default 10 000; first argument) cycling through 200 item names.
//!
//! `cargo run --release -p shoplist-engine --example guarded_load [N]`
//! prints, as medians of 5 runs: the uncompressed snapshot size, the
//! prescan alone, `Automerge::load` alone, `load_untrusted` (prescan + load + heads + per-actor
//! signature check), `Store::open_from_snapshot` (that, plus the rows a
//! fresh device stores), and applying all changes in one call.

use std::time::{Duration, Instant};

use engine::ingest::prescan::{prescan_document, DocLimits};
use engine::list::{EditContext, ShoppingList};
use engine::load::{load_untrusted, ActorSignature};
use engine::signing::DeviceKey;
use engine::ListId;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let key = DeviceKey::from_seed(&[42; 32]).ok_or("seed")?;
    let list = ListId::from_slice(&[1; 16]).ok_or("id")?;
    let ctx = EditContext::now("bench");
    let mut l = ShoppingList::create(key.actor(), "W3 long history", &ctx)?;
    for i in 1..n {
        l.add_item(&format!("item {}", i % 200), 1, &ctx)?;
    }
    let heads = l.heads();
    let last = l.last_local_change().ok_or("no change")?;
    let sig = ActorSignature {
        hash: last.hash(),
        signature: key.sign(list, &last.hash()),
    };
    let snapshot = l.doc_mut().save_nocompress();
    let changes = l.doc().get_changes(&[]);
    let (mut pre, mut raw, mut load, mut apply) = (vec![], vec![], vec![], vec![]);
    let mut store_open = vec![];
    let dir = tempfile::tempdir()?;
    for _ in 0..5 {
        let t = Instant::now();
        prescan_document(&snapshot, &DocLimits::default())?;
        pre.push(t.elapsed());
        let t = Instant::now();
        automerge::Automerge::load(&snapshot)?;
        raw.push(t.elapsed());
        let t = Instant::now();
        let doc = load_untrusted(
            list,
            &snapshot,
            &heads,
            Some(std::slice::from_ref(&sig)),
            &DocLimits::default(),
        )?;
        load.push(t.elapsed());
        assert_eq!(doc.get_heads(), heads);
        let t = Instant::now();
        let mut fresh = automerge::Automerge::new();
        fresh.apply_changes(changes.clone())?;
        apply.push(t.elapsed());
        let mut device =
            engine::store::Store::open(dir.path().join(format!("d{}.db", store_open.len())))?;
        let t = Instant::now();
        device.open_from_snapshot(list, &snapshot, &heads, std::slice::from_ref(&sig))?;
        store_open.push(t.elapsed());
    }
    println!(
        "changes {n}: snapshot {} bytes; prescan {:.2} ms; Automerge::load alone {:.2} ms; load_untrusted {:.2} ms; Store::open_from_snapshot {:.2} ms; apply all changes in one call {:.2} ms",
        snapshot.len(),
        median(pre),
        median(raw),
        median(load),
        median(store_open),
        median(apply)
    );
    Ok(())
}
