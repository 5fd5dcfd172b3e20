//! Product and list name identity: when are two names "the same product"?
//!
//! A name is normalized in four steps, so that what a person would call the
//! same word is the same key whatever keyboard, phone or locale typed it:
//!
//! 1. Unicode NFKC (compatibility composition): full-width letters, ligatures
//!    (`ﬁ`) and other compatibility forms become their plain equivalents;
//! 2. Unicode default case folding (the `caseless` crate), which handles
//!    more than `to_lowercase` (German `ß` folds to `ss`);
//! 3. accents removed: canonical decomposition (NFD), combining marks
//!    dropped, so "Crème fraîche" and "creme fraiche" are one product;
//! 4. whitespace trimmed and inner runs collapsed to one space.
//!
//! The display name keeps what was typed first; only matching uses this key.
//! Stored documents carry the key an older version computed (`norm`), so
//! readers re-normalize it ([`normalize`] is idempotent).

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The matching key of a product or list name. See the module docs.
pub fn normalize(name: &str) -> String {
    let nfkc: String = name.nfkc().collect();
    let folded = caseless::default_case_fold_str(&nfkc);
    let bare: String = folded.nfd().filter(|c| !is_combining_mark(*c)).collect();
    bare.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalize_trims_and_case_folds() {
        assert_eq!(normalize("  Milk "), "milk");
        assert_eq!(normalize("Oat   MILK"), "oat milk");
    }

    /// Issue 12 defect 13: "Crème fraîche" and "creme fraiche" are one product.
    #[test]
    fn accents_width_and_case_do_not_make_a_new_product() {
        assert_eq!(normalize("Crème Fraîche"), normalize("creme fraiche"));
        assert_eq!(normalize("ＭＩＬＫ"), "milk"); // full-width (NFKC)
        assert_eq!(normalize("Straße"), normalize("STRASSE")); // case folding
        assert_eq!(normalize("ﬁsh"), "fish"); // ligature (NFKC)
        assert_eq!(normalize("Crème"), normalize(&normalize("Crème")));
    }

    #[test]
    fn emoji_and_other_scripts_survive() {
        assert_eq!(normalize("🥛 Milk"), "🥛 milk");
        assert_eq!(normalize("Молоко"), "молоко");
    }
}
