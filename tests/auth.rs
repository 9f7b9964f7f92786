//! Authentication over loopback: the same 401 for every failure, sent
//! before the body is read.

mod common;

use common::Server;

#[test]
fn api_keys_guard_every_endpoint_but_health() {
    let (key, hash) = sluice::auth::keygen();
    let s = Server::start(1, &format!("[auth]\napi_key_hashes = [\"{hash}\"]\n"));
    let mut c = s.client();
    let good = format!("Bearer {key}");
    let r = c.request(
        "POST",
        "/v0/pipelines/p/ingress/t1",
        &[("Authorization", &good)],
        b"1,a,1,true\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        c.request("GET", "/v0/config", &[("Authorization", &good)], b"")
            .status,
        200
    );
    assert_eq!(c.get("/healthz").status, 200);
    let (other, _) = sluice::auth::keygen();
    let bad = format!("Bearer {other}");
    for headers in [
        vec![],
        vec![("Authorization", bad.as_str())],
        vec![("Authorization", "Basic Zm9vOmJhcg==")],
    ] {
        let mut c = s.client();
        let r = c.request("GET", "/v0/pipelines", &headers, b"");
        assert_eq!(r.status, 401);
        assert_eq!(r.error_code(), "AuthenticationFailed");
        assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
    }
    // The 401 comes before the body: the server does not wait for it.
    let mut c = s.client();
    c.send(
        b"POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
    );
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 401);
}

#[test]
fn jwts_signed_by_a_configured_key_are_accepted() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth");
    let s = Server::start(
        1,
        &format!(
            "[auth]\njwt_public_key_files = [\"{}\"]\njwt_issuer = \"https://issuer.test\"\njwt_audience = \"sluice\"\n",
            fixtures.join("rsa1_public.pem").display()
        ),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |key: &str, exp: u64, iss: &str| {
        let claims = serde_json::json!({"sub": "svc", "exp": exp, "iss": iss, "aud": "sluice"});
        let pem = std::fs::read(fixtures.join(key)).unwrap();
        encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(&pem).unwrap(),
        )
        .unwrap()
    };
    let cases = [
        (
            sign("rsa1_private.pem", now + 600, "https://issuer.test"),
            200,
        ),
        (
            sign("rsa2_private.pem", now + 600, "https://issuer.test"),
            401,
        ),
        (
            sign("rsa1_private.pem", now - 600, "https://issuer.test"),
            401,
        ),
        (
            sign("rsa1_private.pem", now + 600, "https://other.test"),
            401,
        ),
    ];
    for (token, status) in cases {
        let mut c = s.client();
        let auth = format!("Bearer {token}");
        let r = c.request(
            "POST",
            "/v0/pipelines/p/ingress/t1",
            &[("Authorization", &auth)],
            b"1,a,1,true\n",
        );
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    }
}
