//! Authentication: API keys (stored as SHA-256 digests) and JWTs.
//!
//! Feldera clients send `Authorization: Bearer apikey:<128 alphanumerics>` or
//! `Authorization: Bearer <JWT>`. The server never holds plain API keys: it
//! keeps the SHA-256 digest of each whole key string and looks the digest of
//! the presented key up in a `HashSet`, so there is no byte-by-byte comparison
//! of secrets whose timing could leak a prefix. JWTs are verified with keys
//! loaded once at start-up (PEM files and/or a JWKS file); each key is pinned
//! to its algorithm(s) so a token cannot choose how it is verified.
//!
//! Every [`AuthFailure`] answers the same 401 to the client; the variant is
//! only for logs and metrics.

mod jwt;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The `[auth]` section of the configuration.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Hex SHA-256 digests of whole API keys ("apikey:..." strings). The plain key is never stored.
    #[serde(default)]
    pub api_key_hashes: Vec<String>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// PEM public key files (RSA or EC); relative paths are resolved against the config file's directory.
    #[serde(default)]
    pub jwt_public_key_files: Vec<PathBuf>,
    /// A JWKS file (JSON {"keys":[...]}).
    pub jwt_jwks_file: Option<PathBuf>,
    /// Accepted algorithms, default ["RS256"]; each key is pinned to its algorithm.
    #[serde(default)]
    pub jwt_algorithms: Vec<String>,
    /// Clock leeway in seconds, default 30, max 60.
    pub jwt_leeway_s: Option<u64>,
}

/// Why a request was refused. Every variant answers the same 401 to the
/// client (the reason is only for logs), so a prober learns nothing about
/// which part of its credential was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// Header present but not `Bearer <credential>`, not ASCII, oversize,
    /// an API key of the wrong shape, or a JWT that does not parse.
    Malformed,
    /// API key whose digest is not configured (or API keys disabled), or a
    /// JWT for which no configured key matches (`kid`/algorithm), or JWTs
    /// disabled.
    UnknownKey,
    /// JWT whose signature does not verify, or that lacks a required claim
    /// (`exp`, and `iss`/`aud` when configured) or has one of the wrong type.
    InvalidToken,
    /// JWT `alg` not in the configured list or not the one its key is pinned to.
    AlgorithmNotAllowed,
    /// JWT `exp` is in the past (beyond the leeway).
    Expired,
    /// JWT `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// JWT `iss` differs from the configured issuer.
    WrongIssuer,
    /// JWT `aud` does not contain the configured audience.
    WrongAudience,
}

impl AuthFailure {
    /// A short stable name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::UnknownKey => "unknown_key",
            AuthFailure::InvalidToken => "invalid_token",
            AuthFailure::AlgorithmNotAllowed => "algorithm_not_allowed",
            AuthFailure::Expired => "expired",
            AuthFailure::NotYetValid => "not_yet_valid",
            AuthFailure::WrongIssuer => "wrong_issuer",
            AuthFailure::WrongAudience => "wrong_audience",
        }
    }
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest `Authorization` value we look at. Real JWTs are a few KiB; a
/// bigger header is refused before any base64/JSON/crypto work is spent on it.
pub const MAX_AUTHORIZATION_LEN: usize = 16 * 1024;

/// Prefix of Feldera API keys.
pub const API_KEY_PREFIX: &str = "apikey:";
/// Number of alphanumerics after the prefix in a Feldera API key.
pub const API_KEY_BODY_LEN: usize = 128;

/// Checks `Authorization` headers against the configured API key digests and
/// JWT keys. Built once at start-up; `check` does no I/O and no allocation on
/// the API key path.
pub struct Authenticator {
    /// SHA-256 digests of accepted API keys. Empty: API keys are refused.
    api_keys: HashSet<[u8; 32]>,
    /// `None`: JWTs are refused.
    jwt: Option<jwt::JwtVerifier>,
}

impl std::fmt::Debug for Authenticator {
    // Manual so that key material never ends up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("api_keys", &self.api_keys.len())
            .field("jwt", &self.jwt)
            .finish()
    }
}

impl Authenticator {
    /// Validates the config (bad hex digest, unreadable/invalid key file,
    /// unknown algorithm, leeway > 60 -> Err naming the culprit) and loads
    /// keys once.
    pub fn new(cfg: &AuthConfig, base_dir: &Path) -> Result<Authenticator, String> {
        let mut api_keys = HashSet::with_capacity(cfg.api_key_hashes.len());
        for (i, h) in cfg.api_key_hashes.iter().enumerate() {
            api_keys.insert(parse_digest(h).map_err(|e| format!("auth.api_key_hashes[{i}]: {e}"))?);
        }
        let jwt = jwt::JwtVerifier::new(cfg, base_dir)?;
        if api_keys.is_empty() && jwt.is_none() {
            // An authenticator that refuses everything is almost certainly a
            // config mistake (e.g. a misspelt key list); say so at start-up.
            return Err(
                "auth: neither api_key_hashes nor jwt_public_key_files/jwt_jwks_file configured"
                    .to_string(),
            );
        }
        Ok(Authenticator { api_keys, jwt })
    }

    /// `authorization` is the raw Authorization header value if present. Ok(()) if allowed.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), AuthFailure> {
        let raw = authorization.ok_or(AuthFailure::Missing)?;
        let credential = bearer_credential(raw)?;
        if let Some(body) = credential.strip_prefix(API_KEY_PREFIX) {
            // Shape check first: it is free and keeps junk away from the
            // hash. It reveals nothing about configured keys.
            if body.len() != API_KEY_BODY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(AuthFailure::Malformed);
            }
            if self.api_keys.is_empty() {
                return Err(AuthFailure::UnknownKey);
            }
            // Hash the presented key and look the digest up: the attacker
            // controls the key but not its digest, so the HashSet's
            // comparisons leak nothing useful.
            let digest: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
            return if self.api_keys.contains(&digest) {
                Ok(())
            } else {
                Err(AuthFailure::UnknownKey)
            };
        }
        match &self.jwt {
            Some(v) => v.verify(credential),
            None => {
                // Still tell junk from a JWT in the logs.
                if credential.bytes().filter(|&b| b == b'.').count() != 2 {
                    Err(AuthFailure::Malformed)
                } else {
                    Err(AuthFailure::UnknownKey)
                }
            }
        }
    }

    /// Whether any API key digest is configured.
    pub fn accepts_api_keys(&self) -> bool {
        !self.api_keys.is_empty()
    }

    /// Whether JWT keys are configured.
    pub fn accepts_jwts(&self) -> bool {
        self.jwt.is_some()
    }
}

/// Extracts the credential from `Bearer <credential>`.
///
/// The scheme is case-insensitive (RFC 9110 11.1) and must be followed by
/// exactly one space; surrounding optional whitespace (which is not part of
/// a field value) is tolerated in case the HTTP layer did not trim it.
fn bearer_credential(raw: &[u8]) -> Result<&str, AuthFailure> {
    if raw.len() > MAX_AUTHORIZATION_LEN {
        return Err(AuthFailure::Malformed);
    }
    // Visible ASCII, SP and HTAB only: rejects obs-text and control bytes
    // (including NUL/CR/LF) before anything parses them.
    if !raw.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return Err(AuthFailure::Malformed);
    }
    let s = std::str::from_utf8(raw).map_err(|_| AuthFailure::Malformed)?;
    let s = s.trim_matches([' ', '\t']);
    let (scheme, credential) = s.split_once(' ').ok_or(AuthFailure::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer")
        || credential.is_empty()
        || credential.contains([' ', '\t'])
    {
        return Err(AuthFailure::Malformed);
    }
    Ok(credential)
}

/// Parses a 64-hex-digit SHA-256 digest (either case).
fn parse_digest(h: &str) -> Result<[u8; 32], String> {
    let h = h.trim();
    if h.len() != 64 {
        return Err(format!(
            "expected 64 hex digits (SHA-256 of the whole key), got {} characters",
            h.len()
        ));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).map_err(|e| format!("not hex: {e}"))?;
    Ok(out)
}

/// Hex SHA-256 of a whole API key string (including the `apikey:` prefix):
/// the value to put in `api_key_hashes`.
pub fn api_key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new API key ("apikey:" + 128 alphanumerics from getrandom) and the hex
/// SHA-256 of the whole string.
///
/// Panics if the OS random source fails: there is no safe fallback for key
/// material.
pub fn keygen() -> (String, String) {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut key = String::with_capacity(API_KEY_PREFIX.len() + API_KEY_BODY_LEN);
    key.push_str(API_KEY_PREFIX);
    let mut buf = [0u8; 64];
    let mut have = 0;
    while have < API_KEY_BODY_LEN {
        getrandom::fill(&mut buf).expect("getrandom failed: cannot generate an API key");
        for &b in &buf {
            // Rejection sampling: 248 = 4 * 62, so accepting only bytes below
            // it makes `b % 62` uniform (no modulo bias).
            if b < 248 && have < API_KEY_BODY_LEN {
                key.push(ALPHABET[(b % 62) as usize] as char);
                have += 1;
            }
        }
    }
    let hash = api_key_hash(&key);
    (key, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_credential(b"Bearer abc"), Ok("abc"));
        assert_eq!(bearer_credential(b"bEaReR abc"), Ok("abc"));
        assert_eq!(bearer_credential(b"  Bearer abc \t"), Ok("abc"));
        assert_eq!(
            bearer_credential(b"Bearer  abc"),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(bearer_credential(b"Bearer"), Err(AuthFailure::Malformed));
        assert_eq!(bearer_credential(b"Bearer "), Err(AuthFailure::Malformed));
        assert_eq!(
            bearer_credential(b"Bearer a b"),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(bearer_credential(b"Basic abc"), Err(AuthFailure::Malformed));
        assert_eq!(
            bearer_credential(b"Bearer ab\x00c"),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            bearer_credential(b"Bearer ab\xc3\xa9"),
            Err(AuthFailure::Malformed)
        );
    }

    #[test]
    fn keygen_shape_and_uniqueness() {
        let (k1, h1) = keygen();
        let (k2, _) = keygen();
        assert_ne!(k1, k2);
        let body = k1.strip_prefix(API_KEY_PREFIX).unwrap();
        assert_eq!(body.len(), API_KEY_BODY_LEN);
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(h1, api_key_hash(&k1));
        assert_eq!(h1.len(), 64);
    }

    #[test]
    fn digest_parsing() {
        let h = api_key_hash("apikey:x");
        assert!(parse_digest(&h).is_ok());
        assert!(parse_digest(&h.to_uppercase()).is_ok());
        assert!(parse_digest(&h[..63]).is_err());
        assert!(parse_digest(&format!("{}g", &h[..63])).is_err());
    }
}
