//! DALI 1.1 request parameters: case-insensitive names, case-sensitive values, unknown
//! parameters ignored, single-valued parameters not repeated (DALI §3.1-3.2, TAP §2.7).

use axum::body::Body;
use axum::http::{HeaderMap, Method, header};

use super::error::ServiceError;

/// One uploaded multipart file part (kept for `UPLOAD=name,param:part`).
#[derive(Debug, Clone)]
pub struct FilePart {
    /// The multipart field name.
    pub name: String,
    /// Its bytes.
    pub data: bytes::Bytes,
}

/// The parameters of one request, names folded to lower case, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// Multipart file parts.
    pub files: Vec<FilePart>,
}

/// Parameters that may be given several times.
const MULTI_VALUED: &[&str] = &["upload", "phase"];

impl Params {
    /// Builds parameters from name/value pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            files: Vec::new(),
        }
    }

    /// Parses a query string only.
    pub fn from_query(query: Option<&str>) -> Result<Self, ServiceError> {
        let mut params = Params::default();
        if let Some(q) = query {
            params.extend_urlencoded(q.as_bytes())?;
        }
        Ok(params)
    }

    /// Reads the query string and, for POST, a form-urlencoded or multipart body.
    pub async fn from_request(
        method: &Method,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Body,
        max_bytes: usize,
        max_part_bytes: Option<u64>,
    ) -> Result<Self, ServiceError> {
        let mut params = Params::default();
        if let Some(q) = query {
            params.extend_urlencoded(q.as_bytes())?;
        }
        if method != Method::POST {
            return Ok(params);
        }
        let lower_ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        // Multipart bodies carry upload tables, whose own limit is added to the body limit.
        let max_bytes = match max_part_bytes {
            Some(p) if lower_ctype.starts_with("multipart/form-data") => {
                max_bytes.saturating_add(usize::try_from(p).unwrap_or(usize::MAX))
            }
            _ => max_bytes,
        };
        // Refuse a declared oversized body before reading any of it.
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_bytes as u64) {
            return Err(ServiceError::TooLarge { limit: max_bytes });
        }
        let ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let lower = ctype.to_ascii_lowercase();
        if lower.starts_with("multipart/form-data") {
            let boundary = multer::parse_boundary(&ctype).map_err(|e| {
                ServiceError::BadRequest(format!("malformed multipart content type: {e}"))
            })?;
            let mut limit = multer::SizeLimit::new().whole_stream(max_bytes as u64);
            if let Some(p) = max_part_bytes {
                limit = limit.per_field(p.saturating_add(1));
            }
            let constraints = multer::Constraints::new().size_limit(limit);
            let mut mp =
                multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
            loop {
                let field = match mp.next_field().await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => return Err(multipart_error(e, max_bytes)),
                };
                let name = field.name().unwrap_or("").to_string();
                let is_file = field.file_name().is_some();
                let data = field.bytes().await.map_err(|e| match (e, max_part_bytes) {
                    (multer::Error::FieldSizeExceeded { field_name, .. }, Some(p)) => {
                        ServiceError::Upload(crate::upload::UploadError::TooLarge {
                            table: field_name.unwrap_or(name.clone()),
                            limit: p,
                        })
                    }
                    (e, _) => multipart_error(e, max_bytes),
                })?;
                if is_file
                    && let Some(p) = max_part_bytes
                    && data.len() as u64 > p
                {
                    return Err(ServiceError::Upload(crate::upload::UploadError::TooLarge {
                        table: name,
                        limit: p,
                    }));
                }
                if is_file {
                    params.files.push(FilePart { name, data });
                } else {
                    let value = String::from_utf8(data.to_vec()).map_err(|_| {
                        ServiceError::BadRequest(format!("parameter {name} is not valid UTF-8"))
                    })?;
                    params.pairs.push((name.to_ascii_lowercase(), value));
                }
            }
        } else {
            let bytes = axum::body::to_bytes(body, max_bytes)
                .await
                .map_err(|_| ServiceError::TooLarge { limit: max_bytes })?;
            if lower.is_empty() || lower.starts_with("application/x-www-form-urlencoded") {
                params.extend_urlencoded(&bytes)?;
            } else if !bytes.is_empty() {
                return Err(ServiceError::BadRequest(format!(
                    "unsupported content type '{ctype}'; send application/x-www-form-urlencoded \
                     or multipart/form-data"
                )));
            }
        }
        params.claim_upload_parts();
        Ok(params)
    }

    /// A part referenced by `UPLOAD=name,param:part` that arrived without a file name is
    /// still an upload table, not a parameter.
    fn claim_upload_parts(&mut self) {
        let wanted: Vec<String> = self
            .all("upload")
            .iter()
            .flat_map(|v| v.split(';'))
            .filter_map(|item| item.split_once(',').map(|(_, uri)| uri.trim()))
            .filter_map(|uri| uri.strip_prefix("param:"))
            .map(str::to_ascii_lowercase)
            .collect();
        if wanted.is_empty() {
            return;
        }
        let mut kept = Vec::new();
        for (k, v) in std::mem::take(&mut self.pairs) {
            if wanted.contains(&k) && !self.files.iter().any(|f| f.name.eq_ignore_ascii_case(&k)) {
                self.files.push(FilePart {
                    name: k,
                    data: bytes::Bytes::from(v),
                });
            } else {
                kept.push((k, v));
            }
        }
        self.pairs = kept;
    }

    fn extend_urlencoded(&mut self, bytes: &[u8]) -> Result<(), ServiceError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).map_err(|e| {
            ServiceError::BadRequest(format!("malformed form-urlencoded parameters: {e}"))
        })?;
        self.pairs
            .extend(pairs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
        Ok(())
    }

    /// The value of a single-valued parameter; a repeated one is an error (DALI §3.2).
    pub fn get(&self, name: &str) -> Result<Option<&str>, ServiceError> {
        let name = name.to_ascii_lowercase();
        debug_assert!(!MULTI_VALUED.contains(&name.as_str()));
        let mut found = self.pairs.iter().filter(|(k, _)| *k == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(ServiceError::BadRequest(format!(
                "parameter {} is given more than once; it takes a single value",
                name.to_ascii_uppercase()
            )));
        }
        Ok(first.map(|(_, v)| v.as_str()))
    }

    /// All values of a multi-valued parameter.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.pairs
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every (name, value) pair.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

fn multipart_error(e: multer::Error, limit: usize) -> ServiceError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            ServiceError::TooLarge { limit }
        }
        other => ServiceError::BadRequest(format!("malformed multipart body: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive() {
        let p = Params::from_pairs([("QuErY".to_string(), "SELECT 1".to_string())]);
        assert_eq!(p.get("query").unwrap(), Some("SELECT 1"));
        assert_eq!(p.get("QUERY").unwrap(), Some("SELECT 1"));
    }

    #[test]
    fn repeated_single_valued_is_an_error() {
        let p = Params::from_pairs([
            ("LANG".to_string(), "ADQL".to_string()),
            ("lang".to_string(), "ADQL".to_string()),
        ]);
        assert!(p.get("lang").is_err());
    }

    #[test]
    fn multi_valued() {
        let p = Params::from_pairs([
            ("UPLOAD".to_string(), "a,param:a".to_string()),
            ("upload".to_string(), "b,param:b".to_string()),
        ]);
        assert_eq!(p.all("upload").len(), 2);
    }
}
