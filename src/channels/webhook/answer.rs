//! Reading a webhook receiver's answer by its service's rules (../shared/reference/apis.md §4, §5):
//! Slack and Mattermost succeed with the body `ok`, Teams Workflows with 202, Discord (with
//! `wait=true`) with the message object, a Standard Webhooks receiver with any 2xx; 410 means the
//! endpoint is gone; 429 and 502–504 are throttling with an optional wait (Discord's in the body,
//! in seconds on the versioned API); other 5xx are transient; other 4xx permanent.

use super::Format;
use crate::channels::http::{Answer, retry_after, seconds, short_body};
use crate::channels::{Failure, Receipt};

pub(super) fn read(format: Format, answer: &Answer) -> Result<Receipt, Failure> {
    let service = format.service();
    let status = answer.status;
    let reason = error_reason(format, &answer.body);
    if status.is_success() {
        return match format {
            Format::Slack | Format::Mattermost if answer.body.trim() != "ok" => {
                Err(Failure::permanent(format!(
                    "{service} answered {status} `{reason}` instead of `ok`"
                )))
            }
            Format::Teams if answer.body.contains("429") => Err(Failure::rate_limited(
                format!("Teams is throttling this webhook: {reason}"),
                retry_after(&answer.headers),
            )),
            Format::Discord => Ok(Receipt {
                remote_id: answer.json()["id"].as_str().map(str::to_owned),
                ..Receipt::default()
            }),
            _ => Ok(Receipt::default()),
        };
    }
    let message = format!("{service} answered {status}: {reason}");
    Err(match status.as_u16() {
        429 => Failure::rate_limited(
            message,
            retry_after(&answer.headers).or_else(|| {
                // Discord puts the wait (seconds, fractions allowed) in the body as well.
                answer.json()["retry_after"]
                    .as_f64()
                    .and_then(|wait| seconds(&wait.to_string()))
            }),
        ),
        410 => Failure::permanent(format!(
            "{message}; the endpoint is gone, remove it or replace the url"
        )),
        408 | 502..=504 => Failure::transient(message).with_wait(retry_after(&answer.headers)),
        500..=599 => Failure::transient(message),
        300..=399 => Failure::permanent(format!(
            "{message}; redirects are not followed, use the final url"
        )),
        401 | 403 => Failure::permanent(format!("{message}; check the webhook url or its token")),
        404 => Failure::permanent(format!(
            "{message}; the webhook does not exist, check the url"
        )),
        _ => Failure::permanent(message),
    })
}

fn error_reason(format: Format, body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|value| value[name].as_str().map(str::to_owned))
    };
    let reason = match format {
        Format::Discord => match (field("message"), parsed.as_ref().map(|v| &v["code"])) {
            (Some(message), Some(code)) if code.is_number() => {
                Some(format!("{message} (code {code})"))
            }
            (message, _) => message,
        },
        Format::Mattermost => field("message"),
        _ => None,
    };
    let reason = reason.unwrap_or_else(|| short_body(body));
    if reason.is_empty() {
        "no details".into()
    } else {
        reason
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;
    use crate::channels::Class;

    fn answer(status: u16, headers: HeaderMap, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.into(),
        }
    }

    #[test]
    fn answers_are_read_per_service() {
        let none = HeaderMap::new;
        assert_eq!(
            read(Format::Slack, &answer(200, none(), "ok")),
            Ok(Receipt::default())
        );
        let archived =
            read(Format::Slack, &answer(410, none(), "channel_is_archived")).unwrap_err();
        assert!(archived.is_permanent() && archived.message.contains("channel_is_archived"));
        let mut retry = HeaderMap::new();
        retry.insert("retry-after", HeaderValue::from_static("2"));
        let limited = read(Format::Json, &answer(429, retry, "")).unwrap_err();
        assert_eq!(limited.class, Class::RateLimited);
        assert_eq!(limited.retry_after.map(|wait| wait.as_secs()), Some(2));
        let discord = read(Format::Discord, &answer(200, none(), r#"{"id":"42"}"#)).unwrap();
        assert_eq!(discord.remote_id.as_deref(), Some("42"));
        let unknown = read(
            Format::Discord,
            &answer(
                404,
                none(),
                r#"{"message": "Unknown Webhook", "code": 10015}"#,
            ),
        )
        .unwrap_err();
        assert!(unknown.is_permanent() && unknown.message.contains("Unknown Webhook (code 10015)"));
        let throttled = read(
            Format::Discord,
            &answer(429, none(), r#"{"message": "You are being rate limited.", "retry_after": 0.25, "global": false}"#),
        )
        .unwrap_err();
        assert_eq!(
            throttled.retry_after.map(|wait| wait.as_millis()),
            Some(250)
        );
        let gateway = read(Format::Json, &answer(502, none(), "")).unwrap_err();
        assert!(gateway.is_transient() && gateway.retry_after.is_none());
        assert!(
            read(Format::Json, &answer(500, none(), ""))
                .unwrap_err()
                .is_transient()
        );
    }
}
