//! Confirmation codes: an action that changes another instance is carried
//! out only when the owner who asked for it sends `/confirm <code>`.
//!
//! A code is 4 characters from an alphabet without look-alikes (no `0`/`O`,
//! `1`/`I`/`L`), valid [`CODE_TTL`] (5 minutes), bound to the requester who
//! asked (e.g. `telegram:4242`), and single use: taking it removes it,
//! whether the action then succeeds or not. Codes live in memory: a rescue
//! gateway that restarts forgets them, so a `/confirm` replayed after a
//! crash can never run an action twice. Time is passed in, so the rules are
//! tested without waiting.

use std::time::{Duration, SystemTime};

/// How long a code is valid.
pub const CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// Characters of a code.
pub const CODE_LEN: usize = 4;
/// The alphabet: uppercase letters and digits without `0 O 1 I L`.
pub const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Most pending actions one requester may have; the oldest goes first.
pub const MAX_PENDING_PER_REQUESTER: usize = 10;

/// One action waiting for its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending<A> {
    pub code: String,
    /// Who asked (`<channel>:<senderId>`); only they can confirm.
    pub requester: String,
    pub action: A,
    /// What will be done, as shown when it was asked for.
    pub summary: String,
    pub issued: SystemTime,
}

impl<A> Pending<A> {
    fn expired(&self, now: SystemTime) -> bool {
        now.duration_since(self.issued).unwrap_or(Duration::ZERO) >= CODE_TTL
    }

    /// Seconds left at `now`.
    pub fn seconds_left(&self, now: SystemTime) -> u64 {
        CODE_TTL
            .saturating_sub(now.duration_since(self.issued).unwrap_or(Duration::ZERO))
            .as_secs()
    }
}

/// Why a code was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No such code (never issued, already used, or expired and pruned).
    Unknown,
    /// The code was issued, but more than [`CODE_TTL`] ago.
    Expired { summary: String },
    /// The code belongs to someone else (it stays valid for them).
    NotYours,
}

/// The pending actions of a rescue instance.
#[derive(Debug)]
pub struct Confirmations<A> {
    items: Vec<Pending<A>>,
}

impl<A> Default for Confirmations<A> {
    fn default() -> Self {
        Confirmations { items: Vec::new() }
    }
}

/// A fresh code from `random` bytes (one byte per character, taken modulo
/// the alphabet; the bias of 256 % 31 is irrelevant for a 5-minute,
/// owner-bound, single-use code).
pub fn code_from(random: [u8; CODE_LEN]) -> String {
    random
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A code from the OS's random source.
pub fn random_code() -> String {
    let mut b = [0u8; CODE_LEN];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: fall back to the clock (still single use and
        // owner-bound).
        let n = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        b = n.to_le_bytes();
    }
    code_from(b)
}

impl<A> Confirmations<A> {
    fn prune(&mut self, now: SystemTime) {
        // Expired codes are kept for one more TTL so "expired" can be told
        // apart from "unknown".
        self.items
            .retain(|p| now.duration_since(p.issued).unwrap_or(Duration::ZERO) < CODE_TTL * 2);
    }

    /// Records `action` for `requester` and returns its code. `next_code`
    /// is asked again until the code is not in use.
    pub fn issue(
        &mut self,
        now: SystemTime,
        requester: &str,
        action: A,
        summary: String,
        mut next_code: impl FnMut() -> String,
    ) -> String {
        self.prune(now);
        let mine = self
            .items
            .iter()
            .filter(|p| p.requester == requester)
            .count();
        if mine >= MAX_PENDING_PER_REQUESTER
            && let Some(i) = self.items.iter().position(|p| p.requester == requester)
        {
            self.items.remove(i);
        }
        let code = loop {
            let c = next_code();
            if !self.items.iter().any(|p| p.code == c) {
                break c;
            }
        };
        self.items.push(Pending {
            code: code.clone(),
            requester: requester.to_string(),
            action,
            summary,
            issued: now,
        });
        code
    }

    /// Takes the action with `code` for `requester` (case-insensitive):
    /// removed, so it runs at most once.
    pub fn take(
        &mut self,
        now: SystemTime,
        requester: &str,
        code: &str,
    ) -> Result<Pending<A>, Refused> {
        self.prune(now);
        let code = code.trim().to_ascii_uppercase();
        let Some(i) = self.items.iter().position(|p| p.code == code) else {
            return Err(Refused::Unknown);
        };
        if self.items[i].requester != requester {
            return Err(Refused::NotYours);
        }
        let p = self.items.remove(i);
        if p.expired(now) {
            return Err(Refused::Expired { summary: p.summary });
        }
        Ok(p)
    }

    /// The requester's actions still waiting, oldest first.
    pub fn pending_for(&mut self, now: SystemTime, requester: &str) -> Vec<&Pending<A>> {
        self.prune(now);
        self.items
            .iter()
            .filter(|p| p.requester == requester && !p.expired(now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(list: &[&str]) -> impl FnMut() -> String {
        let mut v: Vec<String> = list.iter().rev().map(|s| s.to_string()).collect();
        move || v.pop().expect("enough codes")
    }

    #[test]
    fn a_code_works_once_for_the_owner_who_asked_within_five_minutes() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut c = Confirmations::default();
        let code = c.issue(
            t0,
            "telegram:1",
            "restart main",
            "restart main".into(),
            codes(&["K7QX"]),
        );
        assert_eq!(code, "K7QX");
        // Someone else cannot use it, and trying does not burn it.
        assert_eq!(c.take(t0, "telegram:2", "K7QX"), Err(Refused::NotYours));
        // Case does not matter; it works once.
        let p = c
            .take(t0 + Duration::from_secs(299), "telegram:1", "k7qx")
            .unwrap();
        assert_eq!(p.action, "restart main");
        assert_eq!(c.take(t0, "telegram:1", "K7QX"), Err(Refused::Unknown));

        // Five minutes later it has expired (and is gone).
        c.issue(
            t0,
            "telegram:1",
            "stop main",
            "stop main".into(),
            codes(&["AB23"]),
        );
        assert_eq!(
            c.take(t0 + CODE_TTL, "telegram:1", "AB23"),
            Err(Refused::Expired {
                summary: "stop main".into()
            })
        );
        assert_eq!(
            c.take(t0 + CODE_TTL, "telegram:1", "AB23"),
            Err(Refused::Unknown)
        );
        assert_eq!(c.take(t0, "telegram:1", "ZZZZ"), Err(Refused::Unknown));
    }

    #[test]
    fn codes_are_unique_while_pending_and_listed_per_requester() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(50);
        let mut c = Confirmations::default();
        let a = c.issue(t0, "telegram:1", 1, "one".into(), codes(&["AAAA"]));
        // The generator repeats a pending code: asked again.
        let b = c.issue(t0, "telegram:2", 2, "two".into(), codes(&["AAAA", "BBBB"]));
        assert_eq!((a.as_str(), b.as_str()), ("AAAA", "BBBB"));
        let mine: Vec<i32> = c
            .pending_for(t0, "telegram:1")
            .iter()
            .map(|p| p.action)
            .collect();
        assert_eq!(mine, [1]);
        assert!(c.pending_for(t0 + CODE_TTL, "telegram:1").is_empty());
    }

    #[test]
    fn a_requester_holds_a_bounded_number_of_codes() {
        let t0 = SystemTime::UNIX_EPOCH;
        let mut c = Confirmations::default();
        let mut n = 0;
        let mut next = move || {
            n += 1;
            format!("{n:04}")
        };
        let first = c.issue(t0, "u", 0, "first".into(), &mut next);
        for i in 1..=MAX_PENDING_PER_REQUESTER {
            c.issue(t0, "u", i, String::new(), &mut next);
        }
        assert_eq!(c.pending_for(t0, "u").len(), MAX_PENDING_PER_REQUESTER);
        assert_eq!(c.take(t0, "u", &first), Err(Refused::Unknown));
    }

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        assert_eq!(code_from([0, 1, 30, 31]), "AB9A");
        for _ in 0..200 {
            let c = random_code();
            assert_eq!(c.len(), CODE_LEN);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
            assert!(!c.contains(['0', 'O', '1', 'I', 'L']), "{c}");
        }
    }
}
