//! Optimistic concurrency: every updatable row has a version, shown to clients as a strong ETag.

/// The ETag of a row at `version`, e.g. `"3"`.
pub fn etag_for(version: i32) -> String {
    format!("\"{version}\"")
}

/// The version an `If-Match` header names, or `None` when it names none we could have issued
/// (a weak tag, `*`, a list, or garbage: all of which cannot match a current version).
pub fn version_from_if_match(header: &str) -> Option<i32> {
    let tag = header.trim();
    let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
    inner.parse().ok().filter(|v: &i32| *v >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        assert_eq!(version_from_if_match(&etag_for(7)), Some(7));
        assert_eq!(version_from_if_match(" \"12\" "), Some(12));
        for other in ["7", "W/\"7\"", "*", "\"7\", \"8\"", "\"0\"", "\"x\""] {
            assert_eq!(version_from_if_match(other), None, "{other:?}");
        }
    }
}
