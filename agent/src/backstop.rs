//! The backstop: the loop that enforces the idle policy when nobody else does.

use std::sync::Arc;
use std::time::Duration;

use sam_protocol::message::BackstopAction;

use crate::activity::{TICK, Verdict, now_ms};
use crate::agent::Agent;
use crate::config::POSTPONE_INTERVAL;
use crate::self_delete;

/// The longest a postpone or power-off command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks activity every [`TICK`] until the agent shuts down.
pub async fn run(agent: Arc<Agent>) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            () = agent.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let reasons = agent.stream_activity();
        match agent.activity.tick(now_ms(), &reasons, POSTPONE_INTERVAL) {
            Verdict::Wait => {}
            Verdict::Postpone => {
                if let Some(command) = &agent.config.postpone_command {
                    run_command(&agent, command, "postpone").await;
                }
            }
            Verdict::Fire(action) => fire(&agent, action).await,
        }
    }
}

async fn fire(agent: &Arc<Agent>, action: BackstopAction) {
    match action {
        BackstopAction::Poweroff => {
            agent.event("idle past the deadline: powering off");
            run_command(agent, &agent.config.poweroff_command, "poweroff").await;
        }
        BackstopAction::DeleteServer => {
            agent.event("idle past the deadline: deleting this server");
            match self_delete::delete_own_server(agent).await {
                Ok(()) => agent.event("the cloud accepted the deletion of this server"),
                Err(err) => {
                    agent.event(&format!(
                        "deleting this server failed ({err}): powering off"
                    ));
                    run_command(agent, &agent.config.poweroff_command, "poweroff").await;
                }
            }
        }
        BackstopAction::Exit => {
            agent.event("idle past the deadline: the agent exits");
            agent.shutdown.cancel();
        }
        BackstopAction::None => agent.event("idle past the deadline (backstop action: none)"),
    }
}

async fn run_command(agent: &Agent, command: &[String], what: &str) {
    let Some((program, args)) = command.split_first() else {
        return;
    };
    let mut process = tokio::process::Command::new(program);
    process
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(COMMAND_TIMEOUT, process.status()).await {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => agent.event(&format!("{what} command failed: {status}")),
        Ok(Err(err)) => agent.event(&format!("{what} command could not start: {err}")),
        Err(_) => agent.event(&format!("{what} command timed out")),
    }
}
