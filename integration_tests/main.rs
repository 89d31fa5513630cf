//! Tests that start the real daemon on loopback and drive it over HTTP and
//! Modbus. One test binary; each file is a module.

mod broker;
mod harness;
mod webdriver;

mod api_snapshot;
mod clients;
mod configuration;
mod definitions;
mod demo;
mod dev_info;
mod grid_dimming;
mod history;
mod http_input;
mod http_json;
mod load_management;
mod logs;
mod malformed;
mod merged_reads;
mod metrics;
mod modbus_api;
mod modbus_ascii;
mod modbus_device;
mod modbus_faults;
mod modbus_rtu;
mod mqtt;
mod node_red;
mod ocpp;
mod package;
mod phase_discovery;
mod phase_switching;
mod plausibility;
mod reconfigure;
mod robustness;
mod security;
mod service;
mod sessions;
mod settings;
mod simulated_wiring;
mod slow_devices;
mod startup;
mod sunspec;
mod users;
mod web_charts;
mod web_ui;
