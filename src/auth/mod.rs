//! Authentication: API keys (stored as SHA-256 digests) and JWTs.
//! (in progress)
use std::path::Path;
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthConfig {}
pub struct Authenticator;
impl Authenticator {
    pub fn new(_c: &AuthConfig, _b: &Path) -> Result<Authenticator, String> { Ok(Authenticator) }
}
