//! Memory per connected WebSocket peer of a running gateway.
//!
//! `cargo run --release -p icn-tests --bin icn-bench-ws -- --gateway ws://127.0.0.1:8080/ws --pid PID --peers 1000`
//! joins PEERS native peers (each proves its key, gets a certified position
//! and joins the ring), lets them idle, and reads the gateway's resident
//! memory from /proc/PID/status before and after. Prints one JSON line.

use std::time::{Duration, Instant};

use clap::Parser;
use ed25519_dalek::SigningKey;
use icn_core::node::Config;
use icn_gateway::peer::Peer;
use icn_gateway::swarm::rss_kb;

/// Measure a gateway's memory per idle WebSocket peer.
#[derive(Debug, Parser)]
#[command(name = "icn-bench-ws", version, about)]
struct Args {
    /// The gateway's WebSocket URL.
    #[arg(long)]
    gateway: String,
    /// The gateway's process id (its memory is read from /proc).
    #[arg(long)]
    pid: u32,
    /// Peers to connect.
    #[arg(long, default_value_t = 1000)]
    peers: usize,
    /// Seconds to let the peers idle before measuring.
    #[arg(long, default_value_t = 20)]
    idle: u64,
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    let before = rss_kb(&a.pid.to_string());
    let start = Instant::now();
    let mut peers = Vec::with_capacity(a.peers);
    for i in 0..a.peers {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        // Idle peers: slow maintenance, as a browser tab in the background.
        let cfg = Config {
            seed: i as u64,
            stabilize_ms: 30_000,
            fix_fingers_ms: 60_000,
            check_predecessor_ms: 30_000,
            sync_ms: 120_000,
            ..Config::default()
        };
        match Peer::join(&a.gateway, SigningKey::from_bytes(&seed), cfg).await {
            Ok(p) => peers.push(p),
            Err(e) => {
                eprintln!("error: peer {i}: {e}");
                std::process::exit(1);
            }
        }
    }
    let join_s = start.elapsed().as_secs_f64();
    eprintln!(
        "{} peers connected in {join_s:.1}s; idling {}s",
        peers.len(),
        a.idle
    );
    tokio::time::sleep(Duration::from_secs(a.idle)).await;
    let after = rss_kb(&a.pid.to_string());
    let per_peer = (after.saturating_sub(before) * 1024) as f64 / peers.len().max(1) as f64;
    println!(
        "{{\"peers\":{},\"rss_before_kb\":{before},\"rss_after_kb\":{after},\"bytes_per_peer\":{:.0},\"join_seconds\":{join_s:.2}}}",
        peers.len(),
        per_peer
    );
}
