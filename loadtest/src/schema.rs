//! `--columns server`: a table's columns from the target itself, through
//! Feldera's pipeline descriptor (`GET /v0/pipelines/{pipeline}`, which
//! sluice serves): `program_info.schema.inputs[].fields[]` with each
//! field's name, case sensitivity and SQL type name.
//!
//! One blocking request before the run (no executor yet), over plain TCP
//! or rustls' blocking stream with the run's own TLS settings.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::gen::{parse_type, ColType};
use crate::http;
use crate::tls::TlsTarget;

/// Largest descriptor read: a pipeline of many wide tables is still far below.
const DESCRIPTOR_BYTES_MAX: usize = 16 << 20;

pub struct Fetch<'a> {
    pub addr: SocketAddr,
    pub host: &'a str,
    pub pipeline: &'a str,
    pub api_key: Option<&'a str>,
    pub tls: Option<&'a TlsTarget>,
    pub timeout: Duration,
}

/// A table as the server describes it.
#[derive(Debug)]
pub struct TableCols {
    pub cols: Vec<ColType>,
    /// The names JSON rows use, case-sensitive ones quoted.
    pub names: Vec<String>,
    /// The table's name for the ingress URL: quoted if it was declared
    /// quoted (Feldera's rule: an unquoted name in a URL is case-insensitive).
    pub url_name: String,
}

/// The columns of `table`, in order.
pub fn fetch(f: &Fetch<'_>, table: &str) -> Result<TableCols, String> {
    let path = format!("/v0/pipelines/{}", http::pct(f.pipeline));
    let mut req = http::build_get(&http::RequestParams {
        host: f.host,
        path: &path,
        content_type: "",
        api_key: f.api_key,
        chunked: false,
    });
    // One request: the server ends the response by closing.
    req.truncate(req.len() - 2);
    req.extend_from_slice(b"Connection: close\r\n\r\n");
    let raw = get(f, &req).map_err(|e| format!("GET {path} from {}: {e}", f.addr))?;
    let head = http::parse_head(&raw)
        .map_err(|e| format!("GET {path}: bad response: {e:?}"))?
        .filter(|h| raw.len() >= h.total_len())
        .ok_or_else(|| format!("GET {path}: response cut short"))?;
    let body = &raw[head.head_len..head.total_len()];
    if head.status != 200 {
        return Err(format!(
            "GET {path}: {} {}",
            head.status,
            String::from_utf8_lossy(body)
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("GET {path}: not a pipeline descriptor: {e}"))?;
    columns(&v, table).map_err(|e| format!("pipeline {:?}: {e}", f.pipeline))
}

fn get(f: &Fetch<'_>, req: &[u8]) -> std::io::Result<Vec<u8>> {
    let tcp = TcpStream::connect_timeout(&f.addr, f.timeout)?;
    tcp.set_read_timeout(Some(f.timeout))?;
    tcp.set_write_timeout(Some(f.timeout))?;
    let mut out = Vec::new();
    match f.tls {
        None => read_all(tcp, req, &mut out)?,
        Some(t) => {
            let conn = rustls::ClientConnection::new(t.config.clone(), t.name.clone())
                .map_err(std::io::Error::other)?;
            read_all(rustls::StreamOwned::new(conn, tcp), req, &mut out)?;
        }
    }
    Ok(out)
}

/// Sends `req` and reads until the response is whole by its framing (or the
/// server closes), so a server that keeps the connection open is no wait.
fn read_all(mut s: impl Read + Write, req: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    s.write_all(req)?;
    s.flush()?;
    let mut buf = [0u8; 16 * 1024];
    while out.len() < DESCRIPTOR_BYTES_MAX {
        if let Ok(Some(h)) = http::parse_head(out) {
            if out.len() >= h.total_len() {
                return Ok(());
            }
        }
        match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A TLS peer that closes without close_notify may still have
            // sent a whole response; the caller checks it by its length.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                return Ok(())
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The table's columns from a descriptor. Table names match as SQL does:
/// case-insensitively unless the table was declared with a quoted name, or
/// `table` is given quoted (`"Name"`), which matches exactly.
pub fn columns(v: &serde_json::Value, table: &str) -> Result<TableCols, String> {
    let (table, exact) = match table.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(t) => (t, true),
        None => (table, false),
    };
    let inputs = v["program_info"]["schema"]["inputs"]
        .as_array()
        .ok_or("the descriptor has no program_info.schema.inputs")?;
    let matches = |t: &serde_json::Value| {
        let name = t["name"].as_str().unwrap_or_default();
        if exact || t["case_sensitive"].as_bool() == Some(true) {
            name == table
        } else {
            name.eq_ignore_ascii_case(table)
        }
    };
    let t = inputs.iter().find(|t| matches(t)).ok_or_else(|| {
        let names: Vec<&str> = inputs.iter().filter_map(|t| t["name"].as_str()).collect();
        format!("no table {table:?} (tables: {})", names.join(", "))
    })?;
    let fields = t["fields"].as_array().ok_or("a table without fields")?;
    let mut cols = Vec::with_capacity(fields.len());
    let mut names = Vec::with_capacity(fields.len());
    for f in fields {
        let name = f["name"].as_str().ok_or("a field without a name")?;
        let ty = f["columntype"]["type"]
            .as_str()
            .ok_or_else(|| format!("column {name}: no type"))?;
        cols.push(parse_type(ty).map_err(|e| format!("column {name}: {e}"))?);
        // A case-sensitive name is matched exactly only in its quoted form.
        names.push(if f["case_sensitive"].as_bool() == Some(true) {
            format!("\"{name}\"")
        } else {
            name.to_string()
        });
    }
    if cols.is_empty() {
        return Err(format!("table {table:?} has no columns"));
    }
    let name = t["name"].as_str().unwrap_or(table);
    let url_name = if t["case_sensitive"].as_bool() == Some(true) {
        format!("\"{name}\"")
    } else {
        name.to_string()
    };
    Ok(TableCols {
        cols,
        names,
        url_name,
    })
}
