//! STUN Binding answers per second of a running gateway.
//!
//! `cargo run --release -p icn-tests --bin icn-bench-stun -- --server 127.0.0.1:8080 --clients 32 --seconds 10`
//! runs CLIENTS UDP sockets, each asking the server one Binding request at a
//! time (a new one as soon as the answer came, or after 200 ms without one)
//! for SECONDS, checks every answer names the socket's own address, and
//! prints one JSON line: answers per second, lost requests, round-trip p50
//! and p99 in µs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use stun_types::attribute::XorMappedAddress;
use stun_types::message::{Message, MessageWrite, MessageWriteExt, MessageWriteVec, BINDING};

/// Measure a STUN server's Binding answers per second.
#[derive(Debug, Parser)]
#[command(name = "icn-bench-stun", version, about)]
struct Args {
    /// The server's UDP address.
    #[arg(long)]
    server: SocketAddr,
    /// Concurrent client sockets (1 to 1024).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds to run (1 to 600).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// What one client counted.
#[derive(Default)]
struct Tally {
    answers: u64,
    lost: u64,
    wrong: u64,
    rtt_us: Vec<u32>,
}

async fn client(server: SocketAddr, until: Instant) -> std::io::Result<Tally> {
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => "0.0.0.0:0",
        SocketAddr::V6(_) => "[::]:0",
    }
    .parse()
    .map_err(std::io::Error::other)?;
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    socket.connect(server).await?;
    let me = socket.local_addr()?;
    let mut t = Tally::default();
    let mut buf = [0u8; 512];
    while Instant::now() < until {
        let request = Message::builder_request(BINDING, MessageWriteVec::new());
        let tid = request.transaction_id();
        let sent = Instant::now();
        socket.send(&request.finish()).await?;
        let answered = tokio::time::timeout(Duration::from_millis(200), async {
            loop {
                let n = socket.recv(&mut buf).await?;
                let Ok(m) = Message::from_bytes(&buf[..n]) else {
                    continue;
                };
                if m.transaction_id() == tid {
                    let mapped = m.attribute::<XorMappedAddress>().ok().map(|a| a.addr(tid));
                    // Loopback or the interface toward the server: the port must be ours.
                    return Ok::<bool, std::io::Error>(
                        mapped.is_some_and(|a| a.port() == me.port()),
                    );
                }
            }
        })
        .await;
        match answered {
            Ok(Ok(true)) => {
                t.answers += 1;
                t.rtt_us
                    .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            Ok(Ok(false)) => t.wrong += 1,
            Ok(Err(e)) => return Err(e),
            Err(_) => t.lost += 1,
        }
    }
    Ok(t)
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    if !(1..=1024).contains(&a.clients) || !(1..=600).contains(&a.seconds) {
        eprintln!("error: --clients must be 1..=1024 and --seconds 1..=600");
        std::process::exit(2);
    }
    let start = Instant::now();
    let until = start + Duration::from_secs(a.seconds);
    let tasks: Vec<_> = (0..a.clients)
        .map(|_| tokio::spawn(client(a.server, until)))
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        match task.await {
            Ok(Ok(t)) => {
                all.answers += t.answers;
                all.lost += t.lost;
                all.wrong += t.wrong;
                all.rtt_us.extend(t.rtt_us);
            }
            Ok(Err(e)) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    all.rtt_us.sort_unstable();
    let pct = |q: f64| {
        all.rtt_us
            .get(((all.rtt_us.len() as f64 * q) as usize).min(all.rtt_us.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"clients\":{},\"seconds\":{secs:.2},\"answers\":{},\"answers_per_second\":{:.0},\"lost\":{},\"wrong\":{},\"rtt_us_p50\":{},\"rtt_us_p99\":{}}}",
        a.clients,
        all.answers,
        all.answers as f64 / secs,
        all.lost,
        all.wrong,
        pct(0.5),
        pct(0.99)
    );
    if all.wrong > 0 {
        std::process::exit(1);
    }
}
