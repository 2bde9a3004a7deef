use std::process::ExitCode;

fn main() -> ExitCode {
    runtime::daemon::main(
        integramon_web::SPEC,
        integramon_web::ABOUT,
        integramon_web::run,
    )
}
