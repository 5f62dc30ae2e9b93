//! The integration tests: one test binary with a module per area (a module here was a test
//! binary of its own once), so the suite links once and every module shares the harness in
//! `common` (and the LAN API tests `web_harness`) without each using only a part of it.
//!
//! Tests run in one process, on parallel threads, in no order to rely on: a test never
//! changes process-wide state (environment, working directory, a global tracing subscriber)
//! and never counts on another having run first; the one process-wide setting, the rustls
//! provider, each test that needs it installs itself (the same one; a second install is a
//! no-op). Tests that need a process of their own start one: the gateway binary (`cli`,
//! `daemon`, `web_start`) or this binary re-run for one ignored test (`crash_restart`,
//! `cloud_restart`; see [`common::test_name`]). `TTYPort::pair` is serialised for the whole
//! process inside the simulator (`printer::sim::device`); tests that take turns (one
//! OctoPrint, one pty test of `sim_device` at a time) share a lock in their module.

mod common;
mod web_harness;

mod analysis_along;
mod architecture;
mod bambu;
mod browser;
mod cli;
mod cloud_burst;
mod cloud_contract;
mod cloud_fetch;
mod cloud_link;
mod cloud_outage;
mod cloud_restart;
mod cluster;
mod config_check;
mod crash_restart;
mod daemon;
mod fleet;
mod gcode_analysis;
mod gcode_metadata;
mod gcode_motion;
mod gcode_robustness;
mod gcode_stl;
mod intel;
mod moonraker;
mod octoprint;
mod queue;
mod recovery;
mod schemathesis;
mod serial;
mod sim_device;
mod slicer;
mod slicer_cloud;
mod store;
mod store_batch;
mod tls_refuses_unknown_ca;
mod update;
mod web_api;
mod web_live;
mod web_slicers;
mod web_start;
