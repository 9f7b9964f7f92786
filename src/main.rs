fn main() {
    println!("sluice (in progress)");
}
