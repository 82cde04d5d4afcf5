//! The idle decision with a controllable clock.

use super::*;

const MIN: i64 = 60_000;
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn idle_since(last_ms: i64) -> Activity {
    Activity {
        last_ms,
        active_reasons: Vec::new(),
    }
}

/// Runs the decision every minute from `from` to `to` (inclusive) and returns what happened
/// when, with the state afterwards.
fn run(
    from: i64,
    to: i64,
    activity: impl Fn(i64) -> Activity,
    mut state: IdleState,
) -> (Vec<(i64, IdleAction)>, IdleState) {
    let mut happened = Vec::new();
    let mut now = from;
    while now <= to {
        let (action, next) = decide(now, Some(TIMEOUT), &activity(now), state);
        state = next;
        if !matches!(action, IdleAction::Wait { .. }) {
            happened.push((now, action));
        }
        now += MIN;
    }
    (happened, state)
}

#[test]
fn an_idle_workspace_is_warned_once_five_minutes_ahead_and_stopped_on_time() {
    let (happened, _) = run(0, 40 * MIN, |_| idle_since(0), IdleState::default());
    let when: Vec<i64> = happened.iter().map(|(at, _)| at / MIN).collect();
    assert_eq!(when, [25, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
    assert!(matches!(
        happened[0].1,
        IdleAction::Warn { stop_at_ms, idle_for } if stop_at_ms == 30 * MIN && idle_for == Duration::from_secs(25 * 60)
    ));
    assert!(
        happened[1..]
            .iter()
            .all(|(_, a)| matches!(a, IdleAction::Stop { .. }))
    );
}

#[test]
fn activity_moves_the_deadline_and_forgets_the_warning() {
    // Typing at minute 27, after the warning at 25.
    let activity = |now: i64| idle_since(if now >= 27 * MIN { 27 * MIN } else { 0 });
    let (happened, state) = run(0, 60 * MIN, activity, IdleState::default());
    let when: Vec<(i64, bool)> = happened
        .iter()
        .map(|(at, a)| (at / MIN, matches!(a, IdleAction::Warn { .. })))
        .collect();
    assert_eq!(when[0], (25, true));
    assert_eq!(
        when[1],
        (52, true),
        "warned again for the new deadline: {when:?}"
    );
    assert_eq!(when[2], (57, false), "stopped at the new deadline");
    assert_eq!(state.deadline_ms, Some(57 * MIN));
}

#[test]
fn a_running_foreground_job_holds_the_stop_off() {
    let busy = |_: i64| Activity {
        last_ms: 0,
        active_reasons: vec!["a foreground job runs in terminal 1 (cargo build)".to_owned()],
    };
    let (happened, state) = run(0, 120 * MIN, busy, IdleState::default());
    assert!(happened.is_empty(), "{happened:?}");
    assert_eq!(state.deadline_ms, Some(150 * MIN));
}

#[test]
fn keep_running_one_hour_extends_the_deadline() {
    let (happened, state) = run(0, 26 * MIN, |_| idle_since(0), IdleState::default());
    assert_eq!(happened.len(), 1, "warned at 25");
    let state = snooze(26 * MIN, Duration::from_secs(3600), state);
    let (happened, _) = run(27 * MIN, 90 * MIN, |_| idle_since(0), state);
    let first: Vec<(i64, bool)> = happened
        .iter()
        .take(2)
        .map(|(at, a)| (at / MIN, matches!(a, IdleAction::Warn { .. })))
        .collect();
    assert_eq!(
        first,
        [(81, true), (86, false)],
        "a new warning, then the stop"
    );
}

#[test]
fn a_laptop_that_slept_past_the_deadline_warns_first_and_gives_notice() {
    // Last decision at minute 10; the next one at minute 300.
    let (_, state) = run(0, 10 * MIN, |_| idle_since(0), IdleState::default());
    let (action, state) = decide(300 * MIN, Some(TIMEOUT), &idle_since(0), state);
    assert_eq!(
        action,
        IdleAction::Warn {
            stop_at_ms: 302 * MIN,
            idle_for: Duration::from_secs(300 * 60)
        }
    );
    let (action, state) = decide(301 * MIN, Some(TIMEOUT), &idle_since(0), state);
    assert!(matches!(action, IdleAction::Wait { .. }), "{action:?}");
    let (action, _) = decide(302 * MIN, Some(TIMEOUT), &idle_since(0), state);
    assert!(matches!(action, IdleAction::Stop { .. }), "{action:?}");
}

#[test]
fn a_clock_that_went_back_does_not_stop_early() {
    let (_, state) = run(0, 26 * MIN, |_| idle_since(0), IdleState::default());
    // The clock is set back ten minutes: the deadline is still 30 minutes after the activity.
    let (action, _) = decide(16 * MIN, Some(TIMEOUT), &idle_since(0), state);
    assert!(matches!(action, IdleAction::Wait { deadline_ms: Some(d) } if d == 30 * MIN));
}

#[test]
fn never_means_never() {
    let (action, state) = decide(1_000 * MIN, None, &idle_since(0), IdleState::default());
    assert_eq!(action, IdleAction::Wait { deadline_ms: None });
    assert_eq!(state, IdleState::default());
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the clock does (steps of any size, forwards) and whatever the activity, a
        /// stop never comes before the deadline, and never without a warning for that same
        /// deadline at least `LATE_NOTICE` earlier.
        #[test]
        fn no_stop_before_the_deadline_or_without_notice(
            steps in prop::collection::vec((1..40 * MIN, any::<bool>(), any::<bool>()), 1..60)
        ) {
            let mut now = 0;
            let mut last_activity = 0;
            let mut state = IdleState::default();
            let mut warned: Option<(i64, i64)> = None; // (deadline, at)
            for (step, typed, busy) in steps {
                now += step;
                if typed {
                    last_activity = now - step / 2;
                }
                let activity = Activity {
                    last_ms: last_activity,
                    active_reasons: if busy { vec!["busy".to_owned()] } else { Vec::new() },
                };
                let (action, next) = decide(now, Some(TIMEOUT), &activity, state);
                let deadline = next.deadline_ms.expect("a deadline");
                match action {
                    IdleAction::Warn { stop_at_ms, .. } => {
                        prop_assert!(stop_at_ms >= deadline);
                        prop_assert!(stop_at_ms - now >= ms(LATE_NOTICE));
                        warned = Some((deadline, now));
                    }
                    IdleAction::Stop { .. } => {
                        prop_assert!(!busy, "stopped while busy");
                        prop_assert!(now >= deadline);
                        let (for_deadline, at) = warned.expect("warned first");
                        prop_assert_eq!(for_deadline, deadline);
                        prop_assert!(now - at >= ms(LATE_NOTICE));
                    }
                    IdleAction::Wait { .. } => {}
                }
                state = next;
            }
        }
    }
}

#[test]
fn the_default_is_the_providers_and_a_chosen_timeout_is_at_least_a_minute() {
    // The providers' own defaults (30 min on Hetzner, never on this computer) are the
    // registry's: `provider::registry` tests them.
    let thirty_minutes = Some(Duration::from_secs(30 * 60));
    assert_eq!(IdleChoice::Default.timeout_secs(thirty_minutes), Some(1800));
    assert_eq!(IdleChoice::Default.timeout_secs(None), None);
    assert_eq!(IdleChoice::Never.timeout_secs(thirty_minutes), None);
    assert_eq!(
        IdleChoice::After { secs: 5 }.timeout_secs(None),
        Some(60),
        "at least a minute"
    );
}

#[test]
fn keeping_running_past_the_deadline_forgets_its_warning_at_once() {
    let warned = IdleState {
        deadline_ms: Some(30 * MIN),
        warned_ms: Some(25 * MIN),
        snoozed_until_ms: None,
    };
    let kept = snooze(26 * MIN, Duration::from_secs(3600), warned);
    assert_eq!(kept.deadline_ms, Some(86 * MIN));
    assert_eq!(kept.warned_ms, None);
    let short = snooze(26 * MIN, Duration::from_secs(60), warned);
    assert_eq!(short.warned_ms, Some(25 * MIN), "the deadline did not move");
}
