fn main() {
    println!("vigil");
}
