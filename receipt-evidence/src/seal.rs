//! Sealed blobs at rest: XChaCha20-Poly1305 with a random 24-byte nonce, laid out as
//! `nonce ‖ ciphertext ‖ tag`, with the blob's URI bound as associated data so that a
//! ciphertext copied under another name fails authentication.

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use receipt_primitives::Digest;

use crate::blob::BlobUri;
use crate::key::SealKey;

/// Bytes of the nonce that starts every sealed object.
pub const NONCE_LEN: usize = 24;
/// Bytes of the Poly1305 tag that ends it.
pub const TAG_LEN: usize = 16;
/// Sealed size minus plaintext size.
pub const SEAL_OVERHEAD: u64 = (NONCE_LEN + TAG_LEN) as u64;

/// The domain-separation prefix of the associated data: 26 bytes `receipt.evidence.sealed.v1`
/// and one 0x00 byte.
pub const AAD_PREFIX: &[u8] = b"receipt.evidence.sealed.v1\0";

/// Why a sealed object did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Shorter than a nonce and a tag.
    #[error("the sealed object is {0} bytes, shorter than the 40 bytes of nonce and tag")]
    TooShort(u64),
    /// The tag does not verify: wrong key, changed bytes, or a different blob's ciphertext.
    #[error("authentication failed (wrong key, altered bytes, or another blob's ciphertext)")]
    Authentication,
    /// The random generator failed while sealing.
    #[error("the system random generator failed")]
    Random,
}

/// The associated data for the blob named `digest`: [`AAD_PREFIX`] ‖ `blob://sha256:<hex>`.
pub fn associated_data(digest: &Digest) -> Vec<u8> {
    let mut aad = AAD_PREFIX.to_vec();
    aad.extend_from_slice(BlobUri(*digest).to_string().as_bytes());
    aad
}

fn cipher(key: &SealKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&Key::from(*key.bytes()))
}

/// Seals `plaintext` (whose SHA-256 is `digest`) under `key` with a fresh random nonce.
///
/// # Errors
/// [`OpenError::Random`] when the system generator fails.
pub fn seal(key: &SealKey, digest: &Digest, plaintext: &[u8]) -> Result<Vec<u8>, OpenError> {
    let nonce = XNonce::try_generate().map_err(|_| OpenError::Random)?;
    let aad = associated_data(digest);
    let ct = cipher(key)
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| OpenError::Authentication)?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a sealed object stored for the blob `digest`.
///
/// # Errors
/// [`OpenError::TooShort`] or [`OpenError::Authentication`].
pub fn open(key: &SealKey, digest: &Digest, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    if (sealed.len() as u64) < SEAL_OVERHEAD {
        return Err(OpenError::TooShort(sealed.len() as u64));
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| OpenError::TooShort(sealed.len() as u64))?;
    let aad = associated_data(digest);
    cipher(key)
        .decrypt(&nonce, Payload { msg: ct, aad: &aad })
        .map_err(|_| OpenError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_layout() {
        let k = SealKey::from_bytes([9; 32]);
        let d = Digest::of(b"hello");
        let s = seal(&k, &d, b"hello").unwrap();
        assert_eq!(s.len() as u64, 5 + SEAL_OVERHEAD);
        assert_eq!(open(&k, &d, &s).unwrap(), b"hello");
        // A fresh nonce each time.
        assert_ne!(seal(&k, &d, b"hello").unwrap()[..NONCE_LEN], s[..NONCE_LEN]);
    }

    #[test]
    fn every_flipped_byte_fails_authentication() {
        let k = SealKey::from_bytes([1; 32]);
        let d = Digest::of(b"evidence");
        let s = seal(&k, &d, b"evidence").unwrap();
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 0x01;
            assert_eq!(open(&k, &d, &t), Err(OpenError::Authentication), "byte {i}");
        }
        assert_eq!(open(&k, &d, &s[..39]), Err(OpenError::TooShort(39)));
    }

    #[test]
    fn a_ciphertext_under_another_name_or_key_fails() {
        let k = SealKey::from_bytes([1; 32]);
        let d = Digest::of(b"a");
        let s = seal(&k, &d, b"a").unwrap();
        assert_eq!(
            open(&k, &Digest::of(b"b"), &s),
            Err(OpenError::Authentication)
        );
        assert_eq!(
            open(&SealKey::from_bytes([2; 32]), &d, &s),
            Err(OpenError::Authentication)
        );
    }

    #[test]
    fn known_answer_with_a_fixed_nonce() {
        // The layout is nonce ‖ XChaCha20-Poly1305(key, nonce, plaintext, aad).
        let k = SealKey::from_bytes([0x42; 32]);
        let d = Digest::of(b"kat");
        let nonce = XNonce::from([7u8; 24]);
        let aad = associated_data(&d);
        assert_eq!(&aad[..27], b"receipt.evidence.sealed.v1\0");
        assert_eq!(aad.len(), 27 + 14 + 64);
        let ct = cipher(&k)
            .encrypt(
                &nonce,
                Payload {
                    msg: b"kat",
                    aad: &aad,
                },
            )
            .unwrap();
        let mut obj = nonce.to_vec();
        obj.extend_from_slice(&ct);
        let hex: String = obj.iter().map(|b| format!("{b:02x}")).collect();
        // The same bytes as libsodium's crypto_aead_xchacha20poly1305_ietf_encrypt (the worked
        // example of docs/SPEC.md §16.5).
        assert_eq!(
            hex,
            "070707070707070707070707070707070707070707070707\
             9c6df14e4ef44a9dd49e8b99a05555186f2de9"
        );
        assert_eq!(open(&k, &d, &obj).unwrap(), b"kat");
    }
}
