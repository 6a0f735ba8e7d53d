//! Replay of the stage graph: which stages are open, which stage came last under each
//! parent, and whether each transition is allowed or recorded as a violation.

use std::collections::BTreeMap;

use receipt_primitives::check::{CheckId, Verdict};

use super::findings::Findings;
use crate::entry::kind;
use crate::graph::{START, StageGraph};
use crate::receipt::PayloadView;

/// Stage-graph replay: which stages are open, who came last under each parent.
#[derive(Default)]
pub(super) struct Stages {
    graph: StageGraph,
    /// Open stages by id: name (see [`Names`]) and depth.
    pub(super) open: BTreeMap<u64, (u32, u64)>,
    /// The last stage entered under each parent (or on each thread, at the top).
    last_child: BTreeMap<(Option<u64>, u64), u32>,
    names: Names,
    pending_violation: Option<(String, String)>,
    pub(super) violations: u64,
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
            }
            kind::VIOLATION => {
                self.violations += 1;
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
                    Some(pid) => self.open.get(&pid).map(|(_, d)| d + 1),
                };
                match expected_depth {
                    None => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!("line {line}: stage `{stage}` names parent {} which is not open.", parent.unwrap_or_default()),
                    ),
                    Some(d) if d != depth => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!("line {line}: stage `{stage}` has depth {depth} but its parent implies {d}."),
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
                    let recorded = pending
                        .as_ref()
                        .is_some_and(|(s, a)| s == stage && a == pred);
                    if !recorded {
                        f.add(
                            CheckId::RunTransitions,
                            Verdict::Fail,
                            format!("line {line}: stage `{stage}` follows `{pred}`, which the stage graph does not allow, and no VIOLATION was recorded."),
                        );
                    }
                }
                let name = self.names.id(stage);
                self.last_child.insert(key, name);
                if self.open.insert(id, (name, depth)).is_some() {
                    f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!("line {line}: stage id {id} is entered twice."),
                    );
                }
            }
            kind::STAGE_EXIT => {
                let stage = stage.unwrap_or_default();
                let id = p.id;
                match id.and_then(|id| self.open.remove(&id)) {
                    Some((s, _)) if self.names.name(s) == stage => {}
                    Some((s, _)) => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!(
                            "line {line}: STAGE_EXIT names `{stage}` but stage id {} was `{}`.",
                            id.unwrap_or_default(),
                            self.names.name(s)
                        ),
                    ),
                    None => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!("line {line}: STAGE_EXIT of `{stage}` has no open STAGE_ENTER."),
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
