//! What a `devcontainer.json` asks for, in the terms SAM acts on. Properties SAM does not carry
//! out are listed (`unsupported`) rather than ignored in silence; properties unknown to the
//! specification are left alone, as the reference implementation does.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{jsonc, run_args};

/// Where the container's image comes from.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An image by name (`image`).
    Image(String),
    /// Built from a Dockerfile (`build`), paths relative to the configuration's folder.
    Dockerfile {
        /// The Dockerfile.
        dockerfile: String,
        /// The build context (default: the configuration's folder).
        context: String,
        /// Build arguments.
        args: BTreeMap<String, String>,
        /// The stage to build, when named.
        target: Option<String>,
    },
}

/// A lifecycle command as the specification allows it.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleCommand {
    /// One line for a shell.
    Shell(String),
    /// A program and its arguments, without a shell.
    Args(Vec<String>),
    /// Named commands run in parallel, each a line or an argument list.
    Parallel(BTreeMap<String, LifecycleCommand>),
}

/// The lifecycle commands, in the order they run.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lifecycle {
    /// On the host, before the container exists (SAM: as the workspace's user).
    pub initialize: Option<LifecycleCommand>,
    /// Once, when the container is created.
    pub on_create: Option<LifecycleCommand>,
    /// When the container is created, and when the content changes.
    pub update_content: Option<LifecycleCommand>,
    /// Once, after the above.
    pub post_create: Option<LifecycleCommand>,
    /// At every start of the container.
    pub post_start: Option<LifecycleCommand>,
    /// At every attach (a terminal, an editor).
    pub post_attach: Option<LifecycleCommand>,
}

/// A dev container configuration as SAM reads it.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DevContainer {
    /// Its display name, when it has one.
    pub name: Option<String>,
    /// Where its image comes from.
    pub source: Source,
    /// Features to install, by id (`ghcr.io/devcontainers/features/node:1`, `./local`), with
    /// their options.
    pub features: BTreeMap<String, Value>,
    /// Its lifecycle commands.
    pub lifecycle: Lifecycle,
    /// Variables of the container.
    pub container_env: BTreeMap<String, String>,
    /// Variables of the processes SAM starts in it (`null` unsets).
    pub remote_env: BTreeMap<String, Option<String>>,
    /// The user the container runs as.
    pub container_user: Option<String>,
    /// The user terminals, agents and SSH run as in it.
    pub remote_user: Option<String>,
    /// Where the repository is inside the container.
    pub workspace_folder: Option<String>,
    /// The ports to forward.
    pub forward_ports: Vec<u16>,
    /// Extra mounts, as written.
    pub mounts: Vec<String>,
    /// Options for the container engine, checked (`run_args`).
    pub run_args: Vec<String>,
    /// Properties it sets that SAM does not carry out (`dockerComposeFile`, …).
    pub unsupported: Vec<String>,
}

/// Properties of the specification that SAM does not carry out yet.
const UNSUPPORTED: [&str; 6] = [
    "dockerComposeFile",
    "service",
    "runServices",
    "workspaceMount",
    "privileged",
    "hostRequirements",
];

impl DevContainer {
    /// Reads a configuration's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value = jsonc::parse(text)?;
        let object = value
            .as_object()
            .ok_or_else(|| "the configuration is not a JSON object".to_owned())?;
        let unsupported: Vec<String> = UNSUPPORTED
            .iter()
            .filter(|key| object.contains_key(**key))
            .map(|key| (*key).to_owned())
            .collect();
        let source = source(object, &unsupported)?;
        let run_args = strings(object, "runArgs")?;
        run_args::check(&run_args)?;
        Ok(Self {
            name: string(object, "name")?,
            source,
            features: match object.get("features") {
                None => BTreeMap::new(),
                Some(Value::Object(features)) => features
                    .iter()
                    .map(|(id, options)| (id.clone(), options.clone()))
                    .collect(),
                Some(_) => return Err("features is not an object".to_owned()),
            },
            lifecycle: Lifecycle {
                initialize: lifecycle(object, "initializeCommand")?,
                on_create: lifecycle(object, "onCreateCommand")?,
                update_content: lifecycle(object, "updateContentCommand")?,
                post_create: lifecycle(object, "postCreateCommand")?,
                post_start: lifecycle(object, "postStartCommand")?,
                post_attach: lifecycle(object, "postAttachCommand")?,
            },
            container_env: env(object, "containerEnv")?
                .into_iter()
                .map(|(name, value)| (name, value.unwrap_or_default()))
                .collect(),
            remote_env: env(object, "remoteEnv")?,
            container_user: string(object, "containerUser")?,
            remote_user: string(object, "remoteUser")?,
            workspace_folder: string(object, "workspaceFolder")?,
            forward_ports: ports(object)?,
            mounts: mounts(object)?,
            run_args,
            unsupported,
        })
    }
}

/// The workspace's own ports that a configuration's text asks to forward, in its order, without
/// repeats. (Read on its own: a configuration SAM cannot build may still declare ports.)
pub fn forward_ports(text: &str) -> Result<Vec<u16>, String> {
    let value = jsonc::parse(text)?;
    let object = value
        .as_object()
        .ok_or_else(|| "the configuration is not a JSON object".to_owned())?;
    ports(object)
}

fn source(object: &Map<String, Value>, unsupported: &[String]) -> Result<Source, String> {
    if let Some(build) = object.get("build") {
        let build = build
            .as_object()
            .ok_or_else(|| "build is not an object".to_owned())?;
        let dockerfile =
            string(build, "dockerfile")?.ok_or_else(|| "build names no dockerfile".to_owned())?;
        return Ok(Source::Dockerfile {
            dockerfile,
            context: string(build, "context")?.unwrap_or_else(|| ".".to_owned()),
            args: env(build, "args")?
                .into_iter()
                .map(|(name, value)| (name, value.unwrap_or_default()))
                .collect(),
            target: string(build, "target")?,
        });
    }
    if let Some(image) = string(object, "image")? {
        return Ok(Source::Image(image));
    }
    if unsupported.iter().any(|key| key == "dockerComposeFile") {
        return Err(
            "it uses Docker Compose (dockerComposeFile), which SAM cannot build yet".to_owned(),
        );
    }
    Err("it names neither an image nor a build (a Dockerfile)".to_owned())
}

fn string(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("{key} is not a string")),
    }
}

fn strings(object: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => string_list(items, key),
        Some(_) => Err(format!("{key} is not a list")),
    }
}

/// `items` as strings; `what` names the list in the error.
fn string_list(items: &[Value], what: &str) -> Result<Vec<String>, String> {
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{what} holds something that is not a string"))
        })
        .collect()
}

/// An object of variables: strings (numbers and booleans as written), `null` to unset.
fn env(object: &Map<String, Value>, key: &str) -> Result<BTreeMap<String, Option<String>>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(vars)) => vars
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::Null => None,
                    Value::String(text) => Some(text.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => return Err(format!("{key}.{name} is not a string")),
                };
                Ok((name.clone(), value))
            })
            .collect(),
        Some(_) => Err(format!("{key} is not an object")),
    }
}

fn lifecycle(object: &Map<String, Value>, key: &str) -> Result<Option<LifecycleCommand>, String> {
    let command = |value: &Value, what: &str| match value {
        Value::String(line) => Ok(LifecycleCommand::Shell(line.clone())),
        Value::Array(items) => string_list(items, what).and_then(|args| {
            if args.is_empty() {
                Err(format!("{what} is an empty list"))
            } else {
                Ok(LifecycleCommand::Args(args))
            }
        }),
        _ => Err(format!("{what} is neither a command line nor a list")),
    };
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(named)) => named
            .iter()
            .map(|(name, value)| Ok((name.clone(), command(value, &format!("{key}.{name}"))?)))
            .collect::<Result<BTreeMap<_, _>, String>>()
            .map(|named| Some(LifecycleCommand::Parallel(named))),
        Some(value) => command(value, key).map(Some),
    }
}

fn ports(object: &Map<String, Value>) -> Result<Vec<u16>, String> {
    let Some(list) = object.get("forwardPorts") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| "forwardPorts is not a list".to_owned())?;
    let mut ports = Vec::new();
    for item in list {
        // A `"db:5432"` entry names another container of a Compose setup: not this workspace's.
        let port = match item {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => match s.rsplit_once(':') {
                Some(("localhost" | "127.0.0.1" | "0.0.0.0", port)) => port.parse().ok(),
                Some(_) => None,
                None => s.parse().ok(),
            },
            _ => None,
        };
        if let Some(port) = port.filter(|p| *p != 0)
            && !ports.contains(&port)
        {
            ports.push(port);
        }
    }
    Ok(ports)
}

/// Mounts as strings (`source=…,target=…,type=…`) or objects of the same keys.
fn mounts(object: &Map<String, Value>) -> Result<Vec<String>, String> {
    let Some(list) = object.get("mounts") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| "mounts is not a list".to_owned())?;
    list.iter()
        .map(|item| match item {
            Value::String(text) => Ok(text.clone()),
            Value::Object(parts) => Ok(parts
                .iter()
                .map(|(key, value)| match value {
                    Value::String(text) => format!("{key}={text}"),
                    other => format!("{key}={other}"),
                })
                .collect::<Vec<_>>()
                .join(",")),
            _ => Err("mounts holds something that is neither a string nor an object".to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_full_configuration_reads_as_written() {
        let text = r#"// A web app's dev container
        {
            "name": "web",
            "build": { "dockerfile": "Dockerfile", "context": "..", "args": { "NODE": 22 }, },
            "features": { "./hello": { "greeting": "hi" }, "ghcr.io/devcontainers/features/go:1": {} },
            "onCreateCommand": "echo created",
            "postCreateCommand": ["npm", "ci"],
            "postStartCommand": { "db": "pg_ctl start", "web": ["npm", "run", "dev"] },
            "containerEnv": { "MODE": "dev" },
            "remoteEnv": { "PATH": "${containerEnv:PATH}:/opt/bin", "DROP": null },
            "remoteUser": "node",
            "workspaceFolder": "/workspaces/web",
            "forwardPorts": [3000, "localhost:5173", "db:5432", 3000],
            "mounts": ["source=cache,target=/cache,type=volume", { "source": "m2", "target": "/m2", "type": "volume" }],
            "runArgs": ["--cap-add=SYS_PTRACE"],
            "customizations": { "vscode": {} },
        }"#;
        let config = DevContainer::parse(text).expect("reads");
        assert_eq!(config.name.as_deref(), Some("web"));
        assert_eq!(
            config.source,
            Source::Dockerfile {
                dockerfile: "Dockerfile".into(),
                context: "..".into(),
                args: BTreeMap::from([("NODE".into(), "22".into())]),
                target: None,
            }
        );
        assert_eq!(config.features.len(), 2);
        assert_eq!(config.features["./hello"]["greeting"], "hi");
        assert_eq!(
            config.lifecycle.on_create,
            Some(LifecycleCommand::Shell("echo created".into()))
        );
        assert_eq!(
            config.lifecycle.post_create,
            Some(LifecycleCommand::Args(vec!["npm".into(), "ci".into()]))
        );
        let Some(LifecycleCommand::Parallel(start)) = &config.lifecycle.post_start else {
            panic!("parallel: {:?}", config.lifecycle.post_start);
        };
        assert_eq!(start.keys().collect::<Vec<_>>(), ["db", "web"]);
        assert_eq!(config.remote_env["DROP"], None);
        assert_eq!(config.remote_user.as_deref(), Some("node"));
        assert_eq!(config.forward_ports, [3000, 5173]);
        assert_eq!(config.mounts[1], "source=m2,target=/m2,type=volume");
        assert!(config.unsupported.is_empty());
    }

    #[test]
    fn an_image_alone_is_enough_and_what_sam_does_not_do_is_named() {
        let config =
            DevContainer::parse(r#"{"image": "debian:12", "hostRequirements": {"cpus": 4}}"#)
                .expect("reads");
        assert_eq!(config.source, Source::Image("debian:12".into()));
        assert_eq!(config.unsupported, ["hostRequirements"]);
    }

    #[test]
    fn broken_configurations_say_what_is_wrong() {
        for (text, says) in [
            ("{ nope", "line 1"),
            ("[]", "not a JSON object"),
            ("{}", "neither an image nor a build"),
            (
                r#"{"dockerComposeFile": "c.yml", "service": "app"}"#,
                "Docker Compose",
            ),
            (r#"{"image": 3}"#, "image is not a string"),
            (r#"{"build": {}}"#, "no dockerfile"),
            (r#"{"image": "x", "postCreateCommand": []}"#, "empty list"),
            (
                r#"{"image": "x", "postStartCommand": {"a": 1}}"#,
                "postStartCommand.a",
            ),
            (
                r#"{"image": "x", "containerEnv": {"A": []}}"#,
                "containerEnv.A",
            ),
            (
                r#"{"image": "x", "runArgs": ["--privileged"]}"#,
                "--privileged",
            ),
        ] {
            let err = DevContainer::parse(text).expect_err(text);
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn ports_are_read_even_from_what_sam_cannot_build() {
        let text = r#"{"dockerComposeFile": "c.yml", "forwardPorts": [8080, "x", 70000, 0]}"#;
        assert_eq!(forward_ports(text), Ok(vec![8080]));
        assert!(forward_ports(r#"{"forwardPorts": 3000}"#).is_err());
    }

    proptest! {
        #[test]
        fn any_text_is_read_without_panicking(text in "\\PC{0,300}") {
            let _ = DevContainer::parse(&text);
            let _ = forward_ports(&text);
        }

        #[test]
        fn plain_port_lists_mean_what_they_say(ports in proptest::collection::vec(1u16.., 0..8)) {
            let text = serde_json::json!({ "image": "x", "forwardPorts": ports }).to_string();
            let mut unique = Vec::new();
            for port in &ports {
                if !unique.contains(port) {
                    unique.push(*port);
                }
            }
            prop_assert_eq!(DevContainer::parse(&text).map(|c| c.forward_ports), Ok(unique));
        }
    }
}
