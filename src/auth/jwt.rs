//! JWT verification with keys loaded once from PEM files and a JWKS file.
//!
//! Security choices, and why:
//! - Each key is pinned to the algorithms it can legitimately verify (an RSA
//!   key only to the configured RSA algorithms, an EC key only to the one
//!   algorithm matching its curve, a JWKS key to its `alg`), so a token cannot
//!   pick the algorithm its key is used with (algorithm confusion).
//! - Symmetric (HS*) algorithms are not accepted at all: the keys here are
//!   public, and an HMAC "secret" that is a public key is no secret.
//! - `exp` is always required; `iss`/`aud` are required when configured.
//!   jsonwebtoken >= 10.3 rejects string-typed `exp`/`nbf` (CVE-2026-25537).
//! - `kid` selects a JWKS key. A token without a `kid`, or whose `kid` names
//!   no JWKS key, is tried against the key-id-less keys (PEM files, JWKS keys
//!   without `kid`) whose pinned algorithms include the token's `alg`. There
//!   are only as many of those as the operator configured, which bounds the
//!   signature checks per request.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};

use super::{AuthConfig, AuthFailure};

/// Key files are small; refuse to read anything much bigger (a wrong path
/// pointing at a log file, say).
const MAX_KEY_FILE: u64 = 1 << 20;
const DEFAULT_LEEWAY_S: u64 = 30;
const MAX_LEEWAY_S: u64 = 60;

/// One verification key, with the `Validation` (pinned algorithms, claim
/// rules) used for it.
struct KeyEntry {
    /// Where the key came from, for error messages and `Debug`.
    name: String,
    key: DecodingKey,
    validation: Validation,
}

pub(super) struct JwtVerifier {
    /// JWKS keys with a `kid`.
    by_kid: HashMap<String, KeyEntry>,
    /// PEM keys and JWKS keys without a `kid`.
    anonymous: Vec<KeyEntry>,
    /// Configured algorithms; a token with any other `alg` is refused before
    /// any key is looked at.
    allowed: Vec<Algorithm>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&str> = self.by_kid.keys().map(String::as_str).collect();
        kids.sort_unstable();
        let anon: Vec<&str> = self.anonymous.iter().map(|k| k.name.as_str()).collect();
        f.debug_struct("JwtVerifier")
            .field("kids", &kids)
            .field("anonymous", &anon)
            .field("allowed", &self.allowed)
            .finish()
    }
}

impl JwtVerifier {
    /// `Ok(None)` when no JWT key source is configured.
    pub(super) fn new(cfg: &AuthConfig, base_dir: &Path) -> Result<Option<JwtVerifier>, String> {
        let has_keys = !cfg.jwt_public_key_files.is_empty() || cfg.jwt_jwks_file.is_some();
        if !has_keys {
            // JWT options without keys mean the operator expects JWTs to work.
            if cfg.jwt_issuer.is_some()
                || cfg.jwt_audience.is_some()
                || !cfg.jwt_algorithms.is_empty()
                || cfg.jwt_leeway_s.is_some()
            {
                return Err(
                    "auth: jwt_* options set but neither jwt_public_key_files nor \
                            jwt_jwks_file configured"
                        .to_string(),
                );
            }
            return Ok(None);
        }

        let allowed = parse_algorithms(&cfg.jwt_algorithms)?;
        let leeway = cfg.jwt_leeway_s.unwrap_or(DEFAULT_LEEWAY_S);
        if leeway > MAX_LEEWAY_S {
            return Err(format!(
                "auth.jwt_leeway_s: {leeway} exceeds the maximum of {MAX_LEEWAY_S} seconds"
            ));
        }
        let base = base_validation(cfg, leeway)?;

        let mut by_kid = HashMap::new();
        let mut anonymous = Vec::new();
        for file in &cfg.jwt_public_key_files {
            let path = base_dir.join(file);
            let name = path.display().to_string();
            let text = read_small(&path).map_err(|e| format!("auth.jwt_public_key_files: {e}"))?;
            let (key, algs) = load_pem(&text, &allowed)
                .map_err(|e| format!("auth.jwt_public_key_files: {name}: {e}"))?;
            anonymous.push(KeyEntry {
                name,
                key,
                validation: pinned(&base, algs),
            });
        }
        if let Some(file) = &cfg.jwt_jwks_file {
            let path = base_dir.join(file);
            let name = path.display().to_string();
            let text = read_small(&path).map_err(|e| format!("auth.jwt_jwks_file: {e}"))?;
            let loaded = load_jwks(&text, &allowed)
                .map_err(|e| format!("auth.jwt_jwks_file: {name}: {e}"))?;
            if loaded.is_empty() {
                return Err(format!(
                    "auth.jwt_jwks_file: {name}: no signing key usable with jwt_algorithms {allowed:?}"
                ));
            }
            for (kid, key, algs) in loaded {
                let validation = pinned(&base, algs);
                match kid {
                    Some(kid) => {
                        let entry = KeyEntry {
                            name: format!("{name}#{kid}"),
                            key,
                            validation,
                        };
                        if by_kid.insert(kid.clone(), entry).is_some() {
                            // Two keys behind one kid: which one verifies
                            // would be arbitrary.
                            return Err(format!(
                                "auth.jwt_jwks_file: {name}: duplicate kid {kid:?}"
                            ));
                        }
                    }
                    None => anonymous.push(KeyEntry {
                        name: name.clone(),
                        key,
                        validation,
                    }),
                }
            }
        }
        Ok(Some(JwtVerifier {
            by_kid,
            anonymous,
            allowed,
        }))
    }

    pub(super) fn verify(&self, token: &str) -> Result<(), AuthFailure> {
        // Cheap shape check before base64/JSON work: a JWS compact
        // serialisation has exactly three parts.
        if token.bytes().filter(|&b| b == b'.').count() != 2 {
            return Err(AuthFailure::Malformed);
        }
        // Fails on `"alg":"none"` and unknown algorithms, which the crate
        // cannot even represent.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Malformed)?;
        if !self.allowed.contains(&header.alg) {
            return Err(AuthFailure::AlgorithmNotAllowed);
        }
        if let Some(entry) = header.kid.as_deref().and_then(|kid| self.by_kid.get(kid)) {
            return verify_with(token, entry);
        }
        let mut result = Err(AuthFailure::UnknownKey);
        for entry in &self.anonymous {
            if !entry.validation.algorithms.contains(&header.alg) {
                continue;
            }
            result = verify_with(token, entry);
            // Only a signature mismatch means "maybe another key"; any other
            // outcome (success, or a claim failure after a good signature)
            // is final.
            if result != Err(AuthFailure::InvalidToken) {
                return result;
            }
        }
        result
    }
}

fn verify_with(token: &str, entry: &KeyEntry) -> Result<(), AuthFailure> {
    // Claims are not needed past validation: `IgnoredAny` skips building them.
    jsonwebtoken::decode::<serde::de::IgnoredAny>(token, &entry.key, &entry.validation)
        .map(|_| ())
        .map_err(|e| map_error(e.kind()))
}

fn map_error(kind: &ErrorKind) -> AuthFailure {
    match kind {
        ErrorKind::ExpiredSignature => AuthFailure::Expired,
        ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
        ErrorKind::InvalidIssuer => AuthFailure::WrongIssuer,
        ErrorKind::InvalidAudience => AuthFailure::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            AuthFailure::AlgorithmNotAllowed
        }
        ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => AuthFailure::Malformed,
        // InvalidSignature, MissingRequiredClaim, InvalidClaimFormat (e.g. a
        // string `exp`), key/provider errors, and anything added later.
        _ => AuthFailure::InvalidToken,
    }
}

/// Parses `jwt_algorithms` (default `["RS256"]`), refusing symmetric and
/// unknown algorithms.
fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, String> {
    if names.is_empty() {
        return Ok(vec![Algorithm::RS256]);
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let alg: Algorithm = name
            .parse()
            .map_err(|_| format!("auth.jwt_algorithms: unknown algorithm {name:?}"))?;
        match alg.family() {
            AlgorithmFamily::Rsa | AlgorithmFamily::Ec => {}
            AlgorithmFamily::Hmac => {
                return Err(format!(
                    "auth.jwt_algorithms: {name:?} is symmetric; only public-key algorithms \
                     (RS*, PS*, ES256, ES384) are supported"
                ))
            }
            AlgorithmFamily::Ed => {
                return Err(format!("auth.jwt_algorithms: {name:?} is not supported"))
            }
        }
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    Ok(out)
}

/// The claim rules shared by every key; `algorithms` is filled in per key.
fn base_validation(cfg: &AuthConfig, leeway: u64) -> Result<Validation, String> {
    let mut v = Validation::new(Algorithm::RS256);
    v.algorithms.clear();
    v.leeway = leeway;
    v.validate_exp = true;
    // Only checked when present; tokens without nbf are fine.
    v.validate_nbf = true;
    // The crate only compares iss/aud when present in the token: listing
    // them as required is what makes a token without them fail.
    let mut required = vec!["exp"];
    match cfg.jwt_issuer.as_deref() {
        Some("") => return Err("auth.jwt_issuer: empty".to_string()),
        Some(iss) => {
            v.set_issuer(&[iss]);
            required.push("iss");
        }
        None => {}
    }
    match cfg.jwt_audience.as_deref() {
        Some("") => return Err("auth.jwt_audience: empty".to_string()),
        Some(aud) => {
            v.set_audience(&[aud]);
            required.push("aud");
        }
        // No audience configured: accept any (the crate would otherwise
        // refuse every token that carries an `aud`).
        None => v.validate_aud = false,
    }
    v.set_required_spec_claims(&required);
    Ok(v)
}

fn pinned(base: &Validation, algs: Vec<Algorithm>) -> Validation {
    let mut v = base.clone();
    v.algorithms = algs;
    v
}

fn read_small(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(format!("{shown}: larger than {MAX_KEY_FILE} bytes"));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))
}

/// The algorithm an EC curve implies (ECDSA ties the hash to the curve).
fn ec_algorithm(curve: &EllipticCurve) -> Option<Algorithm> {
    match curve {
        EllipticCurve::P256 => Some(Algorithm::ES256),
        EllipticCurve::P384 => Some(Algorithm::ES384),
        _ => None,
    }
}

/// DER OIDs of the named curves, as they appear in an EC SubjectPublicKeyInfo.
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// Loads a PEM public key and the algorithms it is pinned to.
fn load_pem(text: &str, allowed: &[Algorithm]) -> Result<(DecodingKey, Vec<Algorithm>), String> {
    let (label, der) = pem_first_block(text)?;
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
        l if l.contains("PRIVATE") => {
            // The crate would accept some private keys here; refuse so that
            // private keys are not spread onto ingest servers by mistake.
            return Err(format!("is a private key ({l}); configure the public key"));
        }
        l => return Err(format!("unsupported PEM block {l:?}; expected PUBLIC KEY")),
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(text.as_bytes()) {
        let algs: Vec<Algorithm> = allowed
            .iter()
            .copied()
            .filter(|a| a.family() == AlgorithmFamily::Rsa)
            .collect();
        if algs.is_empty() {
            return Err(format!(
                "RSA key but no RSA algorithm in jwt_algorithms {allowed:?}"
            ));
        }
        return Ok((key, algs));
    }
    if label == "PUBLIC KEY" {
        if let Ok(key) = DecodingKey::from_ec_pem(text.as_bytes()) {
            let curve = if contains(&der, OID_P256) {
                EllipticCurve::P256
            } else if contains(&der, OID_P384) {
                EllipticCurve::P384
            } else {
                return Err("EC key on an unsupported curve (need P-256 or P-384)".to_string());
            };
            let alg = ec_algorithm(&curve).expect("P-256/P-384 map to an algorithm");
            if !allowed.contains(&alg) {
                return Err(format!(
                    "{alg:?} key but {alg:?} not in jwt_algorithms {allowed:?}"
                ));
            }
            return Ok((key, vec![alg]));
        }
    }
    Err("not an RSA or EC public key".to_string())
}

/// Label and DER body of the first PEM block.
fn pem_first_block(text: &str) -> Result<(&str, Vec<u8>), String> {
    let start = text.find("-----BEGIN ").ok_or("no PEM block")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or("bad PEM header")?;
    let label = &rest[..label_end];
    let body_and_more = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body_and_more
        .find(&end_marker)
        .ok_or("PEM block has no END line")?;
    let b64: String = body_and_more[..body_end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("bad PEM base64: {e}"))?;
    Ok((label, der))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

type LoadedJwk = (Option<String>, DecodingKey, Vec<Algorithm>);

/// Loads the signing keys of a JWKS usable with `allowed`.
///
/// Keys marked for encryption (`use: enc`) and keys whose `alg` is not in
/// `allowed` are skipped rather than refused: identity providers publish
/// such keys alongside the ones we need, and they can never verify a token
/// here anyway. A key we would use but cannot load is an error.
fn load_jwks(text: &str, allowed: &[Algorithm]) -> Result<Vec<LoadedJwk>, String> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet = serde_json::from_str(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut out = Vec::new();
    for (i, raw) in set.keys.into_iter().enumerate() {
        let label = match raw.get("kid").and_then(|k| k.as_str()) {
            Some(kid) => format!("key {i} (kid {kid:?})"),
            None => format!("key {i}"),
        };
        // Parsed one by one so an exotic key elsewhere in the set cannot make
        // the whole file unreadable, and errors can name the key.
        let jwk: Jwk = match serde_json::from_value(raw) {
            Ok(jwk) => jwk,
            Err(e) => return Err(format!("{label}: {e}")),
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let declared = match jwk.common.key_algorithm {
            None => None,
            Some(ka) => match ka.to_string().parse::<Algorithm>() {
                Ok(a) if allowed.contains(&a) => Some(a),
                // Not a signature algorithm we accept (RSA-OAEP, HS256, ...).
                _ => continue,
            },
        };
        let algs = match (&jwk.algorithm, declared) {
            (AlgorithmParameters::RSA(_), Some(a)) if a.family() == AlgorithmFamily::Rsa => {
                vec![a]
            }
            // No `alg`: like a PEM key, any configured RSA algorithm.
            (AlgorithmParameters::RSA(_), None) => {
                let algs: Vec<Algorithm> = allowed
                    .iter()
                    .copied()
                    .filter(|a| a.family() == AlgorithmFamily::Rsa)
                    .collect();
                if algs.is_empty() {
                    continue;
                }
                algs
            }
            (AlgorithmParameters::EllipticCurve(p), declared) => {
                let Some(curve_alg) = ec_algorithm(&p.curve) else {
                    return Err(format!("{label}: unsupported curve {:?}", p.curve));
                };
                match declared {
                    Some(a) if a != curve_alg => {
                        return Err(format!(
                            "{label}: alg {a:?} does not match curve {:?}",
                            p.curve
                        ))
                    }
                    None if !allowed.contains(&curve_alg) => continue,
                    _ => vec![curve_alg],
                }
            }
            (_, Some(a)) => {
                return Err(format!("{label}: alg {a:?} does not match the key type"));
            }
            // An OKP/oct/other key with no alg: nothing we verify with.
            (_, None) => continue,
        };
        if let AlgorithmParameters::RSA(p) = &jwk.algorithm {
            // Refuse short moduli; 2048 bits is the usual floor.
            let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.n.trim_end_matches('='))
                .map_err(|e| format!("{label}: bad modulus: {e}"))?;
            let bits = n.iter().skip_while(|&&b| b == 0).count() * 8;
            if bits < 2048 {
                return Err(format!("{label}: RSA modulus shorter than 2048 bits"));
            }
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("{label}: {e}"))?;
        out.push((jwk.common.key_id.clone(), key, algs));
    }
    Ok(out)
}
