use std::process::ExitCode;

fn main() -> ExitCode {
    runtime::daemon::main(
        integramon_controller::SPEC,
        integramon_controller::ABOUT,
        integramon_controller::run,
    )
}
