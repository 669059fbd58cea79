//! The client subcommands: they call the REST API with a token, print text
//! for people or `--json` for scripts, and exit non-zero on failure.

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct Remote {
    /// Base URL of the Daylight server.
    #[arg(long, env = "DAYLIGHT_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// Admin token.
    #[arg(long, env = "DAYLIGHT_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Environments.
    #[command(subcommand)]
    Envs(EnvCmd),
    /// Flags.
    #[command(subcommand)]
    Flags(FlagCmd),
    /// Segments (cohorts).
    #[command(subcommand)]
    Segments(SegmentCmd),
    /// Admin tokens.
    #[command(subcommand)]
    Tokens(TokenCmd),
    /// SDK keys.
    #[command(subcommand)]
    Keys(KeyCmd),
    /// Browser bundle versions (stale single-page apps reload).
    #[command(subcommand)]
    Bundles(BundleCmd),
    /// Staged rollouts: release plans advanced by the server on schedule.
    #[command(subcommand, alias = "rollouts")]
    Releases(ReleaseCmd),
    /// Flag changes applied at a given time.
    #[command(subcommand)]
    Schedule(ScheduleCmd),
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCmd {
    /// Creates a plan (pending until `start`), e.g.
    /// `releases create new-lobby --env production --stages 1,5,25,100 --hold 1h`.
    Create {
        flag: String,
        #[arg(long)]
        env: String,
        /// Percentages served the new variation, stage by stage.
        #[arg(long, value_delimiter = ',', required = true)]
        stages: Vec<f64>,
        /// How long each stage lasts (`90s`, `30m`, `2h`, `1d`); without it
        /// each stage waits for `skip`.
        #[arg(long)]
        hold: Option<String>,
        /// The variation being released.
        #[arg(long, default_value_t = 1)]
        variation: usize,
        /// The variation it replaces (default: what the fallthrough serves).
        #[arg(long)]
        from_variation: Option<usize>,
        #[arg(long)]
        bucket_by: Option<String>,
        /// Guard: the app-reported event to watch, e.g. `checkout_error`.
        #[arg(long)]
        guard_event: Option<String>,
        /// Guard: trip above this rate of events per evaluation.
        #[arg(long)]
        guard_max_rate: Option<f64>,
        /// Guard: trip when the new variation's rate is this many times the old one's.
        #[arg(long)]
        guard_max_ratio: Option<f64>,
        #[arg(long, value_parser = ["pause", "rollback"], default_value = "rollback")]
        guard_action: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    List {
        #[arg(long)]
        flag: Option<String>,
        #[arg(long)]
        env: Option<String>,
        #[arg(long)]
        state: Option<String>,
    },
    Get {
        id: i64,
    },
    /// start | pause | resume | skip | rollback
    #[command(external_subcommand)]
    Act(Vec<String>),
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// Schedules turning a flag on or off at a time (RFC 3339).
    Create {
        flag: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        at: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    List {
        #[arg(long)]
        flag: Option<String>,
        #[arg(long)]
        env: Option<String>,
    },
    Cancel {
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum BundleCmd {
    /// Publishes a bundle version: live for everyone, or a canary.
    Publish {
        app: String,
        version: String,
        #[arg(long)]
        env: String,
        /// Serve it to this percentage of contexts only.
        #[arg(long)]
        canary: Option<f64>,
        /// Contexts in this segment always get the canary.
        #[arg(long)]
        canary_segment: Option<String>,
        /// Older versions must reload now.
        #[arg(long)]
        min_supported: Option<String>,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Versions, live and canary, and connected browsers per version.
    Status {
        app: String,
        #[arg(long)]
        env: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnvCmd {
    List,
    Create {
        key: String,
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FlagCmd {
    List {
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        query: Option<String>,
    },
    Get {
        key: String,
    },
    /// Creates a flag, off in every environment.
    Create {
        key: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Variations as a JSON array (default `[false, true]`).
        #[arg(long)]
        variations: Option<String>,
        /// Browsers (client keys) may see it.
        #[arg(long)]
        client_side: bool,
    },
    /// Turns a flag on or off in one environment (the kill switch).
    Toggle {
        key: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Serves variation 1 to PERCENT of contexts (the rest get variation 0)
    /// when no rule matches.
    SetRollout {
        key: String,
        percent: f64,
        #[arg(long)]
        env: String,
        #[arg(long)]
        bucket_by: Option<String>,
        #[arg(long)]
        salt: Option<String>,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Adds a rule (or replaces the rule with the same --id).
    SetRule {
        key: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        attribute: String,
        #[arg(long, default_value = "in")]
        op: String,
        /// Comma-separated values (numbers and booleans are read as JSON).
        #[arg(long, value_delimiter = ',')]
        values: Vec<String>,
        #[arg(long)]
        case_insensitive: bool,
        #[arg(long)]
        negate: bool,
        /// The variation the rule serves.
        #[arg(long, default_value_t = 1)]
        serve: usize,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SegmentCmd {
    List {
        #[arg(long)]
        env: String,
    },
    Get {
        key: String,
        #[arg(long)]
        env: String,
    },
    Create {
        key: String,
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Replaces the included keys with a file of keys, one per line.
    Upload {
        key: String,
        file: std::path::PathBuf,
        #[arg(long)]
        env: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    List,
    Create {
        name: String,
        #[arg(long, value_parser = ["viewer", "editor", "admin"])]
        role: String,
    },
    Revoke {
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    List {
        #[arg(long)]
        env: String,
    },
    Create {
        #[arg(long)]
        env: String,
        #[arg(long, value_parser = ["server", "client"])]
        kind: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    Revoke {
        id: i64,
        #[arg(long)]
        env: String,
    },
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

/// An API answer: status, ETag and JSON body.
struct Answer {
    etag: Option<String>,
    body: Value,
}

impl Client {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> Result<Answer, String> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url.trim_end_matches('/')));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        for (name, value) in headers {
            if !value.is_empty() {
                req = req.header(*name, value);
            }
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.url))?;
        let status = resp.status();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.map_err(|e| e.to_string())?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(Answer { etag, body });
        }
        let message = body["message"]
            .as_str()
            .unwrap_or(status.canonical_reason().unwrap_or("error"));
        let field = body["field"]
            .as_str()
            .map(|f| format!(" (field {f})"))
            .unwrap_or_default();
        let hint = if status == StatusCode::CONFLICT {
            " [409 conflict]"
        } else {
            ""
        };
        Err(format!("{} {message}{field}{hint}", status.as_u16()))
    }

    /// Read-modify-write of one environment's config, guarded by If-Match so
    /// a concurrent edit fails instead of being overwritten.
    async fn edit_config(
        &self,
        key: &str,
        env: &str,
        comment: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Result<Answer, String> {
        let path = format!("/api/v1/flags/{key}/environments/{env}");
        let current = self.call(Method::GET, &path, None, &[]).await?;
        let mut config = current.body;
        edit(&mut config);
        let etag = current.etag.unwrap_or_default();
        self.call(
            Method::PUT,
            &path,
            Some(config),
            &[("if-match", etag), ("x-audit-comment", comment.to_owned())],
        )
        .await
    }
}

fn parse_value(s: &str) -> Value {
    match serde_json::from_str::<Value>(s) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(s.to_owned()),
    }
}

/// Runs one client command; returns the process exit code.
pub async fn run(remote: Remote, command: Command) -> i32 {
    let client = Client {
        http: reqwest::Client::new(),
        url: remote.url.clone(),
        token: remote.token.clone(),
    };
    match execute(&client, command).await {
        Ok(answer) => {
            if remote.json {
                println!("{}", serde_json::to_string_pretty(&answer.body).unwrap_or_default());
            } else {
                print_human(&answer.body);
            }
            0
        }
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    }
}

async fn execute(c: &Client, command: Command) -> Result<Answer, String> {
    use Method as M;
    match command {
        Command::Envs(EnvCmd::List) => c.call(M::GET, "/api/v1/environments", None, &[]).await,
        Command::Envs(EnvCmd::Create { key, name }) => {
            c.call(
                M::POST,
                "/api/v1/environments",
                Some(json!({ "key": key, "name": name })),
                &[],
            )
            .await
        }
        Command::Flags(FlagCmd::List { tag, query }) => {
            let mut path = "/api/v1/flags?".to_owned();
            if let Some(t) = tag {
                path += &format!("tag={}&", urlencode(&t));
            }
            if let Some(q) = query {
                path += &format!("q={}", urlencode(&q));
            }
            c.call(M::GET, &path, None, &[]).await
        }
        Command::Flags(FlagCmd::Get { key }) => c.call(M::GET, &format!("/api/v1/flags/{key}"), None, &[]).await,
        Command::Flags(FlagCmd::Create {
            key,
            name,
            description,
            tags,
            variations,
            client_side,
        }) => {
            let mut body = json!({ "key": key, "name": name, "description": description, "tags": tags, "client_side": client_side });
            if let Some(v) = variations {
                body["variations"] = serde_json::from_str(&v).map_err(|e| format!("--variations is not JSON: {e}"))?;
            }
            c.call(M::POST, "/api/v1/flags", Some(body), &[]).await
        }
        Command::Flags(FlagCmd::Toggle {
            key,
            state,
            env,
            comment,
        }) => {
            let body = json!({ "on": state == "on", "comment": comment });
            c.call(
                M::POST,
                &format!("/api/v1/flags/{key}/environments/{env}/toggle"),
                Some(body),
                &[],
            )
            .await
        }
        Command::Flags(FlagCmd::SetRollout {
            key,
            percent,
            env,
            bucket_by,
            salt,
            comment,
        }) => {
            if !(0.0..=100.0).contains(&percent) {
                return Err("PERCENT must be between 0 and 100".into());
            }
            let on = (percent * 1000.0).round() as u64;
            c.edit_config(&key, &env, &comment, |config| {
                let mut rollout = json!({ "variations": [
                    { "variation": 0, "weight": 100_000 - on },
                    { "variation": 1, "weight": on }
                ] });
                if let Some(b) = bucket_by {
                    rollout["bucket_by"] = json!(b);
                }
                if let Some(s) = salt {
                    rollout["salt"] = json!(s);
                }
                config["fallthrough"] = json!({ "rollout": rollout });
            })
            .await
        }
        Command::Flags(FlagCmd::SetRule {
            key,
            env,
            id,
            attribute,
            op,
            values,
            case_insensitive,
            negate,
            serve,
            comment,
        }) => {
            let rule = json!({
                "id": id,
                "clauses": [{
                    "attribute": attribute, "op": op, "negate": negate, "case_insensitive": case_insensitive,
                    "values": values.iter().map(|v| parse_value(v)).collect::<Vec<_>>()
                }],
                "serve": { "variation": serve }
            });
            c.edit_config(&key, &env, &comment, |config| {
                let rules = config["rules"].as_array_mut();
                match rules {
                    Some(rules) => match rules.iter_mut().find(|r| r["id"] == json!(id)) {
                        Some(existing) => *existing = rule,
                        None => rules.push(rule),
                    },
                    None => config["rules"] = json!([rule]),
                }
            })
            .await
        }
        Command::Segments(SegmentCmd::List { env }) => {
            c.call(M::GET, &format!("/api/v1/environments/{env}/segments"), None, &[])
                .await
        }
        Command::Segments(SegmentCmd::Get { key, env }) => {
            c.call(M::GET, &format!("/api/v1/environments/{env}/segments/{key}"), None, &[])
                .await
        }
        Command::Segments(SegmentCmd::Create { key, env, name }) => {
            c.call(
                M::POST,
                &format!("/api/v1/environments/{env}/segments"),
                Some(json!({ "key": key, "name": name })),
                &[],
            )
            .await
        }
        Command::Segments(SegmentCmd::Upload { key, file, env }) => {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let keys: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            c.call(
                M::PUT,
                &format!("/api/v1/environments/{env}/segments/{key}/included"),
                Some(json!(keys)),
                &[],
            )
            .await
        }
        Command::Tokens(TokenCmd::List) => c.call(M::GET, "/api/v1/tokens", None, &[]).await,
        Command::Tokens(TokenCmd::Create { name, role }) => {
            c.call(
                M::POST,
                "/api/v1/tokens",
                Some(json!({ "name": name, "role": role })),
                &[],
            )
            .await
        }
        Command::Tokens(TokenCmd::Revoke { id }) => c.call(M::DELETE, &format!("/api/v1/tokens/{id}"), None, &[]).await,
        Command::Keys(KeyCmd::List { env }) => {
            c.call(M::GET, &format!("/api/v1/environments/{env}/keys"), None, &[])
                .await
        }
        Command::Keys(KeyCmd::Create { env, kind, name }) => {
            c.call(
                M::POST,
                &format!("/api/v1/environments/{env}/keys"),
                Some(json!({ "kind": kind, "name": name })),
                &[],
            )
            .await
        }
        Command::Bundles(BundleCmd::Publish {
            app,
            version,
            env,
            canary,
            canary_segment,
            min_supported,
            comment,
        }) => {
            let body = json!({
                "version": version, "canary_percent": canary, "canary_segment": canary_segment, "min_supported": min_supported
            });
            let path = format!("/api/v1/environments/{env}/apps/{app}/publish");
            c.call(M::POST, &path, Some(body), &[("x-audit-comment", comment)])
                .await
        }
        Command::Bundles(BundleCmd::Status { app, env }) => {
            c.call(
                M::GET,
                &format!("/api/v1/environments/{env}/apps/{app}/status"),
                None,
                &[],
            )
            .await
        }
        Command::Releases(cmd) => release(c, cmd).await,
        Command::Schedule(ScheduleCmd::Create {
            flag,
            state,
            env,
            at,
            comment,
        }) => {
            let body = json!({ "at": at, "change": { "on": state == "on" } });
            let path = format!("/api/v1/flags/{flag}/environments/{env}/scheduled-changes");
            c.call(M::POST, &path, Some(body), &[("x-audit-comment", comment)])
                .await
        }
        Command::Schedule(ScheduleCmd::List { flag, env }) => {
            let path = format!(
                "/api/v1/scheduled-changes?{}",
                query(&[("flag", flag), ("environment", env)])
            );
            c.call(M::GET, &path, None, &[]).await
        }
        Command::Schedule(ScheduleCmd::Cancel { id }) => {
            c.call(M::DELETE, &format!("/api/v1/scheduled-changes/{id}"), None, &[])
                .await
        }
        Command::Keys(KeyCmd::Revoke { id, env }) => {
            c.call(M::DELETE, &format!("/api/v1/environments/{env}/keys/{id}"), None, &[])
                .await
        }
    }
}

async fn release(c: &Client, cmd: ReleaseCmd) -> Result<Answer, String> {
    use Method as M;
    match cmd {
        ReleaseCmd::Create {
            flag,
            env,
            stages,
            hold,
            variation,
            from_variation,
            bucket_by,
            guard_event,
            guard_max_rate,
            guard_max_ratio,
            guard_action,
            comment,
        } => {
            let hold_seconds = hold.as_deref().map(parse_duration).transpose()?;
            let stages: Vec<Value> = stages
                .iter()
                .map(|p| {
                    if !(0.0..=100.0).contains(p) {
                        return Err(format!("stage {p}%: percentages are 0..=100"));
                    }
                    Ok(json!({ "weight": (p * 1000.0).round() as u64, "hold_seconds": hold_seconds }))
                })
                .collect::<Result<_, _>>()?;
            let mut body = json!({ "variation": variation, "from_variation": from_variation, "stages": stages });
            if let Some(b) = bucket_by {
                body["bucket_by"] = json!(b);
            }
            if let Some(event) = guard_event {
                body["guard"] = json!({ "event": event, "max_rate": guard_max_rate, "max_ratio": guard_max_ratio, "action": guard_action });
            }
            let path = format!("/api/v1/flags/{flag}/environments/{env}/releases");
            c.call(M::POST, &path, Some(body), &[("x-audit-comment", comment)])
                .await
        }
        ReleaseCmd::List { flag, env, state } => {
            let path = format!(
                "/api/v1/releases?{}",
                query(&[("flag", flag), ("environment", env), ("state", state)])
            );
            c.call(M::GET, &path, None, &[]).await
        }
        ReleaseCmd::Get { id } => c.call(M::GET, &format!("/api/v1/releases/{id}"), None, &[]).await,
        ReleaseCmd::Act(args) => {
            let usage = "usage: releases (start|pause|resume|skip|rollback) ID [--comment TEXT]";
            let (command, id) = match args.as_slice() {
                [command, id, ..] => (command.as_str(), id),
                _ => return Err(usage.into()),
            };
            if !["start", "pause", "resume", "skip", "rollback"].contains(&command) {
                return Err(format!("unknown command `{command}`; {usage}"));
            }
            let id: i64 = id.parse().map_err(|_| format!("`{id}` is not a plan id; {usage}"))?;
            let comment = match &args[2..] {
                [] => String::new(),
                [flag, text] if flag == "--comment" => text.clone(),
                _ => return Err(usage.into()),
            };
            c.call(
                M::POST,
                &format!("/api/v1/releases/{id}/{command}"),
                None,
                &[("x-audit-comment", comment)],
            )
            .await
        }
    }
}

/// `90s`, `30m`, `2h`, `1d` (or plain seconds) to seconds.
fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 90s, 30m, 2h, 1d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}`: use s, m, h or d")),
    };
    Ok(n * scale)
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", urlencode(v))))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A compact text rendering: lists one item a line, objects as key: value.
fn print_human(body: &Value) {
    let list = [
        "flags",
        "environments",
        "segments",
        "tokens",
        "keys",
        "entries",
        "plans",
        "changes",
    ]
    .iter()
    .find_map(|k| body.get(*k).and_then(Value::as_array));
    match (list, body) {
        (Some(items), _) => {
            for item in items {
                let key = item.get("key").or_else(|| item.get("id")).map(show).unwrap_or_default();
                let name = item
                    .get("name")
                    .or_else(|| item.get("flag_key"))
                    .map(show)
                    .unwrap_or_default();
                let extra = item
                    .get("role")
                    .or_else(|| item.get("state"))
                    .or_else(|| item.get("kind"))
                    .or_else(|| item.get("version"))
                    .map(show)
                    .unwrap_or_default();
                println!("{key}\t{name}\t{extra}");
            }
        }
        (None, Value::Object(map)) => {
            for (k, v) in map {
                println!("{k}: {}", show(v));
            }
        }
        (None, Value::Null) => println!("done"),
        (None, other) => println!("{}", show(other)),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
