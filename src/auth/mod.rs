//! Authentication: API keys (stored as SHA-256 digests) and JWTs.
//! (in progress)
