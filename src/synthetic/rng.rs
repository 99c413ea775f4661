//! A small deterministic random number generator (SplitMix64), so that a seed always makes the
//! same federation, on any machine and with any version of a random number crate.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for a named part of the whole (a practice, a month), independent of how
    /// much the others draw.
    pub fn stream(seed: u64, part: &str, index: u64) -> Self {
        // Each input is folded in through the output function, which spreads every bit of it
        // over the whole state: distinct parts make unrelated streams.
        let mix = |state: u64| Self(state).next_u64();
        let mut state = mix(seed ^ 0x5157_4159_4d41_524b);
        for byte in part.bytes() {
            state = mix(state ^ u64::from(byte));
        }
        Self(mix(state ^ index))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        debug_assert!(low <= high);
        low + self.below((high - low) as u64 + 1) as i64
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// One of `choices`, each as likely as its weight.
    pub fn weighted<'a, T>(&mut self, choices: &'a [(T, u32)]) -> &'a T {
        let total: u32 = choices.iter().map(|(_, w)| w).sum();
        let mut point = self.below(u64::from(total)) as u32;
        for (choice, weight) in choices {
            if point < *weight {
                return choice;
            }
            point -= weight;
        }
        &choices[choices.len() - 1].0
    }

    /// A count with the given mean (Poisson, by Knuth's method; the means here are small).
    pub fn poisson(&mut self, mean: f64) -> u32 {
        let limit = (-mean).exp();
        let mut product = self.unit();
        let mut count = 0;
        while product > limit && count < 1000 {
            count += 1;
            product *= self.unit();
        }
        count
    }

    /// A UUID v7 for something made at `at`, as the service makes them: ids sort by time.
    pub fn id_at(&mut self, at: DateTime<Utc>) -> Uuid {
        let millis = at.timestamp_millis().max(0) as u128 & ((1 << 48) - 1);
        let random = u128::from(self.next_u64()) << 64 | u128::from(self.next_u64());
        let rand_a = (random >> 64) & 0xfff;
        let rand_b = random & ((1 << 62) - 1);
        Uuid::from_u128(millis << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_gives_the_same_numbers_and_streams_differ() {
        let mut a = Rng::stream(7, "practice", 1);
        let mut b = Rng::stream(7, "practice", 2);
        assert_ne!(a.next_u64(), b.next_u64());
        assert_eq!(
            Rng::stream(7, "practice", 1).next_u64(),
            Rng::stream(7, "practice", 1).next_u64()
        );
    }

    #[test]
    fn ranges_hold_and_ids_are_version_7_in_time_order() {
        let mut rng = Rng::stream(1, "test", 0);
        for _ in 0..1000 {
            assert!((3..=5).contains(&rng.between(3, 5)));
            assert!(rng.unit() < 1.0);
        }
        let early = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let late = DateTime::from_timestamp(1_700_000_001, 0).unwrap();
        let (a, b) = (rng.id_at(early), rng.id_at(late));
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert!(a < b);
    }
}
