//! Writes the history a 10-wallbox site leaves after 48 hours, ending now,
//! as the daemon saves it: for `benches/load/history.sh`.
//!
//!   cargo run --release -p chargebrain-actors --example history_file -- DIR/history.json

#[path = "../../benches/actors/fill/mod.rs"]
mod fill;

fn main() -> Result<(), String> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: history_file PATH (e.g. data/history.json)")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    let end = i64::try_from(now.as_millis()).map_err(|e| e.to_string())?;
    let history = fill::history(10, end);
    let text = serde_json::to_vec(&history.to_saved()).map_err(|e| e.to_string())?;
    actors::store::write_atomic(std::path::Path::new(&path), &text).map_err(|e| e.to_string())?;
    println!("{path}: {} bytes", text.len());
    Ok(())
}
