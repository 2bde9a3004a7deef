//! `cpi-sim`: a simulated SAP Cloud Integration tenant. All logic lives in the library.

fn main() -> std::process::ExitCode {
    cpi_sim::cli::main()
}
