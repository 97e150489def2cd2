//! The TLS opt-out warns on every client built. In a process of its own: tracing caches
//! per-callsite interest process-wide, so a scoped subscriber races with other tests' threads
//! (client_wiremock builds an insecure client too).

use std::sync::Arc;

use chef_api::client::ChefClient;

use crate::support::{run_in_own_process, spec_key};

/// Counts `WARN` events.
struct CountWarns(Arc<std::sync::atomic::AtomicUsize>);

impl tracing::Subscriber for CountWarns {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn every_insecure_client_logs_a_warning() {
    run_in_own_process(
        "client_insecure_warning::every_insecure_client_logs_a_warning",
        || {
            let warns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            tracing::subscriber::with_default(CountWarns(warns.clone()), || {
                let build = |insecure: bool| {
                    ChefClient::builder("https://chef.example")
                        .with_client_name("spec-user")
                        .with_key(spec_key())
                        .with_insecure_skip_tls_verify(insecure)
                        .build()
                        .unwrap()
                };
                build(false);
                assert_eq!(warns.load(std::sync::atomic::Ordering::SeqCst), 0);
                build(true);
                build(true);
                assert_eq!(warns.load(std::sync::atomic::Ordering::SeqCst), 2);
            });
        },
    );
}
