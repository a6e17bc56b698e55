//! Words for the ear: times as people say them ("half past two in the afternoon, Central
//! European Time"), a host name instead of a URL, and text without what a voice cannot say
//! (links, markup, emoji).

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

const UNITS: [&str; 20] = [
    "",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 6] = ["", "", "twenty", "thirty", "forty", "fifty"];

/// 1 to 59 in words.
fn number(n: u8) -> String {
    match n {
        0..=19 => UNITS[usize::from(n)].to_owned(),
        _ => {
            let (tens, units) = (usize::from(n / 10), usize::from(n % 10));
            if units == 0 {
                TENS[tens].to_owned()
            } else {
                format!("{}-{}", TENS[tens], UNITS[units])
            }
        }
    }
}

/// The hour of a 12-hour clock in words.
fn hour_word(hour: i8) -> String {
    let twelve = match hour % 12 {
        0 => 12,
        h => h,
    };
    number(twelve as u8)
}

fn period(hour: i8) -> &'static str {
    match hour {
        0..=11 => "in the morning",
        12..=17 => "in the afternoon",
        _ => "in the evening",
    }
}

/// The clock time in words: "half past two in the afternoon", "noon", "five to midnight".
fn clock(hour: i8, minute: i8) -> String {
    let next = (hour + 1) % 24;
    let named = |hour: i8| match hour {
        0 => "midnight".to_owned(),
        12 => "noon".to_owned(),
        _ => format!("{} {}", hour_word(hour), period(hour)),
    };
    match minute {
        0 => match hour {
            0 | 12 => named(hour),
            _ => format!("{} o'clock {}", hour_word(hour), period(hour)),
        },
        15 => format!("quarter past {}", named(hour)),
        30 => format!("half past {}", named(hour)),
        45 => format!("quarter to {}", named(next)),
        1..=9 => format!(
            "{} oh {} {}",
            hour_word(hour),
            number(minute as u8),
            period(hour)
        ),
        _ => format!(
            "{} {} {}",
            hour_word(hour),
            number(minute as u8),
            period(hour)
        ),
    }
}

fn ordinal(day: i8) -> String {
    let suffix = match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{day}{suffix}")
}

fn weekday(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

/// The zone as people say it: "Central European Time"; a city's time for a zone without a
/// well-known name ("Lisbon time").
fn zone(abbreviation: &str, tz: &TimeZone) -> String {
    let known = match abbreviation {
        "UTC" => "Coordinated Universal Time",
        "GMT" => "Greenwich Mean Time",
        "BST" => "British Summer Time",
        "IST" if tz.iana_name() == Some("Europe/Dublin") => "Irish Standard Time",
        "IST" => "India Standard Time",
        "WET" => "Western European Time",
        "WEST" => "Western European Summer Time",
        "CET" => "Central European Time",
        "CEST" => "Central European Summer Time",
        "EET" => "Eastern European Time",
        "EEST" => "Eastern European Summer Time",
        "MSK" => "Moscow Time",
        "EST" => "Eastern Standard Time",
        "EDT" => "Eastern Daylight Time",
        "CST"
            if tz
                .iana_name()
                .is_some_and(|name| name.starts_with("America/")) =>
        {
            "Central Standard Time"
        }
        "CDT" => "Central Daylight Time",
        "MST" => "Mountain Standard Time",
        "MDT" => "Mountain Daylight Time",
        "PST" => "Pacific Standard Time",
        "PDT" => "Pacific Daylight Time",
        "AKST" => "Alaska Standard Time",
        "HST" => "Hawaii Standard Time",
        "JST" => "Japan Standard Time",
        "KST" => "Korea Standard Time",
        "AEST" => "Australian Eastern Standard Time",
        "AEDT" => "Australian Eastern Daylight Time",
        "NZST" => "New Zealand Standard Time",
        "NZDT" => "New Zealand Daylight Time",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    match tz.iana_name().and_then(|name| name.rsplit('/').next()) {
        Some(city) if !city.starts_with("GMT") && city != "UTC" => {
            format!("{} time", city.replace('_', " "))
        }
        _ => "Coordinated Universal Time".to_owned(),
    }
}

/// A time as said on the phone, relative to `now`: "half past two in the afternoon, Central
/// European Time", "tomorrow at noon, …", "on Tuesday the 24th of November at …".
pub(crate) fn time(at: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    let local = at.to_zoned(tz.clone());
    let today = now.to_zoned(tz.clone()).date();
    let date = local.date();
    let day = if date == today {
        String::new()
    } else if today.tomorrow().ok() == Some(date) {
        "tomorrow at ".to_owned()
    } else {
        format!(
            "on {} the {} of {} at ",
            weekday(date.weekday()),
            ordinal(date.day()),
            local.strftime("%B")
        )
    };
    let abbreviation = local.strftime("%Z").to_string();
    format!(
        "{day}{}, {}",
        clock(local.hour(), local.minute()),
        zone(&abbreviation, tz)
    )
}

/// What a voice can say of a text: no URL, no markup, no emoji or other symbol; spaces
/// collapsed.
pub(crate) fn clean(text: &str) -> String {
    static TAG: std::sync::LazyLock<regex_lite::Regex> = std::sync::LazyLock::new(|| {
        regex_lite::Regex::new(r"</?[A-Za-z!][^<>]{0,200}>").expect("a valid pattern")
    });
    let text = TAG.replace_all(text, " ");
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        if lower.contains("http://") || lower.contains("https://") || lower.starts_with("www.") {
            continue;
        }
        let mut kept = String::new();
        for c in word.chars() {
            match c {
                c if c.is_alphanumeric() || ".,;:!?'\"-()/&%€$£+@#".contains(c) => kept.push(c),
                '\u{2019}' | '\u{2018}' => kept.push('\''),
                '\u{2013}' | '\u{2014}' => kept.push('-'),
                _ => {}
            }
        }
        if kept.chars().any(char::is_alphanumeric) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&kept);
        } else if !out.is_empty() && !kept.is_empty() {
            // Punctuation left alone by what was removed ends the word before; a dash, an
            // ampersand or a sign stays a word of its own.
            if kept.chars().all(|c| ".,;:!?".contains(c)) {
                out.push_str(&kept);
            } else {
                out.push(' ');
                out.push_str(&kept);
            }
        }
    }
    out
}

/// A list as said: "A", "A and B", "A, B and C".
pub(crate) fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn times_are_said_as_people_say_them() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let now = at("2026-11-22T09:00:00Z");
        let said = |t: &str| time(at(t), now, &paris);
        assert_eq!(
            said("2026-11-22T13:30:00Z"),
            "half past two in the afternoon, Central European Time"
        );
        assert_eq!(said("2026-11-22T11:00:00Z"), "noon, Central European Time");
        assert_eq!(
            said("2026-11-22T10:45:00Z"),
            "quarter to noon, Central European Time"
        );
        assert_eq!(
            said("2026-11-22T22:45:00Z"),
            "quarter to midnight, Central European Time"
        );
        assert_eq!(
            said("2026-11-22T09:05:00Z"),
            "ten oh five in the morning, Central European Time"
        );
        assert_eq!(
            said("2026-11-22T16:20:00Z"),
            "five twenty in the afternoon, Central European Time"
        );
        assert_eq!(
            said("2026-11-23T07:15:00Z"),
            "tomorrow at quarter past eight in the morning, Central European Time"
        );
        assert_eq!(
            said("2026-11-24T02:00:00Z"),
            "on Tuesday the 24th of November at three o'clock in the morning, Central European Time"
        );
        let summer = at("2026-07-01T12:00:00Z");
        assert_eq!(
            time(at("2026-07-01T12:00:00Z"), summer, &paris),
            "two o'clock in the afternoon, Central European Summer Time"
        );
        assert_eq!(
            time(now, now, &TimeZone::UTC),
            "nine o'clock in the morning, Coordinated Universal Time"
        );
        let lisbon = TimeZone::get("America/Sao_Paulo").unwrap();
        assert!(time(now, now, &lisbon).ends_with(", Sao Paulo time"));
    }

    #[test]
    fn what_a_voice_cannot_say_is_left_out() {
        assert_eq!(
            clean("Logins fail 🚨 <b>now</b>; see https://status.example.com/x. Thanks — team"),
            "Logins fail now; see Thanks - team"
        );
        assert_eq!(clean("東京リージョン café"), "東京リージョン café");
        assert_eq!(clean("Latency < 5s, then > 2s"), "Latency 5s, then 2s");
        assert_eq!(list(&["A".into(), "B".into(), "C".into()]), "A, B and C");
    }
}
