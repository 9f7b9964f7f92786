//! The server side of a shard: accepting connections, the per-connection
//! HTTP loop, routing and the endpoints. The framing and decoding it drives
//! live in `http/` and `decode/`, which know nothing of sockets.

mod conn;
pub mod egress;
mod endpoints;
mod ingress;
mod metrics;
mod routes;
pub mod transport;

use std::rc::Rc;

use glommio::net::TcpListener;

use crate::shard::metrics::ShardMetrics;
use crate::shard::Shard;

/// Resolves once a graceful stop has begun (polled: a stop is rare and a
/// few milliseconds late is fine).
async fn stopped(shard: &Shard) {
    while !shard
        .reg
        .stopping
        .load(std::sync::atomic::Ordering::Acquire)
    {
        glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Accept connections, one task each, up to the per-shard cap, until a
/// graceful stop.
pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        let next = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            stopped(&shard).await;
            None
        });
        // A graceful stop: return, and the listener closes with us.
        let Some(accepted) = next.await else {
            return;
        };
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                tracing::warn!(shard = shard.id, error = %e, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let shard = shard.clone();
        glommio::spawn_local(async move {
            // Only served connections count toward the cap: a refused one
            // lingers briefly on a small buffer and must not keep the slot
            // that a closing client just gave back.
            if shard.connections.get() >= shard.cfg.http.connections_per_shard_max {
                conn::refuse(&shard, stream).await;
                return;
            }
            let gauge = &shard.reg.shard_metrics[shard.id].connections;
            shard.connections.set(shard.connections.get() + 1);
            ShardMetrics::set(gauge, shard.connections.get() as u64);
            let listen = conn::serve(&shard, stream).await;
            shard.connections.set(shard.connections.get() - 1);
            ShardMetrics::set(gauge, shard.connections.get() as u64);
            if let Some((stream, params)) = listen {
                egress::hand_off(&shard, stream, params).await;
            }
        })
        .detach();
    }
}
