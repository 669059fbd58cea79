//! `stream`: sets up a flag and a key through the admin API, spawns worker
//! processes that open the connections (one process holds at most ~19,990
//! sockets here), measures connect time and the server's memory per idle
//! connection, then makes K changes and reports how long each took to reach
//! every connection.

mod lines;
mod setup;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::util::{cpu_ms, loopback_addr, median, mono_ns, rss_kib, source_ips};

use lines::{parse_line, r1, stats, Line};
use setup::{http_client, setup, trim_base, Api};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Server,
    Client,
}

#[derive(Debug, Clone, clap::Args)]
pub struct StreamArgs {
    /// Node A: the admin API (changes are written here) and a stream endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Admin token (not needed with --bare).
    #[arg(long, env = "DAYLIGHT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Connections to open in all.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=120_000))]
    pub connections: u32,
    /// Changes to make (toggles of the flag, or broadcasts with --bare).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub changes: u32,
    /// `server`: server-key SDKs (patches); `client`: client-key SDKs with a
    /// distinct context each (`changed` with evaluated values).
    #[arg(long, value_enum, default_value_t = Kind::Server)]
    pub kind: Kind,
    /// Flag to toggle (created if missing; client_side in client mode).
    /// Default: bench-flag (server), bench-client-flag (client).
    #[arg(long)]
    pub flag: Option<String>,
    #[arg(long, default_value = "production")]
    pub env: String,
    /// Also create this many other flags (client_side in client mode), each
    /// turned on, before connecting: a client-key stream re-evaluates every
    /// client_side flag for its context on each change.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=500))]
    pub extra_flags: u32,
    /// An existing SDK key of the right kind instead of creating one.
    #[arg(long, hide_env_values = true)]
    pub key: Option<String>,
    /// Connections send receipts (`applied`), as the SDKs do; the report then
    /// sets the server's receipt of each change beside what the tool saw.
    #[arg(long)]
    pub receipts: bool,
    /// Further nodes' URLs; connections go round-robin over --url and these.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Client source addresses (spreads the 4-tuples).
    #[arg(long, default_value = "127.0.0.2-127.0.0.9")]
    pub source_ips: String,
    /// Server process(es) whose RSS and CPU time to read (repeat for several).
    #[arg(long)]
    pub server_pid: Vec<u32>,
    /// Worker processes (default: one per 18,000 connections).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub processes: Option<u32>,
    /// Target `bare-server`(s) instead of Daylight: changes are `POST /broadcast`.
    #[arg(long)]
    pub bare: bool,
    /// Pause after each change has reached every connection (ms).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub interval_ms: u64,
    /// Give up waiting for one change after this long (ms).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=120_000))]
    pub change_timeout_ms: u64,
    /// Connects in flight per worker process.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub connect_concurrency: u64,
    /// Client tasks per worker process.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub tasks: u64,
    /// SO_RCVBUF/SO_SNDBUF of client sockets (0: kernel default).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_048_576))]
    pub sock_buf: u64,
    /// Wait this long after every connection is synced before reading the
    /// idle RSS (ms).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub settle_ms: u64,
    /// Hard bound on the whole run (workers are killed when it is reached).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub max_seconds: u64,
    /// A label copied into the output.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Machine-readable output (one JSON document on stdout).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StreamArgs) -> i32 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let max = Duration::from_secs(args.max_seconds);
    rt.block_on(async move {
        match tokio::time::timeout(max, run_async(args)).await {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                eprintln!("daylight-bench: {e}");
                1
            }
            Err(_) => {
                eprintln!("daylight-bench: --max-seconds reached; workers killed");
                3
            }
        }
    })
}

async fn run_async(args: StreamArgs) -> Result<(), String> {
    // Loopback only, everywhere.
    let mut nodes = vec![args.url.clone()];
    nodes.extend(args.nodes.iter().filter(|n| !n.is_empty()).cloned());
    let mut ws_urls = Vec::new();
    for n in &nodes {
        let addr = loopback_addr(n)?;
        ws_urls.push(format!("ws://{addr}/sdk/v1/stream"));
    }
    source_ips(&args.source_ips)?;
    let n = args.connections as usize;
    let k = args.changes as usize;
    let processes = args.processes.map_or(n.div_ceil(18_000), |p| p as usize).max(1);
    if n.div_ceil(processes) > 19_900 {
        return Err(format!(
            "{n} connections over {processes} processes is more than 19,900 sockets per process (open-file limit); raise --processes"
        ));
    }
    let http = http_client();
    let flag = args.flag.clone().unwrap_or_else(|| match args.kind {
        Kind::Server => "bench-flag".into(),
        Kind::Client => "bench-client-flag".into(),
    });
    let api = Api {
        http: http.clone(),
        base: trim_base(&args.url),
        token: args.token.clone().unwrap_or_default(),
    };
    let (key, mut on) = if args.bare {
        (String::new(), false)
    } else {
        if args.token.is_none() {
            return Err("--token (or DAYLIGHT_TOKEN) is required unless --bare".into());
        }
        setup(&api, &args, &flag).await?
    };

    let rss_before: Vec<Option<u64>> = args.server_pid.iter().map(|p| rss_kib(*p)).collect();

    // Spawn the workers.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Line>();
    let mut children: Vec<Child> = Vec::new();
    let mut stdins: Vec<ChildStdin> = Vec::new();
    let base_share = n / processes;
    let mut offset = 0usize;
    let mut offsets: Vec<usize> = Vec::new();
    let connect_start = mono_ns();
    for p in 0..processes {
        let share = base_share + usize::from(p < n % processes);
        let mut child = Command::new(&exe)
            .arg("worker")
            .arg("--urls")
            .arg(ws_urls.join(","))
            .arg("--key")
            .arg(&key)
            .arg("--kind")
            .arg(match args.kind {
                Kind::Server => "server",
                Kind::Client => "client",
            })
            .arg("--connections")
            .arg(share.to_string())
            .arg("--offset")
            .arg(offset.to_string())
            .arg("--source-ips")
            .arg(&args.source_ips)
            .arg("--changes")
            .arg(k.to_string())
            .arg("--connect-concurrency")
            .arg(args.connect_concurrency.to_string())
            .arg("--tasks")
            .arg(args.tasks.to_string())
            .arg("--sock-buf")
            .arg(args.sock_buf.to_string())
            .args(args.receipts.then_some("--receipts"))
            .arg("--max-seconds")
            .arg(args.max_seconds.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawning a worker: {e}"))?;
        offsets.push(offset);
        offset += share;
        stdins.push(child.stdin.take().expect("stdin"));
        let stdout = child.stdout.take().expect("stdout");
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::with_capacity(1 << 20, stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(l) = parse_line(p, &line) {
                    let _ = tx.send(l);
                }
            }
            let _ = tx.send(Line::Closed(p));
        });
        children.push(child);
    }
    drop(tx);

    // Wait until every worker has its connections synced.
    let mut connect_us: Vec<f64> = Vec::with_capacity(n);
    let mut connected = 0usize;
    let mut failed = 0usize;
    let mut connect_errors: Vec<Value> = Vec::new();
    let mut ready = 0;
    while ready < processes {
        match rx.recv().await {
            Some(Line::Ready(v)) => {
                ready += 1;
                connected += v["connected"].as_u64().unwrap_or(0) as usize;
                failed += v["failed"].as_u64().unwrap_or(0) as usize;
                if let Some(e) = v["errors"].as_array() {
                    connect_errors.extend(e.iter().take(3).cloned());
                }
                if let Some(t) = v["connect_us"].as_array() {
                    connect_us.extend(t.iter().filter_map(Value::as_f64).map(|x| x / 1000.0));
                }
            }
            Some(Line::Closed(p)) => return Err(format!("worker {p} exited before it was ready")),
            Some(_) => {}
            None => return Err("workers gone".into()),
        }
    }
    let connect_total_s = (mono_ns() - connect_start) as f64 / 1e9;
    let connect = stats(connect_us);
    if !args.json {
        eprintln!(
            "connected {connected}/{n} (failed {failed}) in {connect_total_s:.2} s; connect p50 {:.1} ms p99 {:.1} ms",
            connect.p50, connect.p99
        );
        for e in &connect_errors {
            eprintln!("  connect error: {e}");
        }
    }
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    let rss_idle: Vec<Option<u64>> = args.server_pid.iter().map(|p| rss_kib(*p)).collect();
    let rss_delta: u64 = rss_before
        .iter()
        .zip(&rss_idle)
        .filter_map(|(a, b)| Some(b.as_ref()?.saturating_sub(*a.as_ref()?)))
        .sum();
    let per_conn_kib = if connected > 0 && !args.server_pid.is_empty() {
        rss_delta as f64 / connected as f64
    } else {
        f64::NAN
    };

    // The changes.
    let mut t_call = Vec::with_capacity(k);
    let mut t_resp = Vec::with_capacity(k);
    let mut cpu = Vec::with_capacity(k);
    let mut complete = Vec::with_capacity(k);
    let mut all_seen: HashMap<usize, usize> = HashMap::new();
    for c in 1..=k {
        let cpu0: Option<f64> = args.server_pid.iter().map(|p| cpu_ms(*p)).sum();
        let t0 = mono_ns();
        if args.bare {
            let calls = nodes.iter().map(|nu| {
                let http = http.clone();
                let url = format!("{}/broadcast", trim_base(nu));
                async move { http.post(url).body("").send().await.map(|r| r.status().as_u16()) }
            });
            for r in futures_util::future::join_all(calls).await {
                match r {
                    Ok(200) => {}
                    other => return Err(format!("POST /broadcast: {other:?}")),
                }
            }
        } else {
            on = !on;
            let (status, body) = api
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/flags/{flag}/environments/{}/toggle", args.env),
                    Some(json!({ "on": on, "comment": format!("daylight-bench change {c}") })),
                )
                .await?;
            if status != 200 {
                return Err(format!("toggle: HTTP {status}: {body}"));
            }
        }
        let t1 = mono_ns();
        t_call.push(t0);
        t_resp.push(t1);
        // Wait for every worker to say every connection has it.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(args.change_timeout_ms);
        let mut done = true;
        while all_seen.get(&c).copied().unwrap_or(0) < processes {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Line::All(kk))) => *all_seen.entry(kk).or_default() += 1,
                Ok(Some(Line::Closed(p))) => return Err(format!("worker {p} exited during the changes")),
                Ok(Some(_)) => {}
                Ok(None) => return Err("workers gone".into()),
                Err(_) => {
                    done = false;
                    break;
                }
            }
        }
        complete.push(done);
        let cpu1: Option<f64> = args.server_pid.iter().map(|p| cpu_ms(*p)).sum();
        cpu.push(match (cpu0, cpu1) {
            (Some(a), Some(b)) if !args.server_pid.is_empty() => b - a,
            _ => f64::NAN,
        });
        if !args.json {
            eprintln!(
                "change {c}/{k}: api {:.1} ms, {}",
                (t1 - t0) as f64 / 1e6,
                if done {
                    "all received"
                } else {
                    "TIMED OUT waiting for every connection"
                }
            );
        }
        if c < k {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
    }

    // Collect the receipt times.
    for s in &mut stdins {
        let _ = s.write_all(b"REPORT\n").await;
        let _ = s.flush().await;
    }
    let mut recv: Vec<Vec<u64>> = vec![Vec::with_capacity(connected); k];
    // Which node each receipt's connection was on (round-robin by global index).
    let mut recv_node: Vec<Vec<usize>> = vec![Vec::with_capacity(connected); k];
    let mut ends = 0;
    let mut dropped = 0u64;
    let mut server_errors = 0u64;
    while ends < processes {
        match rx.recv().await {
            Some(Line::Data(p, c, ts)) if (1..=k).contains(&c) => {
                let base = offsets.get(p).copied().unwrap_or(0);
                recv_node[c - 1].extend((0..ts.len()).map(|j| (base + j) % nodes.len()));
                recv[c - 1].extend(ts);
            }
            Some(Line::End(v)) => {
                ends += 1;
                dropped += v["dropped"].as_u64().unwrap_or(0);
                server_errors += v["errors"].as_u64().unwrap_or(0);
            }
            Some(Line::Closed(p)) => return Err(format!("worker {p} exited before reporting")),
            Some(_) => {}
            None => return Err("workers gone".into()),
        }
    }
    for s in &mut stdins {
        let _ = s.write_all(b"QUIT\n").await;
    }
    drop(stdins);
    for mut ch in children {
        if tokio::time::timeout(Duration::from_secs(10), ch.wait()).await.is_err() {
            let _ = ch.kill().await;
        }
    }

    // The server's receipts of the changes (the newest k, oldest first),
    // once every node has written its figures (once a second).
    let mut receipts: Vec<Value> = Vec::new();
    if args.receipts && !args.bare {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = api
                .call(
                    reqwest::Method::GET,
                    &format!("/api/v1/environments/{}/receipts?limit={k}", args.env),
                    None,
                )
                .await?;
            if status != 200 {
                return Err(format!("receipts: HTTP {status}: {body}"));
            }
            receipts = body["receipts"].as_array().cloned().unwrap_or_default();
            receipts.reverse();
            let settled = receipts.len() == k && receipts.iter().all(|r| r["not_yet"] == 0);
            if settled || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    // Per-change and overall statistics.
    let mut per_change = Vec::new();
    let mut all_call = Vec::new();
    let mut last_has_it = Vec::new();
    let mut p99s = Vec::new();
    let mut missing_total = 0usize;
    for c in 0..k {
        let from_call: Vec<f64> = recv[c]
            .iter()
            .filter(|&&t| t > 0)
            .map(|&t| (t as f64 - t_call[c] as f64) / 1e6)
            .collect();
        let from_resp: Vec<f64> = recv[c]
            .iter()
            .filter(|&&t| t > 0)
            .map(|&t| (t as f64 - t_resp[c] as f64) / 1e6)
            .collect();
        let missing = connected - from_call.len();
        missing_total += missing;
        all_call.extend(from_call.iter().copied());
        let a = stats(from_call);
        let b = stats(from_resp);
        last_has_it.push(a.max);
        p99s.push(a.p99);
        per_change.push(json!({
            "change": c + 1, "received": connected - missing, "missing": missing, "complete": complete[c],
            "api_ms": r1((t_resp[c] - t_call[c]) as f64 / 1e6),
            "p50_ms": r1(a.p50), "p99_ms": r1(a.p99), "max_ms": r1(a.max),
            "from_response_p50_ms": r1(b.p50), "from_response_p99_ms": r1(b.p99), "from_response_max_ms": r1(b.max),
            "server_cpu_ms": r1(cpu[c]),
            "server_receipt": receipts.get(c).map(|r| json!({
                "version": r["version"], "connected": r["connected"], "acknowledged": r["acknowledged"],
                "not_yet": r["not_yet"], "unknown": r["unknown"],
                "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "max_ms": r["max_ms"],
            })),
        }));
    }
    let overall = stats(all_call);
    // Per node: pooled latency from the API call, and the median over
    // changes of the last connection on that node to have it.
    let by_node: Vec<Value> = (0..nodes.len())
        .map(|node| {
            let mut pooled = Vec::new();
            let mut lasts = Vec::new();
            for c in 0..k {
                let lat: Vec<f64> = recv[c]
                    .iter()
                    .zip(&recv_node[c])
                    .filter(|(t, nd)| **t > 0 && **nd == node)
                    .map(|(t, _)| (*t as f64 - t_call[c] as f64) / 1e6)
                    .collect();
                lasts.push(lat.iter().copied().fold(f64::NAN, f64::max));
                pooled.extend(lat);
            }
            let st = stats(pooled);
            json!({ "node": nodes[node], "p50_ms": r1(st.p50), "p99_ms": r1(st.p99), "max_ms": r1(st.max),
                    "last_has_it_median_ms": r1(median(&lasts)) })
        })
        .collect();
    let cpu_med = median(&cpu);
    let out = json!({
        "label": args.label,
        "target": if args.bare { "bare" } else { "daylight" },
        "kind": match args.kind { Kind::Server => "server", Kind::Client => "client" },
        "nodes": nodes,
        "processes": processes,
        "connections": n, "connected": connected, "failed": failed, "connect_errors": connect_errors,
        "changes": k, "interval_ms": args.interval_ms, "extra_flags": args.extra_flags,
        "connect": { "p50_ms": r1(connect.p50), "p99_ms": r1(connect.p99), "max_ms": r1(connect.max), "total_s": r1(connect_total_s) },
        "memory": {
            "server_pids": args.server_pid, "rss_before_kib": rss_before, "rss_idle_kib": rss_idle,
            "per_idle_connection_kib": r1(per_conn_kib),
        },
        "overall": {
            "p50_ms": r1(overall.p50), "p99_ms": r1(overall.p99), "max_ms": r1(overall.max),
            "last_has_it_median_ms": r1(median(&last_has_it)),
            "last_has_it_worst_ms": r1(last_has_it.iter().copied().filter(|x| x.is_finite()).fold(f64::NAN, f64::max)),
            "p99_median_of_changes_ms": r1(median(&p99s)),
            "missing": missing_total, "dropped": dropped, "server_errors": server_errors,
            "server_cpu_ms_per_change_median": r1(cpu_med),
            "server_cpu_us_per_connection_per_change": r1(cpu_med * 1000.0 / connected.max(1) as f64),
        },
        "by_node": by_node,
        "per_change": per_change,
    });
    if args.json {
        println!("{out}");
    } else {
        println!(
            "{} {} x{} ({} node(s), {} worker process(es)): connected {connected}, failed {failed}",
            out["target"],
            out["kind"],
            n,
            nodes.len(),
            processes
        );
        println!(
            "connect: p50 {} ms, p99 {} ms, all in {} s",
            out["connect"]["p50_ms"], out["connect"]["p99_ms"], out["connect"]["total_s"]
        );
        println!(
            "memory per idle connection: {} KiB (server RSS {:?} -> {:?} KiB)",
            out["memory"]["per_idle_connection_kib"], rss_before, rss_idle
        );
        println!("change  api_ms   p50_ms   p99_ms   max_ms  missing  server_cpu_ms");
        for c in &per_change {
            println!(
                "{:>6} {:>7} {:>8} {:>8} {:>8} {:>8} {:>14}",
                c["change"], c["api_ms"], c["p50_ms"], c["p99_ms"], c["max_ms"], c["missing"], c["server_cpu_ms"]
            );
        }
        if args.receipts {
            // The server's figures run from the commit to the acknowledgement;
            // the tool's from the API call to the change's arrival.
            println!("change  received  | server: acknowledged/connected  p50_ms  p99_ms  max_ms");
            for c in &per_change {
                let r = &c["server_receipt"];
                println!(
                    "{:>6} {:>9}  | {:>14}/{:<10} {:>7} {:>7} {:>7}",
                    c["change"],
                    c["received"],
                    r["acknowledged"],
                    r["connected"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r["max_ms"]
                );
            }
        }
        println!(
            "overall: p50 {} ms, p99 {} ms, max {} ms; last connection has it (median of changes) {} ms; server CPU per change {} ms ({} us per connection)",
            out["overall"]["p50_ms"],
            out["overall"]["p99_ms"],
            out["overall"]["max_ms"],
            out["overall"]["last_has_it_median_ms"],
            out["overall"]["server_cpu_ms_per_change_median"],
            out["overall"]["server_cpu_us_per_connection_per_change"]
        );
    }
    Ok(())
}
