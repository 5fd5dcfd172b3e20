//! Which endpoint a client uses now, and which one it fails over to.
//!
//! Endpoints are tried in the order given; a failure moves to the next one,
//! wrapping around, so a client with `[a, b]` whose `a` is dead reaches `b`
//! on its next attempt and comes back to `a` only after `b` fails too.

/// An ordered list of endpoints and the one in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    list: Vec<String>,
    current: usize,
}

impl Endpoints {
    /// The endpoints, starting with the first.
    pub fn new(list: Vec<String>) -> Self {
        Endpoints { list, current: 0 }
    }

    /// The endpoint in use, or `None` if the list is empty.
    pub fn current(&self) -> Option<&str> {
        self.list.get(self.current).map(String::as_str)
    }

    /// Fail over: move to the next endpoint (wrapping around).
    pub fn advance(&mut self) {
        if !self.list.is_empty() {
            self.current = (self.current + 1) % self.list.len();
        }
    }

    /// All endpoints, in failover order.
    pub fn all(&self) -> &[String] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_visits_every_endpoint_in_order_and_wraps() {
        let mut e = Endpoints::new(vec!["a".into(), "b".into(), "c".into()]);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(e.current().unwrap_or_default().to_string());
            e.advance();
        }
        assert_eq!(seen, ["a", "b", "c", "a"]);
    }

    #[test]
    fn a_single_endpoint_stays_put_and_an_empty_list_has_none() {
        let mut one = Endpoints::new(vec!["a".into()]);
        one.advance();
        assert_eq!(one.current(), Some("a"));
        let mut none = Endpoints::new(vec![]);
        none.advance();
        assert_eq!(none.current(), None);
        assert!(none.all().is_empty());
    }
}
