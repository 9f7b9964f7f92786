//! A connection's byte stream: plain TCP, or TLS (rustls, ring provider)
//! over it.
//!
//! rustls is driven by hand on the glommio socket, as the server does in
//! `src/server/transport.rs`: ciphertext is read into our own buffer and fed
//! with `read_tls`/`process_new_packets`, plaintext comes out of `reader()`;
//! requests go in through `writer()` and out with `write_tls` (its read and
//! write loops are a copy of the server's: the load generator does not link
//! the server, whose side must be measured, not shared). The plain
//! path is a match arm that calls the socket directly, so it costs nothing
//! extra. The handshake happens at connect (`Stream::connect`), so a
//! reconnect after `Connection: close` handshakes again; the client config's
//! session cache lets it resume instead when the server allows.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind, RootCertStore};

/// TLS records are at most 16 KiB plus overhead.
const TLS_READ_BYTES: usize = 18 * 1024;

/// Where and how to speak TLS: the client settings and the name the
/// server's certificate must carry (also sent as SNI when it is a DNS name).
#[derive(Clone)]
pub struct TlsTarget {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

/// How to trust the server.
pub enum Trust<'a> {
    /// Certificates in this PEM file are the trust anchors (a CA, or the
    /// server's own certificate if it is a CA certificate).
    CaFile(&'a Path),
    /// Accept any certificate (signatures over the handshake are still
    /// checked, so the crypto cost is the real one). Benchmarking only.
    Insecure,
}

/// The client settings: TLS 1.2 and 1.3, HTTP/1.1 offered by ALPN, the
/// default in-memory session cache (so reconnects resume).
pub fn client_config(trust: Trust<'_>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let mut cfg = match trust {
        Trust::CaFile(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect())
                .map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "--ca-file {}: no usable certificate",
                    path.display()
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The name to verify: `--server-name`, else the host part of the target
/// (`127.0.0.1:8080` -> the IP address `127.0.0.1`, `[::1]:80` -> `::1`,
/// `localhost:8080` -> the DNS name `localhost`).
pub fn server_name(explicit: Option<&str>, target: &str) -> Result<ServerName<'static>, String> {
    let host = match explicit {
        Some(n) => n,
        None => {
            let h = target.rsplit_once(':').map_or(target, |(h, _)| h);
            h.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(h)
        }
    };
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host:?} is not a valid TLS server name: {e}"))
}

/// `--insecure`: any certificate is accepted, but the server must still
/// prove it holds the certificate's key (the signature checks are real).
struct AcceptAnyCert(Arc<CryptoProvider>);

impl fmt::Debug for AcceptAnyCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AcceptAnyCert")
    }
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<Tls>),
}

pub struct Tls {
    tcp: TcpStream,
    conn: ClientConnection,
    /// Ciphertext read from the socket: `rbuf[rstart..rend]` is not yet
    /// given to rustls (it takes it only as its plaintext is drained).
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
}

impl Stream {
    /// Wraps a connected socket; with `tls`, completes the handshake first
    /// (under the socket's read and write timeouts).
    pub async fn connect(tcp: TcpStream, tls: Option<&TlsTarget>) -> io::Result<Stream> {
        let Some(t) = tls else {
            return Ok(Stream::Plain(tcp));
        };
        let conn =
            ClientConnection::new(t.config.clone(), t.name.clone()).map_err(io::Error::other)?;
        let mut s = Tls {
            tcp,
            conn,
            rbuf: vec![0; TLS_READ_BYTES],
            rstart: 0,
            rend: 0,
            wbuf: Vec::new(),
        };
        s.handshake().await?;
        Ok(Stream::Tls(Box::new(s)))
    }

    /// Whether the TLS handshake resumed an earlier session (`None` on
    /// plain TCP).
    pub fn resumed(&self) -> Option<bool> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(t) => Some(t.conn.handshake_kind() == Some(HandshakeKind::Resumed)),
        }
    }

    /// Reads plaintext; 0 at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.read(buf).await,
            Stream::Tls(t) => t.read(buf).await,
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(t) => t.write_all(data).await,
            Stream::Tls(t) => t.write_all(data).await,
        }
    }
}

impl Tls {
    async fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.flush().await?;
            if self.conn.is_handshaking() && self.conn.wants_read() {
                if self.fill().await? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "tls handshake: the server closed the connection",
                    ));
                }
                self.feed().await?;
            }
        }
        // The client's Finished (TLS 1.3) may still be queued.
        self.flush().await
    }

    /// Reads ciphertext from the socket when none is pending; 0 at EOF.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.rstart < self.rend {
            return Ok(self.rend - self.rstart);
        }
        let n = self.tcp.read(&mut self.rbuf).await?;
        (self.rstart, self.rend) = (0, n);
        Ok(n)
    }

    /// Gives pending ciphertext to rustls and processes it; on a TLS error
    /// sends rustls's alert and fails.
    async fn feed(&mut self) -> io::Result<()> {
        let fed = self.conn.read_tls(&mut &self.rbuf[self.rstart..self.rend]);
        let state = fed.map(|n| self.rstart += n).and_then(|_| {
            self.conn
                .process_new_packets()
                .map(|_| ())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("tls: {e}")))
        });
        // Send what processing produced (a handshake reply or an alert).
        let sent = self.flush().await;
        state?;
        sent
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Plaintext first: rustls refuses more ciphertext while its
            // plaintext buffer is full.
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed without close_notify: the end, as TCP.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.fill().await? == 0 {
                return Ok(0);
            }
            self.feed().await?;
        }
    }

    /// rustls buffers a bounded amount of ciphertext to send: give it what
    /// it takes, write that out, repeat. A request that fits goes out in
    /// one socket write.
    async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.conn.writer().write(data)?;
            self.flush().await?;
            if n == 0 && !self.conn.wants_write() {
                return Err(io::ErrorKind::WriteZero.into());
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// Writes every pending TLS record to the socket.
    async fn flush(&mut self) -> io::Result<()> {
        if !self.conn.wants_write() {
            return Ok(());
        }
        self.wbuf.clear();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.wbuf)?;
        }
        self.tcp.write_all(&self.wbuf).await
    }
}
