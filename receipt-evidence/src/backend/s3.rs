//! The S3-compatible backend (cargo feature `s3`): objects in a bucket under a key prefix,
//! through the `object_store` crate's AWS client. Configuration comes from the environment
//! as `object_store` reads it (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT`, `AWS_SESSION_TOKEN`, …), overridden by [`S3Options`].
//!
//! The backend owns a single-threaded tokio runtime and blocks on it, so it is called from a
//! plain thread (the runtime's I/O thread, a command), never from inside an async runtime.
//! A PUT of one object is atomic on S3, which gives the trait's all-or-nothing write.

use std::fmt;

use futures::TryStreamExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore as _, ObjectStoreExt as _, PutPayload};

use super::{Backend, BackendError, Listed, check_key};

/// Settings beyond the environment.
#[derive(Clone, Default)]
pub struct S3Options {
    /// Endpoint URL of an S3-compatible service (e.g. `http://127.0.0.1:9000`); plain HTTP is
    /// allowed only when the endpoint is given here with an `http://` scheme.
    pub endpoint: Option<String>,
    /// Region (default: the environment's, else `us-east-1`).
    pub region: Option<String>,
    /// Access key id (default: the environment's).
    pub access_key_id: Option<String>,
    /// Secret access key (default: the environment's).
    pub secret_access_key: Option<String>,
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| ".."),
            )
            .finish()
    }
}

/// Objects in `s3://bucket/prefix`.
pub struct S3Backend {
    url: String,
    prefix: String,
    store: AmazonS3,
    rt: tokio::runtime::Runtime,
}

impl fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Backend").field("url", &self.url).finish()
    }
}

impl S3Backend {
    /// Connects to `s3://bucket` or `s3://bucket/prefix` (no request is made yet).
    ///
    /// # Errors
    /// [`BackendError::Location`] for a malformed URL, [`BackendError::S3`] when the client
    /// cannot be configured.
    pub fn new(url: &str, options: &S3Options) -> Result<S3Backend, BackendError> {
        let bad = |reason: &str| BackendError::Location {
            location: receipt_primitives::check::echo(url),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("not an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_end_matches('/');
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(bad(
                "the bucket name is not 3 to 63 characters of [a-z0-9.-]",
            ));
        }
        if !prefix.is_empty() && check_key(prefix).is_err() {
            return Err(bad(
                "the prefix is not /-separated segments of [a-z0-9._-] (none empty or starting with .)",
            ));
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(e) = &options.endpoint {
            b = b
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(r) = &options.region {
            b = b.with_region(r);
        } else if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            b = b.with_region("us-east-1");
        }
        if let Some(k) = &options.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &options.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let location = format!(
            "s3://{bucket}{}{prefix}",
            if prefix.is_empty() { "" } else { "/" }
        );
        let store = b.build().map_err(|source| BackendError::S3 {
            op: "configure",
            location: location.clone(),
            key: String::new(),
            source: Box::new(source),
        })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| BackendError::Io {
                op: "start the I/O runtime for",
                location: location.clone(),
                key: String::new(),
                source,
            })?;
        Ok(S3Backend {
            url: location,
            prefix: prefix.to_owned(),
            store,
            rt,
        })
    }

    fn path(&self, key: &str) -> ObjPath {
        if self.prefix.is_empty() {
            ObjPath::from(key)
        } else {
            ObjPath::from(format!("{}/{key}", self.prefix))
        }
    }

    fn err(&self, op: &'static str, key: &str, source: object_store::Error) -> BackendError {
        BackendError::S3 {
            op,
            location: self.url.clone(),
            key: key.to_owned(),
            source: Box::new(source),
        }
    }
}

impl Backend for S3Backend {
    fn location(&self) -> String {
        self.url.clone()
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BackendError> {
        check_key(key)?;
        let path = self.path(key);
        self.rt
            .block_on(self.store.put(&path, PutPayload::from(bytes.to_vec())))
            .map(|_| ())
            .map_err(|e| self.err("write", key, e))
    }

    fn get(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, BackendError> {
        check_key(key)?;
        let path = self.path(key);
        self.rt.block_on(async {
            let got = match self.store.get(&path).await {
                Ok(g) => g,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.err("read", key, e)),
            };
            if got.meta.size > max {
                return Err(BackendError::TooLarge {
                    location: self.url.clone(),
                    key: key.to_owned(),
                    size: got.meta.size,
                    max,
                });
            }
            let bytes = got.bytes().await.map_err(|e| self.err("read", key, e))?;
            if bytes.len() as u64 > max {
                return Err(BackendError::TooLarge {
                    location: self.url.clone(),
                    key: key.to_owned(),
                    size: bytes.len() as u64,
                    max,
                });
            }
            Ok(Some(bytes.to_vec()))
        })
    }

    fn size(&self, key: &str) -> Result<Option<u64>, BackendError> {
        check_key(key)?;
        let path = self.path(key);
        match self.rt.block_on(self.store.head(&path)) {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("stat", key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<Listed>, BackendError> {
        let trimmed = prefix.trim_end_matches('/');
        if !trimmed.is_empty() {
            check_key(trimmed)?;
        }
        let full = match (self.prefix.is_empty(), trimmed.is_empty()) {
            (true, true) => None,
            (true, false) => Some(ObjPath::from(trimmed)),
            (false, true) => Some(ObjPath::from(self.prefix.as_str())),
            (false, false) => Some(ObjPath::from(format!("{}/{trimmed}", self.prefix))),
        };
        let metas: Vec<object_store::ObjectMeta> = self
            .rt
            .block_on(self.store.list(full.as_ref()).try_collect())
            .map_err(|e| self.err("list", prefix, e))?;
        let root = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut out: Vec<Listed> = metas
            .into_iter()
            .filter_map(|m| {
                let key = m.location.as_ref().strip_prefix(root.as_str())?.to_owned();
                check_key(&key).ok()?;
                Some(Listed { key, size: m.size })
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), BackendError> {
        check_key(key)?;
        let path = self.path(key);
        match self.rt.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", key, e)),
        }
    }
}
