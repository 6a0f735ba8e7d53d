//! C2SP signed notes (<https://c2sp.org/signed-note>): text signed by one or more keys, as
//! Go's `golang.org/x/mod/sumdb/note` and the transparency-log ecosystem write them.
//!
//! ```text
//! <text, ending in LF>
//! <empty line>
//! — <key name> <base64(4-byte key id ‖ signature)>   (one line per signature)
//! ```
//!
//! The whole note is UTF-8 without ASCII control characters other than LF; the text is
//! separated from the signatures by the last empty line. Key names are non-empty and contain
//! no Unicode white space and no `+`.
//!
//! Two signature types are read and written:
//!
//! - `0x01` Ed25519 over the text; key id = the first 4 bytes of
//!   `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)`; verifier key
//!   `<name>+<8 hex key id>+<base64(0x01 ‖ public key)>`.
//! - `0x02` ECDSA P-256 (as transparency-dev/witness and Rekor use it): ASN.1 DER over
//!   SHA-256 of the text; key id = the first 4 bytes of `SHA-256(SPKI DER)`; verifier key
//!   `<name>+<8 hex key id>+<base64(0x02 ‖ SPKI DER)>`.
//!
//! Reading is bounded: at most [`MAX_NOTE_BYTES`] bytes and [`MAX_NOTE_SIGNATURES`]
//! signature lines.

use std::fmt;

use receipt_primitives::Digest;
use receipt_primitives::check::echo;

use crate::b64;
use crate::keys::{Algorithm, KeyId, PublicKey, SigningKey};

/// The largest note read, in bytes (64 KiB; a checkpoint is a few hundred).
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The largest number of signature lines read (the spec asks verifiers to accept 16).
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// Signature type byte of Ed25519 note signatures.
pub const SIG_TYPE_ED25519: u8 = 0x01;

/// Signature type byte of ECDSA (SHA-256, DER) note signatures.
pub const SIG_TYPE_ECDSA: u8 = 0x02;

const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note could not be made, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Larger than [`MAX_NOTE_BYTES`].
    #[error("the note is {0} bytes, more than the limit of {MAX_NOTE_BYTES}")]
    TooLarge(usize),
    /// Not UTF-8.
    #[error("the note is not valid UTF-8")]
    NotUtf8,
    /// An ASCII control character other than LF.
    #[error("the note contains control character U+{0:04X} at byte offset {1}")]
    ControlChar(u32, usize),
    /// The text is empty or does not end in LF.
    #[error("the note text must be non-empty and end with a newline")]
    Text,
    /// No empty line separates the text from signatures.
    #[error("the note has no empty line before its signatures")]
    NoSeparator,
    /// No signature lines.
    #[error("the note has no signature lines")]
    NoSignatures,
    /// More than [`MAX_NOTE_SIGNATURES`] signature lines.
    #[error("the note has more than {MAX_NOTE_SIGNATURES} signature lines")]
    TooManySignatures,
    /// A signature line that is not `— <name> <base64>`.
    #[error("signature line {line}: {why}")]
    SignatureLine {
        /// 1-based number among the signature lines.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// A key name that is empty or has white space or `+`.
    #[error("key name {0:?} is empty or contains white space or '+'")]
    KeyName(String),
    /// A verifier key string that does not parse.
    #[error("verifier key {key:?}: {why}")]
    VerifierKey {
        /// The key string (cut to 200 characters).
        key: String,
        /// What is wrong.
        why: String,
    },
    /// Two different verifier keys with the same name and key id.
    #[error("ambiguous verifier keys: two keys are named {name}+{key_id:08x}")]
    Ambiguous {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// A signature by a known key that does not verify.
    #[error("the signature of key {name}+{key_id:08x} does not verify")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature by a known key.
    #[error("the note has no signature by a known key (signed by: {0})")]
    NoKnownSignature(String),
}

/// A key name is non-empty and has no Unicode white space and no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The 32-bit key id of `key` under `name` (see the module docs for each type).
pub fn note_key_id(name: &str, key: &PublicKey) -> u32 {
    let h = match key.ed25519_bytes() {
        Some(pk) => Digest::of_parts(&[name.as_bytes(), b"\n", &[SIG_TYPE_ED25519], &pk]),
        None => Digest::of(key.spki_der()),
    };
    u32::from_be_bytes([h.0[0], h.0[1], h.0[2], h.0[3]])
}

fn key_blob(key: &PublicKey) -> Vec<u8> {
    match key.ed25519_bytes() {
        Some(pk) => [&[SIG_TYPE_ED25519][..], &pk].concat(),
        None => [&[SIG_TYPE_ECDSA][..], key.spki_der()].concat(),
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The 32-bit key id.
    pub key_id: u32,
    /// The signature bytes (after the key id).
    pub sig: Vec<u8>,
}

/// A parsed (not yet verified) signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

fn check_chars(s: &str) -> Result<(), NoteError> {
    match s.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(at) => Err(NoteError::ControlChar(u32::from(s.as_bytes()[at]), at)),
        None => Ok(()),
    }
}

impl Note {
    /// Parses a signed note strictly (see the module docs).
    ///
    /// # Errors
    /// [`NoteError`] naming what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge(bytes.len()));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        check_chars(s)?;
        let split = s.rfind("\n\n").ok_or(NoteError::NoSeparator)?;
        let text = &s[..=split];
        let sigs = &s[split + 2..];
        if sigs.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let body = sigs.strip_suffix('\n').ok_or(NoteError::SignatureLine {
            line: sigs.matches('\n').count() + 1,
            why: "does not end with a newline".into(),
        })?;
        let mut signatures = Vec::new();
        for (i, line) in body.split('\n').enumerate() {
            if i >= MAX_NOTE_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            let bad = |why: &str| NoteError::SignatureLine {
                line: i + 1,
                why: why.to_owned(),
            };
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| bad("does not start with an em dash and a space"))?;
            let (name, sig64) = rest
                .split_once(' ')
                .ok_or_else(|| bad("has no space between key name and signature"))?;
            if !is_valid_key_name(name) {
                return Err(bad("the key name is empty or contains white space or '+'"));
            }
            let raw = b64::decode_strict(sig64)
                .ok_or_else(|| bad("the signature is not base64 (standard alphabet, padded)"))?;
            if raw.len() < 5 {
                return Err(bad("the signature is shorter than a key id and one byte"));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
                sig: raw[4..].to_vec(),
            });
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text (ending in LF). Unauthenticated until [`open`] succeeds.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The note's bytes: the text, an empty line, the signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            let blob = [&s.key_id.to_be_bytes()[..], &s.sig].concat();
            out.push_str(SIG_PREFIX);
            out.push_str(&s.name);
            out.push(' ');
            out.push_str(&b64::encode(&blob));
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// A key that checks note signatures: a name and a public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: PublicKey,
}

impl NoteVerifier {
    /// The verifier of `key` under `name`.
    ///
    /// # Errors
    /// [`NoteError::KeyName`] for an invalid name.
    pub fn new(name: &str, key: &PublicKey) -> Result<NoteVerifier, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::KeyName(echo(name)));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: note_key_id(name, key),
            key: key.clone(),
        })
    }

    /// Parses a verifier key string `<name>+<8 hex key id>+<base64(type ‖ key)>`, checking
    /// that the key id is the one the name and key give.
    ///
    /// # Errors
    /// [`NoteError::VerifierKey`] naming what is wrong.
    pub fn parse(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let bad = |why: &str| NoteError::VerifierKey {
            key: echo(vkey),
            why: why.to_owned(),
        };
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(hash), Some(key64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected <name>+<key id>+<key>"));
        };
        if !is_valid_key_name(name) {
            return Err(bad("the name is empty or contains white space or '+'"));
        }
        if hash.len() != 8 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("the key id is not 8 lowercase hex digits"));
        }
        let key_id = u32::from_str_radix(hash, 16).map_err(|_| bad("bad key id"))?;
        let blob = b64::decode_strict(key64).ok_or_else(|| bad("the key is not base64"))?;
        let key = match blob.split_first() {
            Some((&SIG_TYPE_ED25519, pk)) => {
                let pk: &[u8; 32] = pk
                    .try_into()
                    .map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
                PublicKey::from_ed25519_bytes(pk).map_err(|e| bad(&e.to_string()))?
            }
            Some((&SIG_TYPE_ECDSA, der)) => {
                let k = PublicKey::from_spki_der(der).map_err(|e| bad(&e.to_string()))?;
                if k.algorithm() != Algorithm::EcdsaP256Sha256 || k.spki_der() != der {
                    return Err(bad("the ECDSA key is not an uncompressed P-256 SPKI"));
                }
                k
            }
            _ => return Err(bad("unknown signature type")),
        };
        let v = NoteVerifier::new(name, &key)?;
        if v.key_id != key_id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(v)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
}

impl fmt::Display for NoteVerifier {
    /// The verifier key string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            b64::encode(&key_blob(&self.key))
        )
    }
}

/// A key that signs notes under a name.
#[derive(Debug)]
pub struct NoteSigner<'a> {
    name: String,
    key_id: u32,
    key: &'a SigningKey,
}

impl<'a> NoteSigner<'a> {
    /// Signs with `key` under `name`.
    ///
    /// # Errors
    /// [`NoteError::KeyName`] for an invalid name.
    pub fn new(name: &str, key: &'a SigningKey) -> Result<NoteSigner<'a>, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::KeyName(echo(name)));
        }
        Ok(NoteSigner {
            name: name.to_owned(),
            key_id: note_key_id(name, key.public_key()),
            key,
        })
    }

    /// The verifier matching this signer.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.public_key().clone(),
        }
    }
}

/// Signs `text` (non-empty, ending in LF, no control characters but LF) with every signer,
/// in order, and returns the signed note's bytes.
///
/// # Errors
/// [`NoteError::Text`] or [`NoteError::ControlChar`] for text that cannot be a note,
/// [`NoteError::NoSignatures`] without signers.
pub fn sign(text: &str, signers: &[NoteSigner<'_>]) -> Result<Vec<u8>, NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Text);
    }
    check_chars(text)?;
    if signers.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let note = Note {
        text: text.to_owned(),
        signatures: signers
            .iter()
            .map(|s| NoteSignature {
                name: s.name.clone(),
                key_id: s.key_id,
                sig: s.key.sign(text.as_bytes()),
            })
            .collect(),
    };
    Ok(note.to_bytes())
}

/// A note whose signatures were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The authenticated text.
    pub text: String,
    /// The known keys that signed it, as (name, key id, key id of the public key), each once.
    pub verified_by: Vec<(String, u32, KeyId)>,
    /// How many signature lines were by unknown keys (ignored).
    pub unknown: usize,
}

/// Parses and verifies a signed note: signatures by unknown keys (name and key id not both
/// those of a verifier) are ignored; every signature by a known key must verify; at least
/// one must.
///
/// # Errors
/// [`NoteError`]: malformed note, [`NoteError::BadSignature`],
/// [`NoteError::NoKnownSignature`], [`NoteError::Ambiguous`] verifiers.
pub fn open(bytes: &[u8], verifiers: &[NoteVerifier]) -> Result<Opened, NoteError> {
    let note = Note::parse(bytes)?;
    for (i, a) in verifiers.iter().enumerate() {
        if verifiers[..i]
            .iter()
            .any(|b| a.name == b.name && a.key_id == b.key_id && a.key != b.key)
        {
            return Err(NoteError::Ambiguous {
                name: a.name.clone(),
                key_id: a.key_id,
            });
        }
    }
    let mut verified_by: Vec<(String, u32, KeyId)> = Vec::new();
    let mut unknown = 0;
    for s in &note.signatures {
        match verifiers
            .iter()
            .find(|v| v.name == s.name && v.key_id == s.key_id)
        {
            Some(v) => {
                v.key.verify(note.text.as_bytes(), &s.sig).map_err(|_| {
                    NoteError::BadSignature {
                        name: s.name.clone(),
                        key_id: s.key_id,
                    }
                })?;
                let entry = (v.name.clone(), v.key_id, v.key.key_id());
                if !verified_by.contains(&entry) {
                    verified_by.push(entry);
                }
            }
            None => unknown += 1,
        }
    }
    if verified_by.is_empty() {
        let names: Vec<String> = note
            .signatures
            .iter()
            .map(|s| format!("{}+{:08x}", echo(&s.name), s.key_id))
            .collect();
        return Err(NoteError::NoKnownSignature(names.join(", ")));
    }
    Ok(Opened {
        text: note.text,
        verified_by,
        unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    /// Known answers from golang.org/x/mod/sumdb/note `note_test.go` (TestNewVerifier,
    /// TestSign, TestOpen): the PeterNeumann signer key
    /// `PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz`
    /// is type 0x01 followed by the Ed25519 seed.
    #[test]
    fn go_sumdb_note_vectors() {
        let seed = b64::decode_strict("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").unwrap();
        assert_eq!(seed[0], 1);
        let key = SigningKey::ed25519_from_seed(seed[1..].try_into().unwrap());
        let signer = NoteSigner::new("PeterNeumann", &key).unwrap();
        assert_eq!(signer.verifier().to_string(), PETER);
        assert_eq!(
            String::from_utf8(sign(TEXT, &[signer]).unwrap()).unwrap(),
            format!("{TEXT}\n{PETER_SIG}")
        );
        let peter = NoteVerifier::parse(PETER).unwrap();
        let enoch = NoteVerifier::parse(ENOCH).unwrap();
        assert_eq!(peter.key_id(), 0xc74f20a3);
        let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let o = open(both.as_bytes(), std::slice::from_ref(&peter)).unwrap();
        assert_eq!(o.text, TEXT);
        assert_eq!(o.unknown, 1);
        let o = open(both.as_bytes(), &[peter.clone(), enoch.clone()]).unwrap();
        assert_eq!(o.verified_by.len(), 2);
        assert!(matches!(
            open(both.as_bytes(), &[]),
            Err(NoteError::NoKnownSignature(_))
        ));
        // Too many signatures.
        let many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
        assert_eq!(
            open(many.as_bytes(), std::slice::from_ref(&peter)),
            Err(NoteError::TooManySignatures)
        );
        // An invalid signature by a known key.
        let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert!(matches!(
            open(bad.as_bytes(), std::slice::from_ref(&peter)),
            Err(NoteError::BadSignature { .. })
        ));
        // Malformed notes.
        for m in [
            TEXT.to_owned(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{TEXT}\n{PETER_SIG}"),
            format!(
                "{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
            ),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        ] {
            assert!(
                open(m.as_bytes(), std::slice::from_ref(&peter)).is_err(),
                "{m:?}"
            );
        }
        let mut invalid_utf8 = format!("{TEXT}\n{PETER_SIG}").into_bytes();
        invalid_utf8.insert(0, 0xff);
        assert_eq!(Note::parse(&invalid_utf8), Err(NoteError::NotUtf8));
    }

    #[test]
    fn go_verifier_key_manglings_are_refused() {
        NoteVerifier::parse(PETER).unwrap();
        let b = PETER.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i != 0 || j != b.len() {
                    let s = String::from_utf8_lossy(&b[i..j]);
                    assert!(NoteVerifier::parse(&s).is_err(), "{s}");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] = m[i].wrapping_add(1);
            let s = String::from_utf8_lossy(&m);
            assert!(NoteVerifier::parse(&s).is_err(), "{s}");
        }
        // Wrong-length key and unknown algorithm, each with an adjusted key id.
        assert!(
            NoteVerifier::parse(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            )
            .is_err()
        );
        assert!(
            NoteVerifier::parse(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .is_err()
        );
    }

    #[test]
    fn ecdsa_note_keys_round_trip_and_verify() {
        let k = SigningKey::p256_from_scalar(&[9; 32]).unwrap();
        let s = NoteSigner::new("example.com/log", &k).unwrap();
        let v = s.verifier();
        let h = Digest::of(k.public_key().spki_der());
        assert_eq!(v.key_id(), u32::from_be_bytes(h.0[..4].try_into().unwrap()));
        assert_eq!(NoteVerifier::parse(&v.to_string()).unwrap(), v);
        let signed = sign("a\nb\n", &[s]).unwrap();
        let o = open(&signed, &[v]).unwrap();
        assert_eq!(o.text, "a\nb\n");
    }

    #[test]
    fn every_byte_flip_of_a_signed_note_is_refused() {
        let k = SigningKey::ed25519_from_seed(&[11; 32]);
        let s = NoteSigner::new("receipt/test", &k).unwrap();
        let v = s.verifier();
        let signed = sign("receipt/test\n1\nAAAA\n", &[s]).unwrap();
        open(&signed, std::slice::from_ref(&v)).unwrap();
        for i in 0..signed.len() {
            for bit in 0..8 {
                let mut m = signed.clone();
                m[i] ^= 1 << bit;
                assert!(
                    open(&m, std::slice::from_ref(&v)).is_err(),
                    "flip of bit {bit} at byte {i} accepted"
                );
            }
        }
    }

    #[test]
    fn a_note_signed_by_another_key_under_the_same_name_is_refused() {
        let k = SigningKey::ed25519_from_seed(&[11; 32]);
        let other = SigningKey::ed25519_from_seed(&[12; 32]);
        let v = NoteVerifier::new("receipt/test", k.public_key()).unwrap();
        let signed = sign("x\n", &[NoteSigner::new("receipt/test", &other).unwrap()]).unwrap();
        assert!(matches!(
            open(&signed, &[v]),
            Err(NoteError::NoKnownSignature(_))
        ));
    }
}
