//! Schema-based fuzzing of the JSON API with schemathesis (from PyPI, installed into a venv by
//! `tests/schemathesis/setup-venv.sh`): every operation of `/api/openapi.json`, with generated
//! valid and invalid inputs, as an admin; no answer may be a 5xx.

use std::process::Command;

use integramon_tests::collect::Database;
use integramon_tests::web::Web;
use integramon_tests::workspace;

#[test]
fn api_fuzzing_against_the_openapi_document_finds_no_server_errors() {
    let venv = workspace().join("target/schemathesis-venv");
    let setup = Command::new(workspace().join("tests/schemathesis/setup-venv.sh"))
        .arg(&venv)
        .output()
        .expect("running setup-venv.sh");
    assert!(
        setup.status.success(),
        "installing schemathesis failed (PyPI must be reachable):\n{}{}",
        String::from_utf8_lossy(&setup.stdout),
        String::from_utf8_lossy(&setup.stderr)
    );
    // The fuzzer looks for server errors, not throughput: a CSV export of the whole demo
    // tenant per example (up to 100,000 rows, seconds each) only made the run long.
    let web = Web::up(Database::sqlite(), &[("WEB_EXPORT_MAX_ROWS", "200")]);
    let admin = web.admin_token();
    let token = admin.token.clone().expect("token");
    let (status, doc) = admin.get_text("/api/openapi.json");
    assert_eq!(status, 200);
    let dir = integramon_tests::temp_dir();
    let schema = dir.path().join("openapi.json");
    std::fs::write(&schema, doc).expect("writing the document");
    let out = Command::new(venv.join("bin/st"))
        .current_dir(dir.path())
        .args(["run", schema.to_str().unwrap(), "--url", &web.url])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "not_a_server_error"])
        .args([
            "--max-examples",
            "25",
            "--workers",
            "2",
            "--seed",
            "20261126",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("running schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}\n--- integramon ---\n{}",
        web.output()
    );
    assert!(report.contains("passed"), "{report}");
    // Every operation was exercised, not skipped.
    assert!(!report.contains("Tested: 0"), "{report}");
}
