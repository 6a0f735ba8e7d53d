//! The sealing key: 32 bytes read from a private key file (raw, hex or base64) or from the
//! `RECEIPT_EVIDENCE_KEY` environment variable, held in memory that is wiped on drop.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use zeroize::{Zeroize, Zeroizing};

/// The environment variable a key may be given in (hex or base64 text).
pub const KEY_ENV: &str = "RECEIPT_EVIDENCE_KEY";

/// The largest key file read, in bytes.
const MAX_KEY_FILE: u64 = 1024;

/// A 32-byte XChaCha20-Poly1305 key. `Debug` never shows it; it is zeroed when dropped.
#[derive(Clone)]
pub struct SealKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(..)")
    }
}

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be opened or read.
    #[error("cannot read the evidence key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A new key file could not be written (it exists, or the directory is not writable).
    #[error("cannot write the evidence key file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file is not a regular file.
    #[error("the evidence key file {0} is not a regular file")]
    NotRegular(PathBuf),
    /// The key file can be read or written by its group or by others.
    #[error(
        "the evidence key file {path} has mode {mode:04o}; a key must not be accessible to group or others (chmod 600)"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key text is not 32 bytes in any accepted spelling.
    #[error(
        "{source_name} does not hold a 32-byte key: expected exactly 32 raw bytes, 64 hex digits or 44 base64 characters"
    )]
    Format {
        /// The file or variable it came from.
        source_name: String,
    },
    /// The system random generator failed.
    #[error("the system random generator failed: {0}")]
    Random(String),
}

impl SealKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SealKey {
        SealKey(Zeroizing::new(bytes))
    }

    /// A fresh random key from the operating system's generator.
    ///
    /// # Errors
    /// [`KeyError::Random`] when the generator fails.
    pub fn generate() -> Result<SealKey, KeyError> {
        use chacha20poly1305::aead::Generate as _;
        let k =
            chacha20poly1305::Key::try_generate().map_err(|e| KeyError::Random(e.to_string()))?;
        let mut b = [0u8; 32];
        b.copy_from_slice(&k);
        Ok(SealKey::from_bytes(b))
    }

    /// The raw bytes (for the cipher).
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as 64 lowercase hex digits followed by a newline: the key file format this
    /// crate writes.
    pub fn to_hex_line(&self) -> Zeroizing<String> {
        let mut s = String::with_capacity(65);
        for b in self.0.iter() {
            s.push_str(&format!("{b:02x}"));
        }
        s.push('\n');
        Zeroizing::new(s)
    }

    /// Parses key text: 64 hex digits (either case) or 44 standard base64 characters, with
    /// surrounding ASCII whitespace ignored.
    ///
    /// # Errors
    /// [`KeyError::Format`] naming `source_name`.
    pub fn from_text(text: &[u8], source_name: &str) -> Result<SealKey, KeyError> {
        let t = text.trim_ascii();
        let bad = || KeyError::Format {
            source_name: source_name.to_owned(),
        };
        let mut out = Zeroizing::new([0u8; 32]);
        if t.len() == 64 {
            for (o, pair) in out.iter_mut().zip(t.chunks_exact(2)) {
                let hi = (pair[0] as char).to_digit(16).ok_or_else(bad)?;
                let lo = (pair[1] as char).to_digit(16).ok_or_else(bad)?;
                *o = (hi * 16 + lo) as u8;
            }
            return Ok(SealKey(out));
        }
        if t.len() == 44 {
            let mut v = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(t)
                    .map_err(|_| bad())?,
            );
            if v.len() == 32 {
                out.copy_from_slice(&v);
                v.zeroize();
                return Ok(SealKey(out));
            }
        }
        Err(bad())
    }

    /// Reads a key file: exactly 32 bytes are the raw key; otherwise the text forms of
    /// [`SealKey::from_text`]. The file must be a regular file (a symbolic link to one is
    /// followed) that neither its group nor others can access (mode `0600` or stricter), at
    /// most 1 KiB.
    ///
    /// # Errors
    /// [`KeyError`] naming the file.
    pub fn from_file(path: &Path) -> Result<SealKey, KeyError> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let read_err = |source| KeyError::Read {
            path: path.to_owned(),
            source,
        };
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc_o_nonblock())
            .open(path)
            .map_err(read_err)?;
        let meta = f.metadata().map_err(read_err)?;
        if !meta.file_type().is_file() {
            return Err(KeyError::NotRegular(path.to_owned()));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_owned(),
                mode,
            });
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(128));
        f.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut buf)
            .map_err(read_err)?;
        let name = path.display().to_string();
        if buf.len() == 32 {
            let mut out = [0u8; 32];
            out.copy_from_slice(&buf);
            let k = SealKey::from_bytes(out);
            out.zeroize();
            return Ok(k);
        }
        if buf.len() as u64 > MAX_KEY_FILE {
            return Err(KeyError::Format { source_name: name });
        }
        SealKey::from_text(&buf, &name)
    }

    /// The key in `RECEIPT_EVIDENCE_KEY`, when that variable is set.
    ///
    /// # Errors
    /// [`KeyError::Format`] when it is set but is not a key.
    pub fn from_env() -> Result<Option<SealKey>, KeyError> {
        match std::env::var_os(KEY_ENV) {
            None => Ok(None),
            Some(v) => {
                let v = Zeroizing::new(v.into_encoded_bytes());
                SealKey::from_text(&v, KEY_ENV).map(Some)
            }
        }
    }

    /// Writes this key to a new file `path` as a hex line, mode `0600`; fails if the file
    /// exists.
    ///
    /// # Errors
    /// [`KeyError::Write`] with the I/O error (including `AlreadyExists`).
    pub fn write_new_file(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| KeyError::Write {
            path: path.to_owned(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        f.write_all(self.to_hex_line().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)
    }
}

/// `O_NONBLOCK`, so that opening a FIFO named as a key file does not hang (it is then refused
/// as not a regular file).
fn libc_o_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn raw_hex_and_base64_key_files_give_the_same_key() {
        let t = tempfile::tempdir().unwrap();
        let raw: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x0a);
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let k_raw = SealKey::from_file(&write(t.path(), "raw", &raw, 0o600)).unwrap();
        let k_hex = SealKey::from_file(&write(
            t.path(),
            "hex",
            format!("{hex}\n").as_bytes(),
            0o400,
        ))
        .unwrap();
        let k_up = SealKey::from_file(&write(
            t.path(),
            "HEX",
            hex.to_uppercase().as_bytes(),
            0o600,
        ))
        .unwrap();
        let k_b64 = SealKey::from_file(&write(
            t.path(),
            "b64",
            format!("{b64}\r\n").as_bytes(),
            0o600,
        ))
        .unwrap();
        for k in [&k_raw, &k_hex, &k_up, &k_b64] {
            assert_eq!(k.bytes(), &raw);
        }
        assert_eq!(format!("{k_raw:?}"), "SealKey(..)");
    }

    #[test]
    fn a_key_file_readable_by_group_or_others_is_refused() {
        let t = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
            let p = write(t.path(), &format!("k{mode:o}"), &[7u8; 32], mode);
            let e = SealKey::from_file(&p).unwrap_err();
            assert!(matches!(e, KeyError::TooOpen { .. }), "{mode:o}: {e}");
            assert!(e.to_string().contains("chmod 600"), "{e}");
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        let t = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("short", &b"abcd"[..]),
            ("hex63", &[b'a'; 63][..]),
            ("nothex", &[b'g'; 64][..]),
            (
                "b64short",
                &b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="[..],
            ),
        ] {
            let p = write(t.path(), name, bytes, 0o600);
            assert!(
                matches!(SealKey::from_file(&p), Err(KeyError::Format { .. })),
                "{name}"
            );
        }
        let d = t.path().join("dir");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(
            SealKey::from_file(&d),
            Err(KeyError::NotRegular(_))
        ));
    }

    #[test]
    fn generated_keys_round_trip_through_a_new_file() {
        let t = tempfile::tempdir().unwrap();
        let k = SealKey::generate().unwrap();
        let p = t.path().join("evidence.key");
        k.write_new_file(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(SealKey::from_file(&p).unwrap().bytes(), k.bytes());
        assert!(k.write_new_file(&p).is_err(), "never overwrites a key");
        assert_ne!(SealKey::generate().unwrap().bytes(), k.bytes());
    }
}
