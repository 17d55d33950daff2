//! Every integration test in one binary. Each file here was its own test binary once; linked
//! separately, each carried the whole crate and its dependencies, and `cargo test` ran them one
//! after another, so one slow test held up the files behind it. As modules of one binary they link
//! once and the test threads share every file's tests. Run one file's tests with
//! `cargo test --test all backplane::`. `tests/socketio_recovery.rs` stays a binary of its own
//! (it says why).

mod common;

mod backplane;
mod capacity;
mod chat_page;
mod churn;
mod cli;
mod csv_contract;
mod deflate;
mod delivery_counts;
mod existing_redis;
mod external_target;
mod faults;
mod front_door;
mod h3_interop;
mod heartbeats;
mod http3;
mod http3_server;
mod http_bytes;
mod http_compress;
mod idle;
mod instances;
mod k8s_recipe;
mod kernel_stamps;
mod live_page;
mod merge;
mod module_map;
mod nchan;
mod network_delay;
mod payload_models;
mod process_figures;
mod processes;
mod prometheus;
mod recovery;
mod report_html;
mod report_stored;
mod resume;
mod rooms;
mod rooms_shards;
mod scenario_errors;
mod serve_all;
mod server_limits;
mod shard_flags;
mod shards;
mod socketio;
mod source_addresses;
mod template;
mod variants;
mod window;
mod ws_codec;
mod ws_h2;
