//! The chaos test: three `daylight` nodes on PostgreSQL with a throwaway
//! Redis, 50 SDKs (Rust and Node) behind a proxy, 1,000 random flag and
//! segment changes through random nodes while nodes are killed and
//! restarted, Redis is stopped and started, and SDK connections are cut or
//! stalled. After each round of changes every fault is healed and every SDK
//! must serve exactly what the database holds within a bounded wait; no
//! evaluation may fail at any time.
//!
//! Run by `scripts/test.sh` (after the Node SDK is built):
//!
//!     cargo test -p daylight-chaos -- --ignored --nocapture
//!
//! Knobs: `CHAOS_SEED` (replay a run's random choices, not its timing), `CHAOS_CHANGES`
//! (1000), `CHAOS_ROUNDS` (4), `CHAOS_SDKS` (50, half Rust, half Node).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use daylight::{Context, Ruleset};
use daylight_chaos::changes::{self, Writer};
use daylight_chaos::cluster::{Database, Node, Redis};
use daylight_chaos::proxy::Proxy;
use daylight_chaos::sdks::{served_by, NodeClients, RustClients, Served};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[path = "../../support/skip.rs"]
mod skip;

const ADMIN: &str = "dl_admin_chaos_bootstrap_token_0123";
const WRITERS: usize = 3;
/// Every SDK must match the database this long after the faults are healed.
const CONVERGENCE_LIMIT: Duration = Duration::from_secs(60);
/// Server heartbeats: SDKs declare a silent connection dead after three.
const HEARTBEAT_MS: &str = "1000";
/// The nodes' change-log polling while Redis is down (ten times slower while up).
const POLL_MS: &str = "5000";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether PostgreSQL, redis-server, psql, node and the built Node SDK are
/// all there; a [`skip::skip`] when not (a failure in CI).
fn services_available() -> Option<String> {
    let mut missing = Vec::new();
    let pg = std::env::var("DAYLIGHT_TEST_POSTGRES_URL").ok();
    if pg.is_none() {
        missing.push("DAYLIGHT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test)".to_owned());
    }
    for tool in ["psql", "redis-server", "node"] {
        let found = std::process::Command::new(tool)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok();
        if !found {
            missing.push(format!("`{tool}` on PATH"));
        }
    }
    if !workspace().join("sdk-js/dist/node/index.js").exists() {
        missing.push("the built Node SDK (npm --prefix sdk-js ci && npm --prefix sdk-js run build)".to_owned());
    }
    if missing.is_empty() {
        return pg;
    }
    skip::skip(&format!("the chaos test needs {}", missing.join(", ")));
    None
}

/// `$DAYLIGHT_BIN`, else the workspace's debug build (built now, so it is
/// never stale).
fn daylight_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("DAYLIGHT_BIN") {
        return PathBuf::from(bin);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--locked", "-p", "daylight-server", "--bin", "daylight"])
        .current_dir(workspace())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p daylight-server failed");
    // The test binary is target/<profile>/deps/chaos-…; the server sits in
    // target/debug.
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe.ancestors().nth(3).expect("a target directory").to_owned();
    target.join("debug").join("daylight")
}

/// The processes the chaos thread kills and restarts.
struct Cluster {
    nodes: Vec<Node>,
    redis: Redis,
}

#[derive(Default, Debug, Clone)]
struct Faults {
    kills: u64,
    interrupts: u64,
    /// SIGINT that did not stop a node within 10 s.
    hung_interrupts: u64,
    redis_restarts: u64,
    cuts: u64,
    stalls: u64,
    /// Nodes that would not start again (with the reason).
    start_failures: Vec<String>,
}

/// Kills and restarts nodes, stops and starts Redis, cuts and stalls SDK
/// connections, until `stop`; then heals everything and returns.
fn chaos(mut cluster: Cluster, proxy: Arc<Proxy>, seed: u64, stop: Arc<AtomicBool>) -> (Cluster, Faults) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut faults = Faults::default();
    let mut node_back: Vec<Option<Instant>> = vec![None; cluster.nodes.len()];
    let mut redis_back: Option<Instant> = None;
    let mut next = Instant::now() + Duration::from_millis(rng.random_range(300..1500));
    let start = |node: &mut Node, faults: &mut Faults| {
        if let Err(e) = node.start() {
            faults.start_failures.push(e);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        for (i, back) in node_back.iter_mut().enumerate() {
            if back.is_some_and(|t| t <= now) {
                *back = None;
                start(&mut cluster.nodes[i], &mut faults);
            }
        }
        if redis_back.is_some_and(|t| t <= now) {
            redis_back = None;
            if let Err(e) = cluster.redis.start() {
                faults.start_failures.push(e);
            }
        }
        if now < next {
            continue;
        }
        next = now + Duration::from_millis(rng.random_range(500..2000));
        let up: Vec<usize> = (0..cluster.nodes.len())
            .filter(|i| cluster.nodes[*i].is_running())
            .collect();
        match rng.random_range(0..100) {
            // At most two nodes down at once: writes always find a node.
            0..=29 if up.len() > 1 => {
                let i = up[rng.random_range(0..up.len())];
                cluster.nodes[i].kill();
                faults.kills += 1;
                node_back[i] = Some(now + Duration::from_millis(rng.random_range(300..4000)));
            }
            30..=39 if up.len() > 1 => {
                let i = up[rng.random_range(0..up.len())];
                if !cluster.nodes[i].interrupt(Duration::from_secs(10)) {
                    faults.hung_interrupts += 1;
                }
                faults.interrupts += 1;
                node_back[i] = Some(Instant::now() + Duration::from_millis(rng.random_range(300..3000)));
            }
            40..=59 if cluster.redis.is_running() => {
                cluster.redis.stop();
                faults.redis_restarts += 1;
                redis_back = Some(now + Duration::from_millis(rng.random_range(500..6000)));
            }
            60..=84 => faults.cuts += proxy.cut(rng.random_range(0.1..0.6)) as u64,
            85..=99 => faults.stalls += proxy.stall(rng.random_range(1..6)) as u64,
            _ => {}
        }
    }
    // Heal: every node and Redis up.
    for node in cluster.nodes.iter_mut().filter(|n| !n.is_running()) {
        start(node, &mut faults);
    }
    if !cluster.redis.is_running() {
        if let Err(e) = cluster.redis.start() {
            faults.start_failures.push(e);
        }
    }
    (cluster, faults)
}

/// References the API refuses to leave behind: `in_segment` on a segment
/// that does not exist, a prerequisite on a flag that was deleted (an
/// archived one stays in the database and may still be named).
fn dangling_references(truth: &daylight::RulesetDocument, db: &Database) -> Vec<String> {
    let archived = db
        .query("SELECT key FROM flags WHERE archived <> 0")
        .expect("read archived flags");
    let archived: Vec<&str> = archived.lines().collect();
    let mut dangling = Vec::new();
    for (key, flag) in &truth.flags {
        for pre in &flag.config.prerequisites {
            if !truth.flags.contains_key(&pre.flag) && !archived.contains(&pre.flag.as_str()) {
                dangling.push(format!("{key} needs the deleted flag {}", pre.flag));
            }
        }
        for clause in flag.config.rules.iter().flat_map(|r| r.clauses.iter()) {
            if clause.op == daylight::model::Op::InSegment {
                for segment in clause.values.iter().filter_map(|v| v.as_str()) {
                    if !truth.segments.contains_key(segment) {
                        dangling.push(format!("{key} uses the deleted segment {segment}"));
                    }
                }
            }
        }
    }
    dangling
}

/// Describes the first SDK that differs from `expected`.
fn first_difference(who: &str, served: &[Served], expected: &Served) -> Option<String> {
    served.iter().enumerate().find(|(_, s)| *s != expected).map(|(i, s)| {
        let detail = if s.version != expected.version {
            format!("version {:?}, database {:?}", s.version, expected.version)
        } else if s.keys != expected.keys {
            format!("flags {:?}, database {:?}", s.keys, expected.keys)
        } else {
            "same version and flags, different values".to_owned()
        };
        format!("{who} SDK {i}: {detail}")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the chaos test runs from scripts/test.sh once the Node SDK is built: cargo test -p daylight-chaos -- --ignored"]
async fn every_sdk_converges_on_the_database_through_node_kills_redis_restarts_and_cut_connections() {
    let Some(pg) = services_available() else { return };
    let seed: u64 = env_or("CHAOS_SEED", rand::random());
    let total_changes: u64 = env_or("CHAOS_CHANGES", 1000);
    let rounds: u64 = env_or("CHAOS_ROUNDS", 4);
    let sdks: usize = env_or("CHAOS_SDKS", 50);
    eprintln!("chaos: seed {seed} (CHAOS_SEED={seed} replays the random choices, not their timing), {total_changes} changes, {rounds} rounds, {sdks} SDKs");
    let mut rng = StdRng::seed_from_u64(seed);

    let bin = daylight_binary();
    let logs = std::env::temp_dir().join(format!("daylight-chaos-{seed}"));
    std::fs::create_dir_all(&logs).expect("a log directory");
    let db = Database::create(&pg).expect("a fresh PostgreSQL database");
    let mut redis = Redis::new();
    redis.start().expect("a throwaway redis-server");
    let env = vec![
        ("DAYLIGHT_DATABASE_URL".to_owned(), db.url.clone()),
        ("DAYLIGHT_REDIS_URL".to_owned(), redis.url()),
        ("DAYLIGHT_REDIS_CHANNEL".to_owned(), "daylight:chaos".to_owned()),
        ("DAYLIGHT_ADMIN_TOKEN".to_owned(), ADMIN.to_owned()),
        ("DAYLIGHT_HEARTBEAT_MS".to_owned(), HEARTBEAT_MS.to_owned()),
        // Slow polling: while Redis is down nodes stay behind each other
        // for seconds, and writes through a lagging node are the norm.
        ("DAYLIGHT_POLL_MS".to_owned(), POLL_MS.to_owned()),
        ("RUST_LOG".to_owned(), "warn".to_owned()),
    ];
    let mut nodes: Vec<Node> = (0..3).map(|i| Node::new(i, &bin, env.clone(), &logs)).collect();
    // One at a time: the first applies the migrations.
    for node in &mut nodes {
        node.start().expect("a node starts");
    }
    eprintln!(
        "chaos: nodes on {:?}, Redis on {}, database {}, logs in {}",
        nodes.iter().map(|n| n.port).collect::<Vec<_>>(),
        redis.port,
        db.name,
        logs.display()
    );

    let writer = Writer::new(nodes.iter().map(Node::url).collect(), ADMIN);
    for _ in 0..12 {
        writer.random_change(&mut rng).await;
    }
    let key = writer.server_key(&mut rng).await.expect("a server key");
    let proxy = Arc::new(Proxy::start(nodes.iter().map(|n| n.port).collect()).await);
    let urls: Vec<String> = proxy.fronts.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();

    let context_docs = changes::contexts();
    let contexts: Arc<Vec<Context>> = Arc::new(
        context_docs
            .iter()
            .map(|c| Context::from_json(c).expect("a context"))
            .collect(),
    );
    let contexts_json = serde_json::Value::Array(context_docs);
    let n_rust = sdks / 2;
    let rust = RustClients::start(&urls, &key, n_rust, contexts.clone())
        .await
        .expect("Rust SDKs");
    let script = workspace().join("tests/chaos/clients.mjs");
    let mut node_sdks = NodeClients::start(&script, &urls, &key, sdks - n_rust, &contexts_json)
        .await
        .expect("Node SDKs");
    let initial_connections =
        proxy.stats.accepted.load(Ordering::Relaxed) - proxy.stats.refused.load(Ordering::Relaxed);
    eprintln!("chaos: {n_rust} Rust and {} Node SDKs connected", sdks - n_rust);

    let mut cluster = Cluster { nodes, redis };
    let mut all_faults = Faults::default();
    let mut convergence = Vec::new();
    let started = Instant::now();
    for round in 1..=rounds {
        let target = total_changes * round / rounds;
        let stop = Arc::new(AtomicBool::new(false));
        let chaos_thread = {
            let (proxy, stop, seed) = (proxy.clone(), stop.clone(), rng.random());
            std::thread::spawn(move || chaos(cluster, proxy, seed, stop))
        };
        // Writers: random changes through random nodes, paced so the
        // faults land between them.
        let mut tasks = Vec::new();
        for _ in 0..WRITERS {
            let writer = writer.clone();
            let mut rng = StdRng::seed_from_u64(rng.random());
            tasks.push(tokio::spawn(async move {
                while writer.counts.applied.load(Ordering::Relaxed) < target {
                    writer.random_change(&mut rng).await;
                    tokio::time::sleep(Duration::from_millis(rng.random_range(50..400))).await;
                }
            }));
        }
        for t in tasks {
            t.await.expect("a writer");
        }
        let writes_done = Instant::now();
        stop.store(true, Ordering::Relaxed);
        let (healed, faults) = tokio::task::spawn_blocking(move || chaos_thread.join().expect("the chaos thread"))
            .await
            .expect("join");
        cluster = healed;
        assert!(
            faults.start_failures.is_empty(),
            "nodes failed to start: {:?}",
            faults.start_failures
        );
        let healed_at = Instant::now();

        // Convergence: every SDK serves what the database holds.
        let deadline = healed_at + CONVERGENCE_LIMIT;
        let mut last_difference;
        loop {
            let truth = writer.truth(&mut rng, &key).await.expect("the database's ruleset");
            let db_version = db
                .query(&format!(
                    "SELECT version FROM environments WHERE key = '{}'",
                    changes::ENV
                ))
                .expect("read the version");
            assert_eq!(
                db_version,
                truth.version.to_string(),
                "/sdk/v1/ruleset is not the database's state"
            );
            let expected_rules = Ruleset::compile(&truth).expect("the database's rules compile");
            // What the API promises (a cycle would not have compiled).
            let dangling = dangling_references(&truth, &db);
            assert!(
                dangling.is_empty(),
                "round {round}: the database holds dangling references: {dangling:?}"
            );
            let mut flags: Vec<String> = truth.flags.keys().cloned().collect();
            flags.sort();
            let expected = served_by(Some(&expected_rules), &flags, &contexts);
            let rust_served = rust.served(&flags, &contexts);
            let node_report = node_sdks.report(&flags, &contexts_json).await.expect("a Node report");
            last_difference = first_difference("Rust", &rust_served, &expected)
                .or_else(|| first_difference("Node", &node_report.served, &expected));
            if last_difference.is_none() {
                let took = writes_done.elapsed();
                eprintln!(
                    "chaos: round {round}: {} changes so far, version {}, {} flags, {} segments; faults {:?}; converged {:?} after the last write ({:?} after healing)",
                    writer.counts.applied.load(Ordering::Relaxed),
                    truth.version,
                    truth.flags.len(),
                    truth.segments.len(),
                    faults,
                    took,
                    healed_at.elapsed()
                );
                convergence.push(took);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: SDKs still differ from the database {CONVERGENCE_LIMIT:?} after healing: {}; logs in {}",
                last_difference.unwrap_or_default(),
                logs.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        all_faults.kills += faults.kills;
        all_faults.interrupts += faults.interrupts;
        all_faults.hung_interrupts += faults.hung_interrupts;
        all_faults.redis_restarts += faults.redis_restarts;
        all_faults.cuts += faults.cuts;
        all_faults.stalls += faults.stalls;
    }

    let node_report = node_sdks
        .report(&[], &serde_json::json!([]))
        .await
        .expect("a Node report");
    let rust_evaluations = rust.counters.evaluations.load(Ordering::Relaxed);
    let rust_failures = rust.counters.failures.load(Ordering::Relaxed);
    let rust_regressions = rust.counters.regressions.load(Ordering::Relaxed);
    let connections = proxy.stats.accepted.load(Ordering::Relaxed) - proxy.stats.refused.load(Ordering::Relaxed);
    let counts = &writer.counts;
    eprintln!("chaos: figures (seed {seed}, {:?} in all)", started.elapsed());
    eprintln!(
        "  changes applied {} (refused {}, unanswered {})",
        counts.applied.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed)
    );
    eprintln!("  refused or failed, by reason: {:?}", counts.reasons.lock().unwrap());
    eprintln!(
        "  node kills {} (SIGKILL) + {} (SIGINT, {} of them hung), Redis restarts {}",
        all_faults.kills, all_faults.interrupts, all_faults.hung_interrupts, all_faults.redis_restarts
    );
    eprintln!(
        "  connections cut {}, stalled {}, SDK reconnects {} (Node SDK connections {})",
        all_faults.cuts,
        all_faults.stalls,
        connections - initial_connections,
        node_report.connections
    );
    eprintln!(
        "  evaluations {} Rust + {} Node, failed {} + {} (Node SDK errors logged {})",
        rust_evaluations, node_report.evaluations, rust_failures, node_report.failures, node_report.sdk_errors
    );
    eprintln!(
        "  SDK data going back to an older version: {rust_regressions} Rust + {} Node",
        node_report.regressions
    );
    eprintln!(
        "  convergence per round {:?}, max {:?}",
        convergence,
        convergence.iter().max().copied().unwrap_or_default()
    );

    assert_eq!(
        rust_failures,
        0,
        "Rust evaluations failed: {:?}",
        rust.counters.samples.lock().unwrap()
    );
    assert_eq!(
        node_report.failures, 0,
        "Node evaluations failed: {}",
        node_report.failure_samples
    );
    // docs/reliability.md: no SDK ever goes back to older data than it
    // already served.
    assert_eq!(
        rust_regressions,
        0,
        "Rust SDKs went back to older data: {:?}",
        rust.counters.samples.lock().unwrap()
    );
    assert_eq!(
        node_report.regressions, 0,
        "Node SDKs went back to older data: {}",
        node_report.failure_samples
    );
    assert_eq!(
        node_report.sdk_errors, 0,
        "the Node SDKs logged errors (unreadable snapshots or patches)"
    );
    assert_eq!(
        all_faults.hung_interrupts, 0,
        "a node did not stop on SIGINT within 10 s"
    );
    assert!(counts.applied.load(Ordering::Relaxed) >= total_changes);
    assert!(
        all_faults.kills + all_faults.interrupts > 0 && all_faults.redis_restarts > 0,
        "no faults were injected"
    );

    node_sdks.close().await;
    rust.close().await;
    drop(cluster);
    drop(db);
}
