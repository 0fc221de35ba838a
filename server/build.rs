// `embed_migrations!` reads the migrations at compile time, which cargo cannot see: a new or
// changed migration must rebuild the server, or it would start without it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
