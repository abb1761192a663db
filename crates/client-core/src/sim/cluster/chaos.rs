//! [`Chaos`]: a seeded schedule of what happens to a [`FakeCluster`] under load: slot
//! migrations, failovers, nodes joining and shards leaving.
//!
//! Actions run one at a time, each from its planned time or when the one before it ends
//! (whichever is later), so that a slot is never in two migrations and a shard never fails
//! over mid-migration. An action becomes tasks, and a task becomes timed steps on the
//! cluster's agenda: one node's view changing, one key moving, a node crashing.

use std::collections::VecDeque;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use super::{FakeCluster, NodeState, ViewChange};
use crate::sim::SimRng;

/// How long the parts of an action take, in milliseconds (ranges are drawn from uniformly).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ChaosTiming {
    /// The longest a node takes to learn a change another node made (gossip).
    pub gossip_ms: u64,
    /// Between two key moves of a migration.
    pub key_move_ms: (u64, u64),
    /// From a primary's crash until the others mark it failed.
    pub detect_ms: (u64, u64),
    /// From the failure mark until a replica is promoted.
    pub elect_ms: (u64, u64),
    /// When a crashed primary comes back as a replica, if it does (probability, range).
    pub revive: (f64, (u64, u64)),
    /// Probability that a crash leaves a host that answers nothing (connections silent,
    /// dials unanswered) rather than a dead process (connections reset, dials refused).
    pub silent_crash: f64,
    /// How long a forgotten node keeps serving before it shuts down.
    pub retire_ms: (u64, u64),
}

impl Default for ChaosTiming {
    fn default() -> Self {
        Self {
            gossip_ms: 10,
            key_move_ms: (0, 2),
            detect_ms: (20, 400),
            elect_ms: (1, 50),
            revive: (0.5, (100, 1000)),
            silent_crash: 0.5,
            retire_ms: (50, 500),
        }
    }
}

/// One thing a [`Chaos`] schedule does to the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChaosAction {
    /// Migrates a few slots around one of the hot slots (or `slots` if given) to another
    /// primary.
    Migrate(Option<RangeInclusive<u16>>),
    /// A primary with a replica crashes, and the replica takes over.
    Failover,
    /// A new primary joins and receives slots by migration (sometimes with a replica).
    AddNode,
    /// A shard gives all its slots away by migration, then leaves the cluster and shuts
    /// down.
    RemoveShard,
}

/// What happened to the cluster, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EpisodeKind {
    /// Slots moved from one primary to another.
    Migration {
        /// The slots.
        slots: RangeInclusive<u16>,
        /// The old owner.
        from: u16,
        /// The new owner.
        to: u16,
    },
    /// A primary crashed and a replica took over.
    Failover {
        /// The crashed primary.
        primary: u16,
        /// The promoted replica.
        replica: u16,
        /// Whether the crash left the host silent rather than refusing.
        silent: bool,
    },
    /// A crashed node came back as a replica.
    Revive {
        /// The node.
        node: u16,
    },
    /// A node joined.
    Join {
        /// The node.
        node: u16,
    },
    /// Nodes left the cluster and shut down.
    Leave {
        /// The nodes.
        nodes: Vec<u16>,
    },
}

/// One [`EpisodeKind`] with when it began and when every node had caught up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    /// What happened.
    pub kind: EpisodeKind,
    /// When it began.
    pub started: Instant,
    /// When the last node learned its outcome; `None` while it runs.
    pub ended: Option<Instant>,
}

/// A seeded schedule of [`ChaosAction`]s for a [`FakeCluster`], run by
/// [`FakeCluster::start_chaos`].
#[derive(Clone, Debug)]
pub struct Chaos {
    rng: SimRng,
    pub(super) timing: ChaosTiming,
    /// Planned actions, by time after the start.
    actions: VecDeque<(Duration, ChaosAction)>,
    start: Option<Instant>,
    /// Slots worth migrating: those the workload's keys live in.
    hot: Vec<u16>,
    /// Nodes never crashed nor removed (a client's seed node, so that it can always find
    /// the cluster).
    protected: Vec<u16>,
    pub(super) tasks: VecDeque<Task>,
    pub(super) running: bool,
}

impl Chaos {
    /// A schedule with no actions yet; `seed` drives its choices.
    pub fn new(seed: u64, timing: ChaosTiming) -> Self {
        Self {
            rng: SimRng::new(seed),
            timing,
            actions: VecDeque::new(),
            start: None,
            hot: Vec::new(),
            protected: Vec::new(),
            tasks: VecDeque::new(),
            running: false,
        }
    }

    /// Plans `action` at `at` after the start.
    pub fn then(mut self, at: Duration, action: ChaosAction) -> Self {
        let i = self.actions.partition_point(|(t, _)| *t <= at);
        self.actions.insert(i, (at, action));
        self
    }

    /// Slots migrations prefer.
    pub fn with_hot_slots(mut self, hot: Vec<u16>) -> Self {
        self.hot = hot;
        self
    }

    /// Nodes never to crash nor remove.
    pub fn with_protected(mut self, nodes: Vec<u16>) -> Self {
        self.protected = nodes;
        self
    }

    /// A random schedule over `horizon`: up to `max` actions.
    pub fn random(seed: u64, horizon: Duration, max: u64, timing: ChaosTiming) -> Self {
        let mut chaos = Self::new(seed, timing);
        let count = chaos.rng.between(1, max.max(1));
        for _ in 0..count {
            let at = Duration::from_micros(chaos.rng.below(horizon.as_micros() as u64 + 1));
            let action = match chaos.rng.below(100) {
                0..50 => ChaosAction::Migrate(None),
                50..72 => ChaosAction::Failover,
                72..86 => ChaosAction::AddNode,
                _ => ChaosAction::RemoveShard,
            };
            chaos = chaos.then(at, action);
        }
        chaos
    }

    /// The planned actions, in order.
    pub fn actions(&self) -> impl Iterator<Item = &(Duration, ChaosAction)> {
        self.actions.iter()
    }

    /// The generator the cluster's steps draw from once this schedule runs.
    pub(super) fn rng(&self) -> SimRng {
        self.rng.clone()
    }

    /// Starts the clock at `now`; when the first action is due.
    pub(super) fn first_at(&mut self, now: Instant) -> Option<Instant> {
        self.start = Some(now);
        self.actions.front().map(|(at, _)| now + *at)
    }

    /// The next action if it is due, `Err(when)` if it is not yet, `None` when there are no
    /// more.
    pub(super) fn next_action(&mut self, now: Instant) -> Result<Option<ChaosAction>, Instant> {
        let start = self.start.unwrap_or(now);
        match self.actions.front() {
            None => Ok(None),
            Some((at, _)) if start + *at > now => Err(start + *at),
            Some(_) => Ok(self.actions.pop_front().map(|(_, a)| a)),
        }
    }

    /// Whether every action ran to its end.
    pub(super) fn is_done(&self) -> bool {
        self.actions.is_empty() && self.tasks.is_empty() && !self.running
    }
}

/// One task of an action, run after the one before it ended.
#[derive(Clone, Debug)]
pub(super) enum Task {
    Migrate {
        slots: RangeInclusive<u16>,
        from: u16,
        to: u16,
    },
    Failover {
        primary: u16,
        replica: u16,
        silent: bool,
    },
    Revive {
        node: u16,
        primary: u16,
        after: Duration,
    },
    Join {
        node: u16,
        primary: Option<u16>,
    },
    Forget {
        nodes: Vec<u16>,
    },
}

/// One timed step on the cluster's agenda.
#[derive(Clone, Debug)]
pub(super) enum Step {
    /// One node's view changes.
    View { node: u16, change: ViewChange },
    /// The operator's record changes.
    Truth(ViewChange),
    /// A crashed node comes back as a replica of `primary`.
    Revive { node: u16, primary: u16 },
    /// A node shuts down.
    Retire { node: u16 },
    /// A crashed node's host is back (or its hung process is killed): its silent
    /// connections are reset, dials to it refused.
    Kill { node: u16 },
    /// Moves the next key of a migration (slots before `cursor` are done; the last node
    /// learns of those by `latest`), or ends it.
    MoveKeys {
        slots: RangeInclusive<u16>,
        cursor: u16,
        latest: Instant,
        from: u16,
        to: u16,
        episode: usize,
    },
    /// Every node knows the outcome of episode `i`.
    EndEpisode(usize),
    /// The running task is over.
    TaskDone,
    /// A planned action may be due.
    Wake,
}

/// The running primaries, by the operator's record.
fn primaries_up(cluster: &FakeCluster) -> Vec<u16> {
    cluster
        .truth
        .primaries()
        .into_iter()
        .filter(|&p| cluster.state(p) == Some(NodeState::Up))
        .collect()
}

/// A few slots around `slot` inside the range of its owner that holds it: mostly 1 to 5,
/// sometimes a few hundred.
fn around(rng: &mut SimRng, cluster: &FakeCluster, slot: u16, owner: u16) -> RangeInclusive<u16> {
    let range = cluster
        .truth
        .ranges_of(owner)
        .into_iter()
        .find(|r| r.contains(&slot))
        .unwrap_or(slot..=slot);
    let k = if rng.chance(0.2) {
        rng.between(10, 300)
    } else {
        rng.below(3)
    } as u16;
    slot.saturating_sub(k).max(*range.start())..=slot.saturating_add(k).min(*range.end())
}

/// Turns `action` into tasks, from the operator's record now.
pub(super) fn plan(cluster: &mut FakeCluster, action: ChaosAction) -> Vec<Task> {
    let primaries = primaries_up(cluster);
    let hot = cluster
        .chaos
        .as_ref()
        .map(|c| c.hot.clone())
        .unwrap_or_default();
    let protected = cluster
        .chaos
        .as_ref()
        .map(|c| c.protected.clone())
        .unwrap_or_default();
    let mut rng = std::mem::replace(&mut cluster.rng, SimRng::new(0));
    let tasks = match action {
        ChaosAction::Migrate(slots) => {
            let slot = match &slots {
                Some(range) => *range.start(),
                None if !hot.is_empty() => *rng.pick(&hot),
                None => rng.below(super::SLOTS as u64) as u16,
            };
            let from = cluster.truth.owner(slot);
            let others: Vec<u16> = primaries
                .iter()
                .copied()
                .filter(|&p| Some(p) != from)
                .collect();
            let Some(from) = from.filter(|&f| cluster.state(f) == Some(NodeState::Up)) else {
                cluster.rng = rng;
                return Vec::new();
            };
            if others.is_empty() {
                cluster.rng = rng;
                return Vec::new();
            }
            let to = *rng.pick(&others);
            let slots = slots.unwrap_or_else(|| around(&mut rng, cluster, slot, from));
            vec![Task::Migrate { slots, from, to }]
        }
        ChaosAction::Failover => {
            let candidates: Vec<(u16, Vec<u16>)> = primaries
                .iter()
                .filter(|p| !protected.contains(p))
                .map(|&p| {
                    let replicas = cluster
                        .truth
                        .replicas_of(p)
                        .into_iter()
                        .filter(|&r| cluster.state(r) == Some(NodeState::Up))
                        .collect::<Vec<_>>();
                    (p, replicas)
                })
                .filter(|(_, r)| !r.is_empty())
                .collect();
            if candidates.is_empty() {
                cluster.rng = rng;
                return Vec::new();
            }
            let (primary, replicas) = rng.pick(&candidates).clone();
            let replica = *rng.pick(&replicas);
            let silent = rng.chance(
                cluster
                    .chaos
                    .as_ref()
                    .map_or(0.0, |c| c.timing.silent_crash),
            );
            let mut tasks = vec![Task::Failover {
                primary,
                replica,
                silent,
            }];
            let (p, (low, high)) = cluster
                .chaos
                .as_ref()
                .map_or((0.0, (0, 0)), |c| c.timing.revive);
            if rng.chance(p) {
                tasks.push(Task::Revive {
                    node: primary,
                    primary: replica,
                    after: rng.millis(low, high),
                });
            }
            tasks
        }
        ChaosAction::AddNode => {
            let node = cluster.next_number;
            let mut tasks = vec![Task::Join {
                node,
                primary: None,
            }];
            let mut sources = primaries;
            for _ in 0..rng.between(1, 2) {
                if sources.is_empty() {
                    break;
                }
                let from = sources.remove(rng.below(sources.len() as u64) as usize);
                let owned: Vec<u16> = hot
                    .iter()
                    .copied()
                    .filter(|&s| cluster.truth.owner(s) == Some(from))
                    .collect();
                let slot = if owned.is_empty() {
                    let ranges = cluster.truth.ranges_of(from);
                    let Some(range) = ranges.first() else {
                        continue;
                    };
                    rng.between(u64::from(*range.start()), u64::from(*range.end())) as u16
                } else {
                    *rng.pick(&owned)
                };
                let slots = around(&mut rng, cluster, slot, from);
                tasks.push(Task::Migrate {
                    slots,
                    from,
                    to: node,
                });
            }
            if rng.chance(0.3) {
                tasks.push(Task::Join {
                    node: node + 1,
                    primary: Some(node),
                });
            }
            tasks
        }
        ChaosAction::RemoveShard => {
            if primaries.len() < 2 {
                cluster.rng = rng;
                return Vec::new();
            }
            let removable: Vec<u16> = primaries
                .iter()
                .copied()
                .filter(|&p| {
                    !protected.contains(&p)
                        && !cluster
                            .truth
                            .replicas_of(p)
                            .iter()
                            .any(|r| protected.contains(r))
                })
                .collect();
            if removable.is_empty() {
                cluster.rng = rng;
                return Vec::new();
            }
            let leaving = *rng.pick(&removable);
            let others: Vec<u16> = primaries
                .iter()
                .copied()
                .filter(|&p| p != leaving)
                .collect();
            let mut tasks = Vec::new();
            for range in cluster.truth.ranges_of(leaving) {
                let (lo, hi) = (*range.start(), *range.end());
                let cut = if hi > lo && rng.chance(0.5) {
                    rng.between(u64::from(lo), u64::from(hi) - 1) as u16
                } else {
                    hi
                };
                tasks.push(Task::Migrate {
                    slots: lo..=cut,
                    from: leaving,
                    to: *rng.pick(&others),
                });
                if cut < hi {
                    tasks.push(Task::Migrate {
                        slots: cut + 1..=hi,
                        from: leaving,
                        to: *rng.pick(&others),
                    });
                }
            }
            let mut nodes = vec![leaving];
            nodes.extend(cluster.truth.replicas_of(leaving));
            tasks.push(Task::Forget { nodes });
            tasks
        }
    };
    cluster.rng = rng;
    tasks
}

/// Runs the first steps of `task` at `now`.
pub(super) fn start(cluster: &mut FakeCluster, task: Task, now: Instant) {
    match task {
        Task::Migrate { slots, from, to } => {
            let episode = cluster.begin(
                EpisodeKind::Migration {
                    slots: slots.clone(),
                    from,
                    to,
                },
                now,
            );
            // `CLUSTER SETSLOT IMPORTING` on the target, then `MIGRATING` on the source, as
            // redis-cli does it: never a source sending ASK to a target that would not take
            // it.
            let importing = ViewChange::Importing {
                slots: slots.clone(),
                from,
            };
            cluster.change_truth(&importing);
            cluster.change_view(to, &importing);
            let migrating = ViewChange::Migrating {
                slots: slots.clone(),
                to,
            };
            let at = now + cluster.rng.millis(0, 2);
            cluster.schedule(at, Step::Truth(migrating.clone()));
            cluster.schedule(
                at,
                Step::View {
                    node: from,
                    change: migrating,
                },
            );
            let at = at + cluster.rng.millis(0, 2);
            cluster.schedule(
                at,
                Step::MoveKeys {
                    cursor: *slots.start(),
                    slots,
                    latest: at,
                    from,
                    to,
                    episode,
                },
            );
        }
        Task::Failover {
            primary,
            replica,
            silent,
        } => {
            let episode = cluster.begin(
                EpisodeKind::Failover {
                    primary,
                    replica,
                    silent,
                },
                now,
            );
            cluster.crash(primary, silent);
            let timing = cluster
                .chaos
                .as_ref()
                .map(|c| c.timing.clone())
                .unwrap_or_default();
            let (low, high) = timing.detect_ms;
            let detected = now + cluster.rng.millis(low, high);
            let failed = ViewChange::Failed {
                node: primary,
                failed: true,
            };
            cluster.schedule(detected, Step::Truth(failed.clone()));
            cluster.tell_all(detected, Some(primary), &failed);
            let (low, high) = timing.elect_ms;
            let elected = detected + cluster.rng.millis(low, high);
            let promote = ViewChange::Promote { node: replica };
            cluster.schedule(elected, Step::Truth(promote.clone()));
            cluster.schedule(
                elected,
                Step::View {
                    node: replica,
                    change: promote.clone(),
                },
            );
            let last = cluster.tell_all(elected, Some(replica), &promote);
            if silent {
                // Half-open connections to a vanished host do not last for ever: once the
                // replica took over, they are reset.
                cluster.schedule(last, Step::Kill { node: primary });
            }
            cluster.schedule(last, Step::EndEpisode(episode));
            cluster.schedule(last, Step::TaskDone);
        }
        Task::Revive {
            node,
            primary,
            after,
        } => {
            let at = now + after;
            cluster.schedule(at, Step::Revive { node, primary });
            cluster.schedule(at, Step::TaskDone);
            let episode = cluster.begin(EpisodeKind::Revive { node }, at);
            cluster.schedule(at, Step::EndEpisode(episode));
        }
        Task::Join { node, primary } => {
            let added = cluster.add_node(primary);
            debug_assert_eq!(added, node, "nodes join in number order");
            let episode = cluster.begin(EpisodeKind::Join { node: added }, now);
            let join = ViewChange::Join {
                node: added,
                primary,
            };
            cluster.change_truth(&join);
            let last = cluster.tell_all(now, Some(added), &join);
            cluster.schedule(last, Step::EndEpisode(episode));
            cluster.schedule(last, Step::TaskDone);
        }
        Task::Forget { nodes } => {
            let episode = cluster.begin(
                EpisodeKind::Leave {
                    nodes: nodes.clone(),
                },
                now,
            );
            let mut last = now;
            for &node in &nodes {
                let forget = ViewChange::Forget { node };
                cluster.change_truth(&forget);
                let staying: Vec<u16> = cluster
                    .members
                    .iter()
                    .filter(|(n, m)| !nodes.contains(n) && m.state == NodeState::Up)
                    .map(|(&n, _)| n)
                    .collect();
                for n in staying {
                    let at = now + cluster.gossip_delay();
                    last = last.max(at);
                    cluster.schedule(
                        at,
                        Step::View {
                            node: n,
                            change: forget.clone(),
                        },
                    );
                }
            }
            let (low, high) = cluster
                .chaos
                .as_ref()
                .map_or((0, 0), |c| c.timing.retire_ms);
            let at = last + cluster.rng.millis(low, high);
            for &node in &nodes {
                cluster.schedule(at, Step::Retire { node });
            }
            cluster.schedule(at, Step::EndEpisode(episode));
            cluster.schedule(at, Step::TaskDone);
        }
    }
}

/// Moves the next key of a migration, slot by slot as redis-cli does: a slot (with the
/// empty slots before it) is given to the target as soon as its last key moved, and the
/// migration ends after the last slot.
#[allow(clippy::too_many_arguments)]
pub(super) fn move_keys(
    cluster: &mut FakeCluster,
    slots: RangeInclusive<u16>,
    cursor: u16,
    latest: Instant,
    from: u16,
    to: u16,
    episode: usize,
    now: Instant,
) {
    let last = *slots.end();
    let next = (cursor <= last)
        .then(|| cluster.lowest_key_in(from, &(cursor..=last), now))
        .flatten();
    let Some(key) = next else {
        let mut latest = latest;
        if cursor <= last {
            latest = latest.max(give_slots(cluster, cursor..=last, from, to, now));
        }
        cluster.schedule(latest, Step::EndEpisode(episode));
        cluster.schedule(latest, Step::TaskDone);
        return;
    };
    let slot = resp_core::slot(&key);
    let mut latest = latest;
    let mut cursor = cursor;
    if slot > cursor {
        latest = latest.max(give_slots(cluster, cursor..=slot - 1, from, to, now));
        cursor = slot;
    }
    cluster.move_key(&key, from, to, now);
    let (low, high) = cluster
        .chaos
        .as_ref()
        .map_or((0, 1), |c| c.timing.key_move_ms);
    let at = now + cluster.rng.millis(low, high);
    cluster.schedule(
        at,
        Step::MoveKeys {
            slots,
            cursor,
            latest,
            from,
            to,
            episode,
        },
    );
}

/// `CLUSTER SETSLOT <slot> NODE <to>` for emptied slots: the target learns first, then the
/// source, then every other node after its gossip delay. Returns when the last one learns.
fn give_slots(
    cluster: &mut FakeCluster,
    slots: RangeInclusive<u16>,
    from: u16,
    to: u16,
    now: Instant,
) -> Instant {
    let owner = ViewChange::Owner { slots, node: to };
    cluster.change_truth(&owner);
    cluster.change_view(to, &owner);
    let at = now + cluster.rng.millis(0, 2);
    cluster.schedule(
        at,
        Step::View {
            node: from,
            change: owner.clone(),
        },
    );
    let others: Vec<u16> = cluster
        .members
        .iter()
        .filter(|(n, m)| **n != from && **n != to && m.state == NodeState::Up)
        .map(|(&n, _)| n)
        .collect();
    let mut last = at;
    for n in others {
        let at = now + cluster.gossip_delay();
        last = last.max(at);
        cluster.schedule(
            at,
            Step::View {
                node: n,
                change: owner.clone(),
            },
        );
    }
    last
}

impl FakeCluster {
    /// Records the start of an episode; returns its index.
    fn begin(&mut self, kind: EpisodeKind, now: Instant) -> usize {
        self.episodes.push(Episode {
            kind,
            started: now,
            ended: None,
        });
        self.episodes.len() - 1
    }
}
