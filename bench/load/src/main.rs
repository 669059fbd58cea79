//! `daylight-bench`: load tests for Daylight's WebSocket stream
//! (`docs/protocol.md`), loopback only.
//!
//! - `stream`: N connections (server or client keys), K flag changes;
//!   propagation latency per connection, connect time, server memory per
//!   idle connection and server CPU per change.
//! - `bare-server`: a minimal broadcast server, the floor to compare with
//!   (`stream --bare`).
//!
//! See `docs/benchmarks.md`, section "Stream propagation".

mod bare;
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
    /// Internal: one load-generating process (spawned by `stream`).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
}

fn main() {
    let code = match Cli::parse().cmd {
        Cmd::Stream(a) => stream::run(a),
        Cmd::BareServer(a) => bare::run(a),
        Cmd::Worker(a) => worker::run(a),
    };
    std::process::exit(code);
}
