//! Dependency checksums from a `provenance.intoto.jsonl` file beside a receipt: the
//! `resolvedDependencies` of SLSA Provenance v1 statements, one per line, each either a DSSE
//! envelope (base64 `payload`) or a bare in-toto Statement.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

/// Name (or URI when there is no name) → the digests recorded for it, as `alg:hex`, sorted.
///
/// # Errors
/// One sentence naming the line that is not a statement or envelope.
pub fn resolved_dependencies(bytes: &[u8]) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let n = i + 1;
        let v: Value =
            serde_json::from_slice(line).map_err(|e| format!("line {n} is not JSON: {e}"))?;
        let statement = match v.get("payload").and_then(Value::as_str) {
            Some(p) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(p)
                    .map_err(|e| format!("line {n}: the envelope's payload is not base64: {e}"))?;
                serde_json::from_slice::<Value>(&raw)
                    .map_err(|e| format!("line {n}: the envelope's payload is not JSON: {e}"))?
            }
            None => v,
        };
        let deps = statement
            .pointer("/predicate/buildDefinition/resolvedDependencies")
            .and_then(Value::as_array);
        for d in deps.into_iter().flatten() {
            let Some(key) = d
                .get("name")
                .and_then(Value::as_str)
                .or_else(|| d.get("uri").and_then(Value::as_str))
            else {
                continue;
            };
            let digests = out.entry(key.to_owned()).or_default();
            if let Some(map) = d.get("digest").and_then(Value::as_object) {
                for (alg, hex) in map {
                    if let Some(hex) = hex.as_str() {
                        digests.push(format!("{alg}:{hex}"));
                    }
                }
            }
            digests.sort();
            digests.dedup();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_and_bare_statements_give_their_resolved_dependencies() {
        let statement = r#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"resolvedDependencies":[{"name":"serde@1.0.1","uri":"pkg:cargo/serde@1.0.1","digest":{"sha256":"aa"}},{"uri":"git+https://x","digest":{"gitCommit":"bb"}}]}}}"#;
        let payload = base64::engine::general_purpose::STANDARD.encode(statement);
        let envelope = format!(
            r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{payload}","signatures":[]}}"#
        );
        for text in [statement.to_owned(), envelope] {
            let deps = resolved_dependencies(format!("{text}\n").as_bytes()).unwrap();
            assert_eq!(deps["serde@1.0.1"], ["sha256:aa"]);
            assert_eq!(deps["git+https://x"], ["gitCommit:bb"]);
        }
        assert!(
            resolved_dependencies(b"{not json\n")
                .unwrap_err()
                .contains("line 1")
        );
    }
}
