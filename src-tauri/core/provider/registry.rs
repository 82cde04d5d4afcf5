//! Every provider SAM knows, by kind, with what each can do.
//!
//! A provider lives in its own folder and hands the registry one [`Registration`]; adding one is
//! that folder, its variant of [`ProviderKind`] (the name stored with each workspace), and one
//! line in [`Providers::new`]. Nothing outside `provider/` asks which kind a workspace is: it
//! asks the registry for the provider and for the capabilities only some have.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::hetzner::account::HetznerAccount;
use super::local::LocalProvider;
use super::{Placements, Provider, Reconcile, SelfDelete, Source};
use crate::error::SamError;
use crate::workspace::ProviderKind;

/// What a provider brings to the registry.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Its kind.
    pub kind: ProviderKind,
    /// How long a workspace there may idle unless the user chooses; `None` = never.
    pub default_idle: Option<Duration>,
    /// Where its machines come from.
    pub source: Arc<dyn Source>,
    /// Its catalogue of sizes and places, if it has one.
    pub placements: Option<Arc<dyn Placements>>,
    /// Its account's drift from SAM's records, if it can drift.
    pub reconcile: Option<Arc<dyn Reconcile>>,
    /// Self-deleting idle machines, if it offers them.
    pub self_delete: Option<Arc<dyn SelfDelete>>,
}

impl Registration {
    /// A provider with no optional capability.
    pub fn new(
        kind: ProviderKind,
        default_idle: Option<Duration>,
        source: Arc<dyn Source>,
    ) -> Self {
        Self {
            kind,
            default_idle,
            source,
            placements: None,
            reconcile: None,
            self_delete: None,
        }
    }
}

/// The registry of one process.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    registered: BTreeMap<ProviderKind, Registration>,
}

impl Providers {
    /// Every provider: this computer (workspaces under `data_dir`, agents from `agent_binary`)
    /// and the Hetzner account.
    pub fn new(
        data_dir: &Path,
        agent_binary: std::path::PathBuf,
        hetzner: &HetznerAccount,
    ) -> Self {
        let mut providers = Self::default();
        providers.register(LocalProvider::new(data_dir, agent_binary).registration());
        providers.register(hetzner.registration());
        providers
    }

    /// Adds (or replaces) a provider.
    pub fn register(&mut self, registration: Registration) {
        self.registered.insert(registration.kind, registration);
    }

    fn entry(&self, kind: ProviderKind) -> Result<&Registration, SamError> {
        self.registered.get(&kind).ok_or_else(|| {
            SamError::configuration(
                format!(
                    "This build of SAM cannot run workspaces on {}.",
                    kind.as_str()
                ),
                "Use a build that includes that provider, or delete the workspace.",
            )
        })
    }

    /// The provider of `kind`.
    pub async fn get(&self, kind: ProviderKind) -> Result<Arc<dyn Provider>, SamError> {
        self.entry(kind)?.source.provider().await
    }

    /// Fails, with what to do, when a workspace cannot be made on `kind` now. Blocking (it may
    /// read the keyring).
    pub fn require_ready(&self, kind: ProviderKind) -> Result<(), SamError> {
        self.entry(kind)?.source.require_ready()
    }

    /// The idle timeout a new workspace on `kind` gets unless the user chooses.
    pub fn default_idle(&self, kind: ProviderKind) -> Option<Duration> {
        self.registered.get(&kind).and_then(|r| r.default_idle)
    }

    /// The catalogue of sizes and places of `kind`, if it has one.
    pub fn placements(&self, kind: ProviderKind) -> Option<&dyn Placements> {
        self.registered.get(&kind)?.placements.as_deref()
    }

    /// Every provider whose account can drift from SAM's records.
    pub fn reconcilers(&self) -> impl Iterator<Item = (ProviderKind, &dyn Reconcile)> {
        self.registered
            .values()
            .filter_map(|r| Some((r.kind, r.reconcile.as_deref()?)))
    }

    /// Self-deleting idle machines on `kind`, if it offers them.
    pub fn self_delete(&self, kind: ProviderKind) -> Option<&dyn SelfDelete> {
        self.registered.get(&kind)?.self_delete.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::context::Context;
    use crate::error::ErrorCategory;
    use crate::installation::MemoryKeys;
    use crate::store::Store;

    fn providers(dir: &Path) -> Providers {
        let store = Arc::new(Store::open(&dir.join("sam.sqlite3")).expect("store"));
        let ctx = Context::new(
            crate::paths::AppPaths::under(dir.to_path_buf()),
            store,
            Arc::new(MemoryKeys::default()),
            Arc::new(Config::default()),
        );
        Providers::new(dir, dir.join("sam-agent"), &HetznerAccount::new(ctx))
    }

    #[test]
    fn each_kind_says_what_it_can_do() {
        let dir = tempfile::tempdir().expect("dir");
        let providers = providers(dir.path());
        assert_eq!(providers.default_idle(ProviderKind::Local), None);
        assert_eq!(
            providers.default_idle(ProviderKind::Hetzner),
            Some(Duration::from_secs(30 * 60))
        );
        assert!(providers.placements(ProviderKind::Local).is_none());
        assert!(providers.placements(ProviderKind::Hetzner).is_some());
        assert!(providers.self_delete(ProviderKind::Local).is_none());
        assert!(providers.self_delete(ProviderKind::Hetzner).is_some());
        let reconciling: Vec<ProviderKind> =
            providers.reconcilers().map(|(kind, _)| kind).collect();
        assert_eq!(reconciling, vec![ProviderKind::Hetzner]);
    }

    #[test]
    fn a_cloud_without_credentials_is_not_ready_and_says_what_to_do() {
        let dir = tempfile::tempdir().expect("dir");
        let providers = providers(dir.path());
        assert!(providers.require_ready(ProviderKind::Local).is_ok());
        let err = providers
            .require_ready(ProviderKind::Hetzner)
            .expect_err("no token");
        assert_eq!(err.category, ErrorCategory::Credentials);
        assert!(err.next_step.contains("HCLOUD_TOKEN"), "{}", err.next_step);
    }

    #[tokio::test]
    async fn an_unregistered_kind_is_a_configuration_error() {
        let empty = Providers::default();
        let err = empty
            .get(ProviderKind::Local)
            .await
            .expect_err("nothing registered");
        assert_eq!(err.category, ErrorCategory::Configuration);
    }
}
