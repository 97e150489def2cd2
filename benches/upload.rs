//! End-to-end upload of a generated 200-file cookbook to a local goiardi.
//!
//! Every iteration uploads a new version whose files all have new contents, so the server
//! needs every file: one listing, one sandbox, 201 file PUTs (200 files plus the generated
//! metadata.json), the commit and the manifest. Generating and hashing the cookbook happens in
//! the untimed setup. Measured with 16 file PUTs in flight (the default) and with 1, as the
//! sequential reference. Needs `goiardi` on `PATH` (or `$GOIARDI`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chef_api::cookbook::LoadedCookbook;
use chef_api::upload::{Outcome, UploadOptions, Uploader};
use chef_testkit::goiardi::Goiardi;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const FILES: usize = 200;

/// Bytes of file `i` (2–22 KB), salted so every iteration's checksums are new.
fn size(i: usize) -> usize {
    2_000 + (i * 7_919) % 20_000
}

fn generate(root: &Path, iteration: u64) -> Arc<LoadedCookbook> {
    let dir = root.join(format!("bench-{iteration}"));
    let mut state = 0x9e37_79b9_u32 ^ iteration as u32;
    for i in 0..FILES {
        let seg = [
            "recipes",
            "templates/default",
            "attributes",
            "libraries",
            "files/host-web1",
        ][i % 5];
        let path = dir.join(format!("{seg}/f{i:03}.rb"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let mut body = format!("# iteration {iteration} file {i}\n").into_bytes();
        body.extend((0..size(i)).map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            b'a' + (state % 26) as u8
        }));
        std::fs::write(path, body).expect("write");
    }
    std::fs::write(
        dir.join("metadata.rb"),
        format!("name 'bench'\nversion '1.0.{iteration}'\n"),
    )
    .expect("metadata");
    Arc::new(LoadedCookbook::load(&dir).expect("load"))
}

fn bench(c: &mut Criterion) {
    let goiardi = Goiardi::start().expect("goiardi");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = goiardi.admin_client().expect("client");
    let tmp = tempfile::tempdir().expect("tempdir");
    let iteration = AtomicU64::new(0);
    let bytes: u64 = (0..FILES).map(|i| size(i) as u64 + 24).sum();

    let mut group = c.benchmark_group("upload");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Bytes(bytes));
    for concurrency in [16, 1] {
        let options = UploadOptions {
            file_concurrency: concurrency,
            ..UploadOptions::default()
        };
        let uploader = Uploader::new(client.clone(), options);
        let name = format!("goiardi_200_files_all_new_concurrency_{concurrency}");
        group.bench_function(name, |b| {
            b.iter_batched(
                || generate(tmp.path(), iteration.fetch_add(1, Ordering::Relaxed)),
                |cookbook| {
                    let results = rt
                        .block_on(uploader.upload(std::slice::from_ref(&cookbook)))
                        .expect("upload");
                    assert_eq!(results[0].outcome, Outcome::Created, "{results:?}");
                    assert_eq!(results[0].files_sent, cookbook.files().len() as u64);
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
