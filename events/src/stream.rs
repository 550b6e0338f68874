//! Stream naming: `<category>-<uuid>`.

use uuid::Uuid;

pub const CUSTOMER: &str = "customer";
pub const PRODUCT: &str = "product";
pub const STOCK: &str = "stock";
pub const CART: &str = "cart";
pub const ORDER: &str = "order";
pub const SELLER: &str = "seller";
pub const ADDRESS_BOOK: &str = "addressbook";

/// The id of one stream, e.g. `order-0191…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(String);

impl StreamId {
    pub fn new(category: &str, id: Uuid) -> Self {
        Self(format!("{category}-{id}"))
    }

    pub fn customer(id: Uuid) -> Self {
        Self::new(CUSTOMER, id)
    }
    pub fn product(id: Uuid) -> Self {
        Self::new(PRODUCT, id)
    }
    pub fn stock(product_id: Uuid) -> Self {
        Self::new(STOCK, product_id)
    }
    pub fn cart(customer_id: Uuid) -> Self {
        Self::new(CART, customer_id)
    }
    pub fn order(id: Uuid) -> Self {
        Self::new(ORDER, id)
    }
    /// A seller's ledger (earnings, reversals, payouts).
    pub fn seller(id: Uuid) -> Self {
        Self::new(SELLER, id)
    }
    /// A customer's address book.
    pub fn address_book(customer_id: Uuid) -> Self {
        Self::new(ADDRESS_BOOK, customer_id)
    }

    /// Accepts any stored stream id (used by the audit endpoints); `None` if it is not of the
    /// form `<category>-<uuid>`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (category, id) = raw.split_once('-')?;
        let ok = !category.is_empty()
            && category
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
            && Uuid::parse_str(id).is_ok();
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn category(&self) -> &str {
        self.0.split_once('-').map_or(&self.0, |(c, _)| c)
    }

    pub fn entity_id(&self) -> Option<Uuid> {
        self.0
            .split_once('-')
            .and_then(|(_, id)| Uuid::parse_str(id).ok())
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_category_dash_uuid() {
        let id = Uuid::new_v4();
        let s = StreamId::order(id);
        assert_eq!(StreamId::parse(s.as_str()), Some(s.clone()));
        assert_eq!(s.category(), "order");
        assert_eq!(s.entity_id(), Some(id));
        assert_eq!(StreamId::parse("order-nope"), None);
        assert_eq!(StreamId::parse("Order-1"), None);
    }
}
