//! `daylight-bench`: load tests for Daylight's WebSocket stream
//! (`docs/protocol.md`), loopback only.
//!
//! - `stream`: N connections (server or client keys), K flag changes;
//!   propagation latency per connection, connect time, server memory per
//!   idle connection and server CPU per change.
//! - `bare-server`: a minimal broadcast server, the floor to compare with
//!   (`stream --bare`).
//! - `bare-http`: an HTTP server that answers fixed bytes, the floor for
//!   small OFREP requests (`bench/ofrep/run.sh`, FLOOR=).
//!
//! See `docs/benchmarks.md`, section "Stream propagation".

mod bare;
mod bare_http;
mod stream;
mod util;
mod worker;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "daylight-bench",
    version,
    about = "Load tests for Daylight's WebSocket stream (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open N stream connections, make K changes, report propagation latency.
    Stream(stream::StreamArgs),
    /// A minimal tokio-tungstenite broadcast server: the floor.
    BareServer(bare::BareArgs),
    /// A minimal HTTP server answering fixed OFREP bytes: the request floor.
    BareHttp(bare_http::BareHttpArgs),
    /// Internal: one load-generating process (spawned by `stream`).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
}

fn main() {
    let code = match Cli::parse().cmd {
        Cmd::Stream(a) => stream::run(a),
        Cmd::BareServer(a) => bare::run(a),
        Cmd::BareHttp(a) => bare_http::run(a),
        Cmd::Worker(a) => worker::run(a),
    };
    std::process::exit(code);
}
