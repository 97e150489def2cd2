//! The client against scripted servers (wiremock, plus a small TLS listener): API-version
//! negotiation, retries, organisation path signing, clock and signing-version recovery,
//! error bodies, unsigned uploads, custom CAs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chef_api::Error;
use chef_api::client::{ChefClient, Clock, OffsetClock, RetryConfig, UploadBody};
use chef_api::sign::{self, RequestToSign, SignVersion};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use wiremock::matchers::{header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{API_HEADER, answer_at_api, fast_retry, spec_client, spec_key};

fn hdr<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn standard_headers_are_always_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cookbooks"))
        .and(query_param("num_versions", "all"))
        .and(header("X-Chef-Version", "18.4.12"))
        .and(header("Accept", "application/json"))
        .and(header(API_HEADER, "2"))
        .and(header("X-Ops-Userid", "spec-user"))
        .and(header_exists("X-Ops-Authorization-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apache2": {"url": "u", "versions": [{"url": "u/5.0.1", "version": "5.0.1"}]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/nodes/web1"))
        .and(header("X-Chef-Version", "18.4.12"))
        .and(header("Content-Type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "web1"})))
        .expect(1)
        .mount(&server)
        .await;

    let c = spec_client(&server.uri());
    let books = c.list_cookbooks().await.unwrap();
    assert_eq!(books["apache2"].versions[0].version.to_string(), "5.0.1");
    let node: Value = c.put("nodes/web1", &json!({"name": "web1"})).await.unwrap();
    assert_eq!(node["name"], "web1");
    // No version header in the answer: an unversioned server, v0.
    assert_eq!(c.api_version(), Some(0));
}

#[tokio::test]
async fn api_version_steps_down_after_406() {
    let server = MockServer::start().await;
    Mock::given(header(API_HEADER, "2"))
        .respond_with(ResponseTemplate::new(406).set_body_json(json!({
            "error": "invalid-x-ops-server-api-version",
            "message": "Specified version 2 not supported",
            "min_version": 0, "max_version": 1
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(header(API_HEADER, "1"))
        .respond_with(answer_at_api(1, json!({})))
        .expect(2)
        .mount(&server)
        .await;
    let c = spec_client(&server.uri());
    let nodes = c.list_nodes().await.unwrap();
    assert!(nodes.is_empty());
    assert_eq!(c.api_version(), Some(1));
    // Later requests go straight to v1.
    c.list_nodes().await.unwrap();
}

#[tokio::test]
async fn api_version_from_response_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(answer_at_api(2, json!({"name": "_default"})))
        .mount(&server)
        .await;
    let c = spec_client(&server.uri());
    assert_eq!(c.api_version(), None);
    assert_eq!(c.negotiate_api_version().await.unwrap(), 2);
    assert_eq!(c.api_version(), Some(2));
}

#[tokio::test]
async fn retries_503_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": ["busy"]})))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"n1": "url"})))
        .mount(&server)
        .await;
    let nodes = spec_client(&server.uri()).list_nodes().await.unwrap();
    assert_eq!(nodes["n1"], "url");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn gives_up_with_the_last_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"error": ["depsolver overloaded"]})),
        )
        .mount(&server)
        .await;
    let c = ChefClient::builder(server.uri())
        .with_client_name("spec-user")
        .with_key(spec_key())
        .with_retry(fast_retry(2))
        .build()
        .unwrap();
    let err = c.list_nodes().await.unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.messages(), ["depsolver overloaded"]);
    assert!(err.is_retryable());
    assert_eq!(server.received_requests().await.unwrap().len(), 3);

    // 4xx other than 429 is never retried.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": ["nope"]})))
        .mount(&server)
        .await;
    let err = spec_client(&server.uri()).node("x").await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = ChefClient::builder(format!("http://127.0.0.1:{port}"))
        .with_client_name("spec-user")
        .with_key(spec_key())
        .with_retry(fast_retry(1))
        .build()
        .unwrap();
    let err = c.list_nodes().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}/nodes")), "{text}");
    // The root cause is in the message, not only in the source chain.
    assert!(text.to_ascii_lowercase().contains("refused"), "{text}");
}

#[derive(Debug)]
struct Fixed(SystemTime);

impl Clock for Fixed {
    fn now(&self) -> SystemTime {
        self.0
    }
}

#[tokio::test]
async fn organisation_prefix_is_signed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/organizations/default/cookbooks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let c = ChefClient::builder(format!("{}/organizations/default/", server.uri()))
        .with_client_name("spec-user")
        .with_key(spec_key())
        .with_clock(Arc::new(Fixed(at)))
        .build()
        .unwrap();
    let _: Value = c.get("/cookbooks").await.unwrap();

    let req = &server.received_requests().await.unwrap()[0];
    let sent: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-ops-authorization-"))
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    assert!(!sent.is_empty());
    let expected = |p: &str| {
        let to_sign = RequestToSign {
            method: "GET",
            path: p,
            content_hash: sign::content_hash(SignVersion::V1_3, b""),
            user_id: "spec-user",
            timestamp: at,
            server_api_version: 2,
            version: SignVersion::V1_3,
        };
        let mut h: Vec<(String, String)> = sign::sign_request(&spec_key(), &to_sign)
            .unwrap()
            .into_iter()
            .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-ops-authorization-"))
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect();
        h.sort();
        h
    };
    let mut sent = sent;
    sent.sort();
    assert_eq!(sent, expected("/organizations/default/cookbooks"));
    assert_ne!(sent, expected("/cookbooks"));
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` into Unix seconds.
fn parse_timestamp(ts: &str) -> i64 {
    let n: Vec<i64> = ts
        .split(['-', 'T', ':', 'Z'])
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    days_from_civil(n[0], n[1], n[2]) * 86_400 + n[3] * 3600 + n[4] * 60 + n[5]
}

/// Answers like goiardi: 401 about the clock when the timestamp is over 15 minutes off.
struct ClockCheck;

impl Respond for ClockCheck {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let ts = parse_timestamp(hdr(req, "X-Ops-Timestamp").unwrap());
        let date = httpdate::fmt_http_date(SystemTime::now());
        if (now - ts).abs() >= 900 {
            ResponseTemplate::new(401)
                .insert_header("Date", date.as_str())
                .set_body_json(
                    json!({"error": ["Authentication failed. Please check your system's clock."]}),
                )
        } else {
            ResponseTemplate::new(200)
                .insert_header("Date", date.as_str())
                .set_body_json(json!({"ok": true}))
        }
    }
}

#[tokio::test]
async fn clock_twenty_minutes_off_is_corrected() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ClockCheck)
        .mount(&server)
        .await;
    let c = ChefClient::builder(server.uri())
        .with_client_name("spec-user")
        .with_key(spec_key())
        .with_clock(Arc::new(OffsetClock(-1200)))
        .build()
        .unwrap();
    let v: Value = c.get("nodes").await.unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert!((c.clock_offset_seconds() - 1200).abs() <= 2);
    // The offset sticks: the next request succeeds at once.
    let _: Value = c.get("nodes").await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

/// A server that only speaks 1.0/1.1.
struct OldSigner;

impl Respond for OldSigner {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if hdr(req, "X-Ops-Sign").unwrap_or_default().contains("1.3") {
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": ["Unsupported authentication protocol version"]}))
        } else {
            ResponseTemplate::new(200).set_body_json(json!({}))
        }
    }
}

#[tokio::test]
async fn falls_back_to_1_1_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(OldSigner)
        .mount(&server)
        .await;
    let c = spec_client(&server.uri());
    assert_eq!(c.sign_version(), SignVersion::V1_3);
    c.list_nodes().await.unwrap();
    assert_eq!(c.sign_version(), SignVersion::V1_1);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    assert!(hdr(&reqs[1], "X-Ops-Sign").unwrap().contains("version=1.1"));
}

#[tokio::test]
async fn error_bodies_of_each_shape() {
    let server = MockServer::start().await;
    let cases: [(&str, u16, ResponseTemplate); 6] = [
        ("/s", 404, ResponseTemplate::new(404).set_body_json(json!({"error": "User not found"}))),
        ("/a", 400, ResponseTemplate::new(400).set_body_json(json!({"error": ["Field 'name' invalid", "second"]}))),
        ("/o", 412, ResponseTemplate::new(412).set_body_json(json!({"error": [{"message": "Run list contains invalid items", "non_existent_cookbooks": ["nope"]}]}))),
        ("/p", 413, ResponseTemplate::new(413).set_body_string("JSON body too big")),
        ("/c", 409, ResponseTemplate::new(409).set_body_json(json!({"error": ["Node already exists"]}))),
        ("/u", 401, ResponseTemplate::new(401).set_body_json(json!({"error": ["Invalid signature for user or client 'spec-user'"]}))),
    ];
    for (p, _, t) in &cases {
        Mock::given(path(*p))
            .respond_with(t.clone())
            .mount(&server)
            .await;
    }
    let c = spec_client(&server.uri());
    let err = |p: &'static str| {
        let c = c.clone();
        async move { c.get::<Value>(p).await.unwrap_err() }
    };
    let e = err("s").await;
    assert!(
        e.is_not_found() && e.messages() == ["User not found"],
        "{e}"
    );
    let e = err("a").await;
    assert!(matches!(e, Error::BadRequest(_)));
    assert_eq!(e.messages(), ["Field 'name' invalid", "second"]);
    let e = err("o").await;
    assert_eq!(e.status(), Some(412));
    assert!(e.messages()[0].contains("non_existent_cookbooks"), "{e}");
    let e = err("p").await;
    assert!(matches!(e, Error::BadRequest(_)));
    assert_eq!(e.messages(), ["JSON body too big"]);
    assert!(err("c").await.is_conflict());
    let e = err("u").await;
    assert!(e.is_unauthorized());
    let text = e.to_string();
    assert!(
        text.contains("Invalid signature") && text.contains("clock"),
        "{text}"
    );
    assert!(text.contains(&format!("{}/u", server.uri())), "{text}");
}

#[tokio::test]
async fn invalid_response_names_the_json_path() {
    let server = MockServer::start().await;
    Mock::given(path("/cookbooks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apache2": {"url": "u", "versions": [{"url": "u", "version": "not.a.version.x"}]}
        })))
        .mount(&server)
        .await;
    let err = spec_client(&server.uri())
        .list_cookbooks()
        .await
        .unwrap_err();
    match &err {
        Error::InvalidResponse { path, .. } => assert_eq!(path, "apache2.versions[0].version"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn search_pages_until_done_and_partial_search_posts_keys() {
    let server = MockServer::start().await;
    // goiardi-style pages: `total` is the number of rows in the page.
    for (start, rows) in [("0", vec![1, 2]), ("2", vec![3, 4]), ("4", vec![5])] {
        let rows: Vec<Value> = rows.into_iter().map(|n| json!({"name": n})).collect();
        Mock::given(method("GET"))
            .and(path("/search/node"))
            .and(query_param("q", "role:web AND x:y"))
            .and(query_param("start", start))
            .and(query_param("rows", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"total": rows.len(), "start": start.parse::<u64>().unwrap(), "rows": rows}),
            ))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/search/node"))
        .and(wiremock::matchers::body_json(json!({"ip": ["ipaddress"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total": 1, "start": 0, "rows": [{"url": "u/n1", "data": {"ip": "10.0.0.1"}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = spec_client(&server.uri());
    let opts = chef_api::endpoints::SearchOptions {
        rows: 2,
        sort: None,
    };
    let all = c
        .search_with("node", "role:web AND x:y", &opts, None)
        .await
        .unwrap();
    let names: Vec<i64> = all.iter().map(|r| r["name"].as_i64().unwrap()).collect();
    assert_eq!(names, [1, 2, 3, 4, 5]);

    let keys = BTreeMap::from([("ip".to_owned(), vec!["ipaddress".to_owned()])]);
    let rows = c.partial_search("node", "*:*", &keys).await.unwrap();
    assert_eq!(rows[0]["data"]["ip"], "10.0.0.1");
}

#[tokio::test]
async fn unsigned_file_put_has_exact_length_and_md5() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/file_store/abc"))
        .and(header("Content-Type", "application/x-binary"))
        .and(header("Content-MD5", "sZRqySSS0jR8YjW00mERhA=="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/file_store/abc"))
        .respond_with(ResponseTemplate::new(200).set_body_string("hello\n"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    let content = b"hello\n".repeat(20_000);
    std::fs::write(&file, &content).unwrap();
    let c = spec_client(&server.uri());
    let url = url::Url::parse(&format!("{}/file_store/abc", server.uri())).unwrap();
    c.put_file(&url, &file, "sZRqySSS0jR8YjW00mERhA==")
        .await
        .unwrap();
    let req = &server.received_requests().await.unwrap()[0];
    assert_eq!(
        hdr(req, "Content-Length"),
        Some(content.len().to_string().as_str())
    );
    assert!(hdr(req, "Transfer-Encoding").is_none());
    assert!(hdr(req, "X-Ops-Authorization-1").is_none());
    assert_eq!(req.body, content);

    assert_eq!(&c.download(&url).await.unwrap()[..], b"hello\n");
    let chunks: Vec<bytes::Bytes> =
        futures::TryStreamExt::try_collect(c.download_stream(&url).await.unwrap())
            .await
            .unwrap();
    assert_eq!(chunks.concat(), b"hello\n");

    let missing = c
        .put_unsigned(
            &url,
            &UploadBody::File(dir.path().join("missing")),
            &HeaderMap::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing:?}");
}

/// A TLS server on 127.0.0.1 with a certificate from a fresh CA; answers `{}` to anything.
struct TlsServer {
    url: String,
    ca_pem: String,
}

async fn tls_server() -> TlsServer {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();

    let (acceptor, listener, port) = crate::support::tls_listener(&leaf, &leaf_key).await;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    TlsServer {
        url: format!("https://127.0.0.1:{port}"),
        ca_pem: ca_cert.pem(),
    }
}

#[tokio::test]
async fn custom_ca_is_trusted_and_verification_is_on_by_default() {
    let server = tls_server().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &server.ca_pem).unwrap();
    let certs_dir = dir.path().join("trusted_certs");
    std::fs::create_dir(&certs_dir).unwrap();
    std::fs::write(certs_dir.join("127.0.0.1.crt"), &server.ca_pem).unwrap();

    let base = || {
        ChefClient::builder(&server.url)
            .with_client_name("spec-user")
            .with_key(spec_key())
            .with_retry(RetryConfig::none())
    };

    let err = base()
        .build()
        .unwrap()
        .get::<Value>("nodes")
        .await
        .unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert!(!err.is_retryable());

    let with_file = base().with_ssl_ca_file(&ca_file).build().unwrap();
    assert_eq!(with_file.get::<Value>("nodes").await.unwrap(), json!({}));

    let with_dir = base().with_trusted_certs_dir(&certs_dir).build().unwrap();
    assert_eq!(with_dir.get::<Value>("nodes").await.unwrap(), json!({}));

    let insecure = base().with_insecure_skip_tls_verify(true).build().unwrap();
    assert_eq!(insecure.get::<Value>("nodes").await.unwrap(), json!({}));
}

#[tokio::test]
async fn old_server_www_authenticate_gets_1_1() {
    struct Old;
    impl Respond for Old {
        fn respond(&self, req: &Request) -> ResponseTemplate {
            if hdr(req, "X-Ops-Sign").unwrap_or_default().contains("1.3") {
                ResponseTemplate::new(401)
                    .insert_header(
                        "WWW-Authenticate",
                        r#"X-Ops-Sign version="1.0" version="1.1""#,
                    )
                    .set_body_json(
                        json!({"error": ["Invalid signature for user or client 'spec-user'"]}),
                    )
            } else {
                ResponseTemplate::new(200).set_body_json(json!({}))
            }
        }
    }
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Old)
        .mount(&server)
        .await;
    let c = spec_client(&server.uri());
    c.list_nodes().await.unwrap();
    assert_eq!(c.sign_version(), SignVersion::V1_1);
}

#[tokio::test]
async fn timeouts_are_their_own_kind_and_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({}))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let c = ChefClient::builder(server.uri())
        .with_client_name("spec-user")
        .with_key(spec_key())
        .with_request_timeout(Duration::from_millis(100))
        .with_retry(fast_retry(1))
        .build()
        .unwrap();
    let err = c.list_nodes().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn explicit_proxy_and_no_proxy() {
    let proxy = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"via": "proxy"})))
        .mount(&proxy)
        .await;
    // Nothing listens on the discard port: only the proxy can answer.
    let target = "http://127.0.0.1:9";
    let via = ChefClient::builder(target)
        .with_client_name("spec-user")
        .with_key(spec_key())
        .with_proxy(proxy.uri())
        .with_no_proxy("")
        .with_retry(RetryConfig::none())
        .build()
        .unwrap();
    let v: Value = via.get("nodes").await.unwrap();
    assert_eq!(v["via"], "proxy");
    let seen = &proxy.received_requests().await.unwrap()[0];
    assert_eq!(seen.url.path(), "/nodes");

    let bypass = ChefClient::builder(target)
        .with_client_name("spec-user")
        .with_key(spec_key())
        .with_proxy(proxy.uri())
        .with_no_proxy("127.0.0.1")
        .with_retry(RetryConfig::none())
        .build()
        .unwrap();
    let err = bypass.get::<Value>("nodes").await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(proxy.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn clones_work_concurrently_and_debug_hides_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"n": "u"})))
        .expect(40)
        .mount(&server)
        .await;
    let c = spec_client(&server.uri());
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.list_nodes().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap()["n"], "u");
    }
    let debug = format!("{c:?}");
    assert!(debug.contains("spec-user"), "{debug}");
    assert!(
        !debug.contains("PRIVATE KEY") && !debug.contains("MII"),
        "{debug}"
    );
}

#[tokio::test]
async fn too_many_requests_is_retried_and_keeps_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "0")
                .set_body_string("slow down"),
        )
        .mount(&server)
        .await;
    let c = ChefClient::builder(server.uri())
        .with_client_name("spec-user")
        .with_key(spec_key())
        .with_retry(fast_retry(1))
        .build()
        .unwrap();
    let err = c.list_nodes().await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.response().unwrap().retry_after, Some(Duration::ZERO));
    assert_eq!(err.messages(), ["slow down"]);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

/// A clock the test moves.
#[derive(Debug)]
struct Settable(std::sync::atomic::AtomicU64);

impl Settable {
    fn at(secs: u64) -> Arc<Self> {
        Arc::new(Self(std::sync::atomic::AtomicU64::new(secs)))
    }
    fn set(&self, secs: u64) {
        self.0.store(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for Settable {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

fn settable_client(url: &str, clock: Arc<Settable>) -> ChefClient {
    ChefClient::builder(url)
        .with_client_name("spec-user")
        .with_key(spec_key())
        .with_retry(fast_retry(3))
        .with_clock(clock)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_request_signed_ahead_is_sent_as_signed_and_a_retry_signs_again() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/cookbook_artifacts/web/abc"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": ["busy"]})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cookbook_artifacts/web/abc"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .mount(&server)
        .await;
    let (signed_at, sent_at) = (1_700_000_000, 1_700_000_030);
    let clock = Settable::at(signed_at);
    let c = settable_client(&server.uri(), Arc::clone(&clock));
    let body = bytes::Bytes::from_static(br#"{"name":"web"}"#);
    let ahead = c
        .sign_ahead(
            reqwest::Method::PUT,
            "cookbook_artifacts/web/abc",
            Some(body.clone()),
        )
        .unwrap();
    assert_eq!(ahead.method(), reqwest::Method::PUT);
    // Neither the signature nor the key shows in its debug output.
    let shown = format!("{ahead:?}");
    assert!(
        !shown.contains("Authorization") && !shown.contains("PRIVATE"),
        "{shown}"
    );
    clock.set(sent_at);
    let answer = c.send_signed_ahead(ahead).await.unwrap();
    assert_eq!(answer.status.as_u16(), 201);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let stamps: Vec<i64> = requests
        .iter()
        .map(|r| parse_timestamp(hdr(r, "X-Ops-Timestamp").unwrap()))
        .collect();
    // The first attempt carries the signature made ahead; the retry is signed anew, at the
    // clock's new time (shifted by what the server's Date header taught the client).
    let offset = c.clock_offset_seconds();
    assert_eq!(stamps, [signed_at as i64, sent_at as i64 + offset]);
    for r in &requests {
        assert_eq!(r.body, body.as_ref());
        assert_eq!(hdr(r, "Content-Type"), Some("application/json"));
        let to_sign = RequestToSign {
            method: "PUT",
            path: "/cookbook_artifacts/web/abc",
            content_hash: sign::content_hash(SignVersion::V1_3, &body),
            user_id: "spec-user",
            timestamp: SystemTime::UNIX_EPOCH
                + Duration::from_secs(parse_timestamp(hdr(r, "X-Ops-Timestamp").unwrap()) as u64),
            server_api_version: 2,
            version: SignVersion::V1_3,
        };
        let expected = sign::sign_request(&spec_key(), &to_sign).unwrap();
        let (_, first_line) = expected
            .iter()
            .find(|(n, _)| n == "X-Ops-Authorization-1")
            .unwrap();
        assert_eq!(hdr(r, "X-Ops-Authorization-1"), Some(first_line.as_str()));
    }
}

#[tokio::test]
async fn a_request_signed_ahead_is_signed_again_when_the_api_version_moved() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(answer_at_api(1, json!({})))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    let (signed_at, sent_at) = (1_700_000_000, 1_700_000_030);
    let clock = Settable::at(signed_at);
    let c = settable_client(&server.uri(), Arc::clone(&clock));
    // Signed for API v2 (nothing negotiated yet)...
    let ahead = c
        .sign_ahead(
            reqwest::Method::PUT,
            "roles/web",
            Some(bytes::Bytes::from_static(b"{}")),
        )
        .unwrap();
    // ...then the server says it speaks v1 at most.
    let _: Value = c.get("roles").await.unwrap();
    assert_eq!(c.api_version(), Some(1));
    clock.set(sent_at);
    let offset = c.clock_offset_seconds();
    c.send_signed_ahead(ahead).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let put = requests
        .iter()
        .find(|r| r.method.as_str() == "PUT")
        .unwrap();
    assert_eq!(hdr(put, API_HEADER), Some("1"));
    assert_eq!(
        parse_timestamp(hdr(put, "X-Ops-Timestamp").unwrap()),
        sent_at as i64 + offset
    );
}
