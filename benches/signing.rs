//! Request signing and body hashing throughput (see `benches/README.md` for results).
//!
//! `cargo bench --bench signing -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use chef_api::key::PrivateKey;
use chef_api::sign::{ContentHasher, RequestToSign, SignVersion, content_hash, sign_request};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use md5::Digest as _;

const KEY: &str = include_str!("../tests/data/keys/mixlib-spec.pem");

fn signing(c: &mut Criterion) {
    let key = PrivateKey::from_pem(KEY).expect("spec key");
    assert_eq!(key.bits(), 2048);
    let mut group = c.benchmark_group("sign_2048");
    group.throughput(Throughput::Elements(1));
    for version in SignVersion::ALL {
        let req = RequestToSign {
            method: "PUT",
            path: "/organizations/clownco/cookbooks/apache2/1.2.3",
            content_hash: content_hash(version, b"{\"name\":\"apache2-1.2.3\"}"),
            user_id: "ci-uploader",
            timestamp: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            server_api_version: 1,
            version,
        };
        group.bench_function(version.to_string(), |b| {
            b.iter(|| sign_request(black_box(&key), black_box(&req)).expect("sign"));
        });
    }
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let body: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut group = c.benchmark_group("hash_1MiB");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("sha1 (1.0/1.1 content hash)", |b| {
        b.iter(|| content_hash(SignVersion::V1_1, black_box(&body)));
    });
    group.bench_function("sha256 (1.3 content hash)", |b| {
        b.iter(|| content_hash(SignVersion::V1_3, black_box(&body)));
    });
    group.bench_function("sha256 streamed in 64 KiB chunks", |b| {
        b.iter(|| {
            let mut h = ContentHasher::new(SignVersion::V1_3);
            for chunk in black_box(&body).chunks(64 * 1024) {
                h.update(chunk);
            }
            h.finish()
        });
    });
    group.bench_function("md5 (file checksum)", |b| {
        b.iter(|| md5::Md5::digest(black_box(&body)));
    });
    group.finish();
}

criterion_group!(benches, signing, hashing);
criterion_main!(benches);
