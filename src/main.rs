fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(outage::run())
}
