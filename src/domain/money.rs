//! Money as integer minor units beside an ISO currency; never floats. All arithmetic is
//! checked: an overflow is an error, never a panic or a wrap.

use serde::{Deserialize, Serialize};
pub use tillroll_events::Currency;

use crate::domain::validate::FieldError;

/// The highest price a product may have: KES 10,000,000,000.00. With at most 1000 of a product
/// per line a line total stays far inside `i64`.
pub const MAX_PRICE: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount too large")]
    Overflow,
}

/// A product price in minor units, `1 ..= MAX_PRICE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(i64);

impl Price {
    pub fn parse(minor: i64) -> Result<Self, FieldError> {
        if (1..=MAX_PRICE).contains(&minor) {
            Ok(Self(minor))
        } else {
            Err(FieldError::new(
                "price",
                format!("must be between 1 and {MAX_PRICE} minor units"),
            ))
        }
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}

/// The currency of a new product; `None` means KES. Only KES is accepted: M-Pesa is the only
/// way to pay and settles shillings only, so a product in another currency could never be sold.
pub fn parse_currency(code: Option<&str>) -> Result<Currency, FieldError> {
    match code.map(str::trim) {
        None | Some("KES") => Ok(Currency::kes()),
        Some(_) => Err(FieldError::new("currency", "only KES is supported")),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    pub fn kes(minor: i64) -> Self {
        Self::new(minor, Currency::kes())
    }

    /// `self × quantity`, e.g. a line total.
    pub fn times(&self, quantity: i64) -> Result<Self, MoneyError> {
        Ok(Self::new(
            line_total(self.minor, quantity)?,
            self.currency.clone(),
        ))
    }

    /// The amount in whole shillings, as Daraja takes it; `None` when it has cents.
    pub fn whole_shillings(&self) -> Option<i64> {
        (self.currency == Currency::kes())
            .then(|| whole_shillings(self.minor))
            .flatten()
    }
}

/// `KES 1,499.00`, for messages and refund notes (currencies here have two decimals).
impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let units = (abs / 100).to_string();
        let mut grouped = String::new();
        for (i, digit) in units.chars().enumerate() {
            if i > 0 && (units.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "{} {sign}{grouped}.{:02}", self.currency, abs % 100)
    }
}

/// Minor units → whole shillings, `None` if there are cents (or the amount is negative):
/// Daraja's `Amount` is an integer number of shillings.
pub fn whole_shillings(minor: i64) -> Option<i64> {
    (minor >= 0 && minor % 100 == 0).then_some(minor / 100)
}

pub fn line_total(unit_price: i64, quantity: i64) -> Result<i64, MoneyError> {
    unit_price.checked_mul(quantity).ok_or(MoneyError::Overflow)
}

pub fn sum(amounts: impl IntoIterator<Item = i64>) -> Result<i64, MoneyError> {
    amounts
        .into_iter()
        .try_fold(0i64, |acc, a| acc.checked_add(a))
        .ok_or(MoneyError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_one_to_ten_to_the_twelfth() {
        assert_eq!(Price::parse(1).map(Price::minor), Ok(1));
        assert_eq!(Price::parse(MAX_PRICE).map(Price::minor), Ok(MAX_PRICE));
        for bad in [0, -100, MAX_PRICE + 1, i64::MAX] {
            assert_eq!(Price::parse(bad).unwrap_err().field, "price");
        }
    }

    #[test]
    fn currency_defaults_to_kes_and_refuses_others() {
        assert_eq!(parse_currency(None), Ok(Currency::kes()));
        assert_eq!(parse_currency(Some("KES")), Ok(Currency::kes()));
        for bad in ["USD", "kes", "", "KESS"] {
            assert_eq!(parse_currency(Some(bad)).unwrap_err().field, "currency");
        }
    }

    #[test]
    fn whole_shillings_refuses_cents() {
        assert_eq!(whole_shillings(149_900), Some(1499));
        assert_eq!(whole_shillings(0), Some(0));
        assert_eq!(whole_shillings(149_950), None);
        assert_eq!(whole_shillings(-100), None);
        assert_eq!(Money::kes(100).whole_shillings(), Some(1));
        assert_eq!(
            Money::new(100, Currency::parse("USD").unwrap()).whole_shillings(),
            None
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(line_total(149_900, 3), Ok(449_700));
        assert_eq!(line_total(MAX_PRICE, 1000), Ok(MAX_PRICE * 1000));
        assert_eq!(line_total(i64::MAX, 2), Err(MoneyError::Overflow));
        assert_eq!(sum([1, 2, 3]), Ok(6));
        assert_eq!(sum([]), Ok(0));
        assert_eq!(sum([i64::MAX, 1]), Err(MoneyError::Overflow));
        assert_eq!(Money::kes(250).times(4), Ok(Money::kes(1000)));
        assert_eq!(Money::kes(i64::MAX).times(2), Err(MoneyError::Overflow));
    }

    #[test]
    fn displays_grouped_with_two_decimals() {
        assert_eq!(Money::kes(149_900).to_string(), "KES 1,499.00");
        assert_eq!(Money::kes(5).to_string(), "KES 0.05");
        assert_eq!(Money::kes(12_345_678_901).to_string(), "KES 123,456,789.01");
        assert_eq!(Money::kes(-100_000).to_string(), "KES -1,000.00");
        assert_eq!(
            Money::kes(i64::MIN).to_string(),
            "KES -92,233,720,368,547,758.08"
        );
    }
}
