//! ns per evaluation of the typical flag (`typical.rs`), per path, for
//! Daylight and the two peer engines, plus the floors (one murmur3 hash, one
//! 10,000-key hash set lookup). Results and the command: docs/benchmarks.md.
//!
//!     cargo bench -p daylight-sdk --bench evaluation -- --warm-up-time 1 --measurement-time 3
//!
//! Benchmark ids: `<engine>/<path>` and `floor/<what>`. Engines:
//! - `daylight`: `Ruleset::bool_variation_detail`.
//! - `yggdrasil`: unleash-yggdrasil `EngineState::is_enabled`.
//! - `ld`: launchdarkly-server-sdk-evaluation `evaluate` with a store that
//!   clones the segment it returns (LD's `Store` returns owned values).
//! - `ld_inline`: LD with rule 1 as `key in [the 10,000 keys]` instead of a
//!   segment, so nothing is copied: LD's engine without the store copy.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "typical.rs"]
mod typical;

#[path = "support/peers.rs"]
mod peers;

use peers::{EmptyStore, Engines};

fn evaluation(c: &mut Criterion) {
    let engines = Engines::new();

    let mut group = c.benchmark_group("daylight");
    for p in &engines.paths {
        group.bench_function(p.name, |b| {
            b.iter(|| {
                engines
                    .daylight
                    .bool_variation_detail(black_box(typical::FLAG), black_box(&p.daylight), false)
                    .value
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("yggdrasil");
    for p in &engines.paths {
        group.bench_function(p.name, |b| {
            b.iter(|| peers::unleash_is_enabled(&engines.unleash, black_box(&p.unleash)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("ld");
    // Paths that consult the segment take ~0.3 ms each: fewer samples keep
    // the run short without changing the median much.
    group.sample_size(20);
    for p in &engines.paths {
        group.bench_function(p.name, |b| {
            b.iter(|| peers::ld_bool_detail(&engines.ld_store, &engines.ld_flag, black_box(&p.ld)).0)
        });
    }
    group.finish();

    let mut group = c.benchmark_group("ld_inline");
    group.sample_size(20);
    for p in &engines.paths {
        group.bench_function(p.name, |b| {
            b.iter(|| peers::ld_bool_detail(&EmptyStore, &engines.ld_flag_inline, black_box(&p.ld)).0)
        });
    }
    group.finish();
}

fn floors(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    // The bytes Daylight hashes on the rollout path: "typical." + "p-78" is
    // 12 bytes; this is a ~20-byte salt + key.
    let bytes: &[u8] = b"typical-flag.p-12345";
    assert_eq!(bytes.len(), 20);
    group.bench_function("murmur3_32_20B", |b| {
        b.iter(|| murmur3::murmur3_32(&mut black_box(bytes), 0).expect("reading a slice"))
    });

    let keys: Vec<String> = (1..=10_000).map(|i| format!("s{i}")).collect();
    let std_set: HashSet<String> = keys.iter().cloned().collect();
    let fold_set: foldhash::HashSet<String> = keys.iter().cloned().collect();
    for (name, probe) in [("hit", "s5000"), ("miss", "p-78")] {
        group.bench_function(format!("hashset_std_{name}"), |b| {
            b.iter(|| std_set.contains(black_box(probe)))
        });
        group.bench_function(format!("hashset_foldhash_{name}"), |b| {
            b.iter(|| fold_set.contains(black_box(probe)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = evaluation, floors
}
criterion_main!(benches);
