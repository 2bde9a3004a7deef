//! The login throttle's shared count (`repo::login_attempts`) on SQLite and PostgreSQL: of many
//! concurrent reservations exactly `max` are granted, refusals say how long to wait and do not
//! count, a success clears the user name, and old attempts are purged.

#[macro_use]
mod support;

use chrono::Duration;
use store::Db;
use store::repo::login_attempts::{self, Reservation};
use support::{Target, t};

fn keys(ip: &str, user: &str) -> Vec<String> {
    vec![format!("ip:{ip}"), format!("user:{user}")]
}

async fn concurrent_reservations_grant_exactly_max(db: Db, _t: Target) {
    let window = Duration::seconds(300);
    let mut tasks = Vec::new();
    for i in 0..24 {
        let db = db.clone();
        // Different addresses, one user name: the name's limit holds across all of them.
        tasks.push(tokio::spawn(async move {
            login_attempts::reserve(&db, &keys(&format!("10.0.0.{i}"), "bob"), 5, window, t(0))
                .await
                .expect("reserve")
        }));
    }
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Reservation::Granted(ids) => {
                assert_eq!(ids.len(), 2);
                granted += 1;
            }
            Reservation::Refused(wait) => assert!((1..=300).contains(&wait), "{wait}"),
        }
    }
    // Exactly the limit: never more (the limit holds), never fewer (a burst does not lock
    // everyone out by counting itself).
    assert_eq!(granted, 5, "{granted} of 24 granted");
    // Refused attempts left nothing behind: once the granted ones leave the window, bob may try.
    let later = login_attempts::reserve(&db, &keys("10.0.1.1", "bob"), 5, window, t(301))
        .await
        .unwrap();
    assert!(matches!(later, Reservation::Granted(_)), "{later:?}");
}

async fn refusals_say_when_and_success_clears_the_user_name(db: Db, _t: Target) {
    let window = Duration::seconds(60);
    for s in 0..3 {
        let r = login_attempts::reserve(&db, &keys("1.1.1.1", "amy"), 3, window, t(s))
            .await
            .unwrap();
        assert!(matches!(r, Reservation::Granted(_)));
    }
    // The fourth, 10 s after the first: wait until the first leaves the window.
    let r = login_attempts::reserve(&db, &keys("2.2.2.2", "amy"), 3, window, t(10))
        .await
        .unwrap();
    assert_eq!(r, Reservation::Refused(50));
    // The address is a key of its own.
    let r = login_attempts::reserve(&db, &keys("1.1.1.1", "other"), 3, window, t(10))
        .await
        .unwrap();
    assert!(matches!(r, Reservation::Refused(_)), "{r:?}");
    // A success (after the lockout) clears amy's failures, not the address's.
    let r = login_attempts::reserve(&db, &keys("3.3.3.3", "amy"), 3, window, t(61))
        .await
        .unwrap();
    let Reservation::Granted(ids) = r else {
        panic!("{r:?}")
    };
    login_attempts::release(&db, &ids, "user:amy")
        .await
        .unwrap();
    for s in 0..3 {
        let r = login_attempts::reserve(&db, &keys(&format!("4.4.4.{s}"), "amy"), 3, window, t(62))
            .await
            .unwrap();
        assert!(matches!(r, Reservation::Granted(_)), "{r:?}");
    }
    // Purging removes what left the window.
    assert_eq!(login_attempts::purge(&db, t(61)).await.unwrap(), 3);
    // Long or NUL-bearing names are keys too.
    let odd = format!("user:{}\0", "x".repeat(500));
    let r = login_attempts::reserve(&db, std::slice::from_ref(&odd), 1, window, t(100))
        .await
        .unwrap();
    assert!(matches!(r, Reservation::Granted(_)));
    let r = login_attempts::reserve(&db, &[odd], 1, window, t(100))
        .await
        .unwrap();
    assert!(matches!(r, Reservation::Refused(_)));
}

on_both!(concurrent_reservations_grant_exactly_max);
on_both!(refusals_say_when_and_success_clears_the_user_name);
