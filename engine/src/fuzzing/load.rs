//! The `load_document` fuzz target: untrusted snapshot bytes through the
//! guarded loader [`crate::load::load_untrusted`].

use super::fix_header;
use crate::ingest::prescan::{prescan_document, DocLimits};
use crate::list::ShoppingList;
use crate::load::load_untrusted;
use crate::{ChangeHash, ListId};

/// The `load_document` target. The input gets a correct chunk header
/// ([`fix_header`], so mutations reach the columns; a part without magic
/// bytes becomes a *change* body, which the document prescan must refuse).
/// The heads advertised are the ones the document claims, so the loader
/// runs to the end whenever the structure passes. Must not panic or abort;
/// a document that loads must have exactly the advertised heads and fold
/// into a list view.
pub fn load_document(data: &[u8]) {
    let bytes = fix_header(data);
    let limits = DocLimits::default();
    let heads: Vec<ChangeHash> = match prescan_document(&bytes, &limits) {
        Ok(info) => info.heads.into_iter().map(ChangeHash).collect(),
        Err(_) => Vec::new(),
    };
    let list = ListId::from_slice(&[0; 16]).unwrap_or_else(ListId::new_random);
    if let Ok(doc) = load_untrusted(list, &bytes, &heads, None, &limits) {
        assert_eq!(
            doc.get_heads(),
            heads,
            "loaded heads differ from the checked heads"
        );
        let _ = ShoppingList::from_doc(doc).view();
    }
}
