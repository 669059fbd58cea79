//! The attribute names apps send, learned per environment from the contexts
//! this node evaluates (OFREP requests, browser streams), so the console's
//! explain form offers the names in real use instead of a fixed list.
//!
//! Names only, never values: a context's values may be personal data and
//! the form needs none of them. Memory only and per node (a restart or
//! another node starts empty; the form still takes any name typed in).
//! Bounded: the [`MAX_NAMES`] most recently first-seen names per
//! environment, for at most [`MAX_ENVIRONMENTS`] environments.
//!
//! Evaluation pays one hash of the names and a few atomic loads: a context
//! whose set of names was recorded recently (by its fingerprint) takes no
//! lock. Apps send few shapes of context, so the lock is rare.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use daylight::Context;

/// Names kept per environment.
pub const MAX_NAMES: usize = 50;
/// Environments tracked (a bound against a flood of unknown names).
const MAX_ENVIRONMENTS: usize = 1000;
/// Fingerprints of recorded name sets remembered per environment.
const SEEN: usize = 16;

pub struct LearnedAttributes {
    by_environment: ArcSwap<foldhash::HashMap<String, Arc<Names>>>,
    adding: Mutex<()>,
    /// Tells this node's instance from others in one process (tests), for
    /// the per-thread cache in `record`.
    id: u64,
}

impl Default for LearnedAttributes {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        LearnedAttributes {
            by_environment: Default::default(),
            adding: Mutex::default(),
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

#[derive(Default)]
struct Names {
    /// Fingerprints of name sets whose every name is in `recent` (0: empty
    /// slot). Cleared whenever a name is evicted, so a hit always means
    /// there is nothing to record.
    seen: [AtomicU64; SEEN],
    next_slot: AtomicUsize,
    /// Most recently first seen first.
    recent: Mutex<VecDeque<Box<str>>>,
}

impl LearnedAttributes {
    /// Notes the attribute names of `ctx`, evaluated in `environment`.
    pub fn record(&self, environment: &str, ctx: &Context) {
        let mut hasher = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
        let mut any = false;
        for name in ctx.attribute_names() {
            hasher.write(name.as_bytes());
            hasher.write_u8(0xff);
            any = true;
        }
        if !any {
            return;
        }
        let fingerprint = hasher.finish().max(1);
        // Each thread keeps the names of the environment it recorded in
        // last: a busy node's evaluations then skip the map of environments
        // (a load, a hash and a reference count each).
        type Last = Option<(u64, Box<str>, Arc<Names>)>;
        thread_local! {
            static LAST: RefCell<Last> = const { RefCell::new(None) };
        }
        LAST.with_borrow_mut(|last| {
            let known = matches!(last, Some((id, env, _)) if *id == self.id && **env == *environment);
            if !known {
                let Some(names) = self.names(environment) else { return };
                *last = Some((self.id, environment.into(), names));
            }
            if let Some((_, _, names)) = last {
                Self::note(names, fingerprint, ctx);
            }
        });
    }

    /// Adds the names of `ctx` (whose set has `fingerprint`) unless the set
    /// was recorded lately.
    fn note(names: &Names, fingerprint: u64, ctx: &Context) {
        if names.seen.iter().any(|s| s.load(Ordering::Relaxed) == fingerprint) {
            return;
        }
        let mut recent = names.recent.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = false;
        for name in ctx.attribute_names() {
            if recent.iter().any(|n| **n == *name) {
                continue;
            }
            recent.push_front(name.into());
            if recent.len() > MAX_NAMES {
                recent.pop_back();
                evicted = true;
            }
        }
        if evicted {
            for slot in &names.seen {
                slot.store(0, Ordering::Relaxed);
            }
        }
        let slot = names.next_slot.fetch_add(1, Ordering::Relaxed) % SEEN;
        names.seen[slot].store(fingerprint, Ordering::Relaxed);
    }

    /// The names learned in `environment`, most recently first seen first.
    pub fn names_in(&self, environment: &str) -> Vec<String> {
        let Some(names) = self.by_environment.load().get(environment).cloned() else {
            return Vec::new();
        };
        let recent = names.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().map(|n| n.to_string()).collect()
    }

    fn names(&self, environment: &str) -> Option<Arc<Names>> {
        if let Some(names) = self.by_environment.load().get(environment) {
            return Some(names.clone());
        }
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.by_environment.load();
        if let Some(names) = current.get(environment) {
            return Some(names.clone());
        }
        if current.len() >= MAX_ENVIRONMENTS {
            return None;
        }
        let names = Arc::new(Names::default());
        let mut next = HashMap::clone(&current);
        next.insert(environment.to_owned(), names.clone());
        self.by_environment.store(Arc::new(next));
        Some(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_only_most_recent_first_bounded() {
        let learned = LearnedAttributes::default();
        learned.record("prod", &Context::new("u").with("country", "AU").with("game", "omaha"));
        learned.record("prod", &Context::new("v").with("country", "NZ").with("tier", "gold"));
        learned.record("staging", &Context::new("w").with("beta", true));
        assert_eq!(learned.names_in("prod"), vec!["tier", "game", "country"]);
        assert_eq!(learned.names_in("staging"), vec!["beta"]);
        assert!(learned.names_in("nowhere").is_empty());

        for i in 0..MAX_NAMES + 5 {
            learned.record("prod", &Context::new("u").with(format!("a{i}"), 1.0));
        }
        let names = learned.names_in("prod");
        assert_eq!(names.len(), MAX_NAMES);
        assert_eq!(names[0], format!("a{}", MAX_NAMES + 4));
        assert!(!names.contains(&"country".to_owned()));
        // An evicted name comes back even though its set was seen before.
        learned.record("prod", &Context::new("u").with("country", "AU").with("game", "omaha"));
        assert!(learned.names_in("prod").contains(&"country".to_owned()));
    }
}
