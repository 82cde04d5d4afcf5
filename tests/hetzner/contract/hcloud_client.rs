//! The `hcloud` crate (0.26.0) as an independent client: generated from the same description,
//! with closed structs and enums, so an answer missing a required key (even a `null` one) or
//! carrying an unknown enum value fails to parse. Every call below must parse.

use std::collections::HashMap;
use std::fmt::Debug;

use hcloud::apis::configuration::Configuration;
use hcloud::apis::{
    Error, actions_api, firewalls_api, images_api, locations_api, pricing_api, server_types_api,
    servers_api, volumes_api,
};
use hcloud::models;
use serde_json::json;

use super::{TOKEN, USER_DATA, WAIT, set_faults, start_fake};

/// The crate pointed at the fake: its requests go to `base` instead of Hetzner.
fn configuration(base: &str, token: &str) -> Configuration {
    let mut configuration = Configuration::new();
    configuration
        .base_path_mapping
        .insert("https://api.hetzner.cloud/v1".to_owned(), base.to_owned());
    configuration.bearer_access_token = Some(token.to_owned());
    configuration
}

/// A call's result, which must be an error answer: its status and code, read with the crate's
/// own `ErrorResponse` model.
fn error_of<T: Debug, E: Debug>(result: Result<T, Error<E>>) -> (u16, String) {
    match result {
        Err(Error::ResponseError(content)) => {
            assert!(content.entity.is_some(), "a typed error: {content:?}");
            let body: models::ErrorResponse =
                serde_json::from_str(&content.content).expect("the error body parses");
            (content.status.as_u16(), body.error.code)
        }
        other => panic!("an error answer, got {other:?}"),
    }
}

/// Polls `GET /actions/{id}` until each action succeeded.
async fn wait(configuration: &Configuration, actions: &[models::Action]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    for action in actions {
        loop {
            let params = actions_api::GetActionParams { id: action.id };
            let got = actions_api::get_action(configuration, params)
                .await
                .expect("the action parses");
            match got.action.status {
                models::action::Status::Success => break,
                models::action::Status::Running if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                _ => panic!("action {} did not succeed: {got:?}", action.id),
            }
        }
    }
}

#[tokio::test]
async fn the_hcloud_crate_parses_every_answer() {
    let (fake, _dir) = start_fake().await;
    let cfg = configuration(fake.base_url(), TOKEN);

    // The catalogue.
    let locations = locations_api::list_locations(&cfg, Default::default())
        .await
        .expect("locations parse");
    assert!(locations.locations.iter().any(|l| l.name == "fsn1"));
    server_types_api::list_server_types(&cfg, Default::default())
        .await
        .expect("server types parse");
    let images = images_api::ListImagesParams {
        r#type: Some(vec!["system".to_owned()]),
        architecture: Some("x86".to_owned()),
        ..Default::default()
    };
    images_api::list_images(&cfg, images)
        .await
        .expect("images parse");
    pricing_api::list_prices(&cfg).await.expect("prices parse");

    // A wrong token.
    let stranger = configuration(fake.base_url(), "not-the-token");
    let (status, code) = error_of(servers_api::list_servers(&stranger, Default::default()).await);
    assert_eq!((status, code.as_str()), (401, "unauthorized"));

    let labels = HashMap::from([("sam-contract".to_owned(), "yes".to_owned())]);
    let mut rule = models::Rule::new(models::rule::Direction::In, models::rule::Protocol::Tcp);
    rule.port = Some(Some("443".to_owned()));
    rule.source_ips = Some(vec!["0.0.0.0/0".to_owned(), "::/0".to_owned()]);
    let mut firewall = models::CreateFirewallRequest::new("contract-fw".to_owned());
    firewall.labels = Some(labels.clone());
    firewall.rules = Some(vec![rule]);
    let created = firewalls_api::create_firewall(
        &cfg,
        firewalls_api::CreateFirewallParams {
            create_firewall_request: firewall.clone(),
        },
    )
    .await
    .expect("the firewall parses");
    let firewall_id = created.firewall.expect("a firewall").id;
    let again = firewalls_api::CreateFirewallParams {
        create_firewall_request: firewall,
    };
    let (status, code) = error_of(firewalls_api::create_firewall(&cfg, again).await);
    assert_eq!((status, code.as_str()), (409, "uniqueness_error"));

    let mut volume = models::CreateVolumeRequest::new("contract-vol".to_owned(), 10);
    volume.location = Some("fsn1".to_owned());
    volume.format = Some("ext4".to_owned());
    volume.labels = Some(labels.clone());
    let created = volumes_api::create_volume(
        &cfg,
        volumes_api::CreateVolumeParams {
            create_volume_request: volume,
        },
    )
    .await
    .expect("the volume parses");
    let volume_id = created.volume.id;
    wait(&cfg, &[*created.action]).await;

    let server = |name: &str, volumes: Vec<i64>| {
        let mut request = models::CreateServerRequest::new(
            "debian-12".to_owned(),
            name.to_owned(),
            "cx23".to_owned(),
        );
        request.location = Some("fsn1".to_owned());
        request.labels = Some(labels.clone());
        request.volumes = Some(volumes);
        request.firewalls = Some(vec![models::CreateServerRequestFirewalls::new(firewall_id)]);
        request.user_data = Some(USER_DATA.to_owned());
        servers_api::CreateServerParams {
            create_server_request: request,
        }
    };
    set_faults(&fake, json!({"unavailable": ["cx23@fsn1"]})).await;
    let (status, code) =
        error_of(servers_api::create_server(&cfg, server("contract-1", vec![volume_id])).await);
    assert_eq!((status, code.as_str()), (412, "resource_unavailable"));
    set_faults(&fake, json!({})).await;
    let created = servers_api::create_server(&cfg, server("contract-1", vec![volume_id]))
        .await
        .expect("the created server parses");
    let server_id = created.server.id;
    let mut actions = vec![*created.action];
    actions.extend(created.next_actions);
    wait(&cfg, &actions).await;
    let second = servers_api::create_server(&cfg, server("contract-2", vec![]))
        .await
        .expect("the second server parses");
    let mut ids = vec![second.action.id];
    ids.extend(second.next_actions.iter().map(|a| a.id));
    let many =
        actions_api::get_multiple_actions(&cfg, actions_api::GetMultipleActionsParams { id: ids })
            .await
            .expect("actions parse");
    wait(&cfg, &many.actions).await;

    let got = servers_api::get_server(&cfg, servers_api::GetServerParams { id: server_id })
        .await
        .expect("the server parses");
    let got = got.server.expect("a server");
    assert_eq!(got.status, models::server::Status::Running);
    assert_eq!(got.volumes, Some(vec![volume_id]));
    let (status, code) =
        error_of(servers_api::get_server(&cfg, servers_api::GetServerParams { id: 4242 }).await);
    assert_eq!((status, code.as_str()), (404, "not_found"));
    for page in 1..=2 {
        let params = servers_api::ListServersParams {
            label_selector: Some("sam-contract=yes".to_owned()),
            page: Some(page),
            per_page: Some(1),
            ..Default::default()
        };
        let listed = servers_api::list_servers(&cfg, params)
            .await
            .expect("the list parses");
        assert_eq!(listed.servers.len(), 1);
        assert_eq!(listed.meta.pagination.last_page, Some(2));
    }
    volumes_api::list_volumes(&cfg, Default::default())
        .await
        .expect("volumes parse");
    firewalls_api::list_firewalls(&cfg, Default::default())
        .await
        .expect("firewalls parse");
    firewalls_api::get_firewall(&cfg, firewalls_api::GetFirewallParams { id: firewall_id })
        .await
        .expect("the firewall parses");

    // Power.
    let shutdown =
        servers_api::shutdown_server(&cfg, servers_api::ShutdownServerParams { id: server_id })
            .await
            .expect("shutdown parses");
    wait(&cfg, &[*shutdown.action]).await;
    let on = servers_api::power_on_server(&cfg, servers_api::PowerOnServerParams { id: server_id })
        .await
        .expect("poweron parses");
    wait(&cfg, &[*on.action]).await;
    let off =
        servers_api::power_off_server(&cfg, servers_api::PowerOffServerParams { id: server_id })
            .await
            .expect("poweroff parses");
    wait(&cfg, &[*off.action]).await;

    // The volume comes off and goes back on.
    let detached =
        volumes_api::detach_volume(&cfg, volumes_api::DetachVolumeParams { id: volume_id })
            .await
            .expect("detach parses");
    wait(&cfg, &[*detached.action]).await;
    let attach = volumes_api::AttachVolumeToServerParams {
        id: volume_id,
        attach_volume_to_server_request: models::AttachVolumeToServerRequest::new(server_id),
    };
    let attached = volumes_api::attach_volume_to_server(&cfg, attach)
        .await
        .expect("attach parses");
    wait(&cfg, &[*attached.action]).await;
    let volume = volumes_api::get_volume(&cfg, volumes_api::GetVolumeParams { id: volume_id })
        .await
        .expect("the volume parses");
    assert_eq!(volume.volume.server, Some(server_id));

    // Deletes.
    for id in [server_id, second.server.id] {
        let deleted = servers_api::delete_server(&cfg, servers_api::DeleteServerParams { id })
            .await
            .expect("delete parses");
        wait(&cfg, &[*deleted.action.expect("an action")]).await;
    }
    volumes_api::delete_volume(&cfg, volumes_api::DeleteVolumeParams { id: volume_id })
        .await
        .expect("the volume is deleted");
    firewalls_api::delete_firewall(
        &cfg,
        firewalls_api::DeleteFirewallParams { id: firewall_id },
    )
    .await
    .expect("the firewall is deleted");
}
