//! The server's integration tests, as one test executable: one file per area, each a module
//! here. One executable links the server once and compiles the shared helpers (`common`) once,
//! where an executable per file did both two dozen times, and its tests share the threads of
//! one run instead of waiting for each file's slowest test in turn.

mod common;

mod accounts;
mod admin;
mod caddy;
mod cli;
mod connect_tickets;
mod crash;
mod dpop;
mod gateway;
mod hardening;
mod health;
mod hooks;
mod lifecycle;
mod mfa;
mod nginx;
mod oauth;
mod oidc_provider;
mod orgs;
mod passkeys;
mod scale_out;
mod security;
mod sign_in_hooks;
mod sync;
mod tokens;
mod webhooks;
