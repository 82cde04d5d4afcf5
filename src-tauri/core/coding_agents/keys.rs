//! Coding agents' API keys: kept in the OS keyring (`agent-key/<agent id>`), listed (never the
//! keys) in the `agents.keyed` setting, handed to a workspace's agent as an in-memory secret when
//! a session of that agent starts, and put in that coding agent's environment only, under the
//! variable the catalogue names (`docs/agent-protocol.md` §5.8).

use crate::Core;
use crate::error::SamError;
use crate::redact::Secret;
use crate::store::Setting;

/// The agents that have a key in the keyring.
const KEYED: Setting<Vec<String>> = Setting::new("agents.keyed");

/// The keyring entry, and the agent's in-memory secret, of `agent`'s key.
pub(crate) fn entry(agent: &str) -> String {
    format!("agent-key/{agent}")
}

/// The agents whose key SAM keeps.
pub fn keyed(core: &Core) -> Result<Vec<String>, SamError> {
    Ok(core.store().get(&KEYED)?.unwrap_or_default())
}

/// Keeps `key` for the catalogue agent `agent` in the keyring.
pub async fn set_key(core: &Core, agent: &str, key: &Secret) -> Result<(), SamError> {
    let entries = super::catalogue(core.store())?;
    let Some(known) = entries.iter().find(|entry| entry.spec.id == agent) else {
        return Err(SamError::invalid_input(
            format!("There is no coding agent {agent:?}."),
            "See the catalogue with: sam agent catalog",
        ));
    };
    if known.spec.key_env.is_empty() {
        return Err(SamError::invalid_input(
            format!("{} reads no API key SAM knows of.", known.spec.name),
            "Add the variable it reads its key from: sam agent add ID --command … --key-env NAME",
        ));
    }
    if !key.is_one_word() {
        return Err(SamError::invalid_input(
            "That key is empty or contains spaces.",
            "Paste the key alone, as the vendor showed it.",
        ));
    }
    let (name, value) = (entry(agent), key.expose().to_owned());
    core.ctx
        .with_keys(move |keys, _| keys.set(&name, &value))
        .await?;
    let mut keyed = keyed(core)?;
    if !keyed.iter().any(|id| id == agent) {
        keyed.push(agent.to_owned());
        keyed.sort();
    }
    Ok(core.store().put(&KEYED, &keyed)?)
}

/// Forgets `agent`'s key (from the keyring too). Coding agents already running keep the
/// environment they started with; new sessions get no key.
pub async fn remove_key(core: &Core, agent: &str) -> Result<(), SamError> {
    let name = entry(agent);
    core.ctx
        .with_keys(move |keys, _| keys.delete(&name))
        .await?;
    let keyed: Vec<String> = keyed(core)?.into_iter().filter(|id| id != agent).collect();
    Ok(core.store().put(&KEYED, &keyed)?)
}

/// `agent`'s key, when SAM keeps one.
pub(crate) async fn key(core: &Core, agent: &str) -> Result<Option<Secret>, SamError> {
    if !keyed(core)?.iter().any(|id| id == agent) {
        return Ok(None);
    }
    let name = entry(agent);
    core.ctx.with_keys(move |keys, _| keys.get(&name)).await
}
