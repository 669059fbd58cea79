//! Client keys: evaluated values. After `welcome` the SDK gets the values
//! of every `client_side` flag for its context (`values`), then, after each
//! change, only what changed for it (`changed`); `identify` switches the
//! context. A page that named its bundle also gets the bundle handshake's
//! answers (`docs/bundles.md`), reload notices paced per app.

use std::collections::BTreeMap;
use std::sync::Arc;

use daylight::protocol::ServerMessage;
use daylight::{Context, Detail, Reason, Ruleset};
use serde_json::{Map, Value};
use tokio::sync::broadcast::error::RecvError;

use super::session::{close, shutting_down, Close, Connection, Paced};
use super::shared::{change_shared, changed_message, client_flags, ClientFlags};
use crate::auth::KeyKind;
use crate::bundles::{Present, Status};
use crate::frames::{self, RunningBundle};
use crate::http::disclosed_prerequisite;
use crate::live::Applied;
use crate::state::AppState;

/// A client-key session: the context, what was sent for it, and the
/// bundle handshake.
pub struct Values {
    environment: Arc<str>,
    ctx: Context,
    /// The version of the ruleset last evaluated.
    version: u64,
    /// The `client_side` flags `sent` follows, in order.
    flags: Arc<ClientFlags>,
    /// What was last sent per flag of `flags`: a fingerprint of its
    /// variation, value and reason (eight bytes, not its key and JSON: there
    /// is one per connection per `client_side` flag); 0 for nothing.
    sent: Box<[u64]>,
    bundle: Option<Bundle>,
    /// `values` and `changed` messages sent so far.
    messages: u64,
}

/// The bundle handshake of a page: what it runs, its place in the presence
/// counts, and the answers sent and waiting for the pacer.
struct Bundle {
    running: RunningBundle,
    _present: Option<Present>,
    sent: ServerMessage,
    pending: Option<ServerMessage>,
    paced: Option<Paced>,
}

fn not_loaded() -> Close {
    close("shutting_down", "environment not loaded")
}

impl Values {
    /// The context's `values`, then the first bundle answer (at once).
    pub fn start(
        conn: &mut Connection,
        environment: &Arc<str>,
        context: &Value,
        bundle: Option<RunningBundle>,
    ) -> Result<Values, Close> {
        let ctx = frames::parse_context(context).map_err(|e| close("bad_message", e))?;
        let ruleset = conn.state.live.get(environment).ok_or_else(not_loaded)?;
        conn.state.learned.record(environment, &ctx);
        let mut values = Values {
            environment: environment.clone(),
            ctx,
            version: ruleset.version(),
            flags: client_flags(&ruleset),
            sent: Box::default(),
            bundle: None,
            messages: 0,
        };
        values.send_values(conn, &ruleset, true)?;
        if let Some(running) = bundle {
            let state = &conn.state;
            let present = state
                .presence
                .join(&state.live, environment, &running.app, &running.version);
            let (_, answer) = bundle_message(state, environment, &running, &values.ctx, &ruleset);
            conn.send_message(&answer)?;
            values.bundle = Some(Bundle {
                running,
                _present: present,
                sent: answer,
                pending: None,
                paced: None,
            });
        }
        Ok(values)
    }

    /// The version of the values sent (what heartbeats say).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// How many `values` and `changed` messages this connection was sent
    /// (a change that sent none left the page's values as they were).
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// After a change of its environment: sends what changed. The next
    /// change re-evaluates only the flags it can alter; anything else (a
    /// reload, a gap, a lagging broadcast) re-evaluates every flag.
    pub fn changed(&mut self, conn: &mut Connection, change: Result<Arc<Applied>, RecvError>) -> Result<(), Close> {
        let ruleset = match change {
            Ok(applied) if *applied.environment == *self.environment && applied.version > self.version => {
                if applied.version == self.version + 1 && !applied.reloaded && applied.change.is_some() {
                    return self.send_affected(conn, &applied);
                }
                applied.ruleset.clone()
            }
            Ok(_) => return Ok(()),
            // Values are state, not a log: skipping ahead to the latest is safe.
            Err(RecvError::Lagged(_)) => match conn.state.live.get(&self.environment) {
                Some(ruleset) => ruleset,
                None => return Ok(()),
            },
            Err(RecvError::Closed) => return Err(shutting_down()),
        };
        self.version = ruleset.version();
        self.send_values(conn, &ruleset, false)
    }

    /// `identify`: a new context gets a full `values`.
    pub fn identify(&mut self, conn: &mut Connection, ctx: Context) -> Result<(), Close> {
        conn.state.learned.record(&self.environment, &ctx);
        self.ctx = ctx;
        let ruleset = conn.state.live.get(&self.environment).ok_or_else(not_loaded)?;
        self.version = ruleset.version();
        self.sent.fill(0);
        self.send_values(conn, &ruleset, true)
    }

    /// Before the loop waits: a changed bundle answer. `current` goes out
    /// at once, reload notices wait for the pacer, whose turn is returned
    /// for the loop to wait on.
    pub fn bundle_notice(&mut self, conn: &mut Connection) -> Result<Option<&mut Paced>, Close> {
        let Some(bundle) = &mut self.bundle else {
            return Ok(None);
        };
        if let Some(ruleset) = conn.state.live.get(&self.environment) {
            let (status, answer) = bundle_message(&conn.state, &self.environment, &bundle.running, &self.ctx, &ruleset);
            if answer != bundle.sent && Some(&answer) != bundle.pending.as_ref() {
                if status == Status::Current {
                    conn.send_message(&answer)?;
                    bundle.sent = answer;
                    bundle.pending = None;
                    bundle.paced = None;
                } else {
                    if bundle.paced.is_none() {
                        let app = &bundle.running.app;
                        let rate = conn
                            .state
                            .live
                            .bundle(&self.environment, app)
                            .map_or(50, |c| c.reload.rate_per_second);
                        bundle.paced = Some(conn.state.pacers.wait(&self.environment, app, rate));
                    }
                    bundle.pending = Some(answer);
                }
            }
        }
        Ok(bundle.paced.as_mut())
    }

    /// The pacer's turn came: the waiting reload notice goes out.
    pub fn paced(&mut self, conn: &mut Connection) -> Result<(), Close> {
        let Some(bundle) = &mut self.bundle else {
            return Ok(());
        };
        bundle.paced = None;
        if let Some(answer) = bundle.pending.take() {
            metrics::counter!("daylight_reload_notices_total").increment(1);
            conn.send_message(&answer)?;
            bundle.sent = answer;
        }
        Ok(())
    }

    /// Moves `sent` to the layout of `flags` (when flags were added or
    /// removed, or stopped being `client_side`); returns the keys sent
    /// before that `flags` no longer has.
    fn follow(&mut self, flags: &Arc<ClientFlags>) -> Vec<String> {
        let mut removed = Vec::new();
        if !flags.same_layout(&self.flags) || self.sent.len() != flags.len() {
            let mut sent = vec![0; flags.len()].into_boxed_slice();
            for (key, &fingerprint) in self.flags.keys.iter().zip(self.sent.iter()) {
                match flags.position(key) {
                    Some(i) => sent[i] = fingerprint,
                    None if fingerprint != 0 => removed.push(key.to_string()),
                    None => {}
                }
            }
            self.sent = sent;
        }
        self.flags = flags.clone();
        removed
    }

    /// The next change: evaluates the flags it can alter (the same for
    /// every connection, worked out once) and sends those whose result
    /// differs, in a message serialised once per distinct result.
    fn send_affected(&mut self, conn: &mut Connection, applied: &Arc<Applied>) -> Result<(), Close> {
        let shared = change_shared(applied);
        let removed = self.follow(&shared.flags);
        let ruleset = &applied.ruleset;
        let mut results = Vec::new();
        for &position in shared.affected.iter() {
            let p = position as usize;
            let detail = ruleset.evaluate(&shared.flags.keys[p], &self.ctx);
            let fingerprint = shared.flags.fingerprint(p, &detail);
            if self.sent[p] != fingerprint {
                self.sent[p] = fingerprint;
                results.push((position, detail));
            }
        }
        evaluations().increment(shared.affected.len() as u64);
        self.version = applied.version;
        if results.is_empty() && removed.is_empty() {
            Ok(())
        } else if removed.is_empty() {
            self.messages += 1;
            conn.send(shared.message(applied.version, &results))
        } else {
            self.messages += 1;
            conn.send(changed_message(&shared.flags, applied.version, &results, removed))
        }
    }

    /// Evaluates every `client_side` flag; sends all (`full`, as `values`)
    /// or only those that differ from what was sent before (`changed`,
    /// nothing when nothing did).
    fn send_values(&mut self, conn: &mut Connection, ruleset: &Arc<Ruleset>, full: bool) -> Result<(), Close> {
        let removed = self.follow(&client_flags(ruleset));
        let flags = self.flags.clone();
        let mut results = BTreeMap::new();
        for (p, key) in flags.keys.iter().enumerate() {
            let detail = ruleset.evaluate(key, &self.ctx);
            let fingerprint = flags.fingerprint(p, &detail);
            if full || self.sent[p] != fingerprint {
                results.insert(key.to_string(), flag_value(&detail));
                self.sent[p] = fingerprint;
            }
        }
        evaluations().increment(flags.len() as u64);
        let version = ruleset.version();
        if full {
            self.messages += 1;
            conn.send_message(&ServerMessage::Values {
                version,
                flags: results,
            })
        } else if !results.is_empty() || !removed.is_empty() {
            self.messages += 1;
            conn.send_message(&ServerMessage::Changed {
                version,
                flags: results,
                removed,
            })
        } else {
            Ok(())
        }
    }
}

/// `daylight_evaluations_total{api="stream"}`, registered once (the macro
/// looks the counter up on every call).
fn evaluations() -> &'static metrics::Counter {
    static COUNTER: std::sync::OnceLock<metrics::Counter> = std::sync::OnceLock::new();
    COUNTER.get_or_init(|| metrics::counter!("daylight_evaluations_total", "api" => "stream"))
}

/// One flag's entry in `values` / `changed`: `value`, `variation` and
/// `reason`. A client key is public: a failed prerequisite's key is left
/// out of the reason (it may name a server-only flag), as OFREP does.
pub fn flag_value(detail: &Detail<'_>) -> Value {
    let mut reason = serde_json::to_value(detail.reason).unwrap_or(Value::Null);
    if matches!(detail.reason, Reason::PrerequisiteFailed { .. })
        && disclosed_prerequisite(&detail.reason, KeyKind::Client).is_none()
    {
        if let Some(reason) = reason.as_object_mut() {
            reason.remove("prerequisite_key");
        }
    }
    let mut entry = Map::new();
    entry.insert("reason".into(), reason);
    entry.insert("value".into(), detail.value.cloned().unwrap_or(Value::Null));
    entry.insert("variation".into(), detail.variation.into());
    Value::Object(entry)
}

/// The `bundle` message for a page running `running` with context `ctx`,
/// and its status.
fn bundle_message(
    state: &AppState,
    environment: &str,
    running: &RunningBundle,
    ctx: &Context,
    ruleset: &Ruleset,
) -> (Status, ServerMessage) {
    let config = state.live.bundle(environment, &running.app).unwrap_or_default();
    let target = config.target(&running.app, ctx, Some(ruleset));
    let status = config.status(&running.version, target);
    let mut reload = Map::new();
    reload.insert("jitter_ms".into(), config.reload.jitter_ms.into());
    reload.insert("soft".into(), config.reload.soft.clone().into());
    let message = ServerMessage::Bundle {
        app: running.app.clone(),
        running: Some(running.version.clone()),
        status: status.as_str().to_owned(),
        target: target.map(str::to_owned),
        reload: Some(Value::Object(reload)),
    };
    (status, message)
}
