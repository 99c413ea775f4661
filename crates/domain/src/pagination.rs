//! Cursor pagination: bounded page sizes and opaque cursors that resume after the last row seen.
//!
//! Lists are ordered by their UUID v7 id (creation order), so a cursor is simply the last id
//! returned. It is encoded opaquely so clients do not build cursors by hand.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// How many rows a page holds: 1 to [`MAX_LIMIT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub fn parse(raw: Option<u32>) -> Result<Self, String> {
        match raw {
            None => Ok(Self(DEFAULT_LIMIT)),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(Self(n)),
            Some(n) => Err(format!("limit must be between 1 and {MAX_LIMIT}, not {n}")),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// One more than the page size: fetching it tells whether another page follows.
    pub fn probe(self) -> i64 {
        i64::from(self.0) + 1
    }
}

/// A position in a list: resume after this id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor(Uuid);

const CURSOR_VERSION: u8 = 1;

impl Cursor {
    pub fn after(id: Uuid) -> Self {
        Self(id)
    }

    pub fn last_id(self) -> Uuid {
        self.0
    }

    pub fn encode(self) -> String {
        let mut bytes = Vec::with_capacity(17);
        bytes.push(CURSOR_VERSION);
        bytes.extend_from_slice(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let invalid = || "cursor is not one this API issued".to_owned();
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        match bytes.split_first() {
            Some((&CURSOR_VERSION, id)) => Uuid::from_slice(id).map(Self).map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }
}

/// Splits a fetched probe (up to `limit + 1` rows) into the page and the next page's cursor.
pub fn into_page<T>(
    mut rows: Vec<T>,
    limit: Limit,
    id_of: impl Fn(&T) -> Uuid,
) -> (Vec<T>, Option<Cursor>) {
    let page_size = limit.get() as usize;
    if rows.len() > page_size {
        rows.truncate(page_size);
        let next = rows.last().map(|row| Cursor::after(id_of(row)));
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(Limit::parse(None).unwrap().get(), DEFAULT_LIMIT);
        assert_eq!(Limit::parse(Some(200)).unwrap().get(), 200);
        assert!(Limit::parse(Some(0)).is_err());
        assert!(Limit::parse(Some(201)).is_err());
    }

    #[test]
    fn foreign_cursors_are_refused() {
        assert!(Cursor::decode("").is_err());
        assert!(Cursor::decode("not base64!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode([2u8; 17])).is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode([1u8; 5])).is_err());
    }

    #[test]
    fn a_full_probe_yields_a_cursor_at_the_last_row_kept() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let limit = Limit::parse(Some(3)).unwrap();
        let (page, next) = into_page(ids.clone(), limit, |id| *id);
        assert_eq!(page, ids[..3]);
        assert_eq!(next, Some(Cursor::after(ids[2])));
        let (page, next) = into_page(ids[..3].to_vec(), limit, |id| *id);
        assert_eq!(page.len(), 3);
        assert_eq!(next, None);
    }

    proptest! {
        #[test]
        fn cursors_round_trip(bytes in any::<[u8; 16]>()) {
            let cursor = Cursor::after(Uuid::from_bytes(bytes));
            prop_assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        }
    }
}
