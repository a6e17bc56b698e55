//! The website banner: a small HTML fragment (and a JSON twin) that the site serves, rendered
//! in the plan from the whole current state (every open incident and upcoming or running
//! maintenance), so posting to one incident never erases another's banner.
//!
//! The fragment stays under 2 KB: it is included in every page of the site. When the open
//! incidents do not fit, it shows the most severe and most recent ones that do, each with its
//! facts whole (only messages are shortened), and says how many more are on the status page. A
//! full banner never refuses a post.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::files::Files;
use super::{BuildCx, Channel, Kind, RenderCx, Rendering};
use crate::config;
use crate::update::{IncidentKind, Update};
use crate::wording::render::{FileOut, Output, shorten};
use crate::wording::rules::{Finding, RuleId};

/// The banner is included in every page of the site: keep it small.
pub(crate) const LIMIT: usize = 2048;

/// How much of each message the banner keeps, tried in turn until everything fits.
const MESSAGE_BUDGETS: [usize; 7] = [280, 240, 200, 160, 120, 80, 40];

#[derive(Debug, Clone)]
pub(crate) struct Banner {
    html_path: PathBuf,
    json_path: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    html_path: PathBuf,
    json_path: Option<PathBuf>,
}

pub(crate) fn parse(rest: toml::Table, base: &Path) -> anyhow::Result<Arc<dyn Kind>> {
    let raw: Raw = config::kind_settings(rest, "banner", &[])?;
    Ok(Arc::new(Banner {
        html_path: config::file_path(base, &raw.html_path, "html_path")?,
        json_path: raw
            .json_path
            .map(|path| config::file_path(base, &path, "json_path"))
            .transpose()?,
    }))
}

#[derive(Serialize)]
struct Item {
    status_label: &'static str,
    title: String,
    message: String,
    window: Option<String>,
    eta: Option<String>,
    next_update: Option<String>,
    /// The incident's own page, when it differs from the banner's link.
    link: Option<String>,
}

#[derive(Serialize)]
struct Context {
    items: Vec<Item>,
    /// How many open incidents did not fit.
    more: usize,
    link: Option<String>,
    background: &'static str,
    foreground: &'static str,
}

impl Banner {
    fn item(cx: &RenderCx<'_>, update: &Update, budget: usize, link: &Option<String>) -> Item {
        let facts = cx.facts_of(update, cx.now);
        let message = shorten(&update.message, budget);
        Item {
            status_label: facts.status_label,
            title: facts.title,
            message: if update.correction && !update.message.starts_with("Correction") {
                format!("Correction: {message}")
            } else {
                message
            },
            window: match (facts.starts, facts.ends) {
                (Some(starts), Some(ends)) => Some(format!("From {starts} to {ends}.")),
                (Some(starts), None) => Some(format!("From {starts}.")),
                (None, Some(ends)) => Some(format!("Until {ends}.")),
                (None, None) => None,
            },
            eta: facts.eta,
            next_update: facts.next_update,
            link: facts.link.filter(|own| Some(own) != link.as_ref()),
        }
    }

    /// The banner showing the first `shown` of `open`, each message cut to `budget`.
    fn page(
        cx: &RenderCx<'_>,
        open: &[&Update],
        shown: usize,
        budget: usize,
    ) -> Result<String, Finding> {
        let link = cx.links.status_url.clone();
        let incident_open = open
            .iter()
            .any(|update| update.kind == IncidentKind::Incident);
        // Dark text on pale backgrounds: both pairs pass WCAG AA contrast.
        let (background, foreground) = if incident_open {
            ("#fff4e5", "#7a2e00")
        } else {
            ("#e8f1fb", "#0b3d6e")
        };
        let context = Context {
            items: open[..shown]
                .iter()
                .map(|update| Banner::item(cx, update, budget, &link))
                .collect(),
            more: open.len() - shown,
            link,
            background,
            foreground,
        };
        cx.renderer.render(&cx.template("banner.html"), &context)
    }

    /// As many of `open` as fit with the shortest messages, then the longest messages they fit
    /// with. A binary search: the banner grows with each incident shown, and fifty open
    /// incidents must not cost fifty renderings.
    fn html(cx: &RenderCx<'_>, open: &[&Update]) -> Result<(String, usize), Finding> {
        let fits = |shown, budget| -> Result<Option<String>, Finding> {
            let html = Banner::page(cx, open, shown, budget)?;
            Ok((html.len() <= LIMIT).then_some(html))
        };
        let shortest = MESSAGE_BUDGETS[MESSAGE_BUDGETS.len() - 1];
        let (mut fitting, mut over) = (0, open.len() + 1);
        if fits(0, shortest)?.is_some() {
            while over - fitting > 1 {
                let middle = fitting + (over - fitting) / 2;
                if fits(middle, shortest)?.is_some() {
                    fitting = middle;
                } else {
                    over = middle;
                }
            }
            for budget in MESSAGE_BUDGETS {
                if let Some(html) = fits(fitting, budget)? {
                    return Ok((html, fitting));
                }
            }
        }
        Err(Finding::new(
            RuleId::TooLong,
            format!("the banner template is over {LIMIT} bytes even with nothing in it"),
        ))
    }
}

impl Kind for Banner {
    fn name(&self) -> &'static str {
        "banner"
    }

    fn template_output(&self) -> Output {
        Output::Html
    }

    fn is_projection(&self) -> bool {
        true
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding> {
        let open = cx.projection.most_severe_first();
        let (html, shown) = Banner::html(cx, &open)?;
        let folded = !open[..shown]
            .iter()
            .any(|update| update.incident == cx.update.incident);
        let mut files = vec![FileOut {
            path: self.html_path.clone(),
            content: format!("{html}\n"),
        }];
        if let Some(path) = &self.json_path {
            files.push(FileOut {
                path: path.clone(),
                content: state_json(&cx.projection.open, cx, cx.now),
            });
        }
        Ok(Rendering {
            text: html,
            files,
            folded,
            ..Rendering::default()
        })
    }

    fn build(&self, _cx: &BuildCx<'_>, _channel: &str) -> anyhow::Result<Arc<dyn Channel>> {
        Ok(Arc::new(Files))
    }

    fn repeat_is_safe(&self, _started: Option<Timestamp>, _now: Timestamp) -> bool {
        true
    }
}

/// The banner's JSON file: the same state as the HTML, whole, for sites that render it themselves.
fn state_json(open: &[Update], cx: &RenderCx<'_>, now: Timestamp) -> String {
    let item = |update: &Update| {
        let time = |at: Option<Timestamp>| at.map(|at| at.to_string());
        json!({
            "id": update.incident,
            "title": update.title,
            "status": update.status.as_str(),
            "status_label": update.label(),
            "message": update.message,
            "impact": update.impact.map(|impact| impact.as_str()),
            "components": update.components,
            "eta": time(update.eta),
            "next_update": time(update.next_update),
            "starts": time(update.starts),
            "ends": time(update.ends),
            "url": cx.links.for_incident(&update.incident),
            "updated_at": update.posted_at.to_string(),
        })
    };
    let of_kind = |kind: IncidentKind| -> Vec<_> {
        open.iter()
            .filter(|update| update.kind == kind)
            .map(item)
            .collect()
    };
    let value = json!({
        "version": 1,
        "generated_at": now.to_string(),
        "organization": cx.organization.name,
        "status_url": cx.links.status_url,
        "incidents": of_kind(IncidentKind::Incident),
        "maintenance": of_kind(IncidentKind::Maintenance),
    });
    serde_json::to_string_pretty(&value).expect("JSON values serialize") + "\n"
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::channels::contract::{at, folder, setup, updates};
    use crate::channels::{Links, Projection};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// However many incidents are open, the banner fits its limit and shows as many as fit:
        /// every larger number, even with the shortest messages, is over the limit.
        #[test]
        fn shows_as_many_incidents_as_fit(
            update in updates(),
            open in prop::collection::vec(updates(), 0..30),
        ) {
            let dir = folder();
            let setup = setup(
                dir.path(),
                "[organization]\nname = \"Example Inc\"\nstatus_url = \"https://status.example.com\"\n\
                 [[channel]]\nname = \"banner\"\nkind = \"banner\"\nhtml_path = \"banner.html\"\n",
            )
            .unwrap();
            let renderer = setup.renderer().unwrap();
            let open: Vec<Update> = open
                .into_iter()
                .enumerate()
                .map(|(n, update)| Update { incident: format!("incident-{n}"), ..update })
                .collect();
            let projection = Projection { open: open.clone(), ..Projection::default() };
            let links = Links { status_url: Some("https://status.example.com".into()), pages: None };
            let cx = RenderCx {
                channel: &setup.channels[0],
                update: &update,
                organization: &setup.config.organization,
                components: &[],
                now: at(0),
                renderer: &renderer,
                projection: &projection,
                links: &links,
            };
            let open: Vec<&Update> = open.iter().collect();
            let shortest = MESSAGE_BUDGETS[MESSAGE_BUDGETS.len() - 1];
            let (html, shown) = Banner::html(&cx, &open).unwrap();
            prop_assert!(html.len() <= LIMIT);
            for more in shown + 1..=open.len() {
                let page = Banner::page(&cx, &open, more, shortest).unwrap();
                prop_assert!(page.len() > LIMIT, "{more} of {} fit, {shown} shown", open.len());
            }
        }
    }
}
