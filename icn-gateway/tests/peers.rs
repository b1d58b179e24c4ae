//! A gateway and 16 native peers form one ring over WebRTC DataChannels
//! (relayed by the gateway until they are up), and carry on without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use icn_core::node::Config;
use icn_core::{ContentObject, Name, Payload, PublisherId, RingId, SignedObject};
use icn_gateway::peer::{Peer, Transport};

struct Gw(Child, String);

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_gateway(data: &std::path::Path) -> Gw {
    start_gateway_with(data, &[])
}

/// Where a gateway's log goes: `$ICN_TEST_LOG_DIR/<data dir name>.log` when
/// that is set (with `RUST_LOG` passed on), nowhere otherwise.
fn gateway_log(data: &std::path::Path) -> Stdio {
    match std::env::var_os("ICN_TEST_LOG_DIR") {
        Some(dir) => {
            let name = data.file_name().unwrap_or_default().to_string_lossy();
            let path = std::path::Path::new(&dir).join(format!("{name}.log"));
            Stdio::from(std::fs::File::create(path).unwrap())
        }
        None => Stdio::null(),
    }
}

/// With `ICN_TEST_LOG_DIR` set, this process's peers log to `peers.log` there
/// (filtered by `RUST_LOG`).
fn log_peers() {
    if let Some(dir) = std::env::var_os("ICN_TEST_LOG_DIR") {
        let file = std::fs::File::create(std::path::Path::new(&dir).join("peers.log")).unwrap();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init();
    }
}

fn start_gateway_with(data: &std::path::Path, extra: &[&str]) -> Gw {
    // `extra` may name the address (a restart on the same one).
    let listen: &[&str] = match extra.contains(&"--listen") {
        true => &[],
        false => &["--listen", "127.0.0.1:0"],
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_icn"))
        .args(["gateway", "--lookup-timeout", "5", "--data"])
        .arg(data)
        .args(listen)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(gateway_log(data))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    Gw(child, url)
}

/// `icn keygen --out path`: writes a key, returns its publisher id.
fn keygen(path: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_icn"))
        .args(["keygen", "--out"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn http_get(url: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(url).call().unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_vec().unwrap())
}

fn object(key: &SigningKey, path: &str, content: &[u8]) -> SignedObject {
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    let name = Name::parse(path)
        .unwrap()
        .prefixed(publisher.as_bytes())
        .unwrap();
    SignedObject::sign(
        ContentObject {
            name,
            version: 1,
            content_type: "text/plain".into(),
            created: 0,
            freshness: None,
            payload: Payload::Inline(content.to_vec()),
        },
        key,
    )
    .unwrap()
}

/// Gets `name` through `p`, retrying "not found" until `limit` passes.
async fn get_within(p: &Peer, name: &Name, limit: Duration) -> SignedObject {
    let start = Instant::now();
    loop {
        match p.get(name).await {
            Ok(o) => return o,
            Err(e) if start.elapsed() > limit => panic!("{name}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn wait_ring(peers: &[Peer], gw_url: &str) {
    wait_ring_over(peers, &[gw_url], "ring not formed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_native_peers_form_one_ring_over_webrtc_and_outlive_the_gateway() {
    let dir = tempfile::TempDir::new().unwrap();
    let gw = start_gateway(&dir.path().join("data"));
    let ws = format!("{}/ws", gw.1.replace("http://", "ws://"));
    let mut peers = Vec::new();
    for i in 0..16u8 {
        let key = SigningKey::from_bytes(&[i + 1; 32]);
        let cfg = Config {
            seed: u64::from(i),
            ..Config::default()
        };
        peers.push(Peer::join(&ws, key, cfg).await.unwrap());
    }
    wait_ring(&peers, &gw.1).await;

    // Published by a peer, read through the gateway's HTTP API.
    let alice = SigningKey::from_bytes(&[42; 32]);
    let mut published = Vec::new();
    for i in 0..12 {
        let o = object(
            &alice,
            &format!("/from-peers/{i}"),
            format!("peer content {i}").as_bytes(),
        );
        peers[i % peers.len()].publish(o.clone()).await.unwrap();
        published.push(o);
    }
    for o in &published {
        let (status, body) = http_get(&format!("{}/icn{}", gw.1, o.name()));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let Payload::Inline(c) = &o.object().payload else {
            unreachable!()
        };
        assert_eq!(&body, c);
    }

    // Published over HTTP, read by every peer.
    let raw = object(&alice, "/from-http", b"hello peers");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let put = agent
        .put(format!("{}/icn{}", gw.1, raw.name()))
        .send(raw.encoded())
        .unwrap();
    assert_eq!(put.status().as_u16(), 201);
    // 201 means pinned at the gateway; its ring copy follows.
    for p in &peers {
        let got = get_within(p, raw.name(), Duration::from_secs(10)).await;
        assert_eq!(got.hash(), raw.hash());
    }
    published.push(raw);

    // A peer leaves gracefully: its keys move on and nothing is lost.
    let leaver = peers.remove(5);
    leaver.leave().await;
    wait_ring(&peers, &gw.1).await;
    for o in &published {
        for p in [&peers[0], &peers[9]] {
            let got = p
                .get(o.name())
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", o.name()));
            assert_eq!(got.hash(), o.hash());
        }
    }
    let (_, body) = http_get(&format!("{}/api/ring", gw.1));
    let ring: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ring["ws_peers"], 15);
    assert!(
        ring["relayed"].as_u64().unwrap() > 0,
        "peers talked through the relay"
    );

    // Their links are DataChannels, not the gateway's relay.
    let start = Instant::now();
    loop {
        let mut webrtc = 0;
        let mut other = 0;
        for p in &peers {
            for (_, t) in p.links().await {
                if t == Transport::WebRtc {
                    webrtc += 1;
                } else {
                    other += 1;
                }
            }
        }
        if webrtc > 2 * other {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{webrtc} webrtc links against {other} others"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The gateway dies: the ring closes without it, and content is still
    // published and read (what it replicated lives on in the peers).
    drop(gw);
    let start = Instant::now();
    loop {
        let mut views = Vec::new();
        for p in &peers {
            views.push(p.status().await.unwrap());
        }
        let mut ids: Vec<RingId> = views.iter().map(|v| v.id).collect();
        ids.sort();
        let exact = views.iter().all(|v| {
            let i = ids.iter().position(|x| *x == v.id).unwrap();
            v.successors.first() == Some(&ids[(i + 1) % ids.len()])
        });
        if exact {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the ring did not close without the gateway"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after = object(&alice, "/after-gateway", b"still here");
    peers[3].publish(after.clone()).await.unwrap();
    published.push(after);
    for o in &published {
        for p in [&peers[1], &peers[12]] {
            let got = p
                .get(o.name())
                .await
                .unwrap_or_else(|e| panic!("without the gateway, {}: {e}", o.name()));
            assert_eq!(got.hash(), o.hash());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_clients_are_refused_with_a_reason() {
    use futures_util::{SinkExt, StreamExt};
    use icn_core::bootstrap::Frame;
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::TempDir::new().unwrap();
    let gw = start_gateway(&dir.path().join("data"));
    let ws_url = format!("{}/ws", gw.1.replace("http://", "ws://"));
    // A wrong proof: refused with bad-proof.
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let Some(Ok(Message::Binary(_challenge))) = ws.next().await else {
        panic!("no challenge")
    };
    let hello = Frame::Hello {
        key: SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes(),
        signature: [0; 64],
        cert: None,
    };
    ws.send(Message::binary(hello.encode())).await.unwrap();
    let Some(Ok(Message::Binary(b))) = ws.next().await else {
        panic!("no answer")
    };
    assert_eq!(
        Frame::decode(&b).unwrap(),
        Frame::Error {
            code: "bad-proof".into()
        }
    );
    // Garbage after joining: disconnected with malformed-frame; others unaffected.
    let good = Peer::join(&ws_url, SigningKey::from_bytes(&[2; 32]), Config::default())
        .await
        .unwrap();
    let (mut bad, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let Some(Ok(Message::Binary(c))) = bad.next().await else {
        panic!("no challenge")
    };
    let Frame::Challenge { nonce, .. } = Frame::decode(&c).unwrap() else {
        panic!()
    };
    let key = SigningKey::from_bytes(&[3; 32]);
    let k = key.verifying_key().to_bytes();
    use ed25519_dalek::Signer;
    let sig = key
        .sign(&icn_core::bootstrap::join_message(&nonce, &k))
        .to_bytes();
    bad.send(Message::binary(
        Frame::Hello {
            key: k,
            signature: sig,
            cert: None,
        }
        .encode(),
    ))
    .await
    .unwrap();
    let Some(Ok(Message::Binary(w))) = bad.next().await else {
        panic!("no welcome")
    };
    assert!(matches!(Frame::decode(&w).unwrap(), Frame::Welcome(_)));
    bad.send(Message::binary(vec![0xff, 0x00])).await.unwrap();
    let mut saw = None;
    while let Some(Ok(m)) = bad.next().await {
        if let Message::Binary(b) = m {
            if let Ok(Frame::Error { code }) = Frame::decode(&b) {
                saw = Some(code);
                break;
            }
        }
    }
    assert_eq!(saw.as_deref(), Some("malformed-frame"));
    let status = good.status().await.unwrap();
    assert_eq!(status.id, good.id());
}

#[test]
fn icn_swarm_runs_native_peers_and_reports_figures() {
    let dir = tempfile::TempDir::new().unwrap();
    let gw = start_gateway(&dir.path().join("data"));
    let out = Command::new(env!("CARGO_BIN_EXE_icn"))
        .args([
            "swarm",
            "--gateway",
            &gw.1,
            "--peers",
            "8",
            "--publish",
            "6",
        ])
        .args(["--gets", "40", "--duration", "4", "--seed", "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("joined 8/8"),
        "progress on stderr: {stderr}"
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["peers"], 8);
    assert_eq!(v["published"], 6);
    assert_eq!(v["gets"], 40);
    assert_eq!(v["lost_objects"], 0, "{line}");
    assert_eq!(v["success_rate"], 1.0, "{line}");
    assert!(
        v["links_webrtc"].as_u64().unwrap() > v["links_relayed"].as_u64().unwrap(),
        "{line}"
    );
    for k in [
        "join_ms_p50",
        "get_ms_p50",
        "get_ms_p99",
        "mean_hops",
        "rss_kb_per_peer",
    ] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k} in {line}");
    }
    // Every published name was announced on stderr for scripts.
    assert_eq!(stderr.matches("published-name /k").count(), 6);
    // Bad input: a clear error, not a crash.
    let bad = Command::new(env!("CARGO_BIN_EXE_icn"))
        .args(["swarm", "--gateway", &gw.1, "--peers", "0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--peers must be 1..=1000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_joins_after_another_left() {
    let dir = tempfile::TempDir::new().unwrap();
    let gw = start_gateway(&dir.path().join("data"));
    let ws = format!("{}/ws", gw.1.replace("http://", "ws://"));
    let mut peers = Vec::new();
    for i in 0..6u8 {
        let key = SigningKey::from_bytes(&[i + 1; 32]);
        peers.push(Peer::join(&ws, key, Config::default()).await.unwrap());
    }
    wait_ring(&peers, &gw.1).await;
    for round in 0..3u8 {
        peers.remove(1).leave().await;
        let key = SigningKey::from_bytes(&[100 + round; 32]);
        let p = Peer::join(&ws, key, Config::default()).await.unwrap();
        let start = Instant::now();
        while !p.status().await.unwrap().joined {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "round {round}: the new peer is not a member after 10 s: {:?}",
                p.status().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peers.push(p);
        wait_ring(&peers, &gw.1).await;
    }
}

fn ring_json(gw_url: &str) -> serde_json::Value {
    let (_, body) = http_get(&format!("{gw_url}/api/ring"));
    serde_json::from_slice(&body).unwrap()
}

/// Every node's first successor is the next node by id and its predecessor
/// the one before, over the peers and the gateways given by URL. Both
/// pointers count: after a crash, the dead node's predecessor may learn it
/// at once (its WebSocket closes) while its successor still names it as
/// predecessor, and sends it the dead node's keys, until its own check
/// (`check_predecessor_ms`, two lost pings) gives up on it.
async fn ring_is_exact_over(peers: &[Peer], gateways: &[&str]) -> Result<(), String> {
    let parse = |v: &serde_json::Value| v.as_str().map(|s| s.parse::<RingId>().unwrap());
    let mut views: Vec<(RingId, Option<RingId>, Option<RingId>)> = Vec::new();
    for g in gateways {
        let r = ring_json(g);
        let id = parse(&r["node"]).unwrap();
        views.push((id, parse(&r["successors"][0]), parse(&r["predecessor"])));
    }
    for p in peers {
        let v = p.status().await.ok_or("peer stopped")?;
        let joined = |x: Option<RingId>| x.filter(|_| v.joined);
        views.push((
            v.id,
            joined(v.successors.first().copied()),
            joined(v.predecessor),
        ));
    }
    let mut ids: Vec<RingId> = views.iter().map(|v| v.0).collect();
    ids.sort();
    let n = ids.len();
    let mut wrong = Vec::new();
    for (id, succ, pred) in &views {
        let i = ids.iter().position(|x| x == id).unwrap();
        let (want_succ, want_pred) = (ids[(i + 1) % n], ids[(i + n - 1) % n]);
        if *succ != Some(want_succ) {
            wrong.push(format!("{id:?}: successor {succ:?}, want {want_succ:?}"));
        }
        if *pred != Some(want_pred) {
            wrong.push(format!("{id:?}: predecessor {pred:?}, want {want_pred:?}"));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("\n"))
    }
}

async fn wait_ring_over(peers: &[Peer], gateways: &[&str], what: &str) {
    let start = Instant::now();
    loop {
        match ring_is_exact_over(peers, gateways).await {
            Ok(()) => return,
            Err(e) if start.elapsed() > Duration::from_secs(90) => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_ring_and_the_second_outlives_the_first() {
    log_peers();
    let dir = tempfile::TempDir::new().unwrap();
    // Gateway B's key exists first, so that A can be told to trust it.
    let b_key = dir.path().join("b.pem");
    let b_id = keygen(&b_key);
    let a = start_gateway_with(&dir.path().join("a"), &["--trust-gateway", &b_id]);
    // A gateway that A does not trust is refused, with the fix in the error.
    let stranger = Command::new(env!("CARGO_BIN_EXE_icn"))
        .args(["gateway", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("c"))
        .args(["--join", &a.1])
        .output()
        .unwrap();
    assert!(!stranger.status.success());
    let err = String::from_utf8_lossy(&stranger.stderr);
    assert!(err.contains("--trust-gateway"), "{err}");
    let b_key_s = b_key.to_str().unwrap();
    let b = start_gateway_with(&dir.path().join("b"), &["--key", b_key_s, "--join", &a.1]);

    // Both list both keys as trusted.
    let a_ring = ring_json(&a.1);
    let b_ring = ring_json(&b.1);
    let trusted = |r: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = r["trusted_gateways"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(trusted(&a_ring), trusted(&b_ring));
    assert!(trusted(&a_ring).contains(&b_id));
    assert_eq!(trusted(&a_ring).len(), 2);

    // 20 native peers, half through each gateway.
    let mut peers = Vec::new();
    for i in 0..20u8 {
        let url = if i % 2 == 0 { &a.1 } else { &b.1 };
        let ws = format!("{}/ws", url.replace("http://", "ws://"));
        let key = SigningKey::from_bytes(&[i + 1; 32]);
        let cfg = Config {
            seed: u64::from(i),
            ..Config::default()
        };
        peers.push(Peer::join(&ws, key, cfg).await.unwrap());
    }
    wait_ring_over(
        &peers,
        &[&a.1, &b.1],
        "one ring of two gateways and 20 peers",
    )
    .await;

    // Published through A's HTTP API, served by B's; read by peers of both.
    let alice = SigningKey::from_bytes(&[42; 32]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut published = Vec::new();
    for i in 0..8 {
        let o = object(
            &alice,
            &format!("/two-gateways/{i}"),
            format!("item {i}").as_bytes(),
        );
        let put = agent
            .put(format!("{}/icn{}", a.1, o.name()))
            .send(o.encoded())
            .unwrap();
        assert_eq!(put.status().as_u16(), 201);
        published.push(o);
    }
    for (i, o) in published.iter().enumerate() {
        // A's HTTP answer means pinned at A; the ring copy follows (retried
        // while links are still being set up).
        let start = Instant::now();
        let (status, body) = loop {
            let (status, body) = http_get(&format!("{}/icn{}", b.1, o.name()));
            if status == 200 || start.elapsed() > Duration::from_secs(10) {
                break (status, body);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(body, format!("item {i}").as_bytes());
        for p in [&peers[1], &peers[4]] {
            let got = get_within(p, o.name(), Duration::from_secs(10)).await;
            assert_eq!(got.hash(), o.hash());
        }
    }
    // Peers of A and peers of B hold DataChannels to each other.
    let a_ids: Vec<RingId> = peers.iter().step_by(2).map(|p| p.id()).collect();
    let mut across = 0;
    for p in peers.iter().skip(1).step_by(2) {
        across += p
            .links()
            .await
            .iter()
            .filter(|(id, t)| *t == Transport::WebRtc && a_ids.contains(id))
            .count();
    }
    assert!(
        across > 0,
        "no DataChannel between peers of different gateways"
    );

    // A is killed: B still serves every name, from the ring.
    drop(a);
    wait_ring_over(&peers, &[&b.1], "the ring closing without gateway A").await;
    for (i, o) in published.iter().enumerate() {
        let (status, body) = http_get(&format!("{}/icn{}", b.1, o.name()));
        assert_eq!(
            status,
            200,
            "after A died, {}: {}; B's ring state: {}",
            o.name(),
            String::from_utf8_lossy(&body),
            ring_json(&b.1)
        );
        assert_eq!(body, format!("item {i}").as_bytes());
    }
}

/// Gateway A, trusting B's key, and gateway B joined into A's ring.
fn gateways_a_and_b(dir: &std::path::Path) -> (Gw, Gw) {
    let b_key = dir.join("b.pem");
    let b_id = keygen(&b_key);
    let a = start_gateway_with(&dir.join("a"), &["--trust-gateway", &b_id]);
    let b = start_gateway_with(
        &dir.join("b"),
        &["--key", b_key.to_str().unwrap(), "--join", &a.1],
    );
    (a, b)
}

/// The WebSocket URL of a gateway.
fn ws(gw: &Gw) -> String {
    format!("{}/ws", gw.1.replace("http://", "ws://"))
}

/// spec/bootstrap.md, "Joining again elsewhere": a peer certified by gateway
/// A keeps its ring position when it comes to gateway B with that
/// certificate; certificates that are not its own, not from a trusted
/// gateway or forged are refused with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_keeps_its_ring_position_when_it_joins_again_through_another_gateway() {
    use icn_core::bootstrap::NodeCert;
    use icn_gateway::peer::{handshake, handshake_keeping};
    let dir = tempfile::TempDir::new().unwrap();
    let (a, b) = gateways_a_and_b(dir.path());
    let (a_ws, b_ws) = (ws(&a), ws(&b));

    let key = SigningKey::from_bytes(&[21; 32]);
    let (_at_a, cert_a, _) = handshake(&a_ws, &key).await.unwrap();
    let (_at_b, cert_b, _) = handshake_keeping(&b_ws, &key, Some(cert_a.clone()))
        .await
        .unwrap();
    assert_eq!(cert_b.node_id, cert_a.node_id, "B kept the position A gave");
    assert_ne!(
        cert_b.gateway_key, cert_a.gateway_key,
        "B certified it itself"
    );

    let refused = |r: Result<_, icn_gateway::peer::PeerError>| match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    // The same position again while the first connection holds it.
    let again = handshake_keeping(&b_ws, &key, Some(cert_a.clone())).await;
    assert!(refused(again).contains("already-connected"));
    // Another key with that certificate.
    let thief = SigningKey::from_bytes(&[22; 32]);
    let stolen = handshake_keeping(&b_ws, &thief, Some(cert_a.clone())).await;
    assert!(refused(stolen).contains("certificate-not-yours"));
    // A certificate from a gateway nobody trusts.
    let stranger = SigningKey::from_bytes(&[23; 32]);
    let other = SigningKey::from_bytes(&[24; 32]);
    let own = NodeCert::issue(
        &stranger,
        RingId([7; 32]),
        other.verifying_key().to_bytes(),
        u64::MAX,
    );
    let untrusted = handshake_keeping(&b_ws, &other, Some(own)).await;
    assert!(refused(untrusted).contains("certificate-untrusted"));
    // A's certificate, with the position changed.
    let mut forged = cert_a.clone();
    forged.node_id = RingId([8; 32]);
    forged.node_key = other.verifying_key().to_bytes();
    let forged = handshake_keeping(&b_ws, &other, Some(forged)).await;
    assert!(refused(forged).contains("certificate-invalid"));
}

/// The whole path of "Joining again elsewhere": a peer that joined through
/// gateway A, which dies before the peer has any other link, joins again
/// through gateway B on its own and is the same node (same id) in B's ring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranded_peer_joins_again_through_the_next_gateway() {
    log_peers();
    let dir = tempfile::TempDir::new().unwrap();
    let (a, b) = gateways_a_and_b(dir.path());
    let urls = [ws(&a), ws(&b)];
    let key = SigningKey::from_bytes(&[31; 32]);
    let peer = Peer::join_any(&urls, key, Config::default()).await.unwrap();
    let id = peer.id();
    // A dies at once: the peer's links (A's socket, B over A's relay) go
    // with it, long before a DataChannel to B could be up.
    // B, left alone with newcomers only, starts the ring anew after 15 s.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let v = peer.status().await.unwrap();
        let through_b = peer
            .links()
            .await
            .iter()
            .any(|(_, t)| *t == Transport::WebSocket);
        if v.joined && through_b {
            assert_eq!(v.id, id, "the same ring position");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not a member through B after 45 s: {v:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // B counts it among its peers, under the same id, once it has taken in
    // the peer's ring messages (the peer's "joined" can come first).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ring = ring_json(&b.1);
        if ring.to_string().contains(&id.to_hex()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B's ring view lacks {id}: {ring}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A gateway killed and restarted with the same data while its peers live:
/// it founds a ring of its own, its peers connect to it again, and the
/// nodes it kept in its data directory make the two rings one
/// (spec/ring.md, "Merging rings"). Everything published before is read
/// through the peers and through the restarted gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_is_back_in_the_ring_its_peers_form() {
    log_peers();
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let mut gw = start_gateway(&data);
    let ws = format!("{}/ws", gw.1.replace("http://", "ws://"));
    let mut peers = Vec::new();
    for i in 0..8u8 {
        let key = SigningKey::from_bytes(&[i + 60; 32]);
        let cfg = Config {
            seed: u64::from(i),
            ..Config::default()
        };
        peers.push(Peer::join(&ws, key, cfg).await.unwrap());
    }
    wait_ring(&peers, &gw.1).await;
    let alice = SigningKey::from_bytes(&[43; 32]);
    let mut published = Vec::new();
    for i in 0..10 {
        let o = object(
            &alice,
            &format!("/before/{i}"),
            format!("before {i}").as_bytes(),
        );
        peers[i % peers.len()].publish(o.clone()).await.unwrap();
        published.push(o);
    }
    // The gateway keeps the ring's nodes every 10 s.
    let start = Instant::now();
    while !data.join("ring-nodes").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no ring-nodes file"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let addr = gw.1.trim_start_matches("http://").to_string();
    let _ = gw.0.kill();
    let _ = gw.0.wait();
    // The peers carry on without it, and take it for dead.
    tokio::time::sleep(Duration::from_secs(3)).await;
    gw = start_gateway_with(&data, &["--listen", &addr]);
    let restarted = Instant::now();
    wait_ring_over(&peers, &[&gw.1], "one ring with the restarted gateway").await;
    println!(
        "restart figures: {{\"one_ring_ms\": {}}}",
        restarted.elapsed().as_millis()
    );
    assert_eq!(ring_json(&gw.1)["joined"], true);
    for o in &published {
        let name = o.name().clone();
        let got = get_within(
            &peers[(published.len() + 3) % peers.len()],
            &name,
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(got.name(), &name);
        let (status, _) = http_get(&format!("{}/icn{}", gw.1, name));
        assert_eq!(status, 200, "{name} through the restarted gateway");
    }
}
