//! Console sign-in: enrollment with a password and TOTP, replay and lockout, sessions
//! that end when idle, old, signed out or deactivated.

use bitcoin::Network;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

use super::*;
use crate::rules::roles::Role;
use crate::rules::sign_in::{FREE_ATTEMPTS, SESSION_ABSOLUTE, SESSION_IDLE};
use crate::time::UnixTime;
use crate::totp::{code_at, TotpParams};

const T0: UnixTime = UnixTime::from_secs(1_800_000_000);
const PASSWORD: &str = "correct horse battery staple";

fn password(text: &str) -> Password {
    Password::new(Zeroizing::new(text.to_owned()))
}

fn at(secs: i64) -> UnixTime {
    UnixTime::from_secs(T0.secs() + secs)
}

/// A coordinator with approver `ann` enrolled for the console at T0.
fn enrolled_approver(dir: &tempfile::TempDir) -> (AdminDesk, ConsoleEnrollment) {
    let mut desk =
        AdminDesk::initialise(&dir.path().join("c.db"), Network::Regtest, ["ada", "bob"], T0).unwrap();
    let secret = desk
        .agree(Change::StaffAdd {
            name: "ann".into(),
            role: Role::Approver,
        })
        .unwrap()
        .into_enrollment_secret()
        .unwrap();
    let enrolled = desk
        .coord
        .enroll_for_console(&secret, &password(PASSWORD), &mut OsRng, T0)
        .unwrap();
    (desk, enrolled)
}

fn code(enrolled: &ConsoleEnrollment, when: UnixTime) -> String {
    code_at(&enrolled.totp, &TotpParams::STANDARD, when).unwrap()
}

#[test]
fn enrollment_sets_password_and_totp_and_sign_in_needs_both() {
    let dir = tempfile::tempdir().unwrap();
    let (mut desk, enrolled) = enrolled_approver(&dir);
    assert_eq!(enrolled.staff, "ann");
    assert!(enrolled
        .otpauth_uri
        .starts_with("otpauth://totp/Sluice%20Treasury:ann?secret="));
    // The API token from the same enrollment works too.
    assert_eq!(desk.coord.authenticate(&enrolled.token).unwrap().name(), "ann");

    let now = at(60);
    let wrong_password = desk.coord.sign_in(
        "ann",
        &password("not the password at all"),
        &code(&enrolled, now),
        &mut OsRng,
        now,
    );
    assert!(matches!(
        wrong_password,
        Err(ServiceError::SignIn(SignInRefusal::Failed))
    ));
    let wrong_code = desk
        .coord
        .sign_in("ann", &password(PASSWORD), "000000", &mut OsRng, now);
    assert!(matches!(
        wrong_code,
        Err(ServiceError::SignIn(SignInRefusal::Failed))
    ));
    let unknown = desk
        .coord
        .sign_in("nobody", &password(PASSWORD), "000000", &mut OsRng, now);
    assert!(matches!(
        unknown,
        Err(ServiceError::SignIn(SignInRefusal::Failed))
    ));
    // An admin who never enrolled for the console cannot sign in with anything.
    let no_console = desk
        .coord
        .sign_in("ada", &password(PASSWORD), &code(&enrolled, now), &mut OsRng, now);
    assert!(matches!(
        no_console,
        Err(ServiceError::SignIn(SignInRefusal::Failed))
    ));

    let session = desk
        .coord
        .sign_in("ann", &password(PASSWORD), &code(&enrolled, now), &mut OsRng, now)
        .unwrap();
    let actor = desk.coord.console_actor(&session, at(61)).unwrap();
    assert_eq!((actor.name(), actor.role()), ("ann", Role::Approver));
    // Only hashes are stored: neither the password, the session id nor the CSRF token.
    let dump: String = {
        let conn = desk.coord.connection();
        let mut all = String::new();
        for (table, column) in [
            ("staff_credentials", "password_hash"),
            ("console_sessions", "id_hash"),
        ] {
            let mut stmt = conn.prepare(&format!("SELECT {column} FROM {table}")).unwrap();
            for v in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
                all.push_str(&v.unwrap());
            }
        }
        all
    };
    assert!(dump.starts_with("$argon2id$v=19$"), "{dump}");
    assert!(!dump.contains(PASSWORD));
    assert!(!dump.contains(session.reveal().as_str()));
    assert!(!dump.contains(&session.csrf_token()));
    assert_eq!(format!("{session:?}"), "ConsoleSessionId(<redacted>)");
}

#[test]
fn a_code_signs_in_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut desk, enrolled) = enrolled_approver(&dir);
    let now = at(90);
    let used = code(&enrolled, now);
    desk.coord
        .sign_in("ann", &password(PASSWORD), &used, &mut OsRng, now)
        .unwrap();
    // The same code again, within its window: refused (someone read it over a shoulder).
    let replay = desk
        .coord
        .sign_in("ann", &password(PASSWORD), &used, &mut OsRng, at(95));
    assert!(matches!(replay, Err(ServiceError::SignIn(SignInRefusal::Failed))));
    // The next step's code is fine.
    desk.coord
        .sign_in(
            "ann",
            &password(PASSWORD),
            &code(&enrolled, at(120)),
            &mut OsRng,
            at(120),
        )
        .unwrap();
}

#[test]
fn failures_lock_out_even_the_right_password_then_back_off_doubles() {
    let dir = tempfile::tempdir().unwrap();
    let (mut desk, enrolled) = enrolled_approver(&dir);
    let bad = password("a wrong guess, long enough");
    for i in 0..FREE_ATTEMPTS {
        let now = at(i64::from(i));
        let r = desk
            .coord
            .sign_in("ann", &bad, &code(&enrolled, now), &mut OsRng, now);
        assert!(
            matches!(r, Err(ServiceError::SignIn(SignInRefusal::Failed))),
            "{r:?}"
        );
    }
    // Locked for 30 s from the third failure: the right password and code are refused
    // without being checked.
    let now = at(10);
    let locked = desk
        .coord
        .sign_in("ann", &password(PASSWORD), &code(&enrolled, now), &mut OsRng, now);
    let Err(ServiceError::SignIn(SignInRefusal::LockedOut(until))) = locked else {
        panic!("expected a lockout, got {locked:?}");
    };
    assert_eq!(until, at(2 + 30));
    // After it, one more failure locks for 60 s.
    let r = desk.coord.sign_in("ann", &bad, "123456", &mut OsRng, at(40));
    assert!(matches!(r, Err(ServiceError::SignIn(SignInRefusal::Failed))));
    let r = desk.coord.sign_in(
        "ann",
        &password(PASSWORD),
        &code(&enrolled, at(41)),
        &mut OsRng,
        at(41),
    );
    assert!(matches!(r, Err(ServiceError::SignIn(SignInRefusal::LockedOut(u))) if u == at(100)));
    // Success clears the count.
    desk.coord
        .sign_in(
            "ann",
            &password(PASSWORD),
            &code(&enrolled, at(100)),
            &mut OsRng,
            at(100),
        )
        .unwrap();
    let r = desk.coord.sign_in("ann", &bad, "123456", &mut OsRng, at(130));
    assert!(matches!(r, Err(ServiceError::SignIn(SignInRefusal::Failed))));
    desk.coord
        .sign_in(
            "ann",
            &password(PASSWORD),
            &code(&enrolled, at(131)),
            &mut OsRng,
            at(131),
        )
        .unwrap();
    // Each lockout is in the audit trail.
    let locks: i64 = desk
        .coord
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM admin_events WHERE action = 'console sign-in locked'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(locks, 2);
}

#[test]
fn sessions_end_idle_old_signed_out_or_deactivated() {
    let dir = tempfile::tempdir().unwrap();
    let (mut desk, enrolled) = enrolled_approver(&dir);
    let sign_in = |desk: &mut AdminDesk, when: UnixTime| {
        desk.coord
            .sign_in(
                "ann",
                &password(PASSWORD),
                &code(&enrolled, when),
                &mut OsRng,
                when,
            )
            .unwrap()
    };
    let ended =
        |r: Result<Actor, ServiceError>| matches!(r, Err(ServiceError::SignIn(SignInRefusal::SessionEnded)));
    let idle = i64::try_from(SESSION_IDLE.as_secs()).unwrap();

    let session = sign_in(&mut desk, at(0));
    // Used every few minutes it lives on, up to the absolute limit.
    let mut t = 0;
    while t + idle - 1 < i64::try_from(SESSION_ABSOLUTE.as_secs()).unwrap() {
        t += idle - 1;
        assert!(desk.coord.console_actor(&session, at(t)).is_ok(), "at {t}");
    }
    assert!(ended(desk.coord.console_actor(&session, at(t + idle - 1))));
    // Unused for the idle time: ended, and stays ended.
    let session = sign_in(&mut desk, at(60_000));
    assert!(ended(desk.coord.console_actor(&session, at(60_000 + idle))));
    assert!(ended(desk.coord.console_actor(&session, at(60_000 + idle + 1))));
    // Signed out.
    let session = sign_in(&mut desk, at(70_000));
    desk.coord.sign_out(&session, at(70_001)).unwrap();
    assert!(ended(desk.coord.console_actor(&session, at(70_002))));
    // Deactivated through a proposal: the live session stops working at once.
    let session = sign_in(&mut desk, at(80_000));
    assert!(desk.coord.console_actor(&session, at(80_001)).is_ok());
    desk.agree(Change::StaffSetActive {
        name: "ann".into(),
        active: false,
    })
    .unwrap();
    assert!(matches!(
        desk.coord.console_actor(&session, at(80_002)),
        Err(ServiceError::Unauthenticated)
    ));
}

#[test]
fn enrollment_refuses_short_passwords_and_used_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut desk =
        AdminDesk::initialise(&dir.path().join("c.db"), Network::Regtest, ["ada", "bob"], T0).unwrap();
    let secret = desk
        .agree(Change::StaffAdd {
            name: "ann".into(),
            role: Role::Approver,
        })
        .unwrap()
        .into_enrollment_secret()
        .unwrap();
    let short = desk
        .coord
        .enroll_for_console(&secret, &password("short"), &mut OsRng, T0);
    assert!(matches!(short, Err(ServiceError::Invalid(_))));
    // The refused attempt did not use the secret up.
    desk.coord
        .enroll_for_console(&secret, &password(PASSWORD), &mut OsRng, T0)
        .unwrap();
    let again = desk
        .coord
        .enroll_for_console(&secret, &password(PASSWORD), &mut OsRng, T0);
    assert!(matches!(
        again,
        Err(ServiceError::Enrollment(EnrollmentRefusal::AlreadyUsed))
    ));
}
