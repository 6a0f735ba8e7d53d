//! Replay of the stage graph: which stages are open, which stage came last under each
//! parent, whether each transition is allowed or recorded as a violation, whether a stage
//! id is used twice, and whether each exit agrees with its enter.

use std::collections::BTreeMap;

use receipt_primitives::check::{CheckId, Verdict, echo};

use super::findings::Findings;
use crate::entry::kind;
use crate::graph::{START, StageGraph};
use crate::receipt::PayloadView;

/// Stage-graph replay: which stages are open, who came last under each parent.
#[derive(Default)]
pub(super) struct Stages {
    graph: StageGraph,
    /// Open stages by id: name (see [`Names`]), depth and `t_ns` of the enter.
    pub(super) open: BTreeMap<u64, (u32, u64, Option<u64>)>,
    /// Every stage id entered so far.
    pub(super) ids: IdSet,
    /// The last stage entered under each parent (or on each thread, at the top).
    last_child: BTreeMap<(Option<u64>, u64), u32>,
    names: Names,
    pending_violation: Option<(String, String)>,
    /// `RUN_START.policy`, when it is a known one.
    policy: Option<&'static str>,
    pub(super) violations: u64,
}

/// The violation policies of §10.4.
const POLICIES: [&str; 2] = ["fail", "record"];

/// Most separate runs of consecutive stage ids [`IdSet`] keeps (a run's ids come from one
/// counter, so an honest ledger needs one run per id that was handed out and not entered,
/// plus the few in flight on other threads); past it, reuse is not checked (`run.stage_ids`
/// UNKNOWN).
pub(crate) const MAX_ID_RANGES: usize = 1 << 16;

/// A set of stage ids kept as disjoint ranges of consecutive ids, so that remembering every
/// id of a long run takes memory for its gaps only.
#[derive(Default)]
pub(super) struct IdSet {
    /// First id of each range, to its last id.
    ranges: BTreeMap<u64, u64>,
    /// The line at which [`MAX_ID_RANGES`] was reached, if it was.
    pub(super) full_at: Option<u64>,
}

impl IdSet {
    /// Adds `id` (seen at `line`); whether it was already there.
    fn seen_before(&mut self, id: u64, line: u64) -> bool {
        let below = self.ranges.range(..=id).next_back().map(|(&s, &e)| (s, e));
        if let Some((_, end)) = below
            && end >= id
        {
            return true;
        }
        let after = id
            .checked_add(1)
            .and_then(|next| self.ranges.get(&next).map(|&e| (next, e)));
        match (
            below.filter(|&(_, end)| end.checked_add(1) == Some(id)),
            after,
        ) {
            (Some((start, _)), Some((next, end))) => {
                self.ranges.remove(&next);
                self.ranges.insert(start, end);
            }
            (Some((start, _)), None) => {
                self.ranges.insert(start, id);
            }
            (None, Some((next, end))) => {
                self.ranges.remove(&next);
                self.ranges.insert(id, end);
            }
            (None, None) if self.ranges.len() < MAX_ID_RANGES => {
                self.ranges.insert(id, id);
            }
            (None, None) => {
                self.full_at.get_or_insert(line);
            }
        }
        false
    }
}

/// Stage names seen so far, each stored once and referred to by number, so that replaying
/// the stages of a long run allocates nothing per stage.
#[derive(Default)]
pub(super) struct Names {
    list: Vec<Box<str>>,
    index: BTreeMap<Box<str>, u32>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&k) = self.index.get(name) {
            return k;
        }
        let k = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.list.push(name.into());
        self.index.insert(name.into(), k);
        k
    }

    fn name(&self, k: u32) -> &str {
        self.list.get(k as usize).map_or("", |n| n)
    }
}

impl Stages {
    pub(super) fn entry(
        &mut self,
        f: &mut Findings,
        line: u64,
        kind_: &str,
        stage: Option<&str>,
        p: &PayloadView<'_>,
    ) {
        let pending = self.pending_violation.take();
        match kind_ {
            kind::RUN_START => {
                if let Some(g) = p.run.as_ref().and_then(|r| r.graph.as_ref()) {
                    self.graph = g.clone();
                }
                self.policy = POLICIES
                    .into_iter()
                    .find(|&k| p.policy.as_deref() == Some(k));
                if self.policy.is_none() {
                    f.add(
                        CheckId::RunTransitions,
                        Verdict::Fail,
                        format!(
                            "line {line}: RUN_START field \"policy\" is {}, not \"fail\" or \"record\".",
                            p.policy.as_deref().map_or_else(|| "missing".to_owned(), |s| format!("{:?}", echo(s)))
                        ),
                    );
                }
            }
            kind::VIOLATION => {
                self.violations += 1;
                if p.policy.as_deref() != self.policy {
                    f.add(
                        CheckId::RunTransitions,
                        Verdict::Fail,
                        format!(
                            "line {line}: VIOLATION records policy {:?} but the run's policy is {:?}.",
                            echo(p.policy.as_deref().unwrap_or_default()),
                            self.policy.unwrap_or_default()
                        ),
                    );
                }
                let after = p.after.as_deref().unwrap_or_default();
                self.pending_violation =
                    Some((stage.unwrap_or_default().to_owned(), after.to_owned()));
            }
            kind::STAGE_ENTER => {
                let stage = stage.unwrap_or_default();
                let (Some(id), Some(thread), Some(depth)) = (p.id, p.thread, p.depth) else {
                    f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!("line {line}: STAGE_ENTER lacks id, thread or depth."),
                    );
                    return;
                };
                let parent = p.parent;
                let expected_depth = match parent {
                    None => Some(0),
                    Some(pid) => self.open.get(&pid).map(|(_, d, _)| d + 1),
                };
                match expected_depth {
                    None => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!(
                            "line {line}: stage `{}` names parent {} which is not open.",
                            echo(stage),
                            parent.unwrap_or_default()
                        ),
                    ),
                    Some(d) if d != depth => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!(
                            "line {line}: stage `{}` has depth {depth} but its parent implies {d}.",
                            echo(stage)
                        ),
                    ),
                    Some(_) => {}
                }
                if let Some(a) = p.after.as_deref() {
                    self.graph.allow(a, stage);
                }
                let key = (parent, if parent.is_some() { 0 } else { thread });
                let pred = self
                    .last_child
                    .get(&key)
                    .map_or(START, |&k| self.names.name(k));
                if !self.graph.allows(pred, stage) {
                    // Under the fail policy an illegal transition never enters its stage, so
                    // a VIOLATION excuses one only under the record policy (§10.4).
                    let recorded = self.policy == Some("record")
                        && pending
                            .as_ref()
                            .is_some_and(|(s, a)| s == stage && a == pred);
                    if !recorded {
                        f.add(
                            CheckId::RunTransitions,
                            Verdict::Fail,
                            format!("line {line}: stage `{}` follows `{}`, which the stage graph does not allow, and no VIOLATION was recorded.", echo(stage), echo(pred)),
                        );
                    }
                }
                let name = self.names.id(stage);
                self.last_child.insert(key, name);
                let reused = self.ids.seen_before(id, line);
                if self.open.insert(id, (name, depth, p.t_ns)).is_some() {
                    f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!("line {line}: stage id {id} is entered twice."),
                    );
                } else if reused {
                    f.add(
                        CheckId::RunStageIds,
                        Verdict::Fail,
                        format!(
                            "line {line}: stage `{}` reuses stage id {id}, which an earlier stage already had.",
                            echo(stage)
                        ),
                    );
                }
            }
            kind::EVENT => {
                let stage = stage.unwrap_or_default();
                let open = p.stage_id.and_then(|id| self.open.get(&id));
                match (p.stage_id, open) {
                    (Some(_), Some(&(s, _, _))) if self.names.name(s) == stage => {}
                    (Some(id), Some(&(s, _, _))) => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!(
                            "line {line}: EVENT names stage `{}` but stage id {id} is `{}`.",
                            echo(stage),
                            echo(self.names.name(s))
                        ),
                    ),
                    (Some(id), None) => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!(
                            "line {line}: EVENT of stage `{}` names stage id {id}, which is not open.",
                            echo(stage)
                        ),
                    ),
                    (None, _) => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!("line {line}: EVENT has no stage_id."),
                    ),
                }
            }
            kind::STAGE_EXIT => {
                let stage = stage.unwrap_or_default();
                let id = p.id;
                match id.and_then(|id| self.open.remove(&id)) {
                    Some((s, depth, entered)) if self.names.name(s) == stage => {
                        if p.depth != Some(depth) {
                            f.add(
                                CheckId::RunStages,
                                Verdict::Fail,
                                format!(
                                    "line {line}: STAGE_EXIT of `{}` has depth {} but its STAGE_ENTER has depth {depth}.",
                                    echo(stage),
                                    p.depth.map_or_else(|| "null".to_owned(), |d| d.to_string())
                                ),
                            );
                        }
                        check_wall(f, line, stage, entered, p);
                    }
                    Some((s, _, _)) => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!(
                            "line {line}: STAGE_EXIT names `{}` but stage id {} was `{}`.",
                            echo(stage),
                            id.unwrap_or_default(),
                            echo(self.names.name(s))
                        ),
                    ),
                    None => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!(
                            "line {line}: STAGE_EXIT of `{}` has no open STAGE_ENTER.",
                            echo(stage)
                        ),
                    ),
                }
                if let Some(id) = id {
                    self.last_child.remove(&(Some(id), 0));
                }
            }
            _ => {}
        }
    }
}

/// Checks that a stage exit's `wall_ns` is its `t_ns` minus the `t_ns` of its enter
/// (`entered`), as §10.3 defines it.
fn check_wall(f: &mut Findings, line: u64, stage: &str, entered: Option<u64>, p: &PayloadView<'_>) {
    let (Some(enter), Some(exit)) = (entered, p.t_ns) else {
        f.add(
            CheckId::RunWallNs,
            Verdict::Fail,
            format!(
                "line {line}: stage `{}` lacks the t_ns of its enter or of its exit.",
                echo(stage)
            ),
        );
        return;
    };
    let Some(elapsed) = exit.checked_sub(enter) else {
        f.add(
            CheckId::RunWallNs,
            Verdict::Fail,
            format!(
                "line {line}: stage `{}` exits at t_ns {exit}, before it entered at {enter}.",
                echo(stage)
            ),
        );
        return;
    };
    if p.wall_ns != Some(elapsed) {
        f.add(
            CheckId::RunWallNs,
            Verdict::Fail,
            format!(
                "line {line}: stage `{}` has wall_ns {} but exited {elapsed} ns after it entered.",
                echo(stage),
                p.wall_ns
                    .map_or_else(|| "null".to_owned(), |w| w.to_string())
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_ranges_merge_and_remember_every_id() {
        let mut ids = IdSet::default();
        // In flight on several threads, ids arrive out of order.
        for id in [0, 2, 1, 5, 3, 4, 7, 9, 8] {
            assert!(!ids.seen_before(id, 1), "{id}");
        }
        assert_eq!(
            ids.ranges.iter().map(|(&s, &e)| (s, e)).collect::<Vec<_>>(),
            [(0, 5), (7, 9)]
        );
        for id in [0, 3, 5, 7, 9] {
            assert!(ids.seen_before(id, 2), "{id}");
        }
        assert!(!ids.seen_before(6, 3));
        assert_eq!(ids.ranges.len(), 1);
        assert!(!ids.seen_before(u64::MAX, 4));
        assert!(ids.seen_before(u64::MAX, 5));
        assert_eq!(ids.full_at, None);
    }

    #[test]
    fn too_many_id_ranges_are_noted_not_kept() {
        let mut ids = IdSet::default();
        let n = u64::try_from(MAX_ID_RANGES).unwrap();
        for k in 0..n {
            assert!(!ids.seen_before(2 * k, k + 1));
        }
        assert_eq!(ids.full_at, None);
        assert!(!ids.seen_before(2 * n, n + 1));
        assert_eq!(ids.full_at, Some(n + 1));
        assert_eq!(ids.ranges.len(), MAX_ID_RANGES);
        // Ids next to a kept range are still kept.
        assert!(!ids.seen_before(1, n + 2));
        assert!(ids.seen_before(1, n + 3));
    }
}
