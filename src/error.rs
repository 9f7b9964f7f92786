//! The one place errors become HTTP answers: status, stable `error_code`,
//! message and `details`, in Feldera's shape
//! `{"message": ..., "error_code": ..., "details": {...}}`.

use serde_json::{json, Value};

use crate::decode::ParseErrors;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub enum ApiError {
    UnknownPipeline {
        pipeline: String,
    },
    UnknownTable {
        pipeline: String,
        table: String,
    },
    UnknownFormat {
        format: String,
    },
    /// A query parameter with an invalid value (or given twice).
    BadParam {
        name: String,
        value: String,
        why: String,
    },
    UnsupportedUpdateFormat {
        update_format: String,
    },
    ParseErrors {
        errors: ParseErrors,
        records: u64,
    },
    /// completion_status: the token is not one of ours at all.
    InvalidToken {
        token: String,
    },
    /// completion_status: a token of another pipeline or an earlier run.
    TokenGone {
        token: String,
    },
    AuthenticationFailed,
    NotFound {
        path: String,
    },
    MethodNotAllowed {
        method: String,
        allow: &'static str,
    },
    /// Framing and limit errors: the status says which.
    Http {
        status: u16,
        what: String,
    },
    /// Request body over `body_bytes_max`.
    BodyTooLarge {
        limit: u64,
    },
    /// The shard is at its connection cap.
    TooManyConnections,
    /// A log write or sync failed: nothing more is acknowledged.
    LogFailed,
    /// The owner's log disk is full: retry once space is freed.
    StorageFull,
    /// The server is stopping (SIGTERM): retry against its successor.
    ShuttingDown,
    /// The table's owner took no batch for `ingest.backpressure_wait_ms`.
    Overloaded {
        waited_ms: u64,
    },
    /// Ingress to a paused pipeline waited `ingest.paused_wait_ms`.
    PipelinePaused {
        pipeline: String,
        waited_ms: u64,
        /// Records of this request handed over before the pause came (a
        /// request paused halfway through its body).
        records_taken: u64,
    },
    /// Ingress to a stopped pipeline.
    PipelineStopped {
        pipeline: String,
    },
    /// A lifecycle action that does not apply to the pipeline's state.
    IllegalAction {
        action: String,
        why: String,
    },
    /// A pipeline state could not be saved.
    StateNotSaved {
        why: String,
    },
    /// completion_status: the token's rows did not reach the log before
    /// the run that issued it ended.
    TokenLost {
        token: String,
    },
    /// `Idempotency-Key` is malformed.
    InvalidIdempotencyKey {
        why: &'static str,
    },
    /// A keyed request's rows passed `ingest.idempotent_bytes_max`.
    IdempotentTooLarge {
        limit: usize,
    },
    /// egress: the table has `egress.connections_per_table_max` listeners.
    EgressLimit {
        limit: usize,
    },
    /// egress: the last line of a stream whose reader fell further behind
    /// than `egress.queue_bytes_max` while it held tokens.
    EgressTooSlow {
        limit: usize,
    },
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::UnknownPipeline { .. } | ApiError::UnknownTable { .. } => 404,
            ApiError::NotFound { .. } => 404,
            ApiError::UnknownFormat { .. }
            | ApiError::BadParam { .. }
            | ApiError::UnsupportedUpdateFormat { .. }
            | ApiError::ParseErrors { .. }
            | ApiError::InvalidToken { .. } => 400,
            ApiError::TokenGone { .. } | ApiError::TokenLost { .. } => 410,
            ApiError::LogFailed => 503,
            ApiError::StateNotSaved { .. } => 500,
            ApiError::IllegalAction { .. } => 400,
            ApiError::AuthenticationFailed => 401,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Http { status, .. } => *status,
            ApiError::BodyTooLarge { .. } | ApiError::IdempotentTooLarge { .. } => 413,
            ApiError::InvalidIdempotencyKey { .. } => 400,
            ApiError::TooManyConnections
            | ApiError::StorageFull
            | ApiError::ShuttingDown
            | ApiError::Overloaded { .. }
            | ApiError::PipelinePaused { .. }
            | ApiError::PipelineStopped { .. }
            | ApiError::EgressLimit { .. }
            | ApiError::EgressTooSlow { .. } => 503,
        }
    }

    /// Stable machine-readable code; clients match on it, so never rename.
    pub fn error_code(&self) -> &'static str {
        match self {
            ApiError::UnknownPipeline { .. } => "UnknownPipelineName",
            ApiError::UnknownTable { .. } => "UnknownInputStream",
            ApiError::UnknownFormat { .. } => "UnknownInputFormat",
            ApiError::BadParam { .. } => "ParserConfigParseError",
            ApiError::UnsupportedUpdateFormat { .. } => "InputFormatNotSupported",
            ApiError::ParseErrors { .. } => "ParseErrors",
            ApiError::InvalidToken { .. } => "InvalidParam",
            ApiError::TokenGone { .. } => "TokenExpired",
            ApiError::AuthenticationFailed => "AuthenticationFailed",
            ApiError::NotFound { .. } => "NotFound",
            ApiError::MethodNotAllowed { .. } => "MethodNotAllowed",
            ApiError::Http { status: 408, .. } => "RequestTimeout",
            ApiError::Http { status: 414, .. } => "UriTooLong",
            ApiError::Http { status: 431, .. } => "RequestHeaderFieldsTooLarge",
            ApiError::Http { status: 505, .. } => "HttpVersionNotSupported",
            ApiError::Http { status: 501, .. } => "NotImplemented",
            ApiError::Http { .. } => "BadRequest",
            ApiError::BodyTooLarge { .. } => "PayloadTooLarge",
            ApiError::TooManyConnections => "ApiConnectionLimit",
            ApiError::LogFailed => "LogWriteFailed",
            ApiError::StorageFull => "StorageFull",
            ApiError::ShuttingDown => "ServerShuttingDown",
            ApiError::Overloaded { .. } => "ServerOverloaded",
            ApiError::PipelinePaused { .. } => "PipelinePaused",
            ApiError::PipelineStopped { .. } => "PipelineInteractionNotDeployed",
            ApiError::StateNotSaved { .. } => "StateNotSaved",
            ApiError::IllegalAction { .. } => "IllegalPipelineAction",
            ApiError::TokenLost { .. } => "TokenLost",
            ApiError::EgressLimit { .. } => "EgressConnectionLimit",
            ApiError::InvalidIdempotencyKey { .. } => "InvalidIdempotencyKey",
            ApiError::IdempotentTooLarge { .. } => "PayloadTooLarge",
            ApiError::EgressTooSlow { .. } => "EgressReaderTooSlow",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::UnknownPipeline { pipeline } => {
                format!("Unknown pipeline name '{pipeline}'")
            }
            ApiError::UnknownTable { pipeline, table } => format!(
                "Pipeline '{pipeline}' has no table '{table}' (unquoted names match \
                 case-insensitively; quote the name as %22Name%22 to match exactly)"
            ),
            ApiError::UnknownFormat { format } => {
                format!("Unknown input format '{format}': expected 'csv' or 'json'")
            }
            ApiError::BadParam { name, value, why } => {
                format!("Invalid value '{value}' for parameter '{name}': {why}")
            }
            ApiError::UnsupportedUpdateFormat { update_format } => format!(
                "Update format '{update_format}' is not supported for input \
                 (supported: insert_delete, raw)"
            ),
            ApiError::ParseErrors { errors, records } => format!(
                "Errors parsing input data ({} of {records} records failed{}); \
                 records that parsed were ingested",
                errors.total,
                if errors.fatal {
                    ", the rest of the body was not parsed"
                } else {
                    ""
                }
            ),
            ApiError::InvalidToken { token } => format!("Invalid completion token '{token}'"),
            ApiError::TokenGone { token } => format!(
                "Completion token '{token}' was issued by another pipeline or an \
                 earlier run of this server"
            ),
            ApiError::AuthenticationFailed => {
                "Authentication failed: send a valid 'Authorization: Bearer <API key or JWT>'"
                    .into()
            }
            ApiError::NotFound { path } => format!("No endpoint at '{path}'"),
            ApiError::MethodNotAllowed { method, allow } => {
                format!("Method {method} not allowed here (allowed: {allow})")
            }
            ApiError::Http { what, .. } => what.clone(),
            ApiError::BodyTooLarge { limit } => {
                format!("Request body exceeds the limit of {limit} bytes (http.body_bytes_max)")
            }
            ApiError::TooManyConnections => "Too many open connections; retry later".into(),
            ApiError::InvalidIdempotencyKey { why } => format!("Invalid Idempotency-Key: it {why}"),
            ApiError::IdempotentTooLarge { limit } => format!(
                "A request with an Idempotency-Key is ingested all at once, and its rows \
                 exceed {limit} bytes (ingest.idempotent_bytes_max): split it, or send it \
                 without a key"
            ),
            ApiError::EgressLimit { limit } => format!(
                "The table already has {limit} change streams open \
                 (egress.connections_per_table_max); retry later"
            ),
            ApiError::EgressTooSlow { limit } => format!(
                "This change stream fell more than {limit} bytes behind \
                 (egress.queue_bytes_max) and was closed so that tokens are \
                 not held back; reconnect, or listen with backpressure=false to \
                 skip changes instead"
            ),
            ApiError::PipelinePaused {
                pipeline,
                waited_ms,
                records_taken,
            } => {
                let mut m = format!(
                    "Pipeline '{pipeline}' is paused and did not resume within {waited_ms} ms \
                     (ingest.paused_wait_ms); retry later, or send with force=true to ingest \
                     while paused"
                );
                if *records_taken > 0 {
                    m.push_str(&format!(
                        ". The pause came halfway through this request: its first \
                         {records_taken} records were taken, the rest were not (an \
                         Idempotency-Key makes a request all or nothing)"
                    ));
                }
                m
            }
            ApiError::PipelineStopped { pipeline } => format!(
                "Pipeline '{pipeline}' is stopped: start it (POST /v0/pipelines/{pipeline}/start) \
                 to ingest"
            ),
            ApiError::IllegalAction { action, why } => format!("Cannot {action}: {why}"),
            ApiError::StateNotSaved { why } => format!(
                "The state change applies to this run, but saving it for the next failed: {why}"
            ),
            ApiError::ShuttingDown => {
                "The server is shutting down; retry (its successor will answer)".into()
            }
            ApiError::Overloaded { waited_ms } => format!(
                "The table's owner took no rows for {waited_ms} ms (ingest.backpressure_wait_ms): \
                 the server is overloaded. Rows sent before this point in the request may \
                 have been ingested; retry later (with an Idempotency-Key, nothing is \
                 ingested twice)"
            ),
            ApiError::StorageFull => "The disk of this table's write-ahead log is full: no \
                 new rows are taken until space is freed (rows already acknowledged are \
                 safe); retry later"
                .into(),
            ApiError::LogFailed => "The write-ahead log failed on this server: no rows are \
                 acknowledged any more and the server is stopping"
                .into(),
            ApiError::TokenLost { token } => format!(
                "The rows of completion token '{token}' were not in the log when the \
                 server run that issued it stopped: they were lost, send them again"
            ),
        }
    }

    pub fn details(&self) -> Value {
        match self {
            ApiError::UnknownPipeline { pipeline } => json!({ "pipeline_name": pipeline }),
            ApiError::UnknownTable { pipeline, table } => {
                json!({ "pipeline_name": pipeline, "endpoint_name": table })
            }
            ApiError::UnknownFormat { format } => json!({ "format": format }),
            ApiError::BadParam { name, value, why } => {
                json!({ "parameter": name, "value": value, "error": why })
            }
            ApiError::UnsupportedUpdateFormat { update_format } => {
                json!({ "update_format": update_format })
            }
            ApiError::ParseErrors { errors, records } => parse_error_details(errors, *records),
            ApiError::InvalidToken { token } | ApiError::TokenGone { token } => {
                json!({ "token": token })
            }
            ApiError::MethodNotAllowed { allow, .. } => json!({ "allow": allow }),
            ApiError::BodyTooLarge { limit } => json!({ "body_bytes_max": limit }),
            ApiError::EgressLimit { limit } => json!({ "connections_per_table_max": limit }),
            ApiError::PipelinePaused {
                pipeline,
                waited_ms,
                records_taken,
            } => json!({
                "pipeline_name": pipeline,
                "paused_wait_ms": waited_ms,
                "records_taken": records_taken,
            }),
            ApiError::PipelineStopped { pipeline } => json!({ "pipeline_name": pipeline }),
            ApiError::Overloaded { waited_ms } => json!({ "backpressure_wait_ms": waited_ms }),
            ApiError::IdempotentTooLarge { limit } => json!({ "idempotent_bytes_max": limit }),
            ApiError::EgressTooSlow { limit } => json!({ "queue_bytes_max": limit }),
            _ => json!({}),
        }
    }

    /// Extra response headers this error needs.
    pub fn headers(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            ApiError::AuthenticationFailed => &[("WWW-Authenticate", "Bearer")],
            ApiError::MethodNotAllowed { allow, .. } => match *allow {
                "GET" => &[("Allow", "GET")],
                "POST" => &[("Allow", "POST")],
                _ => &[],
            },
            ApiError::TooManyConnections
            | ApiError::EgressLimit { .. }
            | ApiError::ShuttingDown
            | ApiError::PipelinePaused { .. } => &[("Retry-After", "1")],
            ApiError::Overloaded { .. } => &[("Retry-After", "2")],
            ApiError::StorageFull => &[("Retry-After", "5")],
            _ => &[],
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        let v = json!({
            "message": self.message(),
            "error_code": self.error_code(),
            "details": self.details(),
        });
        serde_json::to_vec(&v).expect("JSON values always serialize")
    }
}

fn parse_error_details(errors: &ParseErrors, records: u64) -> Value {
    let listed: Vec<Value> = errors
        .listed
        .iter()
        .map(|e| {
            json!({
                "event_number": e.event_number,
                "field": e.field,
                "description": e.description,
                "invalid_text": e.invalid_text,
                "offset": e.offset,
                "line": e.line,
            })
        })
        .collect();
    json!({
        "num_errors": errors.total,
        "num_records": records,
        "errors": listed,
        "fatal": errors.fatal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::ParseError;

    #[test]
    fn shapes_and_codes() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (
                ApiError::UnknownPipeline {
                    pipeline: "x".into(),
                },
                404,
                "UnknownPipelineName",
            ),
            (
                ApiError::UnknownTable {
                    pipeline: "p".into(),
                    table: "t".into(),
                },
                404,
                "UnknownInputStream",
            ),
            (
                ApiError::UnknownFormat {
                    format: "xml".into(),
                },
                400,
                "UnknownInputFormat",
            ),
            (
                ApiError::BadParam {
                    name: "force".into(),
                    value: "True".into(),
                    why: "".into(),
                },
                400,
                "ParserConfigParseError",
            ),
            (ApiError::AuthenticationFailed, 401, "AuthenticationFailed"),
            (
                ApiError::TokenGone { token: "t".into() },
                410,
                "TokenExpired",
            ),
            (
                ApiError::InvalidToken { token: "t".into() },
                400,
                "InvalidParam",
            ),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.status(), status);
            assert_eq!(e.error_code(), code);
            let v: Value = serde_json::from_slice(&e.body()).unwrap();
            assert_eq!(v["error_code"], code);
            assert!(v["message"].as_str().unwrap().len() > 5);
            assert!(v["details"].is_object());
        }
    }

    #[test]
    fn parse_errors_list_each_record() {
        let mut errors = ParseErrors::default();
        errors.push(ParseError {
            event_number: 2,
            field: Some("a".into()),
            description: "expected INTEGER".into(),
            invalid_text: Some("x".into()),
            offset: 4,
            line: Some(2),
        });
        let v: Value =
            serde_json::from_slice(&ApiError::ParseErrors { errors, records: 3 }.body()).unwrap();
        assert_eq!(v["details"]["num_errors"], 1);
        assert_eq!(v["details"]["errors"][0]["event_number"], 2);
        assert_eq!(v["details"]["errors"][0]["field"], "a");
        assert_eq!(v["details"]["errors"][0]["invalid_text"], "x");
    }
}
