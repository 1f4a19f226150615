//! Optional accounts: anonymous by default, HTTP bearer tokens or HTTP basic authentication
//! (RFC 6750, RFC 7617) with hashed secrets in the configuration file.
//!
//! Anonymous requests are always served (TAP 1.1 §2 asks for one base URL for anonymous and
//! authenticated use); a request that presents credentials which do not verify gets 401.
//! Each UWS job records its owner; nobody sees anyone else's jobs.
//!
//! With `[auth] required = true`, anonymous calls are refused too (401 over HTTP,
//! `Unauthenticated` over Flight SQL).
//!
//! Arrow Flight SQL clients exchange basic credentials for a session token in the Flight
//! `Handshake` ([`AuthSettings::issue_session_token`]): `pxs1.USER.EXPIRY.MAC`, an
//! HMAC-SHA256 (RFC 2104) under a key drawn at start-up, so tokens need no server state and
//! end with the process or after [`SESSION_SECONDS`]. They are accepted as bearer tokens on
//! every route.
//!
//! Secrets are never stored: `[[auth.users]]` holds `sha256:ITERATIONS:SALT:HEX`, the salted
//! SHA-256 applied ITERATIONS times, for a password, and `sha256:HEX` for a (random, long)
//! bearer token.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::config::AuthSection;

/// Lifetime of a session token issued by the Flight handshake (12 hours).
pub const SESSION_SECONDS: u64 = 12 * 3600;

const SESSION_PREFIX: &str = "pxs1.";

/// Iterations used by [`hash_password`].
pub const DEFAULT_ITERATIONS: u32 = 100_000;

/// How clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Everyone is anonymous; Authorization headers are ignored.
    #[default]
    None,
    /// `Authorization: Bearer TOKEN`.
    Bearer,
    /// `Authorization: Basic base64(user:password)`.
    Basic,
}

#[derive(Debug, Clone)]
struct User {
    name: String,
    /// (iterations, salt, hash) for basic.
    password: Option<(u32, Vec<u8>, Vec<u8>)>,
    /// hash for bearer.
    token: Option<Vec<u8>>,
}

/// Validated `[auth]`.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The mode.
    pub mode: AuthMode,
    /// Anonymous calls are refused.
    pub required: bool,
    users: Vec<User>,
    /// The HMAC key of session tokens, random per process.
    session_key: [u8; 32],
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            required: false,
            users: Vec::new(),
            session_key: rand::random(),
        }
    }
}

/// Credentials were presented and did not verify (HTTP 401).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

impl AuthSettings {
    /// Validates the `[auth]` section.
    pub fn from_section(s: &AuthSection) -> Result<Self, String> {
        let mode = match s.mode.as_deref().unwrap_or("none") {
            "none" => AuthMode::None,
            "bearer" => AuthMode::Bearer,
            "basic" => AuthMode::Basic,
            other => {
                return Err(format!(
                    "auth.mode: '{other}' is not one of \"none\", \"bearer\", \"basic\""
                ));
            }
        };
        let mut users = Vec::new();
        for u in &s.users {
            if u.name.is_empty() || u.name.chars().any(|c| c.is_control() || c == ':') {
                return Err(format!("auth.users: bad user name '{}'", u.name));
            }
            let password = match &u.password_hash {
                Some(h) => Some(parse_password_hash(h).ok_or_else(|| {
                    format!(
                        "auth.users '{}': password_hash must look like sha256:ITERATIONS:SALT:HEX",
                        u.name
                    )
                })?),
                None => None,
            };
            let token = match &u.token_hash {
                Some(h) => Some(
                    h.strip_prefix("sha256:")
                        .and_then(|x| hex::decode(x).ok())
                        .filter(|x| x.len() == 32)
                        .ok_or_else(|| {
                            format!("auth.users '{}': token_hash must be sha256:HEX", u.name)
                        })?,
                ),
                None => None,
            };
            match mode {
                AuthMode::Basic if password.is_none() => {
                    return Err(format!(
                        "auth.users '{}': basic authentication needs password_hash",
                        u.name
                    ));
                }
                AuthMode::Bearer if token.is_none() => {
                    return Err(format!(
                        "auth.users '{}': bearer authentication needs token_hash",
                        u.name
                    ));
                }
                _ => {}
            }
            if users.iter().any(|x: &User| x.name == u.name) {
                return Err(format!("auth.users: '{}' is listed twice", u.name));
            }
            users.push(User {
                name: u.name.clone(),
                password,
                token,
            });
        }
        let required = s.required.unwrap_or(false);
        if required && mode == AuthMode::None {
            return Err(
                "auth.required = true needs auth.mode = \"basic\" or \"bearer\" and accounts"
                    .into(),
            );
        }
        Ok(Self {
            mode,
            required,
            users,
            session_key: rand::random(),
        })
    }

    /// The authenticated user, `None` for an anonymous request.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<String>, AuthError> {
        let value = match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| AuthError("malformed Authorization header".into()))?,
            ),
        };
        self.authenticate_value(value)
    }

    /// As [`AuthSettings::authenticate`], from the value of an `Authorization` header (HTTP)
    /// or `authorization` metadata entry (gRPC).
    pub fn authenticate_value(&self, value: Option<&str>) -> Result<Option<String>, AuthError> {
        if self.mode == AuthMode::None {
            return Ok(None);
        }
        let Some(value) = value else {
            if self.required {
                return Err(AuthError(format!(
                    "this service requires authentication: send {} credentials",
                    self.challenge_scheme()
                )));
            }
            return Ok(None);
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") && rest.starts_with(SESSION_PREFIX) {
            return self.verify_session_token(rest).map(Some);
        }
        match self.mode {
            AuthMode::Bearer if scheme.eq_ignore_ascii_case("bearer") => {
                let h = Sha256::digest(rest.as_bytes());
                self.users
                    .iter()
                    .find(|u| u.token.as_deref().is_some_and(|t| ct_eq(t, &h)))
                    .map(|u| Some(u.name.clone()))
                    .ok_or_else(|| AuthError("invalid bearer token".into()))
            }
            AuthMode::Basic if scheme.eq_ignore_ascii_case("basic") => {
                // Padding optional: Go's Flight clients (ADBC) send unpadded base64.
                let lenient = base64::engine::GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    base64::engine::GeneralPurposeConfig::new()
                        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
                );
                let decoded = lenient
                    .decode(rest)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| AuthError("malformed basic credentials".into()))?;
                let (name, password) = decoded
                    .split_once(':')
                    .ok_or_else(|| AuthError("malformed basic credentials".into()))?;
                let user = self.users.iter().find(|u| u.name == name);
                let ok = user
                    .and_then(|u| u.password.as_ref())
                    .is_some_and(|(iter, salt, hash)| ct_eq(&derive(password, salt, *iter), hash));
                if ok {
                    Ok(Some(name.to_string()))
                } else {
                    Err(AuthError("wrong user name or password".into()))
                }
            }
            _ => Err(AuthError(format!(
                "this service accepts {} authentication",
                self.challenge_scheme()
            ))),
        }
    }

    /// A session token for `user`, valid for [`SESSION_SECONDS`] on this process.
    pub fn issue_session_token(&self, user: &str) -> String {
        let expiry = now_secs().saturating_add(SESSION_SECONDS);
        let user_hex = hex::encode(user.as_bytes());
        let body = format!("{SESSION_PREFIX}{user_hex}.{expiry}");
        let mac = hmac_sha256(&self.session_key, body.as_bytes());
        format!("{body}.{}", hex::encode(mac))
    }

    fn verify_session_token(&self, token: &str) -> Result<String, AuthError> {
        let invalid = || AuthError("invalid or expired session token; authenticate again".into());
        let (body, mac) = token.rsplit_once('.').ok_or_else(invalid)?;
        let mac = hex::decode(mac).map_err(|_| invalid())?;
        if !ct_eq(&hmac_sha256(&self.session_key, body.as_bytes()), &mac) {
            return Err(invalid());
        }
        let rest = body.strip_prefix(SESSION_PREFIX).ok_or_else(invalid)?;
        let (user_hex, expiry) = rest.split_once('.').ok_or_else(invalid)?;
        let expiry: u64 = expiry.parse().map_err(|_| invalid())?;
        if expiry < now_secs() {
            return Err(invalid());
        }
        let user = hex::decode(user_hex)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(invalid)?;
        // An account removed from the configuration loses its sessions at the next start;
        // check it still exists anyway.
        if !self.users.iter().any(|u| u.name == user) {
            return Err(invalid());
        }
        Ok(user)
    }

    /// The `WWW-Authenticate` challenge for a 401.
    pub fn challenge(&self) -> String {
        format!("{} realm=\"parallax\"", self.challenge_scheme())
    }

    fn challenge_scheme(&self) -> &'static str {
        match self.mode {
            AuthMode::Basic => "Basic",
            _ => "Bearer",
        }
    }
}

fn parse_password_hash(h: &str) -> Option<(u32, Vec<u8>, Vec<u8>)> {
    let mut parts = h.split(':');
    if parts.next()? != "sha256" {
        return None;
    }
    let iter: u32 = parts.next()?.parse().ok().filter(|n| *n >= 1)?;
    let salt = hex::decode(parts.next()?).ok()?;
    let hash = hex::decode(parts.next()?).ok().filter(|x| x.len() == 32)?;
    if parts.next().is_some() {
        return None;
    }
    Some((iter, salt, hash))
}

/// Salted, iterated SHA-256: H_1 = SHA256(salt || password), H_k = SHA256(H_{k-1} || password).
fn derive(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    let mut out = h.finalize();
    for _ in 1..iterations {
        let mut h = Sha256::new();
        h.update(out);
        h.update(password.as_bytes());
        out = h.finalize();
    }
    out.to_vec()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// HMAC-SHA256 (RFC 2104) with a 32-byte key (shorter than the 64-byte block).
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(key);
    let pad = |byte: u8| k.map(|x| x ^ byte);
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `password_hash` value for the configuration file, with a random salt.
pub fn hash_password(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let hash = derive(password, &salt, DEFAULT_ITERATIONS);
    format!(
        "sha256:{DEFAULT_ITERATIONS}:{}:{}",
        hex::encode(salt),
        hex::encode(hash)
    )
}

/// A `token_hash` value for the configuration file.
pub fn hash_token(token: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserEntry;

    fn basic(user: &str, pw: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        h
    }

    #[test]
    fn basic_verifies_hashed_passwords() {
        let s = AuthSettings::from_section(&AuthSection {
            required: None,
            mode: Some("basic".into()),
            users: vec![UserEntry {
                name: "alice".into(),
                password_hash: Some(hash_password("s3cret")),
                token_hash: None,
            }],
        })
        .unwrap();
        assert_eq!(
            s.authenticate(&basic("alice", "s3cret")).unwrap(),
            Some("alice".into())
        );
        assert!(s.authenticate(&basic("alice", "wrong")).is_err());
        // Unpadded base64 (Go's RawStdEncoding) is accepted too.
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD.encode("alice:s3cret");
        assert_eq!(
            s.authenticate_value(Some(&format!("Basic {raw}"))).unwrap(),
            Some("alice".into())
        );
        assert!(s.authenticate(&basic("bob", "s3cret")).is_err());
        assert_eq!(s.authenticate(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn bearer_tokens() {
        let s = AuthSettings::from_section(&AuthSection {
            required: None,
            mode: Some("bearer".into()),
            users: vec![UserEntry {
                name: "bob".into(),
                password_hash: None,
                token_hash: Some(hash_token("tok-123")),
            }],
        })
        .unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer tok-123".parse().unwrap());
        assert_eq!(s.authenticate(&h).unwrap(), Some("bob".into()));
        h.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert!(s.authenticate(&h).is_err());
    }

    #[test]
    fn session_tokens_and_required_accounts() {
        let s = AuthSettings::from_section(&AuthSection {
            required: Some(true),
            mode: Some("basic".into()),
            users: vec![UserEntry {
                name: "alice".into(),
                password_hash: Some(hash_password("pw")),
                token_hash: None,
            }],
        })
        .unwrap();
        let t = s.issue_session_token("alice");
        let bearer = format!("Bearer {t}");
        assert_eq!(
            s.authenticate_value(Some(&bearer)).unwrap(),
            Some("alice".into())
        );
        // Tampered, foreign and anonymous.
        let forged = bearer.replace("616c696365", "626f62");
        assert!(s.authenticate_value(Some(&forged)).is_err());
        let other = AuthSettings::from_section(&AuthSection {
            required: None,
            mode: Some("basic".into()),
            users: vec![],
        })
        .unwrap();
        assert!(other.authenticate_value(Some(&bearer)).is_err());
        let e = s.authenticate_value(None).unwrap_err();
        assert!(e.0.contains("requires authentication"), "{e}");
        assert!(
            AuthSettings::from_section(&AuthSection {
                required: Some(true),
                mode: None,
                users: vec![],
            })
            .is_err()
        );
    }

    #[test]
    fn bad_config_is_refused() {
        let bad = AuthSection {
            required: None,
            mode: Some("basic".into()),
            users: vec![UserEntry {
                name: "x".into(),
                password_hash: Some("plain".into()),
                token_hash: None,
            }],
        };
        assert!(AuthSettings::from_section(&bad).is_err());
        let mode = AuthSection {
            required: None,
            mode: Some("kerberos".into()),
            users: vec![],
        };
        assert!(AuthSettings::from_section(&mode).is_err());
    }
}
