//! Headless integration tests of the app's core and IPC layer: real SQLite files, real log
//! files, the real `sam-desktop` binary — no window.

mod acp;
mod agent;
mod agent_install;
mod agent_install_bootstrap;
mod architecture;
mod bindings;
mod cli;
mod cli_agent_prompts;
mod cli_agent_rules;
mod cli_agents;
mod cli_devcontainer;
mod cli_hetzner;
mod cloud_init;
mod cloud_init_delivery;
mod forwards;
mod git_server;
mod github;
mod github_workspace;
mod idle;
mod keyring;
mod lifecycle;
mod logging;
mod ports;
mod real_agents;
mod ssh;
mod ssh_signals;
mod startup;
mod terminal_golden;
mod terminals;
