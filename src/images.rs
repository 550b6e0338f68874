//! Image bytes, stored once by content hash outside the events (which carry the hash), and
//! served with a strong ETag. Used by product pictures and avatars.

use sqlx::PgExecutor;

use crate::auth::image::{ImageError, ImageKind, check_image, image_id};

pub struct StoredImage {
    pub id: String,
    pub kind: ImageKind,
}

/// Checks the bytes by content (magic bytes), stores them under their SHA-256 and returns the
/// id. Storing the same bytes twice is one row.
pub async fn save<'e>(
    executor: impl PgExecutor<'e>,
    bytes: &[u8],
    declared_content_type: Option<&str>,
) -> Result<Result<StoredImage, ImageError>, sqlx::Error> {
    let kind = match check_image(bytes, declared_content_type) {
        Ok(kind) => kind,
        Err(error) => return Ok(Err(error)),
    };
    let id = image_id(bytes);
    sqlx::query(
        "INSERT INTO images (id, content_type, bytes) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&id)
    .bind(kind.content_type())
    .bind(bytes)
    .execute(executor)
    .await?;
    Ok(Ok(StoredImage { id, kind }))
}

/// `(content type, bytes)` of a stored image.
pub async fn load<'e>(
    executor: impl PgExecutor<'e>,
    id: &str,
) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT content_type, bytes FROM images WHERE id = $1")
        .bind(id)
        .fetch_optional(executor)
        .await
}

/// The public URL path of an image.
pub fn url(id: &str) -> String {
    format!("/images/{id}")
}
