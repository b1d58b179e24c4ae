//! Short names for the wasm's imports and exports, in the wasm and its glue.
//!
//! wasm-bindgen names every JS function the wasm imports after the Rust item
//! plus a 16-hex-digit hash (`__wbg_set_onmessage_b774ce693f973df0`), and
//! exports closures under names of up to 300 characters. Each name is written
//! twice, once in the wasm and once in the JS, and the hashes do not
//! compress. Nothing outside the glue sees these names (the JS API is the
//! `Peer` class), so they are renamed to one or two letters in both files:
//! 2.5 KB less of the gzip bundle (BENCHMARKS.md, "The browser bundle").
//!
//! The glue names them in two shapes only, which this relies on and checks:
//! an import is a key of the object `__wbg_get_imports()` returns (and every
//! import name starts with `__wb`, so it cannot be mistaken for other code),
//! and an export is read as `wasm.<name>`. The import module
//! (`./icn_web_bg.js`) appears once, as that object's key.

use std::collections::BTreeMap;

/// Renames the imports and exports of `module` and returns `js` rewritten
/// to match. Panics (failing the build) when the glue does not have the
/// shape described above: a wasm-bindgen upgrade must then revisit this.
pub(crate) fn shorten(module: &mut walrus::Module, js: &str) -> String {
    let mut js = js.to_string();
    let mut imports = BTreeMap::new();
    let mut modules = BTreeMap::new();
    for (i, import) in module.imports.iter_mut().enumerate() {
        assert!(
            import.name.starts_with("__wb"),
            "unexpected wasm import {:?}: revisit build/names.rs",
            import.name
        );
        let short = short_name(i);
        imports.insert(import.name.clone(), short.clone());
        import.name = short;
        let next = modules.len();
        let m = modules
            .entry(import.module.clone())
            .or_insert_with(|| short_name(next));
        import.module.clone_from(m);
    }
    let mut exports = BTreeMap::new();
    for (i, export) in module.exports.iter_mut().enumerate() {
        let short = format!("_{}", short_name(i));
        exports.insert(export.name.clone(), short.clone());
        export.name = short;
    }
    for (long, short) in &modules {
        let key = format!("\"{long}\": ");
        assert_eq!(
            js.matches(&key).count(),
            1,
            "import module {long} in the glue"
        );
        js = js.replace(&key, &format!("\"{short}\": "));
    }
    rename(&js, &imports, &exports)
}

/// Rewrites every identifier of `js` that names an import or export. An
/// import may only appear as an object key (`name:`); an export is renamed
/// where it is read as `wasm.name`, and also where it stands alone when the
/// name is wasm-bindgen's own (the glue wraps each closure export in a JS
/// function of the same name).
fn rename(
    js: &str,
    imports: &BTreeMap<String, String>,
    exports: &BTreeMap<String, String>,
) -> String {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut out = String::with_capacity(js.len());
    let mut rest = js;
    while let Some(start) = rest.find(ident) {
        let len = rest[start..]
            .find(|c| !ident(c))
            .unwrap_or(rest.len() - start);
        let (before, token, after) = (
            &rest[..start],
            &rest[start..start + len],
            &rest[start + len..],
        );
        out.push_str(before);
        let read = out.ends_with("wasm.");
        let is_word = !out.ends_with(|c: char| c == '.' || ident(c));
        let new = if let Some(short) = imports.get(token) {
            assert!(
                is_word && after.starts_with(':'),
                "the glue uses import {token} other than as a key: revisit build/names.rs"
            );
            short
        } else if let Some(short) = exports.get(token) {
            let generated = token.starts_with("__wb") || token.starts_with("wasm_bindgen");
            if read || (is_word && generated) {
                short
            } else {
                token
            }
        } else {
            assert!(
                !(token.starts_with('_')
                    && (2..=3).contains(&token.len())
                    && token[1..].bytes().all(|b| b.is_ascii_alphabetic())),
                "the glue has an identifier {token} like a short export name"
            );
            token
        };
        out.push_str(new);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `a`..`z`, `A`..`Z`, then two letters: `ba`, `bb`, ...
fn short_name(mut i: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut s = Vec::new();
    loop {
        s.push(LETTERS[i % LETTERS.len()]);
        i /= LETTERS.len();
        if i == 0 {
            break;
        }
    }
    s.reverse();
    String::from_utf8(s).expect("ASCII letters")
}
