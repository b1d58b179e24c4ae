//! Hostile peers against a real gateway (the `icn` binary) with honest
//! native peers: each attack of spec/security.md that the gateway bounds
//! is run, and the test checks that the gateway's memory stays within its
//! bound (its `/metrics` and its resident size), that the attacker is
//! refused or disconnected with a reason, and that honest gets go on
//! succeeding.
//!
//! The gateway binary is the one `cargo test --workspace` builds for
//! icn-gateway's own tests, beside this test's executable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use icn_core::node::Config;
use icn_core::wire::{Body, Message};
use icn_core::RingId;
use icn_core::{Name, SignedObject};
use icn_gateway::peer::Peer;
use icn_tests::attack::{self, Attacker};

/// The gateway's resident memory may grow this much under an attack: its
/// queues, stores and buffers are bounded well below it.
const RSS_SLACK: u64 = 64 * 1024 * 1024;

struct Gateway {
    child: Child,
    http: String,
    _dir: tempfile::TempDir,
}

/// Where a gateway's log goes: `$ICN_TEST_LOG_DIR/attack-<pid>.log` when
/// that is set, nowhere otherwise.
fn log(extra: &[&str]) -> Stdio {
    match std::env::var_os("ICN_TEST_LOG_DIR") {
        Some(dir) => {
            let name = format!("attack{}.log", extra.join("").replace(['-', '/'], ""));
            Stdio::from(std::fs::File::create(PathBuf::from(dir).join(name)).unwrap())
        }
        None => Stdio::null(),
    }
}

impl Gateway {
    fn start(extra: &[&str]) -> Gateway {
        let exe = std::env::current_exe().unwrap();
        let bin: PathBuf = exe.parent().unwrap().parent().unwrap().join("icn");
        assert!(
            bin.exists(),
            "{} is missing: `cargo build -p icn-gateway` (cargo test --workspace builds it)",
            bin.display()
        );
        let dir = tempfile::TempDir::new().unwrap();
        let mut child = Command::new(bin)
            .args([
                "gateway",
                "--listen",
                "127.0.0.1:0",
                "--lookup-timeout",
                "5",
            ])
            .arg("--data")
            .arg(dir.path().join("data"))
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log(extra))
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let http = line.trim().rsplit(' ').next().unwrap().to_string();
        Gateway {
            child,
            http,
            _dir: dir,
        }
    }

    fn ws(&self) -> String {
        format!("{}/ws", self.http.replace("http://", "ws://"))
    }

    fn rss(&self) -> u64 {
        attack::rss(self.child.id())
    }

    fn metric(&self, name: &str) -> u64 {
        attack::metrics(&self.http)
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }

    /// Status and body of `GET /icn<name>`.
    fn get(&self, name: &Name) -> (u16, Vec<u8>) {
        http_get(&self.http, name)
    }
}

/// Status and body of `GET /icn<name>` from the gateway at `http`.
fn http_get(http: &str, name: &Name) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{http}/icn{}", name.to_uri());
    let mut r = agent.get(&url).call().unwrap();
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    (status, body)
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// `PUT` of `body` at `path` on the gateway: the status and the JSON
/// error code, if any.
fn put(gw: &Gateway, path: &str, body: &[u8]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.put(&format!("{}{path}", gw.http)).send(body).unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    let code = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_default();
    (status, code)
}

/// An honest peer that published one object; the object.
async fn honest(gw: &Gateway, n: u8) -> (Peer, SignedObject) {
    let p = Peer::join(&gw.ws(), key(n), Config::default())
        .await
        .unwrap();
    let o = attack::object(&key(n), "/honest", b"still here");
    let start = Instant::now();
    while let Err(e) = p.publish(o.clone()).await {
        assert!(start.elapsed() < Duration::from_secs(20), "publish: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (p, o)
}

/// The honest peer and the gateway's HTTP side both still get `o`.
async fn honest_gets_succeed(gw: &Gateway, p: &Peer, o: &SignedObject) {
    assert_eq!(p.get(o.name()).await.unwrap(), *o);
    let (status, body) = gw.get(o.name());
    assert_eq!(status, 200);
    assert_eq!(body, b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_flooding_is_held_to_the_ring_store_bound() {
    const BOUND: u64 = 4 * 1024 * 1024;
    let gw = Gateway::start(&["--ring-store", &BOUND.to_string()]);
    let (p, o) = honest(&gw, 1).await;
    let rss = gw.rss();
    let mut a = Attacker::join(&gw.ws(), &key(66)).await.unwrap();
    // 20 MiB of valid blocks, five times the bound, pushed as replicas.
    let flood = attack::blocks(0, 640, 32 * 1024);
    assert!(a.store_paced(&flood).await, "disconnected while flooding");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stored = gw.metric("icn_node_store_bytes");
    let refused = gw.metric("icn_node_refused_total");
    println!("ring store: {stored} bytes (bound {BOUND}), {refused} items refused");
    assert!(stored <= BOUND, "{stored} bytes stored, bound {BOUND}");
    assert!(refused > 0, "nothing refused");
    assert!(gw.rss() < rss + RSS_SLACK, "{} -> {}", rss, gw.rss());
    honest_gets_succeed(&gw, &p, &o).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_disconnected() {
    let gw = Gateway::start(&[]);
    let (p, o) = honest(&gw, 2).await;
    let rss = gw.rss();
    // `sink` never reads; `source` has the gateway relay to it as fast as
    // its relay budget allows.
    let sink = Attacker::join(&gw.ws(), &key(70)).await.unwrap();
    let mut source = Attacker::join(&gw.ws(), &key(71)).await.unwrap();
    let before = gw.metric("icn_disconnected_total");
    let start = Instant::now();
    let mut peak = 0;
    while gw.metric("icn_disconnected_total") == before {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the sink is still connected after a minute"
        );
        for _ in 0..4 {
            source.relay(sink.id, vec![7; 256 * 1024]).await;
        }
        peak = peak.max(gw.rss());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "sink disconnected after {:?}; gateway RSS {} -> peak {} bytes",
        start.elapsed(),
        rss,
        peak
    );
    assert!(peak < rss + RSS_SLACK, "{rss} -> {peak}");
    honest_gets_succeed(&gw, &p, &o).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_from_one_address_and_one_key_are_limited() {
    let gw = Gateway::start(&["--joins-per-addr", "20"]);
    // One address asks for 40 joins at once: 20 get in this second.
    let mut held = Vec::new();
    let mut refused = 0;
    for i in 0..40u8 {
        match Attacker::join(&gw.ws(), &key(100 + i)).await {
            Ok(a) => held.push(a),
            Err(e) if e.to_string().contains("join-rate") => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    println!("{} joins admitted, {refused} refused", held.len());
    assert!(refused >= 20, "{refused} refused");
    // One key connects again and again: at most 4 at once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut same = Vec::new();
    let mut why = None;
    for _ in 0..5 {
        match Attacker::join(&gw.ws(), &key(200)).await {
            Ok(a) => same.push(a),
            Err(e) => why = Some(e.to_string()),
        }
    }
    assert_eq!(same.len(), 4);
    assert!(
        why.as_deref()
            .is_some_and(|w| w.contains("too-many-connections-of-key")),
        "{why:?}"
    );
    assert!(gw.metric("icn_joins_refused_total") >= 21);
    // An honest newcomer from the same address, a second later, gets in and
    // is served, with the 24 admitted attackers still linked and mute (a
    // gateway alone once took mute clients for its successors).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (p, o) = honest(&gw, 3).await;
    honest_gets_succeed(&gw, &p, &o).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_manifest_does_not_take_the_gateways_memory() {
    let gw = Gateway::start(&[]);
    let (p, o) = honest(&gw, 4).await;
    // A validly signed object declaring 16 GiB in blocks nobody has,
    // published through the ring (which checks no blocks).
    let k = key(90);
    let liar = Peer::join(&gw.ws(), k.clone(), Config::default())
        .await
        .unwrap();
    let huge = attack::oversized_manifest(&k, "/huge");
    liar.publish(huge.clone()).await.unwrap();
    let rss = gw.rss();
    let (status, body) = gw.get(huge.name());
    println!(
        "GET of a 16 GiB manifest: HTTP {status}, {} bytes",
        body.len()
    );
    assert!(status >= 400, "HTTP {status}");
    assert!(gw.rss() < rss + RSS_SLACK, "{} -> {}", rss, gw.rss());
    honest_gets_succeed(&gw, &p, &o).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_filling_publisher_meets_its_quota_and_the_store_its_bound() {
    const QUOTA: u64 = 256 * 1024;
    const MAX: u64 = 1024 * 1024;
    let gw = Gateway::start(&[
        "--quota",
        &QUOTA.to_string(),
        "--max-store",
        &MAX.to_string(),
    ]);
    let (p, o) = honest(&gw, 5).await;
    assert_eq!(
        put(&gw, &format!("/icn{}", o.name().to_uri()), o.encoded()).0,
        201
    );
    // One publisher: objects of 40 KB until it is refused.
    let k = key(91);
    let mut last = (0, String::new());
    for i in 0..20 {
        let big = attack::object(&k, &format!("/fill/{i}"), &vec![b'x'; 40_000]);
        last = put(&gw, &format!("/icn{}", big.name().to_uri()), big.encoded());
        if last.0 != 201 {
            break;
        }
    }
    assert_eq!(last, (429, "quota".to_string()));
    // Many publishers, or blocks nobody's object names: the whole store's
    // bound holds.
    let mut refused = (0, String::new());
    for b in attack::blocks(1_000_000, 40, 64 * 1024) {
        refused = put(&gw, &format!("/block/{}", b.hash().to_hex()), b.bytes());
        if refused.0 != 201 {
            break;
        }
    }
    assert_eq!(refused, (507, "store-full".to_string()));
    let pinned = gw.metric("icn_pinned_bytes");
    println!("pinned store: {pinned} bytes (bound {MAX}, quota {QUOTA})");
    assert!(pinned <= MAX, "{pinned} bytes pinned");
    honest_gets_succeed(&gw, &p, &o).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replies_with_guessed_ids_are_not_taken() {
    let gw = Gateway::start(&[]);
    let (p, o) = honest(&gw, 3).await;
    let mut a = Attacker::join(&gw.ws(), &key(72)).await.unwrap();
    // The gateway has not pinned `o`: each HTTP get is a ring request of
    // the gateway's node, and a forged "not found" taken for its answer
    // would be a 404.
    let (http, name) = (gw.http.clone(), o.name().clone());
    let gets = tokio::task::spawn_blocking(move || {
        (0..40)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(150));
                http_get(&http, &name)
            })
            .collect::<Vec<_>>()
    });
    let mut forged = 0u64;
    while !gets.is_finished() {
        // About 2,500 a second, within the client's ring budget, so that
        // they reach the node. Half go to the gateway's node, half through
        // it to the honest peer.
        for _ in 0..100 {
            let body = match forged % 3 {
                0 => Body::GetReply {
                    item: None,
                    hops: 1,
                },
                1 => Body::PutReply {
                    error: Some("full".into()),
                    hops: 1,
                },
                _ => Body::Successor {
                    node: a.id,
                    successors: vec![a.id],
                },
            };
            let to = if forged % 4 < 2 { a.gateway } else { p.id() };
            let from = if to == a.gateway { p.id() } else { a.gateway };
            let m = attack::forged_reply(to, from, attack::guessed_id(forged / 4), body);
            assert!(a.ring(&m).await, "disconnected while forging");
            forged += 1;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let answers = gets.await.unwrap();
    let wrong = answers
        .iter()
        .filter(|(status, body)| *status != 200 || body != b"still here")
        .count();
    println!(
        "{forged} forged replies; {} gateway gets, {wrong} wrong",
        answers.len()
    );
    assert_eq!(wrong, 0, "a forged reply was taken: {answers:?}");
    honest_gets_succeed(&gw, &p, &o).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_and_wants_are_answered_within_the_answer_budget() {
    let budget = icn_gateway::gateway::limits::Limits::default()
        .node_limits()
        .answer_bytes as u64;
    let gw = Gateway::start(&[]);
    let (p, o) = honest(&gw, 4).await;
    let rss = gw.rss();
    let mut a = Attacker::join(&gw.ws(), &key(73)).await.unwrap();
    // 12 MiB of items the gateway's node keeps (alone with the honest
    // peer, its arc is the whole ring), three periods' budget.
    let items = attack::blocks(1_000, 384, 32 * 1024);
    assert!(a.store_paced(&items).await, "disconnected while storing");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        gw.metric("icn_node_store_bytes") > budget,
        "the items were not kept"
    );
    // Twenty requests of everything: ten digests of almost the whole ring
    // that list nothing, and ten wants of every key.
    let keys: Vec<RingId> = items.iter().map(|b| RingId::from_hash(b.hash())).collect();
    let mut asked = 0u64;
    for _ in 0..10 {
        let digest = Message::Digest {
            start: RingId([0; 32]),
            end: RingId([0xff; 32]),
            entries: Vec::new(),
        };
        let want = Message::Want { keys: keys.clone() };
        for m in [digest, want] {
            asked += m.encode().len() as u64;
            assert!(a.ring(&m).await);
        }
    }
    let (received, open) = a.received_within(Duration::from_secs(6)).await;
    println!(
        "asked with {asked} bytes, received {received} bytes (budget {budget} per period), \
         connection open: {open}; gateway RSS {rss} -> {}",
        gw.rss()
    );
    // One period's budget, or two if a period ended meanwhile; without a
    // budget it would be twenty times the 12 MiB kept.
    assert!(
        received <= 2 * budget + (1 << 20),
        "{received} bytes answered"
    );
    assert!(received >= budget / 2, "only {received} bytes answered");
    assert!(open, "a client reading its answers was disconnected");
    assert!(gw.rss() < rss + RSS_SLACK, "{} -> {}", rss, gw.rss());
    honest_gets_succeed(&gw, &p, &o).await;
}
