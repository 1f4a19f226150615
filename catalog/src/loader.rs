//! Validation of the catalogue configuration and loading of the Parquet tables.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;

use datafusion::catalog::TableProvider;

use crate::config::{CatalogConfig, ColumnConfig, RemoteTableConfig, TableConfig};
use crate::model::{Catalog, ColumnInfo, ForeignKey, SchemaInfo, TableInfo, meta_keys};
use crate::{CatalogError, tap_schema};

/// Parses a `--table SCHEMA.NAME=PATH` argument into a table configuration.
pub fn quick_table(arg: &str) -> Result<TableConfig, CatalogError> {
    let (name, path) = arg
        .split_once('=')
        .ok_or_else(|| CatalogError::InvalidConfig {
            key: format!("--table {arg}"),
            message: "expected SCHEMA.NAME=PATH, e.g. --table gaiadr3.gaia_source=data/gs.parquet"
                .into(),
        })?;
    Ok(TableConfig {
        name: name.trim().to_string(),
        path: path.trim().to_string(),
        ..Default::default()
    })
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn split_name(key: &str, name: &str) -> Result<(String, String), CatalogError> {
    let bad = |m: &str| CatalogError::InvalidConfig {
        key: key.to_string(),
        message: format!("table name '{name}' {m}"),
    };
    let (s, t) = name
        .split_once('.')
        .ok_or_else(|| bad("must be qualified as schema.table"))?;
    if !is_identifier(s) || !is_identifier(t) {
        return Err(bad(
            "must consist of lower-case ADQL regular identifiers ([a-z][a-z0-9_]*)",
        ));
    }
    if s.eq_ignore_ascii_case(tap_schema::TAP_SCHEMA) || s == "tap_upload" {
        return Err(bad("uses a reserved schema name"));
    }
    Ok((s.to_string(), t.to_string()))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Validates `config` and loads every table; relative paths are resolved against `base_dir`.
pub async fn load(config: &CatalogConfig, base_dir: &Path) -> Result<Catalog, CatalogError> {
    load_with(config, base_dir, Vec::new()).await
}

/// The local schema of each remote source (`[[catalog.postgres]]`, `[[catalog.flightsql]]`)
/// with its description, validated: lower-case identifiers, not reserved, unique, and not
/// used by a local table.
pub fn remote_schemas(config: &CatalogConfig) -> Result<Vec<SchemaInfo>, CatalogError> {
    let sources = config
        .postgres
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                format!("catalog.postgres[{i}]"),
                &p.name,
                &p.schema,
                &p.description,
            )
        })
        .chain(config.flightsql.iter().enumerate().map(|(i, f)| {
            (
                format!("catalog.flightsql[{i}]"),
                &f.name,
                &f.schema,
                &f.description,
            )
        }));
    let mut out: Vec<SchemaInfo> = Vec::new();
    let mut names = HashSet::new();
    for (key, name, schema, description) in sources {
        if !is_identifier(name) {
            return Err(CatalogError::InvalidConfig {
                key: format!("{key}.name"),
                message: format!(
                    "source name '{name}' must be a lower-case ADQL regular identifier"
                ),
            });
        }
        if !names.insert(name.clone()) {
            return Err(CatalogError::InvalidConfig {
                key: format!("{key}.name"),
                message: format!("source '{name}' is declared twice"),
            });
        }
        let local = schema.clone().unwrap_or_else(|| name.clone());
        let bad = |m: String| CatalogError::InvalidConfig {
            key: format!("{key}.schema"),
            message: m,
        };
        if !is_identifier(&local) {
            return Err(bad(format!(
                "schema name '{local}' must be a lower-case ADQL regular identifier"
            )));
        }
        if local.eq_ignore_ascii_case(tap_schema::TAP_SCHEMA) || local == "tap_upload" {
            return Err(bad(format!("'{local}' is a reserved schema name")));
        }
        if out.iter().any(|s| s.name == local)
            || config
                .tables
                .iter()
                .any(|t| t.name.split('.').next() == Some(local.as_str()))
        {
            return Err(bad(format!(
                "schema '{local}' is already used by another source or a local table; each remote source needs a schema of its own"
            )));
        }
        let declared = config.schemas.iter().find(|s| s.name == local);
        out.push(SchemaInfo {
            name: local,
            description: description
                .clone()
                .or_else(|| declared.and_then(|s| s.description.clone())),
            utype: declared.and_then(|s| s.utype.clone()),
            tables: Vec::new(),
        });
    }
    Ok(out)
}

/// Describes a remote table for TAP_SCHEMA: applies the configured metadata to `schema`'s
/// fields (which keep what the remote side reported unless overridden) and builds the
/// column list. Columns must already have VOTable-compatible types.
pub fn remote_table(
    schema_name: &str,
    table_name: &str,
    schema: &Schema,
    description: Option<String>,
    config: Option<&RemoteTableConfig>,
    provider: Arc<dyn TableProvider>,
) -> Result<TableInfo, CatalogError> {
    let qualified = format!("{schema_name}.{table_name}");
    if let Some(c) = config {
        for name in c.columns.keys() {
            if schema.field_with_name(name).is_err() {
                return Err(CatalogError::InvalidConfig {
                    key: format!("{schema_name}.table.{table_name}.columns.{name}"),
                    message: format!("remote table {qualified} has no column '{name}'"),
                });
            }
        }
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| apply_overrides(f, config.and_then(|c| c.columns.get(f.name()))))
        .collect();
    let arrow_schema = Arc::new(Schema::new(fields));
    let columns = arrow_schema
        .fields()
        .iter()
        .map(|f| ColumnInfo::from_field(&qualified, f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TableInfo {
        schema: schema_name.to_string(),
        name: table_name.to_string(),
        table_type: "table",
        description: config.and_then(|c| c.description.clone()).or(description),
        utype: config.and_then(|c| c.utype.clone()),
        columns,
        arrow_schema,
        provider,
    })
}

/// As [`load`], plus the tables of remote sources (built with [`remote_table`]); each goes
/// into its source's schema (see [`remote_schemas`]).
pub async fn load_with(
    config: &CatalogConfig,
    base_dir: &Path,
    remote: Vec<TableInfo>,
) -> Result<Catalog, CatalogError> {
    let runtime =
        crate::stores::runtime_builder()
            .build_arc()
            .map_err(|e| CatalogError::Registration {
                table: "(object stores)".into(),
                reason: e.to_string(),
            })?;
    let ctx =
        SessionContext::new_with_config_rt(datafusion::prelude::SessionConfig::new(), runtime);
    let state = ctx.state();

    let mut schemas: Vec<SchemaInfo> = Vec::new();
    let mut seen_schema = HashSet::new();
    for (i, s) in config.schemas.iter().enumerate() {
        let key = format!("catalog.schema[{i}].name");
        if !is_identifier(&s.name) {
            return Err(CatalogError::InvalidConfig {
                key,
                message: format!(
                    "schema name '{}' must be a lower-case ADQL regular identifier",
                    s.name
                ),
            });
        }
        if !seen_schema.insert(s.name.clone()) {
            return Err(CatalogError::InvalidConfig {
                key,
                message: format!("schema '{}' is declared twice", s.name),
            });
        }
        schemas.push(SchemaInfo {
            name: s.name.clone(),
            description: s.description.clone(),
            utype: s.utype.clone(),
            tables: Vec::new(),
        });
    }

    for r in remote_schemas(config)? {
        match schemas.iter_mut().find(|s| s.name == r.name) {
            Some(s) => s.description = s.description.take().or(r.description),
            None => schemas.push(r),
        }
    }
    for t in remote {
        match schemas.iter_mut().find(|s| s.name == t.schema) {
            Some(s) => s.tables.push(t),
            None => {
                return Err(CatalogError::Registration {
                    table: t.qualified_name(),
                    reason: "no remote source declares this schema".into(),
                });
            }
        }
    }

    let mut seen_table = HashSet::new();
    for (i, t) in config.tables.iter().enumerate() {
        let key = format!("catalog.table[{i}]");
        let (schema_name, table_name) = split_name(&format!("{key}.name"), &t.name)?;
        if !seen_table.insert(t.name.clone()) {
            return Err(CatalogError::InvalidConfig {
                key: format!("{key}.name"),
                message: format!("table '{}' is declared twice", t.name),
            });
        }
        let info = load_table(&state, &key, &schema_name, &table_name, t, base_dir).await?;
        let pos = match schemas.iter().position(|s| s.name == schema_name) {
            Some(p) => p,
            None => {
                schemas.push(SchemaInfo {
                    name: schema_name.clone(),
                    description: None,
                    utype: None,
                    tables: Vec::new(),
                });
                schemas.len() - 1
            }
        };
        schemas[pos].tables.push(info);
    }

    let mut keys = Vec::new();
    for (i, fk) in config.foreign_keys.iter().enumerate() {
        let key = format!("catalog.foreign_key[{i}]");
        let find = |name: &str, what: &str| {
            schemas
                .iter()
                .flat_map(|s| s.tables.iter())
                .find(|t| t.qualified_name() == name)
                .ok_or_else(|| CatalogError::InvalidConfig {
                    key: format!("{key}.{what}"),
                    message: format!("no table named '{name}' in the catalogue"),
                })
        };
        let from = find(&fk.from, "from")?;
        let target = find(&fk.target, "target")?;
        if fk.columns.is_empty() {
            return Err(CatalogError::InvalidConfig {
                key: format!("{key}.columns"),
                message: "a foreign key needs at least one column pair".into(),
            });
        }
        for (j, [a, b]) in fk.columns.iter().enumerate() {
            for (table, col) in [(from, a), (target, b)] {
                if table.column(col).is_none() {
                    return Err(CatalogError::InvalidConfig {
                        key: format!("{key}.columns[{j}]"),
                        message: format!("table {} has no column '{col}'", table.qualified_name()),
                    });
                }
            }
        }
        keys.push(ForeignKey {
            key_id: format!("{}-{}-{i}", fk.from, fk.target),
            from_table: fk.from.clone(),
            target_table: fk.target.clone(),
            columns: fk
                .columns
                .iter()
                .map(|[a, b]| (a.clone(), b.clone()))
                .collect(),
            description: fk.description.clone(),
        });
    }

    tap_schema::finish(schemas, keys)
}

async fn load_table(
    state: &datafusion::execution::SessionState,
    key: &str,
    schema_name: &str,
    table_name: &str,
    t: &TableConfig,
    base_dir: &Path,
) -> Result<TableInfo, CatalogError> {
    let qualified = format!("{schema_name}.{table_name}");
    let is_url = crate::stores::is_url(&t.path);
    let raw = PathBuf::from(&t.path);
    let path = if raw.is_absolute() || is_url {
        raw
    } else {
        base_dir.join(raw)
    };
    let path_str = if is_url {
        t.path.clone()
    } else {
        path.to_string_lossy().to_string()
    };
    let not_parquet = |reason: String| CatalogError::NotParquet {
        key: format!("{key}.path"),
        table: qualified.clone(),
        path: path_str.clone(),
        reason,
    };
    // A URL names a directory when it ends with '/' (an object store has no directories to
    // ask about); its files are checked when the schema is inferred below.
    let (url_text, is_dir) = if is_url {
        (path_str.clone(), path_str.ends_with('/'))
    } else if has_glob(&path_str) {
        (path_str.clone(), false)
    } else {
        let meta = std::fs::metadata(&path).map_err(|_| CatalogError::MissingPath {
            key: format!("{key}.path"),
            table: qualified.clone(),
            path: path.clone(),
        })?;
        let canonical = std::fs::canonicalize(&path).map_err(|e| not_parquet(e.to_string()))?;
        let mut s = canonical.to_string_lossy().to_string();
        if meta.is_dir() && !s.ends_with('/') {
            s.push('/');
        }
        (s, meta.is_dir())
    };
    let url = ListingTableUrl::parse(&url_text).map_err(|e| not_parquet(e.to_string()))?;
    let format = ParquetFormat::default().with_skip_metadata(false);
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(if is_dir {
        ".parquet"
    } else {
        ""
    });
    let inferred = options
        .infer_schema(state, &url)
        .await
        .map_err(|e| not_parquet(e.to_string()))?;
    if inferred.fields().is_empty() {
        return Err(not_parquet("no Parquet files or no columns found".into()));
    }

    // Config overrides go into the Arrow field metadata, so that query results carry them too.
    for name in t.columns.keys() {
        if inferred.field_with_name(name).is_err() {
            let suggestion = inferred
                .fields()
                .iter()
                .map(|f| f.name())
                .min_by_key(|f| edit_distance(f, name))
                .map(|f| format!("; did you mean '{f}'?"))
                .unwrap_or_default();
            return Err(CatalogError::InvalidConfig {
                key: format!("{key}.columns.{name}"),
                message: format!("table {qualified} has no column '{name}'{suggestion}"),
            });
        }
    }
    for (name, c) in &t.columns {
        if let Some(scheme) = &c.healpix
            && !valid_healpix_scheme(scheme)
        {
            return Err(CatalogError::InvalidConfig {
                key: format!("{key}.columns.{name}.healpix"),
                message: format!(
                    "'{scheme}' is not a HEALPix key scheme; use \"gaia\" (Gaia source_id) or \"nested:N\" (NESTED index at order N, 0..29)"
                ),
            });
        }
    }
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| apply_overrides(f, t.columns.get(f.name())))
        .collect();
    let description = t
        .description
        .clone()
        .or_else(|| inferred.metadata().get(meta_keys::DESCRIPTION).cloned());
    let utype = t
        .utype
        .clone()
        .or_else(|| inferred.metadata().get(meta_keys::UTYPE).cloned());
    let schema = Arc::new(Schema::new(fields));
    let columns = schema
        .fields()
        .iter()
        .map(|f| ColumnInfo::from_field(&qualified, f))
        .collect::<Result<Vec<_>, _>>()?;

    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema.clone());
    let provider = ListingTable::try_new(config).map_err(|e| not_parquet(e.to_string()))?;
    Ok(TableInfo {
        schema: schema_name.to_string(),
        name: table_name.to_string(),
        table_type: "table",
        description,
        utype,
        columns,
        arrow_schema: schema,
        provider: Arc::new(provider),
    })
}

fn apply_overrides(field: &Field, cfg: Option<&ColumnConfig>) -> Field {
    let mut md: HashMap<String, String> = field.metadata().clone();
    if let Some(c) = cfg {
        let mut set = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                md.insert(k.to_string(), v.clone());
            }
        };
        set(meta_keys::DESCRIPTION, &c.description);
        set(meta_keys::UNIT, &c.unit);
        set(meta_keys::UCD, &c.ucd);
        set(meta_keys::UTYPE, &c.utype);
        set(meta_keys::XTYPE, &c.xtype);
        let flag = |v: bool| if v { "1".to_string() } else { "0".to_string() };
        set(meta_keys::PRINCIPAL, &c.principal.map(flag));
        set(meta_keys::INDEXED, &c.indexed.map(flag));
        set(meta_keys::STD, &c.std.map(flag));
        set(meta_keys::HEALPIX, &c.healpix);
    }
    field.clone().with_metadata(md)
}

/// `gaia` or `nested:N` with N in 0..=29 (as `parallax_udfs` reads it).
fn valid_healpix_scheme(s: &str) -> bool {
    s == "gaia"
        || s.strip_prefix("nested:")
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| n <= 29)
}

/// Levenshtein distance, for suggestions in configuration errors.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;

    use super::*;
    use crate::config::{ColumnConfig, ForeignKeyConfig};

    fn write_parquet(path: &Path) {
        let md = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        let schema = Arc::new(
            Schema::new(vec![
                Field::new("source_id", DataType::Int64, false)
                    .with_metadata(md(&[("ucd", "meta.id;meta.main"), ("indexed", "1")])),
                Field::new("ra", DataType::Float64, true)
                    .with_metadata(md(&[("unit", "deg"), ("description", "Right ascension")])),
            ])
            .with_metadata(md(&[("description", "A test table")])),
        );
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(Float64Array::from(vec![Some(10.0), None, Some(30.0)])),
            ],
        )
        .unwrap();
        let file = std::fs::File::create(path).unwrap();
        let mut w = ArrowWriter::try_new(file, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    fn config(dir: &Path) -> CatalogConfig {
        std::fs::create_dir_all(dir.join("t")).unwrap();
        write_parquet(&dir.join("t/part-0.parquet"));
        CatalogConfig {
            tables: vec![TableConfig {
                name: "s.t".into(),
                path: "t".into(),
                columns: BTreeMap::from([(
                    "ra".to_string(),
                    ColumnConfig {
                        ucd: Some("pos.eq.ra;meta.main".into()),
                        principal: Some(true),
                        ..Default::default()
                    },
                )]),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn loads_metadata_from_parquet_and_config() {
        let dir = tempfile::tempdir().unwrap();
        let cat = load(&config(dir.path()), dir.path()).await.unwrap();
        let t = cat.table("s.t").unwrap();
        assert_eq!(t.description.as_deref(), Some("A test table"));
        let ra = t.column("ra").unwrap();
        assert_eq!(ra.unit.as_deref(), Some("deg"));
        assert_eq!(ra.ucd.as_deref(), Some("pos.eq.ra;meta.main"));
        assert!(ra.principal);
        assert_eq!(ra.datatype, "double");
        let id = t.column("SOURCE_ID").unwrap();
        assert!(id.indexed);
        assert!(!id.nullable);
        // TAP_SCHEMA is last and describes itself.
        assert_eq!(cat.schemas.last().unwrap().name, "TAP_SCHEMA");
        assert!(cat.table("TAP_SCHEMA.columns").is_some());
        assert_eq!(cat.keys.len(), 5);
    }

    #[tokio::test]
    async fn queries_see_the_tables_and_tap_schema() {
        let dir = tempfile::tempdir().unwrap();
        let cat = load(&config(dir.path()), dir.path()).await.unwrap();
        let ctx = SessionContext::new();
        cat.register(&ctx).unwrap();
        let n = ctx
            .sql("SELECT count(*) AS n FROM s.t WHERE ra IS NOT NULL")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let v = n[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(v.value(0), 2);
        let cols = ctx
            .sql("SELECT column_name, unit FROM tap_schema.columns WHERE table_name = 's.t'")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(cols.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        // Field metadata reaches the query's output schema.
        let df = ctx.sql("SELECT ra AS x FROM s.t").await.unwrap();
        let f = df.schema().field(0);
        assert_eq!(f.metadata().get("unit").map(String::as_str), Some("deg"));
    }

    #[tokio::test]
    async fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.tables[0]
            .columns
            .insert("raa".into(), ColumnConfig::default());
        let e = load(&c, dir.path()).await.unwrap_err().to_string();
        assert!(e.contains("catalog.table[0].columns.raa"), "{e}");
        assert!(e.contains("did you mean 'ra'"), "{e}");

        let mut c = config(dir.path());
        c.tables[0].path = "missing".into();
        let e = load(&c, dir.path()).await.unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");

        std::fs::write(dir.path().join("notes.txt"), "not parquet").unwrap();
        let mut c = config(dir.path());
        c.tables[0].path = "notes.txt".into();
        let e = load(&c, dir.path()).await.unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");

        let mut c = config(dir.path());
        c.tables[0].name = "NoSchema".into();
        let e = load(&c, dir.path()).await.unwrap_err().to_string();
        assert!(e.contains("catalog.table[0].name"), "{e}");

        let mut c = config(dir.path());
        c.foreign_keys.push(ForeignKeyConfig {
            from: "s.t".into(),
            target: "s.other".into(),
            columns: vec![["source_id".into(), "source_id".into()]],
            description: None,
        });
        let e = load(&c, dir.path()).await.unwrap_err().to_string();
        assert!(e.contains("catalog.foreign_key[0].target"), "{e}");
    }

    #[test]
    fn quick_table_syntax() {
        let t = quick_table("gaiadr3.gaia_source=/data/x.parquet").unwrap();
        assert_eq!(t.name, "gaiadr3.gaia_source");
        assert_eq!(t.path, "/data/x.parquet");
        assert!(quick_table("nopath").is_err());
    }
}
