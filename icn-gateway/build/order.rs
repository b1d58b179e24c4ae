//! Puts the wasm's functions in an order that gzip compresses better.
//!
//! gzip (deflate) finds repeats only within the last 32 KB it has read. The
//! bundle's code is about 200 KB of functions, many of them near-copies: the
//! same `Vec` or iterator code compiled for several element types, decoders
//! of similar messages. walrus, which wasm-bindgen writes the module with,
//! orders functions largest first, which scatters those copies. Here each
//! function is followed by the remaining one that shares the most 4-byte
//! sequences with the last few placed, so copies sit within reach of each
//! other: about 2 % off the served wasm (BENCHMARKS.md, "The browser bundle").
//!
//! Moving a function changes its index, so the module is re-encoded with
//! every reference to a function (calls, exports, the start function,
//! element segments) mapped to the new index. Nothing else changes: the
//! same functions with the same bodies, in another order.

use std::collections::HashMap;

use wasm_encoder::reencode::{self, Reencode};
use wasmparser::{CodeSectionReader, FunctionSectionReader, Parser, Payload};

/// How many of the functions placed last a candidate is compared with.
const WINDOW: usize = 4;

/// `wasm` with its functions in compression order. Panics (failing the
/// build) on a module it cannot read, which wasm-bindgen never writes.
pub(crate) fn for_gzip(wasm: &[u8]) -> Vec<u8> {
    let (imported, bodies) = functions(wasm);
    let order = similarity_order(&bodies);
    let mut new_of_old = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of_old[old] = u32::try_from(new).expect("fewer than 2^32 functions");
    }
    let mut re = Reorder {
        imported,
        order,
        new_of_old,
    };
    let mut module = wasm_encoder::Module::new();
    re.parse_core_module(&mut module, Parser::new(0), wasm)
        .unwrap_or_else(|e| panic!("re-encoding the wasm failed: {e}"));
    module.finish()
}

/// The number of imported functions and the bytes of each local function's
/// body, in index order.
fn functions(wasm: &[u8]) -> (u32, Vec<&[u8]>) {
    let mut imported = 0;
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("wasm-bindgen writes valid wasm") {
            Payload::ImportSection(s) => {
                for import in s.into_imports() {
                    let import = import.expect("a valid import");
                    if matches!(import.ty, wasmparser::TypeRef::Func(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(&wasm[body.range()]),
            _ => {}
        }
    }
    (imported, bodies)
}

/// A greedy order: start with the largest function, then repeatedly take
/// the function whose 4-byte sequences are most often among those of the
/// last [`WINDOW`] placed (each shared one counts 3, each new one −1).
/// Deterministic: ties go to the lower index.
fn similarity_order(bodies: &[&[u8]]) -> Vec<usize> {
    let grams: Vec<Vec<u32>> = bodies.iter().map(|b| gram_set(b)).collect();
    // Which functions hold each sequence.
    let mut holders: HashMap<u32, Vec<usize>> = HashMap::new();
    for (f, g) in grams.iter().enumerate() {
        for &x in g {
            holders.entry(x).or_default().push(f);
        }
    }
    // How many window functions hold each sequence, and for each function
    // how many of its sequences the window holds.
    let mut in_window: HashMap<u32, u32> = HashMap::new();
    let mut shared = vec![0i64; bodies.len()];
    let mut placed = vec![false; bodies.len()];
    let mut order = Vec::with_capacity(bodies.len());
    let mut next = (0..bodies.len()).max_by_key(|&f| (bodies[f].len(), std::cmp::Reverse(f)));
    while let Some(f) = next {
        placed[f] = true;
        order.push(f);
        for &x in &grams[f] {
            let n = in_window.entry(x).or_default();
            *n += 1;
            if *n == 1 {
                for &h in &holders[&x] {
                    shared[h] += 1;
                }
            }
        }
        if order.len() > WINDOW {
            let gone = order[order.len() - 1 - WINDOW];
            for &x in &grams[gone] {
                let n = in_window.get_mut(&x).expect("counted when it entered");
                *n -= 1;
                if *n == 0 {
                    for &h in &holders[&x] {
                        shared[h] -= 1;
                    }
                }
            }
        }
        next = (0..bodies.len())
            .filter(|&h| !placed[h])
            .max_by_key(|&h| (4 * shared[h] - grams[h].len() as i64, std::cmp::Reverse(h)));
    }
    order
}

/// The distinct 4-byte sequences of `body`, each read as a `u32`.
fn gram_set(body: &[u8]) -> Vec<u32> {
    let mut g: Vec<u32> = body
        .windows(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    g.sort_unstable();
    g.dedup();
    g
}

/// Re-encodes a module with its local functions in `order`.
struct Reorder {
    imported: u32,
    /// The old local index of each new position.
    order: Vec<usize>,
    /// The new position of each old local index.
    new_of_old: Vec<u32>,
}

impl Reencode for Reorder {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, reencode::Error<Self::Error>> {
        Ok(match func.checked_sub(self.imported) {
            Some(local) => self.imported + self.new_of_old[local as usize],
            None => func,
        })
    }

    fn parse_function_section(
        &mut self,
        functions: &mut wasm_encoder::FunctionSection,
        section: FunctionSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        let types = section.into_iter().collect::<Result<Vec<u32>, _>>()?;
        for i in 0..self.order.len() {
            let ty = self.type_index(types[self.order[i]])?;
            functions.function(ty);
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        section: CodeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        let bodies = section.into_iter().collect::<Result<Vec<_>, _>>()?;
        for i in 0..self.order.len() {
            self.parse_function_body(code, bodies[self.order[i]].clone())?;
        }
        Ok(())
    }
}
