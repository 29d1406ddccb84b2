//! `sqlx::migrate!` embeds the migration files at compile time, but on stable Rust cargo does
//! not see a new file in their folders: rebuild when either folder changes.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
