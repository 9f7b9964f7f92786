//! Authenticator behaviour against the committed test-only keys in
//! `tests/fixtures/auth/` (see the README there).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sluice::auth::{api_key_hash, keygen, AuthConfig, AuthFailure, Authenticator};

const ISS: &str = "https://issuer.example";
const AUD: &str = "sluice";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn rsa1() -> EncodingKey {
    EncodingKey::from_rsa_pem(&read("rsa1_private.pem")).unwrap()
}

fn rsa2() -> EncodingKey {
    EncodingKey::from_rsa_pem(&read("rsa2_private.pem")).unwrap()
}

fn ec1() -> EncodingKey {
    EncodingKey::from_ec_pem(&read("ec1_private.pem")).unwrap()
}

fn good_claims() -> Value {
    json!({"sub": "alice", "iss": ISS, "aud": AUD, "exp": now() + 600, "iat": now()})
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    encode(&h, claims, key).unwrap()
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

/// Issuer and audience configured, relative paths resolved against the
/// fixtures directory as if the config file lived there.
fn pem_config(files: &[&str], algs: &[&str]) -> AuthConfig {
    AuthConfig {
        jwt_issuer: Some(ISS.into()),
        jwt_audience: Some(AUD.into()),
        jwt_public_key_files: files.iter().map(PathBuf::from).collect(),
        jwt_algorithms: algs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn pem_auth() -> Authenticator {
    Authenticator::new(&pem_config(&["rsa1_public.pem"], &[]), &fixtures()).unwrap()
}

fn jwks_auth(algs: &[&str]) -> Authenticator {
    let cfg = AuthConfig {
        jwt_issuer: Some(ISS.into()),
        jwt_audience: Some(AUD.into()),
        jwt_jwks_file: Some("jwks.json".into()),
        jwt_algorithms: algs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    Authenticator::new(&cfg, &fixtures()).unwrap()
}

fn api_auth(key: &str) -> Authenticator {
    let cfg = AuthConfig {
        api_key_hashes: vec![api_key_hash(key)],
        ..Default::default()
    };
    Authenticator::new(&cfg, Path::new(".")).unwrap()
}

// ---------- API keys ----------

#[test]
fn valid_api_key() {
    let (key, _) = keygen();
    let a = api_auth(&key);
    assert_eq!(a.check(Some(&bearer(&key))), Ok(()));
}

#[test]
fn keygen_hash_is_what_config_takes() {
    let (key, hash) = keygen();
    let cfg = AuthConfig {
        api_key_hashes: vec![hash.to_uppercase()],
        ..Default::default()
    };
    let a = Authenticator::new(&cfg, Path::new(".")).unwrap();
    assert_eq!(a.check(Some(&bearer(&key))), Ok(()));
}

#[test]
fn wrong_api_key() {
    let (key, _) = keygen();
    let (other, _) = keygen();
    let a = api_auth(&key);
    assert_eq!(a.check(Some(&bearer(&other))), Err(AuthFailure::UnknownKey));
}

#[test]
fn api_key_without_prefix() {
    let (key, _) = keygen();
    let a = api_auth(&key);
    let bare = key.strip_prefix("apikey:").unwrap();
    assert_eq!(a.check(Some(&bearer(bare))), Err(AuthFailure::Malformed));
}

#[test]
fn api_key_of_wrong_shape() {
    let (key, _) = keygen();
    let a = api_auth(&key);
    let short = &key[..key.len() - 1];
    assert_eq!(a.check(Some(&bearer(short))), Err(AuthFailure::Malformed));
    let punct = format!("{}!", short);
    assert_eq!(a.check(Some(&bearer(&punct))), Err(AuthFailure::Malformed));
}

#[test]
fn api_keys_refused_when_none_configured() {
    let (key, _) = keygen();
    assert_eq!(
        pem_auth().check(Some(&bearer(&key))),
        Err(AuthFailure::UnknownKey)
    );
}

#[test]
fn missing_header() {
    let (key, _) = keygen();
    assert_eq!(api_auth(&key).check(None), Err(AuthFailure::Missing));
}

#[test]
fn basic_scheme_refused() {
    let (key, _) = keygen();
    let a = api_auth(&key);
    let v = format!("Basic {key}");
    assert_eq!(a.check(Some(v.as_bytes())), Err(AuthFailure::Malformed));
}

#[test]
fn lowercase_bearer_accepted() {
    let (key, _) = keygen();
    let a = api_auth(&key);
    let v = format!("bearer {key}");
    assert_eq!(a.check(Some(v.as_bytes())), Ok(()));
    let v = format!("BEARER {key}");
    assert_eq!(a.check(Some(v.as_bytes())), Ok(()));
}

#[test]
fn two_spaces_refused() {
    let (key, _) = keygen();
    let a = api_auth(&key);
    let v = format!("Bearer  {key}");
    assert_eq!(a.check(Some(v.as_bytes())), Err(AuthFailure::Malformed));
}

#[test]
fn non_ascii_and_oversize_refused() {
    let (key, _) = keygen();
    let a = api_auth(&key);
    let mut v = bearer(&key);
    v.push(0xff);
    assert_eq!(a.check(Some(&v)), Err(AuthFailure::Malformed));
    let huge = format!("Bearer {}", "a".repeat(16 * 1024));
    assert_eq!(a.check(Some(huge.as_bytes())), Err(AuthFailure::Malformed));
}

// ---------- JWT ----------

#[test]
fn valid_rs256_via_pem() {
    let t = sign(Algorithm::RS256, None, &good_claims(), &rsa1());
    assert_eq!(pem_auth().check(Some(&bearer(&t))), Ok(()));
}

#[test]
fn pem_key_ignores_unknown_kid() {
    // PEM keys have no kid; a token's kid that names no JWKS key falls back
    // to them.
    let t = sign(Algorithm::RS256, Some("whatever"), &good_claims(), &rsa1());
    assert_eq!(pem_auth().check(Some(&bearer(&t))), Ok(()));
}

#[test]
fn pem_wrong_key_signature() {
    let t = sign(Algorithm::RS256, None, &good_claims(), &rsa2());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::InvalidToken)
    );
}

#[test]
fn two_pem_keys_rotation() {
    let cfg = pem_config(&["rsa1_public.pem", "rsa2_public.pem"], &[]);
    let a = Authenticator::new(&cfg, &fixtures()).unwrap();
    for k in [rsa1(), rsa2()] {
        let t = sign(Algorithm::RS256, None, &good_claims(), &k);
        assert_eq!(a.check(Some(&bearer(&t))), Ok(()));
    }
}

#[test]
fn valid_rs256_via_jwks_with_kid() {
    let a = jwks_auth(&[]);
    let t = sign(Algorithm::RS256, Some("rsa1"), &good_claims(), &rsa1());
    assert_eq!(a.check(Some(&bearer(&t))), Ok(()));
    let t = sign(Algorithm::RS256, Some("rsa2"), &good_claims(), &rsa2());
    assert_eq!(a.check(Some(&bearer(&t))), Ok(()));
}

#[test]
fn jwks_wrong_kid() {
    let a = jwks_auth(&[]);
    // kid naming no key.
    let t = sign(Algorithm::RS256, Some("nope"), &good_claims(), &rsa1());
    assert_eq!(a.check(Some(&bearer(&t))), Err(AuthFailure::UnknownKey));
    // kid naming another key than the signer's.
    let t = sign(Algorithm::RS256, Some("rsa2"), &good_claims(), &rsa1());
    assert_eq!(a.check(Some(&bearer(&t))), Err(AuthFailure::InvalidToken));
    // No kid: JWKS keys are only selected by kid.
    let t = sign(Algorithm::RS256, None, &good_claims(), &rsa1());
    assert_eq!(a.check(Some(&bearer(&t))), Err(AuthFailure::UnknownKey));
}

#[test]
fn expired() {
    let mut c = good_claims();
    c["exp"] = json!(now() - 120);
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::Expired)
    );
}

#[test]
fn expired_within_leeway_accepted() {
    let mut c = good_claims();
    c["exp"] = json!(now() - 5);
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(pem_auth().check(Some(&bearer(&t))), Ok(()));
}

#[test]
fn missing_exp() {
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("exp");
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::InvalidToken)
    );
}

/// CVE-2026-25537: a string-typed exp used to be treated as absent.
#[test]
fn string_exp_rejected() {
    let mut c = good_claims();
    c["exp"] = json!("9999999999");
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::InvalidToken)
    );
}

#[test]
fn string_nbf_rejected() {
    let mut c = good_claims();
    c["nbf"] = json!("0");
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::InvalidToken)
    );
}

#[test]
fn future_nbf_rejected() {
    let mut c = good_claims();
    c["nbf"] = json!(now() + 300);
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::NotYetValid)
    );
}

#[test]
fn wrong_iss() {
    let mut c = good_claims();
    c["iss"] = json!("https://evil.example");
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::WrongIssuer)
    );
}

#[test]
fn missing_iss_when_configured() {
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("iss");
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::InvalidToken)
    );
}

#[test]
fn wrong_aud() {
    let mut c = good_claims();
    c["aud"] = json!("someone-else");
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::WrongAudience)
    );
    // An audience list must contain ours.
    c["aud"] = json!(["x", AUD]);
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(pem_auth().check(Some(&bearer(&t))), Ok(()));
}

#[test]
fn missing_aud_when_configured() {
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("aud");
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::InvalidToken)
    );
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[test]
fn alg_none_rejected() {
    let header = b64(&json!({"alg": "none", "typ": "JWT"}));
    let token = format!("{header}.{}.", b64(&good_claims()));
    assert_eq!(
        pem_auth().check(Some(&bearer(&token))),
        Err(AuthFailure::Malformed)
    );
    // Also with the signature of a real token kept.
    let real = sign(Algorithm::RS256, None, &good_claims(), &rsa1());
    let sig = real.rsplit('.').next().unwrap();
    let token = format!("{header}.{}.{sig}", b64(&good_claims()));
    assert_eq!(
        pem_auth().check(Some(&bearer(&token))),
        Err(AuthFailure::Malformed)
    );
}

/// Algorithm confusion: an HS256 token whose HMAC secret is the RSA public
/// key (which an attacker knows).
#[test]
fn hs256_against_rsa_key_rejected() {
    let secret = EncodingKey::from_secret(&read("rsa1_public.pem")).unwrap();
    let t = sign(Algorithm::HS256, None, &good_claims(), &secret);
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::AlgorithmNotAllowed)
    );
    let a = jwks_auth(&[]);
    let t = sign(Algorithm::HS256, Some("rsa1"), &good_claims(), &secret);
    assert_eq!(
        a.check(Some(&bearer(&t))),
        Err(AuthFailure::AlgorithmNotAllowed)
    );
}

#[test]
fn hs256_cannot_be_configured() {
    let cfg = pem_config(&["rsa1_public.pem"], &["RS256", "HS256"]);
    let e = Authenticator::new(&cfg, &fixtures()).unwrap_err();
    assert!(e.contains("HS256"), "{e}");
}

#[test]
fn es256_pem_key_pinned() {
    let cfg = pem_config(
        &["ec1_public.pem", "rsa1_public.pem"],
        &["ES256", "RS256", "PS256"],
    );
    let a = Authenticator::new(&cfg, &fixtures()).unwrap();
    let t = sign(Algorithm::ES256, None, &good_claims(), &ec1());
    assert_eq!(a.check(Some(&bearer(&t))), Ok(()));
    // The RSA key still works, with both configured RSA algorithms.
    let t = sign(Algorithm::RS256, None, &good_claims(), &rsa1());
    assert_eq!(a.check(Some(&bearer(&t))), Ok(()));
    let t = sign(Algorithm::PS256, None, &good_claims(), &rsa1());
    assert_eq!(a.check(Some(&bearer(&t))), Ok(()));
    // ES384 is not allowed at all. (The P-256 key cannot sign ES384, so
    // relabel an ES256 token's header.)
    let t = sign(Algorithm::ES256, None, &good_claims(), &ec1());
    let (_, rest) = t.split_once('.').unwrap();
    let t = format!("{}.{rest}", b64(&json!({"alg": "ES384", "typ": "JWT"})));
    assert_eq!(
        a.check(Some(&bearer(&t))),
        Err(AuthFailure::AlgorithmNotAllowed)
    );
}

#[test]
fn es256_key_not_used_for_other_algs() {
    // Only RS256 allowed: an EC key file is a config error naming the file.
    let cfg = pem_config(&["ec1_public.pem"], &["RS256"]);
    let e = Authenticator::new(&cfg, &fixtures()).unwrap_err();
    assert!(e.contains("ec1_public.pem"), "{e}");
    // ES256 only: an RS256 token finds no key (the EC key is pinned to ES256).
    let cfg = pem_config(&["ec1_public.pem"], &["ES256"]);
    let a = Authenticator::new(&cfg, &fixtures()).unwrap();
    let t = sign(Algorithm::RS256, None, &good_claims(), &rsa1());
    assert_eq!(
        a.check(Some(&bearer(&t))),
        Err(AuthFailure::AlgorithmNotAllowed)
    );
}

#[test]
fn es256_via_jwks() {
    let a = jwks_auth(&["RS256", "ES256"]);
    let t = sign(Algorithm::ES256, Some("ec1"), &good_claims(), &ec1());
    assert_eq!(a.check(Some(&bearer(&t))), Ok(()));
    // The RS256-pinned JWKS key refuses an ES256 token naming it.
    let t = sign(Algorithm::ES256, Some("rsa1"), &good_claims(), &ec1());
    assert_eq!(
        a.check(Some(&bearer(&t))),
        Err(AuthFailure::AlgorithmNotAllowed)
    );
    // And the ES256 key refuses an RS256 token naming it.
    let t = sign(Algorithm::RS256, Some("ec1"), &good_claims(), &rsa1());
    assert_eq!(
        a.check(Some(&bearer(&t))),
        Err(AuthFailure::AlgorithmNotAllowed)
    );
}

#[test]
fn jwks_key_with_disallowed_alg_skipped() {
    // Default algorithms (RS256): the ES256 JWKS key is not loaded.
    let a = jwks_auth(&[]);
    let t = sign(Algorithm::ES256, Some("ec1"), &good_claims(), &ec1());
    assert_eq!(
        a.check(Some(&bearer(&t))),
        Err(AuthFailure::AlgorithmNotAllowed)
    );
}

#[test]
fn tampered_signature() {
    let t = sign(Algorithm::RS256, None, &good_claims(), &rsa1());
    let (msg, sig) = t.rsplit_once('.').unwrap();
    let mut sig = sig.as_bytes().to_vec();
    // Change a middle character (the last may only hold padding bits).
    let i = sig.len() / 2;
    sig[i] = if sig[i] == b'A' { b'B' } else { b'A' };
    let t = format!("{msg}.{}", String::from_utf8(sig).unwrap());
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::InvalidToken)
    );
}

#[test]
fn tampered_claims() {
    let t = sign(Algorithm::RS256, None, &good_claims(), &rsa1());
    let parts: Vec<&str> = t.split('.').collect();
    let mut c = good_claims();
    c["sub"] = json!("mallory");
    let t = format!("{}.{}.{}", parts[0], b64(&c), parts[2]);
    assert_eq!(
        pem_auth().check(Some(&bearer(&t))),
        Err(AuthFailure::InvalidToken)
    );
}

#[test]
fn garbage_tokens() {
    let a = pem_auth();
    for t in ["x", "a.b", "a.b.c", "a.b.c.d", "...."] {
        assert_eq!(
            a.check(Some(&bearer(t))),
            Err(AuthFailure::Malformed),
            "{t}"
        );
    }
}

#[test]
fn jwt_refused_when_only_api_keys() {
    let (key, _) = keygen();
    let t = sign(Algorithm::RS256, None, &good_claims(), &rsa1());
    assert_eq!(
        api_auth(&key).check(Some(&bearer(&t))),
        Err(AuthFailure::UnknownKey)
    );
}

#[test]
fn no_iss_aud_configured_accepts_any() {
    let cfg = AuthConfig {
        jwt_public_key_files: vec!["rsa1_public.pem".into()],
        ..Default::default()
    };
    let a = Authenticator::new(&cfg, &fixtures()).unwrap();
    let c = json!({"exp": now() + 60, "aud": "whoever", "iss": "whoever"});
    let t = sign(Algorithm::RS256, None, &c, &rsa1());
    assert_eq!(a.check(Some(&bearer(&t))), Ok(()));
}

// ---------- config errors ----------

#[test]
fn config_bad_hex_digest() {
    let cfg = AuthConfig {
        api_key_hashes: vec!["zz".repeat(32)],
        ..Default::default()
    };
    let e = Authenticator::new(&cfg, Path::new(".")).unwrap_err();
    assert!(e.contains("api_key_hashes[0]"), "{e}");
    let cfg = AuthConfig {
        api_key_hashes: vec!["abcd".into()],
        ..Default::default()
    };
    assert!(Authenticator::new(&cfg, Path::new(".")).is_err());
}

#[test]
fn config_missing_file() {
    let cfg = pem_config(&["does_not_exist.pem"], &[]);
    let e = Authenticator::new(&cfg, &fixtures()).unwrap_err();
    assert!(e.contains("does_not_exist.pem"), "{e}");
    let cfg = AuthConfig {
        jwt_jwks_file: Some("nope.json".into()),
        ..Default::default()
    };
    let e = Authenticator::new(&cfg, &fixtures()).unwrap_err();
    assert!(e.contains("nope.json"), "{e}");
}

#[test]
fn config_invalid_key_files() {
    // A private key is refused (it does not belong on the server).
    let cfg = pem_config(&["rsa1_private.pem"], &[]);
    let e = Authenticator::new(&cfg, &fixtures()).unwrap_err();
    assert!(e.contains("private"), "{e}");
    // Not PEM at all.
    let cfg = pem_config(&["README.md"], &[]);
    assert!(Authenticator::new(&cfg, &fixtures()).is_err());
    // Not a JWKS.
    let cfg = AuthConfig {
        jwt_jwks_file: Some("rsa1_public.pem".into()),
        ..Default::default()
    };
    assert!(Authenticator::new(&cfg, &fixtures()).is_err());
}

#[test]
fn config_leeway_61() {
    let mut cfg = pem_config(&["rsa1_public.pem"], &[]);
    cfg.jwt_leeway_s = Some(61);
    let e = Authenticator::new(&cfg, &fixtures()).unwrap_err();
    assert!(e.contains("jwt_leeway_s"), "{e}");
    cfg.jwt_leeway_s = Some(60);
    assert!(Authenticator::new(&cfg, &fixtures()).is_ok());
}

#[test]
fn config_unknown_algorithm() {
    let cfg = pem_config(&["rsa1_public.pem"], &["RS257"]);
    let e = Authenticator::new(&cfg, &fixtures()).unwrap_err();
    assert!(e.contains("RS257"), "{e}");
}

#[test]
fn config_empty_refused() {
    assert!(Authenticator::new(&AuthConfig::default(), Path::new(".")).is_err());
    let cfg = AuthConfig {
        jwt_issuer: Some(ISS.into()),
        ..Default::default()
    };
    assert!(Authenticator::new(&cfg, Path::new(".")).is_err());
}

#[test]
fn config_deny_unknown_fields() {
    let r: Result<AuthConfig, _> = serde_json::from_value(json!({"api_key_hash": []}));
    assert!(r.is_err());
    let r: AuthConfig = serde_json::from_value(json!({"jwt_leeway_s": 10})).unwrap();
    assert_eq!(r.jwt_leeway_s, Some(10));
}
