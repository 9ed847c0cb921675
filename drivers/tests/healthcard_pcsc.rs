//! The health card reader against the real PC/SC stack: pcscd with the vpcd
//! virtual reader (Debian `vsmartcard-vpcd`), our simulated card connected
//! to vpcd, read through `PcscReader` (libpcsclite, the `pcsc` crate).
//!
//! Start pcscd first: `scripts/svc/pcscd.sh`. Without pcscd this test
//! prints "skipped: pcscd not running" and passes, unless
//! `KIOSK_REQUIRE_PCSCD=1`, when it fails.

use kiosk_drivers::healthcard::{
    demo_cards, CardKind, HealthCard, HealthCardError, HealthCardReader, PcscReader, SimCard,
    VpcdCard, VPCD_DEFAULT_ADDR,
};
use kiosk_drivers::Health;
use std::time::{Duration, Instant};

/// vpcd slot 0, served on `VPCD_DEFAULT_ADDR`.
const READER: &str = "Virtual PCD 00 00";
const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn pcscd_available() -> bool {
    let why = match PcscReader::reader_names() {
        Ok(names) if names.iter().any(|n| n.contains(READER)) => return true,
        Ok(names) => format!(
            "no vpcd reader {READER:?} in pcscd (it has {names:?}): install vsmartcard-vpcd, restart pcscd"
        ),
        Err(e) => format!("pcscd not running ({e}): start it with scripts/svc/pcscd.sh"),
    };
    if std::env::var("KIOSK_REQUIRE_PCSCD").as_deref() == Ok("1") {
        panic!("KIOSK_REQUIRE_PCSCD=1 but {why}");
    }
    eprintln!("skipped: {why}");
    false
}

/// Field by field, so a failure names the field.
fn assert_card(got: Option<HealthCard>, want: &HealthCard) {
    let got = got.unwrap_or_else(|| panic!("no card read, expected {want:?}"));
    assert_eq!(got.kind, want.kind, "kind");
    assert_eq!(got.card_number, want.card_number, "card_number");
    assert_eq!(got.name, want.name, "name");
    assert_eq!(got.sex, want.sex, "sex");
    assert_eq!(got.nation, want.nation, "nation");
    assert_eq!(got.birth_date, want.birth_date, "birth_date");
    assert_eq!(got.id_number, want.id_number, "id_number");
    assert_eq!(got.issuer, want.issuer, "issuer");
    assert_eq!(got.issued, want.issued, "issued");
    assert_eq!(got.expiry, want.expiry, "expiry");
    assert_eq!(&got, want);
}

/// After a removal the reader reports no card within the timeout, having
/// waited for it.
fn assert_empty(reader: &PcscReader) {
    let timeout = Duration::from_millis(1500);
    let t0 = Instant::now();
    let got = reader.read_card(timeout);
    let took = t0.elapsed();
    assert_eq!(got, Ok(None), "card still read after removal");
    assert!(
        took >= timeout - Duration::from_millis(100),
        "returned early: {took:?}"
    );
    assert!(
        took < timeout + Duration::from_secs(3),
        "overran the timeout: {took:?}"
    );
}

#[test]
fn reads_cards_through_pcscd_and_vpcd() {
    if !pcscd_available() {
        return;
    }
    let cards = demo_cards();
    let health = cards.iter().find(|c| c.kind == CardKind::Health).unwrap();
    let insurance = cards
        .iter()
        .find(|c| c.kind == CardKind::Insurance)
        .unwrap();
    let reader = PcscReader::new(Some(READER));
    assert_eq!(reader.health(), Health::Ok);

    let vpcd = VpcdCard::spawn(VPCD_DEFAULT_ADDR, insurance.clone());
    assert!(
        vpcd.wait_connected(Duration::from_secs(5)),
        "vpcd at {VPCD_DEFAULT_ADDR} did not take the card (another card connected to slot 0?)"
    );

    // A social security card gives everything without authentication.
    assert_card(reader.read_card(READ_TIMEOUT).unwrap(), insurance);
    // Still inserted: read again at once.
    assert_card(reader.read_card(Duration::ZERO).unwrap(), insurance);

    vpcd.remove();
    assert_empty(&reader);

    // A health card read without PSAM: card number, issuer, issue date;
    // sex and birth date from the ID number; no name.
    vpcd.insert(health.clone());
    let got = reader.read_card(READ_TIMEOUT).unwrap();
    assert_card(got.clone(), &health.as_read_without_psam());
    assert_eq!(got.unwrap().name, None);

    vpcd.remove();
    assert_empty(&reader);

    // Inserted again, with the PSAM-protected files open: everything.
    vpcd.insert(SimCard::new(health).open_secured_files());
    assert_card(reader.read_card(READ_TIMEOUT).unwrap(), health);

    // A name outside GBK survives the whole stack.
    vpcd.remove();
    assert_empty(&reader);
    let mut rare = insurance.clone();
    rare.name = Some("陈𠮷".into());
    vpcd.insert(rare.clone());
    assert_card(reader.read_card(READ_TIMEOUT).unwrap(), &rare);

    drop(vpcd);
    assert_empty(&reader);
}

#[test]
fn a_missing_reader_is_a_typed_error() {
    if !pcscd_available() {
        return;
    }
    let reader = PcscReader::new(Some("no such reader 9F3A"));
    assert_eq!(reader.health(), Health::Fault("reader not found".into()));
    let r = reader.read_card(Duration::from_millis(100));
    assert!(matches!(r, Err(HealthCardError::NoReader(_))), "{r:?}");
}

/// libpcsclite finds pcscd through `PCSCLITE_CSOCK_NAME` and reads it once
/// per process, so the "pcscd down" case runs in a child process pointed at
/// a socket that does not exist. Needs no pcscd at all.
#[test]
fn pcscd_down_is_a_typed_error() {
    const CHILD: &str = "KIOSK_HEALTHCARD_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let reader = PcscReader::new(None);
        assert_eq!(reader.health(), Health::Fault("pcscd not running".into()));
        let r = reader.read_card(Duration::from_millis(100));
        assert!(matches!(r, Err(HealthCardError::NoService(_))), "{r:?}");
        assert!(matches!(
            PcscReader::reader_names(),
            Err(HealthCardError::NoService(_))
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "pcscd_down_is_a_typed_error", "--nocapture"])
        .env(CHILD, "1")
        .env("PCSCLITE_CSOCK_NAME", dir.path().join("no-pcscd.comm"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "child ran no test:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
