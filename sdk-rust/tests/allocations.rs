//! Evaluating a compiled flag must not touch the heap. A counting global
//! allocator (per thread, so other test threads do not interfere) proves it
//! for every path of the typical flag.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

#[path = "../benches/typical.rs"]
mod typical;

use daylight::Reason;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_typical_flag_evaluates_without_allocating() {
    let rules = typical::ruleset();
    for (path, ctx) in typical::contexts() {
        let mut served = None;
        let count = allocations_during(|| {
            for _ in 0..1_000 {
                let detail = rules.bool_variation_detail(typical::FLAG, &ctx, false);
                served = Some((detail.value, detail.reason));
            }
        });
        assert_eq!(count, 0, "the {path} path allocated {count} times in 1,000 evaluations");
        let (_, reason) = served.unwrap();
        let expected_kind = match path {
            "target" => matches!(reason, Reason::TargetMatch),
            "segment" => matches!(reason, Reason::RuleMatch { rule_index: 0, .. }),
            "rule" => matches!(reason, Reason::RuleMatch { rule_index: 1, .. }),
            _ => matches!(reason, Reason::Fallthrough { in_rollout: true }),
        };
        assert!(expected_kind, "{path} took an unexpected path: {reason:?}");
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    let count = allocations_during(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert!(count >= 1);
}
