//! What a status site shows, derived from the history alone (pure): each incident's state as
//! its timeline leaves it, each component's status, and the overall indicator, in the value
//! sets of Statuspage's public API so that the pages and the JSON say the same thing.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::channels::History;
use crate::config::Component;
use crate::journal::Incident;
use crate::update::{Impact, IncidentKind, Status, Update};

/// A component's status, least severe first (Statuspage's value set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::UnderMaintenance => "under_maintenance",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "Operational",
            ComponentStatus::UnderMaintenance => "Under maintenance",
            ComponentStatus::DegradedPerformance => "Degraded performance",
            ComponentStatus::PartialOutage => "Partial outage",
            ComponentStatus::MajorOutage => "Major outage",
        }
    }

    /// What an update does to the components it names: an incident's impact (minor: degraded
    /// performance; none given: the same; major: partial outage; critical: major outage), a
    /// running maintenance: under maintenance; anything closed or not yet begun: operational.
    fn of(status: Status, impact: Option<Impact>) -> ComponentStatus {
        match (status.kind(), status, impact) {
            (
                _,
                Status::Resolved | Status::Completed | Status::Cancelled | Status::Scheduled,
                _,
            ) => ComponentStatus::Operational,
            (IncidentKind::Maintenance, ..) => ComponentStatus::UnderMaintenance,
            (_, _, None | Some(Impact::Minor)) => ComponentStatus::DegradedPerformance,
            (_, _, Some(Impact::Major)) => ComponentStatus::PartialOutage,
            (_, _, Some(Impact::Critical)) => ComponentStatus::MajorOutage,
        }
    }
}

/// The page's overall indicator (Statuspage's `status.indicator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Indicator {
    None,
    Minor,
    Major,
    Critical,
}

/// The overall state: the worst open incident's impact, or a maintenance running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overall {
    pub(crate) indicator: Indicator,
    pub(crate) maintenance: bool,
}

impl Overall {
    pub(crate) fn indicator(self) -> &'static str {
        match self.indicator {
            Indicator::None => "none",
            Indicator::Minor => "minor",
            Indicator::Major => "major",
            Indicator::Critical => "critical",
        }
    }

    /// Statuspage's description.
    pub(crate) fn description(self) -> &'static str {
        match (self.indicator, self.maintenance) {
            (Indicator::None, false) => "All Systems Operational",
            (Indicator::None, true) => "Service Under Maintenance",
            (Indicator::Minor, _) => "Minor Service Outage",
            (Indicator::Major, _) => "Partial System Outage",
            (Indicator::Critical, _) => "Major Service Outage",
        }
    }

    /// The page's headline.
    pub(crate) fn label(self) -> &'static str {
        match (self.indicator, self.maintenance) {
            (Indicator::None, false) => "All systems operational",
            (Indicator::None, true) => "Under maintenance",
            (Indicator::Minor, _) => "Degraded performance",
            (Indicator::Major, _) => "Partial outage",
            (Indicator::Critical, _) => "Major outage",
        }
    }

    /// The style of the headline.
    pub(crate) fn class(self) -> &'static str {
        match (self.indicator, self.maintenance) {
            (Indicator::None, false) => "ok",
            (Indicator::None, true) => "maintenance",
            (Indicator::Minor, _) => "minor",
            (Indicator::Major, _) => "major",
            (Indicator::Critical, _) => "critical",
        }
    }
}

/// An incident or maintenance as its timeline leaves it.
#[derive(Clone, Debug)]
pub(crate) struct State<'a> {
    pub(crate) incident: &'a Incident,
    /// Oldest first; empty when the site shows only the incident's row (an old one).
    pub(crate) timeline: &'a [Update],
    /// The components the incident affects: the latest update that named some says which.
    pub(crate) components: Vec<String>,
    /// The impact the latest update that gave one stated.
    pub(crate) impact: Option<Impact>,
    pub(crate) starts: Option<Timestamp>,
    pub(crate) ends: Option<Timestamp>,
}

impl<'a> State<'a> {
    pub(crate) fn new(incident: &'a Incident, timeline: &'a [Update]) -> State<'a> {
        let latest = |field: fn(&Update) -> bool| timeline.iter().rev().find(|u| field(u));
        State {
            incident,
            timeline,
            components: latest(|u| !u.components.is_empty())
                .map(|u| u.components.clone())
                .unwrap_or_default(),
            impact: latest(|u| u.impact.is_some()).and_then(|u| u.impact),
            starts: latest(|u| u.starts.is_some()).and_then(|u| u.starts),
            ends: latest(|u| u.ends.is_some()).and_then(|u| u.ends),
        }
    }

    /// What the incident does to a component it affects now.
    pub(crate) fn component_status(&self) -> ComponentStatus {
        ComponentStatus::of(self.incident.status, self.impact)
    }

    /// The status a component had after the update at `index` of the timeline, as far as this
    /// incident goes.
    pub(crate) fn component_after(&self, index: usize, component: &str) -> ComponentStatus {
        let timeline = &self.timeline[..=index];
        let named = timeline
            .iter()
            .rev()
            .find(|u| !u.components.is_empty())
            .is_some_and(|u| u.components.iter().any(|name| name == component));
        if !named {
            return ComponentStatus::Operational;
        }
        let impact = timeline.iter().rev().find_map(|u| u.impact);
        ComponentStatus::of(timeline[index].status, impact)
    }
}

/// Everything the pages and the JSON are made from.
pub(crate) struct Model<'a> {
    /// Every incident and maintenance, newest first, with its timeline when the site has it.
    pub(crate) all: Vec<State<'a>>,
    /// Each configured component and its status now, with when that last changed.
    pub(crate) components: Vec<(&'a Component, ComponentStatus, Option<Timestamp>)>,
    pub(crate) overall: Overall,
    /// When the state last changed: the latest update.
    pub(crate) updated_at: Option<Timestamp>,
}

impl<'a> Model<'a> {
    pub(crate) fn new(history: &'a History, components: &'a [Component]) -> Model<'a> {
        const NONE: &[Update] = &[];
        let all: Vec<State<'a>> = history
            .incidents
            .iter()
            .map(|incident| {
                let timeline = history
                    .timelines
                    .get(&incident.id)
                    .map_or(NONE, Vec::as_slice);
                State::new(incident, timeline)
            })
            .collect();
        let open = all.iter().filter(|state| state.incident.is_open);
        let mut statuses: BTreeMap<&str, (ComponentStatus, Option<Timestamp>)> = BTreeMap::new();
        let mut overall = Overall {
            indicator: Indicator::None,
            maintenance: false,
        };
        for state in open {
            match (state.incident.kind, state.incident.status) {
                (IncidentKind::Incident, _) => {
                    let indicator = match state.impact {
                        None | Some(Impact::Minor) => Indicator::Minor,
                        Some(Impact::Major) => Indicator::Major,
                        Some(Impact::Critical) => Indicator::Critical,
                    };
                    overall.indicator = overall.indicator.max(indicator);
                }
                (IncidentKind::Maintenance, Status::InProgress) => overall.maintenance = true,
                _ => {}
            }
            let status = state.component_status();
            for name in &state.components {
                let entry = statuses
                    .entry(name.as_str())
                    .or_insert((ComponentStatus::Operational, None));
                entry.0 = entry.0.max(status);
                entry.1 = entry.1.max(Some(state.incident.updated_at));
            }
        }
        // A component's last change: the latest update that named it, open or closed.
        for state in &all {
            for update in state.timeline {
                for name in &update.components {
                    if let Some(entry) = statuses.get_mut(name.as_str()) {
                        entry.1 = entry.1.max(Some(update.posted_at));
                    } else {
                        statuses.insert(
                            name.as_str(),
                            (ComponentStatus::Operational, Some(update.posted_at)),
                        );
                    }
                }
            }
        }
        let components = components
            .iter()
            .map(|component| {
                let (status, changed) = statuses
                    .get(component.name.as_str())
                    .copied()
                    .unwrap_or((ComponentStatus::Operational, None));
                (component, status, changed)
            })
            .collect();
        let updated_at = history.incidents.iter().map(|i| i.updated_at).max();
        Model {
            all,
            components,
            overall,
            updated_at,
        }
    }

    /// The open incidents, then the running and upcoming maintenances, each oldest first.
    pub(crate) fn open(&self, kind: IncidentKind) -> Vec<&State<'a>> {
        let mut open: Vec<&State<'a>> = self
            .all
            .iter()
            .filter(|state| state.incident.is_open && state.incident.kind == kind)
            .collect();
        open.reverse();
        open
    }
}
