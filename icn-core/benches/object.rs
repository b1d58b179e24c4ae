//! Object and block benchmarks: `cargo bench -p icn-core --bench object`.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use icn_core::block::{chunk, DEFAULT_BLOCK_SIZE};
use icn_core::{ContentObject, Name, Payload, PublisherId, SignedObject};

fn object_1k(key: &SigningKey) -> ContentObject {
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    ContentObject {
        name: Name::parse("/blog/2026/hello")
            .unwrap()
            .prefixed(publisher.as_bytes())
            .unwrap(),
        version: 1_700_000_000_000,
        content_type: "text/plain".into(),
        created: 1_700_000_000_000,
        freshness: Some(60),
        payload: Payload::Inline(vec![0x5a; 1024]),
    }
}

fn objects(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[42; 32]);
    let obj = object_1k(&key);
    let signed = SignedObject::sign(obj.clone(), &key).unwrap();
    let bytes = signed.encoded().to_vec();
    let mut g = c.benchmark_group("object_1KiB");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode", |b| {
        b.iter(|| black_box(&obj).encode_body(&key.verifying_key()))
    });
    g.bench_function("sign", |b| {
        b.iter(|| SignedObject::sign(black_box(obj.clone()), &key).unwrap())
    });
    g.bench_function("decode", |b| {
        b.iter(|| SignedObject::decode_unverified(black_box(&bytes)).unwrap())
    });
    g.bench_function("verify", |b| {
        b.iter(|| black_box(&signed).verify().unwrap())
    });
    g.bench_function("decode_and_verify", |b| {
        b.iter(|| SignedObject::decode(black_box(&bytes)).unwrap())
    });
    g.finish();
}

fn blocks(c: &mut Criterion) {
    let data: Vec<u8> = (0..100u32 << 20).map(|i| (i ^ (i >> 9)) as u8).collect();
    let mut g = c.benchmark_group("chunk");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("chunk_and_hash_100MiB", |b| {
        b.iter(|| chunk(black_box(&data), DEFAULT_BLOCK_SIZE).unwrap())
    });
    g.finish();
}

criterion_group!(benches, objects, blocks);
criterion_main!(benches);
