//! What contexts cost to build, read and look attributes up in
//! (docs/benchmarks.md, "Contexts"):
//!
//!     cargo bench -p daylight-sdk --bench context -- --warm-up-time 1 --measurement-time 3
//!
//! - `lookup/N`: one evaluation of a flag whose rule reads the last of N
//!   attributes; where `N` = `SCAN_MAX` (scanned) and `SCAN_MAX + 1` (hashed)
//!   meet is where the context's vector should give way to a map.
//! - `read/N`: a context of N attributes read from JSON text.
//! - `set/100000`: 100,000 distinct attributes added with `Context::set`.
//! - `over_limit/8MiB`: an 8 MiB body of attributes read with the default
//!   limits (refused after 256; the rest is skipped).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use daylight::{Context, ContextLimits, ContextReader, Ruleset, RulesetDocument};
use serde::de::DeserializeSeed;
use serde_json::json;

fn flag_on(attribute: &str) -> Ruleset {
    let doc: RulesetDocument = serde_json::from_value(json!({
        "environment": "bench",
        "version": 1,
        "flags": { "f": {
            "variations": [false, true],
            "on": true,
            "off_variation": 0,
            "rules": [{ "id": "r", "clauses": [{ "attribute": attribute, "op": "in", "values": ["x"] }],
                        "serve": { "variation": 1 } }],
            "fallthrough": { "variation": 0 }
        } }
    }))
    .expect("a valid document");
    Ruleset::compile(&doc).expect("compiles")
}

fn with_attributes(n: usize) -> Context {
    (0..n).fold(Context::new("u-1"), |c, i| c.with(format!("attribute-{i}"), "x"))
}

fn json_attributes(n: usize) -> String {
    let members: Vec<String> = (0..n).map(|i| format!("\"attribute-{i}\":\"x\"")).collect();
    format!("{{\"key\":\"u-1\",{}}}", members.join(","))
}

fn read(text: &str, limits: ContextLimits) -> bool {
    let mut de = serde_json::Deserializer::from_str(text);
    let reader = ContextReader {
        limits,
        ..ContextReader::default()
    };
    reader.deserialize(&mut de).expect("valid JSON").is_ok()
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    for n in [1, 4, 8, 12, 16, 17, 24, 32, 256] {
        let rules = flag_on(&format!("attribute-{}", n - 1));
        let ctx = with_attributes(n);
        assert!(rules.bool_variation_detail("f", &ctx, false).value);
        group.bench_with_input(BenchmarkId::from_parameter(n), &ctx, |b, ctx| {
            b.iter(|| rules.bool_variation_detail("f", black_box(ctx), false).value)
        });
    }
    group.finish();
}

fn building(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    for n in [4, 16, 256] {
        let text = json_attributes(n);
        assert!(read(&text, ContextLimits::DEFAULT));
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| read(black_box(text), ContextLimits::DEFAULT))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("set");
    group.sample_size(10);
    group.bench_function("100000", |b| b.iter(|| with_attributes(black_box(100_000))));
    group.finish();

    let mut group = c.benchmark_group("over_limit");
    group.sample_size(10);
    let mut n = 0;
    let mut text = json_attributes(0);
    while text.len() < 8 << 20 {
        n += 100_000;
        text = json_attributes(n);
    }
    assert!(!read(&text, ContextLimits::DEFAULT));
    group.bench_function("8MiB", |b| b.iter(|| read(black_box(&text), ContextLimits::DEFAULT)));
    group.finish();
}

criterion_group!(benches, lookup, building);
criterion_main!(benches);
