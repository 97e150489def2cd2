//! Cookbook load + hash throughput versus raw MD5 of the same bytes in one buffer.
//!
//! The tree is generated once: ~200 files, ~50 MB (a few large binaries plus many small
//! templates and recipes), like a real cookbook with vendored artifacts. Both benchmarks report
//! MB/s over the same byte count; the target is load+hash ≥ 80% of raw MD5.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use chef_api::cookbook::{Chefignore, CookbookFiles};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use md5::{Digest, Md5};

/// Writes the tree and returns every byte written (in one buffer, for the raw baseline).
fn generate(root: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    let mut state = 0x2545_f491_u32;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect()
    };
    let mut files: Vec<(String, usize)> = (0..10)
        .map(|i| (format!("files/default/blob{i}.bin"), 4 << 20))
        .collect();
    for i in 0..190 {
        let dir = [
            "recipes",
            "templates/default",
            "attributes",
            "libraries",
            "files/host-web1",
        ][i % 5];
        files.push((format!("{dir}/f{i:03}.rb"), 20_000 + (i * 997) % 70_000));
    }
    for (rel, size) in files {
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        let body = bytes(size);
        std::fs::write(&path, &body).expect("write");
        all.extend_from_slice(&body);
    }
    all
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let all = generate(tmp.path());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let mut group = c.benchmark_group("cookbook_load");
    group
        .throughput(Throughput::Bytes(all.len() as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("raw_md5_one_buffer", |b| {
        b.iter(|| black_box(Md5::digest(black_box(&all))));
    });
    group.bench_function("walk_and_hash_1_thread", |b| {
        b.iter(|| CookbookFiles::walk_with(tmp.path(), Chefignore::none(), 1).expect("walk"));
    });
    group.bench_function(format!("walk_and_hash_{threads}_threads"), |b| {
        b.iter(|| CookbookFiles::walk_with(tmp.path(), Chefignore::none(), threads).expect("walk"));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
