//! Redaction: every built-in format is removed whole, overlapping/nested/adjacent matches
//! merge, ordinary log text is left alone, and no planted secret ever survives.

use proptest::prelude::*;
use receipt_evidence::redact::{
    REDACTION_TOKEN, RedactError, Redactor, UserPattern, builtin_detectors,
};

#[path = "../benches/common/corpus.rs"]
mod corpus;

fn redact_str(r: &Redactor, s: &str) -> (String, receipt_evidence::redact::RedactionRecord) {
    let out = r.redact(s.as_bytes());
    (
        String::from_utf8(out.bytes.into_owned()).unwrap(),
        out.record,
    )
}

/// No window of 4 bytes of `secret` is in `output`, unless the same window is also in the
/// text around the secret (then it is context, not a fragment).
fn assert_no_fragment(secret: &str, input: &str, output: &str) {
    let context = input.replace(secret, "\u{0}");
    for w in secret.as_bytes().windows(4) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(
            !output.contains(w) || context.contains(w),
            "fragment {w:?} of the secret survived in {output:?}"
        );
    }
}

#[test]
fn there_are_at_least_20_builtin_detectors_with_unique_well_formed_ids() {
    let ds = builtin_detectors();
    assert!(ds.len() >= 20, "{}", ds.len());
    let mut ids: Vec<_> = ds.iter().map(|d| d.id).collect();
    for id in &ids {
        assert!(
            id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{id}"
        );
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), ds.len());
    // Every detector has a planted-secret format in the shared corpus.
    let mut plantable = corpus::PLANTABLE.to_vec();
    plantable.sort();
    assert_eq!(plantable, ids);
}

#[test]
fn a_secret_in_every_detector_format_is_removed_without_fragments() {
    let r = Redactor::builtin();
    for id in corpus::PLANTABLE {
        for seed in 0..25 {
            let mut rng = corpus::Rng::new(seed * 977 + 13);
            let (line, secret) = corpus::planted(id, &mut rng);
            let (out, record) = redact_str(&r, &line);
            assert!(
                record.detectors.contains_key(*id),
                "{id} did not fire on {line:?}: {record:?}"
            );
            assert!(!out.contains(&secret), "{id}: {out:?}");
            assert_no_fragment(&secret, &line, &out);
            assert!(out.contains("[REDACTED]"));
            // The record names detectors and counts only: nothing of the secret beyond the
            // detector's own name (`github_pat_` is in `github_fine_grained_pat`).
            let json_context = format!("{line}{id}");
            let json = serde_json::to_string(&record).unwrap();
            assert_no_fragment(&secret, &json_context, &json);
        }
    }
}

/// A log line kept as a JSON string (as a runtime keeps evidence: its canonical JSON) has
/// its quotes escaped: `{\"password\":\"…\"}`. Regression: the assignment detectors did
/// not see a name closed by an escaped quote, and a password survived.
#[test]
fn a_secret_in_every_format_is_removed_from_the_json_string_of_its_line() {
    let r = Redactor::builtin();
    for id in corpus::PLANTABLE {
        for seed in 0..25 {
            let mut rng = corpus::Rng::new(seed * 977 + 13);
            let (line, secret) = corpus::planted(id, &mut rng);
            let json = serde_json::to_string(&line).unwrap();
            let (out, record) = redact_str(&r, &json);
            assert!(record.spans >= 1, "{id}: nothing found in {json}");
            let escaped = serde_json::to_string(&secret).unwrap();
            let escaped = &escaped[1..escaped.len() - 1];
            assert_no_fragment(escaped, &json, &out);
        }
    }
}

#[test]
fn nested_jwt_inside_bearer_inside_url_is_one_span() {
    let r = Redactor::builtin();
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    let input = format!("GET https://svc:Bearer+{jwt}@hooks.example.com/x done");
    let (out, record) = redact_str(&r, &input);
    assert_eq!(out, "GET https://svc:[REDACTED]@hooks.example.com/x done");
    assert_eq!(record.spans, 1);
    for id in ["url_password", "bearer_token", "jwt"] {
        assert_eq!(record.detectors.get(id), Some(&1), "{record:?}");
    }
}

#[test]
fn a_token_inside_a_password_assignment_is_one_span() {
    let r = Redactor::builtin();
    let tok = format!("ghp_{}", "a1B2".repeat(9));
    let input = format!("db_password={tok} next");
    let (out, record) = redact_str(&r, &input);
    assert_eq!(out, "db_password=[REDACTED] next");
    assert_eq!(record.spans, 1);
    assert!(record.detectors.contains_key("github_token"));
    assert!(record.detectors.contains_key("password_assignment"));
}

#[test]
fn two_detectors_overlapping_by_a_few_bytes_leave_no_fragment() {
    // A policy pattern that starts inside a GitHub token and runs past it.
    let r = Redactor::with_patterns(&[UserPattern {
        id: "ticket".into(),
        regex: "WXYZ-[0-9]{6}".into(),
    }])
    .unwrap();
    let tok = format!("ghp_{}WXYZ", "Qr7s".repeat(8));
    let input = format!("x {tok}-123456 y");
    let (out, record) = redact_str(&r, &input);
    assert_eq!(out, "x [REDACTED] y");
    assert_eq!(record.spans, 1);
    assert_eq!(record.detectors.get("github_token"), Some(&1));
    assert_eq!(record.detectors.get("user.ticket"), Some(&1));
}

#[test]
fn adjacent_matches_separated_by_nothing_become_one_span() {
    let r = Redactor::with_patterns(&[
        UserPattern {
            id: "a".into(),
            regex: "AAAA1111".into(),
        },
        UserPattern {
            id: "b".into(),
            regex: "BBBB2222".into(),
        },
    ])
    .unwrap();
    let (out, record) = redact_str(&r, "xxAAAA1111BBBB2222yy");
    assert_eq!(out, "xx[REDACTED]yy");
    assert_eq!(record.spans, 1);
    assert_eq!(record.detectors.len(), 2);
    // Two built-in tokens glued together: also one span, nothing left between them.
    let b = Redactor::builtin();
    let glued = format!("npm_{}AKIA{}", "n0pQ".repeat(9), "ABCDEFGHIJKLMNOP");
    let (out, _) = redact_str(&b, &format!("[{glued}]"));
    assert_eq!(out, "[[REDACTED]]");
}

#[test]
fn secrets_at_the_start_and_the_end_of_the_buffer() {
    let r = Redactor::builtin();
    let tok = format!("glpat-{}", "Zz09".repeat(6));
    assert_eq!(redact_str(&r, &tok).0, "[REDACTED]");
    assert_eq!(redact_str(&r, &format!("{tok} tail")).0, "[REDACTED] tail");
    assert_eq!(redact_str(&r, &format!("head {tok}")).0, "head [REDACTED]");
    // A password as the very last bytes, and a URL password with nothing after the host.
    assert_eq!(redact_str(&r, "password=hunter22").0, "password=[REDACTED]");
    assert_eq!(
        redact_str(&r, "redis://:s3cr3tpass@h").0,
        "redis://:[REDACTED]@h"
    );
}

#[test]
fn a_truncated_private_key_is_removed_through_its_last_body_line() {
    let r = Redactor::builtin();
    let body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun";
    let input = format!("log: -----BEGIN PRIVATE KEY-----\n{body}\n{body}");
    let (out, record) = redact_str(&r, &input);
    assert_eq!(out, "log: [REDACTED]");
    assert_eq!(record.detectors.get("pem_private_key"), Some(&1));
    // Cut inside a JSON string: the body ends at the quote.
    let input = format!("{{\"k\":\"-----BEGIN EC PRIVATE KEY-----\\n{body}\\n{body}\",\"n\":1}}");
    let (out, _) = redact_str(&r, &input);
    assert_eq!(out, "{\"k\":\"[REDACTED]\",\"n\":1}");
}

#[test]
fn invalid_utf8_around_a_secret_is_handled_without_panicking() {
    let r = Redactor::builtin();
    let tok = format!("xoxb-{}", "1234567890-abcdef");
    let mut input = vec![0xff, 0xfe, b' '];
    input.extend_from_slice(tok.as_bytes());
    input.extend_from_slice(&[b' ', 0xc3, 0x28, 0x80]);
    let out = r.redact(&input);
    let mut want = vec![0xff, 0xfe, b' '];
    want.extend_from_slice(REDACTION_TOKEN);
    want.extend_from_slice(&[b' ', 0xc3, 0x28, 0x80]);
    assert_eq!(&out.bytes[..], &want[..]);
}

#[test]
fn no_false_positive_on_a_clean_log_of_several_megabytes() {
    let r = Redactor::builtin();
    let (log, secrets) = corpus::typical_log(4 << 20, 0, 99);
    assert!(secrets.is_empty());
    let found = r.detect(&log);
    let shown: Vec<String> = found
        .iter()
        .take(5)
        .map(|d| {
            format!(
                "{}: {:?}",
                d.detector,
                String::from_utf8_lossy(
                    &log[d.start.saturating_sub(40)..(d.end + 20).min(log.len())]
                )
            )
        })
        .collect();
    assert_eq!(found.len(), 0, "false positives: {shown:#?}");
    // And the redacted output is the input, borrowed.
    assert!(matches!(
        r.redact(&log).bytes,
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn a_typical_log_with_planted_secrets_loses_exactly_those() {
    let r = Redactor::builtin();
    let (log, secrets) = corpus::typical_log(2 << 20, 8, 5);
    assert!(secrets.len() >= 16);
    let out = r.redact(&log);
    assert_eq!(out.record.spans as usize, secrets.len(), "{:?}", out.record);
    let text = String::from_utf8(out.bytes.into_owned()).unwrap();
    for s in &secrets {
        assert!(!text.contains(s.as_str()));
    }
}

#[test]
fn placeholders_and_the_working_directory_are_not_secrets() {
    let r = Redactor::builtin();
    for s in [
        "password=[REDACTED]",
        "\"password\":\"[REDACTED]\"",
        "PWD=/home/user/src",
        "password=${DB_PASSWORD}",
        "password: ********",
        "url=https://user:[REDACTED]@host/",
        "API_KEY=[REDACTED]",
    ] {
        assert_eq!(r.detect(s.as_bytes()), vec![], "{s}");
    }
}

#[test]
fn redaction_is_idempotent_on_the_planted_formats() {
    let r = Redactor::builtin();
    let (log, _) = corpus::typical_log(1 << 20, 40, 3);
    let once = r.redact(&log).bytes.into_owned();
    let twice = r.redact(&once);
    assert!(twice.record.is_empty(), "{:?}", twice.record);
    assert_eq!(&twice.bytes[..], &once[..]);
}

#[test]
fn bad_policy_patterns_are_refused_with_their_id() {
    let bad_id = Redactor::with_patterns(&[UserPattern {
        id: "Bad Id".into(),
        regex: "x".into(),
    }]);
    assert!(matches!(bad_id, Err(RedactError::BadId(_))));
    let bad_re = Redactor::with_patterns(&[UserPattern {
        id: "acme".into(),
        regex: "(unclosed".into(),
    }])
    .unwrap_err();
    assert!(
        matches!(&bad_re, RedactError::BadRegex { id, .. } if id == "acme"),
        "{bad_re}"
    );
    let empty = Redactor::with_patterns(&[UserPattern {
        id: "empty".into(),
        regex: "x*".into(),
    }]);
    assert!(matches!(empty, Err(RedactError::EmptyMatch(_))));
    let twice = Redactor::with_patterns(&[
        UserPattern {
            id: "a".into(),
            regex: "x".into(),
        },
        UserPattern {
            id: "a".into(),
            regex: "y".into(),
        },
    ]);
    assert!(matches!(twice, Err(RedactError::BadId(_))));
}

#[test]
fn a_policy_pattern_with_a_secret_group_redacts_only_the_group() {
    let r = Redactor::with_patterns(&[UserPattern {
        id: "acme".into(),
        regex: "acme-id=(?P<secret>[0-9a-f]{12})".into(),
    }])
    .unwrap();
    let (out, rec) = redact_str(&r, "acme-id=0123456789ab ok");
    assert_eq!(out, "acme-id=[REDACTED] ok");
    assert_eq!(rec.detectors.get("user.acme"), Some(&1));
}

fn planted_strategy() -> impl Strategy<Value = (String, Vec<String>)> {
    let piece = prop_oneof![
        (0u64..1_000_000).prop_map(|seed| {
            let mut rng = corpus::Rng::new(seed);
            (corpus::clean_line(&mut rng), None)
        }),
        (0usize..corpus::PLANTABLE.len(), 0u64..1_000_000).prop_map(|(i, seed)| {
            let mut rng = corpus::Rng::new(seed);
            let (line, s) = corpus::planted(corpus::PLANTABLE[i], &mut rng);
            (line, Some(s))
        }),
        // Glue: a planted line without its newline, so secrets end up adjacent.
        (0usize..corpus::PLANTABLE.len(), 0u64..1_000_000).prop_map(|(i, seed)| {
            let mut rng = corpus::Rng::new(seed);
            let (line, s) = corpus::planted(corpus::PLANTABLE[i], &mut rng);
            (line.trim_end_matches('\n').to_owned(), Some(s))
        }),
    ];
    proptest::collection::vec(piece, 1..12).prop_map(|pieces| {
        let mut text = String::new();
        let mut secrets = Vec::new();
        for (line, s) in pieces {
            text.push_str(&line);
            secrets.extend(s);
        }
        (text, secrets)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn output_never_contains_a_planted_secret((text, secrets) in planted_strategy()) {
        let r = Redactor::builtin();
        let out = r.redact(text.as_bytes());
        let out = String::from_utf8_lossy(&out.bytes);
        for s in &secrets {
            prop_assert!(!out.contains(s.as_str()), "secret {:?} survived in {:?}", s, out);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_redaction_is_idempotent(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048)
    ) {
        let r = Redactor::builtin();
        let once = r.redact(&bytes).bytes.into_owned();
        let twice = r.redact(&once);
        prop_assert_eq!(&twice.bytes[..], &once[..]);
    }
}
