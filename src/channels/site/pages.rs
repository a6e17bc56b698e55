//! The site's HTML pages: what each shows, as the values its template reads. Pure: the pages
//! come from the [`Model`] and the facts of each update, written as every channel writes them.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::model::{ComponentStatus, Model, Overall, State};
use crate::config::Organization;
use crate::update::{IncidentKind, Update};
use crate::wording::facts::Facts;

/// How many incidents `history.html` lists itself before it links to month pages.
pub(super) const HISTORY_INLINE: usize = 100;

#[derive(Serialize)]
pub(super) struct TimeView {
    pub(super) iso: String,
    pub(super) text: String,
}

impl TimeView {
    pub(super) fn of(at: Timestamp, tz: &TimeZone) -> TimeView {
        TimeView {
            iso: at.to_string(),
            text: at
                .to_zoned(tz.clone())
                .strftime("%a %-d %b %Y %H:%M %Z")
                .to_string(),
        }
    }
}

#[derive(Serialize)]
struct UpdateView {
    status_label: &'static str,
    time: TimeView,
    message: String,
    correction: bool,
    components: Vec<String>,
    impact: Option<&'static str>,
    window: Option<String>,
    eta: Option<String>,
    next_update: Option<String>,
    compensation: Option<String>,
}

#[derive(Serialize)]
pub(super) struct IncidentView {
    id: String,
    href: String,
    title: String,
    status_label: &'static str,
    impact: Option<&'static str>,
    components: Vec<String>,
    window: Option<String>,
    opened: TimeView,
    /// Newest first.
    updates: Vec<UpdateView>,
}

#[derive(Serialize)]
struct RowView {
    href: String,
    title: String,
    status_label: &'static str,
    impact: Option<&'static str>,
    opened: TimeView,
}

#[derive(Serialize)]
struct ComponentView {
    name: String,
    description: Option<String>,
    status: &'static str,
    status_label: &'static str,
}

#[derive(Serialize)]
struct GroupView {
    name: Option<String>,
    components: Vec<ComponentView>,
}

#[derive(Serialize)]
struct DayView {
    iso: String,
    text: String,
    incidents: Vec<RowView>,
}

#[derive(Serialize)]
pub(super) struct MonthView {
    id: String,
    label: String,
    incidents: Vec<RowView>,
}

#[derive(Serialize)]
struct MonthLink {
    label: String,
    href: String,
    count: usize,
}

#[derive(Serialize)]
struct OverallView {
    label: &'static str,
    class: &'static str,
}

/// What every page shows around its own content.
#[derive(Serialize)]
pub(super) struct Frame {
    organization: String,
    timezone: String,
    updated: TimeView,
    /// From the page to the site's root: `""` or `"../"`.
    root: &'static str,
    canonical: Option<String>,
}

/// The facts of one update as its own day writes them (a permanent page says "14:30 CET" for
/// a time on the day of the update, and the date otherwise).
pub(super) fn facts(update: &Update, organization: &Organization, link: Option<String>) -> Facts {
    Facts::written(
        update,
        &organization.name,
        &organization.timezone,
        update.posted_at,
        link,
        false,
    )
}

fn window(starts: Option<&String>, ends: Option<&String>) -> Option<String> {
    match (starts, ends) {
        (Some(starts), Some(ends)) => Some(format!("From {starts} to {ends}.")),
        (Some(starts), None) => Some(format!("From {starts}.")),
        (None, Some(ends)) => Some(format!("Until {ends}.")),
        (None, None) => None,
    }
}

/// The page of an incident, from the site's root.
pub(super) fn href(incident: &str) -> String {
    format!("incidents/{incident}.html")
}

pub(super) struct Pages<'a> {
    pub(super) model: &'a Model<'a>,
    pub(super) organization: &'a Organization,
    pub(super) now: Timestamp,
}

impl Pages<'_> {
    fn tz(&self) -> &TimeZone {
        &self.organization.timezone
    }

    pub(super) fn frame(&self, root: &'static str, canonical: Option<String>) -> Frame {
        Frame {
            organization: self.organization.name.clone(),
            timezone: self
                .tz()
                .iana_name()
                .unwrap_or("UTC")
                .replace("Etc/", "")
                .replace('_', " "),
            updated: TimeView::of(self.model.updated_at.unwrap_or(self.now), self.tz()),
            root,
            canonical,
        }
    }

    fn update(&self, update: &Update) -> UpdateView {
        let facts = facts(update, self.organization, None);
        UpdateView {
            status_label: update.label(),
            time: TimeView::of(update.posted_at, self.tz()),
            window: window(facts.starts.as_ref(), facts.ends.as_ref()),
            message: facts.message,
            correction: update.correction && !update.message.starts_with("Correction"),
            components: facts.components,
            impact: facts.impact,
            eta: facts.eta,
            next_update: facts.next_update,
            compensation: facts.compensation,
        }
    }

    pub(super) fn incident(&self, state: &State<'_>) -> IncidentView {
        let incident = state.incident;
        let latest = state.timeline.last();
        let latest_facts = latest.map(|update| {
            let mut update = update.clone();
            update.starts = state.starts;
            update.ends = state.ends;
            facts(&update, self.organization, None)
        });
        IncidentView {
            id: incident.id.clone(),
            href: href(&incident.id),
            title: incident.title.clone(),
            status_label: incident.status.label(),
            impact: state.impact.map(|impact| impact.as_str()),
            components: state.components.clone(),
            window: latest_facts
                .as_ref()
                .and_then(|facts| window(facts.starts.as_ref(), facts.ends.as_ref())),
            opened: TimeView::of(incident.opened_at, self.tz()),
            updates: state
                .timeline
                .iter()
                .rev()
                .map(|update| self.update(update))
                .collect(),
        }
    }

    fn row(&self, state: &State<'_>) -> RowView {
        RowView {
            href: href(&state.incident.id),
            title: state.incident.title.clone(),
            status_label: state.incident.status.label(),
            impact: state.impact.map(|impact| impact.as_str()),
            opened: TimeView::of(state.incident.opened_at, self.tz()),
        }
    }

    pub(super) fn overall(&self) -> impl Serialize {
        let overall: Overall = self.model.overall;
        OverallView {
            label: overall.label(),
            class: overall.class(),
        }
    }

    /// The front page's values beside the frame.
    pub(super) fn index(&self, days_shown: i64) -> serde_json::Value {
        let open = |kind| {
            self.model
                .open(kind)
                .into_iter()
                .map(|state| self.incident(state))
                .collect::<Vec<_>>()
        };
        let mut groups: Vec<GroupView> = Vec::new();
        for (component, status, _) in &self.model.components {
            let view = ComponentView {
                name: component.name.clone(),
                description: component.description.clone(),
                status: status.as_str(),
                status_label: status.label(),
            };
            match groups
                .iter_mut()
                .find(|group| group.name == component.group)
            {
                Some(group) => group.components.push(view),
                None => groups.push(GroupView {
                    name: component.group.clone(),
                    components: vec![view],
                }),
            }
        }
        // The components of no group first, so that none reads as part of the group above it.
        groups.sort_by_key(|group| group.name.is_some());
        let since = self.now - jiff::SignedDuration::from_hours(24 * days_shown);
        let mut days: BTreeMap<Date, Vec<RowView>> = BTreeMap::new();
        for state in self
            .model
            .all
            .iter()
            .filter(|state| state.incident.opened_at >= since)
        {
            let day = state.incident.opened_at.to_zoned(self.tz().clone()).date();
            days.entry(day).or_default().push(self.row(state));
        }
        let days: Vec<DayView> = days
            .into_iter()
            .rev()
            .map(|(day, incidents)| DayView {
                iso: day.to_string(),
                text: day.strftime("%a %-d %b %Y").to_string(),
                incidents,
            })
            .collect();
        serde_json::json!({
            "overall": self.overall(),
            "incidents": open(IncidentKind::Incident),
            "maintenances": open(IncidentKind::Maintenance),
            "groups": groups,
            "days": days,
            "days_shown": days_shown,
        })
    }

    /// Every month that has incidents, newest first, with its incidents.
    pub(super) fn months(&self) -> Vec<MonthView> {
        let mut months: BTreeMap<(i16, i8), Vec<RowView>> = BTreeMap::new();
        for state in &self.model.all {
            let date = state.incident.opened_at.to_zoned(self.tz().clone()).date();
            months
                .entry((date.year(), date.month()))
                .or_default()
                .push(self.row(state));
        }
        months
            .into_iter()
            .rev()
            .map(|((year, month), incidents)| {
                let first = Date::new(year, month, 1).expect("a month that has a date");
                MonthView {
                    id: format!("{year:04}-{month:02}"),
                    label: first.strftime("%B %Y").to_string(),
                    incidents,
                }
            })
            .collect()
    }

    /// `history.html`'s values: every incident when there are few, else the newest whole months
    /// up to [`HISTORY_INLINE`] incidents and a link to each earlier month's page.
    pub(super) fn history(&self, months: Vec<MonthView>) -> serde_json::Value {
        let mut inline = Vec::new();
        let mut older = Vec::new();
        let mut listed = 0;
        let few = self.model.all.len() <= HISTORY_INLINE;
        for month in months {
            if few || listed < HISTORY_INLINE {
                listed += month.incidents.len();
                inline.push(month);
            } else {
                older.push(MonthLink {
                    href: month_href(&month.id),
                    label: month.label,
                    count: month.incidents.len(),
                });
            }
        }
        serde_json::json!({
            "heading": "Every incident",
            "months": inline,
            "older": older,
        })
    }

    /// The status class of an incident page's headline.
    pub(super) fn state_class(state: &State<'_>) -> &'static str {
        match (state.incident.kind, state.incident.is_open) {
            (_, false) => "ok",
            (IncidentKind::Maintenance, true) => "maintenance",
            (IncidentKind::Incident, true) => match state.component_status() {
                ComponentStatus::MajorOutage => "critical",
                ComponentStatus::PartialOutage => "major",
                _ => "minor",
            },
        }
    }
}

impl MonthView {
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn label(&self) -> &str {
        &self.label
    }
}

/// A month's page, from the site's root.
pub(super) fn month_href(id: &str) -> String {
    format!("history/{id}.html")
}
