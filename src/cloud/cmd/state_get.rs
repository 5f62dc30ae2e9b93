//! `state.get`: the state the retained `state` topic carries, now (it changes nothing). It
//! takes no args.

use serde_json::{Value, json};

use crate::cloud::commands::Executor;
use crate::cloud::telemetry;

pub(super) fn run(executor: &Executor) -> Value {
    let certificate = executor.renewal.certificate().borrow().clone();
    json!(telemetry::state_json(
        &executor.gateway,
        true,
        certificate.as_ref()
    ))
}
