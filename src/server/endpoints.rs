//! The endpoints that take no body: completion status, stats, the pipeline
//! catalog, server config and health.

use serde_json::{json, Value};

use super::routes::Route;
use crate::error::ApiError;
use crate::http::target::Target;
use crate::shard::lifecycle::{self, State};
use crate::shard::{get, PipelineRt, Shard, TableRt};
use crate::token::Token;

pub fn handle(shard: &Shard, route: &Route, target: &Target) -> Result<(u16, Vec<u8>), ApiError> {
    let v = match route {
        Route::Lifecycle { .. } => unreachable!("lifecycle actions are handled by the connection"),
        Route::CompletionStatus { pipeline } => completion_status(shard, pipeline, target)?,
        Route::Stats { pipeline } => stats(pipeline_rt(shard, pipeline)?),
        Route::Pipeline { pipeline } => descriptor(pipeline_rt(shard, pipeline)?),
        Route::Pipelines => Value::Array(shard.reg.pipelines.iter().map(descriptor).collect()),
        Route::Config => json!({
            "version": env!("CARGO_PKG_VERSION"),
            "edition": "Open source",
            "revision": "sluice",
            "changelog_url": null,
            "license_validity": null,
            "update_info": null,
            "telemetry": null,
        }),
        Route::Healthz => json!({ "status": "healthy", "all_healthy": true }),
        Route::Ingress { .. } | Route::Egress { .. } | Route::Metrics { .. } => {
            unreachable!("ingress and egress are handled by the connection")
        }
    };
    Ok((
        200,
        serde_json::to_vec(&v).expect("JSON values always serialize"),
    ))
}

/// `start[?initial=running|paused]`, `pause`, `resume`, `stop`, and
/// `dismiss_error` (there are no deployment errors to dismiss: a no-op).
pub async fn lifecycle(
    shard: &Shard,
    pipeline: &str,
    action: &str,
    target: &Target,
) -> Result<(), ApiError> {
    let reg = &shard.reg;
    let pi = reg
        .pipeline_index(pipeline)
        .ok_or_else(|| ApiError::UnknownPipeline {
            pipeline: pipeline.into(),
        })?;
    let now = reg.pipelines[pi].state.get();
    let illegal = |why: &str| ApiError::IllegalAction {
        action: action.into(),
        why: why.into(),
    };
    let to = match action {
        "start" => match target.param("initial").ok().flatten() {
            None | Some("running") => State::Running,
            Some("paused") => State::Paused,
            Some(v) => return Err(illegal(&format!("unknown initial state {v:?}"))),
        },
        "pause" if now == State::Stopped => return Err(illegal("the pipeline is stopped")),
        "pause" => State::Paused,
        "resume" if now == State::Stopped => return Err(illegal("the pipeline is stopped")),
        "resume" => State::Running,
        "stop" => State::Stopped,
        _ => return Ok(()),
    };
    let mut saved = Ok(());
    if to != now {
        let (reg, dir) = (reg.clone(), shard.cfg.data_dir.clone());
        saved = glommio::executor()
            .spawn_blocking(move || lifecycle::change(&reg, pi, to, &dir))
            .await
            .map_err(|e| ApiError::StateNotSaved { why: e.to_string() });
        tracing::info!(
            pipeline,
            from = now.name(),
            to = to.name(),
            "pipeline state changed"
        );
    }
    // The barrier (`lifecycle::Senders`), also when the state was already
    // this one (a repeated pause must not return before the first one's
    // senders are done) and when saving failed (the state applies anyway).
    // A hand-over gives up after backpressure_wait_ms, so the wait ends by
    // then.
    if to != State::Running {
        let wait = shard.cfg.ingest.backpressure_wait_ms + 1000;
        let senders = &shard.reg.pipelines[pi].senders;
        let within = std::time::Duration::from_millis(wait);
        if !senders.drained(to == State::Stopped, within).await {
            tracing::warn!(
                pipeline,
                waited_ms = wait,
                "batches still being handed over after the state change"
            );
        }
    }
    saved
}

pub fn pipeline_rt<'s>(shard: &'s Shard, name: &str) -> Result<&'s PipelineRt, ApiError> {
    shard
        .reg
        .pipeline_index(name)
        .map(|i| &shard.reg.pipelines[i])
        .ok_or_else(|| ApiError::UnknownPipeline {
            pipeline: name.into(),
        })
}

/// A token is complete when its lane's watermark reaches its position. Any
/// shard answers: watermarks are atomics the owners publish.
fn completion_status(shard: &Shard, pipeline: &str, target: &Target) -> Result<Value, ApiError> {
    let p = pipeline_rt(shard, pipeline)?;
    let text = target
        .param("token")
        .map_err(|_| ApiError::InvalidToken {
            token: "(given more than once)".into(),
        })?
        .unwrap_or("");
    let invalid = || ApiError::InvalidToken { token: text.into() };
    let token = Token::decode(text).map_err(|_| invalid())?;
    if token.pipeline_id != p.id {
        return Err(ApiError::TokenGone { token: text.into() });
    }
    if token.run_id != shard.reg.run_id {
        return past_run_status(shard, &token, text);
    }
    let t = p.tables.get(token.table as usize).ok_or_else(invalid)?;
    if token.lane as usize >= t.lanes.len() {
        return Err(invalid());
    }
    let complete = t.lanes.covers(token.lane as usize, token.position);
    // Read after the lane: a complete token's rows are in a step at or
    // below this one, which change streams count in (`processed_steps`).
    let step = get(&t.owner_stats.steps);
    Ok(json!({
        "status": if complete { "complete" } else { "inprogress" },
        "step": step,
    }))
}

/// A token of an earlier run: complete if the log held its rows when that
/// run ended, lost (410) if not; unknown runs are 410 as well.
fn past_run_status(shard: &Shard, token: &Token, text: &str) -> Result<Value, ApiError> {
    let run = shard.reg.past_runs.get().and_then(|r| r.get(&token.run_id));
    let Some(run) = run else {
        return Err(ApiError::TokenGone { token: text.into() });
    };
    let logged = run
        .get(&(token.pipeline_id, token.table, token.lane))
        .copied()
        .unwrap_or(0);
    if token.position <= logged {
        // Its rows predate this run's steps: any listener has passed them.
        Ok(json!({ "status": "complete", "step": 0 }))
    } else {
        Err(ApiError::TokenLost { token: text.into() })
    }
}

fn table_stats(t: &TableRt) -> Value {
    let sum = |f: fn(&crate::shard::LaneStats) -> u64| -> u64 { t.lane_stats.iter().map(f).sum() };
    let sent = sum(|l| get(&l.batches_sent));
    let applied = get(&t.owner_stats.batches_applied);
    let records = sum(|l| get(&l.records));
    let processed = t.lanes.total();
    json!({
        "endpoint_name": t.table.ident.name,
        "owner_shard": t.owner,
        "total_requests": sum(|l| get(&l.requests)),
        "total_bytes": sum(|l| get(&l.bytes)),
        "total_records": records,
        "num_parse_errors": sum(|l| get(&l.parse_errors)),
        "buffered_batches": sent.saturating_sub(applied),
        "buffered_records": records.saturating_sub(processed),
        "processed_records": processed,
        "applied_records": get(&t.owner_stats.records_applied),
        "applied_batches": applied,
        "stored_bytes": get(&t.owner_stats.stored_bytes),
        "stored_batches": get(&t.owner_stats.stored_batches),
        "evicted_batches": get(&t.owner_stats.evicted_batches),
        "watermark": (0..t.lanes.len()).map(|l| t.lanes.applied(l)).collect::<Vec<_>>(),
    })
}

fn stats(p: &PipelineRt) -> Value {
    let inputs: Vec<Value> = p.tables.iter().map(table_stats).collect();
    let total = |k: &str| -> u64 { inputs.iter().map(|i| i[k].as_u64().unwrap_or(0)).sum() };
    json!({
        "global_metrics": {
            "state": p.state.get().name(),
            "total_input_records": total("total_records"),
            "total_input_bytes": total("total_bytes"),
            "total_processed_records": total("processed_records"),
            "buffered_input_records": total("buffered_records"),
            "num_parse_errors": total("num_parse_errors"),
        },
        "inputs": inputs,
    })
}

fn descriptor(p: &PipelineRt) -> Value {
    let tables: Vec<Value> = p
        .tables
        .iter()
        .map(|t| {
            let fields: Vec<Value> = t
                .table
                .columns
                .iter()
                .map(|c| {
                    json!({
                        "name": c.ident.name,
                        "case_sensitive": c.ident.quoted,
                        "columntype": { "type": c.sql_type.sql_name(), "nullable": c.nullable },
                    })
                })
                .collect();
            json!({
                "name": t.table.ident.name,
                "case_sensitive": t.table.ident.quoted,
                "fields": fields,
                "materialized": false,
            })
        })
        .collect();
    json!({
        "name": p.name,
        "deployment_status": p.state.get().name(),
        "deployment_desired_status": p.state.get().name(),
        "program_status": "Success",
        "program_info": { "schema": { "inputs": tables, "outputs": [] } },
    })
}
