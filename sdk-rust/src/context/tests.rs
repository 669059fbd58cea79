//! The context's unit tests: reading, building, equality, limits and the
//! linear cost of adding attributes.

use super::*;
use serde_json::json;

#[test]
fn from_json_keeps_supported_types_and_drops_the_rest() {
    let ctx = Context::from_json(&json!({
        "key": "u-1", "game": "omaha", "n": 3, "b": true, "tags": ["a", "b"],
        "nested": {"x": 1}, "nothing": null, "mixed": ["a", 1]
    }))
    .unwrap();
    assert_eq!(ctx.key(), Some("u-1"));
    assert!(matches!(ctx.get("game"), Some(Attr::Str("omaha"))));
    assert!(matches!(ctx.get("n"), Some(Attr::Num(n)) if n == 3.0));
    assert!(matches!(ctx.get("b"), Some(Attr::Bool(true))));
    assert!(matches!(ctx.get("tags"), Some(Attr::List(l)) if l.len() == 2));
    assert!(ctx.get("nested").is_none());
    assert!(ctx.get("nothing").is_none());
    assert!(ctx.get("mixed").is_none());
}

#[test]
fn from_json_rejects_non_objects_and_non_string_keys() {
    assert_eq!(Context::from_json(&json!([1])), Err(ContextError::NotAnObject));
    assert_eq!(Context::from_json(&json!({"key": 5})), Err(ContextError::KeyNotAString));
}

fn read(text: &str, targeting_key: Option<&'static str>) -> Result<Context, ContextError> {
    let mut de = serde_json::Deserializer::from_str(text);
    ContextReader {
        targeting_key,
        ..ContextReader::default()
    }
    .deserialize(&mut de)
    .expect("valid JSON")
}

#[test]
fn reading_json_text_keeps_what_reading_a_value_keeps() {
    let text = r#"{"key":"u-1","game":"omaha","n":3,"big":18446744073709551615,"b":false,
        "tags":["a","b"],"nested":{"x":[1]},"nothing":null,"mixed":["a",1],"empty":[]}"#;
    let value: Value = serde_json::from_str(text).unwrap();
    let from_text = read(text, None).unwrap();
    let from_value = Context::from_json(&value).unwrap();
    assert_eq!(from_text, from_value);
    assert_eq!(from_text.attributes.len(), 6, "{from_text:?}");
    assert!(matches!(from_text.get("empty"), Some(Attr::List([]))));
}

#[test]
fn a_later_duplicate_wins_even_when_it_is_dropped() {
    let ctx = read(
        r#"{"game":"a","game":"b","gone":"x","gone":{},"key":"k1","key":"k2"}"#,
        None,
    )
    .unwrap();
    assert!(matches!(ctx.get("game"), Some(Attr::Str("b"))));
    assert!(ctx.get("gone").is_none());
    assert_eq!(ctx.key(), Some("k2"));
}

#[test]
fn the_targeting_key_alias_wins_over_key_and_null_means_absent() {
    let alias = Some("targetingKey");
    assert_eq!(read(r#"{"key":5,"targetingKey":"t"}"#, alias).unwrap().key(), Some("t"));
    assert_eq!(
        read(r#"{"targetingKey":null,"key":"k"}"#, alias).unwrap().key(),
        Some("k")
    );
    assert_eq!(read(r#"{"targetingKey":null}"#, alias).unwrap().key(), None);
    assert_eq!(
        read(r#"{"targetingKey":7}"#, alias),
        Err(ContextError::TargetingKeyNotAString)
    );
    assert_eq!(read(r#"{"key":null}"#, alias), Err(ContextError::KeyNotAString));
    // Without the alias it is an ordinary attribute.
    let plain = read(r#"{"targetingKey":"t"}"#, None).unwrap();
    assert_eq!(plain.key(), None);
    assert!(matches!(plain.get("targetingKey"), Some(Attr::Str("t"))));
    assert_eq!(read(r#"[{"key":"k"}]"#, alias), Err(ContextError::NotAnObject));
    assert_eq!(read(r#""k""#, alias), Err(ContextError::NotAnObject));
}

#[test]
fn builder_sets_key_and_replaces_attributes() {
    let ctx = Context::anonymous()
        .with("key", "k")
        .with("game", "a")
        .with("game", "b");
    assert_eq!(ctx.key(), Some("k"));
    assert!(matches!(ctx.get("game"), Some(Attr::Str("b"))));
}

/// Name comparisons made by `f` (the cost of finding attributes by name).
fn comparisons(f: impl FnOnce()) -> u64 {
    let before = COMPARISONS.with(|c| c.get());
    f();
    COMPARISONS.with(|c| c.get()) - before
}

fn attributes(n: usize) -> String {
    let members: Vec<String> = (0..n).map(|i| format!("\"a{i}\":{i}")).collect();
    format!("{{{}}}", members.join(","))
}

fn read_with(text: &str, limits: ContextLimits) -> Result<Context, ContextError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let read = ContextReader {
        limits,
        ..ContextReader::default()
    }
    .deserialize(&mut de)
    .expect("valid JSON");
    de.end().expect("read to the end");
    read
}

#[test]
fn building_a_context_costs_linear_time() {
    const N: u64 = 10_000;
    let built = comparisons(|| {
        let mut ctx = Context::anonymous();
        for i in 0..N {
            ctx.set(format!("a{i}"), i as i64);
        }
        ctx.set("a7", "last");
        assert!(matches!(ctx.get("a7"), Some(Attr::Str("last"))));
    });
    assert!(built <= 20 * N, "{built} comparisons for {N} attributes");
    let text = attributes(N as usize);
    let read_cost = comparisons(|| {
        let ctx = read_with(&text, ContextLimits::NONE).unwrap();
        assert!(matches!(ctx.get("a9999"), Some(Attr::Num(n)) if n == 9999.0));
    });
    assert!(read_cost <= 20 * N, "{read_cost} comparisons to read {N} attributes");
}

#[test]
fn many_attributes_keep_the_last_value_per_name() {
    let n = 100_000;
    let mut members: Vec<String> = (0..n).map(|i| format!("\"a{i}\":\"first\"")).collect();
    members.extend((0..n).step_by(2).map(|i| format!("\"a{i}\":{i}")));
    members.extend((0..n).step_by(3).map(|i| format!("\"a{i}\":null")));
    let ctx = read_with(&format!("{{{}}}", members.join(",")), ContextLimits::NONE).unwrap();
    for i in [0, 1, 2, 3, 4, 5, 99_998, 99_999] {
        let attr = ctx.get(&format!("a{i}"));
        match (i % 3, i % 2) {
            (0, _) => assert!(attr.is_none(), "a{i} was removed"),
            (_, 0) => assert!(matches!(attr, Some(Attr::Num(v)) if v == i as f64), "a{i}"),
            _ => assert!(matches!(attr, Some(Attr::Str("first"))), "a{i}"),
        }
    }
    let kept = (0..n).filter(|i| i % 3 != 0).count();
    assert_eq!(ctx.attributes.len(), kept);
}

#[test]
fn contexts_are_equal_whatever_the_order_and_storage() {
    let forward = (0..40).fold(Context::new("k"), |c, i| c.with(format!("a{i}"), i));
    let backward = (0..40).rev().fold(Context::new("k"), |c, i| c.with(format!("a{i}"), i));
    assert_eq!(forward, backward);
    assert_ne!(forward, backward.clone().with("a3", "x"));
    let small = Context::new("k").with("a", 1).with("b", 2);
    assert_eq!(small, Context::new("k").with("b", 2).with("a", 1));
    assert_ne!(small, Context::new("k").with("a", 1));
}

#[test]
fn each_limit_holds_at_its_value_and_refuses_one_more() {
    let limits = ContextLimits {
        attributes: 3,
        name_bytes: 4,
        string_bytes: 5,
        list_items: 2,
        total_bytes: 26,
    };
    let ok = |text: &str| read_with(text, limits).unwrap();
    let err = |text: &str| read_with(text, limits).unwrap_err();
    ok(r#"{"key":"k","a":1,"b":2,"c":3}"#);
    assert_eq!(
        err(r#"{"key":"k","a":1,"b":2,"c":3,"d":4}"#),
        ContextError::TooManyAttributes { max: 3 }
    );
    // Dropped members count too: they cost the reader as much.
    assert_eq!(
        err(r#"{"a":null,"b":{},"c":[1],"d":null}"#),
        ContextError::TooManyAttributes { max: 3 }
    );
    ok(r#"{"abcd":1}"#);
    let e = err(r#"{"abcde":1}"#);
    assert_eq!(e.attribute(), Some("abcde"));
    assert!(matches!(e, ContextError::NameTooLong { max: 4, .. }));
    ok(r#"{"s":"12345","l":["12345","x"]}"#);
    let e = err(r#"{"s":"123456"}"#);
    assert_eq!(
        (e.attribute(), e.to_string().as_str()),
        (Some("s"), "s: a string is at most 5 bytes")
    );
    assert_eq!(err(r#"{"l":["x","123456"]}"#).attribute(), Some("l"));
    assert_eq!(err(r#"{"key":"123456"}"#).attribute(), Some("key"));
    assert_eq!(
        err(r#"{"l":["a","b","c"]}"#),
        ContextError::ListTooLong {
            name: "l".into(),
            max: 2
        }
    );
    // A list that would be dropped is still bounded.
    assert_eq!(err(r#"{"l":[1,2,3]}"#).attribute(), Some("l"));
    ok(r#"{"key":"kkkk","aaaa":"12345","bbbb":"12345","c":"123"}"#);
    assert_eq!(
        err(r#"{"key":"kkkk","aaaa":"12345","bbbb":"12345","c":"1234"}"#),
        ContextError::TooLarge { max: 26 }
    );
}

#[test]
fn past_a_limit_the_rest_is_skipped_but_must_still_be_json() {
    let text = attributes(100_000);
    assert_eq!(
        read_with(&text, ContextLimits::DEFAULT),
        Err(ContextError::TooManyAttributes { max: 256 })
    );
    assert!(Context::from_json(&serde_json::from_str(&text).unwrap()).is_err());
    let cut = format!("{}{{", &text[..text.len() - 1]);
    let mut de = serde_json::Deserializer::from_str(&cut);
    assert!(
        ContextReader::default().deserialize(&mut de).is_err(),
        "a syntax error stays one"
    );
}

#[test]
fn a_name_too_long_is_named_by_its_start() {
    let name = "é".repeat(200);
    let e = read_with(&format!(r#"{{"{name}":1}}"#), ContextLimits::DEFAULT).unwrap_err();
    assert_eq!(e.attribute(), Some("é".repeat(32).as_str()));
}

#[test]
fn a_built_context_is_checked_like_a_read_one() {
    let limits = ContextLimits::DEFAULT;
    assert_eq!(Context::new("k").with("a", "b").check(&limits), Ok(()));
    let long = "x".repeat(limits.string_bytes + 1);
    assert_eq!(
        Context::new(long.as_str()).check(&limits).unwrap_err().attribute(),
        Some("key")
    );
    let e = Context::anonymous()
        .with("ua", long.as_str())
        .check(&limits)
        .unwrap_err();
    assert_eq!(e.attribute(), Some("ua"));
    let many = (0..=limits.attributes).fold(Context::anonymous(), |c, i| c.with(format!("a{i}"), 1));
    assert_eq!(
        many.check(&limits),
        Err(ContextError::TooManyAttributes { max: limits.attributes })
    );
}
