//! `sam agent rules|allow|deny|forget-rule|audit`: what a workspace's coding agents may do
//! without asking, and the log of every answer.

use clap::{Args, Subcommand};
use sam_core::Core;
use sam_core::coding_agents::rules;
use sam_core::error::SamError;
use sam_core::store::{NewPermissionRule, RuleDecision};

use super::{find, print_json, print_text};

#[derive(Debug, Subcommand)]
pub(super) enum RuleCommand {
    /// A workspace's permission rules.
    Rules {
        /// The workspace (id or name).
        workspace: String,
    },
    /// Answer matching permission requests "allow once" without asking.
    Allow(RuleArgs),
    /// Answer matching permission requests "reject once" without asking (deny rules win).
    Deny(RuleArgs),
    /// Remove a permission rule.
    ForgetRule {
        /// Its number (sam agent rules).
        id: i64,
    },
    /// Every answer given to coding agents' permission requests, newest first.
    Audit {
        /// Only this workspace's (id or name).
        workspace: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// What a rule matches.
#[derive(Debug, Args)]
pub(super) struct RuleArgs {
    /// The workspace (id or name).
    workspace: String,
    /// Only this coding agent (its catalogue id); any agent otherwise.
    #[arg(long)]
    agent: Option<String>,
    /// Only this tool kind: read, edit, delete, move, search, execute, think, fetch,
    /// switch_mode or other.
    #[arg(long)]
    kind: Option<String>,
    /// Commands that start with this (implies --kind execute), such as "cargo test".
    #[arg(long, conflicts_with = "path")]
    command: Option<String>,
    /// Files matching this glob, relative to the repository (needs --kind read, edit, delete
    /// or move), such as "src/**/*.rs".
    #[arg(long)]
    path: Option<String>,
}

pub(super) fn run(core: &Core, command: RuleCommand, json: bool) -> Result<(), SamError> {
    let store = core.store();
    let (workspace, decision, args) = match command {
        RuleCommand::Allow(args) => (find(core, &args.workspace)?, RuleDecision::Allow, args),
        RuleCommand::Deny(args) => (find(core, &args.workspace)?, RuleDecision::Deny, args),
        RuleCommand::Rules { workspace } => {
            let workspace = find(core, &workspace)?;
            let list = store.permission_rules(&workspace.id)?;
            if json {
                print_json(&serde_json::json!({ "rules": list }));
            } else if list.is_empty() {
                print_text(&format!(
                    "No permission rules in {}: its coding agents ask you.",
                    workspace.name
                ));
            }
            for rule in list.iter().filter(|_| !json) {
                print_text(&format!("{:>4}  {}", rule.id, rules::describe(&rule.rule)));
            }
            return Ok(());
        }
        RuleCommand::ForgetRule { id } => {
            let rule = store.permission_rule(id)?;
            store.remove_permission_rule(id)?;
            print_text(&format!(
                "Removed rule {id}: {}",
                rules::describe(&rule.rule)
            ));
            return Ok(());
        }
        RuleCommand::Audit { workspace, limit } => {
            let workspace = workspace.map(|w| find(core, &w)).transpose()?;
            let log = store.audit_log(workspace.as_ref().map(|w| &w.id), limit)?;
            if json {
                print_json(&serde_json::json!({ "audit": log }));
                return Ok(());
            }
            for row in log {
                let title = row.request["toolCall"]["title"]
                    .as_str()
                    .unwrap_or("(no title)");
                print_text(&format!(
                    "{}  {} {} in {}: {title} → {} (by {})",
                    sam_core::clock::format_utc(row.at_ms / 1000),
                    row.permission_id,
                    row.agent,
                    row.workspace_name,
                    row.answer,
                    row.answered_by
                ));
            }
            return Ok(());
        }
    };
    let tool_kind = match (&args.kind, &args.command) {
        (None, Some(_)) => Some("execute".to_owned()),
        (kind, _) => kind.clone(),
    };
    let rule = NewPermissionRule {
        agent: args.agent,
        tool_kind,
        pattern: args.command.or(args.path),
        decision,
    };
    let added = rules::add(core, &workspace, rule)?;
    if json {
        print_json(&added);
    } else {
        print_text(&format!(
            "Rule {} in {}: {}",
            added.id,
            workspace.name,
            rules::describe(&added.rule)
        ));
    }
    Ok(())
}
