//! `openclaw devices` against instances that exist and ones that do not.

use crate::harness::*;

#[test]
fn devices_on_an_unknown_profile_says_so_and_creates_nothing() {
    let home = TestHome::new();
    for args in [
        &["--profile", "typo", "devices", "list"][..],
        &["--profile", "typo", "devices", "list", "--json"],
        &["--profile", "typo", "devices", "approve", "abc"],
        &["--profile", "typo", "devices", "revoke", "abc"],
    ] {
        let out = home.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("this instance is not set up") && err.contains(".openclaw-typo"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("openclaw --profile typo setup"),
            "the hint names the profile: {err}"
        );
        assert!(
            !home.join(".openclaw-typo").exists(),
            "{args:?} created the state dir"
        );
    }
    // A set-up instance lists (nothing yet).
    setup(&home, "main", free_base_port());
    let v = home.json(&["--profile", "main", "devices", "list", "--json"]);
    assert_eq!(v["paired"], serde_json::json!({}), "{v}");
}
