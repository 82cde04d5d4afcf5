//! The owner of the core's long-lived tasks: the periodic idle check and token renewal, the
//! Hetzner sweep, operations run in the background, and whatever the desktop shell runs for as
//! long as the app does (the change watcher, notifications, the tray). Each is spawned here under
//! a name; [`Tasks::shutdown`] cancels them all and waits (bounded) until they have ended, so
//! nothing outlives the app's exit half-way through a write.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The set of tasks one core owns.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// Where tasks run when they are spawned from outside any runtime (the desktop shell's
    /// window and menu callbacks run on the GUI thread).
    runtime: Arc<OnceLock<Handle>>,
}

/// How a [`Tasks::shutdown`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every task ended.
    Clean,
    /// Some tasks were still running when the time was up (they end with the process).
    TimedOut {
        /// How many.
        running: usize,
    },
}

impl Tasks {
    /// Runs tasks spawned outside a runtime on `runtime` (the first one given stays).
    pub fn use_runtime(&self, runtime: Handle) {
        let _ = self.runtime.set(runtime);
    }

    /// Runs `work` until it ends or the tasks are shut down, whichever comes first. After a
    /// shutdown has begun, nothing new starts (`work` is dropped unstarted), and neither does
    /// anything spawned outside a runtime before [`Tasks::use_runtime`] (it is logged).
    pub fn spawn<F>(&self, name: &'static str, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.cancel.is_cancelled() {
            tracing::debug!(task = name, "not started: shutting down");
            return;
        }
        let Some(runtime) = Handle::try_current()
            .ok()
            .or_else(|| self.runtime.get().cloned())
        else {
            tracing::error!(task = name, "not started: no runtime to run it on");
            return;
        };
        let cancel = self.cancel.clone();
        self.tracker.spawn_on(
            async move {
                tokio::select! {
                    () = cancel.cancelled() => tracing::debug!(task = name, "cancelled"),
                    () = work => tracing::debug!(task = name, "ended"),
                }
            },
            &runtime,
        );
    }

    /// Runs `work` every `every` (the first time at once) until shutdown.
    pub fn every<F, Fut>(&self, name: &'static str, every: Duration, mut work: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                work().await;
            }
        });
    }

    /// How many tasks are running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Cancels every task and waits up to `grace` for them to end.
    pub async fn shutdown(&self, grace: Duration) -> Shutdown {
        self.cancel.cancel();
        self.tracker.close();
        match tokio::time::timeout(grace, self.tracker.wait()).await {
            Ok(()) => Shutdown::Clean,
            Err(_) => Shutdown::TimedOut {
                running: self.tracker.len(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    /// Sets its flag when dropped: a task's future is dropped when it is cancelled.
    struct Dropped(Arc<AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn shutdown_cancels_every_task_and_waits_for_it() {
        let tasks = Tasks::default();
        let dropped = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let guard = Dropped(Arc::clone(&dropped));
        tasks.spawn("forever", async move {
            let _guard = guard;
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
        });
        started_rx.await.expect("the task started");
        assert_eq!(tasks.running(), 1);
        assert_eq!(
            tasks.shutdown(Duration::from_secs(5)).await,
            Shutdown::Clean
        );
        assert!(
            dropped.load(Ordering::SeqCst),
            "the task's future was dropped"
        );
        assert_eq!(tasks.running(), 0);
    }

    #[tokio::test]
    async fn nothing_starts_after_shutdown() {
        let tasks = Tasks::default();
        assert_eq!(
            tasks.shutdown(Duration::from_secs(1)).await,
            Shutdown::Clean
        );
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        tasks.spawn("late", async move { flag.store(true, Ordering::SeqCst) });
        assert_eq!(tasks.running(), 0);
        tokio::task::yield_now().await;
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn periodic_work_runs_at_once_then_every_period_until_shutdown() {
        let tasks = Tasks::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        tasks.every("tick", Duration::from_secs(30), move || {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "at 0 s, 30 s and 60 s");
        assert_eq!(
            tasks.shutdown(Duration::from_secs(1)).await,
            Shutdown::Clean
        );
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "none after shutdown");
    }

    #[test]
    fn tasks_spawned_outside_a_runtime_run_on_the_one_given() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let tasks = Tasks::default();
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        // From this plain thread, with no runtime given, the task cannot start.
        tasks.spawn("orphan", async {});
        assert_eq!(tasks.running(), 0);
        tasks.use_runtime(runtime.handle().clone());
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        tasks.spawn("on the GUI thread", async move {
            flag.store(true, Ordering::SeqCst);
            let _ = done_tx.send(());
        });
        runtime.block_on(async {
            done_rx.await.expect("ran");
            assert_eq!(
                tasks.shutdown(Duration::from_secs(1)).await,
                Shutdown::Clean
            );
        });
        assert!(ran.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_cancellation_is_reported_not_waited_for_forever() {
        let tasks = Tasks::default();
        // Blocking work cannot be cancelled; the shutdown says so instead of hanging.
        let tracker_task = tasks.tracker.spawn(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        let outcome = tasks.shutdown(Duration::from_secs(2)).await;
        assert_eq!(outcome, Shutdown::TimedOut { running: 1 });
        tracker_task.abort();
    }
}
