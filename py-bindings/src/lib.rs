//! Python bindings for chef-sync (module `chef_sync`).
