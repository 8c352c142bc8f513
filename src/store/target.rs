//! Where a dataset lives: a local directory or an object store URL.
//!
//! A target is parsed once, when the configuration is built: an object store
//! URL names only the bucket (container) and the prefix, while credentials,
//! region and endpoint come from the environment exactly as each cloud's SDK
//! reads them (`AWS_*`, `GOOGLE_*`, `AZURE_*`, through object_store's
//! `from_env` builders). Nothing reads the environment later.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;
use object_store::{BackoffConfig, ObjectStore, ObjectStoreScheme, RetryConfig};
use url::Url;

use super::object::ObjectTarget;

/// URL schemes accepted as object storage, for messages.
pub const SCHEMES: &str = "s3://, s3a://, gs://, az://, azure://, adl://, abfs://, abfss://";

/// A dataset's root: a local directory or a prefix in a bucket.
#[derive(Debug, Clone)]
pub enum Target {
    /// A directory on a local file system (a PVC in the cluster).
    Local(PathBuf),
    /// A prefix in an object store bucket or container.
    Object(ObjectTarget),
}

/// Why a dataset location could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{url}: not a valid URL")]
    BadUrl {
        url: String,
        #[source]
        cause: url::ParseError,
    },
    #[error(
        "{url}: unknown scheme {scheme}:// (object storage takes {SCHEMES}; a plain path is a local directory)"
    )]
    UnknownScheme { url: String, scheme: String },
    #[error("{url}: no bucket or container name (expected {scheme}://BUCKET/PREFIX)")]
    NoBucket { url: String, scheme: String },
    #[error("{url}: unknown object store option {key:?}")]
    UnknownOption { url: String, key: String },
    // object_store's errors print their own causes: no `#[source]`, or a
    // chain would print them twice.
    #[error("{url}: cannot set up the object store: {cause}")]
    Build {
        url: String,
        cause: object_store::Error,
    },
}

impl Target {
    /// A local directory for a plain path, an object store target for a URL
    /// (`s3://BUCKET/PREFIX`, `gs://…`, `az://CONTAINER/PREFIX`,
    /// `file:///PATH`), configured from the environment.
    ///
    /// # Errors
    ///
    /// [`TargetError`] naming the URL: malformed, an unknown scheme, no
    /// bucket, or settings the cloud's client refuses.
    pub fn parse(text: &str) -> Result<Target, TargetError> {
        Target::parse_with_options(text, std::iter::empty::<(&str, &str)>())
    }

    /// [`Target::parse`], with object store settings that override the
    /// environment: the keys of object_store's `AmazonS3ConfigKey`,
    /// `GoogleConfigKey` or `AzureConfigKey` (`aws_endpoint`,
    /// `aws_allow_http`, `google_service_account`, `azure_storage_account_name`, …).
    /// A local path ignores them.
    ///
    /// # Errors
    ///
    /// As [`Target::parse`], and [`TargetError::UnknownOption`] for a key
    /// the URL's cloud does not know.
    pub fn parse_with_options<I, K, V>(text: &str, options: I) -> Result<Target, TargetError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        // `s3:/bucket` is a mistyped URL, not a folder named `s3:`.
        let Some((scheme, _)) = text.split_once(":/").filter(|(scheme, _)| {
            scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }) else {
            return Ok(Target::Local(PathBuf::from(text)));
        };
        let url = Url::parse(text).map_err(|cause| TargetError::BadUrl {
            url: text.to_owned(),
            cause,
        })?;
        if url.scheme() == "file" {
            return url
                .to_file_path()
                .map(Target::Local)
                .map_err(|()| TargetError::BadUrl {
                    url: text.to_owned(),
                    cause: url::ParseError::RelativeUrlWithoutBase,
                });
        }
        let unknown = || TargetError::UnknownScheme {
            url: text.to_owned(),
            scheme: scheme.to_owned(),
        };
        if !SCHEMES
            .split(", ")
            .any(|s| s == format!("{}://", url.scheme()))
        {
            return Err(unknown());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(TargetError::NoBucket {
                url: text.to_owned(),
                scheme: url.scheme().to_owned(),
            });
        }
        let build = |cause| TargetError::Build {
            url: text.to_owned(),
            cause,
        };
        let (kind, prefix) = ObjectStoreScheme::parse(&url).map_err(|cause| build(cause.into()))?;
        let options: Vec<(String, String)> = options
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into()))
            .collect();
        let unknown_option = |key: &str| TargetError::UnknownOption {
            url: text.to_owned(),
            key: key.to_owned(),
        };
        let store: Arc<dyn ObjectStore> = match kind {
            ObjectStoreScheme::AmazonS3 => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_url(url.as_str())
                    .with_retry(retry_config());
                for (key, value) in options {
                    let key =
                        AmazonS3ConfigKey::from_str(&key).map_err(|_| unknown_option(&key))?;
                    builder = builder.with_config(key, value);
                }
                Arc::new(builder.build().map_err(build)?)
            }
            ObjectStoreScheme::GoogleCloudStorage => {
                let mut builder = GoogleCloudStorageBuilder::from_env()
                    .with_url(url.as_str())
                    .with_retry(retry_config());
                for (key, value) in options {
                    let key = GoogleConfigKey::from_str(&key).map_err(|_| unknown_option(&key))?;
                    builder = builder.with_config(key, value);
                }
                Arc::new(builder.build().map_err(build)?)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                let mut builder = MicrosoftAzureBuilder::from_env()
                    .with_url(url.as_str())
                    .with_retry(retry_config());
                for (key, value) in options {
                    let key = AzureConfigKey::from_str(&key).map_err(|_| unknown_option(&key))?;
                    builder = builder.with_config(key, value);
                }
                Arc::new(builder.build().map_err(build)?)
            }
            _ => return Err(unknown()),
        };
        let shown = text.trim_end_matches('/').to_owned();
        Ok(Target::Object(ObjectTarget::new(
            shown,
            store,
            Path::from_iter(prefix.parts()),
        )))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local(root) => write!(f, "{}", root.display()),
            Target::Object(object) => write!(f, "{}", object.url()),
        }
    }
}

/// How every object store request is retried: up to 10 retries with
/// exponential backoff from 100 ms to 15 s, and none begun after 3 minutes
/// (object_store's advice: keep it under the 5 minutes a signed request
/// stays valid). PUTs, lists and deletes are idempotent, so a retry is safe.
pub fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: Duration::from_secs(180),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        match Target::parse(text) {
            Ok(target) => panic!("{text} parsed as {target}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_plain_path_is_a_local_directory() {
        let target = Target::parse("data/out").unwrap();
        assert!(matches!(&target, Target::Local(p) if p == &PathBuf::from("data/out")));
        assert_eq!(target.to_string(), "data/out");
    }

    #[test]
    fn a_file_url_is_a_local_directory() {
        let target = Target::parse("file:///tmp/data").unwrap();
        assert!(matches!(&target, Target::Local(p) if p == &PathBuf::from("/tmp/data")));
    }

    #[test]
    fn an_s3_url_names_bucket_and_prefix() {
        let target = Target::parse_with_options(
            "s3://bucket/some/prefix/",
            [("aws_region", "us-east-1"), ("aws_skip_signature", "true")],
        )
        .unwrap();
        let Target::Object(object) = &target else {
            panic!("{target:?}")
        };
        assert_eq!(object.prefix().as_ref(), "some/prefix");
        assert_eq!(target.to_string(), "s3://bucket/some/prefix");
    }

    #[test]
    fn an_unknown_scheme_is_named_with_the_url() {
        let message = error("ftp://host/data");
        assert!(
            message.starts_with("ftp://host/data: unknown scheme ftp://"),
            "{message}"
        );
    }

    #[test]
    fn a_url_without_bucket_says_so() {
        assert_eq!(
            error("s3:///prefix"),
            "s3:///prefix: no bucket or container name (expected s3://BUCKET/PREFIX)"
        );
        assert!(error("gs://").contains("no bucket"), "{}", error("gs://"));
        assert!(error("s3:/bucket").contains("no bucket"), "a mistyped URL");
    }

    #[test]
    fn a_malformed_url_says_so() {
        assert_eq!(error("s3://bu cket/p"), "s3://bu cket/p: not a valid URL");
    }

    #[test]
    fn an_unknown_option_is_refused() {
        let result = Target::parse_with_options("s3://bucket/p", [("aws_colour", "blue")]);
        assert!(
            matches!(&result, Err(TargetError::UnknownOption { key, .. }) if key == "aws_colour"),
            "{result:?}"
        );
    }
}
