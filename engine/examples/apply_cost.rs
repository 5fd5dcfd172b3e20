//! Apply cost per change against batch size and list size (issue 11,
//! deliverable 2): for lists of 100, 1,000 and 4,000 items, apply 1, 8 and
//! 64 changes from another device in ONE `apply_changes` call, median of
//! the repetitions, printed as the markdown table of bench/README-bench.md.
//!
//! `cargo run --release -p shoplist-engine --example apply_cost`

use std::error::Error;
use std::time::{Duration, Instant};

use automerge::{ActorId, Change};
use engine::list::{EditContext, ShoppingList};

const REPS: usize = 15;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), Box<dyn Error>> {
    let ctx = EditContext::now("bench");
    println!("| items in the list | 1 change | 8 changes in one call | 64 changes in one call |");
    println!("| --- | --- | --- | --- |");
    for items in [100usize, 1_000, 4_000] {
        let mut base = ShoppingList::create(ActorId::random(), "apply cost", &ctx)?;
        for i in 0..items {
            base.add_item(&format!("item {i}"), 1, &ctx)?;
        }
        let mut other = ShoppingList::from_doc(base.doc().fork().with_actor(ActorId::random()));
        let mut changes: Vec<Change> = Vec::new();
        for i in 0..64 {
            other.add_item(&format!("new {i}"), 1, &ctx)?;
            changes.extend(other.last_local_change());
        }
        let mut row = format!("| {items} |");
        for batch in [1usize, 8, 64] {
            let mut times = Vec::with_capacity(REPS);
            for _ in 0..REPS {
                let mut doc = ShoppingList::from_doc(base.doc().clone());
                let b: Vec<Change> = changes[..batch].to_vec();
                let t = Instant::now();
                doc.apply_changes(b)?;
                times.push(t.elapsed());
            }
            let ms = median(times);
            if batch == 1 {
                row += &format!(" {ms:.3} ms |");
            } else {
                row += &format!(" {ms:.3} ms ({:.4} each) |", ms / batch as f64);
            }
        }
        println!("{row}");
    }
    Ok(())
}
