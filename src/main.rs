fn main() {
    println!("fluxprint-gateway {}", env!("CARGO_PKG_VERSION"));
}
