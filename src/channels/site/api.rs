//! The site's JSON: Statuspage's public API (`/api/v2/*.json`), with its field names, types and
//! value sets, so that the widgets, monitors and scripts that read a Statuspage page keep
//! working when its URL is swapped for this site's. Every value is derived from the same
//! [`Model`] the pages show.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::{ComponentStatus, Model, State};
use super::{LISTED, slug};
use crate::channels::IncidentPages;
use crate::config::{Component, Organization};
use crate::update::{IncidentKind, Status, Update};

#[derive(Serialize)]
struct Page {
    id: String,
    name: String,
    url: String,
    time_zone: String,
    updated_at: String,
}

#[derive(Serialize)]
struct StatusJson {
    indicator: &'static str,
    description: &'static str,
}

#[derive(Clone, Serialize)]
struct ComponentJson {
    id: String,
    name: String,
    status: &'static str,
    created_at: String,
    updated_at: String,
    position: usize,
    description: Option<String>,
    showcase: bool,
    start_date: Option<String>,
    group_id: Option<String>,
    page_id: String,
    group: bool,
    only_show_if_degraded: bool,
    /// A group lists its members' ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<Vec<String>>,
}

#[derive(Serialize)]
struct Affected {
    code: String,
    name: String,
    old_status: &'static str,
    new_status: &'static str,
}

#[derive(Serialize)]
struct UpdateJson {
    id: String,
    status: &'static str,
    body: String,
    incident_id: String,
    created_at: String,
    updated_at: String,
    display_at: String,
    affected_components: Vec<Affected>,
    deliver_notifications: bool,
    custom_tweet: Option<String>,
    tweet_id: Option<String>,
}

#[derive(Serialize)]
struct IncidentJson {
    id: String,
    name: String,
    status: &'static str,
    created_at: String,
    updated_at: String,
    monitoring_at: Option<String>,
    resolved_at: Option<String>,
    impact: &'static str,
    shortlink: String,
    started_at: String,
    page_id: String,
    incident_updates: Vec<UpdateJson>,
    components: Vec<ComponentJson>,
    /// A maintenance's window (null when not given); an incident has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_for: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_until: Option<Option<String>>,
}

/// Everything the JSON files are made from.
pub(super) struct Api<'a> {
    pub(super) model: &'a Model<'a>,
    pub(super) organization: &'a Organization,
    pub(super) pages: &'a IncidentPages,
    pub(super) now: Timestamp,
    /// An update's body: its message and the facts it states, as the pages write them.
    pub(super) body: &'a dyn Fn(&Update) -> String,
}

impl Api<'_> {
    /// Every file under `api/v2/`, by path.
    pub(super) fn files(&self) -> Vec<(&'static str, String)> {
        let page = serde_json::to_value(self.page()).expect("plain data");
        let status = serde_json::to_value(self.status()).expect("plain data");
        let components = serde_json::to_value(self.components()).expect("plain data");
        let listed = |kind: IncidentKind, keep: &dyn Fn(&State<'_>) -> bool| {
            let found: Vec<IncidentJson> = self
                .model
                .all
                .iter()
                .filter(|state| state.incident.kind == kind && keep(state))
                .take(LISTED)
                .map(|state| self.incident(state))
                .collect();
            serde_json::to_value(found).expect("plain data")
        };
        let incidents = listed(IncidentKind::Incident, &|_| true);
        let unresolved = listed(IncidentKind::Incident, &|state| state.incident.is_open);
        let maintenances = listed(IncidentKind::Maintenance, &|_| true);
        let upcoming = listed(IncidentKind::Maintenance, &|state| {
            state.incident.status == Status::Scheduled
        });
        let active = listed(IncidentKind::Maintenance, &|state| {
            state.incident.status == Status::InProgress
        });
        let both = listed(IncidentKind::Maintenance, &|state| state.incident.is_open);
        let json = |value: serde_json::Value| {
            serde_json::to_string_pretty(&value).expect("plain data") + "\n"
        };
        use serde_json::json;
        vec![
            (
                "api/v2/status.json",
                json(json!({"page": page, "status": status})),
            ),
            (
                "api/v2/summary.json",
                json(json!({
                    "page": page,
                    "components": components,
                    "incidents": unresolved,
                    "scheduled_maintenances": both,
                    "status": status,
                })),
            ),
            (
                "api/v2/components.json",
                json(json!({"page": page, "components": components})),
            ),
            (
                "api/v2/incidents.json",
                json(json!({"page": page, "incidents": incidents})),
            ),
            (
                "api/v2/incidents/unresolved.json",
                json(json!({"page": page, "incidents": unresolved})),
            ),
            (
                "api/v2/scheduled-maintenances.json",
                json(json!({"page": page, "scheduled_maintenances": maintenances})),
            ),
            (
                "api/v2/scheduled-maintenances/upcoming.json",
                json(json!({"page": page, "scheduled_maintenances": upcoming})),
            ),
            (
                "api/v2/scheduled-maintenances/active.json",
                json(json!({"page": page, "scheduled_maintenances": active})),
            ),
        ]
    }

    fn tz(&self) -> &TimeZone {
        &self.organization.timezone
    }

    fn time(&self, at: Timestamp) -> String {
        rfc3339(at, self.tz())
    }

    fn page_id(&self) -> String {
        let digest = Sha256::digest(self.pages.base_url.as_bytes());
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn page(&self) -> Page {
        Page {
            id: self.page_id(),
            name: self.organization.name.clone(),
            url: self.pages.base_url.clone(),
            time_zone: self.tz().iana_name().unwrap_or("Etc/UTC").to_owned(),
            updated_at: self.time(self.model.updated_at.unwrap_or(self.now)),
        }
    }

    fn status(&self) -> StatusJson {
        StatusJson {
            indicator: self.model.overall.indicator(),
            description: self.model.overall.description(),
        }
    }

    /// The components in their configured order, each group (Statuspage makes a group a
    /// component of its own) before its first member.
    fn components(&self) -> Vec<ComponentJson> {
        let mut out: Vec<ComponentJson> = Vec::new();
        for (component, status, changed) in &self.model.components {
            if let Some(group) = &component.group {
                let group_id = format!("group-{}", slug(group));
                if !out.iter().any(|known| known.id == group_id) {
                    let members: Vec<&(&Component, ComponentStatus, Option<Timestamp>)> = self
                        .model
                        .components
                        .iter()
                        .filter(|(member, ..)| member.group.as_ref() == Some(group))
                        .collect();
                    let worst = members
                        .iter()
                        .map(|(_, status, _)| *status)
                        .max()
                        .unwrap_or(ComponentStatus::Operational);
                    let changed = members.iter().filter_map(|(.., changed)| *changed).max();
                    let mut json =
                        self.component_json(&group_id, group, None, worst, changed, out.len() + 1);
                    json.group = true;
                    json.components = Some(
                        members
                            .iter()
                            .map(|(member, ..)| slug(&member.name))
                            .collect(),
                    );
                    out.push(json);
                }
            }
            let mut json = self.component_json(
                &slug(&component.name),
                &component.name,
                component.description.clone(),
                *status,
                *changed,
                out.len() + 1,
            );
            json.group_id = component
                .group
                .as_ref()
                .map(|group| format!("group-{}", slug(group)));
            out.push(json);
        }
        out
    }

    fn component_json(
        &self,
        id: &str,
        name: &str,
        description: Option<String>,
        status: ComponentStatus,
        changed: Option<Timestamp>,
        position: usize,
    ) -> ComponentJson {
        let changed = self.time(changed.or(self.model.updated_at).unwrap_or(self.now));
        ComponentJson {
            id: id.to_owned(),
            name: name.to_owned(),
            status: status.as_str(),
            created_at: changed.clone(),
            updated_at: changed,
            position,
            description,
            showcase: true,
            start_date: None,
            group_id: None,
            page_id: self.page_id(),
            group: false,
            only_show_if_degraded: false,
            components: None,
        }
    }

    fn incident(&self, state: &State<'_>) -> IncidentJson {
        let incident = state.incident;
        let first_at = |status: Status| {
            state
                .timeline
                .iter()
                .find(|update| update.status == status)
                .map(|update| self.time(update.posted_at))
        };
        let maintenance = incident.kind == IncidentKind::Maintenance;
        let components_now = self.components();
        let updates = state
            .timeline
            .iter()
            .enumerate()
            .rev()
            .map(|(index, update)| {
                // The components this update names, and those whose status it changes.
                let mut affected: Vec<Affected> = Vec::new();
                for name in state.timeline[..=index].iter().flat_map(|u| &u.components) {
                    if affected.iter().any(|known| &known.name == name) {
                        continue;
                    }
                    let old = match index {
                        0 => ComponentStatus::Operational,
                        _ => state.component_after(index - 1, name),
                    };
                    let new = state.component_after(index, name);
                    if old != new || update.components.contains(name) {
                        affected.push(Affected {
                            code: slug(name),
                            name: name.clone(),
                            old_status: old.as_str(),
                            new_status: new.as_str(),
                        });
                    }
                }
                let at = self.time(update.posted_at);
                UpdateJson {
                    id: format!("{}-{}", incident.id, update.sequence),
                    status: status_of(update.status),
                    body: (self.body)(update),
                    incident_id: incident.id.clone(),
                    created_at: at.clone(),
                    updated_at: at.clone(),
                    display_at: at,
                    affected_components: affected,
                    deliver_notifications: true,
                    custom_tweet: None,
                    tweet_id: None,
                }
            })
            .collect();
        IncidentJson {
            id: incident.id.clone(),
            name: incident.title.clone(),
            status: status_of(incident.status),
            created_at: self.time(incident.opened_at),
            updated_at: self.time(incident.updated_at),
            monitoring_at: first_at(Status::Monitoring),
            resolved_at: first_at(Status::Resolved)
                .or_else(|| first_at(Status::Completed))
                .or_else(|| first_at(Status::Cancelled)),
            impact: if maintenance {
                "maintenance"
            } else {
                state.impact.map_or("none", |impact| impact.as_str())
            },
            shortlink: self.pages.url(&incident.id),
            started_at: self.time(incident.opened_at),
            page_id: self.page_id(),
            incident_updates: updates,
            components: components_now
                .into_iter()
                .filter(|json| !json.group && state.components.contains(&json.name))
                .collect(),
            scheduled_for: maintenance.then(|| state.starts.map(|at| self.time(at))),
            scheduled_until: maintenance.then(|| state.ends.map(|at| self.time(at))),
        }
    }
}

/// Statuspage's name for a status.
fn status_of(status: Status) -> &'static str {
    match status {
        Status::Investigating => "investigating",
        Status::Identified => "identified",
        Status::Monitoring => "monitoring",
        Status::Resolved => "resolved",
        Status::Scheduled => "scheduled",
        Status::InProgress => "in_progress",
        // Statuspage has no cancelled maintenance: it is over, as a completed one is.
        Status::Completed | Status::Cancelled => "completed",
    }
}

/// RFC 3339 with the organisation's offset, as Statuspage writes times.
pub(super) fn rfc3339(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}
