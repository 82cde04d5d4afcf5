//! `sam-agent`: the agent that runs on each workspace's machine, and the wire protocol the
//! desktop app shares with it. The protocol and server land with the agent issue; this crate
//! reserves the name and the place in the workspace.
