//! The one integration-test binary: every test runs the real `outage` binary, against loopback
//! emulators of the remote services where it sends anything.

// The helpers are `pub` for the test modules, in a binary crate.
#![allow(unreachable_pub)]

mod support;

mod architecture; // The modules import no cycle.
mod autopilot; // Maintenance on autopilot: phases, reminders, `outage tick` (issue 15).
mod banner; // The banner and feed files: content, escaping, size, atomic rewrites.
mod config; // Bad configuration: one clear message, exit 2, nothing sent.
mod crash; // Killed processes, ten posts at once, banner readers: nothing lost or doubled.
mod email; // Email over SMTP against an SMTP emulator (and aiosmtpd, ignored by default).
mod facts; // Same facts everywhere: reruns, placement, times, corrections (issue 9).
mod faults; // Every fault of every remote channel: the right outcome, the right attempts.
mod fediverse; // Mastodon and Bluesky against their emulators (issue 14).
mod first_contact; // init, completions, man, colour, incidents, -q, dry-run secrets (issue 16).
mod hardening; // Nothing lost, doubled or leaked: bad input, hostile servers (issue 10).
mod lifecycle; // Follow-ups, transitions, reruns, corrections, status, history, retry, kills.
mod lint; // The wording rules through `outage lint` and `post`.
mod phone; // The IVR greeting: TwiML and script, spoken times, limits (issue 14).
mod post; // The whole path with the example config; dry run; JSON; exit codes.
mod postgres; // The team journal on a real PostgreSQL server (issue 12).
mod scale; // Subscriber lists: one delivery each, bounded concurrency, retry of the failed.
mod site; // The status site: pages, JSON, components, links, whole publishing (issue 13).
mod social; // X and Facebook against their emulators: threads, errors, credentials.
mod templates; // Snapshots of every default template.
mod webhook; // Every webhook format against its emulator, with faults.
