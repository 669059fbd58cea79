//! The SDKs under test: Rust clients in this process and Node clients in a
//! child process (`clients.mjs`), each evaluating continuously from memory
//! and counting failed evaluations, and each able to say what it serves.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use daylight::client::Client;
use daylight::{Context, Reason};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// How often each SDK evaluates every flag it holds.
const EVALUATE_EVERY: Duration = Duration::from_millis(50);

/// What one SDK serves: its version, its flag keys (sorted) and, per flag of
/// the expected set and per context, `[variation, value]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub version: Option<u64>,
    pub keys: Vec<String>,
    pub values: Vec<Vec<(Option<u64>, Value)>>,
}

/// Evaluates `flags` × `contexts` on `rules` (the expected answers come from
/// the database's ruleset through the same function).
pub fn served_by(rules: Option<&daylight::Ruleset>, flags: &[String], contexts: &[Context]) -> Served {
    let Some(rules) = rules else {
        return Served {
            version: None,
            keys: Vec::new(),
            values: Vec::new(),
        };
    };
    let mut keys: Vec<String> = rules.flag_keys().map(str::to_owned).collect();
    keys.sort();
    let values = flags
        .iter()
        .map(|flag| {
            contexts
                .iter()
                .map(|ctx| {
                    let d = rules.evaluate(flag, ctx);
                    (
                        d.variation.map(|v| v as u64),
                        normalise(d.value.cloned().unwrap_or(Value::Null)),
                    )
                })
                .collect()
        })
        .collect();
    Served {
        version: Some(rules.version()),
        keys,
        values,
    }
}

/// Numbers compare as f64 (JavaScript has no integers).
fn normalise(v: Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.into_iter().map(normalise).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, normalise(v))).collect()),
        other => other,
    }
}

#[derive(Default)]
pub struct EvalCounters {
    pub evaluations: AtomicU64,
    pub failures: AtomicU64,
    /// Times an SDK's data went back to an older version than it had served.
    pub regressions: AtomicU64,
    pub samples: Mutex<Vec<String>>,
}

impl EvalCounters {
    fn fail(&self, what: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.sample(what);
    }

    fn sample(&self, what: String) {
        let mut samples = self.samples.lock().unwrap();
        if samples.len() < 20 {
            samples.push(what);
        }
    }
}

pub struct RustClients {
    pub clients: Vec<Client>,
    pub counters: Arc<EvalCounters>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RustClients {
    /// Starts `count` clients spread over `urls` and waits for their data.
    pub async fn start(
        urls: &[String],
        key: &str,
        count: usize,
        contexts: Arc<Vec<Context>>,
    ) -> Result<RustClients, String> {
        let mut clients = Vec::new();
        for i in 0..count {
            let client = Client::builder(urls[i % urls.len()].clone(), key)
                .connect_timeout(Duration::from_secs(3))
                .backoff(Duration::from_millis(200), Duration::from_secs(3))
                .init_timeout(Duration::from_secs(30))
                .build()
                .await
                .map_err(|e| format!("a Rust client: {e}"))?;
            clients.push(client);
        }
        for (i, c) in clients.iter().enumerate() {
            if !c.is_ready() {
                return Err(format!("Rust client {i} has no data after 30 s"));
            }
        }
        let counters = Arc::new(EvalCounters::default());
        let tasks = clients
            .iter()
            .enumerate()
            .map(|(i, client)| tokio::spawn(evaluate_forever(i, client.clone(), contexts.clone(), counters.clone())))
            .collect();
        Ok(RustClients {
            clients,
            counters,
            tasks,
        })
    }

    pub fn served(&self, flags: &[String], contexts: &[Context]) -> Vec<Served> {
        self.clients
            .iter()
            .map(|c| served_by(c.ruleset().as_deref(), flags, contexts))
            .collect()
    }

    pub async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        for c in &self.clients {
            c.close().await;
        }
    }
}

/// Evaluates every flag the client holds through its public getter, one
/// context per round. A flag may vanish between listing and evaluating (a
/// patch removed it); only then is `FLAG_NOT_FOUND` not a failure.
async fn evaluate_forever(index: usize, client: Client, contexts: Arc<Vec<Context>>, counters: Arc<EvalCounters>) {
    let mut tick = tokio::time::interval(EVALUATE_EVERY);
    let mut round = 0usize;
    let mut highest = 0;
    loop {
        tick.tick().await;
        round += 1;
        let ctx = &contexts[round % contexts.len()];
        let Some(listed) = client.ruleset() else {
            counters.fail(format!("client {index}: no data after it was ready"));
            continue;
        };
        if listed.version() < highest {
            counters.regressions.fetch_add(1, Ordering::Relaxed);
            counters.sample(format!(
                "client {index}: back from version {highest} to {}",
                listed.version()
            ));
        }
        highest = highest.max(listed.version());
        for key in listed.flag_keys() {
            let detail = client.json_variation_detail(key, ctx, Value::Null);
            counters.evaluations.fetch_add(1, Ordering::Relaxed);
            if let daylight::client::OwnedReason::Error { error_kind } = &detail.reason {
                let vanished = *error_kind == daylight::ErrorKind::FlagNotFound
                    && client.ruleset().is_some_and(|now| !now.flag_keys().any(|k| k == key));
                if !vanished {
                    counters.fail(format!("client {index}: {key}: {error_kind:?}"));
                }
            }
        }
        // The evaluator's own borrowed path, on the same data.
        for key in listed.flag_keys() {
            if let Reason::Error { error_kind } = listed.evaluate(key, ctx).reason {
                counters.fail(format!("client {index}: {key} (ruleset): {error_kind:?}"));
            }
        }
    }
}

/// The Node clients: one `node clients.mjs` process.
pub struct NodeClients {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

/// What the Node process reported.
pub struct NodeReport {
    pub served: Vec<Served>,
    pub evaluations: u64,
    pub failures: u64,
    pub regressions: u64,
    pub sdk_errors: u64,
    pub failure_samples: Value,
    pub connections: u64,
}

impl NodeClients {
    pub async fn start(
        script: &Path,
        urls: &[String],
        key: &str,
        count: usize,
        contexts: &Value,
    ) -> Result<NodeClients, String> {
        let config = json!({ "urls": urls, "key": key, "count": count, "contexts": contexts });
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .arg(config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start node: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut node = NodeClients { child, stdin, lines };
        let ready = node.next_message(Duration::from_secs(60)).await?;
        if ready["type"] != "ready" || ready["ready"] != json!(count) {
            return Err(format!("Node clients did not all get data: {ready}"));
        }
        Ok(node)
    }

    async fn next_message(&mut self, within: Duration) -> Result<Value, String> {
        match tokio::time::timeout(within, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => serde_json::from_str(&line).map_err(|e| format!("Node said {line:?}: {e}")),
            Ok(Ok(None)) => Err(format!("the Node clients exited: {:?}", self.child.try_wait())),
            Ok(Err(e)) => Err(format!("reading the Node clients: {e}")),
            Err(_) => Err("the Node clients did not answer in time".into()),
        }
    }

    async fn command(&mut self, cmd: Value) -> Result<Value, String> {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("writing to the Node clients: {e}"))?;
        self.next_message(Duration::from_secs(30)).await
    }

    pub async fn report(&mut self, flags: &[String], contexts: &Value) -> Result<NodeReport, String> {
        let r = self
            .command(json!({ "cmd": "report", "flags": flags, "contexts": contexts }))
            .await?;
        let clients = r["clients"]
            .as_array()
            .ok_or_else(|| format!("a report without clients: {r}"))?;
        let served = clients
            .iter()
            .map(|c| Served {
                version: c["version"].as_u64(),
                keys: serde_json::from_value(c["keys"].clone()).unwrap_or_default(),
                values: c["values"]
                    .as_array()
                    .map(|flags| {
                        flags
                            .iter()
                            .map(|per_ctx| {
                                per_ctx
                                    .as_array()
                                    .map(|pairs| {
                                        pairs.iter().map(|p| (p[0].as_u64(), normalise(p[1].clone()))).collect()
                                    })
                                    .unwrap_or_default()
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let connections = clients
            .iter()
            .map(|c| c["diagnostics"]["connections"].as_u64().unwrap_or(0))
            .sum();
        Ok(NodeReport {
            served,
            evaluations: r["evaluations"].as_u64().unwrap_or(0),
            failures: r["failures"].as_u64().unwrap_or(0),
            regressions: r["regressions"].as_u64().unwrap_or(0),
            sdk_errors: r["sdkErrors"].as_u64().unwrap_or(0),
            failure_samples: r["failureSamples"].clone(),
            connections,
        })
    }

    pub async fn close(mut self) {
        let _ = self.command(json!({ "cmd": "close" })).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}
