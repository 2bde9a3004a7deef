use std::process::ExitCode;

fn main() -> ExitCode {
    runtime::daemon::main(
        integramon_archiver::SPEC,
        integramon_archiver::ABOUT,
        integramon_archiver::run,
    )
}
