//! Secrets on one connection: the desktop hands the agent credentials to hold in memory (for
//! the git credential broker and the backstop's self-deletion) and takes them back.

use sam_protocol::message::request::{PushSecret, RevokeSecret};

use super::{Answer, Session};

impl Session {
    pub(super) async fn push_secret(&mut self, push: PushSecret, answer: Answer) {
        let PushSecret {
            name,
            value,
            expires_at,
        } = push;
        self.agent.push_secret(name, value, expires_at);
        answer.ok(Ok(())).await;
    }

    /// Forgetting a secret that is not held succeeds too: the outcome the client wants holds.
    pub(super) async fn revoke_secret(
        &mut self,
        RevokeSecret { name }: RevokeSecret,
        answer: Answer,
    ) {
        self.agent.revoke_secret(&name);
        answer.ok(Ok(())).await;
    }
}
