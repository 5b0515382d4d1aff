//! Properties of the two decoders every client message goes through, over generated
//! input: the stdio line decoder never panics and answers only with well-formed
//! JSON-RPC errors, and every tool's argument decoding never panics and names what
//! it refuses. (fuzz/ runs the same decoders under libFuzzer, for longer.)

use databricks_mcp::registry;
use databricks_mcp::stdio::{Decoded, decode};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON-RPC-shaped objects: the real member names with any values, so that the
/// checks past "is it JSON" are reached.
fn message_like() -> impl Strategy<Value = Value> {
    let method = prop_oneof![
        Just(json!("tools/call")),
        Just(json!("tools/list")),
        Just(json!("initialize")),
        Just(json!("ping")),
        Just(json!("notifications/initialized")),
        json_value(),
    ];
    (
        prop::option::of(prop_oneof![Just(json!("2.0")), json_value()]),
        prop::option::of(json_value()),
        prop::option::of(method),
        prop::option::of(json_value()),
    )
        .prop_map(|(jsonrpc, id, method, params)| {
            let mut m = Map::new();
            for (k, v) in [("jsonrpc", jsonrpc), ("id", id), ("method", method), ("params", params)] {
                if let Some(v) = v {
                    m.insert(k.to_string(), v);
                }
            }
            Value::Object(m)
        })
}

/// What an answer to `input` must look like.
fn check_answer(input: &[u8], answer: &Value) {
    assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
    let code = answer["error"]["code"].as_i64().unwrap_or_default();
    assert!([-32700, -32600, -32602].contains(&code), "{answer}");
    assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    let sent_id = serde_json::from_slice::<Value>(input).ok().and_then(|v| v.get("id").cloned());
    match &answer["id"] {
        Value::Null => {}
        id => assert_eq!(Some(id), sent_id.as_ref(), "an answer carries the request's own id: {answer}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_decode_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Decoded::Answer(answer) = decode(&bytes) {
            check_answer(&bytes, &answer);
        }
    }

    #[test]
    fn message_shaped_json_is_decoded_or_answered_well(message in message_like()) {
        let bytes = serde_json::to_vec(&message).expect("serializes");
        match decode(&bytes) {
            Decoded::Answer(answer) => check_answer(&bytes, &answer),
            // A well-formed request is handed to rmcp only with jsonrpc "2.0".
            Decoded::Message(_) => prop_assert_eq!(&message["jsonrpc"], "2.0"),
            Decoded::Skip => prop_assert!(message.get("id").is_none(), "only notifications go unanswered: {}", message),
        }
    }

    #[test]
    fn every_tools_arguments_decode_or_name_the_problem(
        pick in any::<prop::sample::Index>(),
        values in prop::collection::vec(json_value(), 0..6),
        extra in prop::option::of(".{1,8}"),
    ) {
        let tools = registry::all();
        let tool = tools[pick.index(tools.len())];
        let schema = (tool.input_schema)();
        let names: Vec<String> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let mut arguments = Map::new();
        for (i, value) in values.into_iter().enumerate() {
            let name = match (&extra, names.get(i)) {
                (_, Some(name)) => name.clone(),
                (Some(extra), None) => extra.clone(),
                (None, None) => break,
            };
            arguments.insert(name, value);
        }
        if let Err(e) = (tool.check_args)(arguments.clone()) {
            let message = e.to_string();
            prop_assert!(!message.is_empty(), "{}: an empty refusal", tool.name);
            prop_assert!(message.contains("argument"), "{}: {}", tool.name, message);
        }
    }
}
