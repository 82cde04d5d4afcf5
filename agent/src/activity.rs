//! Activity, the idle deadline, and the backstop that stops the machine when the desktop can't.
//!
//! Activity is what shows a person (or their tools) is working: input typed by a user, a
//! foreground program in a terminal, a running job, a busy source (a coding agent's turn), an
//! explicit keep-alive. An open connection, a terminal's automatic replies, and mouse motion are
//! not activity. The deadline is `last activity + timeout` (or `extend_until`, if later); past
//! deadline + grace with nothing active, the backstop runs its action once.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sam_protocol::message::{AgentStatus, BackstopAction, IdlePolicy};

/// How often the backstop re-checks.
pub const TICK: Duration = Duration::from_secs(1);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The activity ledger.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    last_activity_ms: i64,
    busy: BTreeSet<String>,
    policy: IdlePolicy,
    fired: bool,
    last_postpone_ms: Option<i64>,
}

/// What the backstop should do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing.
    Wait,
    /// Active: run the postpone command (rate-limited by the caller's interval).
    Postpone,
    /// Idle past deadline and grace: run the action (reported once).
    Fire(BackstopAction),
}

impl Activity {
    /// A ledger that starts active now, under `policy`.
    pub fn new(policy: IdlePolicy) -> Self {
        Self {
            state: Mutex::new(State {
                last_activity_ms: now_ms(),
                busy: BTreeSet::new(),
                policy,
                fired: false,
                last_postpone_ms: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records activity now (user input, keep-alive).
    pub fn touch(&self) {
        let mut state = self.lock();
        state.last_activity_ms = now_ms();
        state.fired = false;
    }

    /// Marks a named source busy or idle.
    pub fn set_busy(&self, source: &str, busy: bool) {
        let mut state = self.lock();
        if busy {
            state.busy.insert(source.to_owned());
        } else {
            state.busy.remove(source);
        }
        state.last_activity_ms = now_ms();
        state.fired = false;
    }

    /// Replaces the idle policy.
    pub fn set_policy(&self, policy: IdlePolicy) {
        let mut state = self.lock();
        state.policy = policy;
        state.fired = false;
    }

    /// Activity and idle state, given the reasons the streams report (foreground programs,
    /// running jobs).
    pub fn status(&self, mut reasons: Vec<String>) -> AgentStatus {
        let state = self.lock();
        reasons.extend(state.busy.iter().map(|source| format!("busy: {source}")));
        AgentStatus {
            last_activity_ms: state.last_activity_ms,
            active_reasons: reasons,
            policy: state.policy,
            backstop_at_ms: backstop_at(&state),
        }
    }

    /// One backstop tick at `now_ms`, with the streams' current reasons for being active.
    pub fn tick(
        &self,
        now_ms: i64,
        stream_reasons: &[String],
        postpone_every: Duration,
    ) -> Verdict {
        let mut state = self.lock();
        if !stream_reasons.is_empty() || !state.busy.is_empty() {
            state.last_activity_ms = now_ms;
            state.fired = false;
            let every = i64::try_from(postpone_every.as_millis()).unwrap_or(i64::MAX);
            if state
                .last_postpone_ms
                .is_none_or(|last| now_ms - last >= every)
            {
                state.last_postpone_ms = Some(now_ms);
                return Verdict::Postpone;
            }
            return Verdict::Wait;
        }
        match backstop_at(&state) {
            Some(at) if now_ms >= at && !state.fired => {
                state.fired = true;
                Verdict::Fire(state.policy.action)
            }
            _ => Verdict::Wait,
        }
    }
}

fn backstop_at(state: &State) -> Option<i64> {
    let timeout = state.policy.timeout_secs?;
    let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let deadline = state.last_activity_ms.saturating_add(ms(timeout));
    let deadline = match state.policy.extend_until {
        Some(until) => deadline.max(until.saturating_mul(1000)),
        None => deadline,
    };
    Some(deadline.saturating_add(ms(state.policy.grace_secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(timeout: Option<u64>, grace: u64) -> IdlePolicy {
        IdlePolicy {
            timeout_secs: timeout,
            extend_until: None,
            grace_secs: grace,
            action: BackstopAction::Exit,
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn fires_once_past_deadline_and_grace() {
        let activity = Activity::new(policy(Some(10), 5));
        let start = activity.status(vec![]).last_activity_ms;
        assert_eq!(activity.tick(start + 14_000, &[], MINUTE), Verdict::Wait);
        assert_eq!(
            activity.tick(start + 15_000, &[], MINUTE),
            Verdict::Fire(BackstopAction::Exit)
        );
        assert_eq!(
            activity.tick(start + 16_000, &[], MINUTE),
            Verdict::Wait,
            "only once"
        );
    }

    #[test]
    fn activity_postpones_and_is_rate_limited() {
        let activity = Activity::new(policy(Some(10), 0));
        let start = activity.status(vec![]).last_activity_ms;
        let busy = vec!["foreground: make".to_owned()];
        assert_eq!(
            activity.tick(start + 60_000, &busy, MINUTE),
            Verdict::Postpone
        );
        assert_eq!(activity.tick(start + 61_000, &busy, MINUTE), Verdict::Wait);
        assert_eq!(
            activity.tick(start + 121_000, &busy, MINUTE),
            Verdict::Postpone
        );
        // Idle again: the deadline counts from the last active tick.
        assert_eq!(activity.tick(start + 130_000, &[], MINUTE), Verdict::Wait);
        assert_eq!(
            activity.tick(start + 131_000, &[], MINUTE),
            Verdict::Fire(BackstopAction::Exit)
        );
    }

    #[test]
    fn never_means_never_and_extend_until_wins() {
        let never = Activity::new(policy(None, 0));
        assert_eq!(never.tick(i64::MAX / 2, &[], MINUTE), Verdict::Wait);
        assert_eq!(never.status(vec![]).backstop_at_ms, None);

        let extended = Activity::new(IdlePolicy {
            extend_until: Some(4_000_000_000),
            ..policy(Some(1), 0)
        });
        assert_eq!(
            extended.status(vec![]).backstop_at_ms,
            Some(4_000_000_000_000)
        );
    }

    #[test]
    fn busy_sources_are_reported_and_keep_it_alive() {
        let activity = Activity::new(policy(Some(1), 0));
        activity.set_busy("claude", true);
        let start = activity.status(vec![]).last_activity_ms;
        assert_eq!(activity.status(vec![]).active_reasons, ["busy: claude"]);
        assert_eq!(
            activity.tick(start + 10_000, &[], MINUTE),
            Verdict::Postpone
        );
        activity.set_busy("claude", false);
        assert!(activity.status(vec![]).active_reasons.is_empty());
    }
}
