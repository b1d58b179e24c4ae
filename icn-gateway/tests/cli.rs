//! End-to-end tests of the `icn` binary: real processes, real files, openssl keys.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

fn icn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_icn"))
        .args(args)
        .output()
        .expect("run icn")
}

fn ok(args: &[&str]) -> String {
    let out = icn(args);
    assert!(
        out.status.success(),
        "icn {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with exit 1 and a one-line reason; returns it.
fn fails(args: &[&str]) -> String {
    let out = icn(args);
    assert_eq!(out.status.code(), Some(1), "icn {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn openssl_key(dir: &Path) -> PathBuf {
    let key = dir.join("openssl.pem");
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out", p(&key)])
        .status()
        .expect("openssl must be installed (.ci/run installs it)");
    assert!(st.success());
    key
}

#[test]
fn openssl_key_signs_and_every_byte_flip_is_refused() {
    let d = TempDir::new().unwrap();
    let key = openssl_key(d.path());
    let input = d.path().join("hello.txt");
    fs::write(&input, "hello from openssl\n").unwrap();
    let obj = d.path().join("hello.obj");
    let name = ok(&[
        "sign",
        "--key",
        p(&key),
        "--name",
        "/blog/hello",
        "--in",
        p(&input),
        "--out",
        p(&obj),
    ]);
    let id = ok(&["id", "--key", p(&key)]);
    assert_eq!(name.trim(), format!("/{}/blog/hello", id.trim()));
    assert_eq!(ok(&["verify", p(&obj)]), name);
    let info: serde_json::Value = serde_json::from_str(&ok(&["inspect", p(&obj)])).unwrap();
    assert_eq!(info["content_type"], "text/plain");
    assert_eq!(info["size"], 19);
    assert_eq!(info["blocks"], 0);
    assert_eq!(info["signature_valid"], true);
    assert_eq!(info["publisher"], id.trim());

    let good = fs::read(&obj).unwrap();
    let bad = d.path().join("bad.obj");
    for i in 0..good.len() {
        let mut bytes = good.clone();
        bytes[i] ^= 0xff;
        fs::write(&bad, &bytes).unwrap();
        let err = fails(&["verify", p(&bad)]);
        assert!(err.contains("bad.obj"), "reason names the file: {err}");
    }
}

#[test]
fn five_mib_round_trip_and_block_damage() {
    let d = TempDir::new().unwrap();
    let key = d.path().join("k.pem");
    ok(&["keygen", "--out", p(&key)]);
    let data = pseudo_random(5 << 20);
    let input = d.path().join("big.bin");
    fs::write(&input, &data).unwrap();
    let obj = d.path().join("big.obj");
    ok(&[
        "sign",
        "--key",
        p(&key),
        "--name",
        "/files/big.bin",
        "--in",
        p(&input),
        "--out",
        p(&obj),
        "--version",
        "42",
    ]);
    let blocks = d.path().join("big.obj.blocks");
    assert_eq!(fs::read_dir(&blocks).unwrap().count(), 20);
    ok(&["verify", p(&obj)]);
    let info: serde_json::Value = serde_json::from_str(&ok(&["inspect", p(&obj)])).unwrap();
    assert_eq!(info["blocks"], 20);
    assert_eq!(info["version"], 42);
    assert_eq!(info["size"], 5 << 20);
    assert_eq!(info["content_type"], "application/octet-stream");

    let out = Command::new(env!("CARGO_BIN_EXE_icn"))
        .args(["cat", p(&obj)])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout == data, "cat to stdout differs");
    let copy = d.path().join("copy.bin");
    ok(&["cat", p(&obj), "--out", p(&copy)]);
    assert!(fs::read(&copy).unwrap() == data, "cat --out differs");

    // Corrupt one block: verify and cat fail, and cat --out writes nothing.
    let mut names: Vec<_> = fs::read_dir(&blocks)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let victim = names[7].clone();
    let original = fs::read(&victim).unwrap();
    let mut corrupt = original.clone();
    corrupt[1000] ^= 1;
    fs::write(&victim, &corrupt).unwrap();
    assert!(fails(&["verify", p(&obj)]).contains("corrupt"));
    let none = d.path().join("none.bin");
    fails(&["cat", p(&obj), "--out", p(&none)]);
    assert!(!none.exists());
    // Truncated block.
    fs::write(&victim, &original[..10]).unwrap();
    assert!(fails(&["verify", p(&obj)]).contains("bytes"));
    // Oversized block.
    fs::write(&victim, [&original[..], b"x"].concat()).unwrap();
    fails(&["verify", p(&obj)]);
    // Missing block.
    fs::remove_file(&victim).unwrap();
    assert!(fails(&["verify", p(&obj)]).contains("missing"));
    // Restored: good again, also from another blocks directory.
    fs::write(&victim, &original).unwrap();
    let moved = d.path().join("elsewhere");
    fs::rename(&blocks, &moved).unwrap();
    fails(&["verify", p(&obj)]);
    ok(&["verify", p(&obj), "--blocks", p(&moved)]);
}

#[test]
fn keygen_permissions_overwrite_and_openssl_interop() {
    let d = TempDir::new().unwrap();
    let key = d.path().join("k.pem");
    let id = ok(&["keygen", "--out", p(&key)]);
    assert_eq!(id.trim().len(), 53);
    assert!(id.starts_with('k'));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(ok(&["id", "--key", p(&key)]), id);
    let before = fs::read(&key).unwrap();
    assert!(fails(&["keygen", "--out", p(&key)]).contains("--force"));
    assert_eq!(
        fs::read(&key).unwrap(),
        before,
        "refused keygen must not touch the key"
    );
    let id2 = ok(&["keygen", "--out", p(&key), "--force"]);
    assert_ne!(id, id2);
    // openssl reads our key and derives the same public key.
    let out = Command::new("openssl")
        .args(["pkey", "-in", p(&key), "-pubout", "-outform", "DER"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let der = out.stdout;
    let raw: [u8; 32] = der[der.len() - 32..].try_into().unwrap();
    let from_openssl = icn_core::PublisherId::from_key_bytes(&raw).unwrap();
    assert_eq!(from_openssl.to_text(), id2.trim());
}

#[test]
fn clear_errors_for_bad_input() {
    let d = TempDir::new().unwrap();
    let key = d.path().join("k.pem");
    ok(&["keygen", "--out", p(&key)]);
    let junk = d.path().join("junk.pem");
    fs::write(&junk, "not a key").unwrap();
    assert!(fails(&["id", "--key", p(&junk)]).contains("junk.pem"));
    assert!(fails(&["id", "--key", "/nonexistent/k.pem"]).contains("/nonexistent/k.pem"));
    let input = d.path().join("x.txt");
    fs::write(&input, "x").unwrap();
    let obj = d.path().join("x.obj");
    let err = fails(&[
        "sign",
        "--key",
        p(&key),
        "--name",
        "/a/../b",
        "--in",
        p(&input),
        "--out",
        p(&obj),
    ]);
    assert!(err.contains("--name"), "{err}");
    fails(&[
        "sign",
        "--key",
        p(&key),
        "--name",
        "no-slash",
        "--in",
        p(&input),
        "--out",
        p(&obj),
    ]);
    assert!(fails(&[
        "sign",
        "--key",
        p(&key),
        "--name",
        "/a",
        "--in",
        "/nonexistent",
        "--out",
        p(&obj)
    ])
    .contains("/nonexistent"));
    let bad_type = fails(&[
        "sign",
        "--key",
        p(&key),
        "--name",
        "/a",
        "--in",
        p(&input),
        "--out",
        p(&obj),
        "--content-type",
        "a\u{1}b",
    ]);
    assert!(bad_type.contains("content type"), "{bad_type}");
    assert!(!obj.exists());
    // An oversized "object" is refused before it is read.
    let huge = d.path().join("huge.obj");
    fs::write(&huge, vec![0u8; 2 << 20]).unwrap();
    assert!(fails(&["verify", p(&huge)]).contains("oversized"));
    assert!(fails(&["inspect", p(&huge)]).contains("oversized"));
    // Empty and garbage objects.
    let empty = d.path().join("empty.obj");
    fs::write(&empty, b"").unwrap();
    fails(&["verify", p(&empty)]);
    fails(&["cat", p(&empty)]);
    // clap usage errors exit 2.
    assert_eq!(icn(&["sign"]).status.code(), Some(2));
    assert_eq!(icn(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn inspect_shows_bad_signatures_and_full_names_are_kept() {
    let d = TempDir::new().unwrap();
    let key = d.path().join("k.pem");
    let id = ok(&["keygen", "--out", p(&key)]);
    let input = d.path().join("page.html");
    fs::write(&input, "<h1>hi</h1>").unwrap();
    let obj = d.path().join("page.obj");
    let full = format!("/{}/site/index.html", id.trim());
    let name = ok(&[
        "sign",
        "--key",
        p(&key),
        "--name",
        &full,
        "--in",
        p(&input),
        "--out",
        p(&obj),
        "--freshness",
        "60",
    ]);
    assert_eq!(name.trim(), full);
    let info: serde_json::Value = serde_json::from_str(&ok(&["inspect", p(&obj)])).unwrap();
    assert_eq!(info["content_type"], "text/html");
    assert_eq!(info["freshness"], 60);
    let mut bytes = fs::read(&obj).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&obj, &bytes).unwrap();
    let info: serde_json::Value = serde_json::from_str(&ok(&["inspect", p(&obj)])).unwrap();
    assert_eq!(info["signature_valid"], false);
    assert!(fails(&["verify", p(&obj)]).contains("bad signature"));
    // Standard input works as --in -.
    let stdin_obj = d.path().join("stdin.obj");
    let mut child = Command::new(env!("CARGO_BIN_EXE_icn"))
        .args([
            "sign",
            "--key",
            p(&key),
            "--name",
            "/s",
            "--in",
            "-",
            "--out",
            p(&stdin_obj),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(ok(&["cat", p(&stdin_obj)]), "from stdin");
}

#[test]
fn help_on_every_subcommand() {
    for sub in ["keygen", "id", "sign", "verify", "inspect", "cat"] {
        let out = ok(&[sub, "--help"]);
        assert!(out.contains("Usage: icn"), "{sub}: {out}");
    }
    assert!(ok(&["--help"]).contains("sign"));
    assert!(ok(&["--version"]).starts_with("icn "));
}

#[test]
fn spec_vectors_through_the_cli() {
    let vectors = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors");
    let index: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(vectors.join("objects.json")).unwrap()).unwrap();
    for case in index.as_array().unwrap() {
        let obj = vectors.join("objects").join(case["file"].as_str().unwrap());
        let blocks = vectors.join("blocks");
        let name = ok(&["verify", p(&obj), "--blocks", p(&blocks)]);
        assert_eq!(name.trim(), case["name"].as_str().unwrap());
        let content = ok(&["cat", p(&obj), "--blocks", p(&blocks)]);
        assert_eq!(
            hex_of(content.as_bytes()),
            case["content_hex"].as_str().unwrap()
        );
    }
    let invalid: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(vectors.join("invalid.json")).unwrap()).unwrap();
    for case in invalid.as_array().unwrap() {
        let obj = vectors.join("invalid").join(case["file"].as_str().unwrap());
        fails(&["verify", p(&obj)]);
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Deterministic bytes with no repeating blocks (xorshift64).
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
