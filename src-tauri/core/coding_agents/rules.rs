//! Permission rules: what a workspace's owner lets its coding agents do, or never do, without
//! being asked. None exist until the user adds one; the desktop evaluates them when a request
//! arrives, and a rule's answer goes to the audit log like anyone's.
//!
//! A rule names an agent (or any), a tool kind (or any) and a pattern (or anything): a command
//! prefix for `execute`, a path glob for the kinds whose requests name files. A deny rule that
//! matches wins over every allow rule. An allow rule is careful: a command joined to others
//! (`;`, `&&`, `|`, `$(…)`, backquotes, redirections, a newline) never matches it, and a path
//! glob matches only when every file the request names is inside the repository and matches. A
//! rule answers with the agent's own "once" options, never "always": an agent told "always"
//! stops asking, and the brake would leave the desktop.

use globset::GlobBuilder;
use serde_json::Value;

use crate::Core;
use crate::error::SamError;
use crate::store::{NewPermissionRule, PermissionRule, RuleDecision};
use crate::workspace::Workspace;

/// ACP's tool kinds.
pub const TOOL_KINDS: [&str; 10] = [
    "read",
    "edit",
    "delete",
    "move",
    "search",
    "execute",
    "think",
    "fetch",
    "switch_mode",
    "other",
];

/// Kinds whose requests name files (`toolCall.locations`), so a pattern is a path glob.
const PATH_KINDS: [&str; 4] = ["read", "edit", "delete", "move"];

/// What makes a command more than one simple command.
const SHELL_JOINERS: [&str; 9] = [";", "&", "|", "`", "$(", ">", "<", "\n", "\r"];

/// Adds a checked rule to a workspace. The agent, when named, must be one SAM knows.
pub fn add(
    core: &Core,
    workspace: &Workspace,
    mut rule: NewPermissionRule,
) -> Result<PermissionRule, SamError> {
    let trimmed =
        |text: Option<String>| text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    rule.agent = trimmed(rule.agent);
    rule.tool_kind = trimmed(rule.tool_kind);
    rule.pattern = rule.pattern.map(|p| p.trim().to_owned());
    check(&rule)?;
    if let Some(agent) = &rule.agent {
        let known = super::catalogue(core.store())?;
        if !known.iter().any(|spec| &spec.spec.id == agent) {
            return Err(SamError::invalid_input(
                format!("SAM knows no coding agent {agent:?}."),
                "See the ids with: sam agent catalog",
            ));
        }
    }
    Ok(core.store().add_permission_rule(&workspace.id, &rule)?)
}

/// Checks a rule as the user wrote it; the error says what to change.
pub fn check(rule: &NewPermissionRule) -> Result<(), SamError> {
    let bad = |what: String, fix: &str| Err(SamError::invalid_input(what, fix));
    if let Some(agent) = &rule.agent
        && agent.trim().is_empty()
    {
        return bad(
            "The rule's agent is empty.".into(),
            "Name a coding agent's id (sam agent catalog), or leave it out for any agent.",
        );
    }
    if let Some(kind) = &rule.tool_kind
        && !TOOL_KINDS.contains(&kind.as_str())
    {
        return bad(
            format!("{kind:?} is not a tool kind."),
            &format!("Use one of: {}.", TOOL_KINDS.join(", ")),
        );
    }
    let Some(pattern) = &rule.pattern else {
        return Ok(());
    };
    match rule.tool_kind.as_deref() {
        Some("execute") => {
            if pattern.trim().is_empty() {
                return bad(
                    "The command prefix is empty.".into(),
                    "Give the start of a command, such as `cargo test`.",
                );
            }
            if SHELL_JOINERS.iter().any(|j| pattern.contains(j)) {
                return bad(
                    format!("The command prefix {pattern:?} joins several commands."),
                    "A prefix is the start of one simple command, such as `cargo test`.",
                );
            }
            Ok(())
        }
        Some(kind) if PATH_KINDS.contains(&kind) => glob(pattern).map(|_| ()).map_err(|err| {
            SamError::invalid_input(
                format!("The path glob {pattern:?} is not valid: {err}."),
                "Use a glob relative to the repository, such as `src/**/*.rs`.",
            )
        }),
        _ => bad(
            "A pattern needs a tool kind that has one.".into(),
            "Use --kind execute with a command prefix, or --kind read, edit, delete or move with a path glob.",
        ),
    }
}

/// The option a workspace's rules answer `request` (ACP's `session/request_permission` params)
/// with, and the rule; `None` when no rule decides and a person must.
pub fn decide<'r>(
    rules: &'r [PermissionRule],
    agent: &str,
    root: Option<&str>,
    request: &Value,
) -> Option<(String, &'r PermissionRule)> {
    let call = &request["toolCall"];
    let kind = call["kind"].as_str();
    let applies = |rule: &&PermissionRule, decision| {
        let r = &rule.rule;
        r.decision == decision
            && r.agent.as_deref().is_none_or(|a| a == agent)
            && r.tool_kind.as_deref().is_none_or(|k| Some(k) == kind)
            && r.pattern
                .as_deref()
                .is_none_or(|p| pattern_matches(p, kind, call, root, decision))
    };
    for (decision, option_kind) in [
        (RuleDecision::Deny, "reject_once"),
        (RuleDecision::Allow, "allow_once"),
    ] {
        if let Some(rule) = rules.iter().find(|rule| applies(rule, decision)) {
            let option = request["options"].as_array().and_then(|options| {
                options
                    .iter()
                    .find(|o| o["kind"] == option_kind)
                    .and_then(|o| o["optionId"].as_str())
            });
            // An agent without such an option is asked of a person.
            return option.map(|id| (id.to_owned(), rule));
        }
    }
    None
}

fn pattern_matches(
    pattern: &str,
    kind: Option<&str>,
    call: &Value,
    root: Option<&str>,
    decision: RuleDecision,
) -> bool {
    match kind {
        Some("execute") => command(call).is_some_and(|command| {
            if decision == RuleDecision::Allow {
                !SHELL_JOINERS.iter().any(|j| command.contains(j)) && starts(&command, pattern)
            } else {
                // Any one of the commands joined together.
                command
                    .split(|c| ";&|`()<>\n\r".contains(c))
                    .any(|part| starts(part.trim_start(), pattern))
            }
        }),
        Some(kind) if PATH_KINDS.contains(&kind) => {
            let (Some(root), Ok(glob)) = (root, glob(pattern)) else {
                return false;
            };
            let paths: Vec<Option<String>> = call["locations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| l["path"].as_str().and_then(|p| crate::acp::inside(root, p)))
                .collect();
            let relative = |p: &Option<String>| p.as_deref().is_some_and(|p| glob.is_match(p));
            match decision {
                RuleDecision::Allow => !paths.is_empty() && paths.iter().all(relative),
                RuleDecision::Deny => paths.iter().any(relative),
            }
        }
        _ => false,
    }
}

/// `command` starts with `prefix` at a word's end.
fn starts(command: &str, prefix: &str) -> bool {
    let prefix = prefix.trim();
    command
        .trim_start()
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

/// The command line of an `execute` request: `rawInput.command` as a string, or an argv whose
/// `sh -c SCRIPT` form gives the script.
fn command(call: &Value) -> Option<String> {
    let raw = &call["rawInput"]["command"];
    if let Some(text) = raw.as_str() {
        return Some(text.to_owned());
    }
    let argv: Vec<&str> = raw
        .as_array()?
        .iter()
        .map(Value::as_str)
        .collect::<Option<_>>()?;
    match argv.as_slice() {
        [shell, flag, script]
            if ["sh", "bash", "/bin/sh", "/bin/bash", "zsh"].contains(shell)
                && ["-c", "-lc"].contains(flag) =>
        {
            Some((*script).to_owned())
        }
        _ => Some(shell_words::join(argv)),
    }
}

fn glob(pattern: &str) -> Result<globset::GlobMatcher, globset::Error> {
    Ok(GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

/// A rule in words, for lists and the audit log.
pub fn describe(rule: &NewPermissionRule) -> String {
    let verb = match rule.decision {
        RuleDecision::Allow => "allow",
        RuleDecision::Deny => "deny",
    };
    let agent = rule.agent.as_deref().unwrap_or("any agent");
    let kind = rule.tool_kind.as_deref().unwrap_or("anything");
    match &rule.pattern {
        Some(pattern) => format!("{verb} {agent}: {kind} {pattern:?}"),
        None => format!("{verb} {agent}: {kind}"),
    }
}

#[cfg(test)]
mod tests;
