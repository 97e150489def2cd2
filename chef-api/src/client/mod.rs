//! The typed async client for one Chef server. Owned by the client work (issue 2).
