//! Signing keys and their files: Ed25519 key generation, PKCS#8 PEM private keys (Ed25519 or
//! ECDSA P-256), SPKI PEM public keys, the key id, and signing and verifying raw messages.
//!
//! - A private key file is PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as written by
//!   `openssl genpkey -algorithm ed25519` or `openssl ecparam -genkey -name prime256v1 |
//!   openssl pkcs8 -topk8 -nocrypt`. It is created with mode 0600 and refused for signing
//!   when group or others have any permission on it.
//! - A public key file is SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
//! - The key id is the lowercase hex SHA-256 of the public key's SPKI DER (for P-256 the
//!   uncompressed point, whatever form the file used).
//! - Ed25519 signatures are the raw 64 bytes of RFC 8032; ECDSA P-256 signatures are
//!   ASN.1 DER `Ecdsa-Sig-Value` over SHA-256 of the message (what securesystemslib's
//!   `ecdsa-sha2-nistp256` and cosign produce and expect), deterministic per RFC 6979.
//!
//! Key files are read whole but at most [`MAX_KEY_FILE_BYTES`]; a FIFO or device is refused.
//!
//! One file over 600 lines on purpose: both key algorithms go through the same PEM, permission
//! and key-id rules, which are kept in one place.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use ed25519_dalek::{Signer as _, Verifier as _};
use pkcs8::der::Decode as _;
use pkcs8::{EncodePrivateKey as _, LineEnding, ObjectIdentifier};
use receipt_primitives::Digest;
use zeroize::Zeroizing;

use receipt_primitives::confine::{self, ReadError};

/// The largest key file read, in bytes (16 KiB; PEM keys are a few hundred bytes).
pub const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// File name of the private key [`generate`] writes.
pub const PRIVATE_KEY_FILE: &str = "receipt-signing.key";

/// File name of the public key [`generate`] writes.
pub const PUBLIC_KEY_FILE: &str = "receipt-signing.pub";

const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// A signature algorithm of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Ed25519 (RFC 8032), raw 64-byte signatures.
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256, ASN.1 DER signatures.
    EcdsaP256Sha256,
}

impl Algorithm {
    /// The securesystemslib scheme name: `ed25519` or `ecdsa-sha2-nistp256`.
    pub fn scheme(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256Sha256 => "ecdsa-sha2-nistp256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())
    }
}

/// A key id: the SHA-256 of the public key's SPKI DER, shown as 64 lowercase hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub Digest);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Why bytes are not a key this crate reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Not PEM at all.
    #[error("not a PEM file: {0}")]
    Pem(String),
    /// PEM, but with another label than expected.
    #[error("the PEM label is {found:?}, expected {expected:?}{hint}")]
    Label {
        /// The label found.
        found: String,
        /// The label expected.
        expected: &'static str,
        /// A hint how to convert, or empty.
        hint: &'static str,
    },
    /// The DER inside does not parse.
    #[error("the key does not parse: {0}")]
    Der(String),
    /// A key of an algorithm this crate does not sign or verify with.
    #[error("unsupported key algorithm {0}; use an Ed25519 or ECDSA P-256 (prime256v1) key")]
    Unsupported(String),
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read (missing, not a regular file, too large).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The file is not a key of the expected kind.
    #[error("{}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: KeyFormatError,
    },
    /// A private key file that group or others may access.
    #[error(
        "{}: private key file is {} by group or others (mode {mode:04o}); run chmod 600 {}",
        path.display(),
        if mode & 0o044 != 0 { "readable" } else { "accessible" },
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file that already exists; key files are never overwritten.
    #[error("{}: already exists; key files are never overwritten", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Writing a key file failed.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

#[derive(Clone)]
enum Verifying {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

/// A public key (Ed25519 or ECDSA P-256) with its key id.
#[derive(Clone)]
pub struct PublicKey {
    key: Verifying,
    spki_der: Vec<u8>,
    id: KeyId,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm())
            .field("key_id", &self.id)
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature bytes are not a signature of the key's algorithm (wrong length, bad DER).
    #[error("the signature is malformed for {0}")]
    Malformed(Algorithm),
    /// Well formed, but not a signature of this message by this key.
    #[error("the signature does not verify")]
    Invalid,
}

impl PublicKey {
    fn from_verifying(key: Verifying) -> PublicKey {
        let der = match &key {
            Verifying::Ed25519(k) => k.to_public_key_der(),
            Verifying::P256(k) => p256::pkcs8::EncodePublicKey::to_public_key_der(k),
        }
        // Encoding a valid key into a Vec cannot fail.
        .expect("a valid public key has an SPKI encoding")
        .into_vec();
        PublicKey {
            id: KeyId(Digest::of(&der)),
            spki_der: der,
            key,
        }
    }

    /// Parses SPKI DER of an Ed25519 or P-256 key.
    ///
    /// # Errors
    /// [`KeyFormatError`] for other bytes or algorithms.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyFormatError> {
        let info = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyFormatError::Der(e.to_string()))?;
        let oid = info.algorithm.oid;
        let key = if oid == OID_ED25519 {
            Verifying::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der)
                    .map_err(|e| KeyFormatError::Der(e.to_string()))?,
            )
        } else if oid == OID_EC_PUBLIC_KEY {
            Verifying::P256(
                <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_der(
                    der,
                )
                .map_err(|_| {
                    KeyFormatError::Unsupported("ECDSA on a curve other than P-256".into())
                })?,
            )
        } else {
            return Err(KeyFormatError::Unsupported(oid.to_string()));
        };
        Ok(PublicKey::from_verifying(key))
    }

    /// Parses an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`).
    ///
    /// # Errors
    /// [`KeyFormatError`] naming what is wrong.
    pub fn from_spki_pem(pem: &str) -> Result<PublicKey, KeyFormatError> {
        let der = pem_decode(pem, "PUBLIC KEY")?;
        PublicKey::from_spki_der(&der)
    }

    /// Reads a public key file (SPKI PEM).
    ///
    /// # Errors
    /// [`KeyError`] naming the file.
    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        let bytes = confine::read_file(path, MAX_KEY_FILE_BYTES, "a key file")?;
        let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Format {
            path: path.to_owned(),
            source: KeyFormatError::Pem("not UTF-8 text".into()),
        })?;
        PublicKey::from_spki_pem(text).map_err(|source| KeyError::Format {
            path: path.to_owned(),
            source,
        })
    }

    /// Wraps a raw 32-byte Ed25519 public key.
    ///
    /// # Errors
    /// [`KeyFormatError::Der`] when the bytes are not a point of the curve.
    pub fn from_ed25519_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyFormatError> {
        let k = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|e| KeyFormatError::Der(e.to_string()))?;
        Ok(PublicKey::from_verifying(Verifying::Ed25519(k)))
    }

    /// The SPKI PEM text (LF line endings, final LF).
    pub fn to_spki_pem(&self) -> String {
        pkcs8::der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.spki_der)
            .expect("PEM encoding of DER bytes cannot fail")
    }

    /// The SPKI DER bytes.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            Verifying::Ed25519(_) => Algorithm::Ed25519,
            Verifying::P256(_) => Algorithm::EcdsaP256Sha256,
        }
    }

    /// The raw 32-byte public key, for an Ed25519 key.
    pub fn ed25519_bytes(&self) -> Option<[u8; 32]> {
        match &self.key {
            Verifying::Ed25519(k) => Some(k.to_bytes()),
            Verifying::P256(_) => None,
        }
    }

    /// Verifies `sig` over `msg`: Ed25519 per RFC 8032 with the strict checks (no small-order
    /// keys or `R`, canonical `S`), ECDSA P-256 over SHA-256 from strict DER.
    ///
    /// # Errors
    /// [`SignatureError`] saying whether the bytes were malformed or the signature wrong.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        match &self.key {
            Verifying::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| SignatureError::Malformed(Algorithm::Ed25519))?;
                k.verify_strict(msg, &sig)
                    .map_err(|_| SignatureError::Invalid)
            }
            Verifying::P256(k) => {
                let sig = p256::ecdsa::Signature::from_der(sig)
                    .map_err(|_| SignatureError::Malformed(Algorithm::EcdsaP256Sha256))?;
                k.verify(msg, &sig).map_err(|_| SignatureError::Invalid)
            }
        }
    }
}

enum Signing {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// A private key (Ed25519 or ECDSA P-256) and its public key.
pub struct SigningKey {
    key: Signing,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("SigningKey")
            .field("algorithm", &self.public.algorithm())
            .field("key_id", &self.public.id)
            .finish()
    }
}

impl SigningKey {
    fn from_signing(key: Signing) -> SigningKey {
        let public = PublicKey::from_verifying(match &key {
            Signing::Ed25519(k) => Verifying::Ed25519(k.verifying_key()),
            Signing::P256(k) => Verifying::P256(*k.verifying_key()),
        });
        SigningKey { key, public }
    }

    /// A new Ed25519 key from the operating system's random source.
    pub fn generate_ed25519() -> SigningKey {
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        SigningKey::from_signing(Signing::Ed25519(key))
    }

    /// The Ed25519 key with this 32-byte seed (RFC 8032 private key), for fixed test keys.
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey::from_signing(Signing::Ed25519(ed25519_dalek::SigningKey::from_bytes(
            seed,
        )))
    }

    /// The P-256 key with this 32-byte big-endian scalar, for fixed test keys.
    ///
    /// # Errors
    /// [`KeyFormatError::Der`] when the scalar is zero or not below the group order.
    pub fn p256_from_scalar(scalar: &[u8; 32]) -> Result<SigningKey, KeyFormatError> {
        let k = p256::ecdsa::SigningKey::from_slice(scalar)
            .map_err(|e| KeyFormatError::Der(e.to_string()))?;
        Ok(SigningKey::from_signing(Signing::P256(k)))
    }

    /// Parses PKCS#8 DER of an Ed25519 or P-256 private key (unencrypted; v1 or v2).
    ///
    /// # Errors
    /// [`KeyFormatError`] for other bytes or algorithms.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, KeyFormatError> {
        let info =
            pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| KeyFormatError::Der(e.to_string()))?;
        let oid = info.algorithm.oid;
        let key = if oid == OID_ED25519 {
            Signing::Ed25519(
                ed25519_dalek::SigningKey::from_pkcs8_der(der)
                    .map_err(|e| KeyFormatError::Der(e.to_string()))?,
            )
        } else if oid == OID_EC_PUBLIC_KEY {
            Signing::P256(
                <p256::ecdsa::SigningKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_der(der)
                    .map_err(|_| {
                        KeyFormatError::Unsupported("ECDSA on a curve other than P-256".into())
                    })?,
            )
        } else {
            return Err(KeyFormatError::Unsupported(oid.to_string()));
        };
        Ok(SigningKey::from_signing(key))
    }

    /// Parses a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Errors
    /// [`KeyFormatError`] naming what is wrong, with a conversion hint for SEC1
    /// (`EC PRIVATE KEY`), encrypted and OpenSSH keys.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, KeyFormatError> {
        let der = Zeroizing::new(pem_decode(pem, "PRIVATE KEY")?);
        SigningKey::from_pkcs8_der(&der)
    }

    /// Reads a private key file for signing, refusing it when group or others have any
    /// permission on it (checked on the opened file).
    ///
    /// # Errors
    /// [`KeyError`] naming the file; [`KeyError::Permissions`] says which `chmod` fixes it.
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        let opened = confine::open_file(path)?;
        // The permission check is made on the file opened, not on what the path names later.
        let meta = opened.file.metadata().map_err(|source| ReadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let bytes = opened.read_bounded(
            &path.display().to_string(),
            MAX_KEY_FILE_BYTES,
            "a key file",
        )?;
        let bytes = Zeroizing::new(bytes);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Format {
            path: path.to_owned(),
            source: KeyFormatError::Pem("not UTF-8 text".into()),
        })?;
        SigningKey::from_pkcs8_pem(text).map_err(|source| KeyError::Format {
            path: path.to_owned(),
            source,
        })
    }

    /// The PKCS#8 PEM text (v1, without the optional public key, which every tool reads),
    /// LF line endings.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        let pem = match &self.key {
            Signing::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_pem(LineEnding::LF),
            Signing::P256(k) => p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(k, LineEnding::LF),
        };
        pem.expect("encoding a valid private key cannot fail")
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key id (of the public key).
    pub fn key_id(&self) -> KeyId {
        self.public.id
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    /// Signs `msg`: raw 64 bytes for Ed25519, DER for ECDSA P-256 (RFC 6979 nonces, so the
    /// same key and message always give the same signature).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.key {
            Signing::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            Signing::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(msg);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

/// Decodes exactly one PEM block with label `expected` (surrounding whitespace allowed).
fn pem_decode(pem: &str, expected: &'static str) -> Result<Vec<u8>, KeyFormatError> {
    let (label, der) = pkcs8::der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|e| KeyFormatError::Pem(e.to_string()))?;
    if label != expected {
        let hint = match label {
            "EC PRIVATE KEY" => {
                "; convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`"
            }
            "ENCRYPTED PRIVATE KEY" => {
                "; encrypted keys are not read, decrypt it with `openssl pkcs8 -in KEY -out PLAIN`"
            }
            "OPENSSH PRIVATE KEY" => {
                "; convert it with `ssh-keygen -p -m PKCS8 -f KEY` (this rewrites KEY in place)"
            }
            _ => "",
        };
        return Err(KeyFormatError::Label {
            found: label.chars().take(60).collect(),
            expected,
            hint,
        });
    }
    Ok(der)
}

/// The files [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The private key file (PKCS#8 PEM, mode 0600).
    pub private_key: PathBuf,
    /// The public key file (SPKI PEM, mode 0644).
    pub public_key: PathBuf,
    /// The key id.
    pub key_id: KeyId,
}

/// Generates an Ed25519 key pair into `dir` (created if missing) as [`PRIVATE_KEY_FILE`]
/// and [`PUBLIC_KEY_FILE`]. Refuses when either file exists; on failure removes the files
/// it created.
///
/// # Errors
/// [`KeyError::Exists`] or [`KeyError::Write`].
pub fn generate(dir: &Path) -> Result<GeneratedKey, KeyError> {
    let private_key = dir.join(PRIVATE_KEY_FILE);
    let public_key = dir.join(PUBLIC_KEY_FILE);
    for p in [&private_key, &public_key] {
        if fs::symlink_metadata(p).is_ok() {
            return Err(KeyError::Exists { path: p.clone() });
        }
    }
    fs::create_dir_all(dir).map_err(|source| KeyError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let key = SigningKey::generate_ed25519();
    write_private_key(&private_key, &key)?;
    if let Err(e) = write_public_key(&public_key, key.public_key()) {
        // Ours, written a moment ago: do not leave half a key pair.
        let _ = fs::remove_file(&private_key);
        return Err(e);
    }
    Ok(GeneratedKey {
        private_key,
        public_key,
        key_id: key.key_id(),
    })
}

/// Writes `key` as PKCS#8 PEM to a new file at `path`: created with mode 0600 (never
/// readable by others, not even while being written), fsynced, then linked into place
/// without replacing anything.
///
/// # Errors
/// [`KeyError::Exists`] when `path` exists, else [`KeyError::Write`].
pub fn write_private_key(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    write_new(path, key.to_pkcs8_pem().as_bytes(), 0o600)
}

/// Writes `key` as SPKI PEM to a new file at `path` (mode 0644), never replacing one.
///
/// # Errors
/// [`KeyError::Exists`] when `path` exists, else [`KeyError::Write`].
pub fn write_public_key(path: &Path, key: &PublicKey) -> Result<(), KeyError> {
    write_new(path, key.to_spki_pem().as_bytes(), 0o644)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let werr = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-key-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The temp file is created with this mode (less the umask), never wider.
        builder.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(dir).map_err(werr)?;
    tmp.write_all(bytes).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {}
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyError::Exists {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(werr(e.error)),
    }
    receipt_primitives::fsutil::sync_dir(dir).map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn generated_keys_round_trip_and_are_private() {
        let t = tempfile::tempdir().unwrap();
        let g = generate(&t.path().join("keys")).unwrap();
        #[cfg(unix)]
        {
            assert_eq!(mode(&g.private_key), 0o600);
            assert_eq!(mode(&g.public_key) & 0o600, 0o600);
        }
        let sk = SigningKey::load(&g.private_key).unwrap();
        let pk = PublicKey::load(&g.public_key).unwrap();
        assert_eq!(sk.public_key(), &pk);
        assert_eq!(pk.key_id(), g.key_id);
        assert_eq!(pk.key_id().to_string(), Digest::of(pk.spki_der()).to_hex());
        let sig = sk.sign(b"msg");
        pk.verify(b"msg", &sig).unwrap();
        assert_eq!(pk.verify(b"msh", &sig), Err(SignatureError::Invalid));
        // A second generate into the same directory refuses and leaves both files.
        let before = fs::read(&g.private_key).unwrap();
        assert!(matches!(
            generate(&t.path().join("keys")),
            Err(KeyError::Exists { .. })
        ));
        assert_eq!(fs::read(&g.private_key).unwrap(), before);
    }

    #[cfg(unix)]
    #[test]
    fn group_or_world_readable_private_key_is_refused_with_a_chmod_hint() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let g = generate(t.path()).unwrap();
        fs::set_permissions(&g.private_key, fs::Permissions::from_mode(0o644)).unwrap();
        let e = SigningKey::load(&g.private_key).unwrap_err();
        let p = g.private_key.display();
        assert_eq!(
            e.to_string(),
            format!(
                "{p}: private key file is readable by group or others (mode 0644); run chmod 600 {p}"
            )
        );
        fs::set_permissions(&g.private_key, fs::Permissions::from_mode(0o620)).unwrap();
        assert!(matches!(
            SigningKey::load(&g.private_key),
            Err(KeyError::Permissions { mode: 0o620, .. })
        ));
        fs::set_permissions(&g.private_key, fs::Permissions::from_mode(0o400)).unwrap();
        SigningKey::load(&g.private_key).unwrap();
    }

    #[test]
    fn p256_keys_sign_der_and_round_trip() {
        let sk = SigningKey::p256_from_scalar(&[7u8; 32]).unwrap();
        let pem = sk.to_pkcs8_pem();
        let again = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(again.public_key(), sk.public_key());
        assert_eq!(sk.algorithm(), Algorithm::EcdsaP256Sha256);
        let sig = sk.sign(b"payload");
        assert_eq!(sig[0], 0x30, "DER SEQUENCE");
        assert_eq!(sig, again.sign(b"payload"), "RFC 6979 is deterministic");
        let pk = PublicKey::from_spki_pem(&sk.public_key().to_spki_pem()).unwrap();
        pk.verify(b"payload", &sig).unwrap();
        assert_eq!(pk.verify(b"payloae", &sig), Err(SignatureError::Invalid));
        assert_eq!(
            pk.verify(b"payload", &sig[..sig.len() - 1]),
            Err(SignatureError::Malformed(Algorithm::EcdsaP256Sha256))
        );
        assert_eq!(pk.spki_der().len(), 91);
    }

    #[test]
    fn wrong_labels_and_algorithms_are_named() {
        let sk = SigningKey::ed25519_from_seed(&[1; 32]);
        let pem = sk.to_pkcs8_pem();
        assert!(matches!(
            PublicKey::from_spki_pem(&pem),
            Err(KeyFormatError::Label { .. })
        ));
        let sec1 = pem.replace("PRIVATE KEY", "EC PRIVATE KEY");
        let e = SigningKey::from_pkcs8_pem(&sec1).unwrap_err().to_string();
        assert!(e.contains("openssl pkcs8 -topk8"), "{e}");
        assert!(matches!(
            SigningKey::from_pkcs8_pem("hello"),
            Err(KeyFormatError::Pem(_))
        ));
    }

    /// `openssl genpkey -algorithm ed25519` output for the RFC 8032 test 1 key, and the
    /// matching `openssl pkey -pubout`: both parse, and agree.
    #[test]
    fn openssl_ed25519_pem_files_are_read() {
        let private = "-----BEGIN PRIVATE KEY-----\n\
            MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
            -----END PRIVATE KEY-----\n";
        let public = "-----BEGIN PUBLIC KEY-----\n\
            MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
            -----END PUBLIC KEY-----\n";
        let sk = SigningKey::from_pkcs8_pem(private).unwrap();
        let pk = PublicKey::from_spki_pem(public).unwrap();
        assert_eq!(sk.public_key(), &pk);
        assert_eq!(sk.to_pkcs8_pem().as_str(), private);
        assert_eq!(pk.to_spki_pem(), public);
        // RFC 8032 §7.1 test 1: the empty message.
        let sig = sk.sign(b"");
        assert_eq!(
            sig.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }
}
