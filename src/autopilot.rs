//! Maintenance on autopilot (issue 15): a maintenance scheduled with `--remind`, `--auto` and its
//! later phases' words carries them as an [`Autopilot`]; `outage tick`, run every minute, posts
//! what is due. This module is the pure part: which steps a maintenance has, which are due at a
//! given moment, which a late tick skips, and the idempotency key that makes each step go out
//! exactly once, also from two machines at the same moment.

use anyhow::bail;
use jiff::Timestamp;

use crate::input::Draft;
use crate::journal::Journal;
pub(crate) use crate::update::{Autopilot, Phase};
use crate::update::{COMPLETED, IN_PROGRESS, Status, Update, spoken};

/// One automatic step of a maintenance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) phase: Phase,
    /// When it is due.
    pub(crate) at: Timestamp,
    /// For a reminder: how long before the start.
    pub(crate) offset: Option<jiff::SignedDuration>,
}

impl Step {
    /// The idempotency key of the post: one per maintenance, phase and window, so that the step
    /// goes out once, and a rescheduled window arms its reminders again.
    pub(crate) fn key(&self, incident: &str, starts: Timestamp) -> String {
        match self.offset {
            Some(offset) => format!(
                "autopilot/{incident}/reminder-{}/{starts}",
                offset.as_mins()
            ),
            None => format!("autopilot/{incident}/{}/{starts}", self.phase),
        }
    }

    /// `reminder 1 hour before`, `in-progress`.
    pub(crate) fn name(&self) -> String {
        match self.offset {
            Some(offset) => format!("reminder {} before", spoken(offset)),
            None => self.phase.to_string(),
        }
    }

    /// The status the step posts.
    pub(crate) fn status(&self) -> Status {
        match self.phase {
            Phase::Reminder | Phase::Scheduled => Status::Scheduled,
            Phase::InProgress => Status::InProgress,
            Phase::Completed => Status::Completed,
            Phase::Cancelled => Status::Cancelled,
        }
    }

    /// The words the step posts.
    pub(crate) fn message(&self, autopilot: &Autopilot) -> String {
        match (self.phase, self.offset) {
            (Phase::Reminder, Some(_)) => autopilot.reminder_text(),
            (Phase::InProgress, _) => autopilot
                .in_progress_message
                .clone()
                .unwrap_or_else(|| IN_PROGRESS.to_owned()),
            _ => autopilot
                .completed_message
                .clone()
                .unwrap_or_else(|| COMPLETED.to_owned()),
        }
    }
}

/// Every automatic step of a maintenance in the order they fall due.
pub(crate) fn steps(
    autopilot: &Autopilot,
    starts: Timestamp,
    ends: Option<Timestamp>,
) -> Vec<Step> {
    let mut steps: Vec<Step> = autopilot
        .remind
        .iter()
        .filter_map(|offset| {
            Some(Step {
                phase: Phase::Reminder,
                at: starts.checked_sub(*offset).ok()?,
                offset: Some(*offset),
            })
        })
        .collect();
    if autopilot.auto {
        steps.push(Step {
            phase: Phase::InProgress,
            at: starts,
            offset: None,
        });
        if let Some(ends) = ends {
            steps.push(Step {
                phase: Phase::Completed,
                at: ends,
                offset: None,
            });
        }
    }
    steps.sort_by_key(|step| step.at);
    steps
}

/// What a tick does with one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Post it now.
    Post(Step),
    /// Its time came, but posting it now would mislead; the reason says why.
    Skip(Step, String),
}

/// The steps of a maintenance whose latest update is `latest`, at `now`: what to post, and what
/// a late tick leaves out (a reminder after the start, or after a later reminder fell due; the
/// move to in-progress once the window has ended). A maintenance moved by hand is not moved
/// again: only the steps after its present status remain. Steps already posted are not
/// filtered here; their keys make a second post a rerun.
pub(crate) fn due(latest: &Update, now: Timestamp) -> Vec<Action> {
    let Some(starts) = latest.starts else {
        return Vec::new();
    };
    // A reminder that fell due before the maintenance's latest post is history: it was posted,
    // or a person posted since; it is neither posted nor reported again.
    let reached: Vec<Step> = remaining(latest)
        .into_iter()
        .filter(|step| step.at <= now)
        .filter(|step| step.phase != Phase::Reminder || step.at > latest.posted_at)
        .collect();
    let mut actions = Vec::new();
    let last_reminder = reached
        .iter()
        .rposition(|step| step.phase == Phase::Reminder);
    let completed_due = reached.iter().any(|step| step.phase == Phase::Completed);
    for (index, step) in reached.into_iter().enumerate() {
        let skip = match step.phase {
            Phase::Reminder if now >= starts => {
                Some("the maintenance has started; a reminder now would mislead".to_owned())
            }
            Phase::Reminder if Some(index) != last_reminder => {
                Some("a later reminder is due now".to_owned())
            }
            Phase::InProgress if completed_due => {
                Some("the window has already ended; it is completed instead".to_owned())
            }
            _ => None,
        };
        actions.push(match skip {
            Some(reason) => Action::Skip(step, reason),
            None => Action::Post(step),
        });
    }
    actions
}

/// The next step still to come, or the earliest one due and not yet posted (`posted` says
/// whether a step's key is in the journal): what `status` shows.
pub(crate) fn next(
    latest: &Update,
    now: Timestamp,
    posted: &mut dyn FnMut(&Step) -> bool,
) -> Option<Step> {
    let overdue = due(latest, now)
        .into_iter()
        .find_map(|action| match action {
            Action::Post(step) if !posted(&step) => Some(step),
            _ => None,
        });
    overdue.or_else(|| remaining(latest).into_iter().find(|step| step.at > now))
}

/// The steps still ahead of a maintenance in its present status, in order: all of them while it
/// is scheduled, the move to completed while it runs, none once it has ended.
fn remaining(latest: &Update) -> Vec<Step> {
    let (Some(autopilot), Some(starts)) = (&latest.autopilot, latest.starts) else {
        return Vec::new();
    };
    steps(autopilot, starts, latest.ends)
        .into_iter()
        .filter(|step| match latest.status {
            Status::Scheduled => true,
            Status::InProgress => step.phase == Phase::Completed,
            _ => false,
        })
        .collect()
}

/// Whether the step's post is in the journal already (its key is).
pub(crate) fn is_posted(
    journal: &dyn Journal,
    latest: &Update,
    step: &Step,
) -> anyhow::Result<bool> {
    let Some(starts) = latest.starts else {
        return Ok(false);
    };
    Ok(journal
        .update_by_key(&step.key(&latest.incident, starts))?
        .is_some())
}

/// The update a step posts, as `outage tick` gives it: the maintenance's window and title, the
/// step's status and words, and the step's key.
pub(crate) fn draft(latest: &Update, step: &Step, autopilot: &Autopilot) -> Draft {
    let starts = latest.starts.expect("a maintenance with steps has a start");
    Draft {
        incident: Some(latest.incident.clone()),
        status: step.status(),
        title: Some(latest.title.clone()),
        message: step.message(autopilot),
        components: latest.components.clone(),
        impact: latest.impact,
        eta: None,
        next_update: None,
        starts: Some(starts.to_string()),
        ends: latest.ends.map(|ends| ends.to_string()),
        compensation: None,
        internal_note: None,
        channels: Vec::new(),
        allow: crate::journal::Allowed::new(),
        correction: false,
        reopen: false,
        idempotency_key: Some(step.key(&latest.incident, starts)),
        autopilot: None,
        reminder: step.phase == Phase::Reminder,
    }
}

/// Checks the autopilot of a scheduling update: only a scheduled maintenance carries one, the
/// move to completed needs an end, and a reminder falls before the start.
pub(crate) fn check(update: &Update) -> anyhow::Result<()> {
    let Some(autopilot) = &update.autopilot else {
        return Ok(());
    };
    if update.status != Status::Scheduled {
        bail!(
            "--auto, --remind and the phase messages are given when a maintenance is scheduled \
             (--status scheduled), not with `{}`",
            update.status
        );
    }
    if autopilot.auto && update.ends.is_none() {
        bail!("--auto moves the maintenance to completed at its end: give --ends");
    }
    if !autopilot.auto
        && (autopilot.in_progress_message.is_some() || autopilot.completed_message.is_some())
    {
        bail!(
            "--in-progress-message and --completed-message are posted by --auto; add --auto, or \
             post those phases yourself"
        );
    }
    if autopilot.remind.is_empty() && autopilot.reminder_message.is_some() {
        bail!("--reminder-message is the words of the reminders: add --remind 24h,1h");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;
    use proptest::prelude::*;

    use super::*;
    use crate::update::IncidentKind;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
    }

    fn maintenance(status: Status, autopilot: Autopilot) -> Update {
        Update {
            incident: "m".into(),
            sequence: 1,
            kind: IncidentKind::Maintenance,
            status,
            title: "Database upgrade".into(),
            message: "We upgrade the database.".into(),
            components: Vec::new(),
            impact: None,
            eta: None,
            next_update: None,
            starts: Some(at(0)),
            ends: Some(at(60)),
            compensation: None,
            internal_note: None,
            correction: false,
            posted_at: at(-3000),
            reminder: false,
            rescheduled: false,
            autopilot: Some(autopilot),
        }
    }

    fn full() -> Autopilot {
        Autopilot {
            auto: true,
            remind: vec![
                SignedDuration::from_hours(24),
                SignedDuration::from_hours(1),
            ],
            ..Autopilot::default()
        }
    }

    fn posted(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::Post(step) => Some(step.name()),
                Action::Skip(..) => None,
            })
            .collect()
    }

    #[test]
    fn each_phase_falls_due_at_its_time() {
        let update = maintenance(Status::Scheduled, full());
        assert!(due(&update, at(-24 * 60 - 1)).is_empty());
        assert_eq!(
            posted(&due(&update, at(-24 * 60))),
            ["reminder 24 hours before"]
        );
        assert_eq!(posted(&due(&update, at(-60))), ["reminder 1 hour before"]);
        assert_eq!(posted(&due(&update, at(0))), ["in-progress"]);
        assert_eq!(posted(&due(&update, at(61))), ["completed"]);
        let in_progress = maintenance(Status::InProgress, full());
        assert!(posted(&due(&in_progress, at(30))).is_empty());
        assert_eq!(posted(&due(&in_progress, at(60))), ["completed"]);
        assert!(due(&maintenance(Status::Completed, full()), at(120)).is_empty());
        assert!(due(&maintenance(Status::Cancelled, full()), at(0)).is_empty());
    }

    #[test]
    fn offsets_read_as_people_write_them() {
        let offsets = Autopilot::offsets(&["1h".into(), "24h".into(), "2d".into(), "1h".into()]);
        assert_eq!(
            offsets.unwrap(),
            [
                SignedDuration::from_hours(48),
                SignedDuration::from_hours(24),
                SignedDuration::from_hours(1)
            ]
        );
        assert!(Autopilot::offsets(&["soon".into()]).is_err());
        assert_eq!(spoken(SignedDuration::from_hours(1)), "1 hour");
        assert_eq!(spoken(SignedDuration::from_mins(90)), "1 hour 30 minutes");
        assert_eq!(spoken(SignedDuration::from_hours(72)), "3 days");
        assert_eq!(spoken(SignedDuration::from_mins(30)), "30 minutes");
    }

    proptest! {
        /// Ticks at any moments: each step goes out at most once (its key), never a reminder at
        /// or after the start, never the move to in-progress after the end; once a tick runs
        /// after the end the maintenance is completed; and every step that is posted is posted
        /// at or after its time.
        #[test]
        fn ticks_at_any_moments_post_each_phase_once_and_never_late_reminders(
            offsets in prop::collection::vec(1i64..3000, 0..4),
            auto in any::<bool>(),
            mut ticks in prop::collection::vec(-3200i64..200, 1..12),
        ) {
            ticks.sort();
            let autopilot = Autopilot {
                auto,
                remind: Autopilot::offsets(
                    &offsets.iter().map(|m| format!("{m}m")).collect::<Vec<_>>(),
                ).unwrap(),
                ..Autopilot::default()
            };
            let mut latest = maintenance(Status::Scheduled, autopilot);
            let mut keys = std::collections::HashSet::new();
            let mut phases = Vec::new();
            for tick in &ticks {
                let now = at(*tick);
                for action in due(&latest, now) {
                    let Action::Post(step) = action else { continue };
                    prop_assert!(step.at <= now);
                    // The journal's key turns a second post into a rerun.
                    if !keys.insert(step.key("m", at(0))) {
                        continue;
                    }
                    if step.phase == Phase::Reminder {
                        prop_assert!(now < at(0), "a reminder after the start");
                    }
                    if step.phase == Phase::InProgress {
                        prop_assert!(now < at(60), "in-progress after the end");
                    }
                    phases.push(step.phase);
                    latest.status = step.status();
                    latest.posted_at = now;
                }
            }
            for phase in [Phase::InProgress, Phase::Completed] {
                prop_assert!(phases.iter().filter(|p| **p == phase).count() <= 1);
            }
            if auto && ticks.last().is_some_and(|last| *last >= 60) {
                prop_assert_eq!(latest.status, Status::Completed);
            }
            if !auto {
                prop_assert!(phases.iter().all(|p| *p == Phase::Reminder));
            }
        }
    }
}
