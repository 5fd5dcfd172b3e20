//! Where a local edit spends its time (in memory, no SQLite).
use engine::list::{EditContext, ShoppingList};
use std::time::Instant;
fn main() {
    let ctx = EditContext::now("b");
    let mut l = ShoppingList::create(automerge::ActorId::random(), "x", &ctx).unwrap();
    let n = 3000;
    let (mut ta, mut tc, mut tv) = (0u128, 0u128, 0u128);
    for i in 0..n {
        let t = Instant::now();
        l.add_item(&format!("item{}", i % 50), 1, &ctx).unwrap();
        ta += t.elapsed().as_nanos();
        let t = Instant::now();
        let _c = l.last_local_change().unwrap();
        tc += t.elapsed().as_nanos();
        let t = Instant::now();
        let _v = l.view();
        tv += t.elapsed().as_nanos();
    }
    let us = |x: u128| x as f64 / n as f64 / 1e3;
    println!(
        "add {:.1}us last_change {:.1}us view {:.1}us",
        us(ta),
        us(tc),
        us(tv)
    );
}
