//! A kill switch (turning a flag off) always succeeds, whatever state other
//! flags are in, and no write leaves the stored state in a shape the
//! validator refuses (archiving a prerequisite used to block every write).

use proptest::prelude::*;
use reqwest::Method;
use serde_json::json;

use crate::harness::{spawn_app, Backend, TestApp, ADMIN};

async fn patch_archived(app: &TestApp, key: &str, archived: bool) -> u16 {
    let current = app.get(&format!("/api/v1/flags/{key}")).await;
    if current.status != 200 {
        return current.status.as_u16();
    }
    let etag = current.etag();
    app.request(
        Method::PATCH,
        &format!("/api/v1/flags/{key}"),
        Some(ADMIN),
        Some(json!({ "archived": archived })),
        &[("if-match", &etag)],
    )
    .await
    .status
    .as_u16()
}

on_each_backend!(archiving_a_prerequisite_is_refused_and_blocks_nothing, |app| {
    for key in ["a", "b", "e"] {
        app.create_flag(json!({ "key": key })).await;
    }
    app.edit_config("b", "production", |c| {
        c["prerequisites"] = json!([{ "flag": "a", "variation": 1 }])
    })
    .await
    .expect(200);
    // Archiving `a` would leave `b` naming a flag SDKs no longer see.
    assert_eq!(patch_archived(&app, "a", true).await, 409);
    let refused = app.get("/api/v1/flags/a").await.expect(200);
    assert_eq!(refused.body["archived"], false);
    // Unrelated writes and the kill switch go through.
    app.edit_config("e", "production", |c| c["on"] = json!(true))
        .await
        .expect(200);
    app.toggle("e", "production", false).await.expect(200);
    app.request(Method::DELETE, "/api/v1/flags/e", Some(ADMIN), None, &[])
        .await
        .expect(204);
    // Once `b` no longer needs it, `a` can go.
    app.edit_config("b", "production", |c| c["prerequisites"] = json!([]))
        .await
        .expect(200);
    assert_eq!(patch_archived(&app, "a", true).await, 200);
});

/// One API write of the random walk.
#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Archive(usize),
    Restore(usize),
    Delete(usize),
    /// Flag `.0` gets flag `.1` as a prerequisite in the environment.
    Prerequisite(usize, usize, usize),
    ClearPrerequisites(usize, usize),
    CreateSegment(usize, usize),
    DeleteSegment(usize, usize),
    /// Flag `.0` gets a rule on segment `.1` in the environment.
    SegmentRule(usize, usize, usize),
    TurnOn(usize, usize),
}

const FLAGS: usize = 4;
const SEGMENTS: usize = 2;
const ENVS: [&str; 2] = ["production", "staging"];

fn op() -> impl Strategy<Value = Op> {
    let f = 0..FLAGS;
    let s = 0..SEGMENTS;
    let e = 0..ENVS.len();
    prop_oneof![
        f.clone().prop_map(Op::Create),
        f.clone().prop_map(Op::Archive),
        f.clone().prop_map(Op::Restore),
        f.clone().prop_map(Op::Delete),
        (f.clone(), f.clone(), e.clone()).prop_map(|(a, b, e)| Op::Prerequisite(a, b, e)),
        (f.clone(), e.clone()).prop_map(|(a, e)| Op::ClearPrerequisites(a, e)),
        (s.clone(), e.clone()).prop_map(|(s, e)| Op::CreateSegment(s, e)),
        (s.clone(), e.clone()).prop_map(|(s, e)| Op::DeleteSegment(s, e)),
        (f.clone(), s, e.clone()).prop_map(|(a, s, e)| Op::SegmentRule(a, s, e)),
        (f, e).prop_map(|(a, e)| Op::TurnOn(a, e)),
    ]
}

async fn apply(app: &TestApp, op: &Op) -> u16 {
    let flag = |i: &usize| format!("f{i}");
    let segment = |i: &usize| format!("s{i}");
    match op {
        Op::Create(f) => app.post("/api/v1/flags", json!({ "key": flag(f) })).await.status.as_u16(),
        Op::Archive(f) => patch_archived(app, &flag(f), true).await,
        Op::Restore(f) => patch_archived(app, &flag(f), false).await,
        Op::Delete(f) => {
            app.request(Method::DELETE, &format!("/api/v1/flags/{}", flag(f)), Some(ADMIN), None, &[])
                .await
                .status
                .as_u16()
        }
        Op::Prerequisite(a, b, e) => {
            edit(app, &flag(a), ENVS[*e], |c| {
                c["prerequisites"] = json!([{ "flag": flag(b), "variation": 1 }])
            })
            .await
        }
        Op::ClearPrerequisites(a, e) => edit(app, &flag(a), ENVS[*e], |c| c["prerequisites"] = json!([])).await,
        Op::CreateSegment(s, e) => {
            app.post(
                &format!("/api/v1/environments/{}/segments", ENVS[*e]),
                json!({ "key": segment(s) }),
            )
            .await
            .status
            .as_u16()
        }
        Op::DeleteSegment(s, e) => {
            let path = format!("/api/v1/environments/{}/segments/{}", ENVS[*e], segment(s));
            app.request(Method::DELETE, &path, Some(ADMIN), None, &[]).await.status.as_u16()
        }
        Op::SegmentRule(a, s, e) => {
            edit(app, &flag(a), ENVS[*e], |c| {
                c["rules"] = json!([{ "id": "r", "clauses": [{ "op": "in_segment", "values": [segment(s)] }], "serve": { "variation": 1 } }])
            })
            .await
        }
        Op::TurnOn(a, e) => app.toggle(&flag(a), ENVS[*e], true).await.status.as_u16(),
    }
}

async fn edit(app: &TestApp, key: &str, env: &str, change: impl FnOnce(&mut serde_json::Value)) -> u16 {
    let path = format!("/api/v1/flags/{key}/environments/{env}");
    let current = app.get(&path).await;
    if current.status != 200 {
        return current.status.as_u16();
    }
    let mut config = current.body.clone();
    change(&mut config);
    app.put_if_match(&path, &current.etag(), config).await.status.as_u16()
}

/// After every write: each flag that exists can be turned off in every
/// environment, and what SDKs load passes the server's strict checks.
async fn every_kill_switch_works(app: &TestApp, keys_by_env: &[String], history: &[(Op, u16)]) {
    for (env, key) in ENVS.iter().zip(keys_by_env) {
        let doc: daylight::RulesetDocument = serde_json::from_value(
            app.request(Method::GET, "/sdk/v1/ruleset", Some(key), None, &[])
                .await
                .expect(200)
                .body,
        )
        .unwrap();
        let ruleset = daylight::Ruleset::compile(&doc).unwrap();
        assert_eq!(
            ruleset.reference_errors(),
            vec![],
            "{env} has dangling references after {history:?}"
        );
    }
    let listed = app.get("/api/v1/flags?archived=true").await.expect(200).body;
    let active = app.get("/api/v1/flags").await.expect(200).body;
    let keys = listed["flags"]
        .as_array()
        .into_iter()
        .chain(active["flags"].as_array())
        .flatten()
        .map(|f| f["key"].as_str().unwrap().to_owned());
    for key in keys {
        for env in ENVS {
            let status = app.toggle(&key, env, false).await.status;
            assert_eq!(status, 200, "turning `{key}` off in {env} failed after {history:?}");
        }
    }
}

fn random_writes_never_block_a_kill_switch_on(backend: Backend, cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = ProptestConfig {
        cases,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in proptest::collection::vec(op(), 1..24))| {
        runtime.block_on(async {
            let app = spawn_app(backend).await;
            let mut keys = Vec::new();
            for env in ENVS {
                keys.push(app.sdk_key(env, "server").await);
            }
            // Start from every flag and segment, flags on, so short walks
            // reach the interesting states.
            let mut setup: Vec<Op> = (0..FLAGS).map(Op::Create).collect();
            for e in 0..ENVS.len() {
                setup.extend((0..SEGMENTS).map(|s| Op::CreateSegment(s, e)));
                setup.extend((0..FLAGS).map(|f| Op::TurnOn(f, e)));
            }
            for op in &setup {
                assert!(apply(&app, op).await < 300, "set-up {op:?} failed");
            }
            let mut history = Vec::new();
            for op in &ops {
                let status = apply(&app, op).await;
                assert!(status < 500, "{op:?} answered {status} after {history:?}");
                history.push((op.clone(), status));
                every_kill_switch_works(&app, &keys, &history).await;
            }
        });
    });
}

#[test]
fn random_writes_never_block_a_kill_switch() {
    random_writes_never_block_a_kill_switch_on(Backend::Sqlite, 16);
    if crate::harness::backends().contains(&Backend::Postgres) {
        random_writes_never_block_a_kill_switch_on(Backend::Postgres, 4);
    }
}
