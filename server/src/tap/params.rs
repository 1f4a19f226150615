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

    /// Reads the query string and, for POST, a form-urlencoded or multipart body.
    pub async fn from_request(
        method: &Method,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Body,
        max_bytes: usize,
    ) -> Result<Self, ServiceError> {
        let mut params = Params::default();
        if let Some(q) = query {
            params.extend_urlencoded(q.as_bytes())?;
        }
        if method != Method::POST {
            return Ok(params);
        }
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
            let constraints = multer::Constraints::new()
                .size_limit(multer::SizeLimit::new().whole_stream(max_bytes as u64));
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
                let data = field
                    .bytes()
                    .await
                    .map_err(|e| multipart_error(e, max_bytes))?;
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
        Ok(params)
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
