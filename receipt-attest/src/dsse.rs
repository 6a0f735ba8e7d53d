//! DSSE v1 envelopes (<https://github.com/secure-systems-lab/dsse>): the pre-authentication
//! encoding, signing with one or more keys, verification against trusted keys, and the one
//! byte form this crate writes.
//!
//! The signature of a key over `(payloadType, payload)` is its signature over
//!
//! ```text
//! PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//! ```
//!
//! with `LEN` the decimal byte length without leading zeros and `SP` one space (0x20).
//!
//! **Byte form.** An envelope is written as RFC 8785 canonical JSON with no trailing newline:
//! `{"payload":B64,"payloadType":T,"signatures":[{"keyid":K,"sig":B64}…]}`, base64 of
//! RFC 4648 §4 (standard alphabet, padded). [`Envelope::parse`] reads exactly that form and
//! refuses every other spelling; [`Envelope::parse_dsse`] reads any DSSE v1 JSON envelope
//! (either base64 alphabet, any whitespace, `keyid` optional), for envelopes other tools
//! wrote. Both refuse inputs over [`MAX_ENVELOPE_BYTES`].

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::keys::{KeyId, PublicKey, SignatureError, SigningKey};
use receipt_primitives::check::echo;

/// The largest envelope read, in bytes (256 MiB: a receipt listing about a million tracked
/// files, base64-encoded, still fits).
pub const MAX_ENVELOPE_BYTES: usize = 256 << 20;

/// The largest number of signatures read from one envelope.
pub const MAX_SIGNATURES: usize = 64;

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key id hint (this crate always writes the signer's [`KeyId`]).
    pub keyid: Option<String>,
    /// The signature bytes.
    pub sig: Vec<u8>,
}

/// A DSSE envelope with its payload decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    payload: Vec<u8>,
    payload_type: String,
    signatures: Vec<Signature>,
}

/// Why an envelope could not be made, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    /// Larger than [`MAX_ENVELOPE_BYTES`].
    #[error("the envelope is {0} bytes, more than the limit of {MAX_ENVELOPE_BYTES}")]
    TooLarge(usize),
    /// Not JSON of the envelope shape.
    #[error("not a DSSE envelope: {0}")]
    Json(String),
    /// A base64 field does not decode.
    #[error("field `{0}` is not base64 of RFC 4648 (standard alphabet, padded)")]
    Base64(String),
    /// JSON of the right shape, but not the canonical byte form.
    #[error(
        "the envelope is not in canonical form (RFC 8785 JSON, standard padded base64, no trailing newline)"
    )]
    NotCanonical,
    /// No signatures at all.
    #[error("the envelope has no signatures")]
    NoSignatures,
    /// More than [`MAX_SIGNATURES`].
    #[error("the envelope has {0} signatures, more than the limit of {MAX_SIGNATURES}")]
    TooManySignatures(usize),
    /// A signature in the canonical form without its `keyid`.
    #[error("field `signatures[{0}].keyid` is missing")]
    MissingKeyId(usize),
    /// No signing key was given.
    #[error("no signing key was given")]
    NoSigner,
    /// The payload type is not the one expected.
    #[error("the payload type is {found:?}, expected {expected:?}")]
    PayloadType {
        /// What the envelope says (cut to 200 characters).
        found: String,
        /// What the verifier accepts.
        expected: String,
    },
    /// A signature by a trusted key that does not verify.
    #[error("signature {index} by trusted key {keyid}: {reason}")]
    BadSignature {
        /// Its position in `signatures`.
        index: usize,
        /// The key id.
        keyid: KeyId,
        /// Malformed or invalid.
        reason: SignatureError,
    },
    /// No signature verified with any trusted key.
    #[error("no signature is by a trusted key (the envelope names key ids: {0})")]
    NoTrustedSignature(String),
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<'a> {
    /// The trusted keys whose signatures verified, each once, in key id order.
    pub key_ids: Vec<KeyId>,
    /// The authenticated payload.
    pub payload: &'a [u8],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature<'a> {
    #[serde(skip_serializing_if = "Option::is_none", default, borrow)]
    keyid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sig: Cow<'a, str>,
}

/// The envelope as JSON strings; borrowed from the input where it has no escapes (base64
/// never does), so a large payload is not copied before it is decoded.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    payload: Cow<'a, str>,
    #[serde(rename = "payloadType", borrow)]
    payload_type: Cow<'a, str>,
    #[serde(borrow)]
    signatures: Vec<RawSignature<'a>>,
}

impl RawEnvelope<'_> {
    /// The canonical bytes of these strings (RFC 8785: keys in this order, no whitespace).
    fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 256);
        self.write(&mut out);
        out
    }

    /// Whether `bytes` are exactly [`RawEnvelope::to_json`], compared piece by piece
    /// without building it.
    fn is_spelled_by(&self, bytes: &[u8]) -> bool {
        let mut m = Matches {
            rest: bytes,
            ok: true,
        };
        self.write(&mut m);
        m.ok && m.rest.is_empty()
    }

    fn write(&self, out: &mut impl Sink) {
        out.put(b"{\"payload\":");
        json_string(out, &self.payload);
        out.put(b",\"payloadType\":");
        json_string(out, &self.payload_type);
        out.put(b",\"signatures\":[");
        for (i, s) in self.signatures.iter().enumerate() {
            if i > 0 {
                out.put(b",");
            }
            out.put(b"{");
            if let Some(k) = &s.keyid {
                out.put(b"\"keyid\":");
                json_string(out, k);
                out.put(b",");
            }
            out.put(b"\"sig\":");
            json_string(out, &s.sig);
            out.put(b"}");
        }
        out.put(b"]}");
    }
}

/// Where canonical bytes go: a buffer, or a comparison with bytes already read.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Compares what is put with `rest`, consuming it.
struct Matches<'a> {
    rest: &'a [u8],
    ok: bool,
}

impl Sink for Matches<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if self.ok {
            match self.rest.strip_prefix(bytes) {
                Some(r) => self.rest = r,
                None => self.ok = false,
            }
        }
    }
}

/// Appends `s` as an RFC 8785 JSON string. Base64 and hex strings, the bulk of an
/// envelope, have nothing to escape and are put as they are.
fn json_string(out: &mut impl Sink, s: &str) {
    if receipt_primitives::jcs::needs_escape(s.as_bytes()) {
        let mut v = Vec::with_capacity(s.len() + 8);
        receipt_primitives::jcs::write_str(&mut v, s);
        out.put(&v);
    } else {
        out.put(b"\"");
        out.put(s.as_bytes());
        out.put(b"\"");
    }
}

/// The DSSE v1 pre-authentication encoding of `payload_type` (as UTF-8) and `payload`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let t = payload_type.as_bytes();
    let mut out = Vec::with_capacity(payload.len() + t.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(t.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(t);
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs `payload` as `payload_type` with every key of `signers`, in that order, each
    /// signature labelled with the key's id.
    ///
    /// # Errors
    /// [`DsseError::NoSigner`] when `signers` is empty.
    pub fn sign(
        payload_type: &str,
        payload: Vec<u8>,
        signers: &[&SigningKey],
    ) -> Result<Envelope, DsseError> {
        if signers.is_empty() {
            return Err(DsseError::NoSigner);
        }
        let msg = pae(payload_type, &payload);
        let signatures = signers
            .iter()
            .map(|k| Signature {
                keyid: Some(k.key_id().to_string()),
                sig: k.sign(&msg),
            })
            .collect();
        Ok(Envelope {
            payload,
            payload_type: payload_type.to_owned(),
            signatures,
        })
    }

    /// The payload bytes (not authenticated until [`Envelope::verify`] succeeds).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload type.
    pub fn payload_type(&self) -> &str {
        &self.payload_type
    }

    /// The signatures.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// The canonical byte form (RFC 8785 JSON, no trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        RawEnvelope {
            payload: Cow::Owned(b64::encode(&self.payload)),
            payload_type: Cow::Borrowed(&self.payload_type),
            signatures: self
                .signatures
                .iter()
                .map(|s| RawSignature {
                    keyid: s.keyid.as_deref().map(Cow::Borrowed),
                    sig: Cow::Owned(b64::encode(&s.sig)),
                })
                .collect(),
        }
        .to_json()
    }

    fn from_raw(
        raw: &RawEnvelope<'_>,
        decode: fn(&str) -> Option<Vec<u8>>,
    ) -> Result<Envelope, DsseError> {
        if raw.signatures.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        if raw.signatures.len() > MAX_SIGNATURES {
            return Err(DsseError::TooManySignatures(raw.signatures.len()));
        }
        let payload = decode(&raw.payload).ok_or_else(|| DsseError::Base64("payload".into()))?;
        let signatures = raw
            .signatures
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Ok(Signature {
                    sig: decode(&s.sig)
                        .ok_or_else(|| DsseError::Base64(format!("signatures[{i}].sig")))?,
                    keyid: s.keyid.as_deref().map(str::to_owned),
                })
            })
            .collect::<Result<_, DsseError>>()?;
        Ok(Envelope {
            payload,
            payload_type: raw.payload_type.clone().into_owned(),
            signatures,
        })
    }

    fn raw(bytes: &[u8]) -> Result<RawEnvelope<'_>, DsseError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(DsseError::TooLarge(bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(|e| DsseError::Json(echo(&e.to_string())))
    }

    /// Reads the canonical byte form [`Envelope::to_json`] writes, refusing any other
    /// spelling of the same envelope, a signature without `keyid`, and an envelope without
    /// signatures.
    ///
    /// # Errors
    /// [`DsseError`] naming the field or the form.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, DsseError> {
        let raw = Envelope::raw(bytes)?;
        if let Some(i) = raw.signatures.iter().position(|s| s.keyid.is_none()) {
            return Err(DsseError::MissingKeyId(i));
        }
        // Strict base64 has one spelling per value, so comparing the strings as read with
        // their canonical arrangement checks the whole envelope without re-encoding it.
        if !raw.is_spelled_by(bytes) {
            return Err(DsseError::NotCanonical);
        }
        Envelope::from_raw(&raw, b64::decode_strict)
    }

    /// Reads any DSSE v1 JSON envelope: standard or URL-safe base64 (padded or not), any
    /// JSON whitespace, `keyid` optional.
    ///
    /// # Errors
    /// [`DsseError`] naming the field.
    pub fn parse_dsse(bytes: &[u8]) -> Result<Envelope, DsseError> {
        Envelope::from_raw(&Envelope::raw(bytes)?, b64::decode_either)
    }

    /// Verifies the envelope against `trusted` keys for `payload_type`.
    ///
    /// A signature whose `keyid` is a trusted key's id is verified with that key and must
    /// verify; a signature without `keyid` counts for the first trusted key it verifies
    /// with; a signature naming another key id is not by a trusted key and is passed over.
    /// At least one trusted key must have verified.
    ///
    /// # Errors
    /// [`DsseError::PayloadType`], [`DsseError::BadSignature`] (a trusted key's signature
    /// that is malformed or wrong) or [`DsseError::NoTrustedSignature`] (signed only by
    /// other keys, e.g. the wrong key).
    pub fn verify(
        &self,
        trusted: &[PublicKey],
        payload_type: &str,
    ) -> Result<Verified<'_>, DsseError> {
        if self.payload_type != payload_type {
            return Err(DsseError::PayloadType {
                found: echo(&self.payload_type),
                expected: payload_type.to_owned(),
            });
        }
        if self.signatures.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        let msg = pae(&self.payload_type, &self.payload);
        let mut verified = BTreeSet::new();
        for (index, s) in self.signatures.iter().enumerate() {
            match &s.keyid {
                Some(id) => {
                    if let Some(k) = trusted
                        .iter()
                        .find(|k| k.key_id().0.is_spelled(id.as_bytes()))
                    {
                        k.verify(&msg, &s.sig)
                            .map_err(|reason| DsseError::BadSignature {
                                index,
                                keyid: k.key_id(),
                                reason,
                            })?;
                        verified.insert(k.key_id());
                    }
                }
                None => {
                    if let Some(k) = trusted.iter().find(|k| k.verify(&msg, &s.sig).is_ok()) {
                        verified.insert(k.key_id());
                    }
                }
            }
        }
        if verified.is_empty() {
            let named: Vec<String> = self
                .signatures
                .iter()
                .map(|s| match &s.keyid {
                    Some(k) => echo(k),
                    None => "(none)".to_owned(),
                })
                .collect();
            return Err(DsseError::NoTrustedSignature(named.join(", ")));
        }
        Ok(Verified {
            key_ids: verified.into_iter().collect(),
            payload: &self.payload,
        })
    }
}

/// The JSON Lines form of envelopes (`*.intoto.jsonl`): each envelope's canonical bytes
/// followed by one LF.
pub fn to_jsonl(envelopes: &[Envelope]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in envelopes {
        out.extend_from_slice(&e.to_json());
        out.push(b'\n');
    }
    out
}

/// Why a JSON Lines file of envelopes does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonlError {
    /// Larger than [`MAX_ENVELOPE_BYTES`] as a whole.
    #[error("the file is {0} bytes, more than the limit of {MAX_ENVELOPE_BYTES}")]
    TooLarge(usize),
    /// Empty, or the last line has no final LF.
    #[error("the file is empty or does not end with a newline")]
    Framing,
    /// A line that is not a canonical envelope (1-based line number).
    #[error("line {line}: {source}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        source: DsseError,
    },
}

/// Reads a JSON Lines file of canonical envelopes ([`to_jsonl`]), at least one line, every
/// line ending in LF.
///
/// # Errors
/// [`JsonlError`] naming the line.
pub fn parse_jsonl(bytes: &[u8]) -> Result<Vec<Envelope>, JsonlError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(JsonlError::TooLarge(bytes.len()));
    }
    let body = bytes.strip_suffix(b"\n").ok_or(JsonlError::Framing)?;
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            Envelope::parse(line).map_err(|source| JsonlError::Line {
                line: i + 1,
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn pae_of_the_protocol_example() {
        // docs: secure-systems-lab/dsse protocol.md, "Test Vectors".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    /// Vectors from secure-systems-lab/dsse `testvectors/vectors.json` (keys A and B are
    /// RFC 8032 test keys 1 and 2): PAE bytes, and accept/reject decisions.
    #[test]
    fn dsse_test_vectors() {
        let a = SigningKey::ed25519_from_seed(
            &unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .try_into()
                .unwrap(),
        );
        let b = SigningKey::ed25519_from_seed(
            &unhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
                .try_into()
                .unwrap(),
        );
        let intoto = "application/vnd.in-toto+json";
        let stmt = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
        let pae_hex = "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d";
        assert_eq!(pae(intoto, stmt), unhex(pae_hex));
        let sig_a = "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA==";
        let sig_b = "c1+67/aT0yqEpwx8PsVY3MLHsj9D0CZ014/Fv/QlG59P+9CobUZ7xECJ/V3USG0Ob9CiE5LjReEZUzNF2l7eBw==";
        // single-signature: our signer produces the same signature bytes.
        let env = Envelope::sign(intoto, stmt.to_vec(), &[&a]).unwrap();
        assert_eq!(b64::encode(&env.signatures[0].sig), sig_a);
        let without_ids = format!(
            r#"{{"payload":"eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==","payloadType":"{intoto}","signatures":[{{"sig":"{sig_a}"}},{{"sig":"{sig_b}"}}]}}"#
        );
        let e = Envelope::parse_dsse(without_ids.as_bytes()).unwrap();
        let trusted = [a.public_key().clone(), b.public_key().clone()];
        let v = e.verify(&trusted, intoto).unwrap();
        assert_eq!(v.key_ids.len(), 2, "threshold-two-without-keyids");
        // The canonical reader wants key ids.
        assert_eq!(
            Envelope::parse(without_ids.as_bytes()),
            Err(DsseError::MissingKeyId(0))
        );
        // url-safe-base64: accepted by the DSSE reader, refused by the canonical one.
        let url = format!(
            r#"{{"payload":"-_-_Pj8=","payloadType":"{intoto}","signatures":[{{"keyid":"{}","sig":"P-_KHICeR7tI6S_YyejJTRtrXhcQyQ2LYPaL8h90KjC9qN8HU_svOQ6TuDOT1HIrsGW886DbWNWcCmX5twLrAw=="}}]}}"#,
            a.key_id()
        );
        let e = Envelope::parse_dsse(url.as_bytes()).unwrap();
        assert_eq!(
            pae(intoto, e.payload()),
            unhex(
                "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203520fbffbf3e3f"
            )
        );
        e.verify(&trusted, intoto).unwrap();
        assert!(matches!(
            Envelope::parse(url.as_bytes()),
            Err(DsseError::Base64(_))
        ));
        // payload-type-swapped: the signature covers another type.
        let swapped = format!(
            r#"{{"payload":"eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==","payloadType":"application/vnd.example.other+json","signatures":[{{"keyid":"{}","sig":"{sig_a}"}}]}}"#,
            a.key_id()
        );
        let e = Envelope::parse(swapped.as_bytes()).unwrap();
        assert!(matches!(
            e.verify(&trusted, "application/vnd.example.other+json"),
            Err(DsseError::BadSignature { index: 0, .. })
        ));
        assert!(matches!(
            e.verify(&trusted, intoto),
            Err(DsseError::PayloadType { .. })
        ));
        // non-ascii-payload-type: LEN counts bytes.
        assert_eq!(
            pae("application/vnd.exämple+json", stmt),
            unhex(
                "445353457631203239206170706c69636174696f6e2f766e642e6578c3a46d706c652b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d"
            )
        );
        let e = Envelope::sign("application/vnd.exämple+json", stmt.to_vec(), &[&a]).unwrap();
        assert_eq!(
            b64::encode(&e.signatures[0].sig),
            "xmSk/ug66ysT7ayhkCIjhAq42zgZXSsEWuzUaNL7w2eGAdF/NU6/fRXPtmfN+5DNSAs5/i2lUnHjbbjPsu0tAw=="
        );
        // empty-payload: "... 0 " with the trailing space.
        let e = Envelope::sign(intoto, Vec::new(), &[&a]).unwrap();
        assert_eq!(
            b64::encode(&e.signatures[0].sig),
            "gSggCAaTLTYyRH6FIDBem6meyIynsYy8RTHVzwx9tnTb7Bg/1jMWnuVgI/gffqmbsC2VX5/jHfkkDqsj7CDbDg=="
        );
        // threshold-two-one-key-twice: one key counts once.
        let twice = Envelope::sign(intoto, stmt.to_vec(), &[&a, &a]).unwrap();
        assert_eq!(twice.verify(&trusted, intoto).unwrap().key_ids.len(), 1);
    }

    #[test]
    fn canonical_form_round_trips_and_refuses_respellings() {
        let k = SigningKey::ed25519_from_seed(&[3; 32]);
        let env = Envelope::sign("application/x-test", b"body".to_vec(), &[&k]).unwrap();
        let bytes = env.to_json();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(
            r#"{"payload":"Ym9keQ==","payloadType":"application/x-test","signatures":[{"keyid":""#
        ));
        assert_eq!(Envelope::parse(&bytes).unwrap(), env);
        for respelled in [
            format!("{text}\n"),
            text.replacen(':', ": ", 1),
            text.replace("Ym9keQ==", "Ym9keQ"),
        ] {
            assert!(
                Envelope::parse(respelled.as_bytes()).is_err(),
                "{respelled}"
            );
        }
        let extra = text.replacen("{\"payload\"", "{\"extra\":1,\"payload\"", 1);
        assert!(matches!(
            Envelope::parse(extra.as_bytes()),
            Err(DsseError::Json(_))
        ));
        let lines = to_jsonl(&[env.clone(), env.clone()]);
        assert_eq!(parse_jsonl(&lines).unwrap(), vec![env.clone(), env]);
        assert_eq!(
            parse_jsonl(&lines[..lines.len() - 1]),
            Err(JsonlError::Framing)
        );
        assert!(matches!(
            parse_jsonl(&[&lines[..], b"\n"].concat()),
            Err(JsonlError::Line { line: 3, .. })
        ));
    }

    #[test]
    fn every_byte_flip_of_an_envelope_is_refused() {
        let ed = SigningKey::ed25519_from_seed(&[7; 32]);
        let p256 = SigningKey::p256_from_scalar(&[8; 32]).unwrap();
        let t = "application/vnd.tau-crystal.receipt+json";
        for key in [&ed, &p256] {
            let env = Envelope::sign(t, br#"{"kind":"cargo"}"#.to_vec(), &[key]).unwrap();
            let bytes = env.to_json();
            let trusted = [key.public_key().clone()];
            Envelope::parse(&bytes)
                .unwrap()
                .verify(&trusted, t)
                .unwrap();
            for i in 0..bytes.len() {
                for bit in 0..8 {
                    let mut m = bytes.clone();
                    m[i] ^= 1 << bit;
                    let verdict =
                        Envelope::parse(&m).and_then(|e| e.verify(&trusted, t).map(|_| ()));
                    assert!(verdict.is_err(), "flip of bit {bit} at byte {i} accepted");
                }
            }
        }
    }

    #[test]
    fn wrong_key_missing_and_tampered_signatures_are_named() {
        let k = SigningKey::ed25519_from_seed(&[3; 32]);
        let other = SigningKey::ed25519_from_seed(&[4; 32]);
        let p = SigningKey::p256_from_scalar(&[5; 32]).unwrap();
        let t = "application/x-test";
        let env = Envelope::sign(t, b"body".to_vec(), &[&k, &p]).unwrap();
        let v = env
            .verify(&[p.public_key().clone(), k.public_key().clone()], t)
            .unwrap();
        let mut want = vec![k.key_id(), p.key_id()];
        want.sort();
        assert_eq!(v.key_ids, want);
        assert_eq!(v.payload, b"body");
        let e = env.verify(&[other.public_key().clone()], t).unwrap_err();
        assert!(matches!(e, DsseError::NoTrustedSignature(_)), "{e}");
        assert!(e.to_string().contains(&k.key_id().to_string()));
        let mut tampered = env.clone();
        tampered.payload[0] ^= 1;
        assert!(matches!(
            tampered.verify(&[p.public_key().clone()], t),
            Err(DsseError::BadSignature { index: 1, .. })
        ));
        let mut truncated = env.clone();
        truncated.signatures[0].sig.pop();
        assert!(matches!(
            truncated.verify(&[k.public_key().clone()], t),
            Err(DsseError::BadSignature {
                index: 0,
                reason: SignatureError::Malformed(_),
                ..
            })
        ));
        let mut none = env;
        none.signatures.clear();
        assert_eq!(
            none.verify(&[k.public_key().clone()], t),
            Err(DsseError::NoSignatures)
        );
        assert_eq!(
            Envelope::parse(&none.to_json()),
            Err(DsseError::NoSignatures)
        );
        assert_eq!(Envelope::sign(t, Vec::new(), &[]), Err(DsseError::NoSigner));
    }
}
