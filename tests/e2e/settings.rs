//! Settings → Coding agents in the window: the catalogue with how to log in, an API key kept in
//! the keyring and forgotten, and the user's own agent added, refused with a reason when wrong,
//! kept across a restart, and removed.

use crate::harness::{self, App, sam, until};

/// The agents whose key SAM keeps, as `sam agent catalog` says.
fn keyed(data_dir: &std::path::Path) -> serde_json::Value {
    let output = sam(data_dir, &["--json", "agent", "catalog"])
        .output()
        .expect("sam runs");
    let catalog: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    catalog["keyed"].clone()
}

/// The ids of the agent rows on screen.
async fn agent_ids(app: &App) -> Vec<String> {
    let ids = app
        .script(
            "return [...document.querySelectorAll(\"[data-testid='agent-row']\")].map((row) => row.dataset.agent);",
            vec![],
        )
        .await;
    serde_json::from_value(ids).unwrap_or_default()
}

async fn row_text(app: &App, id: &str) -> String {
    app.find_css(&format!("[data-testid='agent-row'][data-agent='{id}']"))
        .await
        .text()
        .await
        .expect("row text")
}

#[test]
fn the_agents_settings_list_the_catalogue_and_keep_the_users_own_agent() {
    harness::run_with(
        "settings-agents",
        |paths| paths.data_dir.clone(),
        async |app, data_dir| {
            app.click("nav-hetzner").await;
            app.find_css("[data-testid='agent-row'][data-agent='opencode']")
                .await;
            assert_eq!(
                agent_ids(app).await,
                ["claude-code", "codex", "gemini", "opencode"]
            );
            let claude = row_text(app, "claude-code").await;
            assert!(
                claude.contains("npm @agentclientprotocol/claude-agent-acp@0.101.0")
                    && claude.contains("ANTHROPIC_API_KEY"),
                "{claude}"
            );
            let codex = row_text(app, "codex").await;
            assert!(
                codex.contains("in a terminal of the workspace, run npx --yes @openai/codex login"),
                "{codex}"
            );

            // An API key goes to the keyring, and never back to the page.
            let claude_row = "[data-testid='agent-row'][data-agent='claude-code']";
            let key = "sk-ant-e2e-0123456789";
            app.find_css(&format!("{claude_row} [data-testid='add-key']"))
                .await
                .click()
                .await
                .expect("asks for the key");
            app.type_into("key-input", key).await;
            app.click("save-key").await;
            app.find_css(&format!("{claude_row} [data-testid='key-kept']"))
                .await;
            assert_eq!(keyed(&data_dir), serde_json::json!(["claude-code"]));
            let page = app
                .script("return document.documentElement.outerHTML;", vec![])
                .await;
            assert!(
                !page.to_string().contains(key),
                "the key is not on the page"
            );
            app.find_css(&format!("{claude_row} [data-testid='remove-key']"))
                .await
                .click()
                .await
                .expect("forgets the key");
            app.find_css(&format!("{claude_row} [data-testid='add-key']"))
                .await;
            assert_eq!(keyed(&data_dir), serde_json::json!([]));

            // A wrong id is refused with the reason, and nothing is added.
            app.type_into("agent-id", "Bad Id").await;
            app.type_into("agent-command", "my-agent --acp").await;
            app.click("add-agent").await;
            let notice = app.text("error-notice").await;
            assert!(notice.contains("is not valid"), "{notice}");
            assert_eq!(agent_ids(app).await.len(), 4);

            app.find("agent-id").await.clear().await.expect("clears");
            app.type_into("agent-id", "my-agent").await;
            app.type_into("agent-name", "My agent").await;
            app.type_into("agent-key-env", "MY_AGENT_KEY").await;
            app.click("add-agent").await;
            let mine = row_text(app, "my-agent").await;
            assert!(
                mine.contains("My agent (yours)")
                    && mine.contains("my-agent --acp")
                    && mine.contains("MY_AGENT_KEY"),
                "{mine}"
            );

            // Kept across a restart.
            app.restart().await;
            app.click("nav-hetzner").await;
            row_text(app, "my-agent").await;
            app.click("remove-agent").await;
            until(
                "the agent to be removed",
                async || agent_ids(app).await,
                |ids| ids.len() == 4,
            )
            .await;
        },
    );
}
