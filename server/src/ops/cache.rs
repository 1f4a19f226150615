//! The result cache: identical sync queries (same normalised ADQL, same MAXREC, same
//! catalogue version) within a TTL are answered from memory instead of being run again.
//!
//! Entries are the Arrow record batches of the result (not an encoded document), so one entry
//! serves every output format and is streamed through the same writers as a fresh result.
//! A result is captured while it streams to the first client and kept only if the stream
//! ends normally within `max_entry_bytes`; a bigger result is simply not cached. The key
//! holds the catalogue's version (a fingerprint of the sizes and modification times of its
//! files, refreshed at most once a second), so a changed catalogue is never answered from
//! an old entry. Queries with UPLOADs are not cached. The size bound and TTL are moka's
//! (weighted by Arrow memory size).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use parallax_formats::ColumnMeta;

/// Validated `[cache]` settings.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// Cache sync results at all.
    pub enabled: bool,
    /// How long an entry lives.
    pub ttl: Duration,
    /// Total Arrow bytes held.
    pub max_bytes: u64,
    /// Largest single result kept.
    pub max_entry_bytes: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl: Duration::from_secs(600),
            max_bytes: 512 << 20,
            max_entry_bytes: 32 << 20,
        }
    }
}

/// What identifies a cached result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The ADQL after parsing and rewriting, printed back (whitespace, keyword case and
    /// comments normalised away).
    pub query: String,
    /// Rows asked from the engine (MAXREC + 1).
    pub limit: u64,
    /// The catalogue version.
    pub version: u64,
}

/// A cached result.
#[derive(Debug)]
pub struct CachedResult {
    /// Output schema.
    pub schema: SchemaRef,
    /// Column metadata.
    pub columns: Vec<ColumnMeta>,
    /// The batches.
    pub batches: Vec<RecordBatch>,
    /// Their Arrow memory size.
    pub bytes: u64,
}

/// The cache and the catalogue fingerprint.
pub struct ResultCache {
    settings: CacheSettings,
    cache: moka::sync::Cache<CacheKey, Arc<CachedResult>>,
    roots: Vec<PathBuf>,
    version: Mutex<(Instant, u64)>,
    /// Tables whose content the file fingerprint cannot see (remote sources), lower case.
    uncached: std::collections::HashSet<String>,
}

impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultCache")
            .field("settings", &self.settings)
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl ResultCache {
    /// A cache over the catalogue files under `roots` (files or directories).
    pub fn new(settings: CacheSettings, roots: Vec<PathBuf>) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(|_k: &CacheKey, v: &Arc<CachedResult>| {
                u32::try_from(v.bytes).unwrap_or(u32::MAX)
            })
            .time_to_live(settings.ttl.max(Duration::from_millis(1)))
            .build();
        let version = fingerprint(&roots);
        Self {
            settings,
            cache,
            roots,
            version: Mutex::new((Instant::now(), version)),
            uncached: Default::default(),
        }
    }

    /// Never caches queries that name one of `tables` (`schema.table`, e.g. the tables of
    /// remote PostgreSQL or Flight SQL sources, which change without the catalogue's files
    /// changing).
    pub fn with_uncached_tables(mut self, tables: Vec<String>) -> Self {
        self.uncached = tables.into_iter().map(|t| t.to_lowercase()).collect();
        self
    }

    /// The settings.
    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// The key of an ADQL query, or None when it is not cacheable (cache off, or text that
    /// does not parse: the engine will report that).
    pub fn key(&self, adql: &str, limit: u64) -> Option<CacheKey> {
        if !self.settings.enabled {
            return None;
        }
        let q = parallax_adql::parse(adql).ok()?;
        if !self.uncached.is_empty() {
            let mut remote = false;
            let _ = datafusion::sql::sqlparser::ast::visit_relations(&q.statement, |name| {
                let full = name.to_string().replace('"', "").to_lowercase();
                remote |= self.uncached.contains(&full);
                std::ops::ControlFlow::<()>::Continue(())
            });
            if remote {
                return None;
            }
        }
        Some(CacheKey {
            query: q.statement.to_string(),
            limit,
            version: self.version(),
        })
    }

    /// The catalogue version, recomputed at most once a second.
    pub fn version(&self) -> u64 {
        let mut v = self.version.lock().unwrap_or_else(|p| p.into_inner());
        if v.0.elapsed() >= Duration::from_secs(1) {
            *v = (Instant::now(), fingerprint(&self.roots));
        }
        v.1
    }

    /// A cached result.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<CachedResult>> {
        self.cache.get(key)
    }

    /// Keeps a result, when small enough.
    pub fn insert(&self, key: CacheKey, value: CachedResult) {
        if value.bytes <= self.settings.max_entry_bytes {
            self.cache.insert(key, Arc::new(value));
        }
    }

    /// Entries and their weight (bytes).
    pub fn usage(&self) -> (u64, u64) {
        self.cache.run_pending_tasks();
        (self.cache.entry_count(), self.cache.weighted_size())
    }
}

/// Hash of (path, size, mtime) of every file under `roots`.
fn fingerprint(roots: &[PathBuf]) -> u64 {
    let mut h = DefaultHasher::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    let mut files = Vec::new();
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else {
            p.hash(&mut h);
            continue;
        };
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            files.push((p, meta.len(), mtime));
        }
    }
    files.sort();
    files.hash(&mut h);
    h.finish()
}

/// Collects a streaming result for the cache: batches are kept until the bytes exceed the
/// entry limit, then dropped (the result streams on, uncached).
#[derive(Debug)]
pub struct Capture {
    batches: Vec<RecordBatch>,
    bytes: u64,
    limit: u64,
    overflowed: bool,
}

impl Capture {
    /// Collects up to `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            batches: Vec::new(),
            bytes: 0,
            limit,
            overflowed: false,
        }
    }

    /// Sees one batch.
    pub fn push(&mut self, b: &RecordBatch) {
        if self.overflowed {
            return;
        }
        self.bytes += b.get_array_memory_size() as u64;
        if self.bytes > self.limit {
            self.overflowed = true;
            self.batches = Vec::new();
        } else {
            self.batches.push(b.clone());
        }
    }

    /// The batches, when they all fitted.
    pub fn finish(self) -> Option<(Vec<RecordBatch>, u64)> {
        (!self.overflowed).then_some((self.batches, self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalise_the_text_and_follow_the_catalogue() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.parquet");
        std::fs::write(&file, b"one").unwrap();
        let c = ResultCache::new(CacheSettings::default(), vec![dir.path().to_path_buf()]);
        let a = c
            .key("SELECT TOP 5 ra FROM gaiadr3.gaia_source", 6)
            .unwrap();
        let b = c
            .key("select  top 5\n ra from gaiadr3.gaia_source -- note", 6)
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(
            a,
            c.key("SELECT TOP 5 ra FROM gaiadr3.gaia_source", 7)
                .unwrap()
        );
        assert!(c.key("SELEC nonsense", 6).is_none());
        let c2 = ResultCache::new(CacheSettings::default(), vec![dir.path().to_path_buf()])
            .with_uncached_tables(vec!["pg.PSC".into()]);
        assert!(c2.key("SELECT * FROM pg.psc", 6).is_none());
        assert!(
            c2.key(
                "SELECT * FROM gaiadr3.gaia_source AS g JOIN pg.psc AS p ON g.source_id = p.id",
                6
            )
            .is_none()
        );
        assert!(c2.key("SELECT * FROM gaiadr3.gaia_source", 6).is_some());
        std::fs::write(&file, b"changed, longer").unwrap();
        *c.version.lock().unwrap() = (Instant::now() - Duration::from_secs(2), a.version);
        assert_ne!(
            c.key("SELECT TOP 5 ra FROM gaiadr3.gaia_source", 6)
                .unwrap(),
            a
        );
    }
}
