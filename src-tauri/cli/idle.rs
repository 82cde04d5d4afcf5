//! `sam idle …` and `sam spend`: idle timeouts as the command line takes them (`30m`, `never`), a
//! workspace's idle policy from the command line, and what the workspaces have cost.

use std::time::Duration;

use clap::Subcommand;
use serde::Serialize;

use super::{Target, find, print_json, print_text};
use sam_core::Core;
use sam_core::clock::now_ms;
use sam_core::error::SamError;
use sam_core::idle::IdleChoice;
use sam_core::idle::watch::IdleView;
use sam_core::provider::hetzner::spend::format_amount;

#[derive(Debug, Clone, Copy)]
pub(super) struct IdleTimeout(pub(super) IdleChoice);

pub(super) fn parse_idle(text: &str) -> Result<IdleTimeout, String> {
    if text == "never" {
        return Ok(IdleTimeout(IdleChoice::Never));
    }
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number with s, m or h, or never"))?;
    let secs = match unit {
        "s" => value,
        "m" | "" => value * 60,
        "h" => value * 3600,
        _ => return Err(format!("{text:?}: the unit must be s, m or h")),
    };
    if secs == 0 {
        return Err("use never instead of 0".to_owned());
    }
    if secs < 60 {
        return Err(format!("{text:?}: the shortest idle timeout is 1 minute"));
    }
    Ok(IdleTimeout(IdleChoice::After { secs }))
}

#[derive(Debug, Subcommand)]
pub(super) enum IdleCommand {
    /// Where a workspace's idle policy stands: timeout, deadline, warning.
    Show(Target),
    /// Change a workspace's idle timeout.
    Set {
        /// The workspace's id or name.
        workspace: String,
        /// 90s, 30m, 2h, or never.
        #[arg(value_parser = parse_idle)]
        timeout: IdleTimeout,
    },
    /// Keep a workspace from being stopped for idleness for a while.
    KeepRunning {
        /// The workspace's id or name.
        workspace: String,
        /// How long: 30m, 2h… (at most 24h).
        #[arg(long = "for", default_value = "1h", value_parser = parse_idle)]
        duration: IdleTimeout,
    },
}

pub(super) async fn run(core: &Core, command: IdleCommand, json: bool) -> Result<(), SamError> {
    let (workspace, view) = match command {
        IdleCommand::Show(target) => {
            let workspace = find(core, &target.workspace)?;
            let view = core.idle().view(&workspace.id, now_ms())?;
            (workspace, view)
        }
        IdleCommand::Set { workspace, timeout } => {
            let workspace = find(core, &workspace)?;
            let secs = timeout
                .0
                .timeout_secs(core.providers().default_idle(workspace.provider));
            core.idle().set_timeout(&workspace.id, secs).await?;
            let view = core.idle().view(&workspace.id, now_ms())?;
            (workspace, view)
        }
        IdleCommand::KeepRunning {
            workspace,
            duration,
        } => {
            let workspace = find(core, &workspace)?;
            let Some(secs) = duration
                .0
                .timeout_secs(None)
                .filter(|secs| *secs <= 24 * 3600)
            else {
                return Err(SamError::invalid_input(
                    "Keep running takes between 1 minute and 24 hours.",
                    "Give --for a time such as 30m or 2h, or set the idle timeout to never.",
                ));
            };
            let now = now_ms();
            core.idle()
                .keep_running(&workspace.id, Duration::from_secs(secs), now)
                .await?;
            (workspace.clone(), core.idle().view(&workspace.id, now)?)
        }
    };
    if json {
        print_json(&view);
    } else {
        print_text(&describe(&workspace.name, &view));
    }
    Ok(())
}

fn describe(name: &str, view: &IdleView) -> String {
    let timeout = match view.timeout_secs {
        None => "never stops for idleness".to_owned(),
        Some(secs) => format!("stops after {} min without activity", secs / 60),
    };
    let now = now_ms();
    let minutes = |at: i64| (at - now).max(0) / 60_000;
    let state = if let Some(stop) = view.stop_at_ms {
        format!(
            "; warned: stops in {} min unless kept running",
            minutes(stop)
        )
    } else if let Some(until) = view.kept_until_ms {
        format!("; kept running for {} more min", minutes(until))
    } else if let Some(deadline) = view.deadline_ms {
        format!("; stops in {} min if nothing happens", minutes(deadline))
    } else {
        String::new()
    };
    format!("{name}: {timeout}{state}")
}

/// One workspace's line of `sam spend --json`.
#[derive(Debug, Serialize)]
struct SpendLine<'a> {
    workspace: &'a str,
    name: Option<String>,
    so_far_centicents: u64,
    this_month_centicents: u64,
}

/// `sam spend`: what each workspace has cost so far and this month, and the month's total.
pub(super) fn spend(core: &Core, json: bool) -> Result<(), SamError> {
    let spend = core.hetzner().spend(now_ms())?;
    let name = |id: &str| {
        id.parse()
            .ok()
            .and_then(|id| core.store().workspace(&id).ok())
            .map(|w| w.name)
    };
    if json {
        let lines: Vec<SpendLine<'_>> = spend
            .workspaces
            .iter()
            .map(|w| SpendLine {
                workspace: &w.workspace,
                name: name(&w.workspace),
                so_far_centicents: w.so_far_centicents,
                this_month_centicents: w.this_month_centicents,
            })
            .collect();
        print_json(&serde_json::json!({
            "currency": spend.currency,
            "month_to_date_centicents": spend.month_to_date_centicents,
            "workspaces": lines,
        }));
        return Ok(());
    }
    let currency = spend.currency.as_deref().unwrap_or("EUR");
    for w in &spend.workspaces {
        let label = name(&w.workspace).unwrap_or_else(|| format!("{} (deleted)", w.workspace));
        print_text(&format!(
            "{label}: {} this month, {} so far",
            format_amount(w.this_month_centicents, currency),
            format_amount(w.so_far_centicents, currency)
        ));
    }
    print_text(&format!(
        "This month so far: {}",
        format_amount(spend.month_to_date_centicents, currency)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_timeouts_parse() {
        let thirty_minutes = Some(Duration::from_secs(30 * 60));
        let secs = |text| parse_idle(text).map(|i| i.0.timeout_secs(thirty_minutes));
        assert_eq!(secs("90s"), Ok(Some(90)));
        assert_eq!(secs("30m"), Ok(Some(1800)));
        assert_eq!(secs("2h"), Ok(Some(7200)));
        assert_eq!(secs("never"), Ok(None));
        assert!(parse_idle("0s").is_err());
        assert!(parse_idle("30s").is_err());
        assert!(parse_idle("soon").is_err());
        assert!(parse_idle("5d").is_err());
    }
}
