//! The gateway over TLS, as a user runs it: `icn gateway --tls-cert
//! --tls-key` with a certificate from a private CA (made here with the
//! openssl command), `icn publish/get --ca-cert` over https, native peers
//! over wss, and certificates replaced without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ICN: &str = env!("CARGO_BIN_EXE_icn");
/// Longer than the gateway's check of the certificate files' times.
const RELOAD_CHECK_AND_SOME: Duration = Duration::from_secs(6);

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

/// A test CA (`ca.pem`, `ca.key`) in `dir`.
fn make_ca(dir: &Path) {
    std::fs::write(
        dir.join("ca.ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=icn test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A server certificate for localhost and 127.0.0.1 with `serial`, signed by
/// the CA: `<stem>.pem` and `<stem>.key`.
fn make_leaf(dir: &Path, stem: &str, serial: u32) {
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    let key = format!("{stem}.key");
    let csr = format!("{stem}.csr");
    let pem = format!("{stem}.pem");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &serial.to_string(),
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            &pem,
        ],
    );
}

fn start(dir: &Path) -> (Gateway, String) {
    let mut child = Command::new(ICN)
        .args([
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--lookup-timeout",
            "2",
        ])
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--tls-cert")
        .arg(dir.join("tls.pem"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{line}");
    // The certificate names localhost; the address is the same.
    (Gateway(child), url.replace("127.0.0.1", "localhost"))
}

/// The serial number of the certificate the gateway presents now.
fn served_serial(url: &str) -> String {
    let addr = url.trim_start_matches("https://");
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "localhost"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    x509.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let serial = x509.wait_with_output().unwrap();
    String::from_utf8_lossy(&serial.stdout).trim().to_string()
}

/// A gateway on https with a certificate (serial 1) from a fresh test CA.
fn gateway_with_test_ca() -> (tempfile::TempDir, Gateway, String) {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path());
    make_leaf(d.path(), "tls", 1);
    let (gw, url) = start(d.path());
    (d, gw, url)
}

fn icn(args: &[&str]) -> std::process::Output {
    Command::new(ICN)
        .args(args)
        .env_remove("ICN_CA_CERT")
        .output()
        .unwrap()
}

#[test]
fn https_serves_every_route_and_the_cli_trusts_a_private_ca() {
    let (d, _gw, url) = gateway_with_test_ca();
    let dir = d.path();
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let key = dir.join("me.key");
    let id = run(Command::new(ICN).args(["keygen", "--out", key.to_str().unwrap()]));
    let id = id.trim();
    let page = dir.join("page.html");
    std::fs::write(&page, "<h1>over tls</h1>").unwrap();

    let publish = |extra: &[&str]| {
        let mut args = vec![
            "publish",
            "--gateway",
            &url,
            "--key",
            key.to_str().unwrap(),
            "--name",
            "/site/index.html",
            "--in",
            page.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        icn(&args)
    };
    // Without the CA the gateway's certificate is not trusted, and the
    // error says so in one line.
    let refused = publish(&[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // A CA file that holds no certificate is named in the error.
    let bogus = dir.join("bogus.pem");
    std::fs::write(&bogus, "nothing").unwrap();
    let bad = publish(&["--ca-cert", bogus.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bogus.pem"));

    let out = publish(&["--ca-cert", ca]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = format!("/{id}/site/index.html");
    let back = dir.join("back.html");
    let got = icn(&[
        "get",
        "--gateway",
        &url,
        "--ca-cert",
        ca,
        &name,
        "--out",
        back.to_str().unwrap(),
    ]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(std::fs::read(&back).unwrap(), b"<h1>over tls</h1>");

    // The page, the bundle and names over https, from a client that
    // trusts the CA (the environment variable works as the flag does).
    let agent = client(&dir.join("ca.pem"));
    for path in ["/", "/pkg/icn_web.js", &format!("/icn{name}")] {
        let r = agent.get(&format!("{url}{path}")).call().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    // Plain HTTP on the TLS port is not answered as if it were HTTPS.
    let plain = url.replace("https://", "http://");
    assert!(agent.get(&format!("{plain}/")).call().is_err());
}

fn client(ca: &Path) -> ureq::Agent {
    let pem = std::fs::read(ca).unwrap();
    let certs = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i.unwrap() {
            ureq::tls::PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect::<Vec<_>>();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .unversioned_rustls_crypto_provider(icn_gateway::tls::provider())
        .build();
    ureq::Agent::config_builder().tls_config(tls).build().into()
}

#[test]
fn native_peers_join_over_wss() {
    let (d, _gw, url) = gateway_with_test_ca();
    let dir = d.path();
    let swarm = |ca: Option<&Path>| {
        let mut cmd = Command::new(ICN);
        cmd.args(["swarm", "--gateway", &url, "--peers", "4", "--publish", "3"])
            .args([
                "--gets",
                "12",
                "--duration",
                "2",
                "--settle",
                "1",
                "--seed",
                "5",
            ])
            .env_remove("ICN_CA_CERT");
        if let Some(ca) = ca {
            cmd.env("ICN_CA_CERT", ca);
        }
        cmd.output().unwrap()
    };
    let out = swarm(Some(&dir.join("ca.pem")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(v["peers"], 4, "{v}");
    assert_eq!(v["success_rate"], 1.0, "{v}");
    // Without the CA no peer gets in, and the swarm says why.
    let out = swarm(None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
}

#[test]
fn certificates_are_replaced_without_a_restart() {
    let (d, gw, url) = gateway_with_test_ca();
    let dir = d.path();
    make_leaf(dir, "next", 2);
    assert_eq!(served_serial(&url), "serial=01");
    let hup = || {
        run(Command::new("kill").args(["-HUP", &gw.0.id().to_string()]));
    };
    // A renewal half written (or a wrong file) is not taken: the certificate
    // in use stays, on SIGHUP and on the files' change alike.
    std::fs::write(
        dir.join("tls.pem"),
        "-----BEGIN CERTIFICATE-----\ntruncated",
    )
    .unwrap();
    hup();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(served_serial(&url), "serial=01");
    // The renewed files are served without a restart once they change
    // (checked every 5 s).
    std::fs::copy(dir.join("next.key"), dir.join("tls.key")).unwrap();
    std::fs::copy(dir.join("next.pem"), dir.join("tls.pem")).unwrap();
    let start = Instant::now();
    while served_serial(&url) != "serial=02" {
        assert!(start.elapsed() < Duration::from_secs(20), "not reloaded");
        std::thread::sleep(Duration::from_millis(250));
    }
    // And on SIGHUP at once: the files are replaced with their modification
    // times kept, so only the signal can tell the gateway.
    make_leaf(dir, "third", 3);
    for (from, to) in [("third.key", "tls.key"), ("third.pem", "tls.pem")] {
        let to = dir.join(to);
        let mtime = std::fs::metadata(&to).unwrap().modified().unwrap();
        std::fs::copy(dir.join(from), &to).unwrap();
        let f = std::fs::File::options().write(true).open(&to).unwrap();
        f.set_modified(mtime).unwrap();
    }
    std::thread::sleep(RELOAD_CHECK_AND_SOME);
    assert_eq!(served_serial(&url), "serial=02");
    hup();
    let start = Instant::now();
    while served_serial(&url) != "serial=03" {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "SIGHUP did not reload"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
