//! Demo of `install` + `push` of a Policyfile to three servers at once.
//!
//! The demo's goiardi servers serve no policies, so this pushes to three **in-process
//! erchef-like servers** (the test fake in `chef_testkit::policy_server`, which follows erchef's
//! rules, including accepting a policy whose artifacts are missing): a staging server taking
//! group `staging` and two production servers taking `production`, each from its
//! `.chef/NAME/config.yml`. It then pushes again (nothing sent) and shows an edited cookbook
//! being refused.
//!
//! ```text
//! cargo run --example policy_demo
//! ```

use std::path::Path;

use chef_sync::config::{KeySource, RepoConfig, ServerSpec};
use chef_sync::policy::{InstallOptions, PushOptions};
use chef_testkit::policy_server::FakeErchef;

const KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/keys/mixlib-spec.pem"
);

fn write(root: &Path, rel: &str, text: &str) -> std::io::Result<()> {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap_or(root))?;
    std::fs::write(p, text)
}

fn spec(name: &str, url: String) -> Result<ServerSpec, Box<dyn std::error::Error>> {
    let key = KeySource::Pem(std::fs::read(KEY)?);
    Ok(ServerSpec::new(name, url, "demo", key)?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    write(
        root,
        "cookbooks/base/metadata.rb",
        "name 'base'\nversion '1.0.0'\n",
    )?;
    write(
        root,
        "cookbooks/base/recipes/default.rb",
        "package 'curl'\n",
    )?;
    write(
        root,
        "cookbooks/web/metadata.rb",
        "name 'web'\nversion '2.3.0'\ndepends 'base', '~> 1.0'\n",
    )?;
    write(
        root,
        "cookbooks/web/recipes/default.rb",
        "include_recipe 'base'\n",
    )?;
    write(root, "cookbooks/web/templates/site.conf.erb", "listen 80\n")?;
    write(
        root,
        "Policyfile.rb",
        "name 'web'\ndefault_source :chef_repo, '.'\nrun_list 'web'\ncookbook 'web', path: 'cookbooks/web'\ndefault['greeting'] = 'hello'\n",
    )?;
    let cache = root.join(".cache");
    let installed = chef_sync::policy::install(
        &root.join("Policyfile.rb"),
        &InstallOptions {
            cache: chef_sync::policy::CookbookCache {
                root: cache.clone(),
                chef_cli_caches: Vec::new(),
                offline: true,
                supermarket: None,
                artifactory: None,
                chef_servers: Vec::new(),
            },
            ..Default::default()
        },
    )
    .await?;
    println!(
        "== install: {} (revision {})\n",
        installed.lock.path().display(),
        installed.lock.effective_revision_id()
    );

    let names = ["staging", "us-east-1", "eu-west-1"];
    let mut fakes = Vec::new();
    let mut servers = Vec::new();
    for name in names {
        let fake = FakeErchef::start().await;
        let group = if name == "staging" {
            "staging"
        } else {
            "production"
        };
        write(
            root,
            &format!(".chef/{name}/config.yml"),
            &format!("server: '{}'\npolicy_group: '{group}'\n", fake.org_url()),
        )?;
        servers.push(spec(name, fake.org_url())?);
        fakes.push(fake);
    }
    let config = RepoConfig {
        root: root.to_path_buf(),
        servers,
        berksfile: None,
        warnings: vec![],
    };
    let options = PushOptions {
        cache: chef_sync::policy::CookbookCache {
            root: cache,
            chef_cli_caches: Vec::new(),
            offline: true,
            supermarket: None,
            artifactory: None,
            chef_servers: Vec::new(),
        },
        ..PushOptions::default()
    };

    let report = chef_sync::policy::push(&config, &[], &options).await?;
    println!(
        "== push (groups from each server's config.yml)\n{}",
        report.render_table()
    );
    for (name, fake) in names.iter().zip(&fakes) {
        let requests: Vec<String> = fake
            .take_log()
            .iter()
            .map(|l| format!("{} {}", l.method, l.path))
            .collect();
        println!(
            "{name}: {} requests: {}",
            requests.len(),
            requests.join(", ")
        );
    }

    let again = chef_sync::policy::push(&config, &[], &options).await?;
    println!("\n== push again\n{}", again.render_table());
    for (name, fake) in names.iter().zip(&fakes) {
        println!("{name}: {} requests", fake.take_log().len());
    }

    write(
        root,
        "cookbooks/base/recipes/default.rb",
        "package 'wget'\n",
    )?;
    match chef_sync::policy::push(&config, &[], &options).await {
        Ok(r) => println!("\n== push after an edit: unexpectedly ok={}", r.ok),
        Err(e) => println!("\n== push after editing base without `install --update`:\n{e}"),
    }
    Ok(())
}
