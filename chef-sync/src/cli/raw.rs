//! `chef-sync raw` (`knife raw`): send one signed request and print the answer.
//!
//! As `knife raw` does, `--input` is sent byte for byte (an empty file is an empty body; no
//! `--input`, no body), a JSON answer is printed pretty and anything else as text.
//!
//! ```text
//! chef-sync raw --server-url http://127.0.0.1:4545 --client-name admin \
//!     --key admin.pem [--sign-version 1.0|1.1|1.3] [--method GET|PUT|POST|DELETE] \
//!     [--input body.json] [--ca-file ca.pem] /cookbooks
//! ```
//!
//! On failure prints one line to stderr and exits with status 1.

use std::path::PathBuf;

use chef_api::client::ChefClient;
use chef_api::sign::SignVersion;
use clap::{Parser, ValueEnum};

use super::parse_sign_version;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Verb {
    #[value(name = "GET")]
    Get,
    #[value(name = "PUT")]
    Put,
    #[value(name = "POST")]
    Post,
    #[value(name = "DELETE")]
    Delete,
}

/// Send one signed request to a Chef server and print the answer.
#[derive(Debug, Parser)]
pub struct Args {
    /// Server URL, e.g. `https://chef.example/organizations/acme`.
    #[arg(long)]
    server_url: String,
    /// Client or user name to sign as.
    #[arg(long)]
    client_name: String,
    /// Private key (PEM file).
    #[arg(long)]
    key: PathBuf,
    /// Signing protocol version.
    #[arg(long, default_value = "1.3", value_parser = parse_sign_version)]
    sign_version: SignVersion,
    /// HTTP method.
    #[arg(long, value_enum, ignore_case = true, default_value = "GET")]
    method: Verb,
    /// File sent as the request body, byte for byte (as `knife raw --input`).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Extra trusted CA certificates (PEM).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Path relative to the server URL, e.g. /cookbooks or "/search/node?q=*:*".
    path: String,
}

async fn request(args: Args) -> Result<String, String> {
    let mut builder = ChefClient::builder(&args.server_url)
        .with_client_name(&args.client_name)
        .with_key_file(&args.key)
        .with_sign_version(args.sign_version);
    if let Some(ca) = &args.ca_file {
        builder = builder.with_ssl_ca_file(ca);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let body = match &args.input {
        None => None,
        Some(file) => Some(bytes::Bytes::from(
            std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?,
        )),
    };
    let method = match args.method {
        Verb::Get => reqwest::Method::GET,
        Verb::Put => reqwest::Method::PUT,
        Verb::Post => reqwest::Method::POST,
        Verb::Delete => reqwest::Method::DELETE,
    };
    let answer = client
        .request(method, &args.path, body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(render(&answer.body))
}

/// A JSON answer pretty-printed; anything else as text (an empty answer prints nothing).
fn render(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// Runs `chef-sync raw`; returns the exit status.
pub fn run(args: Args) -> u8 {
    match super::block_on(request(args)) {
        Ok(json) => {
            println!("{json}");
            0
        }
        Err(e) => {
            eprintln!("error: {}", e.replace('\n', " "));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn args(server: &MockServer, verb: Verb, input: Option<PathBuf>, path: &str) -> Args {
        Args {
            server_url: server.uri(),
            client_name: "spec-user".into(),
            key: concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/data/keys/mixlib-spec.pem"
            )
            .into(),
            sign_version: SignVersion::V1_3,
            method: verb,
            input,
            ca_file: None,
            path: path.into(),
        }
    }

    #[tokio::test]
    async fn input_goes_byte_for_byte_and_text_answers_print_as_text() {
        let server = MockServer::start().await;
        Mock::given(method("PUT"))
            .and(path("/nodes/web1"))
            .respond_with(ResponseTemplate::new(200).set_body_string("stored, thanks\n"))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/roles"))
            .respond_with(ResponseTemplate::new(201).set_body_string(r#"{"uri":"x"}"#))
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        // Not canonical JSON: key order, spacing and the trailing newline must survive.
        let odd = b"{ \"name\" :\"web1\",  \"a\":1 }\r\n";
        std::fs::write(dir.path().join("node.json"), odd).unwrap();
        std::fs::write(dir.path().join("empty.json"), b"").unwrap();

        let out = request(args(
            &server,
            Verb::Put,
            Some(dir.path().join("node.json")),
            "/nodes/web1",
        ))
        .await
        .unwrap();
        assert_eq!(out, "stored, thanks\n", "a non-JSON answer prints as text");
        let out = request(args(
            &server,
            Verb::Post,
            Some(dir.path().join("empty.json")),
            "/roles",
        ))
        .await
        .unwrap();
        assert_eq!(out, "{\n  \"uri\": \"x\"\n}");
        let missing = request(args(
            &server,
            Verb::Post,
            Some(dir.path().join("nope.json")),
            "/roles",
        ))
        .await
        .unwrap_err();
        assert!(missing.contains("nope.json"), "{missing}");

        let received = server.received_requests().await.unwrap();
        assert_eq!(received.len(), 2);
        assert_eq!(received[0].body, odd, "sent byte for byte");
        assert!(
            received[1].body.is_empty(),
            "an empty file is an empty body"
        );
    }
}
