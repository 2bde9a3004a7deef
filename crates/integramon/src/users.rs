//! `integramon user …`: users of the web UI and API from the command line.

use anyhow::{Context as _, bail};
use migration::Migrator;
use runtime::Settings;
use store::schema;

/// `integramon user create`: a user with a password read from stdin, or a generated one that is
/// printed once (the user must change it at first sign-in).
pub async fn create(
    settings: &Settings,
    username: &str,
    role: domain::user::Role,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        (line.trim_end_matches(['\r', '\n']).to_string(), false)
    } else {
        (integramon_web::auth::random_secret(15), true)
    };
    let db = integramon_migrate::wait_for_database(settings).await?;
    let pending = schema::status::<Migrator>(&db)
        .await?
        .iter()
        .filter(|r| !r.applied)
        .count();
    if pending > 0 {
        bail!("the database has {pending} pending migrations; run integramon-migrate first");
    }
    let user =
        integramon_web::bootstrap::create_user(&db, username, &password, role, generated).await;
    db.close().await;
    let user = user?;
    println!("Created {} {:?}.", user.role, user.username);
    if generated {
        println!("Password (shown once; to be changed at first sign-in): {password}");
    }
    Ok(())
}
