//! `chef-sync raw` (`knife raw`): send one signed request and print the JSON answer.
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

/// Send one signed request to a Chef server and print the JSON answer.
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
    /// JSON file sent as the request body.
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
        Some(file) => {
            let text = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let value: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
            Some(value)
        }
    };
    let result: serde_json::Value = match (args.method, body) {
        (Verb::Get, _) => client.get(&args.path).await,
        (Verb::Delete, _) => client.delete(&args.path).await,
        (Verb::Put, body) => {
            client
                .put(&args.path, &body.unwrap_or_else(|| serde_json::json!({})))
                .await
        }
        (Verb::Post, body) => {
            client
                .post(&args.path, &body.unwrap_or_else(|| serde_json::json!({})))
                .await
        }
    }
    .map_err(|e| e.to_string())?;
    serde_json::to_string_pretty(&result).map_err(|e| e.to_string())
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
