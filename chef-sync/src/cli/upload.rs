//! `chef-sync upload` (`knife cookbook upload`): upload cookbook directories to one Chef server.
//!
//! ```text
//! chef-sync upload --server-url http://127.0.0.1:4545 --client-name admin \
//!     --key admin.pem [--sign-version 1.0|1.1|1.3] [--freeze] [--force] [--concurrency N] \
//!     cookbooks/base cookbooks/app
//! ```
//!
//! Prints one line per cookbook (`NAME VERSION OUTCOME files=N bytes=N [error]`) and exits
//! with status 1 if any cookbook failed or hit a frozen version.

use std::path::PathBuf;
use std::sync::Arc;

use chef_api::client::ChefClient;
use chef_api::cookbook::LoadedCookbook;
use chef_api::sign::SignVersion;
use chef_api::upload::{Outcome, UploadOptions, Uploader};
use clap::Parser;

use super::parse_sign_version;

/// Upload cookbooks to one Chef server exactly as knife would.
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
    /// Freeze the uploaded versions (`"frozen?": true`).
    #[arg(long)]
    freeze: bool,
    /// Overwrite frozen versions.
    #[arg(long)]
    force: bool,
    /// File uploads in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Cookbook directories.
    #[arg(required = true)]
    cookbooks: Vec<PathBuf>,
}

async fn upload(args: Args) -> Result<bool, String> {
    let client = ChefClient::builder(&args.server_url)
        .with_client_name(&args.client_name)
        .with_key_file(&args.key)
        .with_sign_version(args.sign_version)
        .build()
        .map_err(|e| e.to_string())?;
    let dirs = args.cookbooks.clone();
    let cookbooks = tokio::task::spawn_blocking(move || {
        dirs.iter()
            .map(|d| LoadedCookbook::load(d).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let options = UploadOptions {
        freeze: args.freeze,
        force: args.force,
        file_concurrency: args.concurrency.max(1),
        ..UploadOptions::default()
    };
    let results = Uploader::new(client, options)
        .upload(&cookbooks)
        .await
        .map_err(|e| e.to_string())?;
    let mut ok = true;
    for r in &results {
        ok &= r.outcome.is_ok();
        let outcome = match r.outcome {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::FrozenConflict => "frozen (use --force)",
            Outcome::Failed => "FAILED",
        };
        let error = r
            .error
            .as_ref()
            .map(|e| format!(": {}", e.to_string().replace('\n', " ")))
            .unwrap_or_default();
        println!(
            "{} {} {outcome} files={} bytes={} {:.2}s{error}",
            r.name,
            r.version,
            r.files_sent,
            r.bytes_sent,
            r.duration.as_secs_f64()
        );
    }
    Ok(ok)
}

/// Runs `chef-sync upload`; returns the exit status.
pub fn run(args: Args) -> u8 {
    match super::block_on(upload(args)) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("error: {}", e.replace('\n', " "));
            1
        }
    }
}
