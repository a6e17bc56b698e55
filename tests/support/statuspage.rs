//! The shape of Statuspage's public API (`/api/v2/*.json`), written from its documentation
//! (`shared/reference/apis.md`: field names, types, value sets), to judge the site's JSON
//! field by field. It shares nothing with the code that writes that JSON.

use serde_json::Value;

const COMPONENT_STATUSES: &[&str] = &[
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
];
const INCIDENT_STATUSES: &[&str] = &[
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "postmortem",
];
const MAINTENANCE_STATUSES: &[&str] = &["scheduled", "in_progress", "verifying", "completed"];

#[derive(Clone, Copy)]
enum Type {
    String,
    /// A string or null.
    OptString,
    Bool,
    Number,
    Array,
    /// An RFC 3339 time with an offset.
    Time,
    OptTime,
    OneOf(&'static [&'static str]),
}

fn check(value: &Value, path: &str, fields: &[(&str, Type)]) -> Result<(), String> {
    let object = value
        .as_object()
        .ok_or_else(|| format!("{path}: not an object: {value}"))?;
    for (name, kind) in fields {
        let field = object
            .get(*name)
            .ok_or_else(|| format!("{path}.{name}: missing"))?;
        let ok = match kind {
            Type::String => field.is_string(),
            Type::OptString => field.is_string() || field.is_null(),
            Type::Bool => field.is_boolean(),
            Type::Number => field.is_number(),
            Type::Array => field.is_array(),
            Type::Time => field.as_str().is_some_and(is_time),
            Type::OptTime => field.is_null() || field.as_str().is_some_and(is_time),
            Type::OneOf(values) => field.as_str().is_some_and(|text| values.contains(&text)),
        };
        if !ok {
            return Err(format!(
                "{path}.{name}: {field} is not of the documented type"
            ));
        }
    }
    Ok(())
}

fn is_time(text: &str) -> bool {
    text.parse::<jiff::Timestamp>().is_ok()
        && (text.ends_with('Z') || text.contains('+') || {
            let tail = &text[text.len().saturating_sub(6)..];
            tail.starts_with('-') && tail.as_bytes().get(3) == Some(&b':')
        })
}

pub fn page(value: &Value) -> Result<(), String> {
    check(
        value,
        "page",
        &[
            ("id", Type::String),
            ("name", Type::String),
            ("url", Type::String),
            ("time_zone", Type::String),
            ("updated_at", Type::Time),
        ],
    )
}

pub fn status(value: &Value) -> Result<(), String> {
    check(
        value,
        "status",
        &[
            (
                "indicator",
                Type::OneOf(&["none", "minor", "major", "critical"]),
            ),
            ("description", Type::String),
        ],
    )
}

pub fn component(value: &Value) -> Result<(), String> {
    check(
        value,
        "component",
        &[
            ("id", Type::String),
            ("name", Type::String),
            ("status", Type::OneOf(COMPONENT_STATUSES)),
            ("created_at", Type::Time),
            ("updated_at", Type::Time),
            ("position", Type::Number),
            ("description", Type::OptString),
            ("showcase", Type::Bool),
            ("start_date", Type::OptString),
            ("group_id", Type::OptString),
            ("page_id", Type::String),
            ("group", Type::Bool),
            ("only_show_if_degraded", Type::Bool),
        ],
    )
}

/// An incident, or with `maintenance` a scheduled maintenance.
pub fn incident(value: &Value, maintenance: bool) -> Result<(), String> {
    let statuses = if maintenance {
        MAINTENANCE_STATUSES
    } else {
        INCIDENT_STATUSES
    };
    let impacts: &'static [&'static str] = if maintenance {
        &["maintenance", "none", "minor", "major", "critical"]
    } else {
        &["none", "minor", "major", "critical"]
    };
    check(
        value,
        "incident",
        &[
            ("id", Type::String),
            ("name", Type::String),
            ("status", Type::OneOf(statuses)),
            ("created_at", Type::Time),
            ("updated_at", Type::Time),
            ("monitoring_at", Type::OptTime),
            ("resolved_at", Type::OptTime),
            ("impact", Type::OneOf(impacts)),
            ("shortlink", Type::String),
            ("started_at", Type::Time),
            ("page_id", Type::String),
            ("incident_updates", Type::Array),
            ("components", Type::Array),
        ],
    )?;
    if maintenance {
        check(
            value,
            "maintenance",
            &[
                ("scheduled_for", Type::OptTime),
                ("scheduled_until", Type::OptTime),
            ],
        )?;
    }
    for update in value["incident_updates"].as_array().unwrap() {
        check(
            update,
            "incident_update",
            &[
                ("id", Type::String),
                ("status", Type::OneOf(statuses)),
                ("body", Type::String),
                ("incident_id", Type::String),
                ("created_at", Type::Time),
                ("updated_at", Type::Time),
                ("display_at", Type::Time),
                ("affected_components", Type::Array),
                ("deliver_notifications", Type::Bool),
                ("custom_tweet", Type::OptString),
                ("tweet_id", Type::OptString),
            ],
        )?;
        for affected in update["affected_components"].as_array().unwrap() {
            check(
                affected,
                "affected_component",
                &[
                    ("code", Type::String),
                    ("name", Type::String),
                    ("old_status", Type::OneOf(COMPONENT_STATUSES)),
                    ("new_status", Type::OneOf(COMPONENT_STATUSES)),
                ],
            )?;
        }
    }
    for component in value["components"].as_array().unwrap() {
        self::component(component)?;
    }
    Ok(())
}

/// One file of the API, by its path under `api/v2/`: the keys it documents, each checked.
pub fn file(path: &str, value: &Value) -> Result<(), String> {
    let list = |key: &str, maintenance: bool| -> Result<(), String> {
        let items = value[key]
            .as_array()
            .ok_or_else(|| format!("{path}: `{key}` is not a list"))?;
        for item in items {
            incident(item, maintenance)?;
        }
        Ok(())
    };
    page(&value["page"])?;
    match path {
        "status.json" => status(&value["status"]),
        "summary.json" => {
            status(&value["status"])?;
            for item in value["components"].as_array().ok_or("components")? {
                component(item)?;
            }
            list("incidents", false)?;
            list("scheduled_maintenances", true)
        }
        "components.json" => {
            for item in value["components"].as_array().ok_or("components")? {
                component(item)?;
            }
            Ok(())
        }
        "incidents.json" | "incidents/unresolved.json" => list("incidents", false),
        "scheduled-maintenances.json"
        | "scheduled-maintenances/upcoming.json"
        | "scheduled-maintenances/active.json" => list("scheduled_maintenances", true),
        other => Err(format!("{other} is not a file of the API")),
    }
}

/// Every file of the API.
pub const FILES: [&str; 8] = [
    "status.json",
    "summary.json",
    "components.json",
    "incidents.json",
    "incidents/unresolved.json",
    "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json",
    "scheduled-maintenances/active.json",
];
