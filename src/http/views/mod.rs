//! The response shapes of API.md, in one place of the HTTP layer. Each is built `From` the
//! aggregate (a command's answer: the writer reads its own write) and `From` the read model's
//! row (a query's answer), so both sides answer the same shape.

pub mod address;
pub mod cart;
pub mod event;
pub mod order;
pub mod payout;
pub mod product;
pub mod refund;
pub mod seller_order;
pub mod stock;
pub mod user;

pub use address::AddressView;
pub use cart::{CartItemView, CartView};
pub use event::{EventMetadataView, EventView};
pub use order::{OrderItemView, OrderView, PaymentView};
pub use product::ProductView;
pub use stock::{StockLevels, StockView};
pub use user::UserView;
