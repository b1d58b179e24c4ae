//! End-to-end tests of `icn gateway`: the real binary on a loopback port,
//! driven by the real CLI and a real HTTP client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

const ICN: &str = env!("CARGO_BIN_EXE_icn");

struct Gateway {
    child: Child,
    url: String,
}

impl Gateway {
    fn start(data: &Path) -> Gateway {
        let mut child = Command::new(ICN)
            .args(["gateway", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(["--lookup-timeout", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        Gateway { child, url }
    }

    fn kill9(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn icn(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ICN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = icn(args);
    assert_eq!(code, 0, "icn {args:?}: {err}");
    out
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    let a = agent();
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = match body {
        Some(bytes) => a.run(b.body(bytes.to_vec()).unwrap()),
        None => a.run(b.body(()).unwrap()),
    }
    .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

fn header<'a>(r: &'a Reply, name: &str) -> &'a str {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn setup() -> (TempDir, PathBuf, String) {
    let d = TempDir::new().unwrap();
    let key = d.path().join("k.pem");
    let id = ok(&["keygen", "--out", p(&key)]).trim().to_string();
    (d, key, id)
}

#[test]
fn every_endpoint_behaves() {
    let (d, key, id) = setup();
    let gw = Gateway::start(&d.path().join("data"));
    let page = d.path().join("page.html");
    std::fs::write(&page, "<h1>hello icn</h1>").unwrap();
    let out = ok(&[
        "publish",
        "--gateway",
        &gw.url,
        "--key",
        p(&key),
        "--name",
        "/site/index.html",
        "--in",
        p(&page),
        "--version",
        "5",
        "--freshness",
        "60",
    ]);
    let name = format!("/{id}/site/index.html");
    assert_eq!(out.lines().next().unwrap(), name);
    let url = format!("{}/icn{name}", gw.url);
    assert_eq!(out.lines().nth(1).unwrap(), url);

    // GET: byte-identical content and the headers of the spec.
    let r = request("GET", &url, &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<h1>hello icn</h1>");
    assert_eq!(header(&r, "content-type"), "text/html");
    assert_eq!(header(&r, "x-icn-name"), name);
    assert_eq!(header(&r, "x-icn-publisher"), id);
    assert_eq!(header(&r, "x-icn-version"), "5");
    assert_eq!(header(&r, "cache-control"), "public, max-age=60");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "content-security-policy"), "sandbox");
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    assert_eq!(header(&r, "accept-ranges"), "bytes");
    assert!(!header(&r, "last-modified").is_empty());
    let etag = header(&r, "etag").to_string();
    assert_eq!(etag.len(), 66);

    // HEAD: headers, no body.
    let h = request("HEAD", &url, &[], None);
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    assert_eq!(header(&h, "content-length"), "18");
    assert_eq!(header(&h, "etag"), etag);

    // Conditional and range requests.
    assert_eq!(
        request("GET", &url, &[("if-none-match", &etag)], None).status,
        304
    );
    assert_eq!(
        request("GET", &url, &[("if-none-match", "\"other\"")], None).status,
        200
    );
    let part = request("GET", &url, &[("range", "bytes=4-8")], None);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, b"hello");
    assert_eq!(header(&part, "content-range"), "bytes 4-8/18");
    let past = request("GET", &url, &[("range", "bytes=100-")], None);
    assert_eq!(past.status, 416);
    assert_eq!(header(&past, "content-range"), "bytes */18");

    // The signed object itself, verifiable without trusting the gateway.
    let raw = request("GET", &format!("{url}?format=object"), &[], None);
    assert_eq!(
        header(&raw, "content-type"),
        "application/vnd.icn.object+cbor"
    );
    let obj = icn_core::SignedObject::decode(&raw.body).unwrap();
    assert_eq!(obj.name().to_uri(), name);
    let via_accept = request(
        "GET",
        &url,
        &[("accept", "application/vnd.icn.object+cbor")],
        None,
    );
    assert_eq!(via_accept.body, raw.body);

    // CORS preflight.
    let pre = request(
        "OPTIONS",
        &url,
        &[
            ("origin", "http://example.test"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "range"),
        ],
        None,
    );
    assert_eq!(pre.status, 200, "{}", String::from_utf8_lossy(&pre.body));
    assert!(!header(&pre, "access-control-allow-origin").is_empty());
    let cors = request("GET", &url, &[("origin", "http://example.test")], None);
    assert!(header(&cors, "access-control-expose-headers")
        .to_lowercase()
        .contains("x-icn-name"));

    // Errors: JSON with a code and the right status.
    let missing = request(
        "GET",
        &format!("{}/icn/{id}/nobody/published/this", gw.url),
        &[],
        None,
    );
    assert_eq!(missing.status, 404);
    let j: serde_json::Value = serde_json::from_slice(&missing.body).unwrap();
    assert_eq!(j["code"], "not-found");
    let bad_name = request("GET", &format!("{}/icn/a/%zz", gw.url), &[], None);
    assert_eq!(bad_name.status, 400);
    // No object can live under a name that does not start with a publisher
    // id: refused at once, not looked up.
    let no_publisher = request("GET", &format!("{}/icn/alice/x", gw.url), &[], None);
    assert_eq!(no_publisher.status, 400);
    let j: serde_json::Value = serde_json::from_slice(&no_publisher.body).unwrap();
    assert_eq!(j["code"], "bad-publisher");
    let mut tampered = raw.body.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let t = request("PUT", &url, &[], Some(&tampered));
    assert_eq!(t.status, 422);
    let j: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
    assert_eq!(j["code"], "bad-signature");
    // An oversized body is refused from its Content-Length, before it is read.
    assert!(raw_put_status(&gw.url, &format!("/icn{name}"), 2 << 20).starts_with("HTTP/1.1 413"));
    let wrong_place = request(
        "PUT",
        &format!("{}/icn/{id}/elsewhere", gw.url),
        &[],
        Some(&raw.body),
    );
    assert_eq!(wrong_place.status, 400);
    // Same object again: accepted, unchanged.
    assert_eq!(request("PUT", &url, &[], Some(&raw.body)).status, 200);

    // An older version: 409, and the stored one is still served.
    let (code, _, err) = icn(&[
        "publish",
        "--gateway",
        &gw.url,
        "--key",
        p(&key),
        "--name",
        "/site/index.html",
        "--in",
        p(&page),
        "--version",
        "4",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("409"), "{err}");
    assert_eq!(
        header(&request("GET", &url, &[], None), "x-icn-version"),
        "5"
    );

    // Blocks: bad hash, corrupt upload.
    assert_eq!(
        request("GET", &format!("{}/block/xyz", gw.url), &[], None).status,
        400
    );
    let h = icn_core::Hash::of(b"abc");
    assert_eq!(
        request("PUT", &format!("{}/block/{h}", gw.url), &[], Some(b"abd")).status,
        422
    );
    assert_eq!(
        request("PUT", &format!("{}/block/{h}", gw.url), &[], Some(b"abc")).status,
        201
    );
    let b = request("GET", &format!("{}/block/{h}", gw.url), &[], None);
    assert_eq!(b.body, b"abc");
    assert!(header(&b, "cache-control").contains("immutable"));

    // Status endpoints.
    let ring: serde_json::Value =
        serde_json::from_slice(&request("GET", &format!("{}/api/ring", gw.url), &[], None).body)
            .unwrap();
    assert_eq!(ring["joined"], true);
    assert_eq!(ring["stored_objects"], 1);
    assert_eq!(ring["node"].as_str().unwrap().len(), 64);
    let metrics =
        String::from_utf8(request("GET", &format!("{}/metrics", gw.url), &[], None).body).unwrap();
    assert!(metrics.contains("icn_http_requests_total "));
    assert!(metrics.contains("icn_stored_objects 1"));
    assert_eq!(
        request("GET", &format!("{}/healthz", gw.url), &[], None).body,
        b"ok\n"
    );
    // The demo page and the embedded bundle it loads.
    let home = request("GET", &format!("{}/", gw.url), &[], None);
    assert!(String::from_utf8_lossy(&home.body).contains(r#"from "/pkg/icn_web.js""#));
    let wasm_url = format!("{}/pkg/icn_web_bg.wasm", gw.url);
    let wasm = request("GET", &wasm_url, &[], None);
    assert_eq!(wasm.status, 200);
    assert_eq!(&wasm.body[..4], b"\0asm");
    assert_eq!(header(&wasm, "content-encoding"), "");
    // Browsers accept gzip, and get the copy compressed at build time.
    let accept = ("accept-encoding", "gzip, deflate, br, zstd");
    let gz = request("GET", &wasm_url, &[accept], None);
    assert_eq!(gz.status, 200);
    assert_eq!(header(&gz, "content-encoding"), "gzip");
    assert_eq!(header(&gz, "content-type"), "application/wasm");
    assert!(header(&gz, "vary").contains("accept-encoding"));
    assert!(gz.body.len() < wasm.body.len() / 2);
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gz.body[..]),
        &mut inflated,
    )
    .unwrap();
    assert!(inflated == wasm.body, "the gzip copy inflates to the wasm");
    // Each encoding revalidates under its own tag.
    let tag = header(&gz, "etag").to_string();
    assert_ne!(tag, header(&wasm, "etag"));
    let again = request("GET", &wasm_url, &[accept, ("if-none-match", &tag)], None);
    assert_eq!(again.status, 304);
    let plain = request("GET", &wasm_url, &[("if-none-match", &tag)], None);
    assert_eq!(plain.status, 200);
    let page = request("GET", &format!("{}/", gw.url), &[accept], None);
    assert_eq!(header(&page, "content-encoding"), "gzip");
    // Header values that are not ASCII are ignored, not a refused request.
    let odd: [(&str, &[u8], bool); 2] = [
        (
            "/pkg/icn_web.js",
            b"If-None-Match: \"\xc3\xa9\"\r\nAccept-Encoding: \xff\r\n",
            false,
        ),
        (
            "/",
            b"Accept-Encoding: \xff\r\nAccept-Encoding: gzip\r\n",
            true,
        ),
    ];
    for (path, headers, gzip) in odd {
        let r = raw_get(&gw.url, path, headers);
        assert!(r.starts_with("HTTP/1.1 200"), "{path}: {r}");
        let encoded = r.to_ascii_lowercase().contains("content-encoding: gzip");
        assert_eq!(encoded, gzip, "{path}: {r}");
    }
}

/// A GET with raw header bytes (ureq sends only valid header values); the
/// status line and headers of the answer.
fn raw_get(base: &str, path: &str, headers: &[u8]) -> String {
    let addr = base.trim_start_matches("http://");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n").into_bytes();
    req.extend_from_slice(headers);
    req.extend_from_slice(b"\r\n");
    raw_request(addr, &req)
}

/// Sends `request` as it is and reads the answer up to the end of its
/// headers: the status line and headers.
fn raw_request(addr: &str, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = s.read(&mut chunk).unwrap();
        if n == 0 {
            break buf.len();
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Publishes `len` pseudo-random bytes under `name` with `icn publish`.
fn publish_random(gw: &Gateway, d: &TempDir, key: &Path, name: &str, len: usize) -> Vec<u8> {
    let data = pseudo_random(len);
    let file = d.path().join("upload.bin");
    std::fs::write(&file, &data).unwrap();
    ok(&[
        "publish",
        "--gateway",
        &gw.url,
        "--key",
        p(key),
        "--name",
        name,
        "--in",
        p(&file),
    ]);
    data
}

#[test]
fn twenty_mib_whole_by_range_and_through_icn_get() {
    let (d, key, id) = setup();
    let gw = Gateway::start(&d.path().join("data"));
    let data = publish_random(&gw, &d, &key, "/files/big.bin", 20 << 20);
    let name = format!("/{id}/files/big.bin");
    let url = format!("{}/icn{name}", gw.url);
    let whole = request("GET", &url, &[], None);
    assert_eq!(whole.status, 200);
    assert!(whole.body == data, "whole content differs");
    // A range across a block boundary (blocks are 256 KiB).
    let (a, b) = (262_000usize, 530_000usize);
    let part = request("GET", &url, &[("range", &format!("bytes={a}-{b}"))], None);
    assert_eq!(part.status, 206);
    assert!(part.body == data[a..=b], "range differs");
    let tail = request("GET", &url, &[("range", "bytes=-1000")], None);
    assert!(tail.body == data[data.len() - 1000..]);
    let out = d.path().join("copy.bin");
    ok(&["get", "--gateway", &gw.url, &name, "--out", p(&out)]);
    assert!(std::fs::read(&out).unwrap() == data, "icn get differs");
}

#[test]
fn acknowledged_publish_survives_kill_9() {
    let (d, key, id) = setup();
    let data_dir = d.path().join("data");
    let mut gw = Gateway::start(&data_dir);
    let data = pseudo_random(3 << 20);
    let file = d.path().join("f.bin");
    std::fs::write(&file, &data).unwrap();
    ok(&[
        "publish",
        "--gateway",
        &gw.url,
        "--key",
        p(&key),
        "--name",
        "/durable",
        "--in",
        p(&file),
    ]);
    gw.kill9();
    let gw = Gateway::start(&data_dir);
    let name = format!("/{id}/durable");
    let r = request("GET", &format!("{}/icn{name}", gw.url), &[], None);
    assert_eq!(r.status, 200);
    assert!(r.body == data, "content after restart differs");
    let out = d.path().join("after.bin");
    ok(&["get", "--gateway", &gw.url, &name, "--out", p(&out)]);
    assert!(std::fs::read(&out).unwrap() == data);
}

#[test]
fn cli_reports_gateway_errors_in_one_line() {
    let (d, key, id) = setup();
    let (code, _, err) = icn(&[
        "get",
        "--gateway",
        "http://127.0.0.1:9",
        &format!("/{id}/x"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let gw = Gateway::start(&d.path().join("data"));
    let (code, _, err) = icn(&["get", "--gateway", &gw.url, &format!("/{id}/never")]);
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
    let (code, _, err) = icn(&["get", "--gateway", &gw.url, "/alice/x"]);
    assert_eq!(code, 1);
    assert!(err.contains("not a publisher id"), "{err}");
    // Without --gateway: ICN_GATEWAY, else the address `icn gateway` takes.
    let out = Command::new(ICN)
        .args(["get", &format!("/{id}/never")])
        .env("ICN_GATEWAY", &gw.url)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("404") && err.contains(&gw.url), "{err}");
    let _ = key;
}

/// Sends only the head of a PUT with a large Content-Length; returns the status line.
fn raw_put_status(base: &str, path: &str, len: usize) -> String {
    let addr = base.trim_start_matches("http://");
    let head = format!("PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\n\r\n");
    raw_request(addr, head.as_bytes())
}

/// Starts a gateway on a damaged store: it either refuses, saying the store
/// is corrupt (redb's page checksums), or starts; never anything else.
fn start_on_damaged_store(data: &Path) -> Option<Gateway> {
    let mut child = Command::new(ICN)
        .args(["gateway", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.is_empty() {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("corrupt"), "refused without saying why: {err}");
        return None;
    }
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    Some(Gateway { child, url })
}

fn damage(db: &Path, marker: &[u8]) {
    let mut bytes = std::fs::read(db).unwrap();
    // Copy-on-write pages may hold older copies too: damage every copy.
    let hits: Vec<usize> = bytes
        .windows(marker.len())
        .enumerate()
        .filter(|(_, w)| *w == marker)
        .map(|(i, _)| i)
        .collect();
    assert!(!hits.is_empty(), "marker in store");
    for at in hits {
        bytes[at + 3] ^= 0x20;
    }
    std::fs::write(db, &bytes).unwrap();
}

#[test]
fn corrupt_store_records_are_never_served() {
    let (d, key, id) = setup();
    let data_dir = d.path().join("data");
    let db = data_dir.join("store.redb");
    let mut gw = Gateway::start(&data_dir);
    let small = d.path().join("small.txt");
    std::fs::write(&small, "MARKER-OBJECT-CONTENT-0123456789").unwrap();
    ok(&[
        "publish",
        "--gateway",
        &gw.url,
        "--key",
        p(&key),
        "--name",
        "/small",
        "--in",
        p(&small),
    ]);
    let mut big = pseudo_random(300 * 1024);
    big[..16].copy_from_slice(b"MARKER-BLOCK-001");
    let bigf = d.path().join("big.bin");
    std::fs::write(&bigf, &big).unwrap();
    ok(&[
        "publish",
        "--gateway",
        &gw.url,
        "--key",
        p(&key),
        "--name",
        "/big",
        "--in",
        p(&bigf),
    ]);
    gw.kill9();
    damage(&db, b"MARKER-OBJECT-CONTENT");
    damage(&db, b"MARKER-BLOCK-001");
    if let Some(gw) = start_on_damaged_store(&data_dir) {
        let r = request("GET", &format!("{}/icn/{id}/small", gw.url), &[], None);
        assert_ne!(r.status, 200, "a corrupt object was served");
        let r = request("GET", &format!("{}/icn/{id}/big", gw.url), &[], None);
        assert_ne!(r.status, 200, "content with a corrupt block was served");
    }
}

/// Resident memory of process `pid`, bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_large_object_streams_to_a_slow_reader_block_by_block() {
    use std::io::{Read, Write};
    let (d, key, id) = setup();
    let gw = Gateway::start(&d.path().join("data"));
    let data = publish_random(&gw, &d, &key, "/large.bin", 64 << 20);
    // A fresh process, so that what publishing left on its heap does not
    // hide what the answer takes.
    drop(gw);
    let gw = Gateway::start(&d.path().join("data"));
    let before = rss(gw.child.id());
    let addr = gw.url.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "GET /icn/{id}/large.bin HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    // The client reads a little, then stops: the gateway must not fetch and
    // hold the other 64 MiB meanwhile.
    let mut head = vec![0u8; 64 << 10];
    tcp.read_exact(&mut head).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let held = rss(gw.child.id()).saturating_sub(before);
    assert!(
        held < 24 << 20,
        "the gateway grew by {held} bytes while a client read 64 KiB of 64 MiB"
    );
    let mut rest = Vec::new();
    tcp.read_to_end(&mut rest).unwrap();
    head.extend_from_slice(&rest);
    let body_at = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let text = String::from_utf8_lossy(&head[..body_at]).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(
        text.contains(&format!("content-length: {}", 64 << 20)),
        "{text}"
    );
    assert!(head[body_at..] == data[..], "the streamed body differs");
    eprintln!("gateway RSS grew by {held} bytes with 64 KiB of 64 MiB read");
}
