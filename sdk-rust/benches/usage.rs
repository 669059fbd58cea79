//! What counting evaluations for usage reports adds to a `Client` getter:
//! ns per evaluation of the typical flag (`typical.rs`) through the ruleset
//! alone, a client that does not count (`send_usage(false)`), and a client
//! that counts (the default). Single thread, then 2 threads evaluating at
//! once (the counters are shared). Results and the command: docs/benchmarks.md.
//!
//!     cargo bench -p daylight-sdk --bench usage -- --warm-up-time 1 --measurement-time 3

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use daylight::client::Client;

#[path = "typical.rs"]
mod typical;

/// A client on the typical flag that never connects (its runtime is never
/// driven), so the numbers are the getter's alone.
fn client(runtime: &tokio::runtime::Runtime, count: bool) -> Client {
    let _guard = runtime.enter();
    Client::builder("ws://127.0.0.1:9", "dl_server_bench")
        .bootstrap(typical::document())
        .send_usage(count)
        .start()
        .expect("the client starts")
}

fn usage(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let rules = typical::ruleset();
    let silent = client(&runtime, false);
    let counting = client(&runtime, true);
    let contexts = typical::contexts();

    let mut group = c.benchmark_group("usage");
    for (path, ctx) in &contexts {
        group.bench_function(format!("ruleset/{path}"), |b| {
            b.iter(|| rules.bool_variation(black_box(typical::FLAG), black_box(ctx), false))
        });
        group.bench_function(format!("client/{path}"), |b| {
            b.iter(|| silent.bool_variation(black_box(typical::FLAG), black_box(ctx), false))
        });
        group.bench_function(format!("client_counting/{path}"), |b| {
            b.iter(|| counting.bool_variation(black_box(typical::FLAG), black_box(ctx), false))
        });
    }
    // Two threads on one client: the second one evaluates in a loop while
    // criterion measures the first.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for (name, client) in [("client", &silent), ("client_counting", &counting)] {
        stop.store(false, std::sync::atomic::Ordering::Relaxed);
        let other = client.clone();
        let flag = stop.clone();
        let ctx = contexts[3].1.clone();
        let busy = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                black_box(other.bool_variation(typical::FLAG, &ctx, false));
            }
        });
        let (path, ctx) = &contexts[3];
        group.bench_function(format!("{name}_2_threads/{path}"), |b| {
            b.iter(|| client.bool_variation(black_box(typical::FLAG), black_box(ctx), false))
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        busy.join().expect("the busy thread ends");
    }
    group.finish();
}

criterion_group!(benches, usage);
criterion_main!(benches);
