//! `POST /v0/pipelines/{pipeline}/ingress/{table}`: decode the body as it
//! arrives, hand sealed batches to the table's owner, answer a token.

use super::conn::{BodyState, Conn, Failure};
use crate::decode::{
    ChangeBatch, CsvOptions, DecodeOptions, Decoder, Format, JsonFlavor, NullText, ParseErrors,
    UpdateFormat,
};
use crate::error::ApiError;
use crate::http::body::BodyDecoder;
use crate::http::head::{Framing, RequestHead};
use crate::http::target::Target;
use crate::shard::idem::Origin;
use crate::shard::lifecycle::{Sending, State};
use crate::shard::{add, batch_bytes, concat, get, DecoderKey, Shard};
use crate::token::Token;

/// The query parameters of an ingress request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressParams {
    pub format: Format,
    pub update_format: UpdateFormat,
    pub json_flavor: JsonFlavor,
    pub csv: CsvOptions,
    pub array: bool,
    pub force: bool,
}

pub(super) fn bad(name: &str, value: &str, why: &str) -> ApiError {
    ApiError::BadParam {
        name: name.into(),
        value: value.into(),
        why: why.into(),
    }
}

pub(super) fn param<'t>(target: &'t Target, name: &str) -> Result<Option<&'t str>, ApiError> {
    target.param(name).map_err(|_| repeated(name))
}

/// A known parameter given more than once.
fn repeated(name: &str) -> ApiError {
    bad(name, "", "the parameter is given more than once")
}

/// The parameters ingress reads, each found in one pass over the query
/// pairs: asking the target for each of eight keys in turn cost ~1,300
/// instructions per one-row request (callgrind), most of it comparing
/// keys that were not there.
#[derive(Default)]
struct Query<'t> {
    format: Slot<'t>,
    update_format: Slot<'t>,
    json_flavor: Slot<'t>,
    header: Slot<'t>,
    delimiter: Slot<'t>,
    null: Slot<'t>,
    array: Slot<'t>,
    force: Slot<'t>,
}

/// One parameter's value, and whether it was given more than once.
#[derive(Default, Clone, Copy)]
struct Slot<'t> {
    value: Option<&'t str>,
    repeated: bool,
}

impl<'t> Slot<'t> {
    /// The value. A repeat is an error (as `Target::param` makes it),
    /// raised when the parameter is read: `params` reads them in a fixed
    /// order, so a query with several faults gets the same error it got
    /// when each was looked up in turn.
    fn get(self, name: &str) -> Result<Option<&'t str>, ApiError> {
        if self.repeated {
            return Err(repeated(name));
        }
        Ok(self.value)
    }
}

impl<'t> Query<'t> {
    /// Unknown parameters are ignored.
    fn of(target: &'t Target) -> Self {
        let mut q = Query::default();
        for (k, v) in target.pairs() {
            let slot = match k {
                "format" => &mut q.format,
                "update_format" => &mut q.update_format,
                "json_flavor" => &mut q.json_flavor,
                "header" => &mut q.header,
                "delimiter" => &mut q.delimiter,
                "null" => &mut q.null,
                "array" => &mut q.array,
                "force" => &mut q.force,
                _ => continue,
            };
            slot.repeated |= slot.value.replace(v).is_some();
        }
        q
    }
}

/// Booleans are exactly `true` or `false`, as in Feldera.
fn boolean(slot: Slot, name: &str) -> Result<bool, ApiError> {
    match slot.get(name)? {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(bad(name, v, "expected 'true' or 'false'")),
    }
}

/// `delimiter=`: one ASCII byte other than a quote or a line break (`%09`
/// or `tab` for a tab). Default `,`.
fn delimiter(slot: Slot) -> Result<u8, ApiError> {
    match slot.get("delimiter")? {
        None => Ok(b','),
        Some("tab") => Ok(b'\t'),
        Some(d) => match d.as_bytes() {
            &[b] if b.is_ascii() && !matches!(b, b'"' | b'\r' | b'\n') => Ok(b),
            _ => Err(bad(
                "delimiter",
                d,
                "expected one ASCII character other than a quote or a line break",
            )),
        },
    }
}

/// `header=`, `delimiter=` and `null=` (percent-decoded; see `NullText`).
fn csv_options(q: &Query) -> Result<CsvOptions, ApiError> {
    let header = boolean(q.header, "header")?;
    let delimiter = delimiter(q.delimiter)?;
    let null_text = match q.null.get("null")? {
        None => NullText::default(),
        Some(t) => {
            NullText::new(t.as_bytes(), delimiter).map_err(|e| bad("null", t, &e.describe()))?
        }
    };
    Ok(CsvOptions {
        header,
        delimiter,
        null_text,
    })
}

/// Parse and check the parameters. Unknown parameters are ignored.
pub fn params(target: &Target) -> Result<IngressParams, ApiError> {
    let q = Query::of(target);
    let format = match q.format.get("format")? {
        None | Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(f) => return Err(ApiError::UnknownFormat { format: f.into() }),
    };
    let update_format = match q.update_format.get("update_format")? {
        None | Some("insert_delete") => UpdateFormat::InsertDelete,
        Some("raw") => UpdateFormat::Raw,
        Some("weighted") => UpdateFormat::Weighted,
        Some("debezium") => UpdateFormat::Debezium,
        // Output-only formats in Feldera: refused the way it refuses them.
        Some(u @ ("snowflake" | "redis")) => {
            return Err(ApiError::UnsupportedUpdateFormat {
                update_format: u.into(),
            })
        }
        Some(u) => {
            return Err(bad(
                "update_format",
                u,
                "expected one of insert_delete, raw, weighted, debezium, snowflake, redis",
            ))
        }
    };
    let json_flavor = match q.json_flavor.get("json_flavor")? {
        None | Some("default") => JsonFlavor::Default,
        Some("pandas") => JsonFlavor::Pandas,
        Some("debezium_mysql") => JsonFlavor::DebeziumMysql,
        Some("debezium_postgres") => JsonFlavor::DebeziumPostgres,
        Some(f) => {
            return Err(bad(
                "json_flavor",
                f,
                "expected one of default, pandas, debezium_mysql, debezium_postgres",
            ))
        }
    };
    Ok(IngressParams {
        format,
        update_format,
        json_flavor,
        csv: csv_options(&q)?,
        array: boolean(q.array, "array")?,
        force: boolean(q.force, "force")?,
    })
}

pub async fn handle(
    c: &mut Conn<'_>,
    head: &RequestHead,
    target: &Target,
    pipeline: &str,
    table: &str,
    idem_key: Option<&str>,
) -> Result<(u16, Vec<u8>), Failure> {
    let unread = |e| (e, BodyState::Unread);
    let shard = c.shard;
    let reg = &shard.reg;
    let (pi, ti) = reg.resolve(pipeline, table).map_err(unread)?;
    let p = &reg.pipelines[pi];
    let params = params(target).map_err(unread)?;
    admit(shard, pi, params.force).await.map_err(unread)?;
    owner_room(shard, p.tables[ti].owner)
        .await
        .map_err(unread)?;
    if reg.log_failed.load(std::sync::atomic::Ordering::Acquire) {
        return Err(unread(ApiError::LogFailed));
    }
    if reg.disk_full[p.tables[ti].owner].load(std::sync::atomic::Ordering::Acquire) {
        return Err(unread(ApiError::StorageFull));
    }
    let max = shard.cfg.http.body_bytes_max;
    if let Framing::Length(n) = head.framing {
        if n > max {
            return Err(unread(ApiError::BodyTooLarge { limit: max }));
        }
    }
    if head.expect_continue && head.framing != Framing::None {
        c.send_continue()
            .await
            .map_err(|_| (closed(), BodyState::Broken))?;
    }
    let t = &p.tables[ti];
    let ing = &shard.cfg.ingest;
    let key = DecoderKey {
        pipeline: pi as u16,
        table: ti as u16,
        format: params.format,
        update_format: params.update_format,
        json_flavor: params.json_flavor,
        csv: params.csv,
        array: params.array,
    };
    let opts = DecodeOptions {
        format: params.format,
        update_format: params.update_format,
        array: params.array,
        batch_rows: ing.batch_rows,
        batch_bytes: ing.batch_bytes,
        record_bytes_max: ing.record_bytes_max,
        json_depth_max: ing.json_depth_max,
        json_flavor: params.json_flavor,
        csv: params.csv,
    };
    if let Framing::Length(n) = head.framing {
        // (0 turns sharing off: not even empty bodies share.)
        let on = ing.coalesce_bytes_max > 0;
        let small = on && n <= ing.coalesce_bytes_max as u64 && c.buffered() as u64 >= n;
        if small && idem_key.is_none() {
            let at = (pi, ti, params.force);
            return coalesced(c, n as usize, at, key, opts).await;
        }
    }
    let mut decoder = shard.decoders.take(key, &t.table, opts);
    let mut hold = idem_key.map(|_| Held::default());
    let at = (pi, ti, params.force);
    let mut streamed = stream_body(c, head, &mut *decoder, at, &mut hold).await;
    if let (Some(key), Some(held), Ok(s)) = (idem_key, hold, streamed.as_mut()) {
        // All or nothing: a keyed request with a bad record ingests none.
        if decoder.errors().is_empty() && !held.parts.is_empty() {
            let batch = crate::shard::idem::with_key(concat(&held.parts), key);
            s.rows = batch.num_rows() as u64;
            let sent = match sending(shard, pi, params.force).await {
                Ok(_counted) => shard.submit_keyed(pi, ti, batch).await.map_err(|_| None),
                Err(failed) => Err(Some(failed)),
            };
            match sent {
                Ok((end, original)) => {
                    (s.last_end, s.original) = (Some(end), original);
                    if original.is_some() {
                        // A repeat ingests nothing: count no rows.
                        s.rows = 0;
                    }
                    add(&p.tables[ti].lane_stats[shard.id].records, s.rows);
                }
                // Paused or stopped meanwhile; the body was read whole.
                Err(Some((e, _))) => streamed = Err((e, BodyState::Done)),
                Err(None) => streamed = Err(overloaded(shard)),
            }
        }
    }
    let result = respond(shard, pi, ti, streamed, decoder.errors(), decoder.records());
    shard.decoders.give(key, decoder);
    result
}

/// A small body already whole in the read buffer: its rows join the
/// shard's shared batch for this table and options (`shard::coalesce`);
/// answered once the owner took the batch holding its last row.
async fn coalesced(
    c: &mut Conn<'_>,
    n: usize,
    (pi, ti, force): (usize, usize, bool),
    key: DecoderKey,
    opts: DecodeOptions,
) -> Result<(u16, Vec<u8>), Failure> {
    let shard = c.shard;
    // Counted as a sender before any row is taken, until answered: a
    // pause waits for this request's rows to reach the owner.
    let counted = sending(shard, pi, force)
        .await
        .map_err(|(e, _)| (e, BodyState::Unread))?;
    let range = c.take_whole_body(n).expect("checked whole");
    let table = &shard.reg.pipelines[pi].tables[ti].table;
    let joined = shard.coalesce.join(shard, key, table, opts, &c.buf[range]);
    let mut s = Streamed {
        bytes: n as u64,
        rows: 0,
        last_end: None,
        original: None,
    };
    // Every batch holding its rows is settled before the answer (and
    // before `counted` goes): one not taken does not stop a later one
    // from being handed over, which a pause must still wait for.
    let mut taken = true;
    for slot in &joined.slots {
        match slot.wait().await {
            Some(end) => s.last_end = Some(end),
            None => taken = false,
        }
    }
    drop(counted);
    if !taken {
        // The body was read whole: the connection can go on.
        return Err((overloaded(shard).0, BodyState::Done));
    }
    respond(shard, pi, ti, Ok(s), &joined.errors, joined.records)
}

/// The pipeline's state decides whether rows are taken: Paused holds the
/// request, reading nothing of its body (so TCP pushes back on the
/// client), until a resume or `ingest.paused_wait_ms`; `force=true`
/// ingests while paused, as Feldera's does. Polled: a state change is
/// rare, and 10 ms late is fine.
async fn admit(shard: &Shard, pi: usize, force: bool) -> Result<(), ApiError> {
    let p = &shard.reg.pipelines[pi];
    // Read the clock only once the pipeline is found paused: a running one
    // is the common case, and its requests should not pay for it.
    let mut waited = None;
    let wait = std::time::Duration::from_millis(shard.cfg.ingest.paused_wait_ms);
    loop {
        match p.state.get() {
            State::Running => return Ok(()),
            State::Paused if force => return Ok(()),
            State::Stopped => {
                return Err(ApiError::PipelineStopped {
                    pipeline: p.name.clone(),
                })
            }
            State::Paused => {}
        }
        if shard
            .reg
            .stopping
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Err(ApiError::ShuttingDown);
        }
        if waited.get_or_insert_with(std::time::Instant::now).elapsed() >= wait {
            return Err(ApiError::PipelinePaused {
                pipeline: p.name.clone(),
                waited_ms: shard.cfg.ingest.paused_wait_ms,
                records_taken: 0,
            });
        }
        glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Before reading a body (and before `100 Continue`): wait, bounded by
/// `ingest.backpressure_wait_ms`, while the owner's log buffer is full, so
/// that an overloaded owner is answered 503 before the body is sent rather
/// than halfway through it. The gauge is the owner's, read across shards
/// (one atomic); the bounded waits inside `submit` still apply.
async fn owner_room(shard: &Shard, owner: usize) -> Result<(), ApiError> {
    if !shard.cfg.wal.enabled {
        return Ok(());
    }
    let gauge = &shard.reg.shard_metrics[owner].log_buffer_bytes;
    let full = || get(gauge) >= shard.cfg.wal.buffer_bytes_max as u64;
    let waited_ms = shard.cfg.ingest.backpressure_wait_ms;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(waited_ms);
    while full() {
        if std::time::Instant::now() >= deadline {
            return Err(ApiError::Overloaded { waited_ms });
        }
        glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Count the request and answer a token, or the parse errors.
fn respond(
    shard: &Shard,
    pi: usize,
    ti: usize,
    streamed: Result<Streamed, Failure>,
    errors: &ParseErrors,
    records: u64,
) -> Result<(u16, Vec<u8>), Failure> {
    let streamed = streamed?;
    let reg = &shard.reg;
    let p = &reg.pipelines[pi];
    let t = &p.tables[ti];
    let stats = &t.lane_stats[shard.id];
    add(&stats.requests, 1);
    add(&stats.bytes, streamed.bytes);
    // Records were counted as they were handed over (`deliver`).
    add(&stats.parse_errors, errors.total);
    if !errors.is_empty() {
        return Err((
            ApiError::ParseErrors {
                errors: errors.clone(),
                records,
            },
            BodyState::Done,
        ));
    }
    let mut token = Token {
        run_id: reg.run_id,
        pipeline_id: p.id,
        table: ti as u16,
        lane: shard.id as u16,
        position: streamed
            .last_end
            .unwrap_or_else(|| shard.lane_position(pi, ti)),
    };
    if let Some(o) = streamed.original {
        // A repeat of a keyed request: the first attempt's token.
        (token.run_id, token.lane, token.position) = (o.run, o.lane, o.end);
    }
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(b"{\"token\":\"");
    token.encode_into(&mut out);
    out.extend_from_slice(b"\"}");
    Ok((200, out))
}

/// What streaming a body produced.
struct Streamed {
    /// Body payload bytes.
    bytes: u64,
    /// Rows handed to the owner.
    rows: u64,
    /// Lane position after the last batch sent, if any was.
    last_end: Option<u64>,
    /// A keyed request seen before: where its first attempt's rows end.
    original: Option<Origin>,
}

/// The owner did not take a batch in time: 503, and the connection closes
/// (the rest of the body is not read).
fn overloaded(shard: &Shard) -> Failure {
    let waited_ms = shard.cfg.ingest.backpressure_wait_ms;
    (ApiError::Overloaded { waited_ms }, BodyState::Broken)
}

/// A keyed request's rows, held until its body ends (see `shard::idem`).
#[derive(Default)]
struct Held {
    parts: Vec<ChangeBatch>,
    bytes: usize,
}

/// Feed the body to the decoder as it arrives; send each sealed batch to
/// the table's owner (waiting when its queue is full: back-pressure).
async fn stream_body(
    c: &mut Conn<'_>,
    head: &RequestHead,
    decoder: &mut dyn Decoder,
    (pi, ti, force): (usize, usize, bool),
    hold: &mut Option<Held>,
) -> Result<Streamed, Failure> {
    let shard = c.shard;
    let max = shard.cfg.http.body_bytes_max;
    let mut body = BodyDecoder::new(head.framing);
    let mut done = false;
    let mut s = Streamed {
        bytes: 0,
        rows: 0,
        last_end: None,
        original: None,
    };
    while let Some(range) = c.next_body_chunk(&mut body, &mut done).await? {
        s.bytes += range.len() as u64;
        if s.bytes > max {
            return Err((ApiError::BodyTooLarge { limit: max }, BodyState::Broken));
        }
        let mut chunk = &c.buf[range];
        while !chunk.is_empty() {
            let n = decoder.decode(chunk);
            chunk = &chunk[n..];
            if decoder.batch_full() {
                if let Some(b) = decoder.flush() {
                    deliver(shard, (pi, ti, force), b, &mut s, hold).await?;
                }
            }
        }
        // Cooperative scheduling: a large body must not hold the core.
        glommio::yield_if_needed().await;
    }
    if let Some(b) = decoder.finish() {
        deliver(shard, (pi, ti, force), b, &mut s, hold).await?;
    }
    Ok(s)
}

/// Count this shard in as a sender of pipeline `pi` while the pipeline
/// takes this request's rows (Running, or Paused with `force`); while it
/// does not, wait as `admit` does (not reading the body) for a resume, or
/// fail. See `lifecycle::Senders`: this is what makes a pause a barrier
/// for requests already past their admission.
async fn sending(shard: &Shard, pi: usize, force: bool) -> Result<Sending<'_>, Failure> {
    let p = &shard.reg.pipelines[pi];
    loop {
        let counted = p.senders.enter(shard.id, force);
        match p.state.get() {
            State::Running => return Ok(counted),
            State::Paused if force => return Ok(counted),
            State::Paused | State::Stopped => {}
        }
        drop(counted);
        admit(shard, pi, force)
            .await
            .map_err(|e| (e, BodyState::Broken))?;
    }
}

/// Send a sealed batch to the owner, or hold it for a keyed request.
async fn deliver(
    shard: &Shard,
    (pi, ti, force): (usize, usize, bool),
    b: ChangeBatch,
    s: &mut Streamed,
    hold: &mut Option<Held>,
) -> Result<(), Failure> {
    let Some(held) = hold else {
        let _counted = sending(shard, pi, force).await.map_err(|(mut e, b)| {
            if let ApiError::PipelinePaused { records_taken, .. } = &mut e {
                *records_taken = s.rows;
            }
            (e, b)
        })?;
        let n = b.num_rows() as u64;
        let end = shard
            .submit(pi, ti, b)
            .await
            .map_err(|_| overloaded(shard))?;
        // Counted as handed over, so rows of a request that fails later
        // (paused or overloaded halfway) are in the stats too.
        s.rows += n;
        add(
            &shard.reg.pipelines[pi].tables[ti].lane_stats[shard.id].records,
            n,
        );
        s.last_end = Some(end);
        return Ok(());
    };
    held.bytes += batch_bytes(&b);
    held.parts.push(b);
    let limit = shard.cfg.ingest.idempotent_bytes_max;
    if held.bytes > limit {
        return Err((ApiError::IdempotentTooLarge { limit }, BodyState::Broken));
    }
    Ok(())
}

fn closed() -> ApiError {
    ApiError::Http {
        status: 400,
        what: "connection failed while sending 100 Continue".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::target;

    fn parsed(query: &str) -> Result<IngressParams, ApiError> {
        params(&target::parse(format!("/x?{query}").as_bytes()).unwrap())
    }

    #[test]
    fn params_take_each_key_once() {
        // Every parameter but `null`, whose text is checked on its own.
        let fields = |p: IngressParams| {
            let csv = (p.csv.header, p.csv.delimiter);
            (
                p.format,
                p.update_format,
                p.json_flavor,
                p.array,
                p.force,
                csv,
            )
        };
        let csv = (false, b',');
        let want = (
            Format::Csv,
            UpdateFormat::InsertDelete,
            JsonFlavor::Default,
            false,
            false,
            csv,
        );
        assert_eq!(fields(parsed("").unwrap()), want);
        let p = parsed(
            "format=json&update_format=raw&json_flavor=pandas&array=true&force=true\
             &header=true&delimiter=%09&null=NA&unknown=1&unknown=2",
        )
        .unwrap();
        assert_eq!(p.csv.null_text.as_bytes(), b"NA");
        let want = (
            Format::Json,
            UpdateFormat::Raw,
            JsonFlavor::Pandas,
            true,
            true,
            (true, b'\t'),
        );
        assert_eq!(fields(p), want);
        // A query with several faults gets the error of the first parameter
        // read (format first), as when each was looked up in turn.
        match parsed("force=true&force=true&format=xml") {
            Err(ApiError::UnknownFormat { format }) => assert_eq!(format, "xml"),
            other => panic!("{other:?}"),
        }
        for key in [
            "format",
            "update_format",
            "json_flavor",
            "header",
            "delimiter",
            "null",
            "array",
            "force",
        ] {
            // The first value is valid, so only the repeat can fail.
            let value = match key {
                "format" => "csv",
                "update_format" => "raw",
                "json_flavor" => "default",
                "delimiter" => ";",
                "null" => "x",
                _ => "true",
            };
            match parsed(&format!("{key}={value}&{key}={value}")) {
                Err(ApiError::BadParam { name, why, .. }) => {
                    assert_eq!(
                        (name.as_str(), why.as_str()),
                        (key, "the parameter is given more than once")
                    )
                }
                other => panic!("{key}: {other:?}"),
            }
        }
    }
}
