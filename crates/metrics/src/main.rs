use std::process::ExitCode;

fn main() -> ExitCode {
    runtime::daemon::main(
        integramon_metrics::SPEC,
        integramon_metrics::ABOUT,
        integramon_metrics::run,
    )
}
