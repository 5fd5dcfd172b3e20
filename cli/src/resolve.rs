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
    /// The LIST word only prefix-matched a list whose name goes on with the
    /// first word of the item (`add Weekly groceries milk` for the list
    /// "Weekly groceries shop"): which words are the list is a guess.
    #[error("{input:?} matches list {list:?} only in part, and the item's first word continues its name; quote the list name (shoplist add \"{list}\" ITEM) or use its id")]
    SplitUnclear {
        /// What the user typed as LIST.
        input: String,
        /// The matched list's name.
        list: String,
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
    resolve_how(input, lists).map(|(id, _)| id)
}

/// Resolve the LIST of a command whose ITEM is several words (`add`, `buy`,
/// `unbuy`, `rm`): `shoplist add Weekly groceries milk` means the list
/// "Weekly groceries" and the item "milk" when such a list exists. The
/// longest run of leading words that exactly names one list wins; a LIST
/// that only prefix-matches a list whose name continues with the item's
/// first word is refused as unclear (issue 12 defect 5).
pub fn resolve_split(
    list: &str,
    item: &[String],
    lists: &[ListEntry],
) -> Result<(ListId, Vec<String>), ResolveError> {
    for k in (1..item.len()).rev() {
        let candidate = normalize(&format!("{list} {}", item[..k].join(" ")));
        let exact: Vec<&ListEntry> = lists
            .iter()
            .filter(|l| normalize(&l.name) == candidate)
            .collect();
        if let [one] = exact.as_slice() {
            return Ok((one.id, item[k..].to_vec()));
        }
    }
    let (id, by_prefix) = resolve_how(list, lists)?;
    if by_prefix {
        if let (Some(first), Some(entry)) = (item.first(), lists.iter().find(|l| l.id == id)) {
            let joined = normalize(&format!("{list} {first}"));
            if normalize(&entry.name).starts_with(&joined) {
                return Err(ResolveError::SplitUnclear {
                    input: list.trim().to_string(),
                    list: entry.name.clone(),
                });
            }
        }
    }
    Ok((id, item.to_vec()))
}

/// Resolve, and say whether only a name prefix matched.
fn resolve_how(input: &str, lists: &[ListEntry]) -> Result<(ListId, bool), ResolveError> {
    let t = input.trim();
    if let Ok(id) = ListId::parse(t) {
        return if lists.iter().any(|l| l.id == id) {
            Ok((id, false))
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
    let by_prefix = exact.is_empty() && !wanted.is_empty();
    let matches = if by_prefix {
        lists
            .iter()
            .filter(|l| normalize(&l.name).starts_with(&wanted))
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => Ok((one.id, by_prefix)),
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

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    /// Issue 12 defect 5: `add Weekly groceries milk` adds "milk" to the list
    /// "Weekly groceries", not "groceries milk" to it.
    #[test]
    fn a_multi_word_list_name_does_not_swallow_the_item() {
        let l = vec![
            entry("0d5c1f42-6a3e-4b9e-9a51-7f2f0c1d9e33", "Weekly groceries"),
            entry("7a000000-6a3e-4b9e-9a51-7f2f0c1d9e33", "Party"),
        ];
        assert_eq!(
            resolve_split("Weekly", &words("groceries milk"), &l),
            Ok((l[0].id, words("milk")))
        );
        assert_eq!(
            resolve_split("weekly", &words("GROCERIES oat milk"), &l),
            Ok((l[0].id, words("oat milk")))
        );
        // The quoted name and plain prefixes still work.
        assert_eq!(
            resolve_split("Weekly groceries", &words("milk"), &l),
            Ok((l[0].id, words("milk")))
        );
        assert_eq!(
            resolve_split("week", &words("milk"), &l),
            Ok((l[0].id, words("milk")))
        );
        assert_eq!(
            resolve_split("party", &words("weekly groceries"), &l),
            Ok((l[1].id, words("weekly groceries")))
        );
        // Only the item left: "Weekly groceries" alone is not a split.
        assert!(matches!(
            resolve_split("Weekly", &words("groceries"), &l),
            Err(ResolveError::SplitUnclear { .. })
        ));
        assert!(matches!(
            resolve_split("Weekly", &words("groc milk"), &l),
            Err(ResolveError::SplitUnclear { .. })
        ));
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
