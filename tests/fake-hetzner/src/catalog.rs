//! What the fake offers: locations, server types (with per-location availability and prices),
//! system images (each name once per architecture, as on the real API) and the price list. Prices
//! are made up but shaped like Hetzner's: decimal strings, net with 10 decimals, gross with 16.

use serde_json::{Value, json};

/// VAT the fake's account pays (percent).
pub const VAT_PERCENT: f64 = 19.0;
/// Volume price per GB and month, net, in euro.
pub const VOLUME_GB_MONTH_NET: f64 = 0.0440;
/// A primary IPv4 address per month, net, in euro.
pub const IPV4_MONTH_NET: f64 = 0.50;

/// A location.
#[derive(Debug, Clone)]
pub struct Location {
    /// Id.
    pub id: i64,
    /// Name, e.g. `fsn1`.
    pub name: &'static str,
    description: &'static str,
    country: &'static str,
    city: &'static str,
    latitude: f64,
    longitude: f64,
    /// Network zone.
    pub network_zone: &'static str,
}

/// A server type.
#[derive(Debug, Clone)]
pub struct ServerType {
    /// Id.
    pub id: i64,
    /// Name, e.g. `cx23`.
    pub name: &'static str,
    cores: u32,
    memory: f64,
    /// Disk in GB.
    pub disk: u32,
    /// `x86` or `arm`.
    pub architecture: &'static str,
    cpu_type: &'static str,
    category: &'static str,
    /// Monthly price, net, in euro (hourly is a 1/720 share, rounded up a little as Hetzner's are).
    monthly_net: f64,
    /// Where it is offered.
    pub locations: &'static [&'static str],
}

/// A system image.
#[derive(Debug, Clone)]
pub struct Image {
    /// Id.
    pub id: i64,
    /// Name, e.g. `debian-12`.
    pub name: &'static str,
    /// `x86` or `arm`.
    pub architecture: &'static str,
    os_flavor: &'static str,
    os_version: &'static str,
}

/// Every location.
pub fn locations() -> Vec<Location> {
    let l = |id, name, description, country, city, latitude, longitude, network_zone| Location {
        id,
        name,
        description,
        country,
        city,
        latitude,
        longitude,
        network_zone,
    };
    vec![
        l(
            1,
            "fsn1",
            "Falkenstein DC Park 1",
            "DE",
            "Falkenstein",
            50.47612,
            12.370071,
            "eu-central",
        ),
        l(
            2,
            "nbg1",
            "Nuremberg DC Park 1",
            "DE",
            "Nuremberg",
            49.452102,
            11.076665,
            "eu-central",
        ),
        l(
            3,
            "hel1",
            "Helsinki DC Park 1",
            "FI",
            "Helsinki",
            60.169855,
            24.938379,
            "eu-central",
        ),
        l(
            4,
            "ash",
            "Ashburn, VA",
            "US",
            "Ashburn, VA",
            39.045821,
            -77.487073,
            "us-east",
        ),
        l(
            5,
            "hil",
            "Hillsboro, OR",
            "US",
            "Hillsboro, OR",
            45.54222,
            -122.95028,
            "us-west",
        ),
        l(
            6,
            "sin",
            "Singapore",
            "SG",
            "Singapore",
            1.283333,
            103.833333,
            "ap-southeast",
        ),
    ]
}

const EU: &[&str] = &["fsn1", "nbg1", "hel1"];
const EVERYWHERE: &[&str] = &["fsn1", "nbg1", "hel1", "ash", "hil", "sin"];

/// Every server type.
pub fn server_types() -> Vec<ServerType> {
    let t = |id,
             name,
             cores,
             memory,
             disk,
             architecture,
             cpu_type,
             category,
             monthly_net,
             locations| {
        ServerType {
            id,
            name,
            cores,
            memory,
            disk,
            architecture,
            cpu_type,
            category,
            monthly_net,
            locations,
        }
    };
    vec![
        t(
            104,
            "cx23",
            2,
            4.0,
            40,
            "x86",
            "shared",
            "cost_optimized",
            3.49,
            EU,
        ),
        t(
            105,
            "cx33",
            4,
            8.0,
            80,
            "x86",
            "shared",
            "cost_optimized",
            5.49,
            EU,
        ),
        t(
            106,
            "cx43",
            8,
            16.0,
            160,
            "x86",
            "shared",
            "cost_optimized",
            9.49,
            EU,
        ),
        t(
            110,
            "cpx22",
            2,
            4.0,
            80,
            "x86",
            "shared",
            "regular_purpose",
            5.99,
            EVERYWHERE,
        ),
        t(
            111,
            "cpx32",
            4,
            8.0,
            160,
            "x86",
            "shared",
            "regular_purpose",
            10.49,
            EVERYWHERE,
        ),
        t(
            120,
            "ccx13",
            2,
            8.0,
            80,
            "x86",
            "dedicated",
            "general_purpose",
            12.49,
            EVERYWHERE,
        ),
        t(
            45,
            "cax11",
            2,
            4.0,
            40,
            "arm",
            "shared",
            "cost_optimized",
            3.79,
            &["fsn1", "nbg1", "hel1"],
        ),
    ]
}

/// Every system image.
pub fn images() -> Vec<Image> {
    vec![
        Image {
            id: 114690387,
            name: "debian-12",
            architecture: "x86",
            os_flavor: "debian",
            os_version: "12",
        },
        Image {
            id: 114690389,
            name: "debian-12",
            architecture: "arm",
            os_flavor: "debian",
            os_version: "12",
        },
        Image {
            id: 161547269,
            name: "ubuntu-24.04",
            architecture: "x86",
            os_flavor: "ubuntu",
            os_version: "24.04",
        },
        Image {
            id: 161547270,
            name: "ubuntu-24.04",
            architecture: "arm",
            os_flavor: "ubuntu",
            os_version: "24.04",
        },
    ]
}

/// A price as Hetzner writes it: net and gross decimal strings.
pub fn price(net: f64) -> Value {
    json!({
        "net": format!("{net:.10}"),
        "gross": format!("{:.16}", net * (1.0 + VAT_PERCENT / 100.0)),
    })
}

/// The hourly net price of a monthly net price (Hetzner caps a month at about 672 hours' worth).
pub fn hourly(monthly_net: f64) -> f64 {
    (monthly_net / 672.0 * 10_000.0).ceil() / 10_000.0
}

/// Timestamp every catalogue object carries.
const CATALOG_CREATED: &str = "2025-10-16T09:00:00+00:00";

impl Location {
    /// The API's JSON.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "country": self.country,
            "city": self.city,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "network_zone": self.network_zone,
        })
    }
}

impl ServerType {
    fn prices(&self) -> Vec<Value> {
        // US and Singapore cost a fifth more and include less traffic, as on the real price list.
        self.locations
            .iter()
            .map(|location| {
                let factor = if EU.contains(location) { 1.0 } else { 1.2 };
                let monthly = self.monthly_net * factor;
                let traffic: u64 = if EU.contains(location) { 20 } else { 1 } << 40;
                json!({
                    "location": location,
                    "price_hourly": price(hourly(monthly)),
                    "price_monthly": price(monthly),
                    "included_traffic": traffic,
                    "price_per_tb_traffic": price(1.0),
                })
            })
            .collect()
    }

    /// The API's JSON; `unavailable` lists locations currently out of stock.
    pub fn json(&self, unavailable: &[String]) -> Value {
        let all = locations();
        let locations: Vec<Value> = self
            .locations
            .iter()
            .filter_map(|name| all.iter().find(|l| l.name == *name))
            .map(|l| {
                let available = !unavailable.iter().any(|u| u == l.name);
                json!({
                    "id": l.id,
                    "name": l.name,
                    "deprecation": null,
                    "available": available,
                    "recommended": available && l.network_zone == "eu-central",
                })
            })
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.name.to_uppercase(),
            "category": self.category,
            "cores": self.cores,
            "memory": self.memory,
            "disk": self.disk,
            "deprecated": false,
            "deprecation": null,
            "prices": self.prices(),
            "storage_type": "local",
            "cpu_type": self.cpu_type,
            "architecture": self.architecture,
            "locations": locations,
        })
    }

    /// The `/pricing` entry.
    pub fn pricing_json(&self) -> Value {
        json!({ "id": self.id, "name": self.name, "prices": self.prices() })
    }
}

impl Image {
    /// The API's JSON.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "type": "system",
            "status": "available",
            "name": self.name,
            "description": format!("{} {}", self.os_flavor, self.os_version),
            "image_size": null,
            "disk_size": 5,
            "created": CATALOG_CREATED,
            "created_from": null,
            "bound_to": null,
            "os_flavor": self.os_flavor,
            "os_version": self.os_version,
            "rapid_deploy": true,
            "protection": { "delete": false },
            "deprecated": null,
            "deleted": null,
            "labels": {},
            "architecture": self.architecture,
        })
    }
}

/// The whole `/pricing` object.
pub fn pricing() -> Value {
    let ipv4: Vec<Value> = locations()
        .iter()
        .map(|l| {
            json!({
                "location": l.name,
                "price_hourly": price(hourly(IPV4_MONTH_NET)),
                "price_monthly": price(IPV4_MONTH_NET),
            })
        })
        .collect();
    json!({
        "currency": "EUR",
        "vat_rate": format!("{VAT_PERCENT:.2}"),
        "image": { "price_per_gb_month": price(0.0110) },
        "volume": { "price_per_gb_month": price(VOLUME_GB_MONTH_NET) },
        "server_backup": { "percentage": "20.00" },
        "floating_ip": { "price_monthly": price(3.0) },
        "floating_ips": [{ "type": "ipv4", "prices": ipv4.iter().map(|p| json!({"location": p["location"], "price_monthly": price(3.0)})).collect::<Vec<_>>() }],
        "primary_ips": [{ "type": "ipv4", "prices": ipv4 }],
        "server_types": server_types().iter().map(ServerType::pricing_json).collect::<Vec<_>>(),
        "load_balancer_types": [],
    })
}
