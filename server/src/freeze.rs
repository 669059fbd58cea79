//! Freeze windows: times in which an environment takes no changes but the
//! kill switch (docs/people.md). Pure: what a window is, whether it covers
//! an instant, and its validation. Stored by `store::freezes`, enforced by
//! `writes::Writer::lock`.

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

/// When a window holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Schedule {
    /// Once, from `starts_at` until `ends_at` (RFC 3339 instants).
    Once { starts_at: String, ends_at: String },
    /// Every week on `days` (`mon` … `sun`), from `start` (`HH:MM`, local
    /// time in `time_zone`, an IANA name such as `Europe/Paris`) for
    /// `minutes` minutes (at most a week).
    Weekly {
        days: Vec<String>,
        start: String,
        minutes: u32,
        time_zone: String,
    },
}

/// A checked schedule, ready to answer whether it covers an instant.
#[derive(Debug, Clone)]
pub enum Window {
    Once {
        starts_at: i64,
        ends_at: i64,
    },
    Weekly {
        days: Vec<Weekday>,
        start: Time,
        minutes: i64,
        zone: TimeZone,
    },
}

const WEEK_MINUTES: u32 = 7 * 24 * 60;

impl Schedule {
    /// Checks every field (errors name it, under `schedule.`).
    pub fn compile(&self) -> ApiResult<Window> {
        match self {
            Schedule::Once { starts_at, ends_at } => {
                let starts_at = instant(starts_at, "schedule.starts_at")?;
                let ends_at = instant(ends_at, "schedule.ends_at")?;
                if ends_at <= starts_at {
                    return Err(ApiError::invalid("schedule.ends_at", "a window ends after it starts"));
                }
                Ok(Window::Once { starts_at, ends_at })
            }
            Schedule::Weekly {
                days,
                start,
                minutes,
                time_zone,
            } => {
                if days.is_empty() {
                    return Err(ApiError::invalid(
                        "schedule.days",
                        "name at least one day, e.g. [\"fri\"]",
                    ));
                }
                let days = days
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        weekday(d).ok_or_else(|| {
                            ApiError::invalid(
                                format!("schedule.days[{i}]"),
                                "expected mon, tue, wed, thu, fri, sat or sun",
                            )
                        })
                    })
                    .collect::<ApiResult<Vec<_>>>()?;
                let start = Time::strptime("%H:%M", start)
                    .map_err(|_| ApiError::invalid("schedule.start", "expected a local time such as 18:30"))?;
                if *minutes == 0 || *minutes > WEEK_MINUTES {
                    return Err(ApiError::invalid("schedule.minutes", "between 1 and 10080 (a week)"));
                }
                let zone = TimeZone::get(time_zone).map_err(|_| {
                    ApiError::invalid("schedule.time_zone", "expected an IANA time zone such as Europe/Paris")
                })?;
                Ok(Window::Weekly {
                    days,
                    start,
                    minutes: i64::from(*minutes),
                    zone,
                })
            }
        }
    }
}

impl Window {
    /// Whether the window covers `now` (Unix milliseconds).
    pub fn covers(&self, now: i64) -> bool {
        match self {
            Window::Once { starts_at, ends_at } => (*starts_at..*ends_at).contains(&now),
            Window::Weekly {
                days,
                start,
                minutes,
                zone,
            } => {
                let Ok(ts) = Timestamp::from_millisecond(now) else {
                    return false;
                };
                let today = ts.to_zoned(zone.clone()).date();
                // A window that started up to a week ago may still be open.
                (0..=7).any(|back| {
                    let Ok(day) = today.checked_sub(jiff::Span::new().days(back)) else {
                        return false;
                    };
                    if !days.contains(&day.weekday()) {
                        return false;
                    }
                    let Ok(opens) = day.to_datetime(*start).to_zoned(zone.clone()) else {
                        return false;
                    };
                    let opens_ms = opens.timestamp().as_millisecond();
                    (opens_ms..opens_ms + minutes * 60_000).contains(&now)
                })
            }
        }
    }
}

fn instant(text: &str, field: &str) -> ApiResult<i64> {
    text.parse::<Timestamp>()
        .map(|t| t.as_millisecond())
        .or_else(|_| text.parse::<Zoned>().map(|z| z.timestamp().as_millisecond()))
        .map_err(|_| ApiError::invalid(field, "expected an RFC 3339 time such as 2026-12-24T18:00:00Z"))
}

fn weekday(day: &str) -> Option<Weekday> {
    Some(match day.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_weekly_window_follows_local_time_across_midnight_and_daylight_saving() {
        // Fridays 22:00 for three hours, Paris time.
        let w = Schedule::Weekly {
            days: vec!["fri".into()],
            start: "22:00".into(),
            minutes: 180,
            time_zone: "Europe/Paris".into(),
        }
        .compile()
        .unwrap();
        // Winter (UTC+1): Friday 2026-12-04 22:00 Paris is 21:00Z.
        assert!(!w.covers(at("2026-12-04T20:59:59Z")));
        assert!(w.covers(at("2026-12-04T21:00:00Z")));
        // Past midnight, into Saturday.
        assert!(w.covers(at("2026-12-04T23:59:00Z")));
        assert!(!w.covers(at("2026-12-05T00:00:00Z")));
        // Summer (UTC+2): Friday 2026-07-03 22:00 Paris is 20:00Z.
        assert!(w.covers(at("2026-07-03T20:00:00Z")));
        assert!(!w.covers(at("2026-07-03T19:59:00Z")));
        // Not on Thursdays.
        assert!(!w.covers(at("2026-12-03T21:30:00Z")));
    }

    #[test]
    fn a_one_off_window_and_bad_fields_name_the_field() {
        let w = Schedule::Once {
            starts_at: "2026-12-24T18:00:00Z".into(),
            ends_at: "2026-12-24T20:00:00+00:00".into(),
        }
        .compile()
        .unwrap();
        assert!(w.covers(at("2026-12-24T19:00:00Z")));
        assert!(!w.covers(at("2026-12-24T20:00:00Z")));
        let field = |s: Schedule| match s.compile() {
            Err(ApiError::Invalid { field, .. }) => field.unwrap(),
            other => panic!("{other:?}"),
        };
        let weekly = |days: &[&str], start: &str, minutes: u32, tz: &str| Schedule::Weekly {
            days: days.iter().map(|d| d.to_string()).collect(),
            start: start.into(),
            minutes,
            time_zone: tz.into(),
        };
        assert_eq!(field(weekly(&["fri", "fry"], "18:00", 60, "UTC")), "schedule.days[1]");
        assert_eq!(field(weekly(&["fri"], "25:00", 60, "UTC")), "schedule.start");
        assert_eq!(field(weekly(&["fri"], "18:00", 0, "UTC")), "schedule.minutes");
        assert_eq!(
            field(weekly(&["fri"], "18:00", 60, "Mars/Olympus")),
            "schedule.time_zone"
        );
        assert_eq!(
            field(Schedule::Once {
                starts_at: "2026-12-24T18:00:00Z".into(),
                ends_at: "2026-12-24T17:00:00Z".into()
            }),
            "schedule.ends_at"
        );
    }
}
