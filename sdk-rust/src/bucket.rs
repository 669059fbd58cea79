//! The bucketing contract, identical in every SDK:
//! `bucket = murmur3_x86_32(utf8(salt + "." + value), seed 0) mod 100000`.

use crate::context::{Attr, AttrName, Context};

/// Buckets per rollout: weights are thousandths of a percent.
pub const BUCKETS: u32 = 100_000;

/// The largest integer a `bucket_by` number may hold (±2^53): beyond it Rust
/// and JavaScript print numbers differently.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Concatenations up to this size are hashed from a stack buffer, so
/// bucketing does not allocate.
const STACK_BUFFER: usize = 256;

/// The bucket of `value` under `prefix` (the rollout's salt followed by ".").
pub fn bucket(prefix: &[u8], value: &[u8]) -> u32 {
    let len = prefix.len() + value.len();
    let hash = if len <= STACK_BUFFER {
        let mut buf = [0u8; STACK_BUFFER];
        buf[..prefix.len()].copy_from_slice(prefix);
        buf[prefix.len()..len].copy_from_slice(value);
        murmur3::murmur3_32(&mut &buf[..len], 0)
    } else {
        murmur3::murmur3_32(&mut std::io::Read::chain(prefix, value), 0)
    };
    // Reading from memory cannot fail.
    hash.expect("reading from a slice cannot fail") % BUCKETS
}

/// The bucket of `salt` + "." + `value` (for tests and tools).
pub fn bucket_of(salt: &str, value: &str) -> u32 {
    let mut prefix = Vec::with_capacity(salt.len() + 1);
    prefix.extend_from_slice(salt.as_bytes());
    prefix.push(b'.');
    bucket(&prefix, value.as_bytes())
}

/// The bucket of `ctx`'s attribute `attribute` (`key` is the targeting key)
/// under `salt`, or `None` when it counts as missing. Used wherever the
/// server buckets outside a flag (bundle canaries) and by tests.
pub fn context_bucket(salt: &str, ctx: &Context, attribute: &str) -> Option<u32> {
    let mut prefix = Vec::with_capacity(salt.len() + 1);
    prefix.extend_from_slice(salt.as_bytes());
    prefix.push(b'.');
    let attr = ctx.get_named_or_key(&AttrName::new(attribute))?;
    with_bucket_value(attr, |value| bucket(&prefix, value))
}

/// Calls `f` with the bytes an attribute contributes to bucketing, or returns
/// `None` when the attribute counts as missing (fractions, out-of-range
/// numbers, bools, lists).
pub(crate) fn with_bucket_value<R>(attr: Attr<'_>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    match attr {
        Attr::Str(s) => Some(f(s.as_bytes())),
        Attr::Num(n) if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER => {
            let mut buf = itoa::Buffer::new();
            // `as i64` is exact here; -0.0 prints as "0", as in JavaScript.
            Some(f(buf.format(n as i64).as_bytes()))
        }
        Attr::Num(_) | Attr::Bool(_) | Attr::List(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_hash_like_short_ones() {
        let long = "x".repeat(1000);
        let mut joined = b"salt.".to_vec();
        joined.extend_from_slice(long.as_bytes());
        let direct = murmur3::murmur3_32(&mut joined.as_slice(), 0).unwrap() % BUCKETS;
        assert_eq!(bucket(b"salt.", long.as_bytes()), direct);
    }

    #[test]
    fn integers_bucket_as_plain_decimal() {
        let by_number = with_bucket_value(Attr::Num(1017.0), |v| bucket(b"f.", v)).unwrap();
        assert_eq!(by_number, bucket_of("f", "1017"));
        let neg_zero = with_bucket_value(Attr::Num(-0.0), |v| v.to_vec()).unwrap();
        assert_eq!(neg_zero, b"0");
    }

    #[test]
    fn other_values_count_as_missing() {
        assert!(with_bucket_value(Attr::Num(1.5), |_| ()).is_none());
        assert!(with_bucket_value(Attr::Num(9_007_199_254_740_994.0), |_| ()).is_none());
        assert!(with_bucket_value(Attr::Num(f64::NAN), |_| ()).is_none());
        assert!(with_bucket_value(Attr::Bool(true), |_| ()).is_none());
        assert!(with_bucket_value(Attr::List(&[]), |_| ()).is_none());
        assert!(with_bucket_value(Attr::Num(MAX_SAFE_INTEGER), |_| ()).is_some());
    }
}
