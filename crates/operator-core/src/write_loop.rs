//! The write-loop breaker: a change AWS accepts but does not keep (it normalises the value, or
//! ignores the field) would otherwise be written again at every pass, forever. After the same
//! change has been written `writes` times within `window` without AWS being seen in sync in
//! between, the resource is written no more until its spec changes.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy)]
pub struct LoopLimit {
    /// Writes of one change that did not stick before the breaker trips; 0 turns it off.
    pub writes: u32,
    pub window: Duration,
}

/// Per resource (by uid), the change last written while AWS has not been seen in sync since.
#[derive(Default)]
pub struct LoopBreaker {
    tracks: Mutex<HashMap<String, Track>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Track {
    generation: Option<i64>,
    /// A digest of the changes written.
    change: u64,
    writes: u32,
    since: Instant,
}

impl LoopBreaker {
    /// Whether writing `change` again is refused: it has been written `limit.writes` times for
    /// this generation of the spec, within the window, and AWS was not seen in sync since.
    pub fn tripped(
        &self,
        uid: &str,
        generation: Option<i64>,
        change: u64,
        limit: LoopLimit,
    ) -> bool {
        if limit.writes == 0 {
            return false;
        }
        let tracks = self.tracks.lock().expect("poisoned");
        // Once tripped, it stays so (the window only bounds the counting) until the spec or the
        // change differs, or AWS is seen in sync.
        tracks.get(uid).is_some_and(|t| {
            t.generation == generation && t.change == change && t.writes >= limit.writes
        })
    }

    /// Counts a write of `change`: the same change for the same generation within the window
    /// adds one, anything else starts again at one. A pass that finds AWS in sync forgets it.
    pub fn wrote(
        &self,
        uid: &str,
        generation: Option<i64>,
        change: u64,
        limit: LoopLimit,
        now: Instant,
    ) {
        let fresh = Track {
            generation,
            change,
            writes: 1,
            since: now,
        };
        self.tracks
            .lock()
            .expect("poisoned")
            .entry(uid.to_owned())
            .and_modify(|t| {
                if t.generation == generation
                    && t.change == change
                    && now.duration_since(t.since) <= limit.window
                {
                    t.writes += 1;
                } else {
                    *t = fresh.clone();
                }
            })
            .or_insert(fresh);
    }

    pub fn forget(&self, uid: &str) {
        self.tracks.lock().expect("poisoned").remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: LoopLimit = LoopLimit {
        writes: 3,
        window: Duration::from_secs(3600),
    };

    #[test]
    fn trips_after_n_writes_that_did_not_stick() {
        let b = LoopBreaker::default();
        let now = Instant::now();
        for i in 0..3 {
            assert!(!b.tripped("u", Some(1), 7, LIMIT), "write {i}");
            b.wrote("u", Some(1), 7, LIMIT, now);
        }
        assert!(b.tripped("u", Some(1), 7, LIMIT));
    }

    #[test]
    fn a_spec_change_or_another_change_rearms_it() {
        let b = LoopBreaker::default();
        let now = Instant::now();
        for _ in 0..3 {
            b.wrote("u", Some(1), 7, LIMIT, now);
        }
        assert!(!b.tripped("u", Some(2), 7, LIMIT));
        assert!(!b.tripped("u", Some(1), 8, LIMIT));
        b.wrote("u", Some(2), 7, LIMIT, now);
        assert!(!b.tripped("u", Some(2), 7, LIMIT));
    }

    #[test]
    fn being_seen_in_sync_clears_the_count() {
        let b = LoopBreaker::default();
        let now = Instant::now();
        b.wrote("u", Some(1), 7, LIMIT, now);
        b.wrote("u", Some(1), 7, LIMIT, now);
        b.forget("u");
        b.wrote("u", Some(1), 7, LIMIT, now);
        b.wrote("u", Some(1), 7, LIMIT, now);
        assert!(!b.tripped("u", Some(1), 7, LIMIT));
    }

    #[test]
    fn writes_spread_wider_than_the_window_do_not_trip_it() {
        let b = LoopBreaker::default();
        let start = Instant::now();
        for i in 0..3 {
            b.wrote(
                "u",
                Some(1),
                7,
                LIMIT,
                start + Duration::from_secs(i * 2000),
            );
        }
        assert!(!b.tripped("u", Some(1), 7, LIMIT));
    }

    #[test]
    fn once_tripped_it_stays_tripped_past_the_window() {
        let b = LoopBreaker::default();
        let now = Instant::now();
        for _ in 0..3 {
            b.wrote("u", Some(1), 7, LIMIT, now);
        }
        // Nothing is written after it trips, so nothing resets it but a change of spec or sync.
        assert!(b.tripped("u", Some(1), 7, LIMIT));
        b.forget("u");
        assert!(!b.tripped("u", Some(1), 7, LIMIT));
    }

    #[test]
    fn zero_writes_turns_it_off() {
        let b = LoopBreaker::default();
        let now = Instant::now();
        let off = LoopLimit { writes: 0, ..LIMIT };
        for _ in 0..5 {
            b.wrote("u", Some(1), 7, off, now);
        }
        assert!(!b.tripped("u", Some(1), 7, off));
    }
}
