//! Rendered answers to directory reads, kept per federation under the directory version they
//! were computed at.
//!
//! The directory changes rarely and is read constantly. Every transaction that changes a
//! federation's organisations or services bumps its version (a trigger, in that transaction),
//! and a read first asks the database for the version its snapshot sees: an answer kept under
//! that same version is exactly what the query would return, so it is served as it is. Nothing
//! expires by time, and several instances of the service each keep their own answers without
//! ever serving one another's stale ones.

use actix_web::web::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use waymark_domain::FederationId;

/// What a kept answer is the answer to: a federation and the read's canonical form (route and
/// validated query), which must determine the answer completely for a given version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    federation: FederationId,
    request: Box<str>,
}

struct Kept {
    version: i64,
    body: Bytes,
}

#[derive(Default)]
struct Answers {
    by_key: HashMap<Key, Kept>,
    /// Keys oldest first, for eviction; a key appears once.
    order: VecDeque<Key>,
    bytes: usize,
}

/// A bounded store of rendered directory answers. When full, the answers kept longest go first.
pub struct DirectoryCache {
    capacity_bytes: usize,
    answers: Mutex<Answers>,
}

impl DirectoryCache {
    /// A cache holding up to `capacity_bytes` of answers (keys and bodies); 0 keeps nothing.
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            capacity_bytes,
            answers: Mutex::new(Answers::default()),
        }
    }

    /// The answer kept for `request` in `federation` at `version`, if any.
    pub fn get(&self, federation: FederationId, request: &str, version: i64) -> Option<Bytes> {
        if self.capacity_bytes == 0 {
            return None;
        }
        let key = Key {
            federation,
            request: request.into(),
        };
        let answers = self.lock();
        answers
            .by_key
            .get(&key)
            .filter(|kept| kept.version == version)
            .map(|kept| kept.body.clone())
    }

    /// Keeps `body` as the answer to `request` in `federation` at `version`, replacing an
    /// answer of another version. An older version never replaces a newer one: two reads that
    /// straddle a change may finish in either order.
    pub fn put(&self, federation: FederationId, request: &str, version: i64, body: Bytes) {
        let size = request.len() + body.len();
        if size > self.capacity_bytes {
            return;
        }
        let key = Key {
            federation,
            request: request.into(),
        };
        let mut answers = self.lock();
        if let Some(kept) = answers.by_key.get(&key) {
            if kept.version > version {
                return;
            }
            let old = key.request.len() + kept.body.len();
            answers.bytes -= old;
            answers.order.retain(|k| k != &key);
        }
        while answers.bytes + size > self.capacity_bytes {
            let Some(oldest) = answers.order.pop_front() else {
                break;
            };
            if let Some(kept) = answers.by_key.remove(&oldest) {
                answers.bytes -= oldest.request.len() + kept.body.len();
            }
        }
        answers.bytes += size;
        answers.order.push_back(key.clone());
        answers.by_key.insert(key, Kept { version, body });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[test]
    fn an_answer_serves_only_its_own_version_and_federation() {
        let cache = DirectoryCache::new(1024);
        let north = FederationId::new();
        let south = FederationId::new();
        cache.put(north, "q=walk", 3, body("three"));
        assert_eq!(cache.get(north, "q=walk", 3), Some(body("three")));
        assert_eq!(cache.get(north, "q=walk", 4), None);
        assert_eq!(cache.get(north, "q=walks", 3), None);
        assert_eq!(cache.get(south, "q=walk", 3), None);
        cache.put(north, "q=walk", 4, body("four"));
        assert_eq!(cache.get(north, "q=walk", 3), None);
        assert_eq!(cache.get(north, "q=walk", 4), Some(body("four")));
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let cache = DirectoryCache::new(1024);
        let federation = FederationId::new();
        cache.put(federation, "limit=5", 7, body("seven"));
        cache.put(federation, "limit=5", 6, body("six"));
        assert_eq!(cache.get(federation, "limit=5", 7), Some(body("seven")));
        assert_eq!(cache.get(federation, "limit=5", 6), None);
    }

    #[test]
    fn the_oldest_answers_go_first_and_the_bound_holds() {
        let federation = FederationId::new();
        // Each answer takes 1 (request) + 9 (body) = 10 bytes.
        let cache = DirectoryCache::new(30);
        for request in ["a", "b", "c"] {
            cache.put(federation, request, 1, body("123456789"));
        }
        assert_eq!(cache.held_bytes(), 30);
        cache.put(federation, "d", 1, body("123456789"));
        assert_eq!(cache.held_bytes(), 30);
        assert_eq!(cache.get(federation, "a", 1), None);
        for request in ["b", "c", "d"] {
            assert!(cache.get(federation, request, 1).is_some(), "{request}");
        }
        // Replacing an answer frees what it held.
        cache.put(federation, "b", 2, body("1"));
        assert_eq!(cache.held_bytes(), 22);
        // An answer larger than the whole cache is not kept.
        cache.put(federation, "e", 1, body(&"x".repeat(40)));
        assert_eq!(cache.get(federation, "e", 1), None);
        assert_eq!(cache.held_bytes(), 22);
    }

    #[test]
    fn a_cache_of_no_size_keeps_nothing() {
        let cache = DirectoryCache::new(0);
        let federation = FederationId::new();
        cache.put(federation, "q", 1, body("x"));
        assert_eq!(cache.get(federation, "q", 1), None);
    }
}
