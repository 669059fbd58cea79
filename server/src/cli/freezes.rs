//! `daylight freezes`: an environment's freeze windows, in which it takes
//! no changes but the kill switch (admin). See docs/people.md.

use clap::Subcommand;

use super::client::Client;
use super::output::{table, Reply};
use crate::freeze::Schedule;
use crate::http::freezes::{FreezeList, NewWindow};
use crate::store::freezes::FreezeWindow;

#[derive(Debug, Subcommand)]
pub enum FreezeCmd {
    /// The windows, and which one holds now.
    List {
        #[arg(long)]
        env: String,
    },
    /// Adds a window: once (`--from … --until …`, RFC 3339), or weekly
    /// (`--weekly mon,fri --at 18:00 --minutes 240 --time-zone Europe/Paris`).
    Add {
        #[arg(long)]
        env: String,
        #[arg(long)]
        name: String,
        /// Start of a one-off window (RFC 3339).
        #[arg(long, requires = "until", conflicts_with = "weekly")]
        from: Option<String>,
        /// End of a one-off window (RFC 3339).
        #[arg(long, requires = "from")]
        until: Option<String>,
        /// Days of a weekly window: mon,tue,wed,thu,fri,sat,sun.
        #[arg(long, value_delimiter = ',', requires_all = ["at", "minutes", "time_zone"])]
        weekly: Vec<String>,
        /// Local start time of a weekly window (`HH:MM`).
        #[arg(long, requires = "weekly")]
        at: Option<String>,
        /// How long a weekly window lasts, in minutes (at most a week).
        #[arg(long, requires = "weekly")]
        minutes: Option<u32>,
        /// The weekly window's IANA time zone, e.g. `Europe/Paris`.
        #[arg(long, requires = "weekly")]
        time_zone: Option<String>,
    },
    /// Removes a window.
    Rm {
        #[arg(long)]
        env: String,
        id: i64,
    },
}

pub async fn run(c: &Client, cmd: FreezeCmd) -> Result<Reply, String> {
    match cmd {
        FreezeCmd::List { env } => {
            let answer = c.get(&format!("/api/v1/environments/{env}/freezes")).send().await?;
            Ok(Reply::new(answer, move |list: FreezeList| {
                let holding: Vec<&str> = list
                    .windows
                    .iter()
                    .filter(|w| w.active)
                    .map(|w| w.window.name.as_str())
                    .collect();
                let now = if holding.is_empty() {
                    format!("{env} is not frozen now")
                } else {
                    format!("{env} is frozen now by: {}", holding.join(", "))
                };
                let rows = list.windows.iter().map(|w| {
                    [
                        w.window.id.to_string(),
                        w.window.name.clone(),
                        describe(&w.window.schedule),
                        if w.active { "now" } else { "-" }.to_owned(),
                    ]
                });
                format!("{}\n\n{now}", table(["ID", "NAME", "WHEN", "HOLDS"], rows))
            }))
        }
        FreezeCmd::Add {
            env,
            name,
            from,
            until,
            weekly,
            at,
            minutes,
            time_zone,
        } => {
            let schedule = match (from, until) {
                (Some(starts_at), Some(ends_at)) => Schedule::Once { starts_at, ends_at },
                _ => match (at, minutes, time_zone) {
                    (Some(start), Some(minutes), Some(time_zone)) if !weekly.is_empty() => Schedule::Weekly {
                        days: weekly,
                        start,
                        minutes,
                        time_zone,
                    },
                    _ => {
                        return Err("give --from and --until, or --weekly DAYS --at HH:MM --minutes N \
                                    --time-zone ZONE"
                            .into())
                    }
                },
            };
            let answer = c
                .post(&format!("/api/v1/environments/{env}/freezes"))
                .json(&NewWindow { name, schedule })
                .send()
                .await?;
            Ok(Reply::record::<FreezeWindow>(answer))
        }
        FreezeCmd::Rm { env, id } => Ok(Reply::done(
            c.delete(&format!("/api/v1/environments/{env}/freezes/{id}"))
                .send()
                .await?,
        )),
    }
}

/// `2026-12-24T18:00:00Z to 2026-12-24T22:00:00Z`, or
/// `mon,fri 18:00 for 240 min (Europe/Paris)`.
fn describe(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Once { starts_at, ends_at } => format!("{starts_at} to {ends_at}"),
        Schedule::Weekly {
            days,
            start,
            minutes,
            time_zone,
        } => format!("{} {start} for {minutes} min ({time_zone})", days.join(",")),
    }
}
