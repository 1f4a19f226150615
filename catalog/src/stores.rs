//! Object stores for tables whose path is a URL rather than a local path:
//!
//! * `s3://BUCKET/PREFIX/`: Amazon S3 or any S3-compatible store, configured from the
//!   standard AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_REGION`, `AWS_ENDPOINT` for other S3 services, `AWS_ALLOW_HTTP=true` for a plain
//!   HTTP endpoint, ...);
//! * `http://HOST/PATH/` and `https://...`: a WebDAV server (files are read with GET and
//!   ranged GETs, directories listed with PROPFIND).
//!
//! Every process that reads tables uses [`registry`]: the front end (schema inference, local
//! queries), the Ballista scheduler (it lists a table's files when it plans) and every
//! executor (it reads them), so one URL resolves to the same files everywhere, which a local
//! path only does on a shared file system. A store is created the first time a URL of its
//! bucket or host is used. Queries cannot name URLs: only configured tables have them.

use std::sync::{Arc, LazyLock};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use object_store::ObjectStore;
use url::Url;

/// Whether a table path is an object-store URL this registry serves (else a local path).
pub fn is_url(path: &str) -> bool {
    ["s3://", "http://", "https://"]
        .iter()
        .any(|scheme| path.starts_with(scheme))
}

/// The object-store registry of this process: one for all its sessions (the scheduler makes a
/// session per job, an executor a runtime per session), so each bucket's or host's client and
/// its connections are made once and reused.
pub fn registry() -> Arc<dyn ObjectStoreRegistry> {
    static REGISTRY: LazyLock<Arc<ObjectStores>> = LazyLock::new(Default::default);
    Arc::clone(&*REGISTRY) as Arc<dyn ObjectStoreRegistry>
}

/// A runtime builder with [`registry`] (callers add memory pools and temporary directories).
pub fn runtime_builder() -> RuntimeEnvBuilder {
    RuntimeEnvBuilder::new().with_object_store_registry(registry())
}

/// DataFusion's registry (local files) plus stores created on first use for `s3://` and
/// `http(s)://` URLs.
#[derive(Debug, Default)]
struct ObjectStores {
    known: DefaultObjectStoreRegistry,
}

impl ObjectStores {
    fn create(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let failed = |e: object_store::Error| {
            DataFusionError::Configuration(format!("cannot use the object store of {url}: {e}"))
        };
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" => Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url.as_str())
                    .build()
                    .map_err(failed)?,
            ),
            "http" | "https" => {
                let base = &url[..url::Position::BeforePath];
                Arc::new(
                    object_store::http::HttpBuilder::new()
                        .with_url(base)
                        .with_client_options(
                            object_store::ClientOptions::new()
                                .with_allow_http(url.scheme() == "http"),
                        )
                        .build()
                        .map_err(failed)?,
                )
            }
            other => {
                return Err(DataFusionError::Configuration(format!(
                    "no object store for '{other}' URLs ({url}); table paths are local paths or \
                     s3://, http:// or https:// URLs"
                )));
            }
        };
        Ok(store)
    }
}

impl ObjectStoreRegistry for ObjectStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        let store = Self::create(url)?;
        self.known.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_made_per_bucket_and_host_once_per_process() {
        let r = registry();
        let file = Url::parse("file:///tmp/x.parquet").unwrap();
        assert!(r.get_store(&file).is_ok());
        let a = r
            .get_store(&Url::parse("http://127.0.0.1:9/data/a/").unwrap())
            .unwrap();
        let b = r
            .get_store(&Url::parse("http://127.0.0.1:9/other/b.parquet").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b), "one store per host");
        let c = r
            .get_store(&Url::parse("http://127.0.0.2:9/data/").unwrap())
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        let again = registry()
            .get_store(&Url::parse("http://127.0.0.1:9/x").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&a, &again), "one registry per process");
        let e = r
            .get_store(&Url::parse("gs://bucket/x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no object store for 'gs' URLs"), "{e}");
        assert!(is_url("s3://b/p/") && is_url("https://h/p") && !is_url("/data/x"));
    }
}
