//! Activity on one connection: explicit keep-alives, busy sources, the idle policy, the status
//! report, and getting ready for the machine to stop.

use std::sync::Arc;

use sam_protocol::message::Reply;
use sam_protocol::message::request::{Busy, SetIdlePolicy};

use super::{Answer, Session};

impl Session {
    pub(super) async fn keep_alive(&mut self, answer: Answer) {
        self.agent.activity.touch();
        answer.ok(Ok(())).await;
    }

    pub(super) async fn busy(&mut self, Busy { source, busy }: Busy, answer: Answer) {
        self.agent.activity.set_busy(&source, busy);
        answer.ok(Ok(())).await;
    }

    pub(super) async fn set_idle_policy(&mut self, set: SetIdlePolicy, answer: Answer) {
        let policy = set.policy;
        self.agent.activity.set_policy(policy);
        self.agent.event(&format!("idle policy set: {policy:?}"));
        answer.ok(Ok(())).await;
    }

    pub(super) async fn status(&mut self, answer: Answer) {
        let status = self.agent.activity.status(self.agent.stream_activity());
        answer.send(Ok(Reply::Status { status })).await;
    }

    /// Ending every process takes up to the kill grace, so the answer comes from a task of its
    /// own and the connection keeps serving meanwhile.
    pub(super) fn prepare_stop(&mut self, answer: Answer) {
        let agent = Arc::clone(&self.agent);
        tokio::spawn(async move {
            let closed_streams = agent.prepare_stop().await;
            answer
                .send(Ok(Reply::StopPrepared { closed_streams }))
                .await;
        });
    }
}
