//! in-toto Statement v1 (<https://github.com/in-toto/attestation/blob/main/spec/v1>) with
//! ResourceDescriptor, and the SLSA Provenance v1 predicate
//! (<https://slsa.dev/spec/v1.0/provenance>), typed, with absent optional fields omitted
//! (never `null`) and validation on read.
//!
//! The payload of an envelope is the Statement's RFC 8785 canonical JSON
//! ([`Statement::to_json`]); [`Statement::parse`] reads JSON of the Statement schema and
//! checks the required fields and digest forms (it does not insist on the canonical
//! spelling, which the envelope's signature already pins).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use receipt_primitives::Timestamp;
use receipt_primitives::check::echo;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// `predicateType` of SLSA Provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// The DSSE payload type of in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A digest set: algorithm name → lowercase hex digest, sorted by algorithm.
pub type DigestSet = BTreeMap<String, String>;

/// An in-toto ResourceDescriptor: at least one of `uri`, `digest`, `content` is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// A name for the resource (for a subject: the file path).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// A URI identifying the resource.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uri: Option<String>,
    /// Digests of the resource.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub digest: Option<DigestSet>,
    /// The resource's content, base64 (standard alphabet).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub content: Option<String>,
    /// Where the resource can be downloaded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub download_location: Option<String>,
    /// The resource's media type.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub media_type: Option<String>,
    /// Further properties.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub annotations: Option<Map<String, Value>>,
}

impl ResourceDescriptor {
    /// A descriptor with a name and one SHA-256 digest.
    pub fn file(name: impl Into<String>, sha256: &receipt_primitives::Digest) -> Self {
        ResourceDescriptor {
            name: Some(name.into()),
            digest: Some(DigestSet::from([("sha256".to_owned(), sha256.to_hex())])),
            ..ResourceDescriptor::default()
        }
    }

    /// The SHA-256 digest, when present.
    pub fn sha256(&self) -> Option<&str> {
        self.digest.as_ref()?.get("sha256").map(String::as_str)
    }

    fn validate(&self, at: &str) -> Result<(), StatementError> {
        if self.uri.is_none() && self.digest.is_none() && self.content.is_none() {
            return Err(StatementError::Field {
                field: at.to_owned(),
                why: "a resource descriptor needs at least one of uri, digest, content".into(),
            });
        }
        if let Some(d) = &self.digest {
            validate_digest_set(d, &format!("{at}.digest"))?;
        }
        Ok(())
    }
}

/// Hex lengths of the digest algorithms the in-toto spec names; other algorithm names must
/// still be non-empty lowercase hex.
fn known_hex_len(alg: &str) -> Option<&'static [usize]> {
    Some(match alg {
        "sha256" | "sha512_256" | "sha3_256" => &[64],
        "sha224" | "sha512_224" | "sha3_224" => &[56],
        "sha384" | "sha3_384" => &[96],
        "sha512" | "sha3_512" => &[128],
        "md5" => &[32],
        "sha1" => &[40],
        "gitBlob" | "gitTree" | "gitCommit" | "gitTag" => &[40, 64],
        _ => return None,
    })
}

fn validate_digest_set(d: &DigestSet, at: &str) -> Result<(), StatementError> {
    if d.is_empty() {
        return Err(StatementError::Field {
            field: at.to_owned(),
            why: "an empty digest set".into(),
        });
    }
    for (alg, hex) in d {
        let is_hex = !hex.is_empty() && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let len_ok = known_hex_len(alg).is_none_or(|lens| lens.contains(&hex.len()));
        if !is_hex || !len_ok {
            return Err(StatementError::Field {
                field: format!("{at}.{}", echo(alg)),
                why: format!(
                    "{:?} is not a lowercase hex digest of this algorithm",
                    echo(hex)
                ),
            });
        }
    }
    Ok(())
}

/// An in-toto Statement v1 with a predicate of type `P` (raw JSON by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement<P = Value> {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about; at least one, each with a digest.
    pub subject: Vec<ResourceDescriptor>,
    /// The predicate's type URI.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate.
    pub predicate: P,
}

/// Why a Statement or predicate is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Not JSON of the schema.
    #[error("not an in-toto Statement v1: {0}")]
    Json(String),
    /// A field with a wrong value.
    #[error("field `{field}`: {why}")]
    Field {
        /// The field, as a JSON path.
        field: String,
        /// What is wrong.
        why: String,
    },
    /// The statement cannot be canonicalized.
    #[error("the statement has no canonical JSON form: {0}")]
    Jcs(String),
}

impl<P: Serialize> Statement<P> {
    /// A statement about `subject` with `predicate` of type `predicate_type`.
    pub fn new(subject: Vec<ResourceDescriptor>, predicate_type: &str, predicate: P) -> Self {
        Statement {
            type_: STATEMENT_TYPE.to_owned(),
            subject,
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    /// The RFC 8785 canonical bytes (the envelope payload).
    ///
    /// # Errors
    /// [`StatementError::Jcs`] for content without a canonical form (non-finite numbers).
    pub fn to_json(&self) -> Result<Vec<u8>, StatementError> {
        receipt_primitives::jcs::to_vec(self).map_err(|e| StatementError::Jcs(e.to_string()))
    }

    /// Checks the Statement's own fields: `_type`, at least one subject, each subject a
    /// valid descriptor with a digest, a non-empty predicate type.
    ///
    /// # Errors
    /// [`StatementError::Field`] naming the first wrong field.
    pub fn validate(&self) -> Result<(), StatementError> {
        if self.type_ != STATEMENT_TYPE {
            return Err(StatementError::Field {
                field: "_type".into(),
                why: format!("{:?} is not {STATEMENT_TYPE:?}", echo(&self.type_)),
            });
        }
        if self.subject.is_empty() {
            return Err(StatementError::Field {
                field: "subject".into(),
                why: "at least one subject is required".into(),
            });
        }
        for (i, s) in self.subject.iter().enumerate() {
            let at = format!("subject[{i}]");
            s.validate(&at)?;
            if s.digest.is_none() {
                return Err(StatementError::Field {
                    field: at,
                    why: "a subject needs a digest".into(),
                });
            }
        }
        if self.predicate_type.is_empty() {
            return Err(StatementError::Field {
                field: "predicateType".into(),
                why: "empty".into(),
            });
        }
        Ok(())
    }
}

impl Statement<Value> {
    /// Parses and validates a Statement with a raw predicate (which must be an object).
    ///
    /// # Errors
    /// [`StatementError`] naming what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Statement<Value>, StatementError> {
        let s: Statement<Value> = serde_json::from_slice(bytes)
            .map_err(|e| StatementError::Json(echo(&e.to_string())))?;
        s.validate()?;
        if !s.predicate.is_object() {
            return Err(StatementError::Field {
                field: "predicate".into(),
                why: "not an object".into(),
            });
        }
        Ok(s)
    }

    /// The predicate as SLSA Provenance v1, checking `predicateType` and every field.
    ///
    /// # Errors
    /// [`StatementError`] naming what is wrong.
    pub fn provenance(&self) -> Result<Statement<Provenance>, StatementError> {
        if self.predicate_type != SLSA_PROVENANCE_V1 {
            return Err(StatementError::Field {
                field: "predicateType".into(),
                why: format!(
                    "{:?} is not {SLSA_PROVENANCE_V1:?}",
                    echo(&self.predicate_type)
                ),
            });
        }
        let p: Provenance =
            serde_json::from_value(self.predicate.clone()).map_err(|e| StatementError::Field {
                field: "predicate".into(),
                why: echo(&e.to_string()),
            })?;
        p.validate()?;
        Ok(Statement {
            type_: self.type_.clone(),
            subject: self.subject.clone(),
            predicate_type: self.predicate_type.clone(),
            predicate: p,
        })
    }
}

/// The SLSA Provenance v1 predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provenance {
    /// What the build was asked to do.
    pub build_definition: BuildDefinition,
    /// Who ran it, when, and what else it made.
    pub run_details: RunDetails,
}

/// `buildDefinition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildDefinition {
    /// A URI naming the build template and the meaning of the parameters.
    pub build_type: String,
    /// Parameters under the control of whoever asked for the build.
    pub external_parameters: Map<String, Value>,
    /// Parameters the build platform set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub internal_parameters: Option<Map<String, Value>>,
    /// Artifacts the build fetched or read (source, dependencies).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resolved_dependencies: Option<Vec<ResourceDescriptor>>,
}

/// `runDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunDetails {
    /// The build platform.
    pub builder: Builder,
    /// The invocation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<BuildMetadata>,
    /// Other artifacts the build produced (here: the receipt and manifest).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub byproducts: Option<Vec<ResourceDescriptor>>,
}

/// `runDetails.builder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Builder {
    /// The builder's URI.
    pub id: String,
    /// Versions of the builder's components.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<BTreeMap<String, String>>,
    /// The builder's own dependencies.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub builder_dependencies: Option<Vec<ResourceDescriptor>>,
}

/// `runDetails.metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildMetadata {
    /// Identifies this invocation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub invocation_id: Option<String>,
    /// When the build started.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        serialize_with = "ser_ts",
        deserialize_with = "de_ts"
    )]
    pub started_on: Option<Timestamp>,
    /// When the build finished.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        serialize_with = "ser_ts",
        deserialize_with = "de_ts"
    )]
    pub finished_on: Option<Timestamp>,
}

fn ser_ts<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(t),
        None => s.serialize_none(),
    }
}

fn de_ts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let s = String::deserialize(d)?;
    Timestamp::parse(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

impl Provenance {
    /// Checks the required fields and every resource descriptor.
    ///
    /// # Errors
    /// [`StatementError::Field`] naming the first wrong field.
    pub fn validate(&self) -> Result<(), StatementError> {
        let field = |f: &str, why: &str| StatementError::Field {
            field: format!("predicate.{f}"),
            why: why.to_owned(),
        };
        if self.build_definition.build_type.is_empty() {
            return Err(field("buildDefinition.buildType", "empty"));
        }
        if self.run_details.builder.id.is_empty() {
            return Err(field("runDetails.builder.id", "empty"));
        }
        let lists = [
            (
                "buildDefinition.resolvedDependencies",
                &self.build_definition.resolved_dependencies,
            ),
            ("runDetails.byproducts", &self.run_details.byproducts),
            (
                "runDetails.builder.builderDependencies",
                &self.run_details.builder.builder_dependencies,
            ),
        ];
        for (name, list) in lists {
            for (i, rd) in list.iter().flatten().enumerate() {
                rd.validate(&format!("predicate.{name}[{i}]"))?;
            }
        }
        if let Some(m) = &self.run_details.metadata
            && let (Some(s), Some(f)) = (m.started_on, m.finished_on)
            && s > f
        {
            return Err(field(
                "runDetails.metadata.startedOn",
                "later than finishedOn",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use receipt_primitives::Digest;

    fn provenance() -> Statement<Provenance> {
        Statement::new(
            vec![ResourceDescriptor::file("debug/app", &Digest::of(b"app"))],
            SLSA_PROVENANCE_V1,
            Provenance {
                build_definition: BuildDefinition {
                    build_type: "https://receipt.dev/build-types/cargo/v1".into(),
                    external_parameters: Map::new(),
                    internal_parameters: None,
                    resolved_dependencies: Some(vec![ResourceDescriptor {
                        uri: Some("git+https://example.com/r@0123".into()),
                        digest: Some(DigestSet::from([("gitCommit".into(), "a".repeat(40))])),
                        ..Default::default()
                    }]),
                },
                run_details: RunDetails {
                    builder: Builder {
                        id: "https://receipt.dev/cargo-receipt@0.1.0".into(),
                        version: None,
                        builder_dependencies: None,
                    },
                    metadata: Some(BuildMetadata {
                        invocation_id: Some("x".into()),
                        started_on: Some(Timestamp::from_unix(0).unwrap()),
                        finished_on: Some(Timestamp::from_unix(1).unwrap()),
                    }),
                    byproducts: None,
                },
            },
        )
    }

    #[test]
    fn round_trip_omits_absent_fields_and_validates() {
        let s = provenance();
        let bytes = s.to_json().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("null"), "{text}");
        assert!(!text.contains("internalParameters"));
        assert!(text.contains(r#""startedOn":"1970-01-01T00:00:00Z""#));
        let back = Statement::parse(&bytes).unwrap().provenance().unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn invalid_statements_are_refused_naming_the_field() {
        let good = provenance().to_json().unwrap();
        let v: Value = serde_json::from_slice(&good).unwrap();
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|v| v["_type"] = "https://in-toto.io/Statement/v0.1".into()),
                "_type",
            ),
            (Box::new(|v| v["subject"] = Value::Array(vec![])), "subject"),
            (
                Box::new(|v| v["subject"][0]["digest"]["sha256"] = "ABC".into()),
                "subject[0].digest.sha256",
            ),
            (
                Box::new(|v| v["subject"][0]["digest"]["sha256"] = "ab".into()),
                "subject[0].digest.sha256",
            ),
            (
                Box::new(|v| {
                    v["subject"][0].as_object_mut().unwrap().remove("digest");
                }),
                "subject[0]",
            ),
            (
                Box::new(|v| {
                    v["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"] =
                        "abc".into()
                }),
                "gitCommit",
            ),
            (
                Box::new(|v| v["predicate"]["runDetails"]["builder"]["id"] = "".into()),
                "builder.id",
            ),
            (
                Box::new(|v| {
                    v["predicate"]["runDetails"]["metadata"]["startedOn"] =
                        "1970-01-01T00:00:02Z".into()
                }),
                "startedOn",
            ),
        ];
        for (mutate, field) in cases {
            let mut m = v.clone();
            mutate(&mut m);
            let bytes = serde_json::to_vec(&m).unwrap();
            let e = Statement::parse(&bytes)
                .and_then(|s| s.provenance())
                .unwrap_err();
            assert!(e.to_string().contains(field), "{e} should name {field}");
        }
        let mut m = v.clone();
        m["predicate"]["buildDefinition"]["extra"] = 1.into();
        assert!(
            Statement::parse(&serde_json::to_vec(&m).unwrap())
                .unwrap()
                .provenance()
                .is_err()
        );
        let mut m = v;
        m["predicate"]["runDetails"]["metadata"]["finishedOn"] = Value::Null;
        assert!(
            Statement::parse(&serde_json::to_vec(&m).unwrap())
                .unwrap()
                .provenance()
                .is_err()
        );
    }
}
