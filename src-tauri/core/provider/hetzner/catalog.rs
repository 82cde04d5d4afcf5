//! What the user can choose on Hetzner and what it costs: locations, server types with their
//! price per hour and per month in each location where they are offered, and the disk's price —
//! all from the API (`/locations`, `/server_types`, `/pricing`), gross, in hundredths of a cent.
//! And the user's ordered preferences, which every create and start tries in turn.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::client::HetznerClient;
use super::model::{Architecture, Pricing};
use crate::error::{ErrorCategory, SamError};
use crate::provider::Placement;
use crate::store::Setting;

/// The settings key the preferences are stored under (JSON).
pub const PREFERENCES: Setting<Preferences> = Setting::new("hetzner.preferences");

/// What may be chosen, with prices.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Catalog {
    /// The currency of every amount, e.g. `EUR`.
    pub currency: String,
    /// Locations, in Hetzner's order.
    pub locations: Vec<CatalogLocation>,
    /// Server types SAM can boot its agent on, smallest first.
    pub server_types: Vec<CatalogServerType>,
    /// The size of a workspace's disk (a Volume), in GB.
    pub volume_gb: u32,
    /// What that disk costs a month, gross.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub volume_monthly_centicents: Option<u64>,
    /// The raw price list (for costs of resources on the account).
    #[serde(skip)]
    pub pricing: Pricing,
}

/// A location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CatalogLocation {
    /// Its name, e.g. `fsn1`.
    pub name: String,
    /// Its city, e.g. `Falkenstein`.
    pub city: String,
    /// Its country code, e.g. `DE`.
    pub country: String,
}

/// A server type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CatalogServerType {
    /// Its name, e.g. `cx23`.
    pub name: String,
    /// vCPUs.
    pub cores: u32,
    /// Memory in GB.
    pub memory_gb: f64,
    /// Its local disk in GB.
    pub disk_gb: u64,
    /// `x86` or `arm`.
    pub architecture: String,
    /// Where it is offered, with prices.
    pub offers: Vec<Offer>,
}

/// A server type in one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Offer {
    /// The location.
    pub location: String,
    /// In stock now.
    pub available: bool,
    /// Server plus its IPv4 address, per hour, gross.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub hourly_centicents: Option<u64>,
    /// Server plus its IPv4 address, per month at most, gross.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub monthly_centicents: Option<u64>,
}

impl Catalog {
    /// Reads the catalogue from the API. Arm server types are included only with `arm`, when
    /// an arm build of the agent exists.
    pub async fn load(client: &HetznerClient, volume_gb: u32, arm: bool) -> Result<Self, SamError> {
        let pricing = client.pricing().await?;
        let locations = client
            .locations()
            .await?
            .into_iter()
            .map(|l| CatalogLocation {
                name: l.name,
                city: l.city,
                country: l.country,
            })
            .collect();
        let mut server_types: Vec<CatalogServerType> = client
            .server_types()
            .await?
            .into_iter()
            .filter(|t| t.deprecated != Some(true))
            .filter(|t| match t.architecture {
                Architecture::X86 => true,
                Architecture::Arm => arm,
                Architecture::Unknown => false,
            })
            .map(|t| {
                let offers = t
                    .locations
                    .iter()
                    .filter(|l| l.deprecation.is_none())
                    .map(|l| {
                        let (hourly, monthly) = pricing.server_with_ipv4(&t.name, &l.name);
                        Offer {
                            location: l.name.clone(),
                            available: l.available,
                            hourly_centicents: hourly,
                            monthly_centicents: monthly,
                        }
                    })
                    .collect();
                CatalogServerType {
                    name: t.name,
                    cores: t.cores,
                    memory_gb: t.memory,
                    disk_gb: t.disk,
                    architecture: match t.architecture {
                        Architecture::Arm => "arm",
                        _ => "x86",
                    }
                    .to_owned(),
                    offers,
                }
            })
            .collect();
        server_types.sort_by(|a, b| {
            a.cores
                .cmp(&b.cores)
                .then(a.memory_gb.total_cmp(&b.memory_gb))
                .then_with(|| a.name.cmp(&b.name))
        });
        let volume_monthly_centicents = pricing.volume_monthly(volume_gb);
        Ok(Self {
            currency: pricing.currency.clone(),
            locations,
            server_types,
            volume_gb,
            volume_monthly_centicents,
            pricing,
        })
    }

    /// The server type named `name`.
    pub fn server_type(&self, name: &str) -> Option<&CatalogServerType> {
        self.server_types.iter().find(|t| t.name == name)
    }

    /// Checks that `placement` names a known location and a server type offered there.
    pub fn check(&self, placement: &Placement) -> Result<(), SamError> {
        if !self.locations.iter().any(|l| l.name == placement.location) {
            return Err(SamError::invalid_input(
                format!("{:?} is not a Hetzner location.", placement.location),
                format!("Choose one of: {}.", self.location_names().join(", ")),
            ));
        }
        let Some(server_type) = self.server_type(&placement.server_type) else {
            return Err(SamError::invalid_input(
                format!(
                    "{:?} is not a server type SAM can use.",
                    placement.server_type
                ),
                format!(
                    "Choose one of: {}.",
                    self.server_types
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if !server_type
            .offers
            .iter()
            .any(|o| o.location == placement.location)
        {
            return Err(SamError::invalid_input(
                format!(
                    "Hetzner does not offer {} in {}.",
                    placement.server_type, placement.location
                ),
                format!(
                    "Choose another location for it: {}.",
                    server_type
                        .offers
                        .iter()
                        .map(|o| o.location.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn location_names(&self) -> Vec<&str> {
        self.locations.iter().map(|l| l.name.as_str()).collect()
    }
}

/// The user's ordered choices: every create tries each server type in each location, locations
/// first (`fsn1/cx23, fsn1/cx33, nbg1/cx23, …`), until one has capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Preferences {
    /// Locations, best first.
    pub locations: Vec<String>,
    /// Server types, best first.
    pub server_types: Vec<String>,
}

impl Default for Preferences {
    /// Falkenstein, Nuremberg, Helsinki; cx23 (2 vCPU, 4 GB), then cx33 (4 vCPU, 8 GB).
    fn default() -> Self {
        Self {
            locations: ["fsn1", "nbg1", "hel1"].map(str::to_owned).to_vec(),
            server_types: ["cx23", "cx33"].map(str::to_owned).to_vec(),
        }
    }
}

impl Preferences {
    /// Every combination, in the order they are tried.
    pub fn placements(&self) -> Vec<Placement> {
        self.locations
            .iter()
            .flat_map(|location| {
                self.server_types.iter().map(move |server_type| Placement {
                    server_type: server_type.clone(),
                    location: location.clone(),
                })
            })
            .collect()
    }

    /// Reads stored preferences.
    pub fn parse(json: &str) -> Result<Self, SamError> {
        serde_json::from_str(json).map_err(|err| {
            SamError::new(
                ErrorCategory::Configuration,
                format!("The saved Hetzner preferences are unreadable: {err}."),
                "Choose locations and server types again in Settings → Hetzner.",
            )
        })
    }

    /// Checks the preferences against the catalogue: at least one of each, no repeats, every
    /// name known.
    pub fn check(&self, catalog: &Catalog) -> Result<(), SamError> {
        if self.locations.is_empty() || self.server_types.is_empty() {
            return Err(SamError::invalid_input(
                "At least one location and one server type are needed.",
                "Add a location and a server type to the list.",
            ));
        }
        for (what, names) in [
            ("location", &self.locations),
            ("server type", &self.server_types),
        ] {
            let mut seen = BTreeSet::new();
            if let Some(twice) = names.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(SamError::invalid_input(
                    format!("The {what} {twice} is listed twice."),
                    "Keep each one once, where it should be tried.",
                ));
            }
        }
        for location in &self.locations {
            if !catalog.locations.iter().any(|l| &l.name == location) {
                return Err(SamError::invalid_input(
                    format!("{location:?} is not a Hetzner location."),
                    format!("Choose from: {}.", catalog.location_names().join(", ")),
                ));
            }
        }
        for name in &self.server_types {
            if catalog.server_type(name).is_none() {
                return Err(SamError::invalid_input(
                    format!("{name:?} is not a server type SAM can use."),
                    "Choose server types from the list.",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_try_every_type_in_a_location_before_the_next_location() {
        let prefs = Preferences {
            locations: vec!["hel1".into(), "fsn1".into()],
            server_types: vec!["cx33".into(), "cx23".into()],
        };
        let order: Vec<String> = prefs
            .placements()
            .iter()
            .map(|p| format!("{}/{}", p.location, p.server_type))
            .collect();
        assert_eq!(order, ["hel1/cx33", "hel1/cx23", "fsn1/cx33", "fsn1/cx23"]);
    }

    #[test]
    fn unreadable_preferences_are_a_configuration_error() {
        let err = Preferences::parse("{\"locations\": 3}").expect_err("refused");
        assert_eq!(err.category, ErrorCategory::Configuration);
        assert!(err.next_step.contains("Settings"), "{err:?}");
    }

    fn catalog() -> Catalog {
        Catalog {
            locations: vec![CatalogLocation {
                name: "fsn1".into(),
                city: "Falkenstein".into(),
                country: "DE".into(),
            }],
            server_types: vec![CatalogServerType {
                name: "cx23".into(),
                cores: 2,
                memory_gb: 4.0,
                disk_gb: 40,
                architecture: "x86".into(),
                offers: vec![Offer {
                    location: "fsn1".into(),
                    available: true,
                    hourly_centicents: Some(70),
                    monthly_centicents: Some(43_700),
                }],
            }],
            ..Catalog::default()
        }
    }

    #[test]
    fn preferences_are_checked_against_the_catalogue() {
        let ok = Preferences {
            locations: vec!["fsn1".into()],
            server_types: vec!["cx23".into()],
        };
        ok.check(&catalog()).expect("valid");
        let cases = [
            (vec![], vec!["cx23"], "At least one"),
            (vec!["fsn1", "fsn1"], vec!["cx23"], "listed twice"),
            (vec!["mars1"], vec!["cx23"], "not a Hetzner location"),
            (vec!["fsn1"], vec!["cx99"], "not a server type"),
        ];
        for (locations, types, says) in cases {
            let prefs = Preferences {
                locations: locations.into_iter().map(str::to_owned).collect(),
                server_types: types.into_iter().map(str::to_owned).collect(),
            };
            let err = prefs.check(&catalog()).expect_err("refused");
            assert!(err.message.contains(says), "{says}: {err:?}");
        }
    }

    #[test]
    fn a_placement_must_be_offered_where_it_is_asked_for() {
        let catalog = catalog();
        let place = |t: &str, l: &str| Placement {
            server_type: t.into(),
            location: l.into(),
        };
        catalog.check(&place("cx23", "fsn1")).expect("offered");
        for (t, l, says) in [
            ("cx23", "mars1", "not a Hetzner location"),
            ("cx99", "fsn1", "not a server type"),
        ] {
            let err = catalog.check(&place(t, l)).expect_err("refused");
            assert!(err.message.contains(says), "{err:?}");
        }
    }
}
