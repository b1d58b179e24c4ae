//! The build script's function reordering (`build/order.rs`) keeps every
//! reference pointing at the same function.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

#[path = "../build/order.rs"]
#[allow(dead_code, unreachable_pub)]
mod order;

use wasm_encoder::{
    CodeSection, ConstExpr, ElementSection, Elements, EntityType, ExportKind, ExportSection,
    Function, FunctionSection, ImportSection, Instruction, Module, RefType, TableSection,
    TableType, TypeSection, ValType,
};
use wasmparser::{Operator, Parser, Payload, Validator};

/// Local functions in the test module: function `i` (index 1 + i, after
/// one import) returns `i` and calls function `(i * 7 + 3) % N`; the bodies
/// come in three sizes so the similarity order differs from index order.
const N: u32 = 40;

fn target(i: u32) -> u32 {
    (i * 7 + 3) % N
}

fn module() -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I32], []);
    let mut imports = ImportSection::new();
    imports.import("env", "log", EntityType::Function(1));
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    for i in 0..N {
        funcs.function(0);
        let mut f = Function::new([]);
        for _ in 0..(i % 3) * 5 {
            f.instruction(&Instruction::I32Const(i as i32));
            f.instruction(&Instruction::Call(0));
        }
        f.instruction(&Instruction::Call(1 + target(i)));
        f.instruction(&Instruction::Drop);
        f.instruction(&Instruction::I32Const(i as i32));
        f.instruction(&Instruction::End);
        code.function(&f);
    }
    let mut tables = TableSection::new();
    tables.table(TableType {
        element_type: RefType::FUNCREF,
        table64: false,
        minimum: 2,
        maximum: None,
        shared: false,
    });
    let mut exports = ExportSection::new();
    exports.export("f5", ExportKind::Func, 1 + 5);
    let mut elems = ElementSection::new();
    elems.active(
        Some(0),
        &ConstExpr::i32_const(0),
        Elements::Functions([1 + 11, 1 + 29].as_slice().into()),
    );
    let mut m = Module::new();
    m.section(&types)
        .section(&imports)
        .section(&funcs)
        .section(&tables)
        .section(&exports)
        .section(&elems)
        .section(&code);
    m.finish()
}

/// What a reordered module says: for each function index, the constant its
/// body returns and the index it calls; the export's and start's targets;
/// the table's entries.
struct Facts {
    returns: Vec<i32>,
    calls: Vec<u32>,
    export: u32,
    elems: Vec<u32>,
}

fn facts(wasm: &[u8]) -> Facts {
    let mut f = Facts {
        returns: Vec::new(),
        calls: Vec::new(),
        export: 0,
        elems: Vec::new(),
    };
    for p in Parser::new(0).parse_all(wasm) {
        match p.unwrap() {
            Payload::ExportSection(s) => f.export = s.into_iter().next().unwrap().unwrap().index,
            Payload::ElementSection(s) => {
                let e = s.into_iter().next().unwrap().unwrap();
                if let wasmparser::ElementItems::Functions(r) = e.items {
                    f.elems = r.into_iter().map(|x| x.unwrap()).collect();
                }
            }
            Payload::CodeSectionEntry(body) => {
                let ops: Vec<Operator> = body
                    .get_operators_reader()
                    .unwrap()
                    .into_iter()
                    .map(|o| o.unwrap())
                    .collect();
                let n = ops.len();
                let Operator::I32Const { value } = ops[n - 2] else {
                    panic!("body ends with its constant")
                };
                let Operator::Call { function_index } = ops[n - 4] else {
                    panic!("then the call")
                };
                f.returns.push(value);
                f.calls.push(function_index);
            }
            _ => {}
        }
    }
    f
}

#[test]
fn reordering_moves_functions_and_keeps_every_reference() {
    let before = module();
    Validator::new().validate_all(&before).unwrap();
    let after = order::for_gzip(&before);
    Validator::new().validate_all(&after).expect("still valid");
    let f = facts(&after);
    let ret = |index: u32| f.returns[(index - 1) as usize];
    assert_eq!(f.returns.len(), N as usize);
    let moved = (0..N)
        .filter(|&i| f.returns[i as usize] != i as i32)
        .count();
    assert!(moved > 0, "the order changed");
    let mut seen: Vec<i32> = f.returns.clone();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..N as i32).collect::<Vec<_>>(),
        "each function once"
    );
    for (pos, &callee) in f.calls.iter().enumerate() {
        let i = f.returns[pos] as u32;
        assert_eq!(
            ret(callee),
            target(i) as i32,
            "function {i} calls its own target"
        );
    }
    assert_eq!(ret(f.export), 5);
    assert_eq!(
        f.elems.iter().map(|&e| ret(e)).collect::<Vec<_>>(),
        [11, 29]
    );
}

#[test]
fn reordering_is_deterministic() {
    let m = module();
    assert_eq!(order::for_gzip(&m), order::for_gzip(&m));
}
