//! Heap allocations per evaluation of the typical flag, per engine and path,
//! counted by a global allocator. Prints a Markdown table (docs/benchmarks.md).
//!
//!     cargo bench -p daylight-sdk --bench allocations

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

#[path = "typical.rs"]
mod typical;

#[path = "support/peers.rs"]
mod peers;

use peers::{EmptyStore, Engines};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    // `try_with`: the allocator may run while thread locals are torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = BYTES.try_with(|n| n.set(n.get() + bytes as u64));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, bytes) per call of `f`, averaged over `n` calls after one
/// warm-up call (lazy statics, thread-local caches).
fn per_call<R>(n: u64, mut f: impl FnMut() -> R) -> (f64, f64) {
    black_box(f());
    let (a0, b0) = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    for _ in 0..n {
        black_box(f());
    }
    let (a1, b1) = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    ((a1 - a0) as f64 / n as f64, (b1 - b0) as f64 / n as f64)
}

fn main() {
    // The counter must count (guards against a table of zeros).
    assert!(per_call(1, || vec![1u8; 16]).0 >= 1.0);

    let engines = Engines::new();
    let each_path = |n: u64, eval: &dyn Fn(&peers::Path) -> Option<bool>| -> Vec<(f64, f64)> {
        engines.paths.iter().map(|p| per_call(n, || eval(p))).collect()
    };
    let rows = [
        (
            "Daylight `bool_variation_detail`",
            each_path(10_000, &|p| {
                Some(
                    engines
                        .daylight
                        .bool_variation_detail(typical::FLAG, &p.daylight, false)
                        .value,
                )
            }),
        ),
        (
            "unleash-yggdrasil `is_enabled`",
            each_path(10_000, &|p| {
                Some(peers::unleash_is_enabled(&engines.unleash, &p.unleash))
            }),
        ),
        (
            "LD `evaluate`, cloning store",
            each_path(100, &|p| {
                peers::ld_bool_detail(&engines.ld_store, &engines.ld_flag, &p.ld).0
            }),
        ),
        (
            "LD `evaluate`, keys inline (no segment)",
            each_path(1_000, &|p| {
                peers::ld_bool_detail(&EmptyStore, &engines.ld_flag_inline, &p.ld).0
            }),
        ),
    ];

    let names: Vec<&str> = engines.paths.iter().map(|p| p.name).collect();
    println!();
    println!("Heap allocations per evaluation (bytes requested per evaluation):");
    println!();
    println!("| engine | {} |", names.join(" | "));
    println!("|---|{}", "---:|".repeat(names.len()));
    for (engine, cells) in rows {
        let cells: Vec<String> = cells
            .iter()
            .map(|(allocs, bytes)| format!("{} ({} B)", fmt(*allocs), fmt(*bytes)))
            .collect();
        println!("| {engine} | {} |", cells.join(" | "));
    }
}

/// Whole numbers plain, the rest with two decimals.
fn fmt(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}
