//! `GET /products` search, filters and sorts; `GET /categories`; `GET /home`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tillroll::auth::Role;
use uuid::Uuid;

use super::{delete, fields, ids, set, token};
use crate::support::TestApp;
use crate::support::catalog::list_product_at;

/// A small shop: two sellers, four categories, one product withdrawn, one category emptied.
struct Shop {
    app: TestApp,
    by_name: BTreeMap<&'static str, Uuid>,
    seller_b: Uuid,
    /// Every listing and withdrawal is projected once the read models reach this.
    position: i64,
}

const PRODUCTS: [(&str, &str, i64, i64, bool); 7] = [
    // (name, category, price, stock, seller b?)
    ("Electric kettle", "kitchen", 249_900, 5, false),
    ("Kettle whistle", "kitchen", 150_000, 0, true),
    ("Smartphone X", "phones", 4_999_900, 3, false),
    ("Gaming laptop", "computing", 12_000_000, 2, true),
    ("Chef knife", "kitchen", 350_000, 10, false),
    ("Old kettle", "kitchen", 100_000, 1, false),
    ("Typewriter", "retro-office", 800_000, 1, false),
];

const DESCRIPTIONS: [(&str, &str); 4] = [
    ("Electric kettle", "Boils water fast"),
    ("Kettle whistle", "For stovetop kettles"),
    ("Smartphone X", "A phone with a great camera"),
    ("Gaming laptop", "A fast GPU that boils your lap"),
];

async fn shop() -> Shop {
    let app = TestApp::spawn().await;
    let (seller_a_token, seller_a) = token(&app, Role::Seller);
    let seller_b = Uuid::new_v4();
    let mut by_name = BTreeMap::new();
    let mut position = 0;
    for (name, category, price, stock, of_b) in PRODUCTS {
        let seller = if of_b { seller_b } else { seller_a };
        let (id, at) = list_product_at(&app, seller, name, category, price, stock).await;
        by_name.insert(name, id);
        position = position.max(at);
    }
    for (name, description) in DESCRIPTIONS {
        let reply = app
            .call(
                reqwest::Method::PATCH,
                &format!("/products/{}", by_name[name]),
                Some(&token(&app, Role::Admin).0),
                Some(json!({ "description": description })),
            )
            .await;
        position = position.max(reply.position().unwrap());
    }
    for name in ["Old kettle", "Typewriter"] {
        let reply = delete(&app, by_name[name], Some(&seller_a_token)).await;
        assert_eq!(reply.status, 204);
        position = position.max(reply.position().unwrap());
    }
    Shop {
        app,
        by_name,
        seller_b,
        position,
    }
}

impl Shop {
    /// The names on the first page of `GET /products?<query>`, in order.
    async fn names(&self, query: &str) -> Vec<String> {
        let reply = self
            .app
            .get_after(&format!("/products?{query}"), None, self.position)
            .await;
        reply.ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[tokio::test]
async fn search_uses_full_text_over_name_and_description() {
    let shop = shop().await;
    assert_eq!(
        sorted(shop.names("q=kettle").await),
        ["Electric kettle", "Kettle whistle"],
        "stemmed (kettles), withdrawn Old kettle never listed"
    );
    assert_eq!(
        sorted(shop.names("q=boiling").await),
        ["Electric kettle", "Gaming laptop"]
    );
    assert_eq!(shop.names("q=%22great%20camera%22").await, ["Smartphone X"]);
    assert_eq!(shop.names("q=kettle%20-whistle").await, ["Electric kettle"]);
    assert_eq!(
        shop.names("q=kettle%20or%20knife&sort=name").await,
        ["Chef knife", "Electric kettle", "Kettle whistle"]
    );
    assert!(shop.names("q=typewriter").await.is_empty());
    assert!(
        shop.names("q=ett").await.is_empty(),
        "words, not substrings"
    );
    assert_eq!(
        shop.names("q=%20%20").await.len(),
        5,
        "blank q is no filter"
    );
    shop.app.stop().await;
}

#[tokio::test]
async fn filters_narrow_the_listing() {
    let shop = shop().await;
    assert_eq!(
        sorted(shop.names("category=kitchen").await),
        ["Chef knife", "Electric kettle", "Kettle whistle"]
    );
    assert_eq!(
        sorted(shop.names("min_price=200000&max_price=350000").await),
        ["Chef knife", "Electric kettle"]
    );
    assert_eq!(shop.names("min_price=12000000").await, ["Gaming laptop"]);
    assert_eq!(shop.names("max_price=150000").await, ["Kettle whistle"]);
    // An inverted range matches nothing (every bound is valid on its own, as the document says).
    assert!(shop.names("min_price=500&max_price=100").await.is_empty());
    assert_eq!(
        sorted(shop.names(&format!("seller_id={}", shop.seller_b)).await),
        ["Gaming laptop", "Kettle whistle"]
    );
    assert_eq!(
        sorted(shop.names("in_stock=true").await),
        [
            "Chef knife",
            "Electric kettle",
            "Gaming laptop",
            "Smartphone X"
        ]
    );
    assert_eq!(shop.names("in_stock=false").await.len(), 5);
    assert_eq!(
        shop.names("category=kitchen&in_stock=true&sort=price_asc&q=kettle")
            .await,
        ["Electric kettle"]
    );
    assert!(shop.names("category=garden").await.is_empty());
    shop.app.stop().await;
}

#[tokio::test]
async fn sorts_order_the_listing() {
    let shop = shop().await;
    let by_price = [
        "Kettle whistle",
        "Electric kettle",
        "Chef knife",
        "Smartphone X",
        "Gaming laptop",
    ];
    assert_eq!(shop.names("sort=price_asc").await, by_price);
    let mut descending = by_price.to_vec();
    descending.reverse();
    assert_eq!(shop.names("sort=price_desc").await, descending);
    assert_eq!(
        shop.names("sort=name").await,
        [
            "Chef knife",
            "Electric kettle",
            "Gaming laptop",
            "Kettle whistle",
            "Smartphone X"
        ]
    );
    let newest = [
        "Chef knife",
        "Gaming laptop",
        "Smartphone X",
        "Kettle whistle",
        "Electric kettle",
    ];
    assert_eq!(shop.names("").await, newest, "newest is the default");
    assert_eq!(shop.names("sort=newest").await, newest);

    let ids_in_order: Vec<Uuid> = newest.iter().map(|n| shop.by_name[n]).collect();
    let mut seen = Vec::new();
    let mut path = "/products?limit=2".to_owned();
    loop {
        let page = shop.app.get_after(&path, None, shop.position).await;
        let page = page.ok(200).clone();
        assert!(ids(&page).len() <= 2);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/products?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids_in_order);
    shop.app.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_name_their_field() {
    let app = TestApp::spawn().await;
    let cases = [
        ("limit=0", vec!["limit"]),
        ("limit=101", vec!["limit"]),
        ("limit=ten", vec!["limit"]),
        ("sort=cheapest", vec!["sort"]),
        ("min_price=-1", vec!["min_price"]),
        ("max_price=1.5", vec!["max_price"]),
        ("seller_id=someone", vec!["seller_id"]),
        ("in_stock=yes", vec!["in_stock"]),
        ("category=Phones", vec!["category"]),
        ("cursor=garbage!", vec!["cursor"]),
        ("limit=0&sort=x", vec!["limit", "sort"]),
    ];
    for (query, expected) in cases {
        let reply = app.get(&format!("/products?{query}"), None).await;
        assert_eq!(fields(&reply), set(&expected), "{query}");
    }
    let long = "k".repeat(201);
    let reply = app.get(&format!("/products?q={long}"), None).await;
    assert_eq!(fields(&reply), set(&["q"]));
    app.stop().await;
}

#[tokio::test]
async fn a_cursor_belongs_to_its_sort() {
    let shop = shop().await;
    let page = shop
        .app
        .get_after("/products?limit=1&sort=price_asc", None, shop.position)
        .await;
    let cursor = page.ok(200)["next_cursor"].as_str().unwrap().to_owned();
    let same = shop
        .app
        .get(
            &format!("/products?limit=1&sort=price_asc&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(ids(same.ok(200)), [shop.by_name["Electric kettle"]]);
    let other = shop
        .app
        .get(&format!("/products?sort=name&cursor={cursor}"), None)
        .await;
    assert_eq!(fields(&other), set(&["cursor"]));
    shop.app.stop().await;
}

#[tokio::test]
async fn categories_count_listed_products_and_keep_emptied_ones() {
    let shop = shop().await;
    let reply = shop.app.get_after("/categories", None, shop.position).await;
    assert_eq!(
        reply.ok(200),
        &json!([
            {"slug": "computing", "name": "Computing", "product_count": 1},
            {"slug": "kitchen", "name": "Kitchen", "product_count": 3},
            {"slug": "phones", "name": "Phones", "product_count": 1},
            {"slug": "retro-office", "name": "Retro Office", "product_count": 0},
        ])
    );
    shop.app.stop().await;
}

#[tokio::test]
async fn home_shows_the_newest_of_each_category() {
    let shop = shop().await;
    let names = |home: &Value, slug: &str| -> Vec<String> {
        home[slug]
            .as_array()
            .unwrap_or_else(|| panic!("{slug} missing from {home}"))
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let home = shop
        .app
        .get_after("/home?per_category=2", None, shop.position)
        .await
        .ok(200)
        .clone();
    assert_eq!(names(&home, "kitchen"), ["Chef knife", "Kettle whistle"]);
    assert_eq!(names(&home, "phones"), ["Smartphone X"]);
    assert_eq!(names(&home, "computing"), ["Gaming laptop"]);
    assert!(names(&home, "retro-office").is_empty());
    assert_eq!(home.as_object().unwrap().len(), 4);
    assert_eq!(home["kitchen"][0]["stock"]["available"], 10);

    let default = shop.app.get("/home", None).await;
    assert_eq!(names(default.ok(200), "kitchen").len(), 3);
    for bad in ["0", "51", "many"] {
        let reply = shop
            .app
            .get(&format!("/home?per_category={bad}"), None)
            .await;
        assert_eq!(fields(&reply), set(&["per_category"]));
    }
    shop.app.stop().await;
}
