//! Micro-timings of Automerge reads on a list document (in memory).
use automerge::{ObjType, ReadDoc, Value, ROOT};
use engine::list::{EditContext, ShoppingList};
use std::time::Instant;
fn main() {
    let ctx = EditContext::now("b");
    let mut l = ShoppingList::create(automerge::ActorId::random(), "x", &ctx).unwrap();
    for i in 0..3000 {
        l.add_item(&format!("item{}", i % 50), 1, &ctx).unwrap();
    }
    let doc = l.doc();
    let items = match doc.get(ROOT, "items").unwrap() {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => panic!(),
    };
    let t = Instant::now();
    let keys: Vec<String> = doc.keys(&items).collect();
    println!("keys {} in {:?}", keys.len(), t.elapsed());
    let objs: Vec<_> = keys
        .iter()
        .map(|k| doc.get(&items, k.as_str()).unwrap().unwrap().1)
        .collect();
    let t = Instant::now();
    for o in &objs {
        let _ = doc.get(o, "norm").unwrap();
    }
    println!("get norm x{} in {:?}", objs.len(), t.elapsed());
    let t = Instant::now();
    for o in &objs {
        let _ = doc.get_all(o, "live").unwrap();
    }
    println!("get_all live in {:?}", t.elapsed());
    let t = Instant::now();
    for o in &objs {
        let _ = doc.get_all(o, "needed").unwrap();
    }
    println!("get_all needed in {:?}", t.elapsed());
    let t = Instant::now();
    for o in &objs {
        let _ = o.to_string();
    }
    println!("to_string in {:?}", t.elapsed());
    let t = Instant::now();
    let n = doc.map_range(&items, ..).count();
    println!("map_range {n} in {:?}", t.elapsed());
    let t = Instant::now();
    for o in &objs {
        let _: Vec<_> = doc.map_range(o, ..).map(|x| (x.key.to_string())).collect();
    }
    println!("map_range per item in {:?}", t.elapsed());
}
