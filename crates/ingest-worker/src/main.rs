use std::process::ExitCode;

fn main() -> ExitCode {
    runtime::daemon::main(
        integramon_ingest_worker::SPEC,
        integramon_ingest_worker::ABOUT,
        integramon_ingest_worker::run,
    )
}
