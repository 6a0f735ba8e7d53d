//! The ledger's fast canonical-JSON paths agree with the reference RFC 8785 implementation.

use proptest::prelude::*;
use receipt_runtime::entry::{LineError, Unsealed, genesis, kind, parse_raw};
use serde_json::{Value, json};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|u| json!(u)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\a/é😀]{0,6}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_é😀\u{e000}]{0,5}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn canonical_matches_reference(v in value()) {
        let reference = receipt_primitives::jcs::to_vec(&v);
        let ours = receipt_runtime::entry::canonical(&v);
        prop_assert_eq!(reference.ok(), ours.ok());
    }

    #[test]
    fn sealed_lines_parse_and_respellings_are_refused(v in value(), seq in 0u64..1 << 40) {
        let payload = json!({ "x": v });
        let sealed = Unsealed {
            seq,
            prev: genesis("r"),
            run_id: "r",
            kind: kind::EVENT,
            stage: Some("s"),
            payload: payload.clone(),
        }
        .seal()
        .unwrap();
        let line = sealed.line.strip_suffix(b"\n").unwrap();
        prop_assert!(receipt_primitives::jcs::is_canonical(line));
        let raw = parse_raw(line).unwrap();
        prop_assert_eq!(raw.hash, sealed.hash);
        prop_assert_eq!(raw.seq, seq);
        // Pretty-printing keeps the meaning but not the bytes.
        let parsed: Value = serde_json::from_slice(line).unwrap();
        let pretty = serde_json::to_vec_pretty(&parsed).unwrap();
        if pretty != line {
            prop_assert_eq!(parse_raw(&pretty).unwrap_err(), LineError::NotCanonical);
        }
    }
}

#[test]
fn scanner_refuses_each_non_canonical_spelling() {
    let base = Unsealed {
        seq: 1,
        prev: genesis("r"),
        run_id: "r",
        kind: kind::EVENT,
        stage: None,
        payload: json!({ "a": 1, "b": "x\u{1}y", "c": [true, null] }),
    }
    .seal()
    .unwrap();
    let line = String::from_utf8(base.line[..base.line.len() - 1].to_vec()).unwrap();
    assert!(parse_raw(line.as_bytes()).is_ok());
    for (from, to) in [
        ("\"a\":1", "\"a\":1.0"),
        ("\"a\":1", "\"a\":01"),
        ("\"a\":1", "\"a\":1e0"),
        ("\"a\":1", "\"a\": 1"),
        ("\"a\":1", "\"a\":-0"),
        ("x\\u0001y", "x\\u0001\\u0079"),
        ("x\\u0001y", "x\\u0001\\/"),
        ("x\\u0001y", "x\\u0001Y\\n"),
        ("\"c\":[true,null]", "\"c\":[true, null]"),
    ] {
        assert!(line.contains(from), "{from}");
        let bad = line.replacen(from, to, 1);
        let err = parse_raw(bad.as_bytes()).unwrap_err();
        // A respelling that keeps the meaning is a form error; one that changes the content
        // (an added newline) fails the hash; `01` is not JSON at all.
        assert!(
            matches!(
                err,
                LineError::NotCanonical | LineError::HashMismatch { .. } | LineError::NotJson(_)
            ),
            "{to}: {err:?}"
        );
    }
    let swapped = line
        .replacen("\"a\":1,\"b\"", "\"b\"", 1)
        .replacen("}}", ",\"a\":1}}", 1);
    assert!(parse_raw(swapped.as_bytes()).is_err());
    assert!(matches!(
        parse_raw(b"{not json"),
        Err(LineError::NotJson(_))
    ));
}
