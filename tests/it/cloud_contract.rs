//! The AsyncAPI document (docs/asyncapi.yaml) and its JSON Schemas (docs/schemas/) describe
//! what the gateway really does: every command it answers is in the document, and payloads
//! it really publishes through a real broker pass a structural check against the schemas
//! (type, required, properties, items, enum, const — enough to catch a renamed or missing
//! field without a JSON Schema crate).

use crate::common;

use std::time::Duration;

use common::mosquitto::*;
use common::*;
use fluxprint_gateway::cloud::payload::COMMANDS;
use fluxprint_gateway::config::MqttVersion;
use fluxprint_gateway::printer::driver::DriverReport;
use serde_json::{Value, json};

fn doc(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn schema(name: &str) -> Value {
    serde_json::from_str(&doc(&format!("docs/schemas/{name}"))).unwrap()
}

#[test]
fn every_command_the_gateway_answers_is_in_the_asyncapi_document() {
    let asyncapi = doc("docs/asyncapi.yaml");
    for name in COMMANDS {
        assert!(
            asyncapi.contains(&format!("/cmd/{name}'")),
            "{name} is not in docs/asyncapi.yaml"
        );
    }
    for schema in ["command", "reply", "event", "state", "telemetry"] {
        assert!(
            asyncapi.contains(&format!("schemas/{schema}.json")),
            "{schema}"
        );
    }
}

fn type_ok(expected: &Value, value: &Value) -> bool {
    let one = |t: &str| match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    };
    match expected {
        Value::String(t) => one(t),
        Value::Array(ts) => ts.iter().any(|t| t.as_str().is_some_and(one)),
        _ => true,
    }
}

/// Every problem of `value` against `schema`, with its JSON path.
fn check(schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
    if let Some(t) = schema.get("type") {
        if !type_ok(t, value) {
            problems.push(format!("{path}: {value} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            problems.push(format!("{path}: {value} is not {c}"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            problems.push(format!("{path}: {value} is not one of {options:?}"));
        }
    }
    // As in JSON Schema, `required` applies to objects only (a nullable object may be null).
    if let (Some(Value::Array(required)), Value::Object(_)) = (schema.get("required"), value) {
        for key in required.iter().filter_map(Value::as_str) {
            if value.get(key).is_none() {
                problems.push(format!("{path}: missing {key:?}"));
            }
        }
    }
    if let (Some(Value::Object(props)), Value::Object(fields)) = (schema.get("properties"), value) {
        for (key, field) in fields {
            match props.get(key) {
                Some(sub) => check(sub, field, &format!("{path}.{key}"), problems),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    problems.push(format!("{path}: unexpected {key:?}"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Value::Array(values)) = (schema.get("items"), value) {
        for (i, item) in values.iter().enumerate() {
            check(items, item, &format!("{path}[{i}]"), problems);
        }
    }
}

pub(crate) fn assert_matches(schema_name: &str, value: &Value) {
    let mut problems = Vec::new();
    check(&schema(schema_name), value, "$", &mut problems);
    assert!(problems.is_empty(), "{schema_name}: {problems:#?}\n{value}");
}

#[test]
fn the_structural_check_catches_a_missing_or_mistyped_field() {
    let mut problems = Vec::new();
    check(
        &schema("reply.json"),
        &json!({"v": 1, "ok": "yes"}),
        "$",
        &mut problems,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[tokio::test]
async fn payloads_the_gateway_publishes_match_the_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let broker = Broker::start(&pki, dir.path());
    let mut cloud = Cloud::connect(&pki, &broker, "test-cloud").await;
    let mut link = link(&pki, broker.port, MqttVersion::V5);
    link.options.telemetry_idle = Duration::from_secs(1);
    let drivers = HandDrivers::default();
    let config = with_cloud(
        config(dir.path(), vec![printer("mk3s", [200.0; 3], false)]),
        &pki,
        link,
    );
    let running = start_connected(config, &drivers).await;
    report(&drivers.take("mk3s"), DriverReport::Connected).await;

    let event = cloud.next("an event", |s| s.topic == topic("events")).await;
    assert_matches("event.json", &event.payload);
    let retained = cloud.next("the state", |s| s.topic == topic("state")).await;
    assert_matches("state.json", &retained.payload);
    let sample = cloud
        .next("telemetry", |s| s.topic == topic("telemetry"))
        .await;
    assert_matches("telemetry.json", &sample.payload);

    let command = json!({"v": 1, "id": "s-1", "args": {}});
    assert_matches("command.json", &command);
    cloud.command("state.get", command, None).await;
    assert_matches("reply.json", &cloud.reply("s-1").await);
    cloud
        .command(
            "job.pause",
            json!({"v": 1, "id": "p-1", "args": {"job_id": "nope"}}),
            None,
        )
        .await;
    let error = cloud.reply("p-1").await;
    assert_eq!(error["error"]["code"], "job_not_found");
    assert_matches("reply.json", &error);
    running.stop().await;
}
