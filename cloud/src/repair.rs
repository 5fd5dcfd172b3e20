//! Repair decisions: which replica should send what to which (DESIGN §4, §6;
//! Dynamo §4.7 read repair).
//!
//! Both repairs use nothing but the ordinary `sync`: the proxy asks a
//! *source* replica `sync {have: target_heads}` with no changes, and forwards
//! the changes it returns to the *target* replica as a `sync`. Ingestion is
//! idempotent and orders changes itself, so a repair that sends too much is
//! harmless.
//!
//! - **Fill**: a replica answered with a non-empty `missing`; the source is a
//!   replica that stored the request's changes (so it holds their history).
//!   Decided by [`crate::quorum::SyncQuorum::fill_source`].
//! - **Read repair**: the replicas that answered a request report different
//!   heads; [`plan_read_repair`] decides the transfers.
//!
//! Sans-IO: plain functions over worker ids and heads.

use std::collections::BTreeSet;

use engine::{ChangeHash, WorkerId};

/// One transfer: ask `source` for what a replica with heads `have` lacks and
/// hand it to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The replica that has more.
    pub source: WorkerId,
    /// The replica that lags.
    pub target: WorkerId,
    /// The target's heads (the `have` of the request to the source).
    pub have: Vec<ChangeHash>,
}

/// Read repair: given each responder's heads, the transfers that make every
/// responder hold what any other has.
///
/// A replica lags if another replica reports a head it does not report. The
/// proxy cannot see the change graph, so "another head" may also be an
/// ancestor of the lagging replica's heads; the transfer then carries only
/// duplicates, which the target skips. Each lagging replica gets one
/// transfer per distinct set of heads it lacks, from the most preferred
/// replica holding it.
pub fn plan_read_repair(responders: &[(WorkerId, Vec<ChangeHash>)]) -> Vec<Transfer> {
    let sets: Vec<BTreeSet<ChangeHash>> = responders
        .iter()
        .map(|(_, heads)| heads.iter().copied().collect())
        .collect();
    let mut plan = Vec::new();
    for (ti, (target, target_heads)) in responders.iter().enumerate() {
        let mut sources_seen: Vec<&BTreeSet<ChangeHash>> = Vec::new();
        for (si, (source, _)) in responders.iter().enumerate() {
            if si == ti || sets[si].is_subset(&sets[ti]) {
                continue;
            }
            // Another replica with the same heads already serves this target.
            if sources_seen.contains(&&sets[si]) {
                continue;
            }
            sources_seen.push(&sets[si]);
            plan.push(Transfer {
                source: source.clone(),
                target: target.clone(),
                have: target_heads.clone(),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> WorkerId {
        WorkerId::parse(s).unwrap()
    }

    fn h(b: u8) -> ChangeHash {
        ChangeHash([b; 32])
    }

    #[test]
    fn equal_heads_need_no_repair() {
        let r = vec![(w("a"), vec![h(1)]), (w("b"), vec![h(1)])];
        assert!(plan_read_repair(&r).is_empty());
        assert!(plan_read_repair(&[]).is_empty());
    }

    #[test]
    fn lagging_replica_is_repaired_from_one_holder() {
        // Dynamo §4.7: replicas with stale versions are updated.
        let r = vec![(w("a"), vec![h(2)]), (w("b"), vec![h(2)]), (w("c"), vec![])];
        assert_eq!(
            plan_read_repair(&r),
            vec![Transfer {
                source: w("a"),
                target: w("c"),
                have: vec![]
            }]
        );
    }

    #[test]
    fn diverged_replicas_exchange_both_ways() {
        let r = vec![(w("a"), vec![h(1)]), (w("b"), vec![h(2)])];
        let plan = plan_read_repair(&r);
        assert_eq!(plan.len(), 2);
        assert!(plan.contains(&Transfer {
            source: w("b"),
            target: w("a"),
            have: vec![h(1)]
        }));
        assert!(plan.contains(&Transfer {
            source: w("a"),
            target: w("b"),
            have: vec![h(2)]
        }));
    }

    #[test]
    fn a_superset_replica_receives_nothing() {
        let r = vec![(w("a"), vec![h(1), h(2)]), (w("b"), vec![h(1)])];
        assert_eq!(
            plan_read_repair(&r),
            vec![Transfer {
                source: w("a"),
                target: w("b"),
                have: vec![h(1)]
            }]
        );
    }
}
