//! `icn-attack`: runs one attack of spec/security.md against a running
//! gateway for a while, with an honest native peer getting a name through
//! the ring and over HTTP all along, and prints one JSON line: the
//! gateway's resident memory (sampled from `/proc/<pid>`), its bounds'
//! counters from `/metrics`, and how many honest gets succeeded.
//!
//! `scripts/bench-attacks.sh` starts a gateway per attack and runs this.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use ed25519_dalek::SigningKey;
use icn_core::node::Config;
use icn_gateway::peer::Peer;
use icn_tests::attack::{self, Attacker};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Attack {
    /// Valid blocks pushed as replicas to the gateway's node, as fast as
    /// the connection takes them.
    StoreFlood,
    /// A client that never reads, and another that has the gateway relay
    /// to it at full budget; a new pair whenever the sink is disconnected.
    NeverRead,
    /// Joins from one address as fast as they are admitted, kept mute.
    JoinFlood,
    /// A manifest declaring 16 GiB, asked for over HTTP again and again.
    Manifest,
    /// Blocks and objects put over HTTP until the store refuses, and on.
    DiskFill,
}

#[derive(Debug, Parser)]
#[command(about = "Run one attack against a gateway while an honest peer gets a name")]
struct Args {
    /// The gateway (http://host:port).
    #[arg(long)]
    url: String,
    /// The gateway's process id, for its resident memory.
    #[arg(long)]
    pid: u32,
    /// Which attack.
    #[arg(long, value_enum)]
    attack: Attack,
    /// How long, in seconds.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
}

fn http(method: &str, url: &str, body: &[u8]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into();
    let r = match method {
        "PUT" => agent.put(url).send(body),
        _ => agent.get(url).call(),
    };
    r.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// The attack, until `until`.
async fn attack(a: Attack, url: String, ws: String, until: Instant) {
    let mut n: u64 = 0;
    while Instant::now() < until {
        n += 1;
        match a {
            Attack::StoreFlood => {
                let Ok(mut c) = Attacker::join(&ws, &SigningKey::from_bytes(&[66; 32])).await
                else {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                };
                let mut i = n * 1_000_000;
                while Instant::now() < until {
                    let blocks = attack::blocks(i, 16, 32 * 1024);
                    i += 16;
                    if !c.ring(&attack::store_messages(&blocks)[0]).await {
                        break;
                    }
                }
            }
            Attack::NeverRead => {
                let k = |b: u8| SigningKey::from_bytes(&[b.wrapping_add(n as u8); 32]);
                let (Ok(sink), Ok(mut source)) = (
                    Attacker::join(&ws, &k(70)).await,
                    Attacker::join(&ws, &k(140)).await,
                ) else {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                };
                while Instant::now() < until && source.relay(sink.id, vec![7; 256 * 1024]).await {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if attack::metrics(&url)
                        .get("icn_disconnected_total")
                        .copied()
                        .unwrap_or(0)
                        >= n
                    {
                        break;
                    }
                }
            }
            Attack::JoinFlood => {
                let mut held = Vec::new();
                for i in 0..200u64 {
                    let mut seed = [0u8; 32];
                    seed[..8].copy_from_slice(&(n * 1000 + i).to_be_bytes());
                    if let Ok(a) = Attacker::join(&ws, &SigningKey::from_bytes(&seed)).await {
                        held.push(a);
                    }
                    if Instant::now() >= until {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Attack::Manifest => {
                let k = SigningKey::from_bytes(&[90; 32]);
                let huge = attack::oversized_manifest(&k, "/huge");
                let Ok(liar) = Peer::join(&ws, k, Config::default()).await else {
                    continue;
                };
                let _ = liar.publish(huge.clone()).await;
                let u = format!("{url}/icn{}", huge.name().to_uri());
                while Instant::now() < until {
                    let u = u.clone();
                    let _ = tokio::task::spawn_blocking(move || http("GET", &u, b"")).await;
                }
            }
            Attack::DiskFill => {
                let b = attack::blocks(n, 1, 1024 * 1024).remove(0);
                let u = format!("{url}/block/{}", b.hash().to_hex());
                let _ = tokio::task::spawn_blocking(move || http("PUT", &u, b.bytes())).await;
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let url = args.url.trim_end_matches('/').to_string();
    let ws = format!("{}/ws", url.replacen("http", "ws", 1));
    let key = SigningKey::from_bytes(&[1; 32]);
    let honest = Peer::join(&ws, key.clone(), Config::default())
        .await
        .expect("the honest peer joins");
    let o = attack::object(&key, "/honest", b"still here");
    let start = Instant::now();
    while honest.publish(o.clone()).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "cannot publish");
    }
    let get_url = format!("{url}/icn{}", o.name().to_uri());
    assert_eq!(http("PUT", &get_url, o.encoded()), 201, "cannot pin");
    let rss_start = attack::rss(args.pid);
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let attacker = tokio::spawn(attack(args.attack, url.clone(), ws.clone(), until));
    let (mut ring_ok, mut ring_failed, mut http_ok, mut http_failed) = (0u64, 0u64, 0u64, 0u64);
    let mut rss_max = rss_start;
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_secs(10), honest.get(o.name())).await {
            Ok(Ok(got)) if got == o => ring_ok += 1,
            _ => ring_failed += 1,
        }
        let u = get_url.clone();
        match tokio::task::spawn_blocking(move || http("GET", &u, b"")).await {
            Ok(200) => http_ok += 1,
            _ => http_failed += 1,
        }
        rss_max = rss_max.max(attack::rss(args.pid));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    attacker.abort();
    let m = attack::metrics(&url);
    let metric = |k: &str| m.get(k).copied().unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "attack": format!("{:?}", args.attack),
            "seconds": args.seconds,
            "rss_start": rss_start,
            "rss_max": rss_max,
            "rss_end": attack::rss(args.pid),
            "ring_gets_ok": ring_ok,
            "ring_gets_failed": ring_failed,
            "http_gets_ok": http_ok,
            "http_gets_failed": http_failed,
            "node_store_bytes": metric("icn_node_store_bytes"),
            "node_refused": metric("icn_node_refused_total"),
            "ring_dropped": metric("icn_ring_dropped_total"),
            "disconnected": metric("icn_disconnected_total"),
            "joins_refused": metric("icn_joins_refused_total"),
            "pinned_bytes": metric("icn_pinned_bytes"),
        })
    );
}
