//! Terminal text helpers shared by the human renderings and the TUI:
//! display widths (an emoji takes two columns, a combining accent none, via
//! `unicode-width`), padding and truncation by display width, and natural
//! ordering of names ("item2" before "item10", via `alphanumeric-sort`).

use std::cmp::Ordering;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Columns `s` takes in a terminal.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` columns, ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` padded with spaces to `cols` display columns (never cut).
pub fn pad(s: &str, cols: usize) -> String {
    let w = width(s);
    format!("{s}{}", " ".repeat(cols.saturating_sub(w)))
}

/// Natural order of two names, case- and accent-insensitive first.
pub fn natural(a: &str, b: &str) -> Ordering {
    let (na, nb) = (engine::list::normalize(a), engine::list::normalize(b));
    alphanumeric_sort::compare_str(&na, &nb).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_take_two_columns_and_padding_counts_them() {
        assert_eq!(width("🥛 Milk"), 7);
        assert_eq!(width(&pad("🥛 Milk", 10)), 10);
        assert_eq!(width(&pad("Crème", 10)), 10);
        assert_eq!(truncate("a very long product name", 10), "a very lo…");
        assert_eq!(width(&truncate("🥛🥛🥛🥛🥛🥛", 5)), 5);
        assert_eq!(truncate("short", 10), "short");
    }

    /// Issue 12 defect 13: item1, item2, item10 is natural order.
    #[test]
    fn names_sort_naturally() {
        let mut v = vec!["item10", "item2", "Item1", "apples"];
        v.sort_by(|a, b| natural(a, b));
        assert_eq!(v, ["apples", "Item1", "item2", "item10"]);
    }
}
