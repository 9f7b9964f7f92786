//! A connection's byte stream: plain TCP, or TLS (rustls) over it.
//!
//! rustls is driven by hand (`read_tls`/`write_tls` on our own buffers)
//! rather than through an async adapter, because the connection loop
//! already owns its buffers, timeouts and the moment it flushes: TLS only
//! adds a decrypt after each socket read and an encrypt before each write.
//! The handshake happens in the first reads, under the header timeout.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

use crate::config::TlsConfig;

/// TLS records are at most 16 KiB plus overhead.
const TLS_READ_BYTES: usize = 18 * 1024;

/// The server's TLS settings from `[tls]` (TLS 1.2 and 1.3, HTTP/1.1).
pub fn server_config(tls: &TlsConfig, base: &Path) -> Result<Arc<ServerConfig>, String> {
    let cert_path = base.join(&tls.cert_file);
    let key_path = base.join(&tls.key_file);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect())
        .map_err(|e| format!("[tls] cert_file {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "[tls] cert_file {}: no certificate",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("[tls] key_file {}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("[tls]: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("[tls]: the certificate and key do not work together: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<Tls>),
}

pub struct Tls {
    pub tcp: TcpStream,
    pub conn: ServerConnection,
    /// Ciphertext read from the socket: `rbuf[rstart..rend]` is not yet
    /// given to rustls (it takes it only as its plaintext is drained).
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    /// The session failed (rustls sent its fatal alert): every later call
    /// fails with this, and nothing more goes to rustls.
    dead: Option<String>,
}

impl Transport {
    /// A new connection, TLS when `tls` is set.
    pub fn new(tcp: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<Transport> {
        match tls {
            None => Ok(Transport::Plain(tcp)),
            Some(cfg) => {
                let conn = ServerConnection::new(cfg.clone()).map_err(io::Error::other)?;
                Ok(Transport::with_session(tcp, conn))
            }
        }
    }

    /// A TLS connection that already has its session (egress hand-off).
    pub fn with_session(tcp: TcpStream, conn: ServerConnection) -> Transport {
        Transport::Tls(Box::new(Tls {
            tcp,
            conn,
            rbuf: vec![0; TLS_READ_BYTES],
            rstart: 0,
            rend: 0,
            wbuf: Vec::new(),
            dead: None,
        }))
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(t) => t,
            Transport::Tls(t) => &t.tcp,
        }
    }

    /// Is a TLS handshake still under way (so the header timeout applies
    /// from the first byte)?
    pub fn handshaking(&self) -> bool {
        matches!(self, Transport::Tls(t) if t.conn.is_handshaking())
    }

    /// Read plaintext, waiting at most `timeout` (non-zero) in all (TLS
    /// may take several socket reads per call); 0 at the end of the stream.
    /// A timeout rather than a deadline: a plain read then needs no clock
    /// reading (one-row requests read the clock several times each).
    pub async fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        match self {
            Transport::Plain(t) => {
                t.set_read_timeout(Some(timeout))
                    .map_err(|e| io::Error::other(e.to_string()))?;
                t.read(buf).await
            }
            Transport::Tls(t) => t.read(buf, Instant::now() + timeout).await,
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Transport::Plain(t) => t.write_all(data).await,
            Transport::Tls(t) => t.write_all(data).await,
        }
    }

    pub async fn shutdown(&mut self, how: std::net::Shutdown) -> io::Result<()> {
        if let Transport::Tls(t) = self {
            if t.dead.is_none() {
                t.conn.send_close_notify();
                let _ = t.flush().await;
            }
        }
        self.tcp()
            .shutdown(how)
            .await
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// The socket's read timeout: what is left until `deadline`.
fn set_timeout(t: &TcpStream, deadline: Instant) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    t.set_read_timeout(Some(left))
        .map_err(|e| io::Error::other(e.to_string()))
}

impl Tls {
    fn failed(&self) -> io::Result<()> {
        match &self.dead {
            Some(why) => Err(io::Error::new(io::ErrorKind::InvalidData, why.clone())),
            None => Ok(()),
        }
    }

    async fn read(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        self.failed()?;
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
            if self.rstart == self.rend {
                set_timeout(&self.tcp, deadline)?;
                let n = self.tcp.read(&mut self.rbuf).await?;
                if n == 0 {
                    return Ok(0);
                }
                (self.rstart, self.rend) = (0, n);
            }
            let fed = self.conn.read_tls(&mut &self.rbuf[self.rstart..self.rend]);
            let state = fed.map(|n| self.rstart += n).map_err(|e| e.to_string());
            let state = state.and_then(|_| {
                self.conn
                    .process_new_packets()
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
            // Send what the handshake produced, or rustls's alert.
            let sent = self.flush().await;
            if let Err(why) = state {
                self.dead = Some(why);
                return self.failed().map(|_| 0);
            }
            sent?;
        }
    }

    /// rustls buffers at most 64 KiB of plaintext to send: give it what it
    /// takes, write that out, repeat.
    async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.failed()?;
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

    /// Write every pending TLS record to the socket.
    async fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.wbuf.clear();
            self.conn.write_tls(&mut self.wbuf)?;
            self.tcp.write_all(&self.wbuf).await?;
        }
        Ok(())
    }
}
