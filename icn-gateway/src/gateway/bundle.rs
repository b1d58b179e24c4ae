//! The browser bundle and demo page, embedded in the binary.
//!
//! `build.rs` compiles `icn-web` to wasm and runs wasm-bindgen on it; the
//! resulting files are included here so `icn gateway` serves `/pkg/…` and
//! `/` with nothing else installed. Each response carries a strong ETag (the
//! SHA-256 of the bytes sent) and `Cache-Control: no-cache`, so browsers
//! revalidate cheaply and never run a stale bundle after an upgrade.
//!
//! Each file is embedded twice: as is, and gzip-compressed by `build.rs`
//! (zopfli). A client that accepts gzip gets the compressed copy, a third of
//! the wasm's size, with nothing compressed per request.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// File name under `/pkg/` (or `""` for the page at `/`).
    pub name: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes.
    pub bytes: &'static [u8],
    /// The same, gzip-compressed.
    pub gzip: &'static [u8],
    /// The ETags of the two, computed at the first request.
    etags: OnceLock<[String; 2]>,
}

macro_rules! pkg {
    ($file:literal, $ctype:literal) => {
        Asset {
            name: $file,
            content_type: $ctype,
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/", $file)),
            gzip: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/", $file, ".gz")),
            etags: OnceLock::new(),
        }
    };
}

/// The JS API, its wasm and its TypeScript declarations.
pub static PKG: [Asset; 3] = [
    pkg!("icn_web.js", "text/javascript; charset=utf-8"),
    pkg!("icn_web_bg.wasm", "application/wasm"),
    pkg!("icn_web.d.ts", "application/typescript; charset=utf-8"),
];

/// The demo page served at `/`.
pub static PAGE: Asset = Asset {
    name: "",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("page.html"),
    gzip: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/page.html.gz")),
    etags: OnceLock::new(),
};

/// The file `/pkg/<name>`, if it is one of ours.
pub fn pkg(name: &str) -> Option<&'static Asset> {
    PKG.iter().find(|a| a.name == name)
}

impl Asset {
    /// The bytes to send, gzip-compressed or not.
    pub fn body(&self, gzip: bool) -> &'static [u8] {
        if gzip {
            self.gzip
        } else {
            self.bytes
        }
    }

    /// Strong ETag of one representation: the quoted hex of the first half
    /// of its SHA-256 (the two encodings of a file are different
    /// representations, with different tags).
    pub fn etag(&self, gzip: bool) -> &str {
        let tags = self.etags.get_or_init(|| {
            [false, true].map(|z| {
                let d = Sha256::digest(self.body(z));
                let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
        });
        &tags[usize::from(gzip)]
    }
}

/// Whether an `Accept-Encoding` header value admits gzip (RFC 9110,
/// 12.5.3): a `gzip` or `x-gzip` entry decides by its quality (refused at
/// `q=0`); without one, a `*` entry does; without either, no.
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut any = false;
    for entry in accept_encoding.split(',') {
        let mut parts = entry.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let admitted = !parts.any(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            name.trim().eq_ignore_ascii_case("q")
                && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
        });
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return admitted;
        }
        any |= coding == "*" && admitted;
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_is_embedded_and_whole() {
        let wasm = pkg("icn_web_bg.wasm").unwrap();
        assert_eq!(&wasm.bytes[..4], b"\0asm");
        let js = std::str::from_utf8(pkg("icn_web.js").unwrap().bytes).unwrap();
        assert!(js.contains("class Peer"), "the JS glue exports Peer");
        assert!(std::str::from_utf8(pkg("icn_web.d.ts").unwrap().bytes)
            .unwrap()
            .contains("publish("));
        assert!(pkg("../Cargo.toml").is_none());
        assert_ne!(pkg("icn_web.js").unwrap().etag(false), wasm.etag(false));
        assert_ne!(wasm.etag(true), wasm.etag(false));
    }

    #[test]
    fn every_file_is_embedded_gzipped_too() {
        use std::io::Read;
        for a in PKG.iter().chain([&PAGE]) {
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(a.gzip)
                .read_to_end(&mut inflated)
                .unwrap();
            assert!(inflated == a.bytes, "{} differs when inflated", a.name);
            assert!(a.gzip.len() < a.bytes.len() / 2, "{} barely shrank", a.name);
        }
    }

    #[test]
    fn accept_encoding_is_read_with_its_qualities() {
        for yes in [
            "gzip",
            "gzip, deflate, br, zstd",
            "br;q=1.0, GZIP;q=0.5",
            "*",
            "x-gzip",
            "gzip;é",
            "gzip;aé=0",
            "gzip;q=x",
            "br;q=0, *",
        ] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "identity",
            "br",
            "gzip;q=0",
            "gzip; Q = 0.000",
            "*;q=0",
            "gzipx",
            "GZIP;q=0,br",
            "gzip;q=0, *",
        ] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }

    proptest::proptest! {
        /// Any header value is read without a panic, and the first explicit
        /// gzip entry decides, whatever follows it.
        #[test]
        fn any_accept_encoding_is_read(rest in "\\PC{0,200}") {
            let _ = accepts_gzip(&rest);
            let first = format!("gzip,{rest}");
            let refused = format!("x-gzip;q=0,{rest}");
            proptest::prop_assert!(accepts_gzip(&first));
            proptest::prop_assert!(!accepts_gzip(&refused));
        }
    }
}
