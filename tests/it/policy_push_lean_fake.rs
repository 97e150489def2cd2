//! The benchmark's lean fake (`FakeErchef::start_lean`): its uploads go to a bookshelf of its
//! own instead of wiremock, and it must still check them as erchef's bookshelf does and refuse
//! a commit while a checksum is missing, or the bench would measure a laxer server.

use base64::Engine as _;
use chef_sync::policy::{LoadedPolicy, push_to};
use chef_testkit::policy_server::FakeErchef;
use md5::Digest as _;
use serde_json::{Value, json};

use super::policy_push::{client, options, repo, target};

fn md5_hex(bytes: &[u8]) -> String {
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_push_to_a_lean_fake_uploads_to_its_bookshelf_and_moves_the_group() {
    let repo = repo();
    let fake = FakeErchef::start_lean().await;
    let shelf = fake
        .bookshelf_address()
        .expect("a lean fake has a bookshelf");
    assert_ne!(shelf, *fake.server.address());
    let opts = options(repo.cache.path());
    let policy = LoadedPolicy::load(&repo.lock, &opts.cache).await.unwrap();
    let report = push_to(
        vec![target(&fake, "lean", "prod")],
        std::slice::from_ref(&policy),
        &opts,
    )
    .await;
    assert!(report.ok, "{}", report.render_table());
    assert!(report.servers[0].files_sent > 0);
    assert_eq!(
        fake.group_revision("prod", "web").as_deref(),
        policy.lock.revision_id()
    );
    let st = fake.state();
    // Every file of the lock reached the bookshelf and was committed; only checksums kept.
    for file in policy.cookbooks.iter().flat_map(|c| &c.identity.files) {
        assert!(st.committed.contains(&file.checksum()), "{}", file.path());
        assert_eq!(st.files.get(&file.checksum()).map(Vec::len), Some(0));
    }
}

#[tokio::test]
async fn the_lean_bookshelf_checks_content_md5_and_the_commit_waits_for_every_file() {
    let fake = FakeErchef::start_lean().await;
    let c = client(&fake.org_url());
    let body = b"never uploaded yet\n";
    let checksum = md5_hex(body);
    let answer: Value = c
        .post("sandboxes", &json!({"checksums": {checksum.clone(): null}}))
        .await
        .unwrap();
    let url = answer["checksums"][&checksum]["url"].as_str().unwrap();
    let shelf = fake.bookshelf_address().unwrap();
    assert!(
        url.starts_with(&format!("http://{shelf}/bookshelf/")),
        "{url}"
    );
    let uri = answer["uri"].as_str().unwrap();
    let sandbox = uri.rsplit_once("/organizations/acme/").unwrap().1;

    // Nothing uploaded: the commit is refused.
    let err = c
        .put::<_, Value>(sandbox, &json!({"is_completed": true}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");

    let http = reqwest::Client::new();
    let good_md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body));
    let put = |bytes: &'static [u8], md5: Option<String>| {
        let mut req = http.put(url).body(bytes);
        if let Some(md5) = md5 {
            req = req.header("content-md5", md5);
        }
        req.send()
    };
    // Another body under this checksum, a missing header, a header naming other bytes: 400.
    let other_md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b"x"));
    for (bytes, md5) in [
        (&b"other bytes\n"[..], Some(good_md5.clone())),
        (&body[..], None),
        (&body[..], Some(other_md5)),
    ] {
        let answer = put(bytes, md5).await.unwrap();
        assert_eq!(answer.status().as_u16(), 400);
    }
    assert!(fake.state().files.is_empty());
    let err = c
        .put::<_, Value>(sandbox, &json!({"is_completed": true}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");

    let answer = put(body, Some(good_md5)).await.unwrap();
    assert_eq!(answer.status().as_u16(), 204);
    c.put::<_, Value>(sandbox, &json!({"is_completed": true}))
        .await
        .unwrap();
    assert!(fake.state().committed.contains(&checksum));
}

/// The bench's bookshelves play the round trip themselves instead of sitting behind a
/// delaying proxy: each answer at least one RTT after its request, and a new connection's
/// first answer a further RTT later (the handshake a loopback proxy does not play). Only
/// lower bounds are asserted: they hold however loaded the machine is.
#[tokio::test]
async fn a_bookshelf_with_a_round_trip_answers_one_rtt_late_and_a_new_connection_two() {
    const RTT: std::time::Duration = std::time::Duration::from_millis(150);
    let fake = FakeErchef::start_lean().await;
    fake.set_bookshelf_rtt(RTT);
    let shelf = fake.bookshelf_address().unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://{shelf}/bookshelf/0123");
    let started = std::time::Instant::now();
    let first = http.get(&url).send().await.unwrap();
    let first_took = started.elapsed();
    assert_eq!(first.status().as_u16(), 404);
    let started = std::time::Instant::now();
    let second = http.get(&url).send().await.unwrap();
    let second_took = started.elapsed();
    assert_eq!(second.status().as_u16(), 404);
    assert!(first_took >= 2 * RTT, "first answer after {first_took:?}");
    assert!(second_took >= RTT, "second answer after {second_took:?}");
}
