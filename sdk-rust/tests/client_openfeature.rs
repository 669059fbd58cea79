//! The OpenFeature provider through an `open-feature` client: values,
//! variants, reasons and error codes as `docs/flag-format.md` maps them.

#![cfg(feature = "openfeature")]

mod client_support;

use std::time::Duration;

use open_feature::provider::{FeatureProvider, ProviderStatus};
use open_feature::{
    EvaluationContext, EvaluationContextFieldValue, EvaluationErrorCode, EvaluationReason, FlagMetadataValue,
    OpenFeature, StructValue,
};
use serde_json::json;

use client_support::FakeServer;
use daylight::client::openfeature::DaylightProvider;
use daylight::client::Client;
use daylight::RulesetDocument;

fn environment() -> RulesetDocument {
    serde_json::from_value(json!({
        "environment": "test",
        "version": 12,
        "flags": {
            "new-lobby": {"variations": [false, true], "on": true, "fallthrough": {"variation": 0},
                "rules": [{"id": "omaha", "clauses": [{"attribute": "game", "op": "in", "values": ["omaha"]}],
                           "serve": {"variation": 1}}]},
            "max-tables": {"variations": [4, 8, 12.5], "on": true, "fallthrough": {"variation": 1},
                "targets": [{"variation": 2, "values": ["u-big"]}]},
            "theme": {"variations": ["light", "dark"], "on": false, "off_variation": 1,
                "fallthrough": {"variation": 0}},
            "limits": {"variations": [{"bet": 10, "currency": "EUR", "note": null}, {"bet": 100}], "on": true,
                "fallthrough": {"variation": 0}},
            "dark-ship": {"variations": [false, true], "on": false, "fallthrough": {"variation": 1}},
            "canary": {"variations": [false, true], "on": true,
                "fallthrough": {"rollout": {"variations": [{"variation": 0, "weight": 50000},
                                                           {"variation": 1, "weight": 50000}]}}},
            "launched": {"variations": [false, true], "on": true, "fallthrough": {"variation": 0},
                "rules": [{"id": "beta", "clauses": [{"attribute": "groups", "op": "in", "values": ["beta"]},
                                                     {"attribute": "build", "op": "gte", "values": [100]},
                                                     {"attribute": "staff", "op": "in", "values": [false]}],
                           "serve": {"variation": 1}}]}
        }
    }))
    .unwrap()
}

async fn openfeature_client() -> open_feature::Client {
    let client = Client::offline().bootstrap(environment()).build().await.unwrap();
    let mut api = OpenFeature::default();
    api.set_provider(DaylightProvider::new(client)).await;
    api.create_client()
}

fn player(key: &str) -> EvaluationContext {
    EvaluationContext::default()
        .with_targeting_key(key)
        .with_custom_field("game", "omaha")
}

#[tokio::test]
async fn values_variants_and_reasons() {
    let flags = openfeature_client().await;
    let ctx = player("u-1");

    let lobby = flags.get_bool_details("new-lobby", Some(&ctx), None).await.unwrap();
    assert!(lobby.value);
    assert_eq!(lobby.variant.as_deref(), Some("1"));
    assert_eq!(lobby.reason, Some(EvaluationReason::TargetingMatch));
    assert_eq!(
        lobby.flag_metadata.values.get("rule_id"),
        Some(&FlagMetadataValue::String("omaha".into()))
    );
    let elsewhere = EvaluationContext::default()
        .with_targeting_key("u-1")
        .with_custom_field("game", "holdem");
    let lobby = flags
        .get_bool_details("new-lobby", Some(&elsewhere), None)
        .await
        .unwrap();
    assert_eq!((lobby.value, lobby.reason), (false, Some(EvaluationReason::Default)));

    let tables = flags.get_int_details("max-tables", Some(&ctx), None).await.unwrap();
    assert_eq!((tables.value, tables.variant.as_deref()), (8, Some("1")));
    let big = flags
        .get_float_details("max-tables", Some(&player("u-big")), None)
        .await
        .unwrap();
    assert_eq!((big.value, big.reason), (12.5, Some(EvaluationReason::TargetingMatch)));

    let theme = flags.get_string_details("theme", Some(&ctx), None).await.unwrap();
    assert_eq!(
        (theme.value.as_str(), theme.reason),
        ("dark", Some(EvaluationReason::Disabled))
    );

    let limits: StructValue = flags.get_struct_value("limits", Some(&ctx), None).await.unwrap();
    assert_eq!(
        limits,
        StructValue::default()
            .with_field("bet", 10)
            .with_field("currency", "EUR")
    );

    let canary = flags.get_bool_details("canary", Some(&ctx), None).await.unwrap();
    assert_eq!(canary.reason, Some(EvaluationReason::Split));

    // Attributes of each type reach the clauses (a `Vec<String>` struct is a list).
    let beta = EvaluationContext::default()
        .with_targeting_key("u-1")
        .with_custom_field(
            "groups",
            EvaluationContextFieldValue::new_struct(vec!["beta".to_owned()]),
        )
        .with_custom_field("build", 120)
        .with_custom_field("staff", false);
    assert!(flags.get_bool_value("launched", Some(&beta), None).await.unwrap());
    let no_groups = EvaluationContext::default()
        .with_targeting_key("u-1")
        .with_custom_field("build", 120.5);
    assert!(!flags.get_bool_value("launched", Some(&no_groups), None).await.unwrap());
}

#[tokio::test]
async fn errors_carry_openfeature_codes() {
    let flags = openfeature_client().await;
    let ctx = player("u-1");

    let missing = flags.get_bool_value("nope", Some(&ctx), None).await.unwrap_err();
    assert_eq!(missing.code, EvaluationErrorCode::FlagNotFound);
    let mismatch = flags.get_bool_value("theme", Some(&ctx), None).await.unwrap_err();
    assert_eq!(mismatch.code, EvaluationErrorCode::TypeMismatch);
    let not_integral = flags
        .get_int_value("max-tables", Some(&player("u-big")), None)
        .await
        .unwrap_err();
    assert_eq!(not_integral.code, EvaluationErrorCode::TypeMismatch);
    let not_a_struct = flags
        .get_struct_value::<StructValue>("theme", Some(&ctx), None)
        .await
        .unwrap_err();
    assert_eq!(not_a_struct.code, EvaluationErrorCode::TypeMismatch);
    // Off with no off variation: the caller's default applies.
    let dark = flags.get_bool_value("dark-ship", Some(&ctx), None).await.unwrap_err();
    assert_eq!(dark.code, EvaluationErrorCode::General("NO_VARIATION".into()));
    let default = flags
        .get_bool_value("dark-ship", Some(&ctx), None)
        .await
        .unwrap_or(true);
    assert!(default);
}

#[tokio::test]
async fn not_ready_until_the_client_has_data() {
    let mut server = FakeServer::start().await;
    let client = server.client().start().unwrap();
    let provider = DaylightProvider::new(client.clone());
    assert_eq!(provider.status(), ProviderStatus::NotReady);
    let resolved = provider
        .resolve_bool_value("new-lobby", &player("u-1"))
        .await
        .unwrap_err();
    assert_eq!(resolved.code, EvaluationErrorCode::ProviderNotReady);

    let mut conn = server.next_conn().await;
    conn.hello().await;
    conn.welcome(15_000).await;
    conn.snapshot(3, serde_json::to_value(environment()).unwrap()).await;
    conn.synced(3).await;
    assert!(client.wait_ready(Duration::from_secs(5)).await);
    client_support::eventually("synced", || provider.status() == ProviderStatus::Ready).await;
    let resolved = provider.resolve_bool_value("new-lobby", &player("u-1")).await.unwrap();
    assert!(resolved.value);

    // Disconnected with data: stale, still resolving.
    conn.close().await;
    client_support::eventually("stale", || provider.status() == ProviderStatus::STALE).await;
    assert!(
        provider
            .resolve_bool_value("new-lobby", &player("u-1"))
            .await
            .unwrap()
            .value
    );
}
