//! Explain for a person: the trace of one evaluation, an unsaved draft
//! explained without being saved (and refused, naming the field, when it
//! would not save), the attribute names apps send, and the playground.

use serde_json::{json, Value};

on_each_backend!(explain_returns_the_trace_and_explains_a_draft, |app| {
    app.post(
        "/api/v1/environments/staging/segments",
        json!({ "key": "vip", "name": "VIPs", "included": ["p-vip"] }),
    )
    .await
    .expect(201);
    app.create_flag(json!({ "key": "lobby" })).await;
    app.edit_config("lobby", "staging", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([
            { "id": "kiwis", "description": "Kiwis", "clauses": [{ "attribute": "country", "op": "in", "values": ["NZ"] }], "serve": { "variation": 1 } },
            { "id": "vips", "clauses": [{ "op": "in_segment", "values": ["vip"] }], "serve": { "variation": 1 } }
        ]);
        c["fallthrough"] = json!({ "rollout": { "bucket_by": "player_id", "variations": [{ "variation": 1, "weight": 10000 }, { "variation": 0, "weight": 90000 }] } });
    })
    .await
    .expect(200);
    let path = "/api/v1/flags/lobby/environments/staging/evaluate";
    let ctx = json!({ "key": "p-1", "country": "AU", "player_id": "p-1" });
    let live = app.post(path, json!({ "context": ctx })).await.expect(200).body;
    assert_eq!(live["draft"], false);
    let steps = live["trace"]["steps"].as_array().unwrap().clone();
    let kinds: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["targets", "rule", "rule", "fallthrough", "rollout"]);
    assert_eq!(
        steps[1]["clauses"][0],
        json!({ "attribute": "country", "op": "in", "negate": false, "values": ["NZ"], "value": "AU", "missing": false, "matched": false })
    );
    assert_eq!(
        steps[2]["clauses"][0]["segments"][0],
        json!({ "segment": "vip", "membership": "not_included" })
    );
    let rollout = &steps[4];
    assert_eq!(
        (rollout["bucket_by"].as_str(), rollout["salt"].as_str()),
        (Some("player_id"), Some("lobby"))
    );
    let bucket = daylight::bucket::bucket_of("lobby", "p-1");
    assert_eq!(rollout["bucket"], bucket);
    assert_eq!(
        rollout["thresholds"][0],
        json!({ "variation": 1, "from": 0, "to": 10000 })
    );
    assert_eq!(live["value"], Value::Bool(bucket < 10000));

    // The same context against a draft that lets Australians in: the
    // answer changes, and nothing was saved.
    let mut config = app
        .get("/api/v1/flags/lobby/environments/staging")
        .await
        .expect(200)
        .body;
    config["rules"][0]["clauses"][0]["values"] = json!(["NZ", "AU"]);
    let drafted = app
        .post(path, json!({ "context": ctx, "config": config }))
        .await
        .expect(200)
        .body;
    assert_eq!(drafted["draft"], true);
    assert_eq!(drafted["value"], true);
    assert_eq!(drafted["reason"]["rule_id"], "kiwis");
    assert_eq!(
        drafted["trace"]["steps"][1]["clauses"][0]["values"],
        json!(["NZ", "AU"])
    );
    let again = app.post(path, json!({ "context": ctx })).await.expect(200).body;
    assert_eq!(again["reason"], live["reason"], "the draft was not saved");
    let stored = app.get("/api/v1/flags/lobby").await.expect(200).body;
    assert_eq!(stored["version"], 2);

    // A draft that would not save is refused, naming the field in `config`.
    let mut bad = config.clone();
    bad["rules"][0]["clauses"][0]["op"] = json!("semver_gt");
    app.post(path, json!({ "context": ctx, "config": bad }))
        .await
        .expect_field_error(400, "config.rules[0].clauses[0].values[0]");
    let mut dangling = config.clone();
    dangling["rules"][1]["clauses"][0]["values"] = json!(["nobody"]);
    app.post(path, json!({ "context": ctx, "config": dangling }))
        .await
        .expect_field_error(400, "config.rules[1].clauses[0].values[0]");
    // A draft for a flag that does not exist is a 404, not an explanation.
    app.post(
        "/api/v1/flags/nope/environments/staging/evaluate",
        json!({ "context": ctx, "config": config }),
    )
    .await
    .expect(404);

    // Off, a missing bucket_by attribute, an archived flag.
    let missing = app
        .post(path, json!({ "context": { "key": "p-2", "country": "AU" } }))
        .await
        .expect(200)
        .body;
    let last = missing["trace"]["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["step"], "rollout");
    assert!(last.get("bucket").is_none(), "{last}");
    assert_eq!(missing["value"], true, "bucket 0 is in the first range");
    app.toggle("lobby", "staging", false).await.expect(200);
    let off = app.post(path, json!({ "context": ctx })).await.expect(200).body;
    assert_eq!(off["trace"]["steps"], json!([{ "step": "off" }]));
    let version = app.get("/api/v1/flags/lobby").await.body["version"].to_string();
    app.request(
        reqwest::Method::PATCH,
        "/api/v1/flags/lobby",
        Some(crate::harness::ADMIN),
        Some(json!({ "archived": true })),
        &[("If-Match", version.as_str())],
    )
    .await
    .expect(200);
    let archived = app.post(path, json!({ "context": ctx })).await.expect(200).body;
    assert_eq!(archived["trace"]["steps"], json!([{ "step": "archived" }]));
});

on_each_backend!(
    the_form_learns_attribute_names_and_the_playground_answers_everywhere,
    |app| {
        app.create_flag(json!({ "key": "lobby" })).await;
        app.create_flag(json!({ "key": "chat" })).await;
        app.edit_config("lobby", "production", |c| {
            c["on"] = json!(true);
            c["fallthrough"] = json!({ "variation": 1 });
        })
        .await
        .expect(200);
        let none = app.get("/api/v1/environments/production/attributes").await.expect(200);
        assert_eq!(none.body["attributes"], json!([]));
        app.get("/api/v1/environments/nowhere/attributes").await.expect(404);

        let key = app.sdk_key("production", "server").await;
        app.ofrep(
            &key,
            Some("lobby"),
            json!({ "context": { "targetingKey": "u-1", "country": "AU", "game": "omaha" } }),
        )
        .await
        .expect(200);
        app.ofrep(
            &key,
            None,
            json!({ "context": { "targetingKey": "u-2", "player_id": 7 } }),
        )
        .await
        .expect(200);
        let learned = app.get("/api/v1/environments/production/attributes").await.expect(200);
        let names: Vec<&str> = learned.body["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert_eq!(names[0], "player_id", "most recent first: {names:?}");
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ["country", "game", "player_id"], "names only, never values");
        assert!(!learned.body.to_string().contains("omaha"));
        let staging = app.get("/api/v1/environments/staging/attributes").await.expect(200);
        assert_eq!(staging.body["attributes"], json!([]));

        let played = app
            .post("/api/v1/playground", json!({ "context": { "key": "u-1" } }))
            .await
            .expect(200)
            .body;
        assert_eq!(played["environments"], json!(["production", "staging"]));
        let flags = played["flags"].as_array().unwrap();
        assert_eq!(
            flags.iter().map(|f| f["key"].as_str().unwrap()).collect::<Vec<_>>(),
            ["chat", "lobby"]
        );
        assert_eq!(flags[1]["results"]["production"]["value"], true);
        assert_eq!(flags[1]["results"]["production"]["reason"]["kind"], "FALLTHROUGH");
        assert_eq!(flags[1]["results"]["staging"]["reason"]["kind"], "OFF");
        assert_eq!(flags[0]["results"]["production"]["value"], false);
        app.post("/api/v1/playground", json!({ "context": { "key": 5 } }))
            .await
            .expect_field_error(400, "context.key");
    }
);
