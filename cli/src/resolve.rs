//! Turning a LIST argument into a [`ListId`] (DESIGN §7): a share URL, a
//! UUID, an unambiguous UUID prefix (at least [`MIN_PREFIX`] characters), or
//! an unambiguous list name (case-insensitive, whitespace-normalized). When
//! no name or id matches exactly, an unambiguous name prefix is accepted too
//! (`weekly` for "Weekly groceries").
//!
//! Pure: it works on the local lists passed in, so it is tested without a
//! store. Errors name the candidates so the user can pick one.

use engine::ids::URL_PREFIX;
use engine::list::normalize;
use engine::ListId;

/// Shortest UUID prefix accepted (shorter ones are too easily typos).
pub const MIN_PREFIX: usize = 4;
/// Most candidates named in an error message.
const MAX_NAMED: usize = 8;

/// A local list, as resolution sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Its id.
    pub id: ListId,
    /// Its current name.
    pub name: String,
}

/// Why a LIST argument did not name exactly one local list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Nothing matched.
    #[error("unknown list {input:?}; {}", describe_all(.candidates))]
    Unknown {
        /// What the user typed.
        input: String,
        /// Every local list, described.
        candidates: Vec<String>,
    },
    /// More than one list matched.
    #[error("ambiguous list {input:?}: it matches {}; use more of the id or the URL", .candidates.join(", "))]
    Ambiguous {
        /// What the user typed.
        input: String,
        /// The matching lists, described.
        candidates: Vec<String>,
    },
    /// A valid id or URL of a list this device does not have.
    #[error("list {id} is not on this device; fetch it with `shoplist join {url}`")]
    NotLocal {
        /// The id.
        id: ListId,
        /// Its URL.
        url: String,
    },
    /// Something that looks like a URL but is not a valid one.
    #[error("invalid list URL {0:?} (expected shoplist://list/<uuid>)")]
    BadUrl(String),
}

fn short(id: &ListId) -> String {
    id.to_string().chars().take(8).collect()
}

/// `"Name" (0d5c1f42)`.
pub fn describe(e: &ListEntry) -> String {
    format!("{:?} ({})", e.name, short(&e.id))
}

fn describe_all(c: &[String]) -> String {
    if c.is_empty() {
        "there are no lists on this device yet (create one with `shoplist new NAME`)".into()
    } else {
        format!("lists on this device: {}", c.join(", "))
    }
}

fn named(entries: &[&ListEntry]) -> Vec<String> {
    let mut out: Vec<String> = entries
        .iter()
        .take(MAX_NAMED)
        .map(|e| describe(e))
        .collect();
    if entries.len() > MAX_NAMED {
        out.push(format!("and {} more", entries.len() - MAX_NAMED));
    }
    out
}

/// Resolve `input` against the local `lists`.
pub fn resolve(input: &str, lists: &[ListEntry]) -> Result<ListId, ResolveError> {
    let t = input.trim();
    if let Ok(id) = ListId::parse(t) {
        return if lists.iter().any(|l| l.id == id) {
            Ok(id)
        } else {
            Err(ResolveError::NotLocal { id, url: id.url() })
        };
    }
    if t.starts_with(URL_PREFIX) || t.contains("://") {
        return Err(ResolveError::BadUrl(t.to_string()));
    }
    let wanted = normalize(t);
    let lower = t.to_lowercase();
    let is_prefix =
        lower.len() >= MIN_PREFIX && lower.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    let exact: Vec<&ListEntry> = lists
        .iter()
        .filter(|l| {
            normalize(&l.name) == wanted || (is_prefix && l.id.to_string().starts_with(&lower))
        })
        .collect();
    let matches = if exact.is_empty() && !wanted.is_empty() {
        lists
            .iter()
            .filter(|l| normalize(&l.name).starts_with(&wanted))
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => Ok(one.id),
        [] => Err(ResolveError::Unknown {
            input: t.to_string(),
            candidates: named(&lists.iter().collect::<Vec<_>>()),
        }),
        many => Err(ResolveError::Ambiguous {
            input: t.to_string(),
            candidates: named(many),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, name: &str) -> ListEntry {
        ListEntry {
            id: ListId::parse(id).unwrap(),
            name: name.into(),
        }
    }

    fn lists() -> Vec<ListEntry> {
        vec![
            entry("0d5c1f42-6a3e-4b9e-9a51-7f2f0c1d9e33", "Groceries"),
            entry("0d5c9999-6a3e-4b9e-9a51-7f2f0c1d9e33", "Hardware"),
            entry("7a000000-6a3e-4b9e-9a51-7f2f0c1d9e33", "Party"),
            entry("8b000000-6a3e-4b9e-9a51-7f2f0c1d9e33", "party"),
        ]
    }

    #[test]
    fn url_uuid_prefix_and_name_resolve() {
        let l = lists();
        let g = l[0].id;
        assert_eq!(resolve(&g.url(), &l), Ok(g));
        assert_eq!(resolve(&g.to_string(), &l), Ok(g));
        assert_eq!(resolve("0d5c1f", &l), Ok(g));
        assert_eq!(resolve("  groceries ", &l), Ok(g));
        assert_eq!(resolve("GROCERIES", &l), Ok(g));
        assert_eq!(resolve("groc", &l), Ok(g));
    }

    #[test]
    fn exact_names_beat_name_prefixes() {
        let mut l = lists();
        l.push(entry(
            "9c000000-6a3e-4b9e-9a51-7f2f0c1d9e33",
            "Party supplies",
        ));
        assert!(matches!(
            resolve("party", &l),
            Err(ResolveError::Ambiguous { .. })
        ));
        assert_eq!(resolve("party s", &l), Ok(l[4].id));
        assert_eq!(resolve("hard", &l), Ok(l[1].id));
    }

    #[test]
    fn ambiguous_prefix_and_name_list_the_candidates() {
        let l = lists();
        let e = resolve("0d5c", &l).unwrap_err();
        assert!(matches!(e, ResolveError::Ambiguous { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("Groceries") && msg.contains("Hardware"),
            "{msg}"
        );
        assert!(matches!(
            resolve("PARTY", &l),
            Err(ResolveError::Ambiguous { .. })
        ));
    }

    #[test]
    fn unknown_lists_name_every_local_list_on_one_line() {
        let l = lists();
        let msg = resolve("nope", &l).unwrap_err().to_string();
        assert!(msg.contains("Groceries") && msg.contains("Party"), "{msg}");
        assert!(!msg.contains('\n'));
        let empty = resolve("nope", &[]).unwrap_err().to_string();
        assert!(empty.contains("no lists"), "{empty}");
    }

    #[test]
    fn short_prefixes_and_foreign_ids_are_refused() {
        let l = lists();
        assert!(matches!(
            resolve("0d5", &l),
            Err(ResolveError::Unknown { .. })
        ));
        let other = ListId::new_random();
        assert!(matches!(
            resolve(&other.url(), &l),
            Err(ResolveError::NotLocal { .. })
        ));
        assert!(matches!(
            resolve("shoplist://list/xyz", &l),
            Err(ResolveError::BadUrl(_))
        ));
    }
}
