//! The server side of a shard: accepting connections, the per-connection
//! HTTP loop, routing and the endpoints. The framing and decoding it drives
//! live in `http/` and `decode/`, which know nothing of sockets.

mod conn;
pub mod egress;
mod endpoints;
mod ingress;
mod routes;

use std::rc::Rc;

use glommio::net::TcpListener;

use crate::shard::Shard;

/// Accept connections forever, one task each, up to the per-shard cap.
pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                eprintln!("shard {}: accept failed: {e}", shard.id);
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
            shard.connections.set(shard.connections.get() + 1);
            let listen = conn::serve(&shard, stream).await;
            shard.connections.set(shard.connections.get() - 1);
            if let Some((stream, params)) = listen {
                egress::hand_off(&shard, stream, params).await;
            }
        })
        .detach();
    }
}
