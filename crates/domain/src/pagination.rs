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

/// The value a ranked or sorted list is ordered by, before its id breaks ties.
#[derive(Clone, Debug, PartialEq)]
pub enum SortKey {
    Number(f64),
    Text(String),
}

/// A position in a list ordered by `(key, id)`: resume after this row.
#[derive(Clone, Debug, PartialEq)]
pub struct KeysetCursor {
    pub key: SortKey,
    pub id: Uuid,
}

const KEYSET_VERSION: u8 = 2;

impl KeysetCursor {
    pub fn encode(&self) -> String {
        let mut bytes = vec![KEYSET_VERSION];
        bytes.extend_from_slice(self.id.as_bytes());
        match &self.key {
            SortKey::Number(n) => {
                bytes.push(b'n');
                bytes.extend_from_slice(&n.to_bits().to_be_bytes());
            }
            SortKey::Text(t) => {
                bytes.push(b't');
                bytes.extend_from_slice(t.as_bytes());
            }
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let invalid = || "cursor is not one this API issued".to_owned();
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        if bytes.len() < 18 || bytes[0] != KEYSET_VERSION {
            return Err(invalid());
        }
        let id = Uuid::from_slice(&bytes[1..17]).map_err(|_| invalid())?;
        let key = match (bytes[17], &bytes[18..]) {
            (b'n', number) => {
                let bits: [u8; 8] = number.try_into().map_err(|_| invalid())?;
                SortKey::Number(f64::from_bits(u64::from_be_bytes(bits)))
            }
            (b't', text) => SortKey::Text(String::from_utf8(text.to_vec()).map_err(|_| invalid())?),
            _ => return Err(invalid()),
        };
        Ok(Self { key, id })
    }
}

/// A numbered page, as the Open Referral UK API pages its lists (1-based `page`, `per_page`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberedPage {
    pub page: u32,
    pub per_page: u32,
}

/// What a numbered page says about the list it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberedPageSummary {
    pub total_items: u64,
    pub total_pages: u64,
    pub page_number: u32,
    pub size: u32,
    pub first_page: bool,
    pub last_page: bool,
    pub empty: bool,
}

impl NumberedPage {
    pub const DEFAULT_PER_PAGE: u32 = 50;

    pub fn parse(page: Option<u32>, per_page: Option<u32>) -> Result<Self, String> {
        let page = page.unwrap_or(1);
        if page == 0 {
            return Err("page numbers start at 1".to_owned());
        }
        let per_page = Limit::parse(Some(per_page.unwrap_or(Self::DEFAULT_PER_PAGE)))
            .map_err(|_| format!("per_page must be between 1 and {MAX_LIMIT}"))?
            .get();
        Ok(Self { page, per_page })
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }

    /// The summary of this page given the list's total and how many items the page holds.
    pub fn summary(&self, total_items: u64, size: u32) -> NumberedPageSummary {
        let total_pages = total_items.div_ceil(u64::from(self.per_page));
        NumberedPageSummary {
            total_items,
            total_pages,
            page_number: self.page,
            size,
            first_page: self.page == 1,
            last_page: u64::from(self.page) >= total_pages,
            empty: size == 0,
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
    fn numbered_pages_know_where_they_are() {
        let page = NumberedPage::parse(Some(2), Some(10)).unwrap();
        assert_eq!(page.offset(), 10);
        let summary = page.summary(25, 10);
        assert_eq!(
            (
                summary.total_pages,
                summary.first_page,
                summary.last_page,
                summary.empty
            ),
            (3, false, false, false)
        );
        assert!(
            NumberedPage::parse(Some(3), Some(10))
                .unwrap()
                .summary(25, 5)
                .last_page
        );
        let beyond = NumberedPage::parse(Some(9), Some(10))
            .unwrap()
            .summary(25, 0);
        assert!(beyond.last_page && beyond.empty);
        let none = NumberedPage::parse(None, None).unwrap().summary(0, 0);
        assert_eq!(
            (none.total_pages, none.first_page, none.last_page),
            (0, true, true)
        );
        assert!(NumberedPage::parse(Some(0), None).is_err());
        assert!(NumberedPage::parse(None, Some(0)).is_err());
        assert!(NumberedPage::parse(None, Some(201)).is_err());
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
        fn keyset_cursors_round_trip(bytes in any::<[u8; 16]>(), number in any::<f64>(), text in ".{0,40}") {
            let id = Uuid::from_bytes(bytes);
            let by_number = KeysetCursor { key: SortKey::Number(number), id };
            let decoded = KeysetCursor::decode(&by_number.encode()).unwrap();
            prop_assert_eq!(decoded.id, id);
            match decoded.key {
                SortKey::Number(n) => prop_assert_eq!(n.to_bits(), number.to_bits()),
                SortKey::Text(_) => prop_assert!(false, "wrong key kind"),
            }
            let by_text = KeysetCursor { key: SortKey::Text(text), id };
            prop_assert_eq!(KeysetCursor::decode(&by_text.encode()).unwrap(), by_text);
        }

        #[test]
        fn cursors_round_trip(bytes in any::<[u8; 16]>()) {
            let cursor = Cursor::after(Uuid::from_bytes(bytes));
            prop_assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        }
    }
}
