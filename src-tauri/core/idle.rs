//! When an idle workspace is warned about and stopped: a pure decision over wall-clock times, so
//! it is the same after the laptop sleeps and is tested with any clock.
//!
//! The workspace's agent says when it last saw activity and whether something is active right
//! now (a foreground job, a busy coding agent, a keep-alive); what counts as activity is the
//! agent's business (`docs/agent-protocol.md` §6). From that:
//!
//! - the **deadline** is `max(last activity + timeout, snoozed until)`; while something is active
//!   the last activity is "now", so the deadline keeps moving;
//! - the **warning** fires once per deadline, [`WARN_BEFORE`] ahead of it;
//! - the **stop** happens at the deadline — but never without a warning first: when the warning
//!   could not be given in time (the laptop slept through it, the app was closed), it is given
//!   now and the stop waits [`LATE_NOTICE`] for the user to answer.
//!
//! A new deadline (activity, a snooze) forgets the old warning.
//!
//! [`watch::IdleWatch`] applies the decision to the running workspaces every 30 s.

pub mod watch;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long before the deadline the user is warned.
pub const WARN_BEFORE: Duration = Duration::from_secs(5 * 60);
/// The least notice a stop is given when the warning comes late.
pub const LATE_NOTICE: Duration = Duration::from_secs(2 * 60);

/// What the user picked for a new workspace's idle timeout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum IdleChoice {
    /// The provider's default: 30 min on Hetzner, never on this computer.
    #[default]
    Default,
    /// Never stop it for idleness.
    Never,
    /// Stop it after this long without activity.
    After {
        /// Seconds, at least 60.
        secs: u64,
    },
}

impl IdleChoice {
    /// The timeout in seconds for a workspace whose provider's default is `default` (see the
    /// provider registry); `None` = never.
    pub fn timeout_secs(self, default: Option<Duration>) -> Option<u64> {
        match self {
            Self::Default => default.map(|default| default.as_secs()),
            Self::Never => None,
            Self::After { secs } => Some(secs.max(60)),
        }
    }
}

/// What the agent says about activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The last activity, Unix milliseconds.
    pub last_ms: i64,
    /// Why the workspace is active right now (empty when it is idle).
    pub active_reasons: Vec<String>,
}

/// What is remembered between decisions (kept in SQLite: wall-clock times survive a restart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdleState {
    /// The deadline last computed, Unix milliseconds.
    pub deadline_ms: Option<i64>,
    /// When the warning for that deadline was given.
    pub warned_ms: Option<i64>,
    /// The user asked to keep the workspace running until then.
    pub snoozed_until_ms: Option<i64>,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdleAction {
    /// Nothing yet; the deadline, if there is one.
    Wait {
        /// When the workspace will be stopped if nothing happens.
        deadline_ms: Option<i64>,
    },
    /// Tell the user the workspace will stop at `stop_at_ms`, and why it counts as idle.
    Warn {
        /// When it will stop.
        stop_at_ms: i64,
        /// For the notification: how long nothing has happened.
        idle_for: Duration,
    },
    /// Stop it (the normal stop: the bill stops, the disk stays).
    Stop {
        /// How long nothing had happened.
        idle_for: Duration,
    },
}

/// Decides at `now_ms` for a workspace with idle timeout `timeout` (`None` = never).
pub fn decide(
    now_ms: i64,
    timeout: Option<Duration>,
    activity: &Activity,
    state: IdleState,
) -> (IdleAction, IdleState) {
    let Some(timeout) = timeout else {
        return (
            IdleAction::Wait { deadline_ms: None },
            IdleState {
                deadline_ms: None,
                warned_ms: None,
                ..state
            },
        );
    };
    let last = if activity.active_reasons.is_empty() {
        activity.last_ms.min(now_ms)
    } else {
        now_ms
    };
    let deadline = (last + ms(timeout)).max(state.snoozed_until_ms.unwrap_or(i64::MIN));
    let mut next = IdleState {
        deadline_ms: Some(deadline),
        warned_ms: state
            .warned_ms
            .filter(|_| state.deadline_ms == Some(deadline)),
        snoozed_until_ms: state.snoozed_until_ms,
    };
    let idle_for = Duration::from_millis(u64::try_from(now_ms - last).unwrap_or(0));
    let action = match next.warned_ms {
        Some(warned) if now_ms >= stop_at(deadline, warned) => IdleAction::Stop { idle_for },
        Some(_) => IdleAction::Wait {
            deadline_ms: Some(deadline),
        },
        None if now_ms >= deadline - ms(WARN_BEFORE) => {
            next.warned_ms = Some(now_ms);
            IdleAction::Warn {
                stop_at_ms: stop_at(deadline, now_ms),
                idle_for,
            }
        }
        None => IdleAction::Wait {
            deadline_ms: Some(deadline),
        },
    };
    (action, next)
}

/// When a workspace warned at `warned_ms` stops: at the deadline, but never with less than
/// [`LATE_NOTICE`].
pub fn stop_at(deadline_ms: i64, warned_ms: i64) -> i64 {
    deadline_ms.max(warned_ms + ms(LATE_NOTICE))
}

/// Keeps the workspace running for `for_` from `now_ms` ("Keep running 1 h"). A deadline that
/// moves forgets its warning at once, so the warning is gone before the next decision.
pub fn snooze(now_ms: i64, for_: Duration, state: IdleState) -> IdleState {
    let until = now_ms + ms(for_);
    let deadline = state.deadline_ms.map(|deadline| deadline.max(until));
    IdleState {
        deadline_ms: deadline,
        warned_ms: state.warned_ms.filter(|_| deadline == state.deadline_ms),
        snoozed_until_ms: Some(until),
    }
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
