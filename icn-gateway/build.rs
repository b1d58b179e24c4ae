//! Builds the browser bundle that `icn gateway` serves at `/pkg/`.
//!
//! `cargo build -p icn-gateway` alone must give one `icn` binary holding the
//! JS API, its wasm and TypeScript types, so this script compiles `icn-web`
//! for `wasm32-unknown-unknown` with the size-tuned `wasm-release` profile,
//! in a target directory of its own (the outer build holds a lock on the
//! normal one), and runs wasm-bindgen through its library,
//! `wasm-bindgen-cli-support`, pinned to the same version as the
//! `wasm-bindgen` crate so the generated glue matches. If `wasm-opt` (npm's
//! `binaryen`; Debian's 108 corrupts output) is on `PATH` or named by
//! `ICN_WASM_OPT`, the wasm is also shrunk with `-O1`.
//!
//! The wasm's imports and exports get one- or two-letter names in the wasm
//! and its JS glue alike (`build/names.rs`), and the glue loses its comments
//! and indentation. Last, the wasm's functions are put in an order that
//! gzip compresses 2 % better (`build/order.rs`).
//!
//! `ICN_WEB_PKG=<dir>` embeds a bundle built elsewhere instead (it must hold
//! `icn_web.js`, `icn_web_bg.wasm` and `icn_web.d.ts`).
//!
//! Every file the gateway serves (the bundle and the demo page) is also
//! embedded gzip-compressed, by zopfli: its output is plain gzip that every
//! browser inflates, about 5 % smaller than `gzip -9`'s, and it costs
//! seconds once per build instead of work on every request.

// A build script reports failure by panicking with a message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "build/names.rs"]
mod names;
#[path = "build/order.rs"]
mod order;

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: [&str; 3] = ["icn_web.js", "icn_web_bg.wasm", "icn_web.d.ts"];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .expect("icn-gateway sits in the workspace")
        .to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("pkg");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/pkg");
    println!("cargo:rerun-if-env-changed=ICN_WEB_PKG");
    println!("cargo:rerun-if-env-changed=ICN_WASM_OPT");
    let page = manifest.join("src/gateway/page.html");
    println!("cargo:rerun-if-changed={}", page.display());
    precompress(&page, &out.join("page.html.gz"));
    if let Ok(dir) = env::var("ICN_WEB_PKG") {
        for f in FILES {
            let from = Path::new(&dir).join(f);
            println!("cargo:rerun-if-changed={}", from.display());
            std::fs::copy(&from, out.join(f))
                .unwrap_or_else(|e| panic!("ICN_WEB_PKG: cannot copy {}: {e}", from.display()));
        }
    } else {
        build_bundle(&root, &out);
    }
    for f in FILES {
        precompress(&out.join(f), &out.join(format!("{f}.gz")));
    }
}

/// Builds the wasm, runs wasm-bindgen and writes the bundle into `out`.
fn build_bundle(root: &Path, out: &Path) {
    for p in [
        "icn-web/src",
        "icn-web/Cargo.toml",
        "icn-core/src",
        "icn-core/Cargo.toml",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let sysroot = sysroot();
    check_wasm_target(sysroot.as_deref());
    let wasm = build_wasm(root, rust_src_present(sysroot.as_deref()));
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(&wasm)
        .web(true)
        .expect("the web target is always available")
        .typescript(true)
        .remove_producers_section(true)
        // wasm-bindgen names its own shims in a "name" section (3 KB raw,
        // 0.5 KB gzip) that only a debugger reads; the Rust code's names
        // are already stripped by the wasm-release profile.
        .remove_name_section(true)
        // The CLI's default: init() finds the wasm next to the JS.
        .omit_default_module_path(false);
    let mut output = bindgen
        .generate_output()
        .unwrap_or_else(|e| panic!("wasm-bindgen failed on {}: {e:#}", wasm.display()));
    let js = output.js().to_string();
    let glue = names::shorten(output.wasm_mut(), &js);
    output
        .emit(out)
        .unwrap_or_else(|e| panic!("write the bundle to {}: {e:#}", out.display()));
    let wasm = out.join("icn_web_bg.wasm");
    optimize(&wasm);
    let ordered = order::for_gzip(&std::fs::read(&wasm).expect("read the wasm just written"));
    std::fs::write(&wasm, ordered).expect("write the reordered wasm");
    std::fs::write(out.join("icn_web.js"), compact_glue(&glue)).expect("write the compacted JS");
}

/// Writes `from`, gzip-compressed by zopfli, to `to`.
fn precompress(from: &Path, to: &Path) {
    let raw = std::fs::read(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    let mut gz = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        &raw[..],
        &mut gz,
    )
    .expect("compressing into memory cannot fail");
    std::fs::write(to, gz).unwrap_or_else(|e| panic!("write {}: {e}", to.display()));
}

/// Drops the comments and the indentation from wasm-bindgen's JS glue: a
/// sixth of its gzip size, and the documentation stays in the `.d.ts`. Only
/// whole-line comments go (`/** ... */` blocks and `//` lines), and only
/// whole-line `/** ... */` blocks when a template literal spans lines (an
/// odd number of backticks on a line): there the other two would change
/// the literal's text.
fn compact_glue(js: &str) -> String {
    let mut kept = Vec::new();
    let mut in_doc = false;
    for line in js.lines() {
        let t = line.trim_start();
        if in_doc {
            in_doc = !t.starts_with("*/");
        } else if t == "/**" {
            in_doc = true;
        } else {
            kept.push(line);
        }
    }
    if in_doc {
        return js.to_string(); // an unclosed comment: not the shape we know
    }
    let safe = kept.iter().all(|l| l.matches('`').count() % 2 == 0);
    let mut out = String::with_capacity(js.len());
    for line in kept {
        let t = line.trim_start();
        if safe && t.starts_with("//") {
            continue;
        }
        out.push_str(if safe { t } else { line });
        out.push('\n');
    }
    out
}

/// Fails with the command that fixes it when the wasm32 target is missing.
fn check_wasm_target(sysroot: Option<&Path>) {
    let present = sysroot.is_some_and(|s| s.join("lib/rustlib/wasm32-unknown-unknown").is_dir());
    if !present {
        panic!(
            "\n\nicn-gateway embeds the browser peer, which needs the wasm32 target:\n\n    \
             rustup target add wasm32-unknown-unknown\n\n(or set ICN_WEB_PKG to a directory \
             holding a bundle built elsewhere)\n"
        );
    }
}

/// The toolchain's sysroot, if rustc answers.
fn sysroot() -> Option<PathBuf> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Whether the standard library's source (`rustup component add rust-src`)
/// is installed, so the wasm build can compile its own size-tuned copy.
fn rust_src_present(sysroot: Option<&Path>) -> bool {
    sysroot.is_some_and(|s| s.join("lib/rustlib/src/rust/library/core").is_dir())
}

/// Compiles icn-web for wasm32 and returns the path of its `.wasm`.
///
/// With the standard library's source at hand, std is compiled along with
/// the bundle (`-Zbuild-std`), tuned for size (`optimize_for_size`: small
/// sorts and formatting), with no panic locations and no `Debug` output
/// (`-Zlocation-detail=none -Zfmt-debug=none`; no message of ours uses
/// `{:?}`), and with rustc's MIR inliner on at a threshold of 100
/// (`-Zinline-mir=yes -Zinline-mir-threshold=100`; size-optimised builds
/// leave it off, though every `--release` build runs it): small generic
/// helpers are inlined before they are instantiated for each type, which
/// takes 3 KB gzip off the bundle (50, the default threshold, takes 2;
/// 150 takes 2). Those switches are unstable, so the nested cargo runs with
/// `RUSTC_BOOTSTRAP=1` on the stable toolchain; they take 15 KB off the
/// gzip size. Without the source the bundle is built without any of them,
/// with a warning.
fn build_wasm(root: &Path, build_std: bool) -> PathBuf {
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("icn-web-wasm");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "-p",
            "icn-web",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .args(["--profile", "wasm-release", "--target-dir"])
        .arg(&target_dir);
    // Flags and wrappers of the outer (host) build must not leak into the
    // wasm build: clippy's driver, host RUSTFLAGS, a forced target.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let mut flags = remap_flags(root);
    if build_std {
        cmd.env("RUSTC_BOOTSTRAP", "1").args([
            "-Zbuild-std=std,panic_abort",
            "-Zbuild-std-features=optimize_for_size",
        ]);
        flags.extend(
            [
                "-Zlocation-detail=none",
                "-Zfmt-debug=none",
                "-Zinline-mir=yes",
                "-Zinline-mir-threshold=100",
            ]
            .map(String::from),
        );
    } else {
        println!(
            "cargo:warning=the browser bundle is built without the standard library's source, \
             about 15 KB (gzip) larger; `rustup component add rust-src` makes it smaller"
        );
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\u{1f}"));
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for the wasm build: {e}"));
    if !status.success() {
        panic!("building icn-web for wasm32-unknown-unknown failed ({status})");
    }
    target_dir.join("wasm32-unknown-unknown/wasm-release/icn_web.wasm")
}

/// `--remap-path-prefix` flags that cut this machine's paths (the crate
/// registry, the workspace) out of the panic locations the bundle carries:
/// the bundle does not depend on where it is built, and it is a little
/// smaller.
fn remap_flags(root: &Path) -> Vec<String> {
    let mut prefixes: Vec<PathBuf> = vec![root.to_path_buf()];
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(Ok(dirs)) = cargo_home.map(|h| std::fs::read_dir(h.join("registry/src"))) {
        prefixes.extend(dirs.flatten().map(|d| d.path()));
    }
    // (The standard library's own paths stay: /rustc/<commit>/... when it
    // comes precompiled; when it is compiled with the bundle,
    // -Zlocation-detail=none leaves no paths to remap.)
    prefixes
        .iter()
        .map(|p| format!("--remap-path-prefix={}=", p.display()))
        .collect()
}

/// Shrinks the wasm with binaryen's `wasm-opt -O1` when it is available
/// (`-Oz` makes it smaller raw but larger gzipped; `-O1` saves 1.5 %
/// gzipped).
fn optimize(wasm: &Path) {
    let tool = env::var("ICN_WASM_OPT").unwrap_or_else(|_| "wasm-opt".into());
    let tmp = wasm.with_extension("opt.wasm");
    let ran = Command::new(&tool)
        .arg("-O1")
        .arg("--enable-bulk-memory")
        .arg("--enable-nontrapping-float-to-int")
        .arg("--enable-sign-ext")
        .arg("--enable-mutable-globals")
        .arg("--enable-reference-types")
        .arg("--enable-multivalue")
        .arg(wasm)
        .arg("-o")
        .arg(&tmp)
        .status();
    match ran {
        Ok(s) if s.success() => {
            std::fs::rename(&tmp, wasm).expect("replace the wasm with its optimized copy");
        }
        Ok(s) => println!("cargo:warning=wasm-opt failed ({s}); serving the unoptimized wasm"),
        Err(_) => {} // not installed: the bundle is larger, nothing else changes
    }
}
